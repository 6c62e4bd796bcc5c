/**
 * A full disk under the MetaStore (a small tmpfs mounted at the store's
 * directory, the journal on the ordinary disk): the failed store write puts
 * the engine in its failed state with code ENOSPC, and the process lives
 * on. The engine runs in a child process, so that a crash of the process
 * (an unhandled rejection) shows as its exit status.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { metaStoreDir } from '../../store/meta-store.js';
import { smallDisk, tempDir } from '../helpers.js';

const CHILD = fileURLToPath(new URL('./full-disk-child.mjs', import.meta.url));

describe('a full disk under the store', () => {
  for (const store of ['lmdb', 'level'] as const) {
    it(`fails the ${store} engine with ENOSPC and leaves the process running`, () => {
      const dir = tempDir();
      smallDisk(metaStoreDir(dir, store), 1 << 20);
      const child = spawnSync(process.execPath, [CHILD, dir, store], { encoding: 'utf8', timeout: 60_000 });
      expect(child.stderr).toBe('');
      expect(child.status).toBe(0);
      const lines = Object.fromEntries(
        child.stdout
          .trim()
          .split('\n')
          .map((line) => line.split(' ') as [string, string]),
      );
      expect(child.stdout).toMatch(/^failed (ENOSPC|EFAILED) /);
      expect([lines.failed, child.stdout.split('\n')[0]!.split(' ')[2]]).toContain('ENOSPC');
      expect(lines.after).toBe('EFAILED');
      expect(lines.engine).toBe('true');
      expect(path.isAbsolute(dir)).toBe(true);
    });
  }
});
