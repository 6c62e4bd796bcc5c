/**
 * The real `fanlog` binary's daily commands on a known engine directory:
 * text and JSON output of stat, tail and consumers, verify on a sound and a
 * damaged journal, and the exit codes scripts rely on.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeEach, describe, expect, it } from 'vitest';
import { Engine, ERRNO, FAN_ALLOW, FAN_CREATE, FAN_DENY, FAN_DENY_ERRNO } from '../../index.js';
import { changelogLine } from '../../cli/commands.js';
import { entryFields } from '../../replication/entry.js';
import { NodeIo } from '../../journal/node-io.js';
import { openMetaStore } from '../../store/meta-store.js';
import { tempDir } from '../helpers.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
let dir: string;

/** Every file under `root` with its size and modification time (locks aside): what an inspection must leave as it was. */
function snapshot(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (at: string): void => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const full = path.join(at, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name !== 'lock.mdb' && entry.name !== 'LOCK') {
        const stats = statSync(full);
        out[path.relative(root, full)] = `${stats.size} ${stats.mtimeMs}`;
      }
    }
  };
  walk(root);
  return out;
}

function fanlog(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

beforeEach(async () => {
  dir = path.join(tempDir(), 'engine');
  const engine = await Engine.open(dir, { store: 'lmdb' });
  await engine.fs.mkdir('/data');
  await engine.fs.create('/data/a', { size: 10 });
  await engine.fs.rename('/data/a', '/data/b');
  const group = await engine.groups.create('idx');
  await group.mark({ path: '/data', mask: FAN_CREATE });
  await engine.consumers.register('backup');
  await engine.close();
});

describe('fanlog CLI', () => {
  it('stat prints the journal, consumers and groups, as text and as JSON', () => {
    const text = fanlog('stat', '--dir', dir);
    expect(text.status).toBe(0);
    expect(text.stdout).toMatch(/records\s+oldest retained 1, head \d+ \(written\), durable \d+/);
    expect(text.stdout).toMatch(/consumer {5}backup: cursor 0, lag \d+ records/);
    expect(text.stdout).toContain('group        idx (notif): 1 marks');
    const json = JSON.parse(fanlog('stat', '--dir', dir, '--json').stdout) as {
      journalId: string;
      metrics: { seqs: { head: string }; consumers: { name: string }[] };
    };
    expect(Number(json.metrics.seqs.head)).toBeGreaterThan(5);
    expect(json.metrics.consumers.map((c) => c.name)).toEqual(['backup']);
    // The journal id reads the same in text and JSON.
    expect(text.stdout).toContain(`journal      ${json.journalId} in `);
  });

  it('tail prints one line per record in lfs changelog style, or JSON lines', () => {
    const lines = fanlog('tail', '--dir', dir).stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^2 CREATE\|ONDIR \d\d:\d\d:\d\d\.\d{9} \d{4}\.\d\d\.\d\d 0x40000100 t=\[0x2:0x2\] p=\[0x1:0x1\] data \/data$/);
    expect(lines.some((line) => line.includes('RENAME') && line.includes('s=/data/a'))).toBe(true);
    const records = fanlog('tail', '--dir', dir, '--json')
      .stdout.trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { seq: string; kind: string });
    expect(records.every((record) => record.kind === 'event')).toBe(true);
    expect(records.length).toBe(lines.length);
  });

  it('tail --json nests objects as objects, through a consumer too (its records are views)', () => {
    for (const args of [[], ['--consumer', 'backup']]) {
      const records = fanlog('tail', '--dir', dir, '--json', ...args)
        .stdout.trim()
        .split('\n')
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(records.length, args.join(' ')).toBeGreaterThan(3);
      for (const record of records) {
        expect(typeof record.seq).toBe('string');
        expect(record.stat, args.join(' ')).toEqual(expect.objectContaining({ ino: expect.any(Number) }));
        expect(record.fid).toEqual({ ino: expect.any(Number), gen: expect.any(Number) });
      }
    }
  });

  it('prints a file handle where no fid holds one, its type and bytes in hex, and puts it in a Redis entry so', () => {
    const handle = { type: 0x81, bytes: Uint8Array.of(0, 1, 0xab) };
    const event = { kind: 'event', op: 'external', time: 0n, mask: 0x100n, handle, parentHandle: { type: -1, bytes: Uint8Array.of(7) }, name: 'n' } as const;
    expect(changelogLine(3n, event)).toContain(' t=[0x81:0001ab] p=[0xffffffff:07] n');
    const fields = entryFields({ ...event, seq: 3n }, new Uint8Array(0));
    const value = (name: string): unknown => fields[fields.indexOf(name) + 1];
    expect([value('handle'), value('parentHandle')]).toEqual(['0x81:0001ab', '0xffffffff:07']);
  });

  it("prints a decision's answer in words", () => {
    const decision = { kind: 'decision', op: 'read', time: 0n, mask: 0x80000n, path: '/a', group: 'hsm', requestSeq: 7n } as const;
    expect(changelogLine(9n, { ...decision, response: FAN_ALLOW })).toContain(' response=ALLOW');
    expect(changelogLine(9n, { ...decision, response: FAN_DENY })).toContain(' response=DENY');
    expect(changelogLine(9n, { ...decision, response: FAN_DENY_ERRNO(ERRNO.EAGAIN), timeout: true })).toContain(' response=ERRNO(EAGAIN) (timeout)');
  });

  it('tail through a consumer acknowledges with --ack', () => {
    expect(fanlog('tail', '--dir', dir, '--consumer', 'backup', '--ack').stdout.trim().split('\n').length).toBeGreaterThan(3);
    expect(fanlog('tail', '--dir', dir, '--consumer', 'backup').stdout).toBe('');
  });

  it('consumers list, register, ack and deregister', () => {
    expect(fanlog('consumers', 'register', 'audit', '--from', 'next', '--dir', dir).status).toBe(0);
    expect(fanlog('consumers', 'ack', 'backup', '3', '--dir', dir).status).toBe(0);
    const { consumers: list } = JSON.parse(fanlog('consumers', 'list', '--dir', dir, '--json').stdout) as { consumers: { name: string; cursor: string }[] };
    expect(list.map((c) => [c.name, c.cursor])).toEqual([
      ['audit', list[0]!.cursor],
      ['backup', '3'],
    ]);
    expect(fanlog('consumers', 'deregister', 'audit', '--dir', dir).status).toBe(0);
    const again = fanlog('consumers', 'register', 'backup', '--dir', dir);
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/^fanlog: EEXIST: /);
  });

  it('verify exits 0 on a sound journal and 1 with the file and byte offset of damage', () => {
    expect(fanlog('verify', '--dir', dir).status).toBe(0);
    const segment = path.join(
      dir,
      'journal',
      readdirSync(path.join(dir, 'journal')).find((name) => name.endsWith('.seg'))!,
    );
    const bytes = readFileSync(segment);
    bytes[60]! ^= 0xff; // inside the first entry, with sound entries after it
    writeFileSync(segment, bytes);
    const damaged = fanlog('verify', '--dir', dir, '--json');
    expect(damaged.status).toBe(1);
    expect(JSON.parse(damaged.stdout)).toMatchObject({ sound: false, file: segment, offset: 40 });
    // The text names the place once.
    const line = fanlog('verify', '--dir', dir)
      .stdout.split('\n')
      .find((text) => text.startsWith('DAMAGED'))!;
    expect(line).toBe(`DAMAGED: ${segment} at byte 40: checksum mismatch with sound entries after it`);
  });

  it('verify scans the files store too, and reports damage in it with file and offset', async () => {
    const filesDir = path.join(tempDir(), 'files-engine');
    const engine = await Engine.open(filesDir, { store: 'files' });
    await engine.consumers.register('backup');
    await engine.fs.mkdir('/data');
    await engine.checkpoint();
    await engine.consumers.register('audit');
    await engine.close();
    const sound = fanlog('verify', '--dir', filesDir, '--json');
    expect(sound.status).toBe(0);
    expect(JSON.parse(sound.stdout)).toMatchObject({ sound: true, store: { kind: 'files', checked: true } });
    const storeDir = path.join(filesDir, 'meta-files');
    const segment = path.join(
      storeDir,
      readdirSync(storeDir).find((name) => name.endsWith('.seg'))!,
    );
    const bytes = readFileSync(segment);
    bytes[70]! ^= 0xff;
    writeFileSync(segment, bytes);
    const damaged = fanlog('verify', '--dir', filesDir, '--json');
    expect(damaged.status).toBe(1);
    expect(JSON.parse(damaged.stdout)).toMatchObject({ sound: false, file: segment, offset: 40 });
  });

  it.each(['lmdb', 'level', 'files'] as const)('verify reports a %s store that was deleted, as opening does, and exits 1', async (store) => {
    const engineDir = path.join(tempDir(), `${store}-engine`);
    const engine = await Engine.open(engineDir, { store });
    await engine.fs.mkdir('/data');
    await engine.close();
    const storeDir = path.join(engineDir, `meta-${store}`);
    rmSync(storeDir, { recursive: true });
    const text = fanlog('verify', '--dir', engineDir);
    expect(text.stderr).not.toMatch(/^\s+at /m);
    expect(text.status, text.stdout + text.stderr).toBe(1);
    expect(text.stdout).toMatch(new RegExp(`^DAMAGED: ${storeDir.replaceAll('/', '\\/')}: the ${store} store is missing`, 'm'));
    const json = JSON.parse(fanlog('verify', '--dir', engineDir, '--json').stdout) as { sound: boolean; file: string };
    expect(json).toMatchObject({ sound: false, file: storeDir });
    // Opening refuses it (ECORRUPT) and makes no store in its place; an empty store (which older versions left) is no sounder to verify.
    await expect(Engine.open(engineDir)).rejects.toMatchObject({ code: 'ECORRUPT' });
    expect(existsSync(storeDir)).toBe(false);
    await (await openMetaStore(store, engineDir, new NodeIo())).close();
    const emptied = fanlog('verify', '--dir', engineDir);
    expect(emptied.status).toBe(1);
    expect(emptied.stdout).toMatch(/^DAMAGED: .* key 'journal\/durable': the store holds no high-water mark, but the journal holds records up to 2/m);
  });

  it('uses the store the directory records, refuses another, and changes nothing when it inspects', () => {
    const before = snapshot(dir);
    const wrong = fanlog('stat', '--dir', dir, '--store', 'level');
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toMatch(/^fanlog: EINVAL: .*'lmdb' store/);
    expect(existsSync(path.join(dir, 'meta-level'))).toBe(false);
    for (const args of [['stat'], ['tail'], ['consumers', 'list'], ['tail', '--consumer', 'backup']]) {
      expect(fanlog(...args, '--dir', dir).status, args.join(' ')).toBe(0);
    }
    // Inspection wrote, repaired, checkpointed and purged nothing.
    expect(snapshot(dir)).toEqual(before);
    expect(JSON.parse(fanlog('consumers', 'list', '--dir', dir, '--json').stdout).consumers[0].cursor).toBe('0');
  });

  it('never creates an engine where there is none, even beside a journal/ folder', () => {
    const empty = path.join(tempDir(), 'not-an-engine');
    mkdirSync(path.join(empty, 'journal'), { recursive: true });
    for (const args of [['stat'], ['tail'], ['consumers', 'list'], ['consumers', 'register', 'x']]) {
      const run = fanlog(...args, '--dir', empty);
      expect(run.status, args.join(' ')).toBe(1);
      expect(run.stderr, args.join(' ')).toMatch(/^fanlog: ENOENT: /);
    }
    expect(readdirSync(empty)).toEqual(['journal']);
    expect(readdirSync(path.join(empty, 'journal'))).toEqual([]);
  });

  it('exits 1 with fanlog: CODE: message for expected errors, 2 for usage errors', () => {
    const missing = fanlog('stat', '--dir', path.join(dir, 'nothing-here'));
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/^fanlog: ENOENT: /);
    expect(missing.stderr).not.toContain('    at ');
    expect(fanlog('consumers', 'ack', '--dir', dir).status).toBe(2);
    expect(fanlog('tail', '--from', 'x', '--dir', dir).status).toBe(2);
    expect(fanlog('no-such-command').status).toBe(2);
    expect(fanlog('tail', '--follow', '--consumer', 'backup', '--dir', dir).status).toBe(2);
    expect(fanlog('tail', '--ack', '--dir', dir).status).toBe(2);
    expect(fanlog('crash-test', '--faults', 'meteor').status).toBe(2);
  });
});

it('runs as built: the bin is executable, so the `npx fanlog` lines the demo prints work after a rebuild', () => {
  expect(statSync(CLI).mode & 0o111, `${CLI} is not executable`).toBe(0o111);
  const run = spawnSync(CLI, ['--version'], { encoding: 'utf8' });
  expect(run.status, run.stderr).toBe(0);
  expect(run.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
});

it('verify names each damaged key once, with the first damage found in it', async () => {
  const engineDir = path.join(tempDir(), 'engine');
  const engine = await Engine.open(engineDir, { store: 'lmdb' });
  await engine.fs.mkdir('/data');
  await engine.consumers.register('audit');
  await engine.checkpoint();
  await engine.close();
  // Flip a byte of the checkpoint's stored value and of the consumers' catalog, past their envelopes' checksums.
  const { openBackend, metaStoreDir } = await import('../../store/meta-store.js');
  const raw = await openBackend('lmdb', metaStoreDir(engineDir, 'lmdb'), new NodeIo());
  for (const key of ['fs/checkpoint', 'catalog/consumer']) {
    const value = new Uint8Array((await raw.get(key))!);
    value[value.length - 1]! ^= 0xff;
    await raw.commit([{ type: 'put', key, value }]);
  }
  await raw.close();
  const text = fanlog('verify', '--dir', engineDir);
  expect(text.status, text.stdout + text.stderr).toBe(1);
  const damaged = text.stdout.split('\n').filter((line) => line.startsWith('DAMAGED: '));
  const keys = damaged.map((line) => /key '([^']+)'/.exec(line)?.[1]);
  expect(keys.sort()).toEqual(['catalog/consumer', 'fs/checkpoint']);
});

it("prints every command's --help and exits 0, with no stack", async () => {
  const { execFile } = await import('node:child_process');
  const { promisify } = await import('node:util');
  const run = promisify(execFile);
  const { stdout } = await run(process.execPath, [CLI, '--help']);
  const commands = stdout
    .slice(stdout.indexOf('Commands:'))
    .split('\n')
    .slice(1)
    .map((line) => /^ {2}(\S+)/.exec(line)?.[1])
    .filter((name): name is string => name !== undefined && name !== 'help');
  expect(commands).toContain('supervise');
  // Each its own process, all at once: a failure rejects with the command's stderr.
  const helps = await Promise.all(commands.map((command) => run(process.execPath, [CLI, command, '--help']).then(({ stdout: text }) => text)));
  for (const [i, text] of helps.entries()) expect(text, commands[i]).toMatch(new RegExp(`^Usage: fanlog ${commands[i]}`));
});
