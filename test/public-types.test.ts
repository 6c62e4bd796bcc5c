/**
 * The public declarations (dist/index.d.ts, built by `npm test`'s pretest)
 * type-check in a project that has no `@types/node`: a TypeScript user of
 * fanlog needs no Node typings. A public type that names `NodeJS.Timeout`
 * or `Buffer` fails here, and so does an internal member (`appendRecord`,
 * `commit`, the permission broker, the fs's helpers) left in them.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { tempDir } from './helpers.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

it('type-checks a user of dist/index.d.ts without @types/node', () => {
  const dir = tempDir();
  const entry = path.join(ROOT, 'dist', 'index.js');
  writeFileSync(
    path.join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, types: [], lib: ['ES2022'], skipLibCheck: false },
      files: ['use.ts'],
    }),
  );
  writeFileSync(
    path.join(dir, 'use.ts'),
    [
      `import { Engine, FAN_CREATE, FanlogError, MemoryIo, type DeliveredRecord } from '${entry}';`,
      'export async function main(): Promise<DeliveredRecord[]> {',
      "  const engine = await Engine.open('/e', { io: new MemoryIo(), store: 'files' });",
      "  const consumer = await engine.consumers.register('c', { mask: FAN_CREATE });",
      '  try { return await consumer.read(); } catch (error) { if (error instanceof FanlogError) return []; throw error; }',
      '}',
      '// Internals are not part of the published types.',
      'export function internals(engine: Engine): unknown[] {',
      '  return [',
      ...['engine.appendRecord', 'engine.commit', 'engine.permissions', 'engine.fs.openFiles', 'engine.fs.setAttrs', "engine.groups.get('g').enqueueAll", "engine.groups.deliver", "engine.consumers.get('c').retire", 'engine.consumers.recordsDurable'].flatMap((member) => ['    // @ts-expect-error: internal', `    ${member},`]),
      '  ];',
      '}',
      '',
    ].join('\n'),
  );
  const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  let output = '';
  try {
    output = execFileSync(process.execPath, [tsc, '-p', dir], { encoding: 'utf8' });
  } catch (error) {
    output = (error as { stdout: string }).stdout;
  }
  expect(output).toBe('');
});
