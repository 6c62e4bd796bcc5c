/**
 * What the real-kernel tests share: a reader of a marked file in a child
 * process (`cat`, which waits in the kernel on its permission events), a
 * child that makes changes while this process's loop is blocked, and
 * the journal of an engine directory, decoded, for the request and
 * decision checks.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RecordView } from '../../engine/record/record.js';
import { Engine } from '../../index.js';
import { type FanotifyStats, watchFilesystem } from '../../kernel/watch.js';
import { decodeRecord } from '../../interop/index.js';

export interface ReaderResult {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** `cat file` in a child: resolves with its exit code, stdout and stderr once it has ended. */
export function cat(file: string): Promise<ReaderResult> {
  const child = spawn('cat', [file], { stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr })));
}

/** Every record of `engine`'s journal with its seq, decoded. */
export async function records(engine: Engine): Promise<{ seq: bigint; record: RecordView }[]> {
  const out: { seq: bigint; record: RecordView }[] = [];
  for await (const { seq, payload } of engine.journal.read()) out.push({ seq, record: decodeRecord(payload) });
  return out;
}

/** records() of the engine in `dir`, opened read-only (its holder gone): the campaign's own reading. */
export { journalRecords as journalOf } from '../../crash/fanotify-checks.js';

/**
 * Runs `script` in a child node process with `args`, blocking this process's
 * loop until it exits 0 (so nothing here reads the kernel meanwhile);
 * returns its pid, which it prints.
 */
export function blockingChild(script: string, ...args: string[]): number {
  return Number(execFileSync(process.execPath, ['-e', `process.stdout.write(String(process.pid));\n${script}`, ...args], { encoding: 'utf8' }));
}

/** A child's script of changes in the directory argv[1]: a create, writes, a rename, deletes, a tree removed. */
export const CHANGES = `
const fs = require('node:fs'); const dir = process.argv[1];
fs.mkdirSync(dir + '/d');
fs.writeFileSync(dir + '/d/a', 'hello');
fs.appendFileSync(dir + '/d/a', ' world');
fs.renameSync(dir + '/d/a', dir + '/d/b');
fs.unlinkSync(dir + '/d/b');
fs.mkdirSync(dir + '/gone');
fs.writeFileSync(dir + '/gone/x', 'x');
fs.rmSync(dir + '/gone', { recursive: true });
`;

/**
 * A bound on a wait that should end long before it: past it the wait
 * fails, so that the test's finally still stops the supervisor (whose stop
 * answers every reader) and releases the image, rather than the test
 * runner's timeout abandoning them.
 */
export const BOUND_MS = 60_000;
export function within<T>(work: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`gave up waiting for ${what}`)), BOUND_MS)));
  return Promise.race([work, bound]).finally(() => clearTimeout(timer));
}

/** Lines a process writes on stdout, and a wait for the first (from now on, or ever) that matches. */
export class Lines {
  readonly all: string[] = [];
  #waiters: { match: RegExp; from: number; resolve: (line: RegExpExecArray) => void }[] = [];
  constructor(child: ChildProcess) {
    let buffered = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        this.all.push(line);
        this.#check();
      }
    });
  }
  #check(): void {
    this.#waiters = this.#waiters.filter((waiter) => {
      for (let i = waiter.from; i < this.all.length; i++) {
        const found = waiter.match.exec(this.all[i]!);
        if (found !== null) {
          waiter.resolve(found);
          return false;
        }
      }
      return true;
    });
  }
  /** The first line matching `match` at index `from` or later (failing past BOUND_MS, with the lines seen). */
  next(match: RegExp, from = 0): Promise<RegExpExecArray> {
    const found = new Promise<RegExpExecArray>((resolve) => {
      this.#waiters.push({ match, from, resolve });
      this.#check();
    });
    return within(found, `a line matching ${match} (seen: ${this.all.join(' | ')})`);
  }
}

/** Resolves once `holds()` is true, checking at each turn of the loop's timers. */
export async function until(holds: () => boolean): Promise<void> {
  while (!holds()) await new Promise((resolve) => setTimeout(resolve, 5));
}

/** Resolves once `text()` (a process's output so far) matches `match`; fails past BOUND_MS, naming `what`. */
export function untilSaid(text: () => string, match: RegExp, what: string): Promise<void> {
  return within(
    until(() => match.test(text())),
    what,
  );
}

/**
 * Runs CHANGES in a child on `mount` while a filesystem watch journals into
 * `engine`, then stops the watch: what the tests of the kernel's changelog
 * start from. The watch is stopped whatever happens, before the image is
 * released.
 */
export async function watchChanges(engine: Engine, mount: string): Promise<{ pid: number; stats: FanotifyStats }> {
  const source = watchFilesystem(engine, mount);
  try {
    const pid = blockingChild(CHANGES, mount);
    await source.stop();
    return { pid, stats: source.stats() };
  } finally {
    await source.stop().catch(() => undefined);
  }
}

/** Makes an engine in `dir` (opened and closed): what `fanlog supervise --mask` needs there before it starts. */
export async function makeEngine(dir: string): Promise<void> {
  await (await Engine.open(dir, { serve: false })).close();
}

/** A node process a test started: its stdout lines, its stderr so far, and its exit code (listened for from its start). */
export interface NodeRun {
  child: ChildProcess;
  lines: Lines;
  stderr: () => string;
  exit: Promise<number | null>;
}

/** Starts `node ARGS` with `env`; stop it by its `child`'s pid. */
export function startNode(args: string[], env: NodeJS.ProcessEnv = process.env): NodeRun {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, lines: new Lines(child), stderr: () => stderr, exit };
}

const dist = fileURLToPath(new URL('../../dist', import.meta.url));
/** The built CLI the real-kernel tests run. */
export const CLI = path.join(dist, 'cli/main.js');

/**
 * The arguments of `fanlog supervise` holding a changelog of creates on
 * `mount` for the engine in `dir` (`options` before the `--`), running
 * test/kernel/notify-handler.mjs with `handlerArgs` (MARKER [DOWN]).
 */
export function superviseCreates(dir: string, mount: string, handlerArgs: string[], options: string[] = []): string[] {
  const handler = fileURLToPath(new URL('notify-handler.mjs', import.meta.url));
  return [CLI, 'supervise', '--path', mount, '--mask', 'CREATE', '--dir', dir, ...options, '--', process.execPath, handler, dist, dir, mount, ...handlerArgs];
}
