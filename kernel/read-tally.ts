/**
 * Whether a supervised handler died holding changelog events it had read
 * from the kernel and not yet journaled (kernel/watch.ts). The kernel never
 * queues an event again once it was read, so those events are lost, and a
 * loss note must say so: silence would tell a consumer that nothing
 * happened.
 *
 * The supervisor makes an anonymous file (created in a private temp dir and
 * unlinked at once) and hands each handler a descriptor of it beside the
 * groups. Its two bytes:
 *   byte 0  READING  1 from just before a read of the changelog group until
 *                    what it read is journaled; 0 otherwise
 *   byte 1  TOLD     1 once the handler has journaled the loss note it was
 *                    told of (FANLOG_SUPERVISOR's notify.lost)
 * The handler writes them with pwrite, which the page cache keeps through a
 * SIGKILL; the supervisor reads them with pread once the handler has
 * exited, then clears them for the next one.
 *
 * A handler killed after setting READING and before its read returned
 * leaves a loss note where nothing was lost: the window is a system call
 * wide, and a note where nothing was lost costs a rescan, where silence
 * about a loss costs a backup.
 */
import { closeSync, fstatSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FanlogError } from '../errors.js';

const READING = 0;
const TOLD = 1;
const ONE = Uint8Array.of(1);
const ZERO = Uint8Array.of(0);

export class ReadTally {
  readonly fd: number;

  private constructor(fd: number) {
    this.fd = fd;
  }

  /** The supervisor's: a new anonymous file, both bytes 0. */
  static create(): ReadTally {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fanlog-tally-'));
    try {
      const file = path.join(dir, 'tally');
      const fd = openSync(file, 'w+', 0o600);
      writeSync(fd, new Uint8Array(2), 0, 2, 0);
      return new ReadTally(fd);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /** What names this file: its device and inode, which the supervisor hands the handler beside the descriptor. */
  get identity(): string {
    const { dev, ino } = fstatSync(this.fd);
    return `${dev}:${ino}`;
  }

  /**
   * The handler's: the descriptor its supervisor handed it, which must be
   * the file `identity` names. EINVAL otherwise: a wrapper between the
   * supervisor and the handler that put its own file at that number
   * (`exec 6>>log`) would have its file written and every loss unsaid.
   */
  static adopt(fd: unknown, identity: unknown): ReadTally {
    let found = 'no open file';
    if (Number.isInteger(fd) && (fd as number) >= 0) {
      try {
        const stat = fstatSync(fd as number);
        found = stat.isFile() ? `the file ${stat.dev}:${stat.ino}` : 'not a regular file';
        if (stat.isFile() && `${stat.dev}:${stat.ino}` === identity) return new ReadTally(fd as number);
      } catch {
        // Not open: said below.
      }
    }
    throw new FanlogError(
      'EINVAL',
      `descriptor ${String(fd)} is not the read tally its supervisor made (${String(identity)}): it is ${found}. Run the handler as fanlog supervise's command, or exec it from a wrapper that leaves descriptors 3 to 6 alone`,
    );
  }

  /** A read of the changelog group is about to be made. */
  reading(): void {
    writeSync(this.fd, ONE, 0, 1, READING);
  }

  /** What the last read gave is journaled. */
  journaled(): void {
    writeSync(this.fd, ZERO, 0, 1, READING);
  }

  /** The loss note this handler was told of is journaled. */
  told(): void {
    writeSync(this.fd, ONE, 0, 1, TOLD);
  }

  /** The supervisor's, once its handler has exited: what it left, both bytes then cleared. */
  take(): { diedReading: boolean; told: boolean } {
    const bytes = new Uint8Array(2);
    readSync(this.fd, bytes, 0, 2, 0);
    writeSync(this.fd, new Uint8Array(2), 0, 2, 0);
    return { diedReading: bytes[READING] === 1, told: bytes[TOLD] === 1 };
  }

  close(): void {
    closeSync(this.fd);
  }
}
