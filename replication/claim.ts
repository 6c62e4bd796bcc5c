/**
 * One engine runs at most one replicator per stream and per consumer name
 * (EBUSY): two of them would share one stream, or one consumer's cursor, and
 * skip each other's records. A replicator claims both before it connects,
 * and releases them when it fails to start or its loop ends.
 */
import type { Consumers } from '../consumers/consumer-registry.js';
import { FanlogError } from '../errors.js';
import { redactUrl } from './connect.js';

/** The streams and consumer names each engine's running replicators hold, by the engine's consumer registry. */
const claimed = new WeakMap<Consumers, Set<string>>();

/** Claims the stream and the consumer name for a replicator of this engine (EBUSY if one holds either); returns the release. */
export function claim(consumers: Consumers, url: string, stream: string, name: string): () => void {
  const held = claimed.get(consumers) ?? new Set<string>();
  claimed.set(consumers, held);
  const where = new URL(url);
  const keys = [`stream ${where.host}${where.pathname === '' ? '/0' : where.pathname} ${stream}`, `consumer ${name}`];
  if (held.has(keys[0]!))
    throw new FanlogError(
      'EBUSY',
      `a replicator of this engine already writes stream '${stream}' at ${redactUrl(url)}: stop it first (two would skip each other's records)`,
    );
  if (held.has(keys[1]!))
    throw new FanlogError('EBUSY', `a replicator of this engine already uses consumer '${name}': stop it first, or give this one another consumer name`);
  for (const key of keys) held.add(key);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    for (const key of keys) held.delete(key);
  };
}
