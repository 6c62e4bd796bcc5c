/**
 * A real redis-server for the replication tests, benchmarks and the crash
 * campaign (Debian's; `npm test`'s pretest installs it): started on
 * 127.0.0.1 at a free port, in a temporary directory (or one given), with
 * `--appendonly yes --appendfsync always`, ready once it says it accepts
 * connections; stopped (SIGTERM) or killed (SIGKILL) by its pid; frozen
 * (SIGSTOP) and thawed (SIGCONT); restarted on the same port and directory,
 * from its append-only file, or from an older copy of its data.
 *
 * Copies, for a restore from an older snapshot: `copy()` takes the data
 * directory as it is on disk (the AOF's multi-part files; with appendfsync
 * always, everything a command's reply vouched for), `copy({ rdb: true })`
 * makes a SAVE first and keeps only its `dump.rdb`. `restartFrom(copy)`
 * kills the server and starts it on that data: an AOF copy as it was, an
 * RDB copy as the base file of a fresh AOF (Redis 7 starts empty from a
 * lone dump.rdb when appendonly is on), so the restored server keeps its
 * durability.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
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
  /** SIGSTOP: the server stops answering, its connections stay open. */
  pause(): void;
  /** SIGCONT after pause(). */
  resume(): void;
  /** A copy of the server's data as it is now (see the top of this file); removed with the server's directory. */
  copy(options?: { rdb?: boolean }): Promise<RedisCopy>;
  /** SIGKILL, then start again on the same port from `copy` (an older snapshot restored). */
  restartFrom(copy: RedisCopy): Promise<void>;
}

export interface RedisCopy {
  dir: string;
  kind: 'aof' | 'rdb';
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
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--appendonly',
      'yes',
      '--appendfsync',
      'always',
      '--save',
      '',
      '--daemonize',
      'no',
      '--protected-mode',
      'no',
      '--repl-diskless-sync-delay',
      '0',
      ...extra,
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (output.includes('Ready to accept connections')) resolve(child);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`redis-server exited (${code}) before it was ready: ${output}`)));
  });
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((resolve) => child.once('exit', () => resolve()));
}

/** One command in RESP over a fresh connection (SAVE, before an RDB copy); resolves with the reply's first line. */
function command(port: number, args: string[], password: string | null): Promise<string> {
  const resp = (words: string[]): string => `*${words.length}\r\n${words.map((word) => `$${Buffer.byteLength(word)}\r\n${word}\r\n`).join('')}`;
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let reply = '';
    const replies = password === null ? 1 : 2;
    socket.once('error', reject);
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      const lines = reply.split('\r\n');
      if (lines.length > replies) {
        socket.destroy();
        const last = lines[replies - 1]!;
        if (last.startsWith('-')) reject(new Error(`redis-server: ${args.join(' ')}: ${last.slice(1)}`));
        else resolve(last);
      }
    });
    socket.write((password === null ? '' : resp(['AUTH', password])) + resp(args));
  });
}

const AOF_DIR = 'appendonlydir';

/**
 * SIGTERM, then SIGKILL. Redis refuses a SIGTERM while it writes its
 * initial AOF (a replica just after its first sync): SIGTERM again once
 * that is done, and SIGKILL last.
 */
async function stopGracefully(child: ChildProcess): Promise<void> {
  for (let attempt = 0; attempt < 5 && child.exitCode === null && child.signalCode === null; attempt++) {
    child.kill('SIGTERM');
    await Promise.race([exited(child), new Promise((resolve) => setTimeout(resolve, 1000))]);
  }
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await exited(child);
}

/** Lays `copy` down as the server's data in `dir`: an AOF copy as it was, an RDB copy as the base of a fresh AOF. */
function layCopy(dir: string, copy: RedisCopy): void {
  const aof = path.join(dir, AOF_DIR);
  rmSync(aof, { recursive: true, force: true });
  if (copy.kind === 'aof') {
    cpSync(path.join(copy.dir, AOF_DIR), aof, { recursive: true });
  } else {
    // The RDB as the base of a fresh multi-part AOF, with an empty increment.
    mkdirSync(aof);
    cpSync(path.join(copy.dir, 'dump.rdb'), path.join(aof, 'appendonly.aof.1.base.rdb'));
    writeFileSync(path.join(aof, 'appendonly.aof.1.incr.aof'), '');
    writeFileSync(path.join(aof, 'appendonly.aof.manifest'), 'file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n');
  }
  if (!existsSync(path.join(aof, 'appendonly.aof.manifest'))) throw new Error(`the copy in ${copy.dir} holds no AOF manifest`);
}

/** `extra`: more server arguments (`['--replicaof', '127.0.0.1', '6379']` for a replica). `options.dir`: where (default a fresh temporary directory). */
export async function startRedis(extra: string[] = [], options: { dir?: string } = {}): Promise<RedisServer> {
  const port = await freePort();
  const dir = options.dir ?? mkdtempSync(path.join(tmpdir(), 'fanlog-redis-'));
  mkdirSync(dir, { recursive: true });
  const passwordAt = extra.indexOf('--requirepass');
  const password = passwordAt === -1 ? null : extra[passwordAt + 1]!;
  let child = await launch(port, dir, extra);
  let paused = false;
  let copies = 0;
  const resume = (): void => {
    if (paused && child.exitCode === null && child.signalCode === null) child.kill('SIGCONT');
    paused = false;
  };
  const kill = async (): Promise<void> => {
    child.kill('SIGKILL');
    paused = false;
    await exited(child);
  };
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    pid: () => child.pid!,
    kill,
    async restart() {
      child = await launch(port, dir, extra);
    },
    async stop() {
      resume();
      await stopGracefully(child);
    },
    pause() {
      child.kill('SIGSTOP');
      paused = true;
    },
    resume,
    async copy({ rdb = false } = {}) {
      const copyDir = path.join(dir, `copy-${copies++}`);
      mkdirSync(copyDir);
      if (rdb) {
        await command(port, ['SAVE'], password);
        cpSync(path.join(dir, 'dump.rdb'), path.join(copyDir, 'dump.rdb'));
      } else {
        cpSync(path.join(dir, AOF_DIR), path.join(copyDir, AOF_DIR), { recursive: true });
      }
      return { dir: copyDir, kind: rdb ? 'rdb' : 'aof' };
    },
    async restartFrom(copy) {
      await kill();
      layCopy(dir, copy);
      child = await launch(port, dir, extra);
    },
  };
}
