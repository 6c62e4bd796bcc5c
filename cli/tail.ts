/**
 * `fanlog tail`: the changelog, as `lfs changelog MDT [start [end]]` prints
 * Lustre's, from `--from` (default the oldest retained record) through
 * `--to` (default the last written), and `--follow` for what comes after.
 *
 * Without `--consumer` it reads the segment files lock-free, beside a
 * running application (inspect.ts), and can select records there:
 *   --mask LIST        records with one of these events, as a consumer mask
 *                      selects (events only: ONDIR is a mark's qualifier;
 *                      records without a mask, such as notes, always)
 *   --filter NAME=ARG  a built-in filter (consumers/filters.ts), as a
 *                      consumer with it attached would see them
 * With `--consumer` it reads through the consumer, which selects with its
 * own mask and filter and needs the engine (`--ack` acknowledges what was
 * printed, through `--to` at most).
 */
import { decodeRecord } from '../engine/record/codec.js';
import type { RecordView } from '../engine/record/record.js';
import { checkConsumerMask } from '../consumers/consumer-registry.js';
import { Filters } from '../consumers/filters.js';
import { type CommonOptions, formatOf, printer, type TailFormat } from './commands.js';
import { changelogFollower, readChangelog, unfinishedNote } from './inspect.js';
import { withEngineAccess } from './engine-access.js';

/** What `tail` and `tail --follow` print: the range and, lock-free, the selection. */
export interface TailOptions {
  from?: bigint;
  to?: bigint;
  mask?: bigint;
  filter?: { name: string; argument: string };
  json?: boolean;
  format?: TailFormat;
}

/** Whether `--mask` and `--filter` select a record (see the header); EINVAL for a mask with a mark's qualifiers, or a filter that is not built in. */
export function selection(options: Pick<TailOptions, 'mask' | 'filter'>): (record: RecordView) => boolean {
  const { filter } = options;
  // A consumer mask's check: its meaning here is a consumer mask's.
  const mask = options.mask === undefined ? undefined : checkConsumerMask(options.mask);
  const predicate = filter === undefined ? null : new Filters().build(filter.name, filter.argument);
  return (record) => (mask === undefined || record.mask === undefined || (record.mask & mask) !== 0n) && (predicate === null || predicate(record));
}

/**
 * `tail`: prints the changelog's records from `from` through `to` (see the
 * header); op records, which are the engine's own, are never printed.
 */
export async function tail(options: CommonOptions & TailOptions & { consumer?: string; ack?: boolean }): Promise<void> {
  const print = printer(formatOf(options));
  const { to } = options;
  if (options.consumer === undefined) {
    const selected = selection(options);
    const unfinished = await readChangelog(options.dir, options.from, to, (records) => {
      for (const { seq, record } of records) if (record.kind !== 'op' && (to === undefined || seq <= to) && selected(record)) print(seq, record);
    });
    if (unfinished !== null) process.stderr.write(`fanlog: note: ${unfinishedNote(unfinished)}\n`);
    return;
  }
  // Without --ack, a read-only open beside the holder (an lmdb store) prints without taking its lock.
  await withEngineAccess({ ...options, readOnly: options.ack !== true }, async (access) => {
    const consumer = await access.reader(options.consumer!);
    try {
      for (let batch = await consumer.read({ max: 1000 }); batch.length > 0; batch = await consumer.read({ max: 1000 })) {
        const inRange = to === undefined ? batch : batch.filter((record) => record.seq <= to);
        // A record delivered in process is a view, whose toJSON gives every field; through the socket, a plain object.
        for (const record of inRange) print(record.seq, record);
        if (options.ack === true && inRange.length > 0) await consumer.ack(inRange[inRange.length - 1]!.seq);
        if (inRange.length < batch.length) return;
      }
    } finally {
      await consumer.close();
    }
  });
}

/** How often `tail --follow` looks for new records. */
const FOLLOW_POLL_MS = 200;

/**
 * `tail --follow`: prints the changelog and then new records as they are
 * written, until SIGINT or SIGTERM, or until it printed through `to`. It
 * reads the segment files without the engine's lock (JournalFollower), so
 * it works while an application has the engine open; it shows what was
 * written, which a crash may still cut.
 */
export async function follow(options: { dir: string } & TailOptions): Promise<void> {
  const selected = selection(options);
  const follower = await changelogFollower(options.dir, options.from);
  const print = printer(formatOf(options));
  const { to } = options;
  let stopping = false;
  let wake: () => void = () => undefined;
  const stop = (): void => {
    stopping = true;
    wake();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    while (!stopping) {
      for (const { seq, payload } of await follower.poll()) {
        if (to !== undefined && seq > to) return;
        const record = decodeRecord(payload);
        if (record.kind !== 'op' && selected(record)) print(seq, record);
        if (seq === to) return;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, FOLLOW_POLL_MS);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}
