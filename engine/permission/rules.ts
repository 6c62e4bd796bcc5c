/**
 * The rules of permission answers, as Linux has them: which responses a
 * listener may give, what a denial fails with, and the order groups are
 * asked in.
 */
import { FanlogError, type FanlogErrorCode, invalid } from '../../errors.js';
import { FAN_ALLOW, FAN_DENY, FAN_PERMISSION_EVENTS, FAN_PRE_CONTENT_EVENTS, type Mask } from '../notify/masks.js';

/** Linux errno values a pre-content listener may deny with: FAN_DENY_ERRNO(ERRNO.EIO). */
export const ERRNO = { EPERM: 1, EIO: 5, EAGAIN: 11, EBUSY: 16, ETXTBSY: 26, ENOSPC: 28, EDQUOT: 122 } as const;
const ERRNO_CODES = new Map<number, FanlogErrorCode>(Object.entries(ERRNO).map(([name, value]) => [value, name as FanlogErrorCode]));

export type PermissionClass = 'notif' | 'content' | 'pre-content';

/** Every permission event bit: the events that wait for an answer. */
export const PERMISSION_BITS: Mask = FAN_PERMISSION_EVENTS | FAN_PRE_CONTENT_EVENTS;

/**
 * What Linux refuses in a response word (a u32), or null: a verdict other
 * than FAN_ALLOW or FAN_DENY (besides the `flags` allowed, such as
 * FAN_AUDIT in the kernel's own layout), stray bits, an errno with
 * FAN_ALLOW or outside the whitelist.
 */
export function responseProblem(response: number, flags = 0): string | null {
  const verdict = response & 0xff & ~flags;
  const errno = response >>> 24;
  if ((verdict !== FAN_ALLOW && verdict !== FAN_DENY) || (response & 0x00ffff00) !== 0)
    return `response 0x${response.toString(16)} is neither FAN_ALLOW nor FAN_DENY`;
  if (errno !== 0 && verdict === FAN_ALLOW) return 'an errno goes with FAN_DENY only';
  if (errno !== 0 && !ERRNO_CODES.has(errno)) return `errno ${errno} is not one a listener may choose (EIO, EPERM, EBUSY, ETXTBSY, EAGAIN, ENOSPC, EDQUOT)`;
  return null;
}

/** Checks a listener's response; returns it. EINVAL for anything Linux rejects. */
export function checkResponse(response: unknown, groupClass: PermissionClass): number {
  if (typeof response !== 'number' || !Number.isInteger(response) || response < 0 || response > 0xffffffff) {
    throw invalid(`response must be FAN_ALLOW, FAN_DENY or FAN_DENY_ERRNO(errno), got ${String(response)}`);
  }
  if ((response & 0xff) === FAN_DENY && response >>> 24 !== 0 && groupClass !== 'pre-content') throw invalid('a custom errno needs a pre-content group');
  const problem = responseProblem(response);
  if (problem !== null) throw invalid(problem);
  return response;
}

/** A response in words: ALLOW, DENY, or ERRNO(EAGAIN) for a denial with an errno (ERRNO(n) for one not in ERRNO). */
export function responseName(response: number): string {
  if (isAllowed(response)) return 'ALLOW';
  const errno = response >>> 24;
  if (errno === 0) return 'DENY';
  const name = Object.entries(ERRNO).find(([, value]) => value === errno)?.[0];
  return `ERRNO(${name ?? errno})`;
}

export function isAllowed(response: number): boolean {
  return (response & 0xff) === FAN_ALLOW;
}

/** The code a denied operation fails with: EPERM, or the listener's errno. */
export function denialCode(response: number): FanlogErrorCode {
  return ERRNO_CODES.get(response >>> 24) ?? 'EPERM';
}

/** The error a denied operation fails with. */
export function denialError(response: number, what: string): FanlogError {
  return new FanlogError(denialCode(response), `${what} denied by a permission listener`);
}

const CLASS_RANK: Record<PermissionClass, number> = { 'pre-content': 0, content: 1, notif: 2 };

/** Priority order: pre-content, content, notif; by name within a class. */
export function priorityKey(group: { groupClass: PermissionClass; name: string }): string {
  return `${CLASS_RANK[group.groupClass]}/${group.name}`;
}
