/**
 * The real binary's demo (what `npm start` runs), small: it completes, its
 * own check passes (nothing lost, nothing answered twice), and the restart
 * and the SIGKILL both happened; with a handful of files it finishes too;
 * and it never empties a directory that is not a demo's.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { tempDir } from '../helpers.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

it('runs the HSM demo to a clean summary', () => {
  const run = spawnSync(process.execPath, [CLI, 'demo', '--dir', `${tempDir()}/demo`, '--files', '120', '--seed', '7'], { encoding: 'utf8', timeout: 120_000 });
  expect(run.stderr).toBe('');
  expect(run.status).toBe(0);
  expect(run.stdout).toContain('check                 nothing lost, nothing answered twice');
  expect(run.stdout).toMatch(/the HSM daemon was restarted midway: it had read \d+ permission events and not answered them/);
  expect(run.stdout).toMatch(/child killed after \d+ ms/);
  expect(run.stdout).toMatch(/\d+ permission requests resurrected/);
  // It says what it simulates, what its words mean, and how to look at what it wrote.
  expect(run.stdout).toContain("The filesystem is fanlog's simulated one");
  expect(run.stdout).toContain('(resurrected: requests journaled but not answered when the engine died');
  expect(run.stdout).toMatch(/re-delivered after the crash: records it had read but/);
  for (const command of ['stat', 'tail', 'verify']) expect(run.stdout).toMatch(new RegExp(`npx fanlog ${command} --dir \\S+/demo`));
});

it('finishes with a handful of files, whatever the seed', () => {
  for (const [files, seed] of [
    ['1', '1'],
    ['10', '1'],
    ['20', '1'],
    ['5', '9'],
  ] as const) {
    const run = spawnSync(process.execPath, [CLI, 'demo', '--dir', `${tempDir()}/demo`, '--files', files, '--seed', seed], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(run.status, `--files ${files} --seed ${seed}: ${run.stderr}`).toBe(0);
    expect(run.stdout).toContain('check                 nothing lost, nothing answered twice');
  }
});

it('refuses a non-empty directory that holds no earlier demo, and deletes nothing', () => {
  const dir = `${tempDir()}/precious`;
  mkdirSync(dir);
  writeFileSync(`${dir}/thesis.tex`, 'years of work');
  const run = spawnSync(process.execPath, [CLI, 'demo', '--dir', dir, '--files', '3'], { encoding: 'utf8', timeout: 60_000 });
  expect(run.status).toBe(1);
  expect(run.stderr).toMatch(/^fanlog: EEXIST: /);
  expect(readdirSync(dir)).toEqual(['thesis.tex']);
  // A directory an earlier demo made is emptied and reused.
  const demo = `${tempDir()}/demo`;
  expect(spawnSync(process.execPath, [CLI, 'demo', '--dir', demo, '--files', '3'], { encoding: 'utf8', timeout: 60_000 }).status).toBe(0);
  expect(spawnSync(process.execPath, [CLI, 'demo', '--dir', demo, '--files', '3'], { encoding: 'utf8', timeout: 60_000 }).status).toBe(0);
});
