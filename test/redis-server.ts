/** The tests' redis-server: bench/redis-server.ts, shared with the replication benchmark. */
export { type RedisServer, startRedis } from '../bench/redis-server.js';
