/**
 * Bad arguments at every public function, as one table: wrong types,
 * negative, fractional or huge numbers, bigint where a number is due (and
 * the reverse), unknown option names, paths with '..', empty or over-long
 * names. Each call must fail with a FanlogError of the code in the table
 * (EINVAL, or the POSIX code Linux gives), synchronously or as a rejected
 * promise, and the engine must keep working afterwards: after the sweep the
 * filesystem, a group, a consumer and the journal still do their jobs.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { encodeRecord, importFanotifyEvents } from '../interop/index.js';
import { Engine, FanlogError, FAN_CREATE, FAN_OPEN_PERM } from '../index.js';
import { Journal } from '../journal/index.js';
import { MemoryIo, runCrashTests } from '../testing.js';

let io: MemoryIo;
let engine: Engine;
let journal: Journal;
let fd: number;

beforeAll(async () => {
  io = new MemoryIo();
  engine = await Engine.open('/e', { io, store: 'files' });
  await engine.fs.mkdir('/d');
  await engine.fs.create('/d/f', { size: 1000 });
  fd = await engine.fs.open('/d/f', 'rw');
  await engine.groups.create('g', { class: 'content' });
  await engine.groups.create('r', { class: 'pre-content', restartable: true });
  await engine.consumers.register('c');
  journal = await Journal.open('/j', { io });
});

afterAll(async () => {
  await journal.close();
  await engine.close();
});

const LONG = 'x'.repeat(256);
const cases: [string, () => unknown, string][] = [
  ['Engine.open with a number for dir', () => Engine.open(7 as never), 'EINVAL'],
  ['Engine.open with an unknown option', () => Engine.open('/x', { io: new MemoryIo(), colour: 'red' } as never), 'EINVAL'],
  ['Engine.open with an unknown store', () => Engine.open('/x', { io: new MemoryIo(), store: 'sqlite' as never }), 'EINVAL'],
  ['Engine.open with a negative checkpoint interval', () => Engine.open('/x', { io: new MemoryIo(), checkpointEveryRecords: -1 }), 'EINVAL'],
  ['Engine.open with a bigint segment size', () => Engine.open('/x', { io: new MemoryIo(), segmentBytesMax: 4096n as never }), 'EINVAL'],
  ['Engine.open of a directory already open', () => Engine.open('/e', { io, store: 'files' }), 'EBUSY'],
  ['mkdir of a relative path', () => engine.fs.mkdir('d2'), 'EINVAL'],
  ['mkdir with ..', () => engine.fs.mkdir('/d/../x'), 'EINVAL'],
  ['mkdir of an empty name', () => engine.fs.mkdir('/d//'), 'EINVAL'],
  ['mkdir of a name over 255 bytes', () => engine.fs.mkdir(`/${LONG}`), 'ENAMETOOLONG'],
  ['mkdir with a number', () => engine.fs.mkdir(5 as never), 'EINVAL'],
  ['mkdir of an existing name', () => engine.fs.mkdir('/d'), 'EEXIST'],
  ['stat with a number', () => engine.fs.stat(5 as never), 'EINVAL'],
  ['readlink of a file', () => engine.fs.readlink('/d/f'), 'EINVAL'],
  ['readlink of nothing', () => engine.fs.readlink('/d/none'), 'ENOENT'],
  ['getxattr with an empty name', () => engine.fs.getxattr('/d/f', ''), 'EINVAL'],
  ['getxattr of an xattr the file lacks', () => engine.fs.getxattr('/d/f', 'user.none'), 'ENODATA'],
  ['listxattr of a relative path', () => engine.fs.listxattr('d/f'), 'EINVAL'],
  ['offlineRanges of a directory', () => engine.fs.offlineRanges('/d'), 'EISDIR'],
  ['create with a negative size', () => engine.fs.create('/d/g', { size: -1 }), 'EINVAL'],
  ['create with a bigint size', () => engine.fs.create('/d/g', { size: 10n as never }), 'EINVAL'],
  ['create with an unknown option', () => engine.fs.create('/d/g', { colour: 1 } as never), 'EINVAL'],
  ['create under a file', () => engine.fs.create('/d/f/g'), 'ENOTDIR'],
  ['open with unknown flags', () => engine.fs.open('/d/f', 'rwx' as never), 'EINVAL'],
  ['open of a missing file', () => engine.fs.open('/d/missing', 'r'), 'ENOENT'],
  ['read of a bad fd', () => engine.fs.read(12345, 0, 10), 'EBADF'],
  ['read at a negative offset', () => engine.fs.read(fd, -1, 10), 'EINVAL'],
  ['read of a fractional length', () => engine.fs.read(fd, 0, 1.5), 'EINVAL'],
  // Sizes, offsets and counts: EINVAL unless an integer >= 0, EFBIG past 2^53 - 1 (the largest a record holds exactly), alone or as an end.
  ['read at a huge offset', () => engine.fs.read(fd, 2 ** 64, 10), 'EFBIG'],
  ['read ending past 2^53 - 1', () => engine.fs.read(fd, 2 ** 53 - 5, 10), 'EFBIG'],
  ['read at an infinite offset', () => engine.fs.read(fd, Infinity, 10), 'EINVAL'],
  ['create of a 2^60-byte file', () => engine.fs.create('/d/g', { size: 2 ** 60 }), 'EFBIG'],
  ['write ending past 2^53 - 1', () => engine.fs.write(fd, 2 ** 53 - 1, 2), 'EFBIG'],
  ['write of a 2^60-byte length', () => engine.fs.write(fd, 0, 2 ** 60), 'EFBIG'],
  ['truncate to 2^53 bytes', () => engine.fs.truncate('/d/f', 2 ** 53), 'EFBIG'],
  ['hsmFill ending past 2^53 - 1', () => engine.fs.hsmFill('/d/f', 2 ** 52, 2 ** 52), 'EFBIG'],
  ['fault at 2^60', () => engine.fs.fault(fd, 2 ** 60), 'EFBIG'],
  ['utimes before 1970', () => engine.fs.utimes('/d/f', -1n, 0n), 'EINVAL'],
  ['utimes past 2^63 - 1 ns', () => engine.fs.utimes('/d/f', 0n, 2n ** 63n), 'EINVAL'],
  ['chown to a uid past 2^32 - 1', () => engine.fs.chown('/d/f', 2 ** 40, 0), 'EINVAL'],
  ['a process context with a pid past 2^53', () => engine.fs.stat('/d', { pid: 2 ** 60 }), 'EINVAL'],
  [
    'encodeRecord of a range past 2^53 - 1',
    () => encodeRecord({ kind: 'event', op: 'write', time: 0n, mask: FAN_CREATE, range: { offset: 2 ** 60, count: 1 } }),
    'EINVAL',
  ],
  ['encodeRecord of a time before 1970', () => encodeRecord({ kind: 'op', op: 'mkdir', time: -1n }), 'EINVAL'],
  ['encodeRecord of a fractional size', () => encodeRecord({ kind: 'op', op: 'create', time: 0n, attrs: { size: 0.5 } }), 'EINVAL'],
  ['encodeRecord of a name with a lone surrogate', () => encodeRecord({ kind: 'op', op: 'create', time: 0n, name: '\uD800' }), 'EINVAL'],
  ['importFanotifyEvents of a string', () => importFanotifyEvents(engine, 'bytes' as never), 'EINVAL'],
  ['write with a bigint offset', () => engine.fs.write(fd, 0n as never, 10), 'EINVAL'],
  ['fault with an unknown option', () => engine.fs.fault(fd, 0, { exec: true } as never), 'EINVAL'],
  ['truncate to a negative size', () => engine.fs.truncate('/d/f', -5), 'EINVAL'],
  ['truncate of a directory', () => engine.fs.truncate('/d', 0), 'EISDIR'],
  ['unlink of a directory', () => engine.fs.unlink('/d'), 'EISDIR'],
  ['rmdir of a non-empty directory', () => engine.fs.rmdir('/d'), 'ENOTEMPTY'],
  ['rename of / ', () => engine.fs.rename('/', '/x'), 'EBUSY'],
  ['rename into its own subtree', () => engine.fs.rename('/d', '/d/sub'), 'EINVAL'],
  ['link of a directory', () => engine.fs.link('/d', '/d2'), 'EPERM'],
  ['symlink with an empty target', () => engine.fs.symlink('', '/s'), 'ENOENT'],
  ['chmod with a mode over 07777', () => engine.fs.chmod('/d/f', 0o17777), 'EINVAL'],
  ['setxattr with a string value', () => engine.fs.setxattr('/d/f', 'user.a', 'v' as never), 'EINVAL'],
  ['removexattr of a missing attribute', () => engine.fs.removexattr('/d/f', 'user.none'), 'ENODATA'],
  ['hsmFill with a negative length', () => engine.fs.hsmFill('/d/f', 0, -1), 'EINVAL'],
  ['close of a bad fd', () => engine.fs.close(999), 'EBADF'],
  ['a process context with a fractional pid', () => engine.fs.stat('/d', { pid: 1.5 }), 'EINVAL'],
  ['groups.create with an unknown class', () => engine.groups.create('h', { class: 'audit' as never }), 'EINVAL'],
  ['groups.create with a bad name', () => engine.groups.create('no spaces'), 'EINVAL'],
  ['groups.create of an existing name', () => engine.groups.create('g'), 'EEXIST'],
  ['groups.get of a missing group', () => engine.groups.get('nope'), 'ENOENT'],
  ['mark with a mask of non-events', () => engine.groups.get('g').mark({ path: '/d', mask: 1n << 60n }), 'EINVAL'],
  ['mark with a number mask', () => engine.groups.get('g').mark({ path: '/d', mask: Number(FAN_OPEN_PERM) as never }), 'EINVAL'],
  ['mark of a missing path', () => engine.groups.get('g').mark({ path: '/nope', mask: FAN_OPEN_PERM }), 'ENOENT'],
  ['mark with an unknown scope', () => engine.groups.get('g').mark({ path: '/d', scope: 'planet' as never, mask: FAN_OPEN_PERM }), 'EINVAL'],
  ['respond to an event never read', () => engine.groups.get('r').openQueue().respond(77, 1), 'ENOENT'],
  ['a second queue handle of a restartable group', () => engine.groups.get('r').openQueue(), 'EBUSY'],
  ['consumers.register with an unknown from', () => engine.consumers.register('d', { from: 'newest' as never }), 'EINVAL'],
  ['consumers.register with a zero lag limit', () => engine.consumers.register('d', { lagRecordsMax: 0 }), 'EINVAL'],
  ['consumers.register of a name over the limit', () => engine.consumers.register(LONG), 'EINVAL'],
  ['consumers.get of a missing consumer', () => engine.consumers.get('nope'), 'ENOENT'],
  ['consumer read with max 0', () => engine.consumers.get('c').read({ max: 0 }), 'EINVAL'],
  ['consumer ack with a number', () => engine.consumers.get('c').ack(1 as never), 'EINVAL'],
  ['consumer ack beyond the head', () => engine.consumers.get('c').ack(10n ** 12n), 'EINVAL'],
  ['consumer ack of a negative seq', () => engine.consumers.get('c').ack(-1n), 'EINVAL'],
  ['attachFilter of an unknown filter', () => engine.consumers.get('c').attachFilter('regex', '.*'), 'ENOENT'],
  ['engine.settled with a number', () => engine.settled(1 as never), 'EINVAL'],
  ['Journal.open with an unknown sync policy', () => Journal.open('/j2', { io, sync: 'sometimes' as never }), 'EINVAL'],
  ['journal append of a string', () => journal.append('text' as never), 'EINVAL'],
  ['journal appendEntry of nothing', () => journal.appendEntry([]), 'EINVAL'],
  ['journal read from seq 0', () => journal.read({ from: 0n }), 'EINVAL'],
  ['journal read with a number', () => journal.read({ from: 1 as never }), 'EINVAL'],
  ['journal purge beyond the head', () => journal.purge(10n ** 9n), 'EINVAL'],
  ['runCrashTests with zero runs', () => runCrashTests({ runs: 0 }), 'EINVAL'],
];

it.each(cases)('%s fails with the right code', async (_, call, code) => {
  let outcome: unknown;
  try {
    outcome = await call();
  } catch (error) {
    outcome = error;
  }
  expect(outcome).toBeInstanceOf(FanlogError);
  expect((outcome as FanlogError).code).toBe(code);
});

it('leaves the engine, its groups and consumers, and the journal working after the sweep', async () => {
  await engine.fs.create('/d/after', { size: 10 });
  const consumer = engine.consumers.get('c');
  const records = await consumer.read({ max: 10_000 });
  expect(records.some((record) => record.name === 'after' && (record.mask! & FAN_CREATE) !== 0n)).toBe(true);
  await consumer.ack(records[records.length - 1]!.seq);
  expect(engine.groups.get('g').info().name).toBe('g');
  expect(await journal.append(new Uint8Array([1]))).toBe(1n);
  expect(engine.failed).toBe(false);
});
