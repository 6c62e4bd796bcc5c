/**
 * The changelog mask, durable (engine/changelog-mask.ts): `fanlog init
 * --changelog-mask LIST` sets it, later opens keep it without being told,
 * an application's `changelogMask` replaces it, `stat` shows it, and
 * verify holds it sound. It is configuration, not in the journal: a store
 * that was lost takes it with it.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { Engine, FAN_CREATE, FAN_DELETE, FAN_MODIFY } from '../../index.js';
import { tempDir } from '../helpers.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

function fanlog(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** The masks of the event records in the engine's changelog. */
async function eventMasks(dir: string): Promise<bigint[]> {
  const engine = await Engine.open(dir, { readOnly: true });
  try {
    const masks: bigint[] = [];
    const consumer = engine.consumers.get('all');
    for (const record of await consumer.read({ max: 10_000 })) if (record.kind === 'event') masks.push(record.mask!);
    return masks;
  } finally {
    await engine.close();
  }
}

it('keeps only the events init was told to, across opens, and shows the mask in stat', async () => {
  const dir = path.join(tempDir(), 'engine');
  const made = fanlog('init', '--dir', dir, '--changelog-mask', 'CREATE,DELETE');
  expect(made.status, made.stderr).toBe(0);
  expect(made.stdout).toMatch(/created an engine .*, changelog mask CREATE\|DELETE$/m);
  // An application that opens it without a mask keeps the stored one.
  const engine = await Engine.open(dir);
  await engine.consumers.register('all');
  await engine.fs.create('/f', { size: 0 });
  const fd = await engine.fs.open('/f', 'w');
  await engine.fs.write(fd, 0, 10);
  await engine.fs.close(fd);
  await engine.fs.unlink('/f');
  await engine.close();
  const masks = await eventMasks(dir);
  expect(masks.length).toBeGreaterThan(0);
  expect(masks.every((mask) => (mask & (FAN_CREATE | FAN_DELETE)) !== 0n)).toBe(true);
  expect(masks.some((mask) => (mask & FAN_MODIFY) !== 0n)).toBe(false);
  expect(fanlog('stat', '--dir', dir).stdout).toMatch(/^changelog {4}only CREATE\|DELETE$/m);
  expect(JSON.parse(fanlog('stat', '--dir', dir, '--json').stdout)).toMatchObject({ changelogMask: 'CREATE|DELETE' });
  expect(fanlog('verify', '--dir', dir).status).toBe(0);
});

it("takes an application's mask as the mask from then on, and init on an engine changes only the mask", async () => {
  const dir = path.join(tempDir(), 'engine');
  expect(fanlog('init', '--dir', dir).status).toBe(0);
  expect(fanlog('stat', '--dir', dir).stdout).toMatch(/^changelog {4}every event$/m);
  await (await Engine.open(dir, { changelogMask: FAN_MODIFY })).close();
  expect(fanlog('stat', '--dir', dir).stdout).toMatch(/^changelog {4}only MODIFY$/m);
  const changed = fanlog('init', '--dir', dir, '--changelog-mask', 'CREATE');
  expect(changed.status, changed.stderr).toBe(0);
  expect(changed.stdout).toMatch(/already holds an engine: its changelog mask is now CREATE$/m);
  expect(fanlog('stat', '--dir', dir).stdout).toMatch(/^changelog {4}only CREATE$/m);
  // Configuration, not in the journal: a store that was lost, rebuilt from the journal, is back to every event.
  const { rmSync } = await import('node:fs');
  rmSync(path.join(dir, 'meta-lmdb'), { recursive: true });
  const repaired = fanlog('repair', '--rebuild-store', '--dir', dir);
  expect(repaired.status, repaired.stderr).toBe(0);
  expect(fanlog('stat', '--dir', dir).stdout).toMatch(/^changelog {4}every event$/m);
});
