/**
 * Permission responses in the kernel's layout (`struct fanotify_response`):
 * golden bytes written from <linux/fanotify.h>, round trips, and the
 * kernel's errno whitelist: every errno a listener may deny with is taken,
 * every other is refused, and an errno never goes with FAN_ALLOW.
 */
import { expect, it } from 'vitest';
import { decodeFanotifyResponses, encodeFanotifyResponse, FAN_AUDIT, FAN_NOFD } from '../../interop/index.js';
import { ERRNO, FAN_ALLOW, FAN_DENY, FAN_DENY_ERRNO } from '../../index.js';
import { rejectionSync } from '../helpers.js';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

it('lays a response out as the kernel reads it: s32 fd, u32 response, little-endian', () => {
  expect(hex(encodeFanotifyResponse({ fd: 5, response: FAN_ALLOW }))).toBe('0500000001000000');
  expect(hex(encodeFanotifyResponse({ fd: FAN_NOFD, response: FAN_DENY }))).toBe('ffffffff02000000');
  // FAN_DENY_ERRNO(EIO) = FAN_DENY | (5 << 24).
  expect(hex(encodeFanotifyResponse({ fd: 0x1234, response: FAN_DENY_ERRNO(ERRNO.EIO) }))).toBe('3412000002000005');
  expect(hex(encodeFanotifyResponse({ fd: 7, response: FAN_ALLOW | FAN_AUDIT }))).toBe('0700000011000000');
});

it("decodes responses written back to back, and takes exactly the errnos of the kernel's whitelist", () => {
  const responses = [{ fd: 3, response: FAN_ALLOW }, ...Object.values(ERRNO).map((errno, i) => ({ fd: 10 + i, response: FAN_DENY_ERRNO(errno) }))];
  const bytes = new Uint8Array(responses.flatMap((response) => [...encodeFanotifyResponse(response)]));
  expect(decodeFanotifyResponses(bytes)).toEqual(responses);
  const allowed = new Set<number>(Object.values(ERRNO));
  for (let errno = 1; errno < 256; errno++) {
    if (allowed.has(errno)) continue;
    expect(rejectionSync(() => encodeFanotifyResponse({ fd: 1, response: FAN_DENY_ERRNO(errno) })).code, `errno ${errno}`).toBe('EINVAL');
  }
  expect(rejectionSync(() => encodeFanotifyResponse({ fd: 1, response: FAN_ALLOW | (5 << 24) })).code).toBe('EINVAL');
  expect(rejectionSync(() => encodeFanotifyResponse({ fd: 1, response: 0x3 })).code).toBe('EINVAL');
  expect(rejectionSync(() => encodeFanotifyResponse({ fd: -2, response: FAN_ALLOW })).code).toBe('EINVAL');
});

it('refuses a short or unknown response with ECORRUPT at its byte offset', () => {
  const good = encodeFanotifyResponse({ fd: 1, response: FAN_ALLOW });
  const short = new Uint8Array([...good, 1, 2, 3]);
  expect(rejectionSync(() => decodeFanotifyResponses(short))).toMatchObject({ code: 'ECORRUPT', offset: 8 });
  const unknown = new Uint8Array([...good, ...good]);
  unknown[12] = 0x07;
  expect(rejectionSync(() => decodeFanotifyResponses(unknown))).toMatchObject({ code: 'ECORRUPT', offset: 12 });
});
