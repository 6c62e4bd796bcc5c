/**
 * A bound on the holder's answers (serve/client.ts): a holder stopped with
 * SIGSTOP (a real process holding a real engine, hold-child.mjs) answers
 * nothing, and a call, a read and a connect each end ETIMEDOUT past
 * `timeoutMs`, naming the holder, with every call after; a read whose own
 * wait passes `timeoutMs` on a holder that answers is not cut short; a
 * `timeoutMs` out of range is EINVAL.
 */
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { Engine, EngineClient, LocalConsumer } from '../../index.js';
import { type NodeChild, rejection, startNodeChild, tempDir } from '../helpers.js';

const engines: Engine[] = [];
const children: NodeChild[] = [];
const clients: EngineClient[] = [];
afterEach(async () => {
  for (const { child, exited } of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  }
  for (const client of clients.splice(0)) await client.close().catch(() => undefined);
  for (const engine of engines.splice(0)) await engine.close().catch(() => undefined);
});

async function open(dir: string): Promise<Engine> {
  const engine = await Engine.open(dir);
  engines.push(engine);
  return engine;
}

describe("a bound on the holder's answers", () => {
  it('a stopped holder: a call, and a connect, end ETIMEDOUT past timeoutMs, naming it, and every call after with them', async () => {
    const dir = tempDir();
    const holder = await startNodeChild(fileURLToPath(new URL('../cli/hold-child.mjs', import.meta.url)), [dir, 'lmdb', 'journal-only']);
    children.push(holder);
    const client = await EngineClient.connect(dir, { timeoutMs: 300 });
    clients.push(client);
    const reader = await LocalConsumer.open(dir, 'r', { register: { from: 'next' }, timeoutMs: 300 });
    holder.child.kill('SIGSTOP');
    try {
      const late = await rejection(() => client.list());
      expect(late).toMatchObject({ code: 'ETIMEDOUT', message: expect.stringContaining(`holder (pid ${holder.child.pid})`) });
      expect(late.message).toContain('consumers.list');
      expect(await rejection(() => client.metrics())).toBe(late);
      // A read's own wait is the holder's to take: the bound runs past it.
      const waited = rejection(() => reader.read({ waitMs: 200 }));
      expect((await waited).code).toBe('ETIMEDOUT');
      expect((await rejection(() => EngineClient.connect(dir, { timeoutMs: 300 }))).code).toBe('ETIMEDOUT');
    } finally {
      holder.child.kill('SIGCONT');
    }
    await reader.close().catch(() => undefined);
  });

  it("waits out a read's own wait beyond timeoutMs on a holder that answers", async () => {
    const dir = tempDir();
    await open(dir);
    const reader = await LocalConsumer.open(dir, 'r', { register: { from: 'next' }, timeoutMs: 1000 });
    try {
      expect(await reader.read({ waitMs: 3000 })).toEqual([]);
    } finally {
      await reader.close();
    }
  });

  it('refuses a timeoutMs that is not an integer from 1 to 3,600,000 with EINVAL', async () => {
    const dir = tempDir();
    await open(dir);
    for (const timeoutMs of [0, -1, 1.5, '100', 3_600_001]) {
      expect((await rejection(() => EngineClient.connect(dir, { timeoutMs } as never))).code, String(timeoutMs)).toBe('EINVAL');
      expect((await rejection(() => LocalConsumer.open(dir, 'r', { timeoutMs } as never))).code, String(timeoutMs)).toBe('EINVAL');
    }
    expect((await rejection(() => EngineClient.connect(dir, { timeout: 5 } as never))).code).toBe('EINVAL');
  });
});
