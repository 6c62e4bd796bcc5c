/**
 * JournalFollower: follows a journal directory (or the engine directory
 * that holds it in `journal/`) that another process may be appending to, without taking its lock and without changing anything (what
 * `fanlog tail --follow` runs on). Each `poll` lists the segments, reads the
 * current one from where the last poll stopped, and returns the records of
 * every complete, sound frame after that point.
 *
 * - A frame that is incomplete or does not check out at the end of the
 *   newest segment is a write in progress: the next poll looks again.
 * - Once a newer segment exists, the writer has rolled: the current one
 *   must end exactly after its last sound frame, otherwise it is damaged
 *   and `poll` rejects with ECORRUPT naming the file and byte offset.
 * - If the segment being read is purged, the follower moves to the segment
 *   that holds the next seq; if the writer purged past it, EPURGED.
 *
 * What it returns has been written, not necessarily made durable: a crash
 * of the writer can still cut records off the end (the writer's recovery
 * removes a torn tail), so a follower is a view, not a consumer. Consumers
 * (durable cursors, only durable records) need the engine.
 */
import path from 'node:path';
import { corrupt, FanlogError } from '../errors.js';
import { checkFrame, FRAME_KIND_RECORDS, forEachRecord, readFrameHeader } from './frame.js';
import type { Io, IoFile } from './io.js';
import type { JournalRecord } from './reader.js';
import { decodeSegmentHeader, parseSegmentFileName, SEGMENT_HEADER_BYTES } from './segment.js';
import type { Seq } from './types.js';

interface Position {
  name: string;
  firstSeq: Seq;
  /** Bytes of the segment already consumed. */
  offset: number;
}

export class JournalFollower {
  private position: Position | null = null;
  /** The next seq to return; null until the first segment is found (then its first seq). */
  private nextSeq: Seq | null;

  constructor(
    private readonly io: Io,
    private dir: string,
    from?: Seq,
  ) {
    this.nextSeq = from ?? null;
  }

  /**
   * The records written since the last poll (or from `from`), in seq order,
   * at most through the end of the segment that holds the first of them:
   * an empty result means the follower has caught up with the writer.
   * ENOENT when the directory holds no journal (neither segments, nor an
   * engine's `journal/` with segments).
   */
  async poll(): Promise<JournalRecord[]> {
    const records: JournalRecord[] = [];
    for (;;) {
      const segments = await this.segments();
      if (segments.length === 0) throw new FanlogError('ENOENT', `no journal segments in ${this.dir}`, { file: this.dir });
      if (this.position === null) {
        this.position = this.start(segments);
        // Purged between the listing and the open: list again.
        if (!(await this.checkHeader(this.position))) {
          this.position = null;
          continue;
        }
      }
      const position = this.position;
      const newer = segments.some((segment) => segment.firstSeq > position.firstSeq);
      const bytes = await this.readFrom(position);
      if (bytes === null) {
        this.position = null; // purged under us: find the segment holding nextSeq
        continue;
      }
      let offset = 0;
      for (;;) {
        const frameBytes = checkFrame(bytes, offset, bytes.length);
        if (typeof frameBytes !== 'number') break;
        if (readFrameHeader(bytes, offset).kind === FRAME_KIND_RECORDS) {
          forEachRecord(bytes, offset, (seq, payload) => {
            if (this.nextSeq === null || seq >= this.nextSeq) records.push({ seq, payload: payload.slice() });
          });
          const last = records[records.length - 1];
          if (last !== undefined) this.nextSeq = last.seq + 1n;
        }
        offset += frameBytes;
      }
      position.offset += offset;
      if (!newer) return records;
      // The newer segment was listed before these bytes were read, and the
      // writer finishes a segment before it creates the next: leftovers are damage.
      if (offset < bytes.length) {
        throw corrupt(path.join(this.dir, position.name), position.offset, 'bytes after the last sound frame, though a newer segment exists');
      }
      const next = segments.find((segment) => segment.firstSeq > position.firstSeq)!;
      this.position = { name: next.name, firstSeq: next.firstSeq, offset: SEGMENT_HEADER_BYTES };
      if (!(await this.checkHeader(this.position))) this.position = null;
      // A segment's worth at a time: a long journal is read in pieces, not held whole.
      if (records.length > 0) return records;
    }
  }

  private async segments(): Promise<{ name: string; firstSeq: Seq }[]> {
    let names: string[];
    try {
      names = await this.io.readdir(this.dir);
    } catch (error) {
      if ((error as { code?: string }).code === 'ENOENT') throw new FanlogError('ENOENT', `no journal at ${this.dir}: the directory does not exist`, { file: this.dir });
      throw error;
    }
    // An engine's directory holds its journal in `journal/`: follow that.
    if (!names.some((name) => parseSegmentFileName(name) !== null) && names.includes('journal') && this.position === null) {
      this.dir = path.join(this.dir, 'journal');
      return this.segments();
    }
    return names
      .map((name) => ({ name, firstSeq: parseSegmentFileName(name) }))
      .filter((segment): segment is { name: string; firstSeq: Seq } => segment.firstSeq !== null)
      .sort((a, b) => (a.firstSeq < b.firstSeq ? -1 : 1));
  }

  /** Where to start: the segment that holds nextSeq (or the oldest one). */
  private start(segments: { name: string; firstSeq: Seq }[]): Position {
    const oldest = segments[0]!;
    if (this.nextSeq === null || this.nextSeq <= oldest.firstSeq) {
      if (this.nextSeq !== null && this.nextSeq < oldest.firstSeq && this.nextSeq > 1n) {
        throw new FanlogError('EPURGED', `records before ${oldest.firstSeq} were purged; asked from ${this.nextSeq}`);
      }
      return { name: oldest.name, firstSeq: oldest.firstSeq, offset: SEGMENT_HEADER_BYTES };
    }
    const holding = [...segments].reverse().find((segment) => segment.firstSeq <= this.nextSeq!)!;
    return { name: holding.name, firstSeq: holding.firstSeq, offset: SEGMENT_HEADER_BYTES };
  }

  /** Checks the segment's header; false when the segment is gone (purged since it was listed). */
  private async checkHeader(position: Position): Promise<boolean> {
    const file = await this.openSegment(position);
    if (file === null) return false;
    try {
      const header = new Uint8Array(SEGMENT_HEADER_BYTES);
      const read = await file.read(header, 0);
      // A header still being written is not damage yet: the next poll reads it again.
      if (read < SEGMENT_HEADER_BYTES) return true;
      const decoded = decodeSegmentHeader(header);
      if ('damage' in decoded) throw corrupt(file.path, decoded.offset, decoded.damage);
      return true;
    } finally {
      await file.close();
    }
  }

  /**
   * Opens a listed segment for reading; null when it is gone. The writer
   * deletes segments it purges at any moment, so a name listed a moment ago
   * may be gone: that is a purge, never an error (once open, the file stays
   * readable however it is deleted).
   */
  private async openSegment(position: Position): Promise<IoFile | null> {
    try {
      return await this.io.open(path.join(this.dir, position.name), 'read');
    } catch (error) {
      if ((error as { code?: string }).code === 'ENOENT') return null;
      throw error;
    }
  }

  /** The segment's bytes from the position on; null if the file is gone. */
  private async readFrom(position: Position): Promise<Uint8Array | null> {
    const file = await this.openSegment(position);
    if (file === null) return null;
    try {
      const size = await file.size();
      const bytes = new Uint8Array(Math.max(0, size - position.offset));
      let filled = 0;
      while (filled < bytes.length) {
        const read = await file.read(bytes.subarray(filled), position.offset + filled);
        if (read === 0) break;
        filled += read;
      }
      return bytes.subarray(0, filled);
    } finally {
      await file.close();
    }
  }
}
