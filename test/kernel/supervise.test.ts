/**
 * `fanlog supervise`: a handler SIGKILLed while readers wait loses nothing.
 * As root, on an ext4 image loop-mounted in a temp dir: stubs (sparse files)
 * whose bytes are in an archive dir; `cat`s of them wait in the kernel on
 * FAN_PRE_ACCESS. The handler (test/kernel/hsm-handler.mjs) runs under the
 * supervisor; its first incarnation reads one request and hangs, and is
 * SIGKILLed by pid. The readers stay blocked; the restarted handler gets
 * the request again, with the same seq, fills and allows it; every `cat`
 * prints its archive's bytes. The journal holds each request and each
 * decision once. A supervisor stopped while a request is unanswered
 * answers it by its stop policy, journaled: the reader gets EIO; one whose
 * engine cannot be opened answers it by the policy all the same, says so,
 * and exits 1.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { makeStub, withExt4 } from '../../crash/fs-image.js';
import { BOUND_MS, cat, CLI, journalOf, makeEngine, type NodeRun, startNode, untilSaid, within } from './readers.js';
import { FAN_ALLOW, FAN_DENY_ERRNO } from '../../index.js';
import type { RecordView } from '../../engine/record/record.js';

const isRoot = process.platform === 'linux' && process.getuid?.() === 0;
if (!isRoot) console.log('test/kernel/supervise.test.ts: skipped, it needs root on Linux (it loop-mounts an ext4 image and makes fanotify groups)');
const asRoot = it.skipIf(!isRoot);

const repo = fileURLToPath(new URL('../..', import.meta.url));
const dist = path.join(repo, 'dist');
const handler = path.join(repo, 'test/kernel/hsm-handler.mjs');

/** `fanlog supervise --group hsm` of test/kernel/hsm-handler.mjs; says on the console why it exited, if not with 0. */
function supervise(engineDir: string, mount: string, archive: string, hangMarker: string): NodeRun {
  const args = [CLI, 'supervise', '--path', mount, '--group', 'hsm', '--dir', engineDir, '--stop-timeout', '60000', '--'];
  const run = startNode([...args, process.execPath, handler, dist, engineDir, mount, archive, hangMarker]);
  run.exit.then((code) => code !== 0 && console.log(`supervisor exited ${code}: ${run.stderr()}`)).catch(() => undefined);
  return run;
}

/** Each request of op external once per kernel event, and each decided once: returns the decisions by request seq. */
function decisionsOnce(records: { seq: bigint; record: RecordView }[]): Map<bigint, number> {
  const requests = records.filter(({ record }) => record.kind === 'request' && record.op === 'external');
  expect(new Set(requests.map(({ record }) => record.kernelEvent)).size).toBe(requests.length);
  const decided = new Map<bigint, number>();
  for (const { record } of records.filter(({ record }) => record.kind === 'decision')) {
    expect(decided.has(record.requestSeq!), `request ${record.requestSeq} decided twice`).toBe(false);
    decided.set(record.requestSeq!, record.response!);
  }
  for (const { seq } of requests) expect(decided.has(seq), `request ${seq} never decided`).toBe(true);
  return decided;
}

asRoot('a handler SIGKILLed while readers wait loses nothing: the readers complete with the filled bytes', { timeout: 4 * BOUND_MS }, async () => {
  await withExt4(async ({ mount, scratch }) => {
    const archive = path.join(scratch, 'archive');
    mkdirSync(archive);
    const names = ['a.dat', 'b.dat', 'c.dat'];
    for (const [i, name] of names.entries()) {
      const content = Buffer.from(`${name}: ${'restored bytes '.repeat(300 * (i + 1))}\n`);
      writeFileSync(path.join(archive, name), content);
      makeStub(path.join(mount, name), content.length);
    }
    const engineDir = path.join(scratch, 'engine');
    const hangMarker = path.join(scratch, 'hung');
    const { child, lines, exit } = supervise(engineDir, mount, archive, hangMarker);
    try {
      await lines.next(/^ready (\d+)/);
      const readers = names.map((name) => cat(path.join(mount, name)));
      const [, firstPid, seq] = await lines.next(/^read (\d+) (\d+) /);
      await lines.next(/^hang /);
      process.kill(Number(firstPid), 'SIGKILL');
      // The restarted handler reads the same request, with the same seq, before any new one.
      const restarted = await lines.next(new RegExp(`^read (?!${firstPid} )(\\d+) (\\d+) `));
      expect(restarted[2]).toBe(seq);
      const results = await within(Promise.all(readers), 'the readers');
      for (const [i, result] of results.entries()) {
        expect(result.code, result.stderr).toBe(0);
        expect(result.stdout.toString()).toMatch(new RegExp(`^${names[i]}: `));
        expect(result.stdout.length).toBe(Buffer.byteLength(`${names[i]}: ${'restored bytes '.repeat(300 * (i + 1))}\n`));
      }
    } finally {
      child.kill('SIGTERM');
      expect(await exit).toBe(0);
    }
    const decided = decisionsOnce(await journalOf(engineDir));
    expect([...decided.values()].every((response) => response === FAN_ALLOW)).toBe(true);
  });
});

asRoot("a supervisor's stop answers what is unanswered by its stop policy, journaled; the reader gets EIO", { timeout: 4 * BOUND_MS }, async () => {
  await withExt4(async ({ mount, scratch }) => {
    const archive = path.join(scratch, 'archive');
    mkdirSync(archive);
    makeStub(path.join(mount, 'x.dat'), 4096);
    const engineDir = path.join(scratch, 'engine');
    const { child, lines, exit } = supervise(engineDir, mount, archive, path.join(scratch, 'hung'));
    let reader: ReturnType<typeof cat> | undefined;
    try {
      await lines.next(/^ready /);
      reader = cat(path.join(mount, 'x.dat'));
      await lines.next(/^hang /);
    } finally {
      child.kill('SIGTERM');
      expect(await exit).toBe(0);
    }
    const result = await reader;
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/Input\/output error/);
    const decided = decisionsOnce(await journalOf(engineDir));
    expect([...decided.values()]).toEqual([FAN_DENY_ERRNO(5)]);
  });
});

asRoot("a supervisor's stop that cannot open the engine answers by its stop policy all the same, says so, and exits 1", { timeout: 4 * BOUND_MS }, async () => {
  await withExt4(async ({ mount, scratch }) => {
    const archive = path.join(scratch, 'archive');
    mkdirSync(archive);
    makeStub(path.join(mount, 'x.dat'), 4096);
    const engineDir = path.join(scratch, 'engine');
    const { child, lines, exit, stderr } = supervise(engineDir, mount, archive, path.join(scratch, 'hung'));
    let reader: ReturnType<typeof cat> | undefined;
    try {
      await lines.next(/^ready /);
      reader = cat(path.join(mount, 'x.dat'));
      const hung = await lines.next(/^hang (\d+)/);
      // The hung handler has the engine open; every open after it (its successors', the supervisor's stop) is ECORRUPT.
      writeFileSync(path.join(engineDir, 'FANLOG'), 'not a marker');
      process.kill(Number(hung[1]), 'SIGKILL');
      await untilSaid(stderr, /ECORRUPT/, 'a handler to fail on the damaged marker');
    } finally {
      child.kill('SIGTERM');
    }
    expect(await within(exit, 'the supervisor to stop'), stderr()).toBe(1);
    expect(stderr()).toMatch(/could not be opened \(ECORRUPT: .*\): 1 held events answered by the stop policy without a journal/);
    const result = await within(reader, 'the reader');
    expect(result.stdout.length).toBe(0);
    expect(result.stderr).toMatch(/Input\/output error/);
  });
});

asRoot(
  'a SIGKILLed supervisor leaves its handler the last holder: it answers what it holds by the stop policy, never letting a reader through unfilled',
  { timeout: 4 * BOUND_MS },
  async () => {
    await withExt4(async ({ mount, scratch }) => {
      const archive = path.join(scratch, 'archive');
      mkdirSync(archive);
      // Many readers, so that events are in flight on the channel when the supervisor dies (the re-attack's crash: ESRCH thrown
      // from the channel's listener ended the handler, and its readers read unfilled stubs).
      const names = Array.from({ length: 16 }, (_, i) => `y${i}.dat`);
      for (const name of names) makeStub(path.join(mount, name), 4096);
      const engineDir = path.join(scratch, 'engine');
      const { child, lines, exit } = supervise(engineDir, mount, archive, path.join(scratch, 'hung'));
      let handlerPid = 0;
      try {
        handlerPid = Number((await lines.next(/^ready (\d+)/))[1]);
        const readers = names.map((name) => cat(path.join(mount, name)));
        await lines.next(/^hang /);
        child.kill('SIGKILL');
        await exit;
        const results = await within(Promise.all(readers), 'the readers, after the supervisor died');
        for (const [i, result] of results.entries()) {
          expect(result.stdout.length, `${names[i]}: the reader read unfilled bytes`).toBe(0);
          expect(result.stderr).toMatch(/Input\/output error/);
        }
        // The handler lived through it (its source ended; this one hangs by design).
        expect(() => process.kill(handlerPid, 0)).not.toThrow();
      } finally {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        // The handler outlives its supervisor (it hangs by design here): ended by its pid.
        if (handlerPid !== 0) process.kill(handlerPid, 'SIGKILL');
      }
      await within(waitGone(handlerPid), 'the handler to be gone');
      const decided = decisionsOnce(await journalOf(engineDir));
      expect([...decided.values()].every((response) => response === FAN_DENY_ERRNO(5))).toBe(true);
    });
  },
);

/** Resolves once process `pid` (not a child of this one) is gone: a pidfd polls readable when it exits. */
async function waitGone(pid: number): Promise<void> {
  const { pidfdOpen, pollReadable, closeDescriptor } = await import('../../kernel/syscalls.js');
  let fd: number;
  try {
    fd = pidfdOpen(pid);
  } catch {
    return;
  }
  const poller = pollReadable(fd);
  await new Promise<void>((resolve) => poller.start(resolve));
  poller.close();
  closeDescriptor(fd);
}

/** `fanlog supervise ARGS`, its stdout lines and its stderr. */
const superviseWith = (args: string[]): NodeRun => startNode([CLI, 'supervise', ...args]);

asRoot('kills a handler that ignores SIGTERM once --stop-timeout has passed, and stops', { timeout: 4 * BOUND_MS }, async () => {
  await withExt4(async ({ mount, scratch }) => {
    const deaf = "process.on('SIGTERM', () => undefined); setInterval(() => undefined, 1000); console.log('ready');";
    await makeEngine(path.join(scratch, 'engine'));
    const args = ['--path', mount, '--mask', 'CREATE', '--dir', path.join(scratch, 'engine'), '--stop-timeout', '300', '--', process.execPath, '-e', deaf];
    const { child, lines, exit, stderr } = superviseWith(args);
    try {
      await lines.next(/^ready$/);
      child.kill('SIGTERM');
      expect(await within(exit, `the supervisor to stop (stderr: ${stderr()})`)).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});

asRoot('stops with exit 1 when its command cannot be run, rather than retrying it forever', { timeout: 4 * BOUND_MS }, async () => {
  await withExt4(async ({ mount, scratch }) => {
    const args = ['--path', mount, '--group', 'hsm', '--dir', path.join(scratch, 'engine'), '--', path.join(scratch, 'no-such-handler')];
    const { child, exit, stderr } = superviseWith(args);
    try {
      expect(await within(exit, 'the supervisor to give up')).toBe(1);
      expect(stderr()).toMatch(/cannot run .*no-such-handler: spawn .* ENOENT; stopping/);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});

asRoot("refuses a handler whose engine is not the supervisor's --dir", { timeout: 4 * BOUND_MS }, async () => {
  await withExt4(async ({ mount, scratch }) => {
    const archive = path.join(scratch, 'archive');
    mkdirSync(archive);
    const args = [
      '--path',
      mount,
      '--group',
      'hsm',
      '--dir',
      path.join(scratch, 'engine'),
      '--',
      process.execPath,
      handler,
      dist,
      path.join(scratch, 'other'),
      mount,
      archive,
    ];
    const { child, exit, stderr } = superviseWith(args);
    try {
      await within(
        new Promise<void>((resolve) => {
          const check = (): void => {
            if (/fanlog supervise holds the engine in .*engine, but this process asks for an engine in .*other/.test(stderr())) resolve();
            else child.stderr!.once('data', check);
          };
          check();
        }),
        'the refusal',
      );
    } finally {
      child.kill('SIGTERM');
      await exit;
    }
  });
});
