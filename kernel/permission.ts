/**
 * A real filesystem's permission events, asked of an engine group: a
 * process waits in the kernel (in open(2), read(2), execve(2)) until the
 * group's listener answers, exactly as for the simulated filesystem's
 * guarded operations, through the same broker (engine/permission/), so one
 * HSM daemon's code runs on both.
 *
 * One ticket per kernel event this source holds:
 *   id        `<holder>:<n>`: the identity of the process that read the
 *             event from the kernel (this one, or its supervisor: held.ts)
 *             and its count of reads; journaled as the request's
 *             `kernelEvent`, and never shared by two events
 *   kernelFd  the descriptor number the kernel gave the event when it was
 *             read: what it matches an answer to, from any holder of the
 *             group (kernel/syscalls.ts writeResponse)
 *   fd        a descriptor of the event's file in this process, opened by
 *             the kernel for reading and writing (the group's event file
 *             flags) and exempt from events: the handler fills through it
 *
 *   arrived ──request journaled (durable; the feed told its seq)──▶ queued
 *     ──decision journaled (durable)──▶ answering: {kernelFd, response}
 *     written to the group ──▶ answered: fd closed, the feed told (done)
 *
 * Each answer is written once: the broker journals a decision once, and
 * `#answer` writes it at most once per ticket. A ticket whose request no
 * group asked (the group was destroyed) is allowed, as destroying a group
 * allows its requests.
 *
 * Resurrection (the handler was killed; its supervisor held the events): at
 * start the feed sends every event it holds again, before any new one:
 *   - a request for it is held by the broker (journaled, undecided): it is
 *     claimed, and queued at the head, with its journaled seq; a feed that
 *     sent no seq (the handler was killed before it said "journaled") is
 *     told it first, or a decision and a kill would make the event new again;
 *   - its request was decided (the decision is durable, the answer maybe
 *     not written): the feed knows its seq; the decision is read from the
 *     journal and written again (the kernel refuses a second answer with
 *     ENOENT, so an answer already written is not written twice);
 *   - otherwise it was never journaled: it arrives as a new event.
 * Every resurrected request is answered before the first new event is
 * taken. A held request no feed sends again was held by a process that is
 * gone with its group, and the kernel let it through: it is decided
 * FAN_ALLOW, with a loss note saying so.
 */
import type { EngineCore } from '../engine/engine.js';
import type { ExternalIntent } from '../engine/permission/intent.js';
import type { PermissionRequest } from '../engine/permission/request.js';
import { FAN_ACCESS_PERM, FAN_ALLOW, FAN_DENY_ERRNO, FAN_OPEN_EXEC_PERM, FAN_OPEN_PERM, FAN_PRE_ACCESS } from '../engine/notify/masks.js';
import type { FanotifyEvent } from '../interop/fanotify-events.js';
import { crashPoint } from './crash-points.js';
import { decisionOf } from './decision-of.js';
import { credentialsOf, fileOf } from './event-file.js';
import { closeDescriptor, retireDescriptor, writeResponse } from './syscalls.js';

/** One kernel permission event as a feed delivers it. */
export interface KernelEvent {
  id: string;
  kernelFd: number;
  /** This process's descriptor of the event's file (closed by the ticket). */
  fd: number;
  event: FanotifyEvent;
  /** Sent again after a restart: the seq of its request, if the feed was told one. */
  seq?: bigint;
}

/** Where kernel permission events come from, and where their answers go. */
export interface PermissionFeed {
  /** The group's descriptor in this process: answers are written to it. */
  readonly groupFd: number;
  /** Starts delivering: first every event held from before (`resent`, then `live()`), then new ones, in order. */
  start(sink: FeedSink): void;
  /** A request is durable at `seq`: resolves once the feed has it (before the handler may see the event). */
  journaled(id: string, seq: bigint): Promise<void>;
  /** The event was answered: its holder may close its descriptor. */
  done(id: string): void;
  /** Stops delivering; resolves, once no more events will come, with those the kernel still held that this process must answer. */
  stop(): Promise<KernelEvent[]>;
}

export interface FeedSink {
  events(events: readonly KernelEvent[]): void;
  /** Everything held from before has been sent. */
  live(): void;
  /** The feed ended by itself: its error, or null. */
  ended(error: Error | null): void;
}

export interface KernelPermissionStats {
  /** Kernel permission events delivered. */
  requests: number;
  /** Answers written to the kernel. */
  answered: number;
  /** Requests resurrected from the journal and claimed. */
  resurrected: number;
  /** Answers the kernel refused with ENOENT (it had let the event through, or it was answered already). */
  stale: number;
  /** Events whose file could not be described (gone before it was asked about), answered FAN_DENY_ERRNO(EIO). */
  undescribed: number;
  /** Decisions taken after a supervised source stopped, left to the supervisor to write (it sends the event again, with its seq). */
  leftToHolder: number;
  /** Event descriptors retired to /dev/null because their listener read the event and a timeout or a stop answered it (see #answer). */
  retired: number;
}

const PERMISSION_BITS = FAN_OPEN_PERM | FAN_ACCESS_PERM | FAN_OPEN_EXEC_PERM | FAN_PRE_ACCESS;
/** FAN_DENY_ERRNO(EIO): what a reader is told when its event cannot be asked about. */
const FAN_DENY_EIO = FAN_DENY_ERRNO(5);

interface Ticket {
  readonly event: KernelEvent;
  answered: boolean;
}

export class KernelPermissions {
  readonly #engine: EngineCore;
  readonly #group: string;
  readonly #feed: PermissionFeed;
  readonly #tickets = new Map<string, Ticket>();
  readonly #stats: KernelPermissionStats = { requests: 0, answered: 0, resurrected: 0, stale: 0, undescribed: 0, leftToHolder: 0, retired: 0 };
  /** Events sent again, and new events that wait until every resurrected request is answered. */
  readonly #resent: KernelEvent[] = [];
  readonly #waiting: KernelEvent[] = [];
  #live = false;
  /** Resurrected requests not answered yet: new events wait for them. */
  #resurrectedOpen = 0;
  #stopping = false;
  /** False once the source is stopping: the group's descriptor may be closed, and its number another file's. */
  #mayWrite = true;
  readonly #inFlight = new Set<Promise<void>>();
  readonly #onError: (error: Error) => void;

  readonly #onFeedEnded: (error: Error) => void;

  /** `onError`: a failure that ends the source; `onFeedEnded`: the feed ended by itself (its supervisor died), by default the same. */
  constructor(engine: EngineCore, group: string, feed: PermissionFeed, onError: (error: Error) => void, onFeedEnded = onError) {
    this.#onFeedEnded = onFeedEnded;
    this.#engine = engine;
    this.#group = group;
    this.#feed = feed;
    this.#onError = onError;
  }

  stats(): KernelPermissionStats {
    return { ...this.#stats };
  }

  start(): void {
    this.#feed.start({
      events: (events) => {
        for (const event of events) this.#arrive(event);
      },
      live: () => this.#goLive(),
      ended: (error) => {
        if (error !== null) this.#onFeedEnded(error);
      },
    });
  }

  /** Every ticket not answered, by id. */
  get open(): number {
    let count = 0;
    for (const ticket of this.#tickets.values()) if (!ticket.answered) count++;
    return count;
  }

  #arrive(event: KernelEvent): void {
    crashPoint('received');
    if (this.#stopping) this.#waiting.push(event);
    else if (!this.#live) this.#resent.push(event);
    else if (this.#resurrectedOpen > 0 || this.#waiting.length > 0) this.#waiting.push(event);
    else this.#background(this.#take(event));
  }

  /** Everything held before is here: claim, re-answer or take each, in the order sent; decide what nobody holds any more. */
  #goLive(): void {
    this.#live = true;
    const resent = this.#resent.splice(0);
    const hold = this.#engine.permissions.kernelHold;
    const heldSeqs = new Map(hold.held().map((request) => [(request.intent as ExternalIntent).kernelEvent, request.seq]));
    for (const event of resent) {
      const seq = event.seq ?? heldSeqs.get(event.id);
      if (seq === undefined) this.#waiting.push(event);
      else {
        this.#resurrectedOpen++;
        this.#background(this.#resurrect(event, seq).finally(() => this.#resurrectedDone()));
      }
    }
    const sent = new Set(resent.map((event) => event.id));
    for (const request of hold.held()) if (!sent.has((request.intent as ExternalIntent).kernelEvent)) this.#background(this.#stale(request));
    this.#drain();
  }

  /** An event sent again whose request is journaled: claimed and queued if held (its feed told the seq first if it had none), else its decision written again. */
  async #resurrect(event: KernelEvent, seq: bigint): Promise<void> {
    if (event.seq === undefined) await this.#feed.journaled(event.id, seq);
    const claimed = this.#engine.permissions.kernelHold.claim(event.id, event.fd);
    if (claimed === undefined) return this.#answerAgain(this.#ticket(event), seq);
    this.#stats.resurrected++;
    this.#resurrectedOpen++;
    const answered = claimed.answered.finally(() => this.#resurrectedDone());
    this.#track(event, answered);
  }

  /** Work begun on going live, which stop() waits for. */
  #background(work: Promise<void>): void {
    const tracked = work.catch((error: unknown) => this.#onError(error as Error)).finally(() => this.#inFlight.delete(tracked));
    this.#inFlight.add(tracked);
  }

  #resurrectedDone(): void {
    this.#resurrectedOpen--;
    this.#drain();
  }

  /** Takes the new events that waited, once no resurrected request is open. */
  #drain(): void {
    if (this.#resurrectedOpen > 0 || this.#stopping) return;
    for (const event of this.#waiting.splice(0)) this.#background(this.#take(event));
  }

  #ticket(event: KernelEvent): Ticket {
    const ticket: Ticket = { event, answered: false };
    this.#tickets.set(event.id, ticket);
    this.#engine.kernelAnswers.set(event.id, (response, listenerHolds) => this.#answer(ticket, response, listenerHolds));
    return ticket;
  }

  /** A new kernel event: journaled as a request of the group, and queued for its listener; resolves once it is queued (or failed). */
  #take(event: KernelEvent): Promise<void> {
    this.#stats.requests++;
    const ticket = this.#ticket(event);
    let queued!: () => void;
    const isQueued = new Promise<void>((resolve) => (queued = resolve));
    let intent: ExternalIntent;
    try {
      intent = this.#intentOf(event, queued);
    } catch (error) {
      // The file could not be described (its descriptor is gone): nobody can be asked; the reader is told EIO, never let through unasked.
      void error;
      this.#stats.undescribed++;
      this.#answer(ticket, FAN_DENY_EIO);
      return Promise.resolve();
    }
    const run = this.#engine.permissions.run(intent, async () => undefined);
    run.then(queued, queued);
    this.#track(event, run, ticket);
    return isQueued;
  }

  /** When the run (or a claimed request) ends: a ticket no decision answered is allowed (its group was gone), unless the engine closed or failed. */
  #track(event: KernelEvent, settled: Promise<unknown>, ticket = this.#tickets.get(event.id) ?? this.#ticket(event)): void {
    settled.then(
      () => {
        if (!ticket.answered) this.#answer(ticket, FAN_ALLOW);
      },
      (error: unknown) => {
        // A denial was answered by its decision; an engine closed or failed leaves the event held, for the next handler.
        const code = (error as { code?: string } | null)?.code;
        if (!ticket.answered && code !== 'ECLOSED' && code !== 'EFAILED' && !this.#engine.failed) this.#onError(error as Error);
      },
    );
  }

  /** The request a kernel event asks: its file as this process sees it; `queued` is called once it is durable and its feed told. */
  #intentOf(event: KernelEvent, queued: () => void): ExternalIntent {
    const { fd, event: raw, id } = event;
    const file = fileOf(fd);
    const { uid, gid } = credentialsOf(raw.pid);
    const mask = raw.mask & PERMISSION_BITS;
    const step = raw.range === undefined ? { mask } : { mask, range: raw.range };
    return {
      op: 'external',
      group: this.#group,
      kernelEvent: id,
      ...file,
      pid: raw.pid,
      tid: raw.pid,
      uid,
      gid,
      steps: [step],
      kernel: {
        fd,
        journaled: async (seq: bigint) => {
          crashPoint('appended');
          // A feed that cannot be told (its supervisor died) ends the source, whose stop decides this request by its policy: it must not fail here.
          await this.#feed.journaled(id, seq).catch(() => undefined);
          crashPoint('journaled');
          queued();
        },
      },
    };
  }

  /**
   * Writes a durable decision to the kernel, once per ticket; then closes the
   * descriptor and tells the feed. A descriptor its listener still holds (it
   * read the event, and a timeout or a stop answered it) is retired instead:
   * pointed at /dev/null, so that its file (and the mount) is released while
   * its number stays taken; closed, the number could be another file's by
   * the time the listener writes through it.
   */
  #answer(ticket: Ticket, response: number, listenerHolds = false): void {
    if (ticket.answered) return;
    ticket.answered = true;
    const { id, kernelFd, fd } = ticket.event;
    this.#engine.kernelAnswers.delete(id);
    this.#tickets.delete(id);
    crashPoint('decided');
    try {
      // A decision after the source stopped reaches the kernel through the event's holder (the supervisor sends it again, with its seq), never through a descriptor number this process may have reused.
      if (!this.#mayWrite) this.#stats.leftToHolder++;
      else if (writeResponse(this.#feed.groupFd, kernelFd, response)) this.#stats.answered++;
      else this.#stats.stale++;
      crashPoint('answered');
    } catch (error) {
      this.#onError(error as Error);
    } finally {
      try {
        if (fd < 0) {
          // No file was taken for it (its supervisor was gone).
        } else if (listenerHolds) {
          retireDescriptor(fd);
          this.#stats.retired++;
        } else closeDescriptor(fd);
      } catch {
        // Closed already: nothing is held.
      }
      this.#feed.done(id);
    }
  }

  /** A decided request sent again: its journaled decision, written again (the kernel refuses a second answer). */
  async #answerAgain(ticket: Ticket, seq: bigint): Promise<void> {
    const response = await decisionOf(this.#engine, seq, ticket.event.id);
    this.#stats.resurrected++;
    if (response === null) {
      // Not the request the feed was told (the journal lost it in the crash): a new event after all.
      this.#tickets.delete(ticket.event.id);
      this.#engine.kernelAnswers.delete(ticket.event.id);
      this.#stats.resurrected--;
      this.#waiting.push(ticket.event);
      return;
    }
    this.#answer(ticket, response);
  }

  /** A held request no feed sent again: its holder and group are gone; decided FAN_ALLOW, what the kernel does then, with a loss note that says so. */
  async #stale(request: PermissionRequest): Promise<void> {
    this.#engine.permissions.kernelHold.release(request);
    const intent = request.intent as ExternalIntent;
    try {
      await this.#engine.appendRecord({
        kind: 'note',
        op: 'loss',
        time: this.#engine.now(),
        path: intent.path,
        reason: `EKERNEL: request ${request.seq}'s kernel event ${intent.kernelEvent} was held by a process that is gone with its fanotify group: the kernel let it through, unless a supervisor answered it by its stop policy without a journal (it said so on stderr)`,
      });
      await this.#engine.permissions.decide(request, FAN_ALLOW);
    } catch (error) {
      this.#onError(error as Error);
    }
  }

  /**
   * Stops taking events. With `policy`, answers every event held now by it
   * (journaled, then written to the kernel), including those queued and
   * not yet read by the listener and those `drained` (read from the group
   * by its caller); without, leaves them to the holder. Either way no
   * answer is written to the group after it: its descriptor is about to
   * close.
   */
  async stop(policy: number | null, drained: () => KernelEvent[] = () => []): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    const rest = [...(await this.#feed.stop()), ...drained()];
    if (policy === null) {
      this.#mayWrite = false;
      return;
    }
    // Events that waited behind resurrected ones, and those the kernel still held: journaled, then all answered by the policy.
    if (!this.#live) this.#goLive();
    await Promise.all([...this.#waiting.splice(0), ...rest].map((event) => this.#take(event)));
    await Promise.all([...this.#inFlight]);
    const group = this.#engine.groups.find(this.#group);
    if (group === null) return;
    for (const request of this.#engine.permissions.pendingOf(group)) {
      if (request.intent.op !== 'external') continue;
      group.withdraw(request);
      await this.#engine.permissions.decide(request, policy).catch(() => undefined);
    }
    this.#mayWrite = false;
  }
}
