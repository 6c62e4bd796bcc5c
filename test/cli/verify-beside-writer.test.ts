/**
 * `fanlog verify` beside a running lmdb writer (issue 26, attack 3, F9):
 * verify reads the journal, then the store, and a writer that opens,
 * appends, acknowledges, checkpoints and closes in between left the store
 * ahead of the journal verify had read ("the store saw the journal durable
 * through 7902, but it ends at 7856"): DAMAGED, for a healthy engine. Here
 * the writer's turn is put exactly there, by wrapping the journal's
 * recovery: verify must say sound, and EAGAIN when the journal moves under
 * every reading, never DAMAGED.
 */
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { verify } from '../../cli/verify.js';
import { Engine } from '../../index.js';
import { tempDir } from '../helpers.js';

/** Run after each recovery of a `journal` directory (set by a test), but the writer's own (its open recovers too). */
const afterJournal = vi.hoisted(() => ({ run: null as null | (() => Promise<void>), running: false }));
vi.mock('../../journal/recovery.js', async (importActual) => {
  const actual = await importActual<typeof import('../../journal/recovery.js')>();
  return {
    ...actual,
    recover: async (...args: Parameters<typeof actual.recover>) => {
      const recovered = await actual.recover(...args);
      if (String(args[1]).endsWith('/journal') && afterJournal.run !== null && !afterJournal.running) {
        afterJournal.running = true;
        try {
          await afterJournal.run();
        } finally {
          afterJournal.running = false;
        }
      }
      return recovered;
    },
  };
});

let lines: string[] = [];
beforeEach(() => {
  lines = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  });
});
afterEach(() => {
  afterJournal.run = null;
  vi.restoreAllMocks();
});

/** One turn of a writer: open, 50 creates, an acknowledgement, a checkpoint, close. */
async function writerTurn(dir: string, turn: number): Promise<void> {
  const engine = await Engine.open(dir, { store: 'lmdb', segmentBytesMax: 16 * 1024 });
  for (let k = 0; k < 50; k++) await engine.fs.create(`/d/f${turn}_${k}`);
  const consumer = engine.consumers.get('c');
  const read = await consumer.read({ max: 100 });
  if (read.length > 0) await consumer.ack(read[read.length - 1]!.seq);
  await engine.checkpoint();
  await engine.close();
}

async function made(): Promise<string> {
  const dir = `${tempDir()}/engine`;
  const engine = await Engine.open(dir, { store: 'lmdb', segmentBytesMax: 16 * 1024 });
  await engine.fs.mkdir('/d');
  await engine.consumers.register('c');
  await engine.close();
  await writerTurn(dir, 0);
  return dir;
}

it('is sound when a writer commits to the store between its read of the journal and of the store', async () => {
  const dir = await made();
  let turns = 0;
  afterJournal.run = async () => {
    if (turns === 0) await writerTurn(dir, ++turns);
  };
  const sound = await verify({ dir });
  expect(turns).toBe(1);
  expect(
    lines
      .join('')
      .split('\n')
      .filter((line) => line.startsWith('DAMAGED')),
  ).toEqual([]);
  expect(sound).toBe(true);
});

it('is EAGAIN, not DAMAGED, when the journal moves under every reading', async () => {
  const dir = await made();
  let turns = 0;
  afterJournal.run = () => writerTurn(dir, ++turns);
  await expect(verify({ dir })).rejects.toMatchObject({ code: 'EAGAIN' });
  expect(turns).toBeGreaterThan(1);
  expect(lines.join('')).not.toMatch(/DAMAGED/);
});
