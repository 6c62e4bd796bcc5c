/**
 * A file of `MemoryIo` (memory-io.ts): its current bytes, its durable bytes,
 * and the writes and truncates since its last sync, which `crash` resolves
 * as a power cut would, by crash mode (the modes are described in
 * memory-io.ts).
 */
import type { Prng } from './prng.js';

export type CrashMode = 'drop' | 'prefix' | 'torn-garbage' | 'torn-zeros' | 'scatter' | 'any';
export const CRASH_MODES: readonly Exclude<CrashMode, 'any'>[] = ['drop', 'prefix', 'torn-garbage', 'torn-zeros', 'scatter'];

class Bytes {
  #buffer = new Uint8Array(0);
  length = 0;

  write(data: Uint8Array, position: number): void {
    const end = position + data.length;
    if (end > this.#buffer.length) {
      const grown = new Uint8Array(Math.max(end, this.#buffer.length * 2, 256));
      grown.set(this.#buffer.subarray(0, this.length));
      this.#buffer = grown;
    }
    if (position > this.length) this.#buffer.fill(0, this.length, position);
    this.#buffer.set(data, position);
    this.length = Math.max(this.length, end);
  }

  truncate(length: number): void {
    if (length > this.length) this.write(new Uint8Array(length - this.length), this.length);
    this.length = length;
  }

  view(): Uint8Array {
    return this.#buffer.subarray(0, this.length);
  }

  clone(): Bytes {
    const copy = new Bytes();
    copy.write(this.view(), 0);
    return copy;
  }
}

type PendingOp = { kind: 'write'; position: number; data: Uint8Array } | { kind: 'truncate'; length: number };

function applyOp(bytes: Bytes, op: PendingOp): void {
  if (op.kind === 'write') bytes.write(op.data, op.position);
  else bytes.truncate(op.length);
}

export class Inode {
  current = new Bytes();
  durable = new Bytes();
  pending: PendingOp[] = [];

  apply(op: PendingOp): void {
    applyOp(this.current, op);
    this.pending.push(op);
  }

  sync(): void {
    for (const op of this.pending) applyOp(this.durable, op);
    this.pending = [];
  }

  /** Resolves the unsynced operations as a power cut would. */
  crash(prng: Prng, mode: Exclude<CrashMode, 'any'>): void {
    const ops = this.pending;
    this.pending = [];
    if (ops.length === 0 || mode === 'drop') {
      this.current = this.durable.clone();
      return;
    }
    if (mode === 'scatter') {
      this.#scatter(prng, ops);
      this.current = this.durable.clone();
      return;
    }
    const torn = mode === 'torn-garbage' || mode === 'torn-zeros';
    const kept = torn ? prng.int(ops.length) : prng.int(ops.length + 1);
    for (const op of ops.slice(0, kept)) applyOp(this.durable, op);
    const next = ops[kept];
    if (torn && next !== undefined) {
      if (next.kind === 'write') {
        const landed = prng.int(next.data.length + 1);
        const data = new Uint8Array(next.data.length);
        data.set(next.data.subarray(0, landed));
        if (mode === 'torn-garbage') data.set(prng.bytes(data.length - landed), landed);
        applyOp(this.durable, { kind: 'write', position: next.position, data });
      } else if (prng.chance(0.5)) {
        applyOp(this.durable, next);
      }
    }
    this.current = this.durable.clone();
  }

  /** 'scatter' (see the header): overwritten bytes land unit by unit; truncates and growth keep a prefix. */
  #scatter(prng: Prng, ops: PendingOp[]): void {
    const kept = prng.int(ops.length + 1);
    const unit = prng.pick([512, 4096]);
    ops.forEach((op, index) => {
      if (op.kind === 'truncate') {
        if (index < kept) applyOp(this.durable, op);
        return;
      }
      const end = op.position + op.data.length;
      const overwritten = Math.min(end, this.durable.length);
      for (let at = op.position; at < overwritten;) {
        const unitEnd = Math.min(overwritten, (Math.floor(at / unit) + 1) * unit);
        if (prng.chance(0.5)) this.durable.write(op.data.subarray(at - op.position, unitEnd - op.position), at);
        at = unitEnd;
      }
      if (index < kept && overwritten < end) {
        const from = Math.max(op.position, overwritten);
        this.durable.write(op.data.subarray(from - op.position), from);
      }
    });
  }
}
