/**
 * The envelope every MetaStore value is stored in, so that damage to a
 * store is caught when a value is read, whatever the backend does or does
 * not check underneath (lmdb and LevelDB do not checksum values).
 *
 * Layout (integers little-endian):
 *
 *   offset  size  field
 *   0       2     magic 0xF1 0x5E
 *   2       1     envelope version (1)
 *   3       1     zero
 *   4       4     CRC-32 (IEEE) of the key's UTF-8 bytes, then of the payload
 *   8       ...   payload: the value's own format, which carries its own version
 *
 * The checksum covers the key as well as the payload, so a value that ends
 * up under another key (a damaged key byte in a B-tree page) fails as surely
 * as a damaged value. A value that fails is ECORRUPT naming the store and
 * the key; it is never decoded.
 */
import assert from 'node:assert/strict';
import { crc32 } from '../journal/checksum.js';
import { FanlogError } from '../errors.js';

export const ENVELOPE_BYTES = 8;
const MAGIC_0 = 0xf1;
const MAGIC_1 = 0x5e;
const ENVELOPE_VERSION = 1;
const encoder = new TextEncoder();

function checksum(key: string, payload: Uint8Array): number {
  return crc32(payload, crc32(encoder.encode(key)));
}

/** The stored bytes of `payload` under `key`. */
export function seal(key: string, payload: Uint8Array): Uint8Array {
  const sealed = new Uint8Array(ENVELOPE_BYTES + payload.length);
  sealed[0] = MAGIC_0;
  sealed[1] = MAGIC_1;
  sealed[2] = ENVELOPE_VERSION;
  new DataView(sealed.buffer).setUint32(4, checksum(key, payload), true);
  sealed.set(payload, ENVELOPE_BYTES);
  // Checked before it is stored, as it is after it is read. The checksum was
  // just computed from these bytes: the envelope's header is what needs checking.
  const damage = headerDamage(sealed);
  if (damage !== null) assert.fail(`the envelope of '${key}' fails its check right after sealing: ${damage}`);
  return sealed;
}

/** Why stored bytes do not start with a sound envelope header (magic, version, length), or null. */
function headerDamage(stored: Uint8Array): string | null {
  if (stored.length < ENVELOPE_BYTES) return `value of ${stored.length} bytes is shorter than its envelope`;
  if (stored[0] !== MAGIC_0 || stored[1] !== MAGIC_1) return 'value has no envelope (bad magic)';
  if (stored[2] !== ENVELOPE_VERSION || stored[3] !== 0) return `unknown envelope version ${stored[2]}`;
  return null;
}

/** Why stored bytes are not a sound envelope for their key, or null when they are. */
export function envelopeDamage(key: string, stored: Uint8Array): string | null {
  const damage = headerDamage(stored);
  if (damage !== null) return damage;
  const expected = new DataView(stored.buffer, stored.byteOffset, ENVELOPE_BYTES).getUint32(4, true);
  if (checksum(key, stored.subarray(ENVELOPE_BYTES)) !== expected) return 'checksum mismatch';
  return null;
}

/** The payload of a sound envelope; ECORRUPT naming `where` (the store) and the key otherwise. */
export function unseal(key: string, stored: Uint8Array, where: string): Uint8Array {
  const damage = envelopeDamage(key, stored);
  if (damage !== null) throw storeCorrupt(where, key, damage);
  return stored.subarray(ENVELOPE_BYTES);
}

/** ECORRUPT about one key of a store. */
export function storeCorrupt(where: string, key: string, what: string): FanlogError {
  return new FanlogError('ECORRUPT', `${where}: key '${key}': ${what}`, { file: where, key });
}

/**
 * A JSON payload of format `version` (or one of several), parsed: `fail` (ECORRUPT from the
 * store, naming the key) when it is not JSON or of another version. The
 * caller checks its fields.
 */
export function parseVersioned<T extends { version: number }>(
  payload: Uint8Array,
  what: string,
  version: number | readonly number[],
  fail: (what: string) => Error,
): T {
  let parsed: T;
  try {
    parsed = JSON.parse(new TextDecoder().decode(payload)) as T;
  } catch {
    throw fail(`${what} is not JSON`);
  }
  const known = typeof version === 'number' ? [version] : version;
  if (parsed === null || typeof parsed !== 'object' || !known.includes(parsed.version)) throw fail(`${what} version ${String(parsed?.version)} unknown`);
  return parsed;
}
