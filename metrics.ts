/**
 * Engine metrics: what an operator watches, in one object
 * (`engine.metrics()`), and in the Prometheus text exposition format
 * (`prometheusText`, for node_exporter's textfile collector: `fanlog stat
 * --prometheus`).
 *
 * Windows are the last minute (journal/window.ts). A consumer's lag in
 * seconds is the head record's time minus the time of the first record it
 * has not acknowledged (0 when caught up), by the engine's clock; null
 * when that record was purged while it was looked up (a read-only engine
 * beside its holder reads records the holder may purge since). Fields a
 * lock-free view (`fanlog stat` beside a running application) cannot know
 * are null there, never guessed.
 *
 * Replicators (`engine.replicate`) show with their state, lag and stall:
 * every one running, and one that failed until another starts for its
 * stream or the engine closes. Their URLs are redacted (no credential);
 * the Prometheus text labels them by stream and consumer only. A lock-free
 * view cannot see them: `replicators` is absent there.
 */
import type { ConsumerInfo } from './consumers/consumer.js';
import { FanlogError } from './errors.js';
import type { GroupInfo } from './engine/notify/groups.js';

export interface EngineMetrics {
  seqs: {
    head: bigint;
    /** Known on disk; null when unknown (a lock-free view of a store kind it cannot read). */
    durable: bigint | null;
    /** The latest durable checkpoint's seq; null when unknown. */
    checkpoint: bigint | null;
    oldestRetained: bigint;
  };
  /** Bytes of the journal's retained segment files. */
  journalBytes: number;
  /** Journal entries (one per operation, request or decision) written per second over the last minute. */
  entriesPerSecond: number | null;
  /** fdatasync latency over the last minute, in ms (null without one). */
  fdatasyncMs: { count: number; p50: number | null; p99: number | null } | null;
  consumers: {
    name: string;
    cursor: bigint;
    lagRecords: bigint;
    lagSeconds: number | null;
    idleMs: number | null;
    evicted: boolean;
  }[];
  groups: {
    name: string;
    class: string;
    queued: number | null;
    pendingPermissions: number | null;
    timeouts: number | null;
    evicted: boolean;
  }[];
  /** The engine's replicators; absent where unknown (a lock-free view). */
  replicators?: ReplicatorMetrics[];
}

/** One replicator, as metrics show it (replication/replicator.ts gives it). */
export interface ReplicatorMetrics {
  stream: string;
  consumer: string;
  /** The Redis URL, its credentials redacted. */
  url: string;
  state: 'running' | 'retrying' | 'stopping' | 'stopped' | 'failed';
  replicatedSeq: bigint;
  lagRecords: bigint;
  /** How long it has gone without a successful answer from Redis (0 when the last one succeeded). */
  stalledMs: number;
  retries: number;
  lastErrorCode: string | null;
}

const REPLICATOR_STATES: readonly ReplicatorMetrics['state'][] = ['running', 'retrying', 'stopping', 'stopped', 'failed'];

/** The parts of an engine metrics are taken from (fanlog.ts passes the engine). */
export interface MetricsSource {
  journal: {
    headSeq: bigint;
    durableSeq: bigint;
    firstSeq: bigint;
    bytes: number;
    entriesWritten: { rate(): number };
    syncLatencies: { count(): number; quantile(q: number): number | null };
    read(range: { from: bigint; to: bigint }): AsyncIterable<{ payload: Uint8Array }>;
  };
  checkpointSeq: bigint;
  consumers: { list(): ConsumerInfo[] };
  groups: { list(): GroupInfo[] };
  /** The time (ns) of record `seq`. */
  recordTime(seq: bigint): Promise<bigint | null>;
  /** The engine's replicators. */
  replicators?: { metrics(): ReplicatorMetrics }[];
}

/** Record `seq`'s time; null when it was purged meanwhile (see the header). */
async function timeOf(source: MetricsSource, seq: bigint): Promise<bigint | null> {
  try {
    return await source.recordTime(seq);
  } catch (error) {
    if (error instanceof FanlogError && error.code === 'EPURGED') return null;
    throw error;
  }
}

export async function collectMetrics(source: MetricsSource): Promise<EngineMetrics> {
  const { journal } = source;
  const headTime = journal.headSeq >= journal.firstSeq ? await timeOf(source, journal.headSeq) : null;
  const consumers: EngineMetrics['consumers'] = [];
  for (const info of source.consumers.list()) {
    let lagSeconds: number | null = 0;
    if (info.evicted !== null) lagSeconds = null;
    else if (info.lagRecords > 0n && headTime !== null) {
      const firstTime = await timeOf(source, info.cursor + 1n);
      lagSeconds = firstTime === null ? null : Math.max(0, Number(headTime - firstTime) / 1e9);
    }
    consumers.push({ name: info.name, cursor: info.cursor, lagRecords: info.lagRecords, lagSeconds, idleMs: info.idleMs, evicted: info.evicted !== null });
  }
  const syncs = journal.syncLatencies;
  return {
    seqs: { head: journal.headSeq, durable: journal.durableSeq, checkpoint: source.checkpointSeq, oldestRetained: journal.firstSeq },
    journalBytes: journal.bytes,
    entriesPerSecond: journal.entriesWritten.rate(),
    fdatasyncMs: { count: syncs.count(), p50: syncs.quantile(0.5), p99: syncs.quantile(0.99) },
    consumers,
    groups: source.groups.list().map((group) => ({
      name: group.name,
      class: group.class,
      queued: group.queued,
      pendingPermissions: group.pendingPermissions,
      timeouts: group.timeouts,
      evicted: group.evicted,
    })),
    ...(source.replicators === undefined ? {} : { replicators: source.replicators.map((replicator) => replicator.metrics()) }),
  };
}

/** Escapes a Prometheus label value. */
const label = (value: string): string => value.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n');

/**
 * The metrics in the Prometheus text exposition format (version 0.0.4):
 * one `# HELP` and `# TYPE` per metric, samples labelled with the engine
 * directory (`dir`), and per consumer or group (`consumer`, `group`).
 * Unknown values (null) are left out, not written as 0.
 */
export function prometheusText(metrics: EngineMetrics, dir: string): string {
  const lines: string[] = [];
  const base = `dir="${label(dir)}"`;
  const metric: Metric = (name, type, help, samples) => {
    const known = samples.filter((sample): sample is [string, number | bigint] => sample[1] !== null);
    if (known.length === 0) return;
    lines.push(`# HELP fanlog_${name} ${help}`, `# TYPE fanlog_${name} ${type}`);
    for (const [labels, value] of known) lines.push(`fanlog_${name}{${[base, labels].filter((part) => part !== '').join(',')}} ${value.toString()}`);
  };
  journalMetrics(metric, metrics);
  consumerMetrics(metric, metrics.consumers);
  groupMetrics(metric, metrics.groups);
  replicatorMetrics(metric, metrics.replicators ?? []);
  return `${lines.join('\n')}\n`;
}

/** Writes one metric: its name (after `fanlog_`), type, help, and samples, each its labels beyond `dir` and its value (null: unknown). */
type Metric = (name: string, type: 'gauge' | 'counter', help: string, samples: [string, number | bigint | null][]) => void;

/** The journal's seqs, size, rate and fdatasync latency. */
function journalMetrics(metric: Metric, metrics: EngineMetrics): void {
  const { seqs } = metrics;
  metric('head_seq', 'gauge', 'Seq of the last record appended.', [['', seqs.head]]);
  metric('durable_seq', 'gauge', 'Seq of the last record known on disk.', [['', seqs.durable]]);
  metric('checkpoint_seq', 'gauge', 'Seq the latest durable checkpoint covers.', [['', seqs.checkpoint]]);
  metric('oldest_retained_seq', 'gauge', 'Seq of the oldest retained record.', [['', seqs.oldestRetained]]);
  metric('journal_bytes', 'gauge', 'Bytes of the retained journal segments.', [['', metrics.journalBytes]]);
  metric('entries_per_second', 'gauge', 'Journal entries written per second over the last minute.', [['', metrics.entriesPerSecond]]);
  const syncs = metrics.fdatasyncMs;
  metric('fdatasync_seconds', 'gauge', 'fdatasync latency quantiles over the last minute.', [
    ['quantile="0.5"', syncs?.p50 === null || syncs === null ? null : syncs.p50 / 1000],
    ['quantile="0.99"', syncs?.p99 === null || syncs === null ? null : syncs.p99 / 1000],
  ]);
  metric('fdatasync_count', 'gauge', 'fdatasyncs over the last minute.', [['', syncs?.count ?? null]]);
}

function consumerMetrics(metric: Metric, consumers: EngineMetrics['consumers']): void {
  const consumer = (c: { name: string }): string => `consumer="${label(c.name)}"`;
  metric(
    'consumer_lag_records',
    'gauge',
    "Records appended after the consumer's cursor.",
    consumers.map((c) => [consumer(c), c.lagRecords]),
  );
  metric(
    'consumer_lag_seconds',
    'gauge',
    "Head record time minus the first unacknowledged record's time.",
    consumers.map((c) => [consumer(c), c.lagSeconds]),
  );
  metric(
    'consumer_idle_seconds',
    'gauge',
    'Time since the consumer last read or acknowledged.',
    consumers.map((c) => [consumer(c), c.idleMs === null ? null : c.idleMs / 1000]),
  );
  metric(
    'consumer_evicted',
    'gauge',
    '1 when the consumer was evicted.',
    consumers.map((c) => [consumer(c), c.evicted ? 1 : 0]),
  );
}

function groupMetrics(metric: Metric, groups: EngineMetrics['groups']): void {
  const group = (g: { name: string }): string => `group="${label(g.name)}"`;
  metric(
    'group_queued_events',
    'gauge',
    "Events queued for the group's listener.",
    groups.map((g) => [group(g), g.queued]),
  );
  metric(
    'group_pending_permissions',
    'gauge',
    'Permission events not answered yet.',
    groups.map((g) => [group(g), g.pendingPermissions]),
  );
  metric(
    'group_timeouts_total',
    'counter',
    "Permission events answered by the group's timeout since the engine opened.",
    groups.map((g) => [group(g), g.timeouts]),
  );
}

function replicatorMetrics(metric: Metric, replicators: ReplicatorMetrics[]): void {
  const replicator = (r: ReplicatorMetrics): string => `stream="${label(r.stream)}",consumer="${label(r.consumer)}"`;
  metric(
    'replicator_replicated_seq',
    'gauge',
    'Seq of the last record the replicator appended to its stream and acknowledged.',
    replicators.map((r) => [replicator(r), r.replicatedSeq]),
  );
  metric(
    'replicator_lag_records',
    'gauge',
    "Records durable in fanlog and not yet in the replicator's stream.",
    replicators.map((r) => [replicator(r), r.lagRecords]),
  );
  metric(
    'replicator_stalled_seconds',
    'gauge',
    'Time the replicator has gone without a successful answer from Redis (0 when the last one succeeded).',
    replicators.map((r) => [replicator(r), r.stalledMs / 1000]),
  );
  metric(
    'replicator_retries_total',
    'counter',
    'Redis errors the replicator retried since it started.',
    replicators.map((r) => [replicator(r), r.retries]),
  );
  metric(
    'replicator_state',
    'gauge',
    "1 for the replicator's current state (failed: stopped by an error, see its lastError).",
    replicators.flatMap((r) => REPLICATOR_STATES.map((state): [string, number] => [`${replicator(r)},state="${state}"`, r.state === state ? 1 : 0])),
  );
}
