/**
 * Invariant 5 checks shared by the permission crash and kill tests: what the
 * journal must show about requests, decisions and operations, and what the
 * queues must hold right after recovery.
 */
import { decodeRecord } from '../engine/record/codec.js';
import type { Engine } from '../fanlog.js';
import type { EventQueue } from '../engine/notify/event-queue.js';
import { FAN_ALLOW } from '../engine/notify/masks.js';
import type { EngineRecord } from '../engine/record/record.js';

/** Group priority rank as the engine asks them: pre-content before content. */
const PRIORITY: Record<string, number> = { 'pre-content': 0, content: 1 };

export interface JournalView {
  /** The oldest retained seq: requests before it were purged with their whole operation. */
  firstSeq: bigint;
  requests: Map<bigint, EngineRecord>;
  decisions: Map<bigint, EngineRecord[]>;
  completions: Map<bigint, number>;
}

/** The retained journal, or its records up to `upTo` (the journal as recovery found it). */
export async function view(engine: Engine, upTo?: bigint): Promise<JournalView> {
  const requests = new Map<bigint, EngineRecord>();
  const decisions = new Map<bigint, EngineRecord[]>();
  const completions = new Map<bigint, number>();
  for await (const { seq, payload } of engine.journal.read(upTo === undefined ? {} : { to: upTo })) {
    const record = decodeRecord(payload);
    if (record.kind === 'request') requests.set(seq, record);
    else if (record.kind === 'decision') decisions.set(record.requestSeq, [...(decisions.get(record.requestSeq) ?? []), record]);
    else if (record.operationSeq !== undefined) completions.set(record.operationSeq, (completions.get(record.operationSeq) ?? 0) + 1);
  }
  return { firstSeq: engine.journal.firstSeq, requests, decisions, completions };
}

export function checkJournal(v: JournalView, fail: (what: string) => void, groupRank: Map<string, number>): Map<string, bigint[]> {
  for (const [requestSeq, answers] of v.decisions) {
    if (!v.requests.has(requestSeq) && requestSeq >= v.firstSeq) fail(`decision for ${requestSeq}, which is no request`);
    if (answers.length > 1) fail(`request ${requestSeq} was answered ${answers.length} times`);
  }
  const operations = new Map<bigint, bigint[]>();
  for (const [seq, record] of v.requests) {
    const operation = record.operationSeq ?? seq;
    operations.set(operation, [...(operations.get(operation) ?? []), seq]);
  }
  const undecided = new Map<string, bigint[]>();
  for (const [operation, seqs] of operations) {
    let previous = -1;
    seqs.forEach((seq, i) => {
      const record = v.requests.get(seq)!;
      const step = record.step ?? (JSON.parse(record.intent!) as { step: number }).step;
      const position = step * 1000 + (groupRank.get(record.group!) ?? 999);
      if (position <= previous) fail(`operation ${operation} asked step ${step} of ${record.group} again or backwards`);
      previous = position;
      const answer = v.decisions.get(seq)?.[0]?.response;
      if (i < seqs.length - 1 && answer !== FAN_ALLOW) fail(`operation ${operation} went on after request ${seq} was not allowed`);
      if (i === seqs.length - 1 && answer === undefined) undecided.set(record.group!, [...(undecided.get(record.group!) ?? []), seq]);
    });
    const last = seqs[seqs.length - 1]!;
    const completions = v.completions.get(operation) ?? 0;
    if (completions > 1) fail(`operation ${operation} completed ${completions} times`);
    if (completions === 1 && v.decisions.get(last)?.[0]?.response !== FAN_ALLOW) fail(`operation ${operation} completed without its last request allowed`);
  }
  return undecided;
}

/** Each group's place in the order groups are asked: pre-content before content, then by name (README). */
export function ranks(engine: Engine): Map<string, number> {
  const ordered = engine.groups
    .list()
    .map((info) => ({ name: info.name, rank: PRIORITY[info.class] ?? 2 }))
    .sort((a, b) => a.rank - b.rank || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return new Map(ordered.map((group, index) => [group.name, index]));
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Right after recovery: each group's queue must start with exactly its
 * undecided requests, in seq order; anything after them must be new.
 * Then allows everything until every resurrected operation has settled,
 * and checks the journal again.
 */
export async function settleEverything(engine: Engine, fail: (what: string) => void): Promise<void> {
  const groupRank = ranks(engine);
  // The journal as recovery found it: operations resumed since may have
  // asked their next step, and a group's timeout (whose timer starts when
  // recovery queues a request) may have answered already.
  const recoveredHead = engine.recovery.headSeq;
  const undecided = checkJournal(await view(engine, recoveredHead), fail, groupRank);
  const expected = [...undecided.values()].reduce((total, seqs) => total + seqs.length, 0);
  if (engine.recovery.resurrectedRequests !== expected) fail(`resurrected ${engine.recovery.resurrectedRequests} requests, expected ${expected}`);
  const queues = new Map<string, EventQueue>();
  const read = new Map<string, bigint[]>();
  for (const info of engine.groups.list()) {
    const queue = engine.groups.get(info.name).openQueue();
    read.set(
      info.name,
      (await queue.read({ max: 10_000 })).map((event) => event.seq!),
    );
    queues.set(info.name, queue);
  }
  // A group with a permission timeout may have answered a resurrected
  // request by timeout before its queue was read: leave those out of both sides.
  // A timeout journals its decision at once; sync so the view holds it.
  await engine.journal.sync();
  const timedOut = new Set<bigint>();
  for (const [seq, answers] of (await view(engine)).decisions) if (answers.some((answer) => answer.timeout === true)) timedOut.add(seq);
  for (const info of engine.groups.list()) {
    const seqs = read.get(info.name)!.filter((seq) => !timedOut.has(seq));
    const want = (undecided.get(info.name) ?? []).filter((seq) => !timedOut.has(seq)).sort((a, b) => (a < b ? -1 : 1));
    if (seqs.slice(0, want.length).join() !== want.join()) fail(`${info.name}'s queue starts with [${seqs}] but the undecided requests are [${want}]`);
    for (const seq of seqs.slice(want.length)) if (seq <= recoveredHead) fail(`${info.name} queued request ${seq} twice or out of order`);
    // Hand what was read back (restartable) or allow it (otherwise), then read afresh.
    await queues.get(info.name)!.close();
    queues.set(info.name, engine.groups.get(info.name).openQueue());
  }
  const operations = engine.pendingOperations().map((operation) => operation.operationSeq);
  // On a real disk each step of a resumed operation waits for an fdatasync:
  // bound the wait by time, not by rounds. Reads wait for events to arrive.
  const deadline = Date.now() + 20_000;
  while (engine.pendingOperations().length > 0 && Date.now() < deadline) {
    for (const queue of queues.values()) {
      for (const event of await queue.read({ max: 1000, waitMs: 5 })) await queue.respond(event.id, FAN_ALLOW).catch(() => undefined);
    }
    await tick();
  }
  if (engine.pendingOperations().length > 0) fail('resurrected operations never settled');
  const final = await view(engine);
  // Only a group's timeout (onTimeout 'deny') may still deny an operation now.
  const deniedByTimeout = new Set<bigint>();
  for (const [seq, record] of final.requests) {
    if (final.decisions.get(seq)?.some((answer) => answer.timeout === true)) deniedByTimeout.add(record.operationSeq ?? seq);
  }
  for (const operation of operations) {
    const outcome = await engine.settled(operation);
    if (outcome.outcome === 'denied' && !deniedByTimeout.has(operation)) fail(`operation ${operation} was denied though everything was allowed`);
  }
  checkJournal(final, fail, groupRank);
  for (const queue of queues.values()) await queue.close();
}
