/**
 * The demo's HSM daemon answers every event it reads, even when the fill
 * fails because the file was renamed or deleted since the event (the demo
 * fills by path): a process must never be left waiting. The race is
 * forced by a fill that fails as a rename in that window makes it fail.
 */
import { expect, it } from 'vitest';
import { Engine, FanlogError } from '../../index.js';
import { Prng } from '../../testing.js';
import { ARCHIVE, HsmDaemon, hsmGroup, newCounters } from '../../cli/demo-workload.js';
import { tempDir } from '../helpers.js';

it('answers an event whose fill failed (the file moved meanwhile) with EAGAIN, so the read settles', async () => {
  const engine = await Engine.open(`${tempDir()}/engine`);
  await engine.fs.mkdir(ARCHIVE);
  await hsmGroup(engine);
  const stub = `${ARCHIVE}/stub`;
  await engine.fs.create(stub, { size: 1 << 20, offline: true });
  const counters = newCounters();
  const daemon = new HsmDaemon(engine, counters, new Prng(2)); // its first draws answer: none is a random EAGAIN;
  engine.fs.hsmFill = async () => {
    throw new FanlogError('ENOENT', "no such file: '/stub' (renamed since the event)");
  };
  try {
    const fd = await engine.fs.open(stub, 'r');
    const outcome = engine.fs.read(fd, 0, 4096).then(
      () => 'read',
      (error: { code?: string }) => error.code,
    );
    const deadline = new Promise((resolve) => setTimeout(() => resolve('still waiting after 10 s'), 10_000).unref());
    expect(await Promise.race([outcome, deadline])).toBe('EAGAIN');
    expect(counters.denied).toBeGreaterThan(0);
  } finally {
    await daemon.stop();
    await engine.close();
  }
});
