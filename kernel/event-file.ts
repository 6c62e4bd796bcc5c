/**
 * What a kernel permission event says of its file and its process, beyond
 * the event itself (which carries a descriptor, a pid and a mask): the
 * path as this process's /proc shows the descriptor, the file's fid (from
 * its file handle where the filesystem's is ext4's FILEID_INO32_GEN, else
 * its inode number with generation 0, and the handle itself beside it,
 * opaque: record format 9), its parent's inode, its stat, and
 * the process's effective uid and gid from /proc (the kernel reports none).
 */
import { fstatSync, readlinkSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Fid, FileHandle, Stat } from '../engine/record/record.js';
import { fidOfHandle } from '../interop/fanotify-events.js';
import { handleOfDescriptor } from './syscalls.js';

/**
 * The caller's effective uid and gid, as the owner of /proc/PID (the kernel
 * reports none); 65534, Linux's overflow id, when the process is gone. A
 * stat of the directory costs a fifth of reading and parsing its status
 * file, and the effective ids are those the kernel checks access with.
 */
export function credentialsOf(pid: number): { uid: number; gid: number } {
  try {
    const { uid, gid } = statSync(`/proc/${pid}`);
    return { uid, gid };
  } catch {
    return { uid: 65534, gid: 65534 };
  }
}

/** The event's file: its path (as this process's /proc sees the descriptor), fid, parent and stat. */
export function fileOf(fd: number): { path: string; fid: Fid; parentFid: Fid; name: string; stat: Stat; handle?: FileHandle } {
  const link = readlinkSync(`/proc/self/fd/${fd}`).replace(/ \(deleted\)$/, '');
  const st = fstatSync(fd, { bigint: true });
  const handle = handleOfDescriptor(fd);
  const held = handle === null ? null : fidOfHandle(handle);
  const fid = held ?? { ino: Number(st.ino), gen: 0 };
  let parentIno = 0;
  try {
    parentIno = statSync(path.dirname(link)).ino;
  } catch {
    // Renamed or removed since: the parent is unknown.
  }
  const stat: Stat = {
    ino: Number(st.ino),
    mode: Number(st.mode),
    uid: Number(st.uid),
    gid: Number(st.gid),
    size: Number(st.size),
    nlink: Number(st.nlink),
    atime: st.atimeNs,
    mtime: st.mtimeNs,
    ctime: st.ctimeNs,
  };
  const file = { path: link, fid, parentFid: { ino: parentIno, gen: 0 }, name: path.basename(link), stat };
  // The handle is kept whole where no fid holds it, so that a handler can open the file by it.
  return held === null && handle !== null ? { ...file, handle } : file;
}
