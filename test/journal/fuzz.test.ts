/**
 * Fuzzed journals: random damage to valid segment files (bit flips,
 * truncations, splices, huge length fields, duplicated, deleted and
 * reordered files). `Journal.open` must either recover a valid prefix of
 * what was written (and then read it back whole) or reject with ECORRUPT
 * naming a file and a byte offset. It must never throw anything else and
 * never hang. FANLOG_FUZZ_CASES sets the number of cases (CI: 10,000); a
 * failure prints the seed, and FANLOG_FUZZ_SEED replays one.
 */
import path from 'node:path';
import { expect, it } from 'vitest';
import { FanlogError, Journal, MemoryIo, Prng } from '../../index.js';

const CASES = Number(process.env.FANLOG_FUZZ_CASES ?? 1000);
const ONLY = process.env.FANLOG_FUZZ_SEED === undefined ? null : Number(process.env.FANLOG_FUZZ_SEED);
const DIR = '/j';

async function writeRaw(io: MemoryIo, file: string, bytes: Uint8Array): Promise<void> {
  const handle = await io.open(file, 'readwrite');
  await handle.truncate(0);
  await handle.write(bytes, 0);
  await handle.datasync();
  await handle.close();
}

async function copyFile(io: MemoryIo, from: string, to: string): Promise<void> {
  const handle = await io.open(to, 'create');
  await handle.write(io.fileBytes(from), 0);
  await handle.datasync();
  await handle.close();
}

/** Builds a small journal of several segments; returns the payloads by seq. */
async function build(io: MemoryIo, prng: Prng): Promise<Map<bigint, Uint8Array>> {
  const journal = await Journal.open(DIR, { io, segmentBytesMax: 4096 });
  const payloads = new Map<bigint, Uint8Array>();
  for (let i = 0, count = prng.between(20, 120); i < count; i++) {
    const entry = Array.from({ length: prng.between(1, 4) }, () => prng.bytes(prng.int(300)));
    const last = await journal.appendEntry(entry);
    entry.forEach((payload, k) => payloads.set(last - BigInt(entry.length - 1 - k), payload));
  }
  if (prng.chance(0.3)) await journal.purge(BigInt(prng.int(Number(journal.headSeq))));
  await journal.close();
  return payloads;
}

async function mutate(io: MemoryIo, prng: Prng): Promise<string> {
  const names = (await io.readdir(DIR)).filter((name) => name.endsWith('.seg')).sort();
  const file = path.join(DIR, prng.pick(names));
  const bytes = io.fileBytes(file);
  const kind = prng.int(8);
  switch (kind) {
    case 0: {
      for (let i = prng.between(1, 8); i > 0; i--) bytes[prng.int(bytes.length)]! ^= 1 << prng.int(8);
      await writeRaw(io, file, bytes);
      return `bit flips in ${file}`;
    }
    case 1:
      await writeRaw(io, file, bytes.subarray(0, prng.int(bytes.length)));
      return `truncated ${file}`;
    case 2: {
      const at = prng.int(bytes.length);
      const spliced = Buffer.concat([bytes.subarray(0, at), prng.bytes(prng.int(200)), bytes.subarray(at + prng.int(200))]);
      await writeRaw(io, file, spliced);
      return `splice in ${file}`;
    }
    case 3: {
      // A frame length field set to something huge.
      const at = 40 + prng.int(Math.max(1, bytes.length - 44));
      new DataView(bytes.buffer, bytes.byteOffset).setUint32(Math.min(at, bytes.length - 4), prng.pick([0xffffffff, 0x7fffffff, 2 ** 30, 25]), true);
      await writeRaw(io, file, bytes);
      return `huge length in ${file}`;
    }
    case 4:
      await copyFile(io, file, path.join(DIR, `${String(prng.between(1, 10_000)).padStart(20, '0')}.seg`)).catch(() => undefined);
      return `duplicated ${file}`;
    case 5:
      await io.unlink(file);
      await io.syncDir(DIR);
      return `deleted ${file}`;
    case 6: {
      const other = path.join(DIR, prng.pick(names));
      const otherBytes = io.fileBytes(other);
      await writeRaw(io, file, otherBytes);
      await writeRaw(io, other, bytes);
      return `swapped ${file} and ${other}`;
    }
    default:
      await writeRaw(io, file, Buffer.concat([bytes, prng.bytes(prng.between(1, 500))]));
      return `garbage appended to ${file}`;
  }
}

it(`recovers a valid prefix or reports ECORRUPT with file and offset, over ${CASES} fuzzed journals`, async () => {
  const failures: string[] = [];
  for (const seed of ONLY === null ? Array.from({ length: CASES }, (_, i) => 40_000 + i) : [ONLY]) {
    const prng = new Prng(seed);
    const io = new MemoryIo();
    const payloads = await build(io, prng);
    const what = await mutate(io, prng);
    try {
      const journal = await Journal.open(DIR, { io, segmentBytesMax: 4096 });
      let expected = journal.firstSeq;
      for await (const record of journal.read()) {
        const original = payloads.get(record.seq);
        if (record.seq !== expected || original === undefined || Buffer.compare(original, record.payload) !== 0) {
          failures.push(`seed ${seed} (${what}): record ${record.seq} is not what was written`);
          break;
        }
        expected++;
      }
      await journal.close();
    } catch (error) {
      const ok = error instanceof FanlogError && error.code === 'ECORRUPT' && typeof error.file === 'string' && typeof error.offset === 'number';
      if (!ok) failures.push(`seed ${seed} (${what}): ${String(error)}`);
    }
    if (failures.length > 10) break;
  }
  expect(failures).toEqual([]);
});
