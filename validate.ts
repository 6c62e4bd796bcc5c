/**
 * Argument checks shared by the engine's public functions. Each throws a
 * FanlogError with code EINVAL that names the argument and what it got.
 */
import { invalid } from './errors.js';

export function checkInteger(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw invalid(`${name} must be an integer, got ${typeof value === 'number' ? value : typeof value}`);
  }
  if (value < min || value > max) throw invalid(`${name} must be from ${min} to ${max}, got ${value}`);
  return value;
}

export function checkBigint(name: string, value: unknown, min: bigint, max: bigint): bigint {
  if (typeof value !== 'bigint') throw invalid(`${name} must be a bigint, got ${typeof value}`);
  if (value < min || value > max) throw invalid(`${name} must be from ${min} to ${max}, got ${value}`);
  return value;
}

export function checkBoolean(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw invalid(`${name} must be a boolean, got ${typeof value}`);
  return value;
}

export function checkString(name: string, value: unknown, minLength: number, maxLength: number): string {
  if (typeof value !== 'string') throw invalid(`${name} must be a string, got ${typeof value}`);
  if (value.length < minLength || value.length > maxLength) {
    throw invalid(`${name} must be ${minLength} to ${maxLength} characters long`);
  }
  return value;
}

/** Checks that `value` is undefined or a plain object with only the known keys; returns it or {}. */
export function checkOptions<T extends object>(name: string, value: unknown, keys: readonly (keyof T & string)[]): Partial<T> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalid(`${name} must be an object`);
  for (const key of Object.keys(value)) {
    if (!(keys as readonly string[]).includes(key)) throw invalid(`unknown ${name} key '${key}'`);
  }
  return value;
}

export function checkOneOf<T extends string>(name: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw invalid(`${name} must be one of ${allowed.map((v) => `'${v}'`).join(', ')}, got ${String(value)}`);
  }
  return value as T;
}

const NAME_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;

/** Names of groups, consumers and filters: 1 to 64 characters of [A-Za-z0-9._-]. */
export function checkName(what: string, value: unknown): string {
  if (typeof value !== 'string' || !NAME_PATTERN.test(value)) {
    throw invalid(`${what} name must be 1 to 64 characters of [A-Za-z0-9._:-], got ${String(value)}`);
  }
  return value;
}

/** Largest file offset or size the simulated filesystem accepts (8 PiB, far below 2^53). */
export const FILE_BYTES_MAX = 2 ** 53 - 1;
export const ID_MAX = 2 ** 32 - 1;
