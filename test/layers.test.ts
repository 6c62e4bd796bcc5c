/**
 * The layers import downward only (README, design): errors.ts and
 * validate.ts, journal/,
 * store/, engine/, consumers/ and metrics.ts, fanlog.ts, then the tools (crash/, cli/,
 * bench/) on top, and the entries index.ts and testing.ts above all. Nothing inside the package
 * imports index.ts, the application's entry; the shipped code imports nothing of bench/, test/ or
 * examples/, which the package leaves out. The ranks are listed in docs/design.md ("Layers"). Inside engine/, its own folders are layers too (ENGINE_LAYERS). A change that makes a
 * layer depend on one above it fails here, naming the import; a test feeds the check wrong imports
 * of its own, so that it is known to catch one. And no class of ours is more than two levels deep:
 * parts share a context instead (engine/fs/fs.ts).
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
  // The kernel's fanotify groups through koffi: journals their events with interop/'s check and record, composed by fanlog.ts.
  ['kernel/', 4.5],
  // The holder's socket: serves the engine's consumers and metrics to other processes, composed by fanlog.ts.
  ['serve/', 4.5],
  ['fanlog.ts', 5],
  ['crash/', 6],
  ['cli/', 6],
  ['bench/', 6],
  // The public entry re-exports every layer, the crash campaign included.
  ['index.ts', 7],
  // Crash tests of your own (`fanlog/testing`): MemoryIo, Prng and the campaign.
  ['testing.ts', 7],
];

/**
 * engine/'s own layers, lowest first, each with why it sits there. A file of engine/ may import
 * its own layer and those below. The first prefix that fits a file is its layer, so the few files
 * ranked alone come before their folder.
 */
const ENGINE_LAYERS: [prefix: string, rank: number, why: string][] = [
  ['engine/notify/masks.ts', 0, "the event and response masks, Linux's values and fanlog's: the words every layer speaks; imports nothing"],
  ['engine/waiters.ts', 0, 'promises that keep the process alive while a call waits; imports nothing of engine/'],
  ['engine/fail-stop-store.ts', 0, 'the MetaStore as the engine writes it (a failed write fails the engine); imports only store/ and journal/'],
  ['engine/record/', 1, 'records and their codec: made of masks, and know nothing of the state they describe'],
  ['engine/model/', 2, "the filesystem's state (FsState, Inode, paths, checkpoint pages) and the one apply that redoes op records"],
  ['engine/permission/', 3, 'the broker: reads the model to build request events, journals records, asks groups through an interface it declares'],
  ['engine/notify/', 4, 'groups, marks and queues: serve the broker as its groups, resolve mark paths in the model, deliver records'],
  ['engine/fs/', 5, 'the syscall-like API: checks calls against the model, runs guarded ones through the broker, commits through its host'],
  ['engine/', 6, 'EngineCore, its opening, replay, checkpoints and retention: they compose every layer below'],
];

function rankIn<T extends [string, number, ...unknown[]]>(table: readonly T[], file: string, name: string): number {
  const found = table.find(([prefix]) => file === prefix || file.startsWith(prefix));
  if (found === undefined) throw new Error(`${file} is in no layer: add it to ${name}`);
  return found[1];
}

const rank = (file: string): number => rankIn(LAYERS, file, 'LAYERS');
const engineRank = (file: string): number => rankIn(ENGINE_LAYERS, file, 'ENGINE_LAYERS');

function sources(dir: string, skip: readonly string[]): string[] {
  return readdirSync(path.join(ROOT, dir)).flatMap((name) => {
    const relative = dir === '' ? name : `${dir}/${name}`;
    if (statSync(path.join(ROOT, relative)).isDirectory()) {
      return skip.includes(name) || name.startsWith('.') ? [] : sources(relative, skip);
    }
    return relative.endsWith('.ts') && !relative.endsWith('.d.ts') ? [relative] : [];
  });
}

const PACKAGE_SKIP = ['node_modules', 'dist', 'test', 'scratch', '.git'];

/** Every import of `file` (its source `text`) that points up, named: across the package's layers, and inside engine/ across its own. */
function wrongImports(file: string, text: string): string[] {
  const wrong: string[] = [];
  for (const [, target] of text.matchAll(/^(?:import|export)\b[^;]*?from '(\.[^']+)'/gms)) {
    const imported = path.posix.normalize(path.posix.join(path.posix.dirname(file), target!)).replace(/\.js$/, '.ts');
    if (imported === 'index.ts') wrong.push(`${file} imports index.ts`);
    else if (rank(imported) > rank(file)) wrong.push(`${file} imports ${imported}, a layer above it`);
    else if (file.startsWith('engine/') && imported.startsWith('engine/') && engineRank(imported) > engineRank(file)) {
      wrong.push(`${file} imports ${imported}, a layer of engine/ above it`);
    }
  }
  return wrong;
}

it('imports only downward, and never index.ts from inside', () => {
  const files = sources('', PACKAGE_SKIP);
  expect(files.length).toBeGreaterThan(50);
  const wrong = files.flatMap((file) => wrongImports(file, readFileSync(path.join(ROOT, file), 'utf8')));
  expect(wrong).toEqual([]);
});

it('ships nothing that imports bench/, test/ or examples/, which the package leaves out', () => {
  const shipped = sources('', PACKAGE_SKIP).filter((file) => !/^(bench|examples)\//.test(file));
  const wrong = shipped.flatMap((file) => {
    const text = readFileSync(path.join(ROOT, file), 'utf8');
    return [...text.matchAll(/^(?:import|export)\b[^;]*?from '(\.[^']+)'/gms)]
      .map(([, target]) => path.posix.normalize(path.posix.join(path.posix.dirname(file), target!)))
      .filter((imported) => /^(bench|test|examples)\//.test(imported))
      .map((imported) => `${file} imports ${imported}`);
  });
  expect(wrong).toEqual([]);
});

it('puts every file of engine/ in one of its layers, and every layer has files', () => {
  const files = sources('engine', []);
  expect(files.length).toBeGreaterThan(30);
  for (const file of files) expect(() => engineRank(file), file).not.toThrow();
  for (const [prefix] of ENGINE_LAYERS)
    expect(
      files.some((file) => file === prefix || file.startsWith(prefix)),
      prefix,
    ).toBe(true);
});

it('names an import that points up inside engine/, and one that points up across the package', () => {
  const record = "import type { FsState } from '../model/fs-state.js';\nimport { FAN_OPEN } from '../notify/masks.js';\n";
  expect(wrongImports('engine/record/record.ts', record)).toEqual(['engine/record/record.ts imports engine/model/fs-state.ts, a layer of engine/ above it']);
  const model = "import { FanlogFs } from '../fs/fs.js';\n";
  expect(wrongImports('engine/model/paths.ts', model)).toEqual(['engine/model/paths.ts imports engine/fs/fs.ts, a layer of engine/ above it']);
  const permission = "import {\n  Groups,\n} from '../notify/group-registry.js';\n";
  expect(wrongImports('engine/permission/broker.ts', permission)).toEqual([
    'engine/permission/broker.ts imports engine/notify/group-registry.ts, a layer of engine/ above it',
  ]);
  const journal = "export { Engine } from '../fanlog.js';\n";
  expect(wrongImports('journal/journal.ts', journal)).toEqual(['journal/journal.ts imports fanlog.ts, a layer above it']);
  // Downward imports, and the ones a layer makes of itself, are fine.
  expect(wrongImports('engine/fs/fs.ts', "import { FsState } from '../model/fs-state.js';\nimport { FsContext } from './fs-context.js';\n")).toEqual([]);
});

/**
 * How deep each class is: 1 for a class that extends nothing, one more per class above it. A
 * base from outside the project (Error, a library's class) counts as one level: its own bases are
 * not ours to change.
 */
function classDepths(texts: readonly string[]): Map<string, number> {
  const bases = new Map<string, string | null>();
  for (const text of texts) {
    for (const [, name, base] of text.matchAll(/^[ \t]*(?:export\s+)?(?:default\s+)?(?:abstract\s+)?class\s+(\w+)(?:<[^{]*?>)?(?:\s+extends\s+([\w.]+))?/gm)) {
      // Two classes of one name (each in its own module) count as the deeper of the two.
      if (base !== undefined || !bases.has(name!)) bases.set(name!, base ?? null);
    }
  }
  const depth = (name: string, seen: Set<string>): number => {
    const base = bases.get(name);
    if (base === undefined) return 1;
    if (base === null || seen.has(name)) return 1;
    return 1 + depth(base, new Set([...seen, name]));
  };
  return new Map([...bases.keys()].map((name) => [name, depth(name, new Set())]));
}

it('has no class of ours more than two levels deep, tests and tools included', () => {
  const files = sources('', ['node_modules', 'dist', 'scratch', '.git']);
  const depths = classDepths(files.map((file) => readFileSync(path.join(ROOT, file), 'utf8')));
  expect(depths.size).toBeGreaterThan(20);
  expect([...depths].filter(([, depth]) => depth > 2).map(([name, depth]) => `${name}: ${depth} levels`)).toEqual([]);
});

it('counts a chain of classes, and a base from outside as one level', () => {
  const chain = [
    'export abstract class A {}\n',
    'export class B extends A {}\n',
    'class C<T extends object> extends B {}\n',
    'export class Failure extends Error {}\n',
  ];
  expect(Object.fromEntries(classDepths(chain))).toEqual({ A: 1, B: 2, C: 3, Failure: 2 });
});
