/**
 * `fanlog trigger NAME --dir D [--mask LIST] [--filter N=A] -- CMD ARGS…`:
 * watchman's trigger, made durable. A consumer NAME (registered on first
 * use, from `--from`, with `--mask` and `--filter`) is read in batches, and
 * for each batch CMD runs with the records as JSON lines on its stdin.
 *
 *   reading ──a batch──▶ running CMD ──exit 0──▶ ack the batch ──▶ reading
 *                            │
 *                            └─exit ≠ 0, a signal, or no such command──▶
 *                              waiting (100 ms, doubling to --retry-ms-max)
 *                              ──▶ running CMD again, with the same batch
 *
 * Nothing is acknowledged unless CMD exited 0 on that batch, so a batch is
 * given to CMD until it succeeds, across restarts of the trigger too
 * (at least once: a CMD killed half-way sees its batch again). CMD's stdout
 * and stderr are the trigger's; its environment has FANLOG_TRIGGER (the
 * name), FANLOG_FIRST_SEQ, FANLOG_LAST_SEQ and FANLOG_RECORDS.
 *
 * It works through the engine's holder, the application, on its socket
 * (engine-access.ts): while nobody serves the engine it waits, with the
 * same backoff, for a holder. It never takes the engine's lock, which
 * would keep the application from opening it again after a restart,
 * unless `--open` says it may: then, with no holder, it opens the engine
 * itself (and serves it). When the holder goes away (ESERVER), the batch
 * in hand is dropped unacknowledged and the trigger attaches again.
 * SIGTERM or SIGINT stops it: a CMD running then is sent SIGTERM and
 * waited for (its batch acknowledged only if it still exits 0), and the
 * trigger exits 0.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { ConsumerOptions, DeliveredRecord } from '../consumers/consumer.js';
import { FanlogError, reason } from '../errors.js';
import { toJson, type CommonOptions } from './commands.js';
import { type EngineAccess, type ConsumerReader, withEngineAccess } from './engine-access.js';

export interface TriggerCommand extends CommonOptions {
  name: string;
  command: string[];
  from?: 'oldest' | 'next';
  mask?: bigint;
  filter?: { name: string; argument: string };
  /** Records per batch at most (default 1000). */
  batch?: number;
  /** The longest wait between two tries (default 30,000 ms). */
  retryMsMax?: number;
  /** With no holder, open the engine (and hold its lock) rather than wait for one. */
  open?: boolean;
}

const BACKOFF_FIRST_MS = 100;
const RETRY_MS_MAX = 30_000;
/** How long one read waits for records before the trigger looks whether it was told to stop. */
const READ_WAIT_MS = 1000;

export async function triggerCommand(options: TriggerCommand): Promise<void> {
  let stopping = false;
  let wake: () => void = () => undefined;
  const running: { child: ChildProcess | null } = { child: null };
  const stop = (): void => {
    stopping = true;
    running.child?.kill('SIGTERM');
    wake();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const retryMsMax = options.retryMsMax ?? RETRY_MS_MAX;
  let backoff = BACKOFF_FIRST_MS;
  let waiting = false;
  /** Waits the backoff (cut short by a stop), and doubles it. */
  const pause = async (why: string): Promise<void> => {
    process.stderr.write(`fanlog: trigger ${options.name}: ${why}; trying again in ${backoff} ms\n`);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, backoff);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    backoff = Math.min(backoff * 2, retryMsMax);
  };
  try {
    while (!stopping) {
      try {
        await withEngineAccess({ ...options, holderOnly: options.open !== true }, async (access) => {
          const consumer = await readerOf(access, options);
          try {
            while (!stopping) {
              const batch = await consumer.read({ max: options.batch ?? 1000, waitMs: READ_WAIT_MS });
              if (batch.length === 0) continue;
              // The same batch until CMD takes it: nothing is acknowledged before.
              for (;;) {
                const outcome = await run(options, batch, running);
                if (outcome === null) break;
                if (stopping) return;
                await pause(`${options.command[0]} ${outcome} on records ${batch[0]!.seq}..${batch.at(-1)!.seq}; nothing acknowledged`);
                if (stopping) return;
              }
              await consumer.ack(batch.at(-1)!.seq);
              backoff = BACKOFF_FIRST_MS;
            }
          } finally {
            await consumer.close().catch(() => undefined);
          }
        });
      } catch (error) {
        // A holder that went away, or the lock taken meanwhile: the batch in hand is delivered again after.
        const code = (error as { code?: string }).code;
        if (!(error instanceof FanlogError) || (code !== 'ESERVER' && code !== 'EBUSY')) throw error;
        if (options.open !== true && code === 'ESERVER' && !waiting)
          process.stderr.write(`fanlog: trigger ${options.name}: waiting for an application to serve the engine (or give --open)\n`);
        waiting = true;
        if (!stopping) await pause(reason(error));
      }
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

/** The trigger's consumer: registered on first use with the options given, then read as it is. */
async function readerOf(access: EngineAccess, options: TriggerCommand): Promise<ConsumerReader> {
  try {
    return await access.reader(options.name);
  } catch (error) {
    if ((error as { code?: string }).code !== 'ENOENT') throw error;
    const registered: ConsumerOptions = { from: options.from ?? 'oldest', ...(options.mask === undefined ? {} : { mask: options.mask }) };
    await access.register(options.name, registered, options.filter);
    process.stderr.write(`fanlog: trigger ${options.name}: registered the durable consumer ${options.name}; it holds the journal until it is deregistered\n`);
    return access.reader(options.name);
  }
}

/** Runs CMD on `batch`: null when it exited 0, else what happened. */
async function run(options: TriggerCommand, batch: DeliveredRecord[], running: { child: ChildProcess | null }): Promise<string | null> {
  const [command, ...args] = options.command;
  const child = spawn(command!, args, {
    stdio: ['pipe', 'inherit', 'inherit'],
    env: {
      ...process.env,
      FANLOG_TRIGGER: options.name,
      FANLOG_FIRST_SEQ: String(batch[0]!.seq),
      FANLOG_LAST_SEQ: String(batch.at(-1)!.seq),
      FANLOG_RECORDS: String(batch.length),
    },
  });
  // A CMD that reads none of its stdin (or exits early) is not an error of the trigger's: its exit status says.
  child.stdin.on('error', () => undefined);
  child.stdin.end(batch.map((record) => `${toJson(record)}\n`).join(''));
  running.child = child;
  try {
    return await new Promise((resolve) => {
      child.once('error', (error) => resolve(`could not run: ${reason(error)}`));
      child.once('close', (code, signal) => resolve(code === 0 ? null : signal === null ? `exited ${code}` : `was killed by ${signal}`));
    });
  } finally {
    running.child = null;
  }
}
