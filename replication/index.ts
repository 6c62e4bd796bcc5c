/**
 * `fanlog/redis`: what a process reading a replicated stream needs (it does
 * not need the engine): the remote consumer, and the entry format's reader.
 * The replicator itself is started from the engine (`engine.replicate`).
 *
 * @module fanlog/redis
 */
export { RedisConsumer, type RedisConsumerOptions } from './redis-consumer.js';
export { recordOfEntry } from './entry.js';
export type { ReplicateOptions, Replicator, ReplicatorState, ReplicatorStats } from './replicator.js';
