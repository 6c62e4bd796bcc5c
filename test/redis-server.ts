/** The tests' redis-server: crash/redis-server.ts, shared with the replication campaign and benchmark. */
export { type RedisServer, startRedis } from '../crash/redis-server.js';
