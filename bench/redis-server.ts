/**
 * A real redis-server for the replication tests and benchmarks (Debian's;
 * `npm test`'s pretest installs it): started on 127.0.0.1 at a free port, in a temporary
 * directory, with `--appendonly yes --appendfsync always`, ready once it
 * says it accepts connections; stopped (SIGTERM) or killed (SIGKILL) by its
 * pid; restarted on the same port and directory, from its append-only file.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface RedisServer {
  url: string;
  port: number;
  dir: string;
  pid(): number;
  /** SIGKILL, then wait for the exit. */
  kill(): Promise<void>;
  /** Start again on the same port and directory. */
  restart(): Promise<void>;
  /** SIGTERM, then wait for the exit (safe to call twice). */
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function launch(port: number, dir: string, extra: string[]): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--daemonize', 'no', '--protected-mode', 'no', '--repl-diskless-sync-delay', '0', ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (output.includes('Ready to accept connections')) resolve(child);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`redis-server exited (${code}) before it was ready: ${output}`)));
  });
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((resolve) => child.once('exit', () => resolve()));
}

/** `extra`: more server arguments (`['--replicaof', '127.0.0.1', '6379']` for a replica). */
export async function startRedis(extra: string[] = []): Promise<RedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), 'fanlog-redis-'));
  let child = await launch(port, dir, extra);
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    pid: () => child.pid!,
    async kill() {
      child.kill('SIGKILL');
      await exited(child);
    },
    async restart() {
      child = await launch(port, dir, extra);
    },
    async stop() {
      // Redis refuses a SIGTERM while it writes its initial AOF (a replica just
      // after its first sync): SIGTERM again once that is done, and SIGKILL last.
      for (let attempt = 0; attempt < 5 && child.exitCode === null && child.signalCode === null; attempt++) {
        child.kill('SIGTERM');
        await Promise.race([exited(child), new Promise((resolve) => setTimeout(resolve, 1000))]);
      }
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited(child);
    },
  };
}
