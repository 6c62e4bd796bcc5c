/**
 * The strace log count behind the peers suite's durability check
 * (bench/peers-strace.ts): fsync and fdatasync calls, and writes to a
 * descriptor opened O_DSYNC, also when strace split a call in two between
 * threads, and not once that descriptor number was closed and reused.
 */
import { expect, it } from 'vitest';
import { countLog } from '../../bench/peers-strace.js';

it('counts syncs and writes to O_DSYNC descriptors, across split calls and reused numbers', () => {
  const log = [
    '100 openat(AT_FDCWD, "/j/00000000000000000001.seg", O_RDWR|O_CLOEXEC) = 20',
    '101 openat(AT_FDCWD, "/j/00000000000000000001.seg", O_WRONLY|O_DSYNC|O_CLOEXEC <unfinished ...>',
    '100 pwrite64(20, "\\1\\2"..., 224, 40) = 224',
    '101 <... openat resumed>) = 21',
    '102 pwrite64(21, "\\1\\2"..., 224, 264) = 224',
    '103 pwrite64(21, "\\1\\2"..., 224, 488 <unfinished ...>',
    '103 <... pwrite64 resumed>) = 224',
    '100 fdatasync(20) = 0',
    '100 fsync(22) = 0',
    '104 close(21) = 0',
    '100 openat(AT_FDCWD, "/j/LOCK", O_RDWR|O_CREAT|O_CLOEXEC, 0644) = 21',
    '100 write(21, "123", 3) = 3',
    '',
  ].join('\n');
  expect(countLog(log)).toEqual({ fsync: 1, fdatasync: 1, dsyncWrites: 2 });
});
