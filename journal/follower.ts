/**
 * JournalFollower: follows a journal directory (or the engine directory
 * that holds it in `journal/`) that another process may be appending to,
 * without taking its lock and without changing anything (what `fanlog tail`,
 * `tail --follow`, `export` and `stat` read through). Each `poll` lists the
 * segments, reads the current one from where the last poll stopped, and
 * returns the records of every complete, sound frame after that point.
 *
 * What a poll meets, and what it does (the lock-free side of recovery.ts's
 * table, invariant 6: nothing is skipped silently):
 *
 *   found                                          | action
 *   -----------------------------------------------|---------------------------
 *   a sound frame whose seq is not the next one    | ECORRUPT (gap or duplicate)
 *   a segment whose header is damaged or foreign   | ECORRUPT
 *   bytes after the last sound frame of a segment  | ECORRUPT (the writer
 *     a newer segment was listed before            |   finishes a segment
 *                                                  |   before it makes the next)
 *   newest segment: bad bytes, and a record at or  | ECORRUPT: the journal was
 *     below `durable` is not read yet              |   durable past them
 *   newest segment: bad bytes, a sound frame of    | ECORRUPT (damage in the
 *     another write after them (segment.ts         |   middle, as in recovery)
 *     `soundFrameFollows`), and still bad once     |
 *     that frame is seen                           |
 *   newest segment: zeros from there to its end    | the end of data: the zero
 *                                                  |   tail written ahead
 *                                                  |   (zero-tail.ts)
 *   newest segment: other bad bytes at its end     | unfinished: a write in
 *                                                  |   progress, or a torn entry
 *                                                  |   the next open cuts; the
 *                                                  |   next poll looks again
 *                                                  |   (`unfinished` says where)
 *   newest segment ends, sound, before `durable`   | ECORRUPT (records lost)
 *   the segment being read is gone                 | purged: moves to the one
 *                                                  |   that holds the next seq,
 *                                                  |   or EPURGED if none does
 *
 * Why the "sound frame after" rule holds beside a live writer: the writer
 * appends in file order, so once a sound frame is seen after some bytes,
 * those bytes were wholly written before it; if they are still bad when
 * read again after that, they are damage, not a write in progress.
 *
 * What it returns has been written, not necessarily made durable: a crash
 * of the writer can still cut records off the end (the writer's recovery
 * removes a torn tail), so a follower is a view, not a consumer. Consumers
 * (durable cursors, only durable records) need the engine. A poll that
 * meets damage after some records returns those first; the next poll
 * rejects.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { corrupt, FanlogError } from '../errors.js';
import { checkFrame, type FrameCheck, FRAME_KIND_RECORDS, forEachRecord, frameSalt, readFrameHeader } from './frame.js';
import type { Io, IoFile } from './io.js';
import type { JournalRecord } from './reader.js';
import { damageScanCheck, decodeSegmentHeader, parseSegmentFileName, SEGMENT_HEADER_BYTES, type SegmentHeader, soundFrameFollows } from './segment.js';
import type { JournalId, Seq } from './types.js';
import { allZero } from './zero-tail.js';

interface Position {
  name: string;
  firstSeq: Seq;
  /** Bytes of the segment already consumed. */
  offset: number;
  /** The seq the next records frame of this segment must start with. */
  frameSeq: Seq;
  /** Where the write of the last records frame taken from this segment started (frame.ts batch delta); null: none yet. */
  writeStart: Seq | null;
  /** The segment's header, once read whole (its journal id salts the frames' checksums: frame.ts); null before. */
  header: SegmentHeader | null;
}

/** The follower's options (see the constructor). */
export type FollowerOptions = ConstructorParameters<typeof JournalFollower>[3];

/** Where the newest segment holds bytes that are not (yet) a sound frame. */
export type Unfinished = NonNullable<JournalFollower['unfinished']>;

export class JournalFollower {
  #position: Position | null = null;
  /** The next seq to return; null until the first segment is found (then its first seq). */
  #nextSeq: Seq | null;
  #journalId: JournalId | null = null;
  #failure: FanlogError | null = null;
  #unfinishedAt: { file: string; offset: number } | null = null;
  readonly #io: Io;
  #dir: string;
  readonly #options: { durable?: { journalId: JournalId; seq: Seq; seenBy: string } };

  /**
   * Follows the journal in `dir` (or in `dir/journal`) from `from` (default:
   * the oldest retained record). `options.durable`: a seq the journal is
   * known durable through, and who saw it so (e.g. the store's high-water
   * mark); a record at or below it that cannot be read is ECORRUPT, never
   * taken for the end of what was written. It applies only to the journal
   * of that id (another journal's seq says nothing).
   */
  constructor(io: Io, dir: string, from?: Seq, options: { durable?: { journalId: JournalId; seq: Seq; seenBy: string } } = {}) {
    this.#io = io;
    this.#dir = dir;
    this.#options = options;
    this.#nextSeq = from ?? null;
  }

  /** Where the newest segment held bytes that were not a sound frame at the last poll (a write in progress, or a torn entry the next open cuts); null: none. */
  get unfinished(): { file: string; offset: number } | null {
    return this.#unfinishedAt;
  }

  /**
   * The records written since the last poll (or from `from`), in seq order,
   * at most through the end of the segment that holds the first of them:
   * an empty result means the follower has caught up with the writer.
   * ENOENT when the directory holds no journal (neither segments, nor an
   * engine's `journal/` with segments); ECORRUPT and EPURGED as the table
   * in the header says.
   */
  async poll(): Promise<JournalRecord[]> {
    if (this.#failure !== null) throw this.#failure;
    const records: JournalRecord[] = [];
    try {
      return await this.#pollInto(records);
    } catch (error) {
      if (!(error instanceof FanlogError) || error.code !== 'ECORRUPT' || records.length === 0) throw error;
      // What came before the damage is given first; the next poll rejects.
      this.#failure = error;
      return records;
    }
  }

  async #pollInto(records: JournalRecord[]): Promise<JournalRecord[]> {
    for (;;) {
      const segments = await this.#segments();
      if (segments.length === 0) throw new FanlogError('ENOENT', `no journal segments in ${this.#dir}`, { file: this.#dir });
      if (this.#position === null) {
        this.#position = this.#start(segments);
        // Purged between the listing and the open: list again.
        if (!(await this.#checkHeader(this.#position))) {
          this.#position = null;
          continue;
        }
      }
      const position = this.#position;
      // A header that was still being written when first read is read again: the frames' checksums need it.
      if (position.header === null) {
        if (!(await this.#checkHeader(position))) {
          this.#position = null;
          continue;
        }
        if (position.header === null) return records;
      }
      const header = position.header;
      const newer = segments.some((segment) => segment.firstSeq > position.firstSeq);
      const bytes = await this.#readFrom(position);
      if (bytes === null) {
        this.#position = null; // purged under us: find the segment holding nextSeq
        continue;
      }
      const { offset, damage } = this.#takeFrames(position, bytes, records, { salt: frameSalt(header.journalId), saltedOnly: false });
      position.offset += offset;
      if (!newer) {
        this.#unfinishedAt = null;
        if (damage !== null && (await this.#atUnsoundEnd(position, damage)) === 'gone') {
          this.#position = null;
          continue;
        }
        this.#checkDurableReached(position);
        return records;
      }
      // The newer segment was listed before these bytes were read, and the
      // writer finishes a segment before it creates the next: leftovers are damage.
      if (damage !== null) {
        throw corrupt(path.join(this.#dir, position.name), position.offset, `${damage}: bytes after the last sound frame, though a newer segment exists`);
      }
      const next = segments.find((segment) => segment.firstSeq > position.firstSeq);
      if (next === undefined) assert.fail(`a newer segment than ${position.name} was listed, and is not found`);
      if (next.firstSeq !== position.frameSeq) {
        throw corrupt(
          path.join(this.#dir, next.name),
          0,
          `the segment starts at seq ${next.firstSeq}, but the one before it ends at ${position.frameSeq - 1n}`,
        );
      }
      this.#position = { name: next.name, firstSeq: next.firstSeq, offset: SEGMENT_HEADER_BYTES, frameSeq: next.firstSeq, writeStart: null, header: null };
      if (!(await this.#checkHeader(this.#position))) this.#position = null;
      // A segment's worth at a time: a long journal is read in pieces, not held whole.
      if (records.length > 0) return records;
    }
  }

  /**
   * Takes the sound frames at the start of `bytes` (the segment from the
   * position on) into `records`; returns how many bytes they took, and why
   * the frame after them is not sound (null: the bytes ended after a frame).
   */
  #takeFrames(position: Position, bytes: Uint8Array, records: JournalRecord[], check: FrameCheck): { offset: number; damage: string | null } {
    let offset = 0;
    while (offset < bytes.length) {
      const frameBytes = checkFrame(bytes, offset, bytes.length, check);
      // Zeros to the end: the zero tail, where the data ends (zero-tail.ts).
      if (typeof frameBytes !== 'number') return { offset, damage: allZero(bytes, offset, bytes.length) ? null : frameBytes };
      const header = readFrameHeader(bytes, offset);
      if (header.kind === FRAME_KIND_RECORDS) {
        if (header.seq !== position.frameSeq) {
          throw corrupt(
            path.join(this.#dir, position.name),
            position.offset + offset,
            `an entry starts at seq ${header.seq}, but the one before it ends at ${position.frameSeq - 1n}`,
          );
        }
        position.frameSeq += BigInt(header.recordCount);
        position.writeStart = header.seq - BigInt(header.batchDelta);
        const taken = records.length;
        forEachRecord(bytes, offset, (seq, payload) => {
          if (this.#nextSeq === null || seq >= this.#nextSeq) records.push({ seq, payload: payload.slice() });
        });
        const last = records[records.length - 1];
        if (last !== undefined) {
          // A frame's records are taken through its last, and the next seq to return only grows.
          if (records.length > taken && last.seq !== position.frameSeq - 1n)
            assert.fail(`took records through ${last.seq} of a frame ending at ${position.frameSeq - 1n}`);
          if (this.#nextSeq !== null && last.seq + 1n < this.#nextSeq) assert.fail(`the next seq would go back from ${this.#nextSeq} to ${last.seq + 1n}`);
          this.#nextSeq = last.seq + 1n;
        }
      }
      offset += frameBytes;
    }
    return { offset, damage: null };
  }

  /**
   * Bytes that are not a sound frame at the end of the newest segment
   * (`damage` says why): ECORRUPT when the journal was durable past them or
   * a sound frame follows them (see the header), else unfinished. 'gone'
   * when the segment was purged meanwhile.
   */
  async #atUnsoundEnd(position: Position, damage: string): Promise<'unfinished' | 'gone'> {
    const file = path.join(this.#dir, position.name);
    const durable = this.#durableSeq();
    if (durable !== null && position.frameSeq <= durable.seq) {
      throw corrupt(
        file,
        position.offset,
        `${damage}: records ${position.frameSeq}..${durable.seq} cannot be read, but ${durable.seenBy} saw the journal durable through ${durable.seq}`,
      );
    }
    const handle = await this.#openSegment(position);
    if (handle === null) return 'gone';
    try {
      const size = await handle.size();
      const check = damageScanCheck(position.header!);
      if (await soundFrameFollows(handle, position.offset, size, { nextSeq: position.frameSeq, writeStart: position.writeStart }, check)) {
        // Read again after the sound frame was seen: a write in progress is whole by now.
        const again = new Uint8Array((await handle.size()) - position.offset);
        await handle.read(again, position.offset);
        const now = checkFrame(again, 0, again.length, check);
        if (typeof now !== 'number') throw corrupt(file, position.offset, `${now} with sound entries after it`);
      }
    } finally {
      await handle.close();
    }
    this.#unfinishedAt = { file, offset: position.offset };
    return 'unfinished';
  }

  /** At the sound end of the newest segment: ECORRUPT when the journal was durable beyond it. */
  #checkDurableReached(position: Position): void {
    const durable = this.#durableSeq();
    if (durable === null || position.frameSeq > durable.seq) return;
    const file = path.join(this.#dir, position.name);
    throw corrupt(
      file,
      position.offset,
      `the journal ends at seq ${position.frameSeq - 1n}, but ${durable.seenBy} saw it durable through ${durable.seq}: records ${position.frameSeq}..${durable.seq} are missing (was its newest segment deleted or cut?)`,
    );
  }

  /** The `durable` option, when it is about this journal. */
  #durableSeq(): NonNullable<NonNullable<FollowerOptions>['durable']> | null {
    const durable = this.#options.durable;
    if (durable === undefined || durable.journalId !== this.#journalId) return null;
    return durable;
  }

  async #segments(): Promise<{ name: string; firstSeq: Seq }[]> {
    let names: string[];
    try {
      names = await this.#io.readdir(this.#dir);
    } catch (error) {
      if ((error as { code?: string }).code === 'ENOENT')
        throw new FanlogError('ENOENT', `no journal at ${this.#dir}: the directory does not exist`, { file: this.#dir });
      throw error;
    }
    // An engine's directory holds its journal in `journal/`: follow that.
    if (!names.some((name) => parseSegmentFileName(name) !== null) && names.includes('journal') && this.#position === null) {
      this.#dir = path.join(this.#dir, 'journal');
      return this.#segments();
    }
    return names
      .map((name) => ({ name, firstSeq: parseSegmentFileName(name) }))
      .filter((segment): segment is { name: string; firstSeq: Seq } => segment.firstSeq !== null)
      .sort((a, b) => (a.firstSeq < b.firstSeq ? -1 : 1));
  }

  /** Where to start: the segment that holds nextSeq (or the oldest one). */
  #start(segments: { name: string; firstSeq: Seq }[]): Position {
    const oldest = segments[0]!;
    if (this.#nextSeq === null || this.#nextSeq <= oldest.firstSeq) {
      // Seqs start at 1: from 0 or 1, only records from 1 up to the oldest retained can have been purged.
      if (this.#nextSeq !== null && (this.#nextSeq > 1n ? this.#nextSeq : 1n) < oldest.firstSeq) {
        throw new FanlogError('EPURGED', `records before ${oldest.firstSeq} were purged; asked from ${this.#nextSeq}`);
      }
      return { name: oldest.name, firstSeq: oldest.firstSeq, offset: SEGMENT_HEADER_BYTES, frameSeq: oldest.firstSeq, writeStart: null, header: null };
    }
    const holding = [...segments].reverse().find((segment) => segment.firstSeq <= this.#nextSeq!)!;
    return { name: holding.name, firstSeq: holding.firstSeq, offset: SEGMENT_HEADER_BYTES, frameSeq: holding.firstSeq, writeStart: null, header: null };
  }

  /** Checks the segment's header; false when the segment is gone (purged since it was listed). */
  async #checkHeader(position: Position): Promise<boolean> {
    const file = await this.#openSegment(position);
    if (file === null) return false;
    try {
      const header = new Uint8Array(SEGMENT_HEADER_BYTES);
      const read = await file.read(header, 0);
      // A header still being written is not damage yet: the next poll reads it again.
      if (read < SEGMENT_HEADER_BYTES) return true;
      const decoded = decodeSegmentHeader(header);
      if ('damage' in decoded) throw corrupt(file.path, decoded.offset, decoded.damage);
      if (decoded.firstSeq !== position.firstSeq)
        throw corrupt(file.path, 24, `the header says the segment starts at seq ${decoded.firstSeq}, its name ${position.firstSeq}`);
      if (this.#journalId !== null && decoded.journalId !== this.#journalId)
        throw corrupt(file.path, 16, `a segment of journal ${decoded.journalId} among those of journal ${this.#journalId}`);
      this.#journalId = decoded.journalId;
      position.header = decoded;
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
  async #openSegment(position: Position): Promise<IoFile | null> {
    try {
      return await this.#io.open(path.join(this.#dir, position.name), 'read');
    } catch (error) {
      if ((error as { code?: string }).code === 'ENOENT') return null;
      throw error;
    }
  }

  /** The segment's bytes from the position on; null if the file is gone. */
  async #readFrom(position: Position): Promise<Uint8Array | null> {
    const file = await this.#openSegment(position);
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
