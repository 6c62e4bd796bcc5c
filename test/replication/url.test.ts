/**
 * Redis URLs as a user may mistype them: every one fanlog or its client
 * cannot use is EINVAL, and no message shows a credential. (The fourth
 * attack: a malformed `%` escape in the user or password reached ioredis
 * and came back as an untyped URIError with a stack; `redis://:S3cr`, a
 * password with no host, was echoed whole.)
 */
import { expect, it } from 'vitest';
import { checkRedisUrl, redactUrl } from '../../replication/connect.js';
import { FanlogError } from '../../errors.js';

const refusal = (url: string): FanlogError => {
  try {
    checkRedisUrl(url);
  } catch (error) {
    return error as FanlogError;
  }
  throw new Error(`${url} was accepted`);
};

it('refuses a malformed percent escape in the user or the password as EINVAL, without the secret', () => {
  for (const url of ['redis://:S3cr%zz@127.0.0.1:1', 'redis://u%zz:pw@127.0.0.1:1', 'redis://user:S3cr%E0%A4%A@127.0.0.1:6379']) {
    const error = refusal(url);
    expect(error).toBeInstanceOf(FanlogError);
    expect(error.code).toBe('EINVAL');
    expect(error.message).not.toMatch(/S3cr|%zz|pw@/);
  }
});

it('hides what could be a password in an authority with no @, and keeps a host and port', () => {
  expect(redactUrl('redis://:S3cr')).not.toMatch(/S3cr/);
  expect(redactUrl('redis://host:S3cr/0')).not.toMatch(/S3cr/);
  expect(redactUrl('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
  expect(redactUrl('redis://[::1]:6379/2')).toBe('redis://[::1]:6379/2');
  expect(refusal('redis://:S3cr').message).not.toMatch(/S3cr/);
});
