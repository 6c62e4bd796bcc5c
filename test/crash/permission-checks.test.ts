/**
 * The campaign's invariant-5 check must judge recovery by the journal as
 * recovery found it. A group's permission timeout starts when recovery
 * queues a request again, so the timeout may journal its answer before the
 * check reads the journal: that request was still resurrected.
 */
import { afterEach, expect, it } from 'vitest';
import { settleEverything } from '../../crash/permission-checks.js';
import { Engine, FAN_OPEN_PERM } from '../../index.js';
import { rejection, tempDir } from '../helpers.js';

const engines: Engine[] = [];
afterEach(async () => {
  for (const engine of engines.splice(0)) await engine.close().catch(() => undefined);
});

it('counts a resurrected request that a timeout answered before the check read the journal', async () => {
  const dir = tempDir();
  const engine = await Engine.open(dir, { store: 'lmdb' });
  await engine.fs.mkdir('/d');
  await engine.fs.create('/d/s', { size: 10 });
  // Long enough to close first; short enough to wait for after the reopen.
  const slow = await engine.groups.create('slow', { class: 'content', permissionTimeoutMs: 1000, onTimeout: 'deny' });
  await slow.mark({ path: '/d/s', mask: FAN_OPEN_PERM });
  const opening = rejection(() => engine.fs.open('/d/s', 'r'));
  await expect.poll(() => slow.info().pendingPermissions).toBe(1);
  await engine.close();
  expect((await opening).code).toBe('ECLOSED');

  const reopened = await Engine.open(dir, { store: 'lmdb' });
  engines.push(reopened);
  expect(reopened.recovery.resurrectedRequests).toBe(1);
  // The timeout answers it; wait for that answer to be durable.
  await expect.poll(() => reopened.pendingOperations().length, { timeout: 10_000 }).toBe(0);
  await reopened.journal.sync();
  const failures: string[] = [];
  await settleEverything(reopened, (what) => failures.push(what));
  expect(failures).toEqual([]);
});
