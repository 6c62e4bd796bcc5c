// The replication tests run a real redis-server (Debian's, 7.0). `npm test`
// runs this first: it does nothing when redis-server is installed; on a
// machine of this kind (Debian, root, apt-get) it installs it; anywhere else
// it fails, saying what to install, so that no test is skipped silently.
import { execFileSync, spawnSync } from 'node:child_process';

const has = (command, args) => spawnSync(command, args, { stdio: 'ignore' }).status === 0;
if (!has('redis-server', ['--version'])) {
  const root = process.getuid?.() === 0;
  if (!root || !has('apt-get', ['--version'])) {
    console.error(
      "redis-server is missing: the replication tests need it. Install Debian's redis-server (apt-get install redis-server) and run npm test again.",
    );
    process.exit(1);
  }
  console.error('installing redis-server (apt-get), which the replication tests need');
  execFileSync('apt-get', ['update'], { stdio: 'inherit' });
  execFileSync('apt-get', ['install', '-y', '--no-install-recommends', 'redis-server'], {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (!has('redis-server', ['--version'])) {
    console.error('redis-server is still missing after apt-get install');
    process.exit(1);
  }
}
