// `npm test` runs this first. Some tests need tools from the operating
// system: a real redis-server (the replication tests), mkfs.ext4, mkfs.xfs,
// mkfs.btrfs and losetup (the real-kernel tests, which loop-mount images of
// each), python3
// (a thread's events), gcc (the fanotify bench's C handler) and tmux (a
// real terminal for `fanlog top`). It does nothing when they are
// installed; on a machine of this kind (Debian, root, apt-get) it installs
// the missing ones, saying which and why; anywhere else it fails, saying
// what to install, so that no test is skipped silently.
import { execFileSync, spawnSync } from 'node:child_process';

const NEEDED = [
  { command: 'redis-server', args: ['--version'], pkg: 'redis-server', why: 'the replication tests run a real redis-server' },
  { command: 'mkfs.ext4', args: ['-V'], pkg: 'e2fsprogs', why: 'the real-kernel tests make an ext4 image' },
  { command: 'mkfs.xfs', args: ['-V'], pkg: 'xfsprogs', why: 'the real-kernel tests make an xfs image, whose file handles hold no fid' },
  { command: 'mkfs.btrfs', args: ['-V'], pkg: 'btrfs-progs', why: 'the real-kernel tests make a btrfs image, whose file handles hold no fid' },
  { command: 'losetup', args: ['--version'], pkg: 'mount', why: 'the real-kernel tests loop-mount that image' },
  { command: 'python3', args: ['--version'], pkg: 'python3-minimal', why: "a real-kernel test makes a thread's events from a python child" },
  { command: 'gcc', args: ['--version'], pkg: 'gcc', why: 'the fanotify bench compiles a C handler to compare against (CI runs the benches small)' },
  { command: 'tmux', args: ['-V'], pkg: 'tmux', why: 'the test of fanlog top runs it in a real terminal' },
];

const has = (command, args) => spawnSync(command, args, { stdio: 'ignore' }).status === 0;
const missing = NEEDED.filter(({ command, args }) => !has(command, args));
if (missing.length > 0) {
  const list = missing.map(({ pkg, why }) => `${pkg} (${why})`).join(', ');
  if (process.getuid?.() !== 0 || !has('apt-get', ['--version'])) {
    console.error(`missing: ${list}. Install these Debian packages and run npm test again.`);
    process.exit(1);
  }
  console.error(`installing with apt-get: ${list}`);
  execFileSync('apt-get', ['update'], { stdio: 'inherit' });
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['install', '-y', '--no-install-recommends', ...missing.map(({ pkg }) => pkg)], { stdio: 'inherit', env });
  const still = missing.filter(({ command, args }) => !has(command, args));
  if (still.length > 0) {
    console.error(`still missing after apt-get install: ${still.map(({ command }) => command).join(', ')}`);
    process.exit(1);
  }
}
