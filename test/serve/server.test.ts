/**
 * The holder's socket (serve/): another process of the engine's user
 * registers, reads, acknowledges and lists consumers through it, with the
 * semantics and errors of the calls in process; what a client read and
 * did not acknowledge is delivered again when it dies; a client that loses
 * the holder gets ESERVER; another user cannot connect; a bad or greedy
 * client is dropped or held back without stopping the engine. Children are
 * real processes (client-child.mjs, on the built dist/), killed by pid.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, statSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { Engine, EngineClient, type EngineOptions, FanlogError, LocalConsumer } from '../../index.js';
import { MemoryIo } from '../../testing.js';
import { CLIENTS_MAX, EngineServer, type ServerLimits } from '../../serve/server.js';
import { LINE_BYTES_MAX, socketPath } from '../../serve/protocol.js';
import { type NodeChild, rejection, startNodeChild, tempDir } from '../helpers.js';

const CHILD = fileURLToPath(new URL('client-child.mjs', import.meta.url));

const engines: Engine[] = [];
const children: NodeChild[] = [];
const clients: EngineClient[] = [];
const servers: EngineServer[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
  for (const { child, exited } of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  }
  for (const client of clients.splice(0)) await client.close().catch(() => undefined);
  for (const engine of engines.splice(0)) await engine.close().catch(() => undefined);
});

async function open(dir = tempDir(), options: EngineOptions = {}): Promise<Engine> {
  const engine = await Engine.open(dir, options);
  engines.push(engine);
  return engine;
}

async function connect(dir: string): Promise<EngineClient> {
  const client = await EngineClient.connect(dir);
  clients.push(client);
  return client;
}

async function mkdirs(engine: Engine, count: number, prefix = 'd'): Promise<void> {
  for (let i = 0; i < count; i++) await engine.fs.mkdir(`/${prefix}${i}`);
}

/**
 * Retries `work` while it is EBUSY: for what another process lets go once the holder has seen it die.
 * Waits on that condition, however slow a busy machine makes it (30 s at most), not on a count of turns.
 */
async function untilFree<T>(work: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      return await work();
    } catch (error) {
      if ((error as FanlogError).code !== 'EBUSY' || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
}

describe('the holder serves its engine on a socket', () => {
  it('in a directory of its own, its owner alone; not when read-only, off, or not on the host', async () => {
    const engine = await open();
    expect(engine.socketPath).toBe(socketPath(engine.dir));
    expect(statSync(engine.socketPath!).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(engine.socketPath!)).mode & 0o777).toBe(0o700);
    await engine.close();
    expect(existsSync(path.dirname(socketPath(engine.dir)))).toBe(false);

    const off = await open(tempDir(), { serve: false });
    expect(off.socketPath).toBeNull();
    expect(existsSync(socketPath(off.dir))).toBe(false);
    await expect(EngineClient.connect(off.dir)).rejects.toMatchObject({ code: 'ESERVER' });
    await off.close();
    const readOnly = await open(off.dir, { readOnly: true });
    expect(readOnly.socketPath).toBeNull();
    await readOnly.close();
    expect((await open('/memory', { io: new MemoryIo(), store: 'files' })).socketPath).toBeNull();
    expect((await rejection(() => Engine.open('/memory2', { io: new MemoryIo(), store: 'files', serve: true }))).code).toBe('EINVAL');
  });

  it('a process beside it registers, reads and acknowledges, durably', async () => {
    const dir = tempDir();
    const engine = await open(dir);
    await mkdirs(engine, 5);
    const client = await connect(dir);
    expect(client.holderPid).toBe(process.pid);
    expect((await client.register('backup')).cursor).toBe(0n);
    expect((await rejection(() => client.register('backup'))).code).toBe('EEXIST');
    const reader = await LocalConsumer.open(dir, 'backup');
    const records = await reader.read({ max: 3 });
    // A record read through the socket is the record read in process, every field.
    const inProcess = await (await engine.consumers.register('compare')).read({ max: 3 });
    const plain = (value: unknown): unknown => JSON.parse(JSON.stringify(value, (_key, field: unknown) => (typeof field === 'bigint' ? `${field}n` : field)));
    expect(plain(records)).toEqual(plain(inProcess));
    await reader.ack(records[2]!.seq);
    expect(engine.consumers.get('backup').cursor).toBe(records[2]!.seq);
    // A read waits for records, and resolves as soon as one is durable.
    await reader.read({ max: 1000 });
    const waiting = reader.read({ waitMs: 20_000 });
    await engine.fs.mkdir('/late');
    expect((await waiting).map((record) => record.path)).toEqual(['/late']);
    expect((await client.ack('backup', 'head')).cursor).toBe(engine.journal.durableSeq);
    await reader.close();
    await engine.close();
    // Acknowledged through the socket is durable: the next holder has it.
    const again = await open(dir);
    expect(again.consumers.get('backup').cursor).toBe(again.journal.durableSeq);
  });

  it('gives the errors of the calls in process, with their details', async () => {
    const dir = tempDir();
    const engine = await open(dir, { consumerLagRecordsMax: 3 });
    const client = await connect(dir);
    expect((await rejection(() => LocalConsumer.open(dir, 'nobody'))).code).toBe('ENOENT');
    expect((await rejection(() => client.deregister('nobody'))).code).toBe('ENOENT');
    expect((await rejection(() => client.register('bad name/'))).code).toBe('EINVAL');
    expect((await rejection(() => client.register('m', { mask: 0x40000000n }))).code).toBe('EINVAL');
    expect((await rejection(() => client.attachFilter('m', 'no-such-filter', 'x'))).code).toBe('ENOENT');
    const reader = await LocalConsumer.open(dir, 'lagging', { register: {} });
    await mkdirs(engine, 6);
    const evicted = (await rejection(() => reader.read())) as FanlogError;
    expect(evicted.code).toBe('EEVICTED');
    expect(evicted.lost?.fromSeq).toBe(1n);
    expect((await rejection(() => reader.ack(10n ** 9n))).code).toMatch(/EEVICTED|EINVAL/);
  });

  it('gives an attached consumer from its cursor, and holds it: the application and a second reader are EBUSY', async () => {
    const dir = tempDir();
    const engine = await open(dir);
    await mkdirs(engine, 2);
    // What the application read and did not acknowledge, the client is given.
    const [unacked] = await (await engine.consumers.register('index')).read({ max: 1 });
    const reader = await LocalConsumer.open(dir, 'index');
    expect((await reader.read({ max: 1 }))[0]!.seq).toBe(unacked!.seq);
    expect((await rejection(() => LocalConsumer.open(dir, 'index'))).code).toBe('EBUSY');
    const busy = await rejection(() => engine.consumers.open('index'));
    expect(busy.message).toContain(`pid ${process.pid}`);
    expect((await rejection(() => engine.consumers.deregister('index'))).code).toBe('EBUSY');
    await reader.close();
    await engine.consumers.open('index');
  });

  it('delivers again what a killed client read and did not acknowledge', async () => {
    const dir = tempDir();
    const engine = await open(dir);
    await engine.consumers.register('tape');
    await mkdirs(engine, 8);
    const first = await engine.consumers.get('tape').read({ max: 2 });
    await engine.consumers.get('tape').ack(first[1]!.seq);
    let read: bigint[] = [];
    const child = await startNodeChild(CHILD, ['read', dir, 'tape', '4'], (words) => {
      if (words[0] === 'ready') read = words.slice(1).map(BigInt);
    });
    children.push(child);
    expect(read).toHaveLength(4);
    child.child.kill('SIGKILL');
    await child.exited;
    // The holder lets the consumer go once it sees the client gone, rewound to its cursor: its own next read has them.
    const next = await untilFree(() => engine.consumers.open('tape'));
    const again = await next.read({ max: 4 });
    expect(again.map((record) => record.seq)).toEqual(read);
  });

  it('a client that loses the holder gets ESERVER, for a call in flight and every call after', async () => {
    const dir = tempDir();
    const engine = await open(dir);
    const reader = await LocalConsumer.open(dir, 'r', { register: { from: 'next' } });
    const waiting = rejection(() => reader.read({ waitMs: 60_000 }));
    await engine.close();
    expect((await waiting).code).toBe('ESERVER');
    expect((await rejection(() => reader.ack(1n))).code).toBe('ESERVER');
    expect((await rejection(() => EngineClient.connect(dir))).code).toBe('ESERVER');
  });

  it('a dead holder leaves a socket nobody accepts on: ESERVER, and the next holder serves in its place', async () => {
    const dir = tempDir();
    const holder = await startNodeChild(fileURLToPath(new URL('../cli/hold-child.mjs', import.meta.url)), [dir, 'lmdb', 'journal-only']);
    children.push(holder);
    expect((await connect(dir)).holderPid).toBe(holder.child.pid);
    holder.child.kill('SIGKILL');
    await holder.exited;
    expect(existsSync(socketPath(dir))).toBe(true);
    const refused = await rejection(() => EngineClient.connect(dir));
    expect(refused.code).toBe('ESERVER');
    expect(refused.message).toContain('its holder died');
    await open(dir);
    expect((await connect(dir)).holderPid).toBe(process.pid);
  });

  it('refuses another user', async () => {
    const dir = tempDir();
    const engine = await open(path.join(dir, 'engine'));
    // Everything above the socket open to all, so that only the engine's own modes stand in the way.
    for (let at = engine.dir; at !== path.dirname(dir); at = path.dirname(at)) chmodSync(at, 0o755);
    const asNobody = async (): Promise<string> => {
      const script = `require('net').createConnection(${JSON.stringify(engine.socketPath)}).on('connect', () => { console.log('connected'); process.exit(0); }).on('error', (e) => console.log(e.code));`;
      const child = spawn(process.execPath, ['-e', script], { uid: 65534, gid: 65534, stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      await new Promise((resolve) => child.once('exit', resolve));
      return out.trim();
    };
    expect(await asNobody()).toBe('EACCES');
    // The control: with the modes opened, the same user connects; so it was the modes that refused it.
    chmodSync(path.dirname(engine.socketPath!), 0o755);
    chmodSync(engine.socketPath!, 0o666);
    expect(await asNobody()).toBe('connected');
  });
});

describe('what a stranger tried', () => {
  it('a read still waiting when its reader detaches takes nothing from the next reader', async () => {
    const dir = tempDir();
    const engine = await open(dir);
    await engine.consumers.register('c', { from: 'next' });
    const shared = await connect(dir);
    const first = await LocalConsumer.attach(shared, 'c');
    const stale = first.read({ waitMs: 20_000 });
    await first.close(); // detaches; the connection stays
    const next = await LocalConsumer.open(dir, 'c');
    await mkdirs(engine, 5);
    const given = await next.read({ max: 100 });
    expect(given.map((record) => record.path)).toEqual(['/d0', '/d1', '/d2', '/d3', '/d4']);
    expect(await stale).toEqual([]);
    await next.close();
  });

  it('refuses a second hello, so that a client cannot keep a consumer held after it goes', async () => {
    const dir = tempDir();
    const engine = await open(dir);
    await engine.consumers.register('c');
    const client = await connect(dir);
    expect((await rejection(() => client.request('hello', { version: 1, pid: 4243 }))).code).toBe('EINVAL');
    await client.request('consumer.attach', { name: 'c' });
    await client.close();
    await untilFree(() => engine.consumers.open('c'));
  });

  it('tells a reader its consumer was registered again in its place: EREPLACED, as in process', async () => {
    const dir = tempDir();
    const engine = await open(dir);
    const reader = await LocalConsumer.open(dir, 'c', { register: { lagRecordsMax: 3 } });
    await mkdirs(engine, 6);
    expect((await rejection(() => reader.read())).code).toBe('EEVICTED');
    await (await connect(dir)).register('c', { from: 'next' });
    await mkdirs(engine, 2, 'late');
    expect((await rejection(() => reader.read())).code).toBe('EREPLACED');
  });

  it('bounds a reply by its bytes, not only by its records', async () => {
    const dir = tempDir();
    const engine = await open(dir);
    const long = 'x'.repeat(200);
    await engine.fs.mkdir(`/${long}`);
    for (let i = 0; i < 40; i++) await engine.fs.mkdir(`/${long}/${long}${i}`);
    const deep = `/${long}/${long}0/${long}/${long}/${long}`.split('/').slice(1);
    for (let at = 3; at <= deep.length; at++) await engine.fs.mkdir(`/${deep.slice(0, at).join('/')}`).catch(() => undefined);
    for (let i = 0; i < 2000; i++) await engine.fs.create(`/${deep.join('/')}/f${i}`);
    const reader = await LocalConsumer.open(dir, 'all', { register: {} });
    const client = await connect(dir);
    await client.request('consumer.attach', { name: 'all' }).catch(() => undefined); // EBUSY: the reader has it
    const records = await reader.read({ max: 10_000 });
    const bytes = records.reduce((sum, record) => sum + (record.path?.length ?? 0), 0);
    expect(records.length).toBeLessThan(2041);
    expect(bytes).toBeLessThan(2 * 1024 * 1024);
    // The rest comes with the next reads.
    let total = records.length;
    for (let batch = await reader.read({ max: 10_000 }); batch.length > 0; batch = await reader.read({ max: 10_000 })) total += batch.length;
    expect(total).toBe(2000 + 41 + 3);
    await reader.close();
  });
});

describe('the server is bounded', () => {
  /** A raw connection: lines written as given, replies collected. */
  async function raw(dir: string): Promise<{ socket: net.Socket; replies: () => unknown[]; closed: Promise<void> }> {
    const socket = net.createConnection(socketPath(dir));
    await new Promise((resolve) => socket.once('connect', resolve));
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => undefined);
    const replies = (): unknown[] =>
      text
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as unknown);
    return { socket, replies, closed };
  }

  it('drops a client that sends a line over the limit, or one that is not JSON, saying why', async () => {
    const dir = tempDir();
    await open(dir);
    const long = await raw(dir);
    long.socket.write('x'.repeat(LINE_BYTES_MAX + 1));
    await long.closed;
    expect(long.replies()).toEqual([expect.objectContaining({ id: null, ok: false, error: expect.objectContaining({ code: 'E2BIG' }) })]);
    const garbage = await raw(dir);
    garbage.socket.write('{"id": 1, "op": \n');
    await garbage.closed;
    expect(garbage.replies()).toEqual([expect.objectContaining({ id: null, error: expect.objectContaining({ code: 'EINVAL' }) })]);
    const early = await raw(dir);
    early.socket.write('{"id": 1, "op": "consumers.list"}\n');
    await new Promise((resolve) => early.socket.once('data', resolve));
    expect(early.replies()).toEqual([expect.objectContaining({ id: 1, error: expect.objectContaining({ code: 'EINVAL' }) })]);
    // The engine serves on.
    expect(await (await connect(dir)).list()).toEqual([]);
  });

  it(`serves ${CLIENTS_MAX} clients, and tells the next one EBUSY`, async () => {
    const dir = tempDir();
    await open(dir);
    const many = await Promise.all(Array.from({ length: CLIENTS_MAX }, () => connect(dir)));
    expect(many).toHaveLength(CLIENTS_MAX);
    expect((await rejection(() => EngineClient.connect(dir))).code).toBe('EBUSY');
    await many[0]!.close();
    // A place freed is taken again once the server saw the client go.
    await untilFree(() => connect(dir));
  });

  /** A server with small bounds, on an engine that serves none of its own. */
  async function smallServer(limits: Partial<ServerLimits>): Promise<{ engine: Engine; server: EngineServer }> {
    const engine = await open(tempDir(), { serve: false });
    const server = await EngineServer.start(engine, { clientsMax: 8, inFlightMax: 4, pauseBytes: 64 * 1024, dropBytes: 1024 * 1024, ...limits });
    servers.push(server);
    return { engine, server };
  }
  const hello = `${JSON.stringify({ id: 0, op: 'hello', args: { version: 1, pid: process.pid } })}\n`;

  it('stops reading a client that reads none of its replies, while the engine goes on', async () => {
    const { engine, server } = await smallServer({});
    await mkdirs(engine, 20);
    const greedy = await raw(engine.dir);
    greedy.socket.pause(); // it reads nothing
    // Far more calls than may be in flight, and far more reply bytes than the pause bound: 2 MB of requests.
    const request = (id: number): string => `${JSON.stringify({ id, op: 'metrics', args: {} })}\n`;
    greedy.socket.write(hello + Array.from({ length: 50_000 }, (_, id) => request(id + 1)).join(''));
    await until(() => server.stats().paused === 1 && server.stats().inFlight === 0);
    const held = server.stats();
    // What it holds: the replies up to the pause bound and the calls in flight then, and one read's lines.
    expect(held.unreadBytes).toBeLessThan(64 * 1024 + 4 * 2048);
    expect(held.backlogLines).toBeLessThan(65536 / 30);
    // The client's requests wait in its own buffers, unread.
    expect(greedy.socket.writableLength).toBeGreaterThan(0);
    // Meanwhile the engine commits and serves another client.
    await engine.fs.mkdir('/after');
    const other = await connect(engine.dir);
    expect((await other.metrics()).seqs.head).toBe(engine.journal.headSeq);
    greedy.socket.destroy();
  });

  it('drops a client whose unread replies pass the drop bound', async () => {
    const { engine, server } = await smallServer({ pauseBytes: 256 * 1024, dropBytes: 64 * 1024 });
    await mkdirs(engine, 100, 'a-long-name-to-make-the-records-bigger-');
    await engine.consumers.register('all');
    const greedy = await raw(engine.dir);
    greedy.socket.pause();
    const call = (id: number, op: string): string => `${JSON.stringify({ id, op, args: { name: 'all', max: 100 } })}\n`;
    // The same hundred records, read again and again: each reply is tens of kilobytes.
    const reads = Array.from({ length: 200 }, (_, i) => call(2 + 2 * i, 'consumer.read') + call(3 + 2 * i, 'consumer.rewind'));
    greedy.socket.write(hello + call(1, 'consumer.attach') + reads.join(''));
    // Once it is dropped the consumer is let go, rewound: nothing it was given is lost.
    await until(() => server.stats().clients === 0 && !engine.consumers.held.has('all'));
    greedy.socket.resume();
    await greedy.closed;
    const again = await engine.consumers.open('all');
    expect((await again.read({ max: 1 }))[0]!.path).toBe('/a-long-name-to-make-the-records-bigger-0');
  });
});

/** Waits until `condition` holds, turning the event loop between looks (fails the test after 30 s of looking). */
async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('the condition never held');
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}
