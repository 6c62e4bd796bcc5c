/**
 * Engine: the class users open, EngineCore (engine/) composed with the
 * durable consumers (consumers/) and the tools of the edges (replication/,
 * mirror/), which load only when used. The layers and their ranks are
 * listed once, in docs/design.md ("Layers"), and test/layers.test.ts holds
 * every import to them.
 *
 * Nothing under engine/ imports consumers/: the engine holds its readers
 * only as ChangelogReaders that this file attaches.
 */
import { Consumers } from './consumers/consumer-registry.js';
import { Filters } from './consumers/filters.js';
import { CORE_OPTION_NAMES, EngineCore, type EngineCoreOptions, type EngineParts } from './engine/engine.js';
import { checkBoolean, checkInteger, checkOptions, checkString } from './validate.js';
import { type Changes, changesSince, type ChangesOptions } from './engine/changes-since.js';
import { invalid } from './errors.js';
import { NodeIo } from './journal/node-io.js';
import { EngineServer } from './serve/server.js';
import { collectMetrics, type EngineMetrics } from './metrics.js';
import type { ReplicateOptions, Replicator } from './replication/replicator.js';
import type { Mirror, MirrorOptions } from './mirror/mirror.js';
import type { FanotifyOptions, FanotifySource } from './kernel/source.js';
import { u64At } from './engine/record/values.js';

/** Where a record's time (u64 ns) starts: after its version, kind and op bytes (engine/record/fields.ts). */
const RECORD_TIME_AT = 3;

export type { EngineRecovery } from './engine/engine.js';

export interface EngineOptions extends EngineCoreOptions {
  /** Default `lagRecordsMax` for consumers that set none; default: no limit. */
  consumerLagRecordsMax?: number;
  /** Default `idleMsMax` for consumers that set none; default: no limit. */
  consumerIdleMsMax?: number;
  /**
   * Serve the engine to other processes of its user on `<dir>/run/fanlog.sock`
   * (serve/server.ts); default true for an engine on the host's files (no
   * `io`, or a NodeIo) that is not read-only, false otherwise.
   */
  serve?: boolean;
}

const OPTION_NAMES = [...CORE_OPTION_NAMES, 'consumerLagRecordsMax', 'consumerIdleMsMax', 'serve'] as const;

export class Engine extends EngineCore {
  /** Filters consumers may attach, by name. */
  readonly filters = new Filters();
  readonly consumers: Consumers;
  /** The replicators metrics show: running ones, and failed ones until another starts for their stream. */
  readonly #replicators = new Set<Replicator>();
  #server: EngineServer | null = null;

  private constructor(parts: EngineParts, consumerDefaults: { lagRecordsMax: number | null; idleMsMax: number | null }) {
    super(parts);
    this.consumers = new Consumers(this, this.filters, consumerDefaults);
    this.attach(this.consumers);
  }

  /** What an operator watches (metrics.ts): seqs, bytes, rates, fdatasync latency, consumers' lag, groups' queues. */
  async metrics(): Promise<EngineMetrics> {
    this.checkUsable();
    const recordTime = async (seq: bigint): Promise<bigint | null> => {
      if (seq < this.journal.firstSeq || seq > this.journal.durableSeq) return null;
      for await (const { payload } of this.journal.read({ from: seq, to: seq })) return u64At(payload, RECORD_TIME_AT);
      return null;
    };
    return collectMetrics({
      journal: this.journal,
      checkpointSeq: this.checkpointSeq,
      consumers: this.consumers,
      groups: this.groups,
      recordTime,
      replicators: [...this.#replicators],
    });
  }

  /**
   * Replicates the changelog into a Redis stream, exactly once by seq
   * (replication/replicator.ts): resolves with the running Replicator once
   * it is connected (EREMOTE when Redis cannot be reached, EAUTH when it
   * refuses the password, ETIMEDOUT when it does not answer; the engine
   * goes on either way) and its consumer is registered. EBUSY when a
   * replicator of this engine already writes that stream or uses that
   * consumer name.
   */
  async replicate(options: ReplicateOptions): Promise<Replicator> {
    this.checkWritable();
    // Loaded on first use: an engine that never replicates never loads the Redis client.
    const { Replicator: replicator } = await import('./replication/replicator.js');
    const started = await replicator.start(this.consumers, this.journal, options);
    for (const other of this.#replicators) if (other.stream === started.stream && other.consumer === started.consumer) this.#replicators.delete(other);
    this.#replicators.add(started);
    // A stopped replicator leaves the metrics; a failed one stays, to be seen.
    started.done.then(
      () => this.#replicators.delete(started),
      () => undefined,
    );
    return started;
  }

  /**
   * Mirrors a real directory into the engine's filesystem (mirror/mirror.ts):
   * resolves with the running Mirror after its start scan. ENOENT or ENOTDIR
   * when `dir` is not a directory.
   */
  async mirror(dir: string, options?: MirrorOptions): Promise<Mirror> {
    this.checkWritable();
    const { Mirror: mirror } = await import('./mirror/mirror.js');
    return mirror.start(this, dir, options);
  }

  /**
   * Journals a real filesystem's fanotify events, and asks an engine group
   * about its permission events (kernel/source.ts): resolves with the
   * running source. EPERM not root, ENOSYS without fanotify, EOPNOTSUPP on
   * a filesystem that refuses the events (tmpfs and FAN_PRE_ACCESS), EINVAL
   * when the engine is on that filesystem, EBUSY while another live process
   * watches its changelog. A changelog's first journaled record is a loss
   * note when the engine's last watch left a gap (kernel/watch-state.ts).
   * Under `fanlog supervise`, it takes the supervisor's groups instead of
   * making its own.
   */
  async fanotify(options: FanotifyOptions): Promise<FanotifySource> {
    this.checkWritable();
    // Loaded on first use: an engine that never reads the kernel never loads koffi.
    const { startFanotify } = await import('./kernel/source.js');
    return startFanotify(this, options);
  }

  /**
   * Journals a mark: a note whose reason is `label`, delivered to every
   * consumer whatever its mask (a backup's "backup-42 begins" and "...
   * ends"). Resolves with its seq once it is durable. EINVAL for a label
   * that is not a well-formed string of 1 to 1024 bytes, or that holds a
   * control character (NUL, a newline, DEL: a label is one line of text).
   */
  async mark(label: string): Promise<bigint> {
    this.checkWritable();
    checkString('label', label, 1, 1024);
    if (!label.isWellFormed() || Buffer.byteLength(label) > 1024) throw invalid('a mark label is a well-formed string of at most 1024 bytes');
    // eslint-disable-next-line no-control-regex -- matching control characters is the point
    if (/[\u0000-\u001f\u007f]/.test(label)) throw invalid(`a mark label is one line of text, without a control character: ${JSON.stringify(label)}`);
    // About the whole tree (path '/'): it passes every filter, as a scan's note does (consumers/filters.ts).
    return this.appendRecord({ kind: 'note', op: 'mark', time: this.now(), path: '/', reason: label });
  }

  /**
   * What changed after `since`, one entry per object, with its paths and
   * stat now (engine/changes-since.ts says how, and what `seq` the answer
   * is consistent with). EPURGED when records after `since` were purged
   * (take a full backup), EINVAL past the durable seq. Reads only the
   * records after `since`.
   */
  async changesSince(since: bigint, options?: ChangesOptions): Promise<Changes> {
    this.checkUsable();
    return changesSince(this, since, options);
  }

  /** The socket the engine is served on (serve/server.ts), or null when it is not served. */
  get socketPath(): string | null {
    return this.#server?.path ?? null;
  }

  /**
   * Opens (or creates) the engine in `dir`: see engine/engine.ts for what
   * opening does. Then, unless `serve: false`, serves it on its socket:
   * ENAMETOOLONG when the socket's path would be too long for one.
   */
  static async open(dir: string, options: EngineOptions = {}): Promise<Engine> {
    const { consumerLagRecordsMax, consumerIdleMsMax, serve, ...core } = checkOptions<EngineOptions>('options', options, OPTION_NAMES);
    const consumerDefaults = {
      lagRecordsMax: consumerLagRecordsMax === undefined ? null : checkInteger('consumerLagRecordsMax', consumerLagRecordsMax, 1, Number.MAX_SAFE_INTEGER),
      idleMsMax: consumerIdleMsMax === undefined ? null : checkInteger('consumerIdleMsMax', consumerIdleMsMax, 1, 2 ** 31 - 1),
    };
    const onHost = core.io === undefined || core.io instanceof NodeIo;
    const serving = serve === undefined ? onHost && core.readOnly !== true : checkBoolean('serve', serve);
    if (serving && core.readOnly === true) throw invalid('serve: a read-only engine holds no lock, and cannot serve');
    if (serving && !onHost) throw invalid("serve: an engine on an Io other than NodeIo is not on the host's files, where its socket would be");
    const engine = await EngineCore.openCore(dir, core, (parts) => new Engine(parts, consumerDefaults));
    if (!serving) return engine;
    try {
      const server = await EngineServer.start(engine);
      engine.#server = server;
      engine.attachWork(() => server.close());
    } catch (error) {
      await engine.close({ checkpoint: false }).catch(() => undefined);
      throw error;
    }
    return engine;
  }
}
