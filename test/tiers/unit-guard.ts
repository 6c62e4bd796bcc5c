// The unit tier's promise, enforced rather than hoped for: no test in it may
// start a child process or listen on a socket. A test that does belongs in
// the full tier (`npm test`); this guard makes such a test fail with a
// message that says so, instead of slowing the fast tier down unnoticed.
import childProcess from 'node:child_process';
import net from 'node:net';
import { syncBuiltinESMExports } from 'node:module';

function refuse(what: string): never {
  throw new Error(`the unit tier runs no ${what}: move this test out of vitest.unit.config.ts`);
}

const spawning = ['spawn', 'spawnSync', 'exec', 'execSync', 'execFile', 'execFileSync', 'fork'] as const;
for (const name of spawning) {
  Object.defineProperty(childProcess, name, { value: () => refuse('child processes'), writable: true });
}
Object.defineProperty(net.Server.prototype, 'listen', { value: () => refuse('servers'), writable: true });
// Named imports of node:child_process are live bindings of the builtin;
// this makes them see the replacements above.
syncBuiltinESMExports();
