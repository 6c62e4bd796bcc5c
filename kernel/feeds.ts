/**
 * Where a handler's kernel permission events come from (kernel/permission.ts
 * PermissionFeed): straight from a fanotify group it reads itself, or from
 * the supervisor that holds the group and its events (kernel/supervisor.ts)
 * across the handler's deaths.
 *
 * The supervisor's channel: one Unix stream socket, JSON lines.
 *   supervisor ─▶ handler
 *     {"t":"event","id":ID,"fd":N,"bytes":B64[,"seq":S]}
 *         one kernel event: its identity, the descriptor number the kernel
 *         gave it in the supervisor (what an answer names), its bytes as
 *         read (metadata and info records), and, when it is sent again
 *         after a restart, the seq of its request if the handler said one
 *     {"t":"live"}
 *         every event held from before has been sent: new ones follow
 *   handler ─▶ supervisor
 *     {"t":"journaled","id":ID,"seq":S}  its request is durable at S
 *     {"t":"done","id":ID}               answered: close its descriptor
 * The handler takes each event's file by pidfd_getfd from the supervisor
 * (the same open file, exempt from events, readable and writable) and
 * answers through its own copy of the group's descriptor, inherited.
 * "journaled" is written to the socket before the handler's listener may
 * see the request, so that a request the supervisor does not know the seq
 * of is one the listener never saw.
 */
import net from 'node:net';
import { FanlogError } from '../errors.js';
import { decodeFanotifyStream } from '../interop/fanotify-events.js';
import type { FanotifyGroup } from './fanotify-group.js';
import type { FeedSink, KernelEvent, PermissionFeed } from './permission.js';
import { closeDescriptor, FAN_MARK_FILESYSTEM, FAN_MARK_FLUSH, FAN_MARK_MOUNT, fanotifyMark, pidfdGetfd, pidfdOpen } from './syscalls.js';

/** An identity for the events a process reads, unique across restarts and machines' boots: its pid and the time it started. */
export function holderId(pid = process.pid): string {
  return `${pid.toString(36)}.${Date.now().toString(36)}`;
}

/** The events of a read buffer, one per kernel event, each with its own bytes. */
export function splitEvents(bytes: Uint8Array): { bytes: Uint8Array; fd: number }[] {
  const { events, offsets } = decodeFanotifyStream(bytes);
  return events.map((event, i) => ({ bytes: bytes.subarray(offsets[i], offsets[i + 1] ?? bytes.length), fd: event.fd }));
}

/**
 * What a group still queues, read now, each event with its own descriptor:
 * at most a queue's worth plus one (fs.fanotify.max_queued_events is 16384
 * by default), so that a busy filesystem cannot keep the caller reading.
 */
export function drainGroup(group: FanotifyGroup, holder = holderId()): KernelEvent[] {
  const out: KernelEvent[] = [];
  let count = 0;
  for (let round = 0; round < 1024; round++) {
    const before = out.length;
    group.readNow((bytes) => {
      for (const event of decodeFanotifyStream(bytes).events) out.push({ id: `${holder}:${++count}`, kernelFd: event.fd, fd: event.fd, event });
    });
    if (out.length === before || out.length > 16_384) break;
  }
  return out;
}

/** Removes every filesystem and mount mark of group `fd`: no event comes any more (those queued stay). */
export function flushMarks(fd: number): void {
  for (const kind of [FAN_MARK_FILESYSTEM, FAN_MARK_MOUNT]) fanotifyMark(fd, FAN_MARK_FLUSH | kind, 0n, '/');
}

/** Events read from a group this process holds: nothing is held from before, and every descriptor is this process's. */
export class DirectFeed implements PermissionFeed {
  readonly #group: FanotifyGroup;
  readonly #holder = holderId();
  #count = 0;
  #sink: FeedSink | null = null;

  constructor(group: FanotifyGroup) {
    this.#group = group;
  }

  get groupFd(): number {
    return this.#group.fd;
  }

  start(sink: FeedSink): void {
    this.#sink = sink;
    sink.live();
    this.#group.watch(() => this.#readable());
  }

  #readable(): void {
    try {
      this.#sink!.events(this.#readNow());
    } catch (error) {
      this.#group.pause();
      this.#sink!.ended(error as Error);
    }
  }

  #readNow(): KernelEvent[] {
    const out: KernelEvent[] = [];
    this.#group.readNow((bytes) => {
      const { events } = decodeFanotifyStream(bytes);
      for (const event of events) out.push({ id: `${this.#holder}:${++this.#count}`, kernelFd: event.fd, fd: event.fd, event });
    });
    return out;
  }

  journaled(): Promise<void> {
    return Promise.resolve();
  }

  done(): void {}

  /** Stops watching, and hands over what the kernel still holds, to be answered before the group closes. */
  async stop(): Promise<KernelEvent[]> {
    this.#group.pause();
    const rest: KernelEvent[] = [];
    for (let more = this.#readNow(); more.length > 0; more = this.#readNow()) rest.push(...more);
    return rest;
  }
}

/** What the supervisor puts in the handler's environment (FANLOG_SUPERVISOR), as JSON. */
export interface SupervisorEnv {
  pid: number;
  channel: number;
  /** The engine directory whose journal decides what the supervisor holds (its --dir). */
  dir?: string;
  permission?: { fd: number; path: string; mark: string; mask: string; group: string };
  /** `tally`: the descriptor of the read tally (kernel/read-tally.ts), `tallyId` its device and inode; `lost`: a loss the last handler left, to journal first. */
  notify?: { fd: number; path: string; mark: string; mask: string; tally?: number; tallyId?: string; lost?: string };
}

export const SUPERVISOR_ENV = 'FANLOG_SUPERVISOR';

/** The supervisor's description in this process's environment, or null when not supervised; EINVAL when it is not what a supervisor writes. */
export function supervisorEnv(env = process.env): SupervisorEnv | null {
  const text = env[SUPERVISOR_ENV];
  if (text === undefined || text === '') return null;
  let parsed: SupervisorEnv;
  try {
    parsed = JSON.parse(text) as SupervisorEnv;
  } catch {
    throw new FanlogError('EINVAL', `${SUPERVISOR_ENV} is not JSON: it is set by fanlog supervise, for the process it runs`);
  }
  if (!Number.isInteger(parsed.pid) || !Number.isInteger(parsed.channel))
    throw new FanlogError('EINVAL', `${SUPERVISOR_ENV} names no supervisor pid and channel`);
  return parsed;
}

/** Events the supervisor holds and sends over its channel (see the header). */
export class ChannelFeed implements PermissionFeed {
  readonly groupFd: number;
  readonly #socket: net.Socket;
  readonly #pidfd: number;
  #sink: FeedSink | null = null;
  #buffered = '';
  #stopped = false;

  constructor(env: SupervisorEnv, groupFd: number) {
    this.groupFd = groupFd;
    this.#pidfd = pidfdOpen(env.pid);
    try {
      this.#socket = new net.Socket({ fd: env.channel, readable: true, writable: true });
    } catch (error) {
      closeDescriptor(this.#pidfd);
      throw new FanlogError('EBADF', `the supervisor's channel (descriptor ${env.channel}) cannot be used: ${(error as Error).message}`, { cause: error });
    }
    this.#socket.setEncoding('utf8');
  }

  start(sink: FeedSink): void {
    this.#sink = sink;
    this.#socket.on('data', (chunk: string) => this.#data(chunk));
    this.#socket.on('error', (error) => this.#end(new FanlogError('EIO', `the supervisor's channel failed: ${error.message}`, { cause: error })));
    this.#socket.on('close', () => this.#end(this.#stopped ? null : new FanlogError('EIO', 'the supervisor closed its channel')));
  }

  #end(error: Error | null): void {
    if (this.#sink === null) return;
    const sink = this.#sink;
    this.#sink = null;
    sink.ended(error);
  }

  /**
   * The supervisor's lines. Never throws: a listener of the socket that
   * threw would end the process, and with it the last copy of the group,
   * whose closing lets every pending event through. An event whose file
   * cannot be taken (the supervisor died: ESRCH) is handed over without
   * one (fd -1), to be answered by its number and the stop policy; a line
   * that is not the supervisor's ends the feed.
   */
  #data(chunk: string): void {
    this.#buffered += chunk;
    const lines = this.#buffered.split('\n');
    this.#buffered = lines.pop() ?? '';
    const events: KernelEvent[] = [];
    let failure: Error | null = null;
    for (const line of lines) {
      if (line === '') continue;
      try {
        const message = JSON.parse(line) as { t: string; id?: string; fd?: number; bytes?: string; seq?: string };
        if (message.t === 'live') {
          this.#sink?.events(events.splice(0));
          this.#sink?.live();
          continue;
        }
        if (message.t !== 'event') continue;
        const [event] = decodeFanotifyStream(Buffer.from(message.bytes!, 'base64')).events;
        if (event === undefined) continue;
        const kernelEvent: KernelEvent = { id: message.id!, kernelFd: message.fd!, fd: this.#take(message.fd!), event };
        if (message.seq !== undefined) kernelEvent.seq = BigInt(message.seq);
        events.push(kernelEvent);
      } catch (error) {
        failure ??= new FanlogError('EIO', `the supervisor's channel carried what cannot be read: ${(error as Error).message}`, { cause: error });
      }
    }
    if (events.length > 0) this.#sink?.events(events);
    if (failure !== null) this.#end(failure);
  }

  /** This process's copy of the supervisor's descriptor `fd`, or -1 when it cannot be taken (the supervisor is gone). */
  #take(fd: number): number {
    try {
      return pidfdGetfd(this.#pidfd, fd);
    } catch {
      return -1;
    }
  }

  #send(message: object): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.#socket.destroyed) {
        reject(new FanlogError('EIO', 'the supervisor closed its channel'));
        return;
      }
      this.#socket.write(`${JSON.stringify(message)}\n`, (error) => (error ? reject(error) : resolve()));
    });
  }

  journaled(id: string, seq: bigint): Promise<void> {
    return this.#send({ t: 'journaled', id, seq: seq.toString() });
  }

  done(id: string): void {
    this.#send({ t: 'done', id }).catch(() => undefined);
  }

  /** Stops taking events; what the supervisor holds stays held by it, for the next handler or its own stop. */
  async stop(): Promise<KernelEvent[]> {
    this.#stopped = true;
    this.#sink = null;
    await new Promise<void>((resolve) => this.#socket.end(resolve));
    this.#socket.destroy();
    closeDescriptor(this.#pidfd);
    return [];
  }
}
