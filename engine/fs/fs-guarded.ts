/**
 * The guarded operations: those permission events guard (open, read,
 * write, truncate, page faults). A call checks its arguments (fs-content.ts)
 * and describes itself as an Intent; the permission broker
 * (permission/broker.ts) asks every group that wants its steps, then calls
 * the operation's performer here against the state as it is then, since it
 * may have moved while the operation waited. Recovery runs an operation
 * whose caller died through the same broker and the same performers
 * (`perform`).
 *
 * Each operation has its own entry point and its own result type (a read
 * resolves with the bytes it read, a fault with the page), so that no
 * caller casts what comes back.
 */

import { FAN_ACCESS, FAN_MODIFY, FAN_OPEN, FAN_OPEN_EXEC, FAN_PRE_ACCESS, FAN_PRE_MODIFY, FAN_TRUNCATE } from '../notify/masks.js';
import { fidOf, type Inode } from '../model/inode.js';
import { fsError } from '../model/paths.js';
import type { FaultIntent, Intent, IntentArgs, IntentBase, IntentStep, OpenIntent, ReadIntent, TruncateIntent, WriteIntent } from '../permission/intent.js';
import type { EngineRecord, Range } from '../record/record.js';
import { type Caller, type FsContext, PAGE_BYTES } from './fs-context.js';
import { event, opRecord, type Where } from './fs-records.js';
import { failedOutcome, outcomeRecord } from '../permission/outcome.js';

/**
 * Completes a call's own arguments into its intent: the object, where it
 * was reached, the process, and the steps that apply to the object
 * (pre-content events apply to regular files and directories only).
 */
export function intentFor<A extends IntentArgs>(caller: Caller, args: A, inode: Inode, where: Where, steps: IntentStep[]): A & IntentBase {
  const contentful = inode.type === 'file' || inode.type === 'dir';
  const applicable = contentful ? steps : steps.filter((step) => (step.mask & (FAN_PRE_ACCESS | FAN_PRE_MODIFY)) === 0n);
  const base: IntentBase = {
    fid: fidOf(inode),
    path: where.path,
    parentFid: where.parentFid,
    name: where.name,
    pid: caller.pid,
    tid: caller.tid,
    uid: caller.uid,
    gid: caller.gid,
    steps: applicable,
  };
  return Object.assign(base, args);
}

/** The caller a performer journals as: the intent's process, at the time it performs. */
function callerOf(intent: Intent, time: bigint): Caller {
  return { pid: intent.pid, tid: intent.tid, uid: intent.uid, gid: intent.gid ?? 0, time };
}

/** What a performer did: its caller's result, and whether it journaled an entry tagged with the operation. */
interface Performed<T> {
  value: T;
  journaled: boolean;
}

/** The first record of the operation's entry names the operation: recovery's sign that it ran. */
function tagOf(operationSeq: bigint | undefined): { operationSeq?: bigint } {
  return operationSeq === undefined ? {} : { operationSeq };
}

export class FsGuarded {
  readonly #context: FsContext;

  constructor(context: FsContext) {
    this.#context = context;
  }

  // Each runs through the broker: it asks, then performs. With nobody to
  // ask it performs at once, so the operation is applied and appended
  // within the call, as every other one.

  open(intent: OpenIntent): Promise<void> {
    return this.#context.host.permissions.run(intent, (allowed, operationSeq) => this.#open(allowed, operationSeq));
  }

  /** Resolves with the bytes read. */
  read(intent: ReadIntent): Promise<number> {
    return this.#context.host.permissions.run(intent, (allowed, operationSeq) => this.#read(allowed, operationSeq));
  }

  /** Resolves with the bytes written. */
  write(intent: WriteIntent): Promise<number> {
    return this.#context.host.permissions.run(intent, (allowed, operationSeq) => this.#write(allowed, operationSeq));
  }

  truncate(intent: TruncateIntent): Promise<void> {
    return this.#context.host.permissions.run(intent, (allowed, operationSeq) => this.#truncate(allowed, operationSeq));
  }

  /** Resolves with the page faulted in. */
  fault(intent: FaultIntent): Promise<Range> {
    return this.#context.host.permissions.run(intent, (allowed, operationSeq) => this.#fault(allowed, operationSeq));
  }

  /**
   * Performs an allowed operation with `performer`, which is given the time
   * (the clock is read once per operation) and says whether it journaled
   * an entry tagged with the operation (`journaled`). One that asked (it
   * has a seq) and ends without such an entry, because it failed or wrote
   * none (a fault, a read of nothing, events the changelog mask leaves
   * out), journals its `outcome` before its caller hears (outcome.ts).
   */
  async #performed<T>(intent: Intent, operationSeq: bigint | undefined, performer: (time: bigint) => Promise<Performed<T>>): Promise<T> {
    const { host } = this.#context;
    const time = host.now();
    let performed: Performed<T>;
    try {
      performed = await performer(time);
    } catch (error) {
      throw await failedOutcome((record) => host.appendRecord(record), intent, operationSeq, time, error);
    }
    if (!performed.journaled && operationSeq !== undefined) await host.appendRecord(outcomeRecord(intent, operationSeq, time));
    return performed.value;
  }

  /**
   * Performs an allowed operation of any kind, for recovery: its caller
   * died while it waited, so nobody takes its result. `operationSeq` (the
   * seq of its first request, if it asked any) tags the entry.
   */
  async perform(intent: Intent, operationSeq: bigint | undefined): Promise<void> {
    switch (intent.op) {
      case 'open':
        return await this.#open(intent, operationSeq);
      case 'read':
        await this.#read(intent, operationSeq);
        return;
      case 'write':
        await this.#write(intent, operationSeq);
        return;
      case 'truncate':
        return await this.#truncate(intent, operationSeq);
      case 'fault':
        await this.#fault(intent, operationSeq);
        return;
      case 'external':
        // A kernel permission event: the kernel performs it, once answered (kernel/permission.ts).
        return;
    }
  }

  /** The object an allowed intent is about, which may have gone while it waited. */
  #inode(intent: Intent): Inode {
    const inode = this.#context.state.byFid(intent.fid);
    if (inode === undefined) throw fsError('ENOENT', `'${intent.path}' was deleted while its ${intent.op} waited for permission`);
    return inode;
  }

  #open(intent: OpenIntent, operationSeq: bigint | undefined): Promise<void> {
    return this.#performed(intent, operationSeq, async (time) => {
      const caller = callerOf(intent, time);
      const tag = tagOf(operationSeq);
      const inode = this.#inode(intent);
      const where: Where = { parentFid: intent.parentFid, name: intent.name, path: intent.path };
      const writable = intent.flags !== 'r';
      const op =
        intent.truncate && writable && inode.type === 'file'
          ? opRecord(caller, 'truncate', { fid: intent.fid, attrs: { size: 0 }, range: { offset: 0, count: inode.size }, ...tag })
          : null;
      const kept = await this.#context.host.commit(op, () => {
        const events: EngineRecord[] = [];
        if (op !== null) events.push(event(caller, 'open', FAN_MODIFY | FAN_TRUNCATE, inode, where, { range: op.range! }));
        events.push(event(caller, 'open', intent.exec ? FAN_OPEN | FAN_OPEN_EXEC : FAN_OPEN, inode, where, op === null ? tag : {}));
        return events;
      });
      // Tagged: the op record, or else the OPEN event if the changelog mask kept it.
      return { value: undefined, journaled: op !== null || kept > 0 };
    });
  }

  /** A read of nothing (at or past the end) journals no entry. */
  #read(intent: ReadIntent, operationSeq: bigint | undefined): Promise<number> {
    return this.#performed(intent, operationSeq, async (time) => {
      const caller = callerOf(intent, time);
      const inode = this.#inode(intent);
      const { offset } = intent;
      const count = Math.max(0, Math.min(intent.length, inode.size - offset));
      if (count > 0 && inode.offline.intersects(offset, offset + count)) {
        throw fsError('EIO', `'${intent.path}' bytes ${offset}..${offset + count} are offline`);
      }
      let kept = 0;
      if (count > 0) {
        const where: Where = { parentFid: intent.parentFid, name: intent.name, path: intent.path };
        kept = await this.#context.host.commit(null, () => [
          event(caller, 'read', FAN_ACCESS, inode, where, { range: { offset, count }, ...tagOf(operationSeq) }),
        ]);
      }
      return { value: count, journaled: kept > 0 };
    });
  }

  #write(intent: WriteIntent, operationSeq: bigint | undefined): Promise<number> {
    return this.#performed(intent, operationSeq, async (time) => {
      const caller = callerOf(intent, time);
      const inode = this.#inode(intent);
      const where: Where = { parentFid: intent.parentFid, name: intent.name, path: intent.path };
      const range = { offset: intent.offset, count: intent.length };
      const op = opRecord(caller, 'write', { fid: intent.fid, range, ...tagOf(operationSeq) });
      await this.#context.host.commit(op, () => [event(caller, 'write', FAN_MODIFY, inode, where, { range })]);
      return { value: intent.length, journaled: true };
    });
  }

  #truncate(intent: TruncateIntent, operationSeq: bigint | undefined): Promise<void> {
    return this.#performed(intent, operationSeq, async (time) => {
      const caller = callerOf(intent, time);
      const inode = this.#inode(intent);
      const where: Where = { parentFid: intent.parentFid, name: intent.name, path: intent.path };
      const { size } = intent;
      const range: Range = { offset: Math.min(inode.size, size), count: Math.abs(inode.size - size) };
      const op = opRecord(caller, 'truncate', { fid: intent.fid, attrs: { size }, range, ...tagOf(operationSeq) });
      await this.#context.host.commit(op, () => [event(caller, 'truncate', FAN_MODIFY | FAN_TRUNCATE, inode, where, { range })]);
      return { value: undefined, journaled: true };
    });
  }

  /** A fault journals no entry: it only raised its pre-content event, and fails if the page is still offline. */
  #fault(intent: FaultIntent, operationSeq: bigint | undefined): Promise<Range> {
    return this.#performed(intent, operationSeq, async () => {
      const inode = this.#inode(intent);
      const { offset } = intent;
      const page: Range = { offset: offset - (offset % PAGE_BYTES), count: PAGE_BYTES };
      const end = Math.min(inode.size, page.offset + PAGE_BYTES);
      if (inode.offline.intersects(page.offset, end)) throw fsError('EIO', `'${intent.path}' page at ${page.offset} is offline`);
      return { value: page, journaled: false };
    });
  }
}
