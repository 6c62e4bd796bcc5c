/**
 * The real binary's demo (what `npm start` runs), small: it completes, its
 * own check passes (nothing lost, nothing answered twice), and the restart
 * and the SIGKILL both happened.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { tempDir } from '../helpers.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

it('runs the HSM demo to a clean summary', () => {
  const run = spawnSync(process.execPath, [CLI, 'demo', '--dir', `${tempDir()}/demo`, '--files', '120', '--seed', '7'], { encoding: 'utf8', timeout: 120_000 });
  expect(run.stderr).toBe('');
  expect(run.status).toBe(0);
  expect(run.stdout).toContain('check                 nothing lost, nothing answered twice');
  expect(run.stdout).toMatch(/daemon restarted with \d+ events read and unanswered/);
  expect(run.stdout).toMatch(/child killed after \d+ ms/);
  expect(run.stdout).toMatch(/\d+ permission requests resurrected/);
});
