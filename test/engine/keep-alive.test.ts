/**
 * An awaited wait keeps the process alive, as a blocked syscall does: a
 * guarded operation nobody has answered yet, and a queue read with waitMs.
 * Each runs as the only work of a child process (keep-alive-child.mjs),
 * answered from an unref'd timer; without a handle held by the wait, Node
 * exits with code 13 (an unsettled top-level await) before the answer.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { tempDir } from '../helpers.js';

const CHILD = fileURLToPath(new URL('./keep-alive-child.mjs', import.meta.url));

function run(mode: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CHILD, mode, tempDir()], (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : ((error as { code?: number }).code ?? null), stdout, stderr });
    });
  });
}

it.each([
  ['permission', 'completed read of 4096'],
  ['queue', 'completed queue read of 1'],
])('keeps the process alive while a %s wait is pending', async (mode, expected) => {
  const { code, stdout, stderr } = await run(mode);
  expect({ code, stdout: stdout.trim(), stderr }).toEqual({ code: 0, stdout: expected, stderr: '' });
});
