/**
 * `lfs changelog`'s text (interop/lfs.ts): golden lines written from the
 * format lfs.c prints (`%ju %02d%-5s %02d:%02d:%02d.%09d %04d.%02d.%02d 0x%x
 * t=[%#llx:0x%x:0x%x]`, then ef/u, p= name, s= sp= name), checked byte for
 * byte; and a parser written from that format alone (here, not from
 * fanlog's code) reads every line `fanlog tail --format lfs` prints of a
 * whole demo journal.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { decodeRecord, exportLfsChangelog, lfsLine, LUSTRE_RECORD_TYPES } from '../../interop/index.js';
import {
  Engine,
  FAN_ACCESS,
  FAN_ATTRIB,
  FAN_CLOSE_WRITE,
  FAN_CREATE,
  FAN_DELETE,
  FAN_DELETE_SELF,
  FAN_HSM,
  FAN_LINK,
  FAN_MODIFY,
  FAN_MOVED_FROM,
  FAN_ONDIR,
  FAN_OPEN,
  FAN_RENAME,
  FAN_SYMLINK,
  FAN_TRUNCATE,
  FAN_XATTR,
} from '../../index.js';
import { MemoryIo } from '../../testing.js';
import type { RecordView } from '../../engine/record/record.js';
import { tempDir } from '../helpers.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
// 2025-01-02 03:04:05.123456789 UTC.
const TIME = BigInt(Date.UTC(2025, 0, 2, 3, 4, 5)) * 1_000_000n + 123_456_789n;
const fid = (ino: number, gen: number) => ({ ino, gen });
const stat = (nlink: number) => ({ ino: 42, mode: 0o100644, uid: 1000, gid: 100, size: 0, nlink, atime: 0n, mtime: 0n, ctime: 0n });
const event = (op: RecordView['op'], mask: bigint, extra: Partial<RecordView> = {}): RecordView => ({
  kind: 'event',
  op,
  time: TIME,
  mask,
  fid: fid(42, 7),
  parentFid: fid(1, 1),
  name: 'hello',
  path: '/hello',
  pid: 9,
  tid: 9,
  uid: 1000,
  gid: 100,
  ...extra,
});
const PREFIX = '03:04:05.123456789 2025.01.02';

it('prints each record type as lfs changelog does, byte for byte', () => {
  const cases: [RecordView, string | null][] = [
    [event('create', FAN_CREATE), `12 01CREAT ${PREFIX} 0x0 t=[0:0x2a:0x7] ef=0x1 u=1000:100 p=[0:0x1:0x1] hello`],
    [event('mkdir', FAN_CREATE | FAN_ONDIR), `12 02MKDIR ${PREFIX} 0x0 t=[0:0x2a:0x7] ef=0x1 u=1000:100 p=[0:0x1:0x1] hello`],
    // A hard link's event is FAN_CREATE | FAN_LINK, as link() raises it: HLINK, not CREAT.
    [event('link', FAN_CREATE | FAN_LINK), `12 03HLINK ${PREFIX} 0x0 t=[0:0x2a:0x7] ef=0x1 u=1000:100 p=[0:0x1:0x1] hello`],
    [event('symlink', FAN_CREATE | FAN_SYMLINK, { target: '/x' }), `12 04SLINK ${PREFIX} 0x0 t=[0:0x2a:0x7] ef=0x1 u=1000:100 p=[0:0x1:0x1] hello`],
    [event('unlink', FAN_DELETE, { stat: stat(1) }), `12 06UNLNK ${PREFIX} 0x1 t=[0:0x2a:0x7] ef=0x1 u=1000:100 p=[0:0x1:0x1] hello`],
    [event('unlink', FAN_DELETE, { stat: stat(2) }), `12 06UNLNK ${PREFIX} 0x0 t=[0:0x2a:0x7] ef=0x1 u=1000:100 p=[0:0x1:0x1] hello`],
    [event('rmdir', FAN_DELETE | FAN_ONDIR), `12 07RMDIR ${PREFIX} 0x1 t=[0:0x2a:0x7] ef=0x1 u=1000:100 p=[0:0x1:0x1] hello`],
    [
      event('rename', FAN_RENAME, { oldParentFid: fid(0x10, 3), oldName: 'old name', parentFid: fid(0x11, 4), name: 'new' }),
      `12 08RENME ${PREFIX} 0x0 t=[0:0x0:0x0] ef=0x1 u=1000:100 p=[0:0x11:0x4] new s=[0:0x2a:0x7] sp=[0:0x10:0x3] old name`,
    ],
    // A kernel event on xfs, btrfs or tmpfs names its objects by their filesystem's handles (format 9): zero FIDs, the names kept.
    [
      event('external', FAN_RENAME, {
        fid: undefined,
        handle: { type: 0x81, bytes: new Uint8Array(12) },
        oldParentHandle: { type: 0x81, bytes: new Uint8Array(12) },
        oldName: 'was',
        parentFid: undefined,
        parentHandle: { type: 0x81, bytes: new Uint8Array(12) },
        name: 'is',
      }),
      `12 08RENME ${PREFIX} 0x0 t=[0:0x0:0x0] ef=0x1 u=1000:100 p=[0:0x0:0x0] is s=[0:0x0:0x0] sp=[0:0x0:0x0] was`,
    ],
    [event('open', FAN_OPEN, { parentFid: undefined, name: undefined }), `12 10OPEN  ${PREFIX} 0x0 t=[0:0x2a:0x7] ef=0x1 u=1000:100`],
    [event('close', FAN_CLOSE_WRITE), `12 11CLOSE ${PREFIX} 0x0 t=[0:0x2a:0x7] ef=0x1 u=1000:100 p=[0:0x1:0x1] hello`],
    [event('truncate', FAN_TRUNCATE | FAN_MODIFY), `12 13TRUNC ${PREFIX} 0x0 t=[0:0x2a:0x7] ef=0x1 u=1000:100 p=[0:0x1:0x1] hello`],
    [event('chmod', FAN_ATTRIB), `12 14SATTR ${PREFIX} 0x0 t=[0:0x2a:0x7] ef=0x1 u=1000:100 p=[0:0x1:0x1] hello`],
    // Times alone: Lustre's precedence (setattr > mtime > ctime > atime) makes a utimes MTIME.
    [event('utimes', FAN_ATTRIB), `12 17MTIME ${PREFIX} 0x0 t=[0:0x2a:0x7] ef=0x1 u=1000:100 p=[0:0x1:0x1] hello`],
    // A link count's ATTRIB (on the inode alone): Lustre writes only the HLINK, UNLNK or RENME.
    [event('link', FAN_ATTRIB, { parentFid: undefined, name: undefined }), null],
    [event('unlink', FAN_ATTRIB | FAN_DELETE_SELF, { parentFid: undefined, name: undefined }), null],
    [event('rename', FAN_ATTRIB, { parentFid: undefined, name: undefined }), null],
    [event('setxattr', FAN_ATTRIB | FAN_XATTR), `12 15XATTR ${PREFIX} 0x0 t=[0:0x2a:0x7] ef=0x1 u=1000:100 p=[0:0x1:0x1] hello`],
    // HSM: the event in bits 7-9, HE_RESTORE (1) for a fill, HE_RELEASE (3) for a release.
    [event('hsmFill', FAN_HSM), `12 16HSM   ${PREFIX} 0x80 t=[0:0x2a:0x7] ef=0x1 u=1000:100 p=[0:0x1:0x1] hello`],
    [event('hsmRelease', FAN_HSM), `12 16HSM   ${PREFIX} 0x180 t=[0:0x2a:0x7] ef=0x1 u=1000:100 p=[0:0x1:0x1] hello`],
    [event('write', FAN_MODIFY), `12 17MTIME ${PREFIX} 0x0 t=[0:0x2a:0x7] ef=0x1 u=1000:100 p=[0:0x1:0x1] hello`],
    [event('read', FAN_ACCESS, { uid: undefined }), `12 19ATIME ${PREFIX} 0x0 t=[0:0x2a:0x7] p=[0:0x1:0x1] hello`],
    [event('rename', FAN_MOVED_FROM), null],
    [event('unlink', FAN_DELETE_SELF), null],
    [{ ...event('read', 0x10000n), kind: 'request', group: 'hsm' }, null],
    [{ ...event('read', 0x10000n), kind: 'decision', response: 1 }, null],
  ];
  for (const [record, expected] of cases) expect(lfsLine(12n, record), `${record.kind} ${record.op} 0x${record.mask?.toString(16)}`).toBe(expected);
  const numbered = cases.map(([record, line], i) => ({ record: { ...record, seq: BigInt(i + 1) }, line: line?.replace(/^12 /, `${i + 1} `) ?? null }));
  expect(exportLfsChangelog(numbered.map(({ record }) => record))).toBe(`${numbered.flatMap(({ line }) => (line === null ? [] : [line])).join('\n')}\n`);
});

/** lfs changelog's line, parsed from the format alone. */
const LINE =
  /^(\d+) (\d\d)([A-Z]+) *(\d\d):(\d\d):(\d\d)\.(\d{9}) (\d{4})\.(\d\d)\.(\d\d) 0x([0-9a-f]+) t=\[(0|0x[0-9a-f]+):0x([0-9a-f]+):0x([0-9a-f]+)\]( ef=0x[0-9a-f]+( u=\d+:\d+)?)?( p=\[(0|0x[0-9a-f]+):0x[0-9a-f]+:0x[0-9a-f]+\] ([^ ].*?))?( s=\[[^\]]+\] sp=\[[^\]]+\] (.+))?$/;
/** Lustre's record types by number: lustre_user.h's enum changelog_rec_type and changelog_type2str(). */
const TYPES = [
  'MARK',
  'CREAT',
  'MKDIR',
  'HLINK',
  'SLINK',
  'MKNOD',
  'UNLNK',
  'RMDIR',
  'RENME',
  'RNMTO',
  'OPEN',
  'CLOSE',
  'LYOUT',
  'TRUNC',
  'SATTR',
  'XATTR',
  'HSM',
  'MTIME',
  'CTIME',
  'ATIME',
  'MIGRT',
  'FLRW',
  'RESYNC',
  'GXATR',
  'NOPEN',
];

it("numbers every Lustre record type as Lustre's own table does", () => {
  expect(Object.entries(LUSTRE_RECORD_TYPES).sort(([, a], [, b]) => a - b)).toEqual(TYPES.map((name, number) => [name, number]));
});

/**
 * What each operation of fanlog's filesystem prints, from the events it
 * really raises (not masks written here): Lustre writes one record per
 * namespace change (mdd_link: HLINK alone, mdd_unlink: UNLNK alone, with
 * no record of the link count) and picks an attribute change's type by
 * precedence (mdd_attr_set_changelog: TRUNC, SATTR, MTIME, CTIME, ATIME).
 */
it('prints for each operation the records Lustre writes for it, from the events it raises', async () => {
  const engine = await Engine.open('/e', { io: new MemoryIo(), store: 'files' });
  const fs = engine.fs;
  const calls: [string, () => Promise<unknown>, string[]][] = [
    ['mkdir', () => fs.mkdir('/d'), ['MKDIR']],
    ['create', () => fs.create('/d/a', { size: 10 }), ['CREAT']],
    ['link', () => fs.link('/d/a', '/d/b'), ['HLINK']],
    ['symlink', () => fs.symlink('/d/a', '/d/s'), ['SLINK']],
    ['unlink of a name with another left', () => fs.unlink('/d/b'), ['UNLNK']],
    ['chmod', () => fs.chmod('/d/a', 0o600), ['SATTR']],
    ['chown', () => fs.chown('/d/a', 1, 2), ['SATTR']],
    ['utimes', () => fs.utimes('/d/a', 5n, 6n), ['MTIME']],
    ['setxattr', () => fs.setxattr('/d/a', 'user.k', new Uint8Array([1])), ['XATTR']],
    ['truncate', () => fs.truncate('/d/a', 4), ['TRUNC']],
    [
      'open, write, read, close',
      async () => {
        const fd = await fs.open('/d/a', 'rw');
        await fs.write(fd, 0, 100);
        await fs.read(fd, 0, 10);
        await fs.close(fd);
      },
      ['OPEN', 'MTIME', 'ATIME', 'CLOSE'],
    ],
    [
      'hsmRelease, hsmFill',
      async () => {
        await fs.hsmRelease('/d/a');
        await fs.hsmFill('/d/a', 0, 100);
      },
      ['HSM', 'HSM'],
    ],
    ['rename', () => fs.rename('/d/a', '/d/c'), ['RENME']],
    [
      'rename over a file',
      async () => {
        await fs.create('/d/victim');
        await fs.rename('/d/c', '/d/victim');
      },
      ['CREAT', 'RENME'],
    ],
    ['unlink of the last name', () => fs.unlink('/d/victim'), ['UNLNK']],
    [
      'rmdir',
      async () => {
        await fs.unlink('/d/s');
        await fs.rmdir('/d');
      },
      ['UNLNK', 'RMDIR'],
    ],
  ];
  let seen = 0n;
  for (const [what, call, types] of calls) {
    await call();
    const lines: string[] = [];
    for await (const { seq, payload } of engine.journal.read({ from: seen + 1n })) {
      const line = lfsLine(seq, decodeRecord(payload));
      if (line !== null) lines.push(line);
      seen = seq;
    }
    expect(
      lines.map((line) => LINE.exec(line)?.[3]),
      `${what}: ${lines.join(' | ')}`,
    ).toEqual(types);
  }
  await engine.close();
});

it('prints a whole demo journal in lines a parser written from the Lustre format alone reads', () => {
  const dir = `${tempDir()}/demo`;
  expect(spawnSync(process.execPath, [CLI, 'demo', '--dir', dir, '--files', '40'], { encoding: 'utf8', timeout: 120_000 }).status).toBe(0);
  const lines = spawnSync(process.execPath, [CLI, 'tail', '--dir', dir, '--format', 'lfs'], { encoding: 'utf8', timeout: 60_000 }).stdout.trim().split('\n');
  expect(lines.length).toBeGreaterThan(500);
  let previous = 0n;
  const seen = new Set<string>();
  for (const line of lines) {
    const match = LINE.exec(line);
    expect(match, line).not.toBeNull();
    const [, seq, number, name, hh, mm, ss, , year, month, day] = match!;
    expect(TYPES[Number(number)], line).toBe(name);
    expect(name!.length <= 5 && line.includes(`${number}${name!.padEnd(5)} `), line).toBe(true);
    expect(
      Number(hh) < 24 && Number(mm) < 60 && Number(ss) < 60 && Number(month) >= 1 && Number(month) <= 12 && Number(day) >= 1 && Number(year) >= 2025,
      line,
    ).toBe(true);
    expect(BigInt(seq!) > previous, line).toBe(true);
    previous = BigInt(seq!);
    seen.add(name!);
  }
  expect([...seen].sort()).toEqual(expect.arrayContaining(['CLOSE', 'CREAT', 'HSM', 'MKDIR', 'OPEN', 'RENME', 'UNLNK']));
});
