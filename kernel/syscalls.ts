/**
 * The system calls fanotify needs, bound through koffi to the C library:
 * fanotify_init, fanotify_mark, read, write and close, and a poll handle on
 * Node's own loop (koffi's `node.poll`, a libuv poll handle) that says when
 * a nonblocking descriptor can be read.
 *
 * Why a poll handle and nothing else: a blocking read(2), `fs.read` on the
 * descriptor or an async FFI call each park a thread of libuv's pool until
 * an event comes, and `process.exit()` then waits for that thread forever.
 * A poll handle waits in the loop's own epoll, like a socket, and the read
 * it wakes is of an `FAN_NONBLOCK` descriptor, so it never blocks.
 *
 * Every call that fails is a FanlogError naming what is missing, by errno:
 *   EPERM         not root: fanotify_init needs CAP_SYS_ADMIN for any
 *                 group that reports file ids or permission events   EPERM
 *   EOPNOTSUPP    a filesystem that refuses the events asked for
 *                 (tmpfs and FAN_PRE_ACCESS)                         EOPNOTSUPP
 *   EINVAL on a mark with FAN_PRE_ACCESS on a kernel before 6.14,
 *                 which does not know the bit                        EOPNOTSUPP
 *   ENOSYS        a kernel built without fanotify                    ENOSYS
 *   not Linux     no fanotify_init in the C library (or no libc)     ENOSYS
 *   EINVAL        flags the kernel refuses together                  EINVAL
 *   ENOENT, ENOTDIR a path that is not there                         ENOENT, ENOTDIR
 *   EMFILE, ENOMEM, ENOSPC (too many groups or marks)                ENOSPC
 *   anything else                                                    EIO
 * Off Linux the answer is ENOSYS, not EOPNOTSUPP: the call itself does not
 * exist there, exactly what a Linux kernel built without CONFIG_FANOTIFY
 * answers, so a caller has one code for "no fanotify on this system" and
 * keeps EOPNOTSUPP for "this kernel or filesystem has fanotify but refuses
 * this feature", which another filesystem may grant.
 *
 * The bindings load on first use, so that importing fanlog never loads a
 * native library that a program without the kernel source does not use.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { closeSync, openSync, statfsSync } from 'node:fs';
import os from 'node:os';
import { FAN_PRE_ACCESS } from '../engine/notify/masks.js';
import { FanlogError, type FanlogErrorCode } from '../errors.js';

type Koffi = typeof import('koffi');

/** fanotify_init's flags (<linux/fanotify.h>). */
export const FAN_CLOEXEC = 0x1;
export const FAN_NONBLOCK = 0x2;
export const FAN_CLASS_NOTIF = 0x0;
export const FAN_CLASS_CONTENT = 0x4;
export const FAN_CLASS_PRE_CONTENT = 0x8;
export const FAN_UNLIMITED_QUEUE = 0x10;
export const FAN_REPORT_TID = 0x100;
export const FAN_REPORT_FID = 0x200;
export const FAN_REPORT_DIR_FID = 0x400;
export const FAN_REPORT_NAME = 0x800;
export const FAN_REPORT_TARGET_FID = 0x1000;
export const FAN_REPORT_DFID_NAME = FAN_REPORT_DIR_FID | FAN_REPORT_NAME;
export const FAN_REPORT_DFID_NAME_TARGET = FAN_REPORT_DFID_NAME | FAN_REPORT_FID | FAN_REPORT_TARGET_FID;
/** fanotify_mark's flags. */
export const FAN_MARK_ADD = 0x1;
export const FAN_MARK_REMOVE = 0x2;
export const FAN_MARK_INODE = 0x0;
export const FAN_MARK_MOUNT = 0x10;
export const FAN_MARK_FILESYSTEM = 0x100;
/** A path relative to the working directory, for fanotify_mark's dirfd. */
const AT_FDCWD = -100;
/** The first kernel with FAN_PRE_ACCESS. */
const PRE_CONTENT_KERNEL: [number, number] = [6, 14];

/** The bound calls; each returns what the C function does (-1 on failure, with errno). */
interface Calls {
  koffi: Koffi;
  fanotifyInit: (flags: number, eventFileFlags: number) => number;
  fanotifyMark: (fd: number, flags: number, mask: bigint, dirfd: number, path: string) => number;
  read: (fd: number, buffer: Uint8Array, length: number) => number;
  write: (fd: number, buffer: Uint8Array, length: number) => number;
  close: (fd: number) => number;
  pidfdOpen: (pid: number, flags: number) => number;
  dup3: (oldfd: number, newfd: number, flags: number) => number;
  pidfdGetfd: (pidfd: number, targetfd: number, flags: number) => number;
  nameToHandleAt: (dirfd: number, path: string, handle: Uint8Array, mountId: Int32Array, flags: number) => number;
}

let bound: Calls | null = null;

function notLinux(why: string): FanlogError {
  return new FanlogError('ENOSYS', `fanotify is a Linux interface, and ${why}: there is no kernel source on this system`);
}

/** The calls, bound on first use; ENOSYS off Linux or where the C library has no fanotify. */
function calls(): Calls {
  if (bound !== null) return bound;
  if (process.platform !== 'linux') throw notLinux(`this is ${process.platform}`);
  // Big-endian or 32-bit: fanotify_mark's u64 mask is passed in two registers there, and the stream's layout differs.
  if (os.endianness() !== 'LE' || process.arch === 'ia32' || process.arch === 'arm') {
    throw new FanlogError('EOPNOTSUPP', `fanlog reads fanotify on 64-bit little-endian Linux only, not ${process.arch}`);
  }
  let koffi: Koffi;
  let libc: ReturnType<Koffi['load']>;
  try {
    koffi = createRequire(import.meta.url)('koffi') as Koffi;
    libc = koffi.load('libc.so.6');
  } catch (error) {
    throw new FanlogError('ENOSYS', `the C library could not be loaded for fanotify's system calls: ${String(error)}`, { cause: error });
  }
  bound = {
    koffi,
    fanotifyInit: libc.func('int fanotify_init(unsigned int flags, unsigned int event_f_flags)') as Calls['fanotifyInit'],
    fanotifyMark: libc.func('int fanotify_mark(int fd, unsigned int flags, uint64_t mask, int dirfd, const char *path)') as Calls['fanotifyMark'],
    read: libc.func('intptr_t read(int fd, void *buf, size_t count)') as Calls['read'],
    write: libc.func('intptr_t write(int fd, const void *buf, size_t count)') as Calls['write'],
    close: libc.func('int close(int fd)') as Calls['close'],
    pidfdOpen: libc.func('int pidfd_open(int pid, unsigned int flags)') as Calls['pidfdOpen'],
    dup3: libc.func('int dup3(int oldfd, int newfd, int flags)') as Calls['dup3'],
    pidfdGetfd: libc.func('int pidfd_getfd(int pidfd, int targetfd, unsigned int flags)') as Calls['pidfdGetfd'],
    nameToHandleAt: libc.func('int name_to_handle_at(int dirfd, const char *path, void *handle, _Out_ int *mount_id, int flags)') as Calls['nameToHandleAt'],
  };
  return bound;
}

/** errno's name (EPERM, ...) for `value`, as koffi's table has it. */
function errnoName(koffi: Koffi, value: number): string {
  const table = koffi.os.errno;
  return Object.keys(table).find((name) => table[name] === value) ?? `errno ${value}`;
}

/** Whether the running kernel is at least `major.minor`. */
function kernelAtLeast([major, minor]: [number, number]): boolean {
  const [have, haveMinor] = os.release().split('.').map(Number);
  return have! > major || (have === major && haveMinor! >= minor);
}

const KEPT: Record<string, FanlogErrorCode> = {
  EPERM: 'EPERM',
  EACCES: 'EPERM',
  EOPNOTSUPP: 'EOPNOTSUPP',
  ENOTSUP: 'EOPNOTSUPP',
  ENOSYS: 'ENOSYS',
  EINVAL: 'EINVAL',
  ENOENT: 'ENOENT',
  ENOTDIR: 'ENOTDIR',
  EMFILE: 'ENOSPC',
  ENOMEM: 'ENOSPC',
  ENOSPC: 'ENOSPC',
};

/** What each refusal lacks, said in the error beside the call's own words. */
const MISSING: Partial<Record<FanlogErrorCode, string>> = {
  EPERM: 'fanotify groups that report file ids or permission events need CAP_SYS_ADMIN: run as root',
  EOPNOTSUPP: 'the filesystem (or kernel) refuses these events; pre-content events need ext4, xfs or btrfs on Linux 6.14+, and tmpfs has none',
  ENOSYS: 'this kernel was built without fanotify (CONFIG_FANOTIFY)',
  ENOSPC: 'too many fanotify groups or marks (fs.fanotify.max_user_groups, max_user_marks)',
};

/** The FanlogError of a failed call, from its errno; `mask` is the mark's, which decides an EINVAL of pre-content bits. */
function callError(koffi: Koffi, call: string, errno: number, mask = 0n): FanlogError {
  const name = errnoName(koffi, errno);
  let code: FanlogErrorCode = KEPT[name] ?? 'EIO';
  let missing = MISSING[code];
  if (code === 'EINVAL' && (mask & FAN_PRE_ACCESS) !== 0n && !kernelAtLeast(PRE_CONTENT_KERNEL)) {
    code = 'EOPNOTSUPP';
    missing = `kernel ${os.release()} has no pre-content events (FAN_PRE_ACCESS came in Linux 6.14)`;
  }
  return new FanlogError(code, `${call} failed with ${name}${missing === undefined ? '' : `: ${missing}`}`);
}

/** fanotify_init(flags, eventFileFlags): a new group's descriptor. */
export function fanotifyInit(flags: number, eventFileFlags: number): number {
  const c = calls();
  const fd = c.fanotifyInit(flags, eventFileFlags);
  if (fd < 0) throw callError(c.koffi, `fanotify_init(0x${flags.toString(16)})`, c.koffi.errno());
  return fd;
}

/** fanotify_mark(fd, flags, mask, AT_FDCWD, path). */
export function fanotifyMark(fd: number, flags: number, mask: bigint, path: string): void {
  const c = calls();
  if (c.fanotifyMark(fd, flags, mask, AT_FDCWD, path) < 0) {
    const error = callError(c.koffi, `fanotify_mark(${JSON.stringify(path)}, 0x${flags.toString(16)}, 0x${mask.toString(16)})`, c.koffi.errno(), mask);
    if (error.code !== 'EOPNOTSUPP') throw error;
    throw new FanlogError('EOPNOTSUPP', `${error.message.replace(/^EOPNOTSUPP: /, '')} (${path} is on ${filesystemOf(path)})`);
  }
}

/** Filesystem types by statfs's magic number (<linux/magic.h>), for saying which one refused. */
const FILESYSTEMS = new Map<number, string>([
  [0xef53, 'ext4'],
  [0x58465342, 'xfs'],
  [0x9123683e, 'btrfs'],
  [0x01021994, 'tmpfs'],
  [0x858458f6, 'ramfs'],
  [0x9fa0, 'proc'],
  [0x62656572, 'sysfs'],
  [0x794c7630, 'overlayfs'],
  [0x6969, 'nfs'],
  [0x65735546, 'fuse'],
  [0x73717368, 'squashfs'],
]);

/** The name of the filesystem `path` is on, as statfs says. */
function filesystemOf(path: string): string {
  try {
    const magic = statfsSync(path).type;
    return FILESYSTEMS.get(magic) ?? `a filesystem of type 0x${magic.toString(16)}`;
  } catch {
    return 'a filesystem statfs cannot name';
  }
}

/** read(2) on a nonblocking descriptor: the bytes read, or 0 when none are ready (EAGAIN). */
export function readNonblocking(fd: number, buffer: Uint8Array): number {
  const c = calls();
  const count = c.read(fd, buffer, buffer.length);
  if (count >= 0) return count;
  const errno = c.koffi.errno();
  if (errno === c.koffi.os.errno.EAGAIN || errno === c.koffi.os.errno.EINTR) return 0;
  throw callError(c.koffi, `read(${fd})`, errno);
}

/** write(2) of all of `bytes` (a fanotify response is written whole or not at all). */
export function writeAll(fd: number, bytes: Uint8Array): void {
  const c = calls();
  const count = c.write(fd, bytes, bytes.length);
  if (count < 0) throw callError(c.koffi, `write(${fd})`, c.koffi.errno());
  assert.equal(count, bytes.length, 'the kernel takes a fanotify response whole');
}

/** close(2); a descriptor is closed once, by its owner. */
export function closeDescriptor(fd: number): void {
  const c = calls();
  if (c.close(fd) < 0) throw callError(c.koffi, `close(${fd})`, c.koffi.errno());
}

/** One response's bytes, reused: write(2) copies them before it returns. */
const RESPONSE = new Uint8Array(8);
const RESPONSE_VIEW = new DataView(RESPONSE.buffer);

/**
 * Writes a permission answer, `struct fanotify_response { s32 fd; u32
 * response }`, to group `groupFd`, for the event the kernel gave descriptor
 * number `eventFd` when it was read (by any holder of the group). False
 * when the kernel holds no such event (ENOENT: answered already, or its
 * group's last descriptor closed and the kernel let it through).
 */
export function writeResponse(groupFd: number, eventFd: number, response: number): boolean {
  const c = calls();
  RESPONSE_VIEW.setInt32(0, eventFd, true);
  RESPONSE_VIEW.setUint32(4, response >>> 0, true);
  if (c.write(groupFd, RESPONSE, RESPONSE.length) === RESPONSE.length) return true;
  const errno = c.koffi.errno();
  if (errno === c.koffi.os.errno.ENOENT) return false;
  throw callError(c.koffi, `write(${groupFd}, {fd: ${eventFd}, response: 0x${response.toString(16)}})`, errno);
}

/**
 * Points descriptor `fd` at /dev/null (dup3, close-on-exec), so that its
 * file is released but its number stays taken: whoever still holds the
 * number writes to nothing, never to a file that took it. The number is
 * this process's for good (one descriptor of /dev/null).
 */
export function retireDescriptor(fd: number): void {
  const c = calls();
  const devNull = openSync('/dev/null', 'r+');
  try {
    if (c.dup3(devNull, fd, 0o2000000) < 0) throw callError(c.koffi, `dup3(/dev/null, ${fd})`, c.koffi.errno());
  } finally {
    closeSync(devNull);
  }
}

/** pidfd_open(pid): a descriptor of process `pid` (ESRCH, as ENOENT, when it is gone). */
export function pidfdOpen(pid: number): number {
  const c = calls();
  const fd = c.pidfdOpen(pid, 0);
  if (fd < 0) throw callError(c.koffi, `pidfd_open(${pid})`, c.koffi.errno());
  return fd;
}

/** pidfd_getfd(pidfd, targetFd): a copy, in this process, of descriptor `targetFd` of the process `pidfd` names (the same open file). */
export function pidfdGetfd(pidfd: number, targetFd: number): number {
  const c = calls();
  const fd = c.pidfdGetfd(pidfd, targetFd, 0);
  if (fd < 0) throw callError(c.koffi, `pidfd_getfd(${pidfd}, ${targetFd})`, c.koffi.errno());
  return fd;
}

const AT_EMPTY_PATH = 0x1000;
const MAX_HANDLE_SZ = 128;

/** name_to_handle_at(fd, "", AT_EMPTY_PATH): the file handle of the open file `fd`, as its type and opaque bytes; null where the filesystem has none. */
export function handleOfDescriptor(fd: number): { type: number; bytes: Uint8Array } | null {
  const c = calls();
  HANDLE_VIEW.setUint32(0, MAX_HANDLE_SZ, true);
  if (c.nameToHandleAt(fd, '', HANDLE, MOUNT_ID, AT_EMPTY_PATH) < 0) return null;
  const length = HANDLE_VIEW.getUint32(0, true);
  return { type: HANDLE_VIEW.getInt32(4, true), bytes: HANDLE.slice(8, 8 + length) };
}
/** name_to_handle_at's buffers, reused (the handle's bytes are copied out). */
const HANDLE = new Uint8Array(8 + MAX_HANDLE_SZ);
const HANDLE_VIEW = new DataView(HANDLE.buffer);
const MOUNT_ID = new Int32Array(1);

/** A poll handle on Node's loop. */
export interface Poller {
  start(onReadable: () => void): void;
  stop(): void;
  close(): void;
}

/** A libuv poll handle on `fd` for readability: it keeps the process alive while started, and never blocks a thread. */
export function pollReadable(fd: number): Poller {
  const c = calls();
  let onReadable: (() => void) | null = null;
  const handle = c.koffi.node.poll(fd, { readable: true }, () => onReadable?.());
  handle.stop();
  return {
    start(callback) {
      onReadable = callback;
      handle.start({ readable: true }, () => onReadable?.());
    },
    stop: () => handle.stop(),
    close: () => handle.close(),
  };
}

/** fanotify_mark's command that removes every mark of one kind (FAN_MARK_FILESYSTEM, FAN_MARK_MOUNT or FAN_MARK_INODE) of a group. */
export const FAN_MARK_FLUSH = 0x80;
/** open(2)'s O_PATH on x86-64 and arm64: a descriptor that names an object without opening it, which raises no fanotify event. */
export const O_PATH = 0o10000000;
/** open(2)'s O_CLOEXEC (Node's fs.constants has none): no child process inherits the descriptor. */
export const O_CLOEXEC = 0o2000000;

type OpenByHandle = (mountFd: number, handle: Uint8Array, flags: number) => number;
let openByHandle: OpenByHandle | null = null;

/**
 * open_by_handle_at(mountFd, handle, flags): a descriptor of the object a
 * file handle names, found on the filesystem of `mountFd` (an open
 * descriptor on it; an O_PATH one is refused with EBADF); null when the
 * object is gone (ESTALE, ENOENT) or the handle is not the filesystem's
 * (EINVAL). It needs CAP_DAC_READ_SEARCH (root): EPERM otherwise. With
 * O_PATH, the open raises no fanotify event.
 */
export function openByHandleAt(mountFd: number, handle: { type: number; bytes: Uint8Array }, flags: number): number | null {
  const c = calls();
  openByHandle ??= c.koffi.load('libc.so.6').func('int open_by_handle_at(int mount_fd, void *handle, int flags)') as OpenByHandle;
  // struct file_handle: u32 handle_bytes, s32 handle_type, then the handle's bytes.
  const buffer = new Uint8Array(8 + handle.bytes.length);
  const view = new DataView(buffer.buffer);
  view.setUint32(0, handle.bytes.length, true);
  view.setInt32(4, handle.type, true);
  buffer.set(handle.bytes, 8);
  const fd = openByHandle(mountFd, buffer, flags);
  if (fd >= 0) return fd;
  const errno = c.koffi.errno();
  const { ESTALE, ENOENT, EINVAL } = c.koffi.os.errno;
  if (errno === ESTALE || errno === ENOENT || errno === EINVAL) return null;
  throw callError(c.koffi, `open_by_handle_at(${mountFd})`, errno);
}
