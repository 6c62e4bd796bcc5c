/**
 * The processes beside `npm run bench -- fanotify`: its C program
 * (bench/fanotify-handler.c, compiled with gcc into the bench's temp dir
 * when the bench runs) as a permission handler, an event counter, readers
 * and a create storm; and, without gcc, the reader and storm in Node
 * (bench/fanotify-child.ts), the C handler and counter then skipped.
 *
 * Every process started here is kept in one set until it has exited, so
 * that the bench's `finally` can end each by its pid (`killAll`) before the
 * image is unmounted: a reader blocked in the kernel on a permission event
 * dies only once its event is answered, so the caller stops its handler
 * (which answers, or closes the group) before calling killAll. `abort`
 * (on SIGINT or SIGTERM) kills them at once and refuses new ones, so that
 * whatever waits on them fails and the bench's finally blocks run.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** What `readers` measured: operations, their rate summed over the readers, and every latency in ns. */
export interface ReadersRun {
  operations: number;
  perSecond: number;
  latenciesNs: Uint32Array[];
}

/** A long-running peer (handler, count): resolves with its last line of output once its stdin is closed. */
export interface Daemon {
  finish(): Promise<string>;
}

const C_SOURCE = fileURLToPath(new URL('../../bench/fanotify-handler.c', import.meta.url));
const NODE_CHILD = fileURLToPath(new URL('./fanotify-child.js', import.meta.url));

export class Peers {
  /** The compiled C program, or null; `skipped` says why. */
  readonly binary: string | null;
  readonly skipped: string | null;
  readonly #children = new Set<ChildProcess>();
  /** Why no process may start any more (`abort`), or null. */
  #aborted: string | null = null;

  /** Builds the C program into `dir` with gcc; without gcc (or when it fails) the C peers are skipped and the Node reader and storm stand in. */
  constructor(dir: string) {
    let binary: string | null = null;
    let skipped: string | null = null;
    try {
      execFileSync('gcc', ['--version'], { stdio: 'ignore' });
    } catch (error) {
      skipped = `gcc is not on this machine (${(error as Error).message.split('\n')[0]})`;
    }
    if (skipped === null) {
      binary = path.join(dir, 'fanotify-handler');
      try {
        execFileSync('gcc', ['-O2', '-Wall', '-o', binary, C_SOURCE], { stdio: 'pipe' });
      } catch (error) {
        skipped = `gcc could not build ${C_SOURCE}: ${String((error as { stderr?: Buffer }).stderr ?? error)}`;
        binary = null;
      }
    }
    this.binary = binary;
    this.skipped = skipped;
  }

  /** What the readers and the storm are: 'C' or 'Node'. */
  get workload(): string {
    return this.binary === null ? 'Node (no C build)' : 'C';
  }

  #spawn(mode: string, args: string[], stdin: 'pipe' | 'ignore'): ChildProcess {
    if (this.#aborted !== null) throw new Error(`the bench was stopped (${this.#aborted}): no ${mode} is started`);
    const [file, argv] = this.binary === null ? [process.execPath, [NODE_CHILD, mode, ...args]] : [this.binary, [mode, ...args]];
    const child = spawn(file, argv, { stdio: [stdin, 'pipe', 'pipe'] });
    this.#children.add(child);
    child.once('exit', () => this.#children.delete(child));
    return child;
  }

  /** Runs a child to its end: its stdout, or a rejection with its stderr. */
  #run(mode: string, args: string[]): { child: ChildProcess; output: Promise<Buffer> } {
    const child = this.#spawn(mode, args, 'ignore');
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const output = new Promise<Buffer>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code, signal) => {
        if (code === 0) resolve(Buffer.concat(out));
        else reject(new Error(`${mode} ${args.join(' ')} exited with ${code ?? signal}: ${stderr.trim()}`));
      });
    });
    return { child, output };
  }

  /** `count` readers, each opening and reading `file` for `ms` (see the C header); rejects when one fails, after signalling the others. */
  async readers(file: string, ms: number, count: number): Promise<ReadersRun> {
    const runs = Array.from({ length: count }, () => this.#run('reader', [file, String(ms)]));
    let outputs: Buffer[];
    try {
      outputs = await Promise.all(runs.map((run) => run.output));
    } catch (error) {
      // The others may be blocked in the kernel: killed now, they die once their handler answers or goes.
      for (const { child } of runs) child.kill('SIGKILL');
      throw error;
    }
    let operations = 0;
    let perSecond = 0;
    const latenciesNs: Uint32Array[] = [];
    for (const output of outputs) {
      const done = Number(output.readBigUInt64LE(0));
      const elapsedNs = Number(output.readBigUInt64LE(8));
      if (output.length !== 16 + done * 4) throw new Error(`a reader wrote ${output.length} bytes for ${done} operations`);
      operations += done;
      perSecond += done / (elapsedNs / 1e9);
      // A copy: the output's bytes may not be aligned for a Uint32Array view.
      latenciesNs.push(new Uint32Array(Uint8Array.prototype.slice.call(output, 16).buffer));
    }
    return { operations, perSecond, latenciesNs };
  }

  /** A create storm in `dir` for `ms` at `rate` cycles/s (0: unbounded): its cycles and elapsed seconds. */
  async storm(dir: string, ms: number, rate: number): Promise<{ cycles: number; seconds: number }> {
    const text = (await this.#run('storm', [dir, String(ms), String(Math.round(rate))]).output).toString();
    const match = /^cycles (\d+) elapsed_ns (\d+)/.exec(text);
    if (match === null) throw new Error(`the storm printed ${JSON.stringify(text)}`);
    return { cycles: Number(match[1]), seconds: Number(match[2]) / 1e9 };
  }

  /** The C handler or counter of `mode` on `mount` for `mask`, once it says it has marked. */
  async daemon(mode: 'handler' | 'count', mount: string, mask: bigint): Promise<Daemon> {
    if (this.binary === null) throw new Error(`the C ${mode} was skipped: ${this.skipped}`);
    const child = this.#spawn(mode, [mount, mask.toString(16)], 'pipe');
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => (stdout += chunk));
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<string>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code, signal) => {
        if (code === 0) resolve(stdout.trim().split('\n').at(-1) ?? '');
        else reject(new Error(`the C ${mode} exited with ${code ?? signal}: ${stderr.trim()}`));
      });
    });
    exited.catch(() => undefined);
    await new Promise<void>((resolve, reject) => {
      const onData = (): void => {
        if (!stdout.startsWith('ready\n')) return;
        child.stdout!.off('data', onData);
        resolve();
      };
      child.stdout!.on('data', onData);
      exited.then(() => reject(new Error(`the C ${mode} ended before it was ready`)), reject);
    });
    return {
      finish: () => {
        child.stdin!.end();
        return exited;
      },
    };
  }

  /** Starts no process any more, and ends those running: what waits on them fails, and its finally releases the rest. */
  abort(reason: string): Promise<void> {
    this.#aborted = reason;
    return this.killAll();
  }

  /** Ends every process started here that has not exited, by its pid, and waits for each to exit. */
  async killAll(): Promise<void> {
    await Promise.all(
      [...this.#children].map(
        (child) =>
          new Promise<void>((resolve) => {
            child.once('exit', () => resolve());
            if (child.exitCode !== null || child.signalCode !== null) resolve();
            else child.kill('SIGKILL');
          }),
      ),
    );
  }
}
