/**
 * The layers import downward only (README, design): errors.ts and
 * validate.ts, journal/,
 * store/, engine/, consumers/ and metrics.ts, fanlog.ts, then the tools (crash/, cli/,
 * bench/) on top, and index.ts above all. Nothing inside the package imports index.ts, the public
 * entry. A change that makes a layer depend on one above it fails here.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const LAYERS: [prefix: string, rank: number][] = [
  ['errors.ts', 0],
  ['validate.ts', 0],
  ['journal/', 1],
  ['store/', 2],
  ['engine/', 3],
  ['consumers/', 4],
  // Metrics read the engine and its consumers; the Engine offers them.
  ['metrics.ts', 4],
  // Replication is a consumer that appends to Redis Streams: above consumers, composed by fanlog.ts.
  ['replication/', 4.5],
  // Formats other tools read and write (fanotify, lfs changelog): above the engine's records.
  ['interop/', 4.5],
  // A real directory mirrored into the engine's filesystem: above the engine, composed by fanlog.ts.
  ['mirror/', 4.5],
  ['fanlog.ts', 5],
  ['crash/', 6],
  ['cli/', 6],
  ['bench/', 6],
  // The public entry re-exports every layer, the crash campaign included.
  ['index.ts', 7],
  // Crash tests of your own (`fanlog/testing`): MemoryIo, Prng and the campaign.
  ['testing.ts', 7],
];

function rank(file: string): number {
  const found = LAYERS.find(([prefix]) => file === prefix || file.startsWith(prefix));
  if (found === undefined) throw new Error(`${file} is in no layer: add it to LAYERS`);
  return found[1];
}

function sources(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir)).flatMap((name) => {
    const relative = dir === '' ? name : `${dir}/${name}`;
    if (statSync(path.join(ROOT, relative)).isDirectory()) {
      return ['node_modules', 'dist', 'test', 'scratch', '.git'].includes(name) || name.startsWith('.') ? [] : sources(relative);
    }
    return relative.endsWith('.ts') && !relative.endsWith('.d.ts') ? [relative] : [];
  });
}

it('imports only downward, and never index.ts from inside', () => {
  const wrong: string[] = [];
  const files = sources('');
  expect(files.length).toBeGreaterThan(50);
  for (const file of files) {
    const text = readFileSync(path.join(ROOT, file), 'utf8');
    for (const [, target] of text.matchAll(/^(?:import|export)\b[^;]*?from '(\.[^']+)'/gms)) {
      const imported = path.posix.normalize(path.posix.join(path.posix.dirname(file), target!)).replace(/\.js$/, '.ts');
      if (imported === 'index.ts') wrong.push(`${file} imports index.ts`);
      else if (rank(imported) > rank(file)) wrong.push(`${file} imports ${imported}, a layer above it`);
    }
  }
  expect(wrong).toEqual([]);
});

it('ships nothing that imports bench/, test/ or examples/, which the package leaves out', () => {
  const shipped = sources('').filter((file) => !/^(bench|examples)\//.test(file));
  const wrong = shipped.flatMap((file) => {
    const text = readFileSync(path.join(ROOT, file), 'utf8');
    return [...text.matchAll(/^(?:import|export)\b[^;]*?from '(\.[^']+)'/gms)]
      .map(([, target]) => path.posix.normalize(path.posix.join(path.posix.dirname(file), target!)))
      .filter((imported) => /^(bench|test|examples)\//.test(imported))
      .map((imported) => `${file} imports ${imported}`);
  });
  expect(wrong).toEqual([]);
});
