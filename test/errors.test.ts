/**
 * FanlogError's message says its code once: a message that already starts
 * with the code (an error wrapped in another of the same code, or Node's
 * own "ENOENT: …" under a path) is not prefixed again.
 */
import { expect, it } from 'vitest';
import { FanlogError, fromIoError, reason } from '../errors.js';

it('says the code once when an error of the same code is wrapped', () => {
  const inner = new FanlogError('EBUSY', '/d is locked by process 7');
  expect(new FanlogError('EBUSY', `${inner.message}. Wait for it`).message).toBe('EBUSY: /d is locked by process 7. Wait for it');
  expect(new FanlogError('EIO', inner.message).message).toBe('EIO: EBUSY: /d is locked by process 7');
});

it("puts the path before Node's message, without Node's code a second time", () => {
  const enoent = Object.assign(new Error("ENOENT: no such file or directory, open '/x/y'"), { code: 'ENOENT' });
  expect(fromIoError(enoent, '/x/y').message).toBe("ENOENT: /x/y: no such file or directory, open '/x/y'");
  // A code mapped to another keeps the system's in the detail: it says what happened.
  const ebadf = Object.assign(new Error('EBADF: bad file descriptor, write'), { code: 'EBADF' });
  expect(fromIoError(ebadf, '/x/y').message).toBe('EIO: /x/y: EBADF: bad file descriptor, write');
});

it('gives what an error says without its code, for a message that wraps it', () => {
  expect(reason(new FanlogError('EBUSY', '/d is locked'))).toBe('/d is locked');
  expect(reason(Object.assign(new Error('ENOENT: gone'), { code: 'ENOENT' }))).toBe('gone');
  expect(reason(new Error('EIO: no code property'))).toBe('EIO: no code property');
  expect(reason('text')).toBe('text');
});
