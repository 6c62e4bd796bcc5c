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
// An engine's own socket (serve/server.ts), which every engine on the host's
// files serves in process, is the one listen allowed: it starts no other
// process and waits on nothing.
const { listen } = net.Server.prototype as unknown as { listen: (this: net.Server, ...args: unknown[]) => net.Server };
Object.defineProperty(net.Server.prototype, 'listen', {
  value(this: net.Server, ...args: unknown[]) {
    if (typeof args[0] === 'string' && args[0].endsWith('/run/fanlog.sock')) return listen.apply(this, args);
    return refuse('servers');
  },
  writable: true,
});
// Named imports of node:child_process are live bindings of the builtin;
// this makes them see the replacements above.
syncBuiltinESMExports();
