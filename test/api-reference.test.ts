/**
 * The API reference (docs/api, generated from the doc comments of what
 * index.ts exports, by `npm run docs`) is current: generated again into a
 * temporary directory it is the same, file by file, and TypeDoc reports no
 * exported type that refers to one left out. A change to the public API or
 * its doc comments without `npm run docs` fails here.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { tempDir } from './helpers.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Every file under `dir`, by path relative to it, with its text. */
function tree(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (at: string): void => {
    for (const name of readdirSync(at)) {
      const full = path.join(at, name);
      if (statSync(full).isDirectory()) walk(full);
      else files.set(path.relative(dir, full), readFileSync(full, 'utf8'));
    }
  };
  walk(dir);
  return files;
}

it('is generated from the current doc comments, with nothing it refers to left out', () => {
  const out = path.join(tempDir(), 'api');
  const run = spawnSync(process.execPath, [path.join(ROOT, 'node_modules', 'typedoc', 'bin', 'typedoc'), '--out', out], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 120_000,
  });
  expect(run.status, run.stdout + run.stderr).toBe(0);
  expect(run.stdout + run.stderr).not.toMatch(/warning|error/i);
  const fresh = tree(out);
  const committed = tree(path.join(ROOT, 'docs', 'api'));
  expect([...committed.keys()].sort(), 'run `npm run docs`').toEqual([...fresh.keys()].sort());
  for (const [file, text] of fresh) expect(committed.get(file), `docs/api/${file} is stale: run \`npm run docs\``).toBe(text);
});
