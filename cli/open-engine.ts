/**
 * How every command that works on an engine opens it: one mechanism, so
 * that no command makes an engine by mistake, beside a user's files, after
 * a typo in `--dir`.
 *
 *   the directory holds an engine   it is opened, taking its lock (EBUSY
 *                                   naming the holder, or `--wait` for it)
 *   it holds none, no `--init`      ENOENT, pointing at `fanlog init` (and
 *                                   at `--init` where the command has it);
 *                                   nothing is made
 *   it holds none, `--init`         the engine is made; if the command then
 *                                   fails, what the open made is taken away
 *                                   again: the entries it added to the
 *                                   directory, and the directory itself if
 *                                   it made it (discardMadeEngines, which
 *                                   main.ts calls when a command failed)
 *
 * "Holds an engine": its marker, or (an engine made before markers) a
 * journal segment (engine/engine-dir.ts, holdsEngine).
 */
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { holdsEngine } from '../engine/engine-dir.js';
import { FanlogError, reason } from '../errors.js';
import { Engine, type EngineOptions } from '../fanlog.js';
import { NodeIo } from '../journal/node-io.js';
import type { StoreKind } from '../store/meta-store.js';

export interface OpenOptions {
  dir: string;
  store?: StoreKind;
  /** Wait for the lock this long (ms; Infinity: until free) instead of EBUSY. */
  wait?: number;
  /** Make the engine if the directory holds none; undefined where the command has no `--init`. */
  init?: boolean;
  /** Open for reading only (`tail --consumer` without `--ack`). */
  readOnly?: boolean;
}

/** How often a command with `--wait` tries the lock again. */
const LOCK_RETRY_MS = 100;

/**
 * Runs `attempt` (something that takes the engine's lock); on EBUSY, with
 * `wait`, tries again until the lock is free or the wait is over (saying
 * once on stderr that it waits), else rethrows EBUSY saying what to do.
 */
export async function whileBusy<T>(options: { dir: string; wait?: number }, attempt: () => Promise<T>): Promise<T> {
  const deadline = options.wait === undefined ? null : Date.now() + options.wait;
  let told = false;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if ((error as { code?: string }).code !== 'EBUSY') throw error;
      if (deadline === null || Date.now() >= deadline) {
        // What to do next: wait (longer, or without a bound, when a bounded wait ran out).
        const next = deadline === null ? 'or add --wait[=MS] to wait for the engine' : `or wait without a bound: --wait`;
        const waited = deadline === null ? '' : ` (still held after waiting ${options.wait} ms)`;
        throw new FanlogError(
          'EBUSY',
          `${(error as Error).message}${waited}. A read-only command works beside it: stat, consumers list, tail without --consumer (and the consumer commands, through the holder's socket where it serves one); ${next}`,
          {
            file: options.dir,
            cause: error,
          },
        );
      }
      if (!told) process.stderr.write(`fanlog: waiting for the engine: ${reason(error)}\n`);
      told = true;
      // The lock has no waiting form that leaves the event loop free: it is tried again.
      await new Promise((resolve) => setTimeout(resolve, Math.min(LOCK_RETRY_MS, Math.max(0, deadline - Date.now()))));
    }
  }
}

/** What an open with `--init` found before it made the engine: what to take away if the command fails. */
interface Made {
  /** Null until the open resolved. */
  engine: Engine | null;
  dir: string;
  /** The directory's entries before the open; null when the open made the directory. */
  before: Set<string> | null;
  /** Inside entries the engine also uses (journal/, meta-*), that were there before: their entries then. */
  inside: Map<string, Set<string>>;
}

const made: Made[] = [];

/** Whether `name` is an entry an engine makes in its directory's top level as a directory. */
const ENGINE_SUBDIRECTORY = /^(journal|meta-[a-z]+)$/;

/**
 * Opens the engine in `options.dir` as the header says: ENOENT where there
 * is none (unless `init`), EBUSY or a wait while another process holds it.
 */
export async function openEngine(options: OpenOptions, engineOptions: EngineOptions = {}): Promise<Engine> {
  const { dir } = options;
  const exists = await holdsEngine(new NodeIo(), dir);
  if (!exists && options.init !== true) {
    throw new FanlogError('ENOENT', `no fanlog engine in ${dir} (fanlog init makes one${options.init === false ? ', or add --init' : ''})`, { file: dir });
  }
  const making: Made | null = exists ? null : { engine: null, dir, ...snapshot(dir) };
  const store = options.store === undefined ? {} : { store: options.store };
  let engine: Engine;
  try {
    engine = await whileBusy(options, () => Engine.open(dir, { ...engineOptions, ...store, ...(options.readOnly === true ? { readOnly: true } : {}) }));
  } catch (error) {
    // An open that fails half-way through making the engine leaves nothing either.
    if (making !== null) discard(making);
    throw error;
  }
  if (making !== null) made.push({ ...making, engine });
  return engine;
}

/** What `dir` holds before an engine is made in it. */
function snapshot(dir: string): Pick<Made, 'before' | 'inside'> {
  if (!existsSync(dir)) return { before: null, inside: new Map() };
  const names = readdirSync(dir);
  const inside = new Map<string, Set<string>>();
  for (const name of names) {
    const entry = path.join(dir, name);
    if (ENGINE_SUBDIRECTORY.test(name) && statSync(entry).isDirectory()) inside.set(name, new Set(readdirSync(entry)));
  }
  return { before: new Set(names), inside };
}

/**
 * Takes away every engine this process made with `--init` (closing it
 * first): what the open added, nothing that was there before. For a
 * command that failed after it made its engine.
 */
export async function discardMadeEngines(): Promise<void> {
  for (const making of made.splice(0)) {
    await making.engine?.close({ checkpoint: false }).catch(() => undefined);
    discard(making);
  }
}

/** Removes what an open added to the directory (see Made). */
function discard({ dir, before, inside }: Made): void {
  if (before === null) return rmSync(dir, { recursive: true, force: true });
  for (const name of readdirSync(dir)) {
    const entry = path.join(dir, name);
    const had = inside.get(name);
    if (!before.has(name)) rmSync(entry, { recursive: true, force: true });
    else if (had !== undefined) for (const child of readdirSync(entry)) if (!had.has(child)) rmSync(path.join(entry, child), { recursive: true, force: true });
  }
}

/** Opens the engine (openEngine), runs `use`, and closes it. */
export async function withEngine<T>(options: OpenOptions, use: (engine: Engine) => Promise<T>, engineOptions: EngineOptions = {}): Promise<T> {
  const engine = await openEngine(options, engineOptions);
  try {
    return await use(engine);
  } finally {
    await engine.close();
  }
}
