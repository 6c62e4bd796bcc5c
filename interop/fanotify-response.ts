/**
 * Permission answers in the kernel's layout, so that an adapter can hand
 * fanlog's decisions to a real fanotify group (and read a listener's
 * answers written for one): `struct fanotify_response` from
 * <linux/fanotify.h>, as `write(2)` on a fanotify descriptor takes it.
 *
 *   offset 0  __s32 fd        the event's descriptor (FAN_NOFD, -1, when it has none)
 *   offset 4  __u32 response  FAN_ALLOW (0x1) or FAN_DENY (0x2), optionally
 *                             | FAN_AUDIT (0x10) | FAN_INFO (0x20); a denial may
 *                             carry an errno in its top 8 bits:
 *                             FAN_DENY_ERRNO(e) = FAN_DENY | (e << 24)
 * Little-endian, as on x86-64 and arm64. 8 bytes a response; several are
 * written back to back. The errnos a listener may choose are the kernel's
 * whitelist (EPERM, EIO, EBUSY, ETXTBSY, EAGAIN, ENOSPC, EDQUOT), fanlog's
 * ERRNO. FAN_INFO's trailing info records (an audit rule) are not read.
 */
import { FanlogError, invalid } from '../errors.js';
import { responseProblem } from '../engine/permission/rules.js';
import { checkInteger } from '../validate.js';

export const FANOTIFY_RESPONSE_BYTES = 8;
export const FAN_NOFD = -1;
export const FAN_AUDIT = 0x10;
export const FAN_INFO = 0x20;

export interface FanotifyResponse {
  fd: number;
  response: number;
}

/** What the kernel refuses in a response word written to it (permission/rules.ts), its own flags allowed. */
const problemOf = (response: number): string | null => responseProblem(response, FAN_AUDIT | FAN_INFO);

/** One response in the kernel's layout; EINVAL for a response the kernel would refuse. */
export function encodeFanotifyResponse({ fd, response }: FanotifyResponse): Uint8Array {
  checkInteger('fd', fd, -1, 2 ** 31 - 1);
  checkInteger('response', response, 0, 0xffffffff);
  const problem = problemOf(response);
  if (problem !== null) throw invalid(problem);
  const bytes = new Uint8Array(FANOTIFY_RESPONSE_BYTES);
  const view = new DataView(bytes.buffer);
  view.setInt32(0, fd, true);
  view.setUint32(4, response, true);
  return bytes;
}

/** The responses written back to back in `bytes`; ECORRUPT with the byte offset for a short or refused one. */
export function decodeFanotifyResponses(bytes: Uint8Array): FanotifyResponse[] {
  if (!(bytes instanceof Uint8Array)) throw invalid('bytes must be a Uint8Array');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const out: FanotifyResponse[] = [];
  for (let at = 0; at < bytes.length; at += FANOTIFY_RESPONSE_BYTES) {
    if (bytes.length - at < FANOTIFY_RESPONSE_BYTES)
      throw new FanlogError('ECORRUPT', `fanotify response at byte ${at}: ${bytes.length - at} bytes, a response is 8`, { offset: at });
    const response = view.getUint32(at + 4, true);
    const problem = problemOf(response);
    if (problem !== null) throw new FanlogError('ECORRUPT', `fanotify response at byte ${at}: ${problem}`, { offset: at + 4 });
    out.push({ fd: view.getInt32(at, true), response });
  }
  return out;
}
