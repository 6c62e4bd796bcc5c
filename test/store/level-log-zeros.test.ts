/**
 * A LevelDB write-ahead log with a run of zeros in the middle of a block
 * (a lost or zeroed write, not a crash's cut tail): a zero header reads as
 * "the rest of the block is padding", so LevelDB would drop every record
 * after it in the block, in silence. checkLevelFiles must call it damage
 * (ECORRUPT, with the file and offset) when a sound record follows; a zero
 * tail with nothing sound after it stays what a crash leaves.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { checkLevelFiles, lastLogRecordStart } from '../../store/level-files.js';
import { openMetaStore } from '../../store/meta-store.js';
import { NodeIo } from '../../journal/node-io.js';
import { seal } from '../../store/envelope.js';
import { rejection, tempDir } from '../helpers.js';

async function levelWithLog(): Promise<{ dir: string; log: string }> {
  const root = tempDir();
  const store = await openMetaStore('level', root, new NodeIo());
  for (let i = 0; i < 40; i++) await store.commit([{ type: 'put', key: `k${i}`, value: seal(`k${i}`, new Uint8Array(50).fill(i)) }]);
  await store.close();
  const dir = path.join(root, 'meta-level');
  const log = readdirSync(dir).find((name) => name.endsWith('.log'))!;
  return { dir, log: path.join(dir, log) };
}

it('calls zeros in the middle of a log block, with sound records after them, damage', async () => {
  const { dir, log } = await levelWithLog();
  const bytes = readFileSync(log);
  expect(lastLogRecordStart(bytes)).toBeGreaterThan(1000);
  // From the start of the fourth record: its header reads as the zero type, the block's padding.
  let at = 0;
  for (let record = 0; record < 3; record++) at += 7 + bytes.readUInt16LE(at + 4);
  bytes.fill(0, at, at + 400);
  writeFileSync(log, bytes);
  const error = await rejection(() => checkLevelFiles(dir));
  expect(error.code).toBe('ECORRUPT');
  expect(error.file).toBe(log);
});

it('leaves zeros at the end of a log, with nothing sound after them, to LevelDB', async () => {
  const { dir, log } = await levelWithLog();
  const bytes = readFileSync(log);
  bytes.fill(0, lastLogRecordStart(bytes));
  writeFileSync(log, bytes);
  await checkLevelFiles(dir);
});
