/**
 * The package as its users get it: `npm pack` (after the pretest's build),
 * installed into a fresh project from the tarball (from npm's cache, which
 * `npm ci` filled; no install scripts run, the native stores load their
 * prebuilt binaries). There, each of the five entries imports and works,
 * their types check in a project without `@types/node` (a TypeScript user
 * needs no Node typings, and internals stay out of the published types),
 * and the `fanlog` command answers `--help` and `--version` with
 * package.json's version.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const VERSION = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

interface Packed {
  filename: string;
  size: number;
  unpackedSize: number;
  files: { path: string }[];
}

let packed: Packed;
let project: string;
// The tarball and the project live for the whole file (helpers' tempDir would go after the first test).
const made: string[] = [];
const madeDir = (prefix: string): string => {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  made.push(dir);
  return dir;
};

afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

beforeAll(() => {
  const out = madeDir('fanlog-pack-');
  const [result] = JSON.parse(execFileSync(NPM, ['pack', ROOT, '--json', '--pack-destination', out], { encoding: 'utf8' })) as Packed[];
  packed = result!;
  project = madeDir('fanlog-user-');
  writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'fanlog-user', private: true, type: 'module' }));
  execFileSync(NPM, ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', path.join(out, packed.filename)], {
    cwd: project,
    stdio: 'pipe',
  });
}, 300_000);

it('packs the built library alone, in under 3 MiB', () => {
  expect(packed.size).toBeLessThan(3 * 2 ** 20);
  const outside = packed.files
    .map((file) => file.path)
    .filter((file) => !file.startsWith('dist/') && !/^(package\.json|README\.md|LICENSE|CHANGELOG\.md)$/.test(file));
  expect(outside).toEqual([]);
  const notShipped = packed.files.map((file) => file.path).filter((file) => /^dist\/(test|bench|examples)\/|\.test\./.test(file));
  expect(notShipped).toEqual([]);
});

it('imports and runs every entry in a project that installed the tarball', () => {
  writeFileSync(
    path.join(project, 'run.mjs'),
    [
      "import { Engine, FAN_CREATE } from 'fanlog';",
      "import { Journal } from 'fanlog/journal';",
      "import { decodeRecord, lfsLine } from 'fanlog/interop';",
      "import { MemoryIo, Prng, FAULT_KINDS } from 'fanlog/testing';",
      "import { RedisConsumer } from 'fanlog/redis';",
      "import { mkdtempSync, rmSync } from 'node:fs';",
      "import { tmpdir } from 'node:os';",
      'const dir = mkdtempSync(`${tmpdir()}/fanlog-user-run-`);',
      'const seen = [];',
      "for (const store of ['lmdb', 'level', 'files']) {",
      '  const engine = await Engine.open(`${dir}/${store}`, { store });',
      "  const consumer = await engine.consumers.register('c', { mask: FAN_CREATE });",
      "  await engine.fs.mkdir('/d');",
      '  const records = await consumer.read();',
      '  seen.push(`${store}:${records.length}:${records[0]?.path}`);',
      '  await engine.close();',
      '}',
      'const journal = await Journal.open(`${dir}/journal`, { io: new MemoryIo() });',
      'await journal.append(new Uint8Array([1, 2, 3]));',
      'seen.push(`journal:${journal.headSeq}`);',
      'await journal.close();',
      'rmSync(dir, { recursive: true, force: true });',
      'seen.push([decodeRecord, lfsLine, Prng, RedisConsumer].map((f) => typeof f).join(","), FAULT_KINDS.length > 0);',
      'console.log(JSON.stringify(seen));',
    ].join('\n'),
  );
  const output = execFileSync(process.execPath, ['run.mjs'], { cwd: project, encoding: 'utf8' });
  expect(JSON.parse(output)).toEqual(['lmdb:1:/d', 'level:1:/d', 'files:1:/d', 'journal:1', 'function,function,function,function', true]);
});

it('type-checks every entry without @types/node, and hides the internals', () => {
  writeFileSync(
    path.join(project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        noEmit: true,
        types: [],
        lib: ['ES2022'],
        skipLibCheck: false,
      },
      files: ['use.ts'],
    }),
  );
  const internals = [
    'engine.appendRecord',
    'engine.commit',
    'engine.permissions',
    'engine.fs.openFiles',
    'engine.fs.setAttrs',
    "engine.groups.get('g').enqueueAll",
    'engine.groups.deliver',
    "engine.consumers.get('c').retire",
    'engine.consumers.recordsDurable',
  ];
  writeFileSync(
    path.join(project, 'use.ts'),
    [
      "import { Engine, FAN_CREATE, FanlogError, type DeliveredRecord, type EngineOptions } from 'fanlog';",
      "import { Journal, NodeIo, type JournalRecord } from 'fanlog/journal';",
      "import { decodeRecord, lfsLine, type FanotifyEvent } from 'fanlog/interop';",
      "import { MemoryIo, Prng, runCrashTests, FAULT_KINDS, type CrashTestSummary } from 'fanlog/testing';",
      "import { RedisConsumer, recordOfEntry, type RedisConsumerOptions } from 'fanlog/redis';",
      'export async function main(): Promise<DeliveredRecord[]> {',
      "  const options: EngineOptions = { io: new MemoryIo(), store: 'files' };",
      "  const engine = await Engine.open('/e', options);",
      "  const consumer = await engine.consumers.register('c', { mask: FAN_CREATE });",
      '  try { return await consumer.read(); } catch (error) { if (error instanceof FanlogError) return []; throw error; }',
      '}',
      'export const used: unknown[] = [Journal, NodeIo, decodeRecord, lfsLine, Prng, runCrashTests, FAULT_KINDS, RedisConsumer, recordOfEntry];',
      'export type Used = [JournalRecord, FanotifyEvent, CrashTestSummary, RedisConsumerOptions];',
      '// Internals are not part of the published types.',
      'export function internals(engine: Engine): unknown[] {',
      '  return [',
      ...internals.flatMap((member) => ['    // @ts-expect-error: internal', `    ${member},`]),
      '  ];',
      '}',
      '// Nor are the modules behind the entries.',
      '// @ts-expect-error: not an entry',
      "export * from 'fanlog/dist/engine/engine.js';",
      '',
    ].join('\n'),
  );
  const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  let output: string;
  try {
    output = execFileSync(process.execPath, [tsc, '-p', project], { encoding: 'utf8' });
  } catch (error) {
    output = (error as { stdout: string }).stdout;
  }
  expect(output).toBe('');
});

it('answers --help and --version as the installed command, with the version in package.json', () => {
  const bin = path.join(project, 'node_modules', '.bin', 'fanlog');
  expect(execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim()).toBe(VERSION);
  expect(execFileSync(bin, ['--help'], { encoding: 'utf8' })).toMatch(/^Usage: fanlog \[options\] \[command\]/);
});
