/**
 * `fanlog demo --real`: the HSM scenario on a loop-mounted ext4 with the
 * kernel's own permission events (root only; it says so when skipped). It
 * completes with every reader's checksum right after the handler was
 * SIGKILLed midway, the journal holding each request and decision once,
 * and leaves no mount or loop device behind.
 */
import { execFileSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const isRoot = process.platform === 'linux' && process.getuid?.() === 0;
if (!isRoot) console.log('test/cli/demo-real.test.ts: skipped, demo --real needs root on Linux (it loop-mounts an ext4 image)');

it.skipIf(!isRoot)(
  'runs the real HSM demo: a SIGKILLed handler, every reader right, each request and decision once',
  async () => {
    const child = spawn(process.execPath, [CLI, 'demo', '--real', '--files', '8', '--seed', '3'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/the handler was SIGKILLed after 4 fills; the readers stay blocked/);
    expect(stdout).toContain('8 of 8 readers read their archive');
    expect(stdout).toMatch(/the journal holds \d+ requests and \d+ decisions, each once/);
    expect(stderr).toMatch(/was killed by SIGKILL; \d+ events held; restarting/);
    // Its own image: neither mounted nor behind a loop device any more.
    const dir = /stubs on a loop-mounted ext4 at (\S+)\/mnt/.exec(stdout)![1]!;
    expect(execFileSync('losetup', ['-a'], { encoding: 'utf8' })).not.toContain(dir);
    expect(execFileSync('mount', { encoding: 'utf8' })).not.toContain(dir);
  },
  120_000,
);
