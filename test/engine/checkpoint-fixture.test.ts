/**
 * An engine directory written by each format version
 * (test/fixtures/checkpoint-vN, made by make-checkpoint.mjs N on the files
 * store: marker, sealed values, a checkpoint whose header names a pending
 * permission request, inodes, a group with a mark, a consumer with a
 * filter, and records after the checkpoint) opens forever after to the same
 * filesystem, groups, consumers and pending operation: a change that cannot
 * open an engine an earlier version wrote fails here.
 */
import { cpSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, it } from 'vitest';
import { Engine } from '../../fanlog.js';
import { FAN_ALLOW } from '../../engine/notify/masks.js';
// @ts-expect-error: a plain .mjs module, shared with the script that made the fixture
import { dumpEngine } from '../fixtures/dump-engine.mjs';
import { tempDir } from '../helpers.js';

const fixture = (version: number): { dir: string; expected: { recovery: { checkpointSeq: string }; pending: { operationSeq: string }[] } } => ({
  dir: fileURLToPath(new URL(`../fixtures/checkpoint-v${version}`, import.meta.url)),
  expected: JSON.parse(readFileSync(new URL(`../fixtures/checkpoint-v${version}.json`, import.meta.url), 'utf8')),
});

const engines: Engine[] = [];
afterEach(async () => {
  for (const engine of engines.splice(0)) await engine.close({ checkpoint: false }).catch(() => undefined);
});

it.each([1, 2, 3])('opens an engine directory of format version %i to what it held, and finishes its pending read', async (version) => {
  const { dir: FIXTURE, expected: EXPECTED } = fixture(version);
  const dir = tempDir();
  cpSync(FIXTURE, dir, { recursive: true });
  const engine = await Engine.open(dir, { store: 'files' });
  engines.push(engine);
  expect(engine.recovery.checkpointSeq).toBe(BigInt(EXPECTED.recovery.checkpointSeq));
  expect(await dumpEngine(engine)).toEqual(EXPECTED);
  // The resurrected read is still the one journaled: an HSM fills the
  // bytes and allows it, and it completes.
  const queue = engine.groups.get('hsm').openQueue();
  const [event] = await queue.read({ max: 1 });
  expect(event?.seq).toBe(BigInt(EXPECTED.pending[0]!.operationSeq));
  await engine.fs.hsmFill('/data/big', 0, 65_536);
  await queue.respond(event!.id, FAN_ALLOW);
  expect(await engine.settled(event!.seq!)).toEqual({ outcome: 'completed' });
});
