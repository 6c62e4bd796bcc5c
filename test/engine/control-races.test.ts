/**
 * Control calls racing each other: every read-modify-write of a group, a
 * consumer or a filter attachment is serialised per object, so the state
 * stored after any interleaving is what some serial order of the calls
 * that resolved would store, and it survives a crash. Each race is started
 * in one turn of the event loop (the calls are made back to back, not
 * awaited), then the engine is crashed (MemoryIo, unsynced bytes dropped)
 * and reopened.
 */
import { describe, expect, it } from 'vitest';
import { Engine, FAN_ALLOW, FAN_CREATE, FAN_DELETE, FAN_OPEN_PERM } from '../../index.js';
import { MemoryIo } from '../../testing.js';
import { rejection } from '../helpers.js';

const OPTIONS = { store: 'files' } as const;

async function fresh(): Promise<{ io: MemoryIo; engine: Engine }> {
  const io = new MemoryIo();
  const engine = await Engine.open('/e', { io, ...OPTIONS });
  await engine.fs.mkdir('/d');
  await engine.fs.create('/d/f', { size: 100 });
  return { io, engine };
}

/** MemoryIo whose fsyncs of files under a prefix can be held, to order two writes deterministically. */
class GatedIo extends MemoryIo {
  #prefix: string | null = null;
  #gate: Promise<void> = Promise.resolve();
  #open_: () => void = () => undefined;
  #reached: () => void = () => undefined;
  /** Resolves once an fsync under the held prefix is waiting. */
  held: Promise<void> = Promise.resolve();

  hold(prefix: string): void {
    this.#prefix = prefix;
    this.#gate = new Promise((resolve) => (this.#open_ = resolve));
    this.held = new Promise((resolve) => (this.#reached = resolve));
  }

  release(): void {
    this.#prefix = null;
    this.#open_();
  }

  override async open(filePath: string, mode: 'read' | 'readwrite' | 'create'): Promise<import('../../journal/index.js').IoFile> {
    const file = await super.open(filePath, mode);
    const datasync = file.datasync.bind(file);
    file.datasync = async () => {
      if (this.#prefix !== null && filePath.startsWith(this.#prefix)) {
        this.#reached();
        await this.#gate;
      }
      await datasync();
    };
    return file;
  }
}

async function crashAndReopen(io: MemoryIo): Promise<Engine> {
  io.crash(11, 'drop');
  return Engine.open('/e', { io, ...OPTIONS });
}

describe('control calls racing each other', () => {
  it('keeps an acknowledgement that resolved while a throwing filter was being detached', async () => {
    const io = new GatedIo();
    const engine = await Engine.open('/e', { io, ...OPTIONS });
    let explode = false;
    engine.filters.register('explodes', () => () => {
      if (explode) throw new Error('boom');
      return true;
    });
    const c = await engine.consumers.register('c');
    for (let i = 0; i < 8; i++) await engine.fs.mkdir(`/n${i}`);
    await c.attachFilter('explodes', 'x');
    const first = await c.read({ max: 2 });
    const last = first[first.length - 1]!.seq;
    // The ack's store write is held at its fsync while the next read finds the filter throwing and detaches it.
    io.hold('/e/meta-files/');
    const acking = c.ack(last);
    await io.held;
    explode = true;
    expect((await c.read({ max: 100 })).length).toBeGreaterThan(0);
    io.release();
    await acking;
    // Close waits for the detachment; without a final checkpoint, as a crash would leave it.
    await engine.close({ checkpoint: false });
    const reopened = await crashAndReopen(io);
    const info = reopened.consumers.list().find((consumer) => consumer.name === 'c')!;
    expect(info.cursor).toBe(last);
    await reopened.close();
  });

  it('keeps both of two concurrent marks', async () => {
    const { io, engine } = await fresh();
    const g = await engine.groups.create('g');
    await Promise.all([g.mark({ path: '/d', mask: FAN_CREATE }), g.mark({ path: '/d/f', mask: FAN_DELETE })]);
    const reopened = await crashAndReopen(io);
    expect(
      reopened.groups
        .get('g')
        .info()
        .marks.map((mark) => mark.path)
        .sort(),
    ).toEqual(['/d', '/d/f']);
    await reopened.close();
  });

  it('merges two concurrent marks on the same object', async () => {
    const { io, engine } = await fresh();
    const g = await engine.groups.create('g');
    await Promise.all([g.mark({ path: '/d', mask: FAN_CREATE }), g.mark({ path: '/d', mask: FAN_DELETE })]);
    const reopened = await crashAndReopen(io);
    expect(
      reopened.groups
        .get('g')
        .info()
        .marks.map((mark) => mark.mask),
    ).toEqual([FAN_CREATE | FAN_DELETE]);
    await reopened.close();
  });

  it('does not bring a destroyed group back with a mark that raced the destroy', async () => {
    const { io, engine } = await fresh();
    const g = await engine.groups.create('av', { class: 'content' });
    const destroying = g.destroy();
    const marking = g.mark({ path: '/d/f', mask: FAN_OPEN_PERM }).then(
      () => 'marked',
      (error: { code?: string }) => error.code,
    );
    await destroying;
    expect(await marking).toBe('ENOENT');
    const reopened = await crashAndReopen(io);
    expect(reopened.groups.list()).toEqual([]);
    // A guarded open must not wait for a group that is gone.
    const fd = await reopened.fs.open('/d/f', 'r');
    expect(typeof fd).toBe('number');
    await reopened.close();
  });

  it('registers a name once when two registrations race', async () => {
    const { io, engine } = await fresh();
    const outcomes = await Promise.allSettled([engine.consumers.register('x'), engine.consumers.register('x')]);
    expect(outcomes.map((outcome) => outcome.status).sort()).toEqual(['fulfilled', 'rejected']);
    const rejected = outcomes.find((outcome) => outcome.status === 'rejected') as PromiseRejectedResult;
    expect((rejected.reason as { code?: string }).code).toBe('EEXIST');
    const reopened = await crashAndReopen(io);
    expect(reopened.consumers.list().map((consumer) => consumer.name)).toEqual(['x']);
    await reopened.close();
  });

  it('does not bring a deregistered consumer back with an acknowledgement that raced the deregistration', async () => {
    const { io, engine } = await fresh();
    const y = await engine.consumers.register('y');
    const [record] = await y.read({ max: 1 });
    const acking = y.ack(record!.seq).then(
      () => 'acked',
      (error: { code?: string }) => error.code,
    );
    await engine.consumers.deregister('y');
    expect(['acked', 'ENOENT']).toContain(await acking);
    const reopened = await crashAndReopen(io);
    expect(reopened.consumers.list()).toEqual([]);
    await reopened.close();
  });

  it('allows a request whose append was under way when its group was destroyed', async () => {
    const { engine } = await fresh();
    const g = await engine.groups.create('av', { class: 'content' });
    await g.mark({ path: '/d/f', mask: FAN_OPEN_PERM });
    g.openQueue();
    const opening = engine.fs.open('/d/f', 'r');
    // The open's request is being appended now; destroy before it is durable.
    await g.destroy();
    expect(typeof (await opening)).toBe('number');
    await engine.close();
  });

  it('answers a request only once when a listener and a destroy race', async () => {
    const { engine } = await fresh();
    const g = await engine.groups.create('av', { class: 'content' });
    await g.mark({ path: '/d/f', mask: FAN_OPEN_PERM });
    const q = g.openQueue();
    const opening = engine.fs.open('/d/f', 'r');
    const [event] = await q.read({ max: 1, waitMs: 5000 });
    const answering = q.respond(event!.id, FAN_ALLOW).catch((error: { code?: string }) => error.code);
    await g.destroy();
    await answering;
    await opening;
    let decisions = 0;
    for await (const { payload } of engine.journal.read()) if (payload[1] === 4) decisions++;
    expect(decisions).toBe(1);
    const error = await rejection(() => g.mark({ path: '/d', mask: FAN_CREATE }));
    expect(error.code).toBe('ENOENT');
    await engine.close();
  });
});
