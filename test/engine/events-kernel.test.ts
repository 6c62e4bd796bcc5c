/**
 * fanlog's events against the kernel's: the operations of
 * test/fanotify/script.json, run on the simulated filesystem with the same
 * marks (inode marks on a directory with and without FAN_EVENT_ON_CHILD,
 * on a file, on a subdirectory, on a directory the operations touch only
 * now and then, and a filesystem mark), must give each group, per
 * operation, the same union of event bits (low 32) and the same names as
 * real fanotify gave (test/fanotify/fixture.json, written by
 * test/fanotify/capture.mjs on a tmpfs; it needs root and gcc, this test
 * neither). The differences fanlog keeps on purpose are listed in the
 * fixture's "deviations", each with its reason and fanlog's own answer,
 * which this test holds fanlog to.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Engine, type EventQueue, FAN_DIRENT_EVENTS, FAN_MOVED_FROM, FAN_MOVED_TO, FAN_ONDIR, FAN_RENAME, type QueuedEvent } from '../../index.js';
import { MemoryIo } from '../../testing.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const script = JSON.parse(readFileSync(path.join(here, '../fanotify/script.json'), 'utf8')) as {
  setup: string[][];
  groups: { name: string; kind: 'inode' | 'filesystem'; path: string; mask: string[] }[];
  steps: string[][];
};
interface Seen {
  mask: string;
  names: string[];
}
const fixture = JSON.parse(readFileSync(path.join(here, '../fanotify/fixture.json'), 'utf8')) as {
  kernel: string;
  steps: { step: number; call: string[]; groups: Record<string, Seen> }[];
  deviations: { step: number; group: string; fanlog: Seen; reason: string }[];
};

const BITS: Record<string, bigint> = {
  FAN_ACCESS: 0x1n,
  FAN_MODIFY: 0x2n,
  FAN_ATTRIB: 0x4n,
  FAN_CLOSE_WRITE: 0x8n,
  FAN_CLOSE_NOWRITE: 0x10n,
  FAN_OPEN: 0x20n,
  FAN_MOVED_FROM: 0x40n,
  FAN_MOVED_TO: 0x80n,
  FAN_CREATE: 0x100n,
  FAN_DELETE: 0x200n,
  FAN_DELETE_SELF: 0x400n,
  FAN_MOVE_SELF: 0x800n,
  FAN_OPEN_EXEC: 0x1000n,
  FAN_RENAME: 0x10000000n,
  FAN_EVENT_ON_CHILD: 0x8000000n,
  FAN_ONDIR: 0x40000000n,
};
const ALL = Object.entries(BITS)
  .filter(([name]) => name !== 'FAN_EVENT_ON_CHILD' && name !== 'FAN_ONDIR')
  .reduce((mask, [, bit]) => mask | bit, 0n);
const OBJECT = [
  'FAN_ACCESS',
  'FAN_MODIFY',
  'FAN_ATTRIB',
  'FAN_CLOSE_WRITE',
  'FAN_CLOSE_NOWRITE',
  'FAN_OPEN',
  'FAN_DELETE_SELF',
  'FAN_MOVE_SELF',
  'FAN_OPEN_EXEC',
].reduce((mask, name) => mask | BITS[name]!, 0n);
const maskOf = (names: string[]): bigint => names.reduce((mask, name) => mask | (name === 'ALL' ? ALL : name === 'OBJECT' ? OBJECT : BITS[name]!), 0n);
const at = (relative: string): string => (relative === '.' ? '/' : `/${relative}`);

/** Performs one script call on fanlog's filesystem; `slots` maps the script's descriptor slots to fds. */
async function perform(engine: Engine, call: string[], slots: Map<string, number>): Promise<void> {
  const [op, a, b, c, d] = call as [string, string, string, string, string];
  const fs = engine.fs;
  switch (op) {
    case 'mkdir':
      return fs.mkdir(at(a));
    case 'mknod':
      return fs.create(at(a));
    case 'symlink':
      return fs.symlink(a, at(b));
    case 'link':
      return fs.link(at(a), at(b));
    case 'rename':
      return fs.rename(at(a), at(b));
    case 'unlink':
      return fs.unlink(at(a));
    case 'rmdir':
      return fs.rmdir(at(a));
    case 'open':
      return void slots.set(a, await fs.open(at(b), c as 'r' | 'w' | 'rw', { truncate: d === 'trunc' }));
    case 'close':
      return fs.close(slots.get(a)!);
    case 'read':
      return void (await fs.read(slots.get(a)!, Number(b), Number(c)));
    case 'write':
      return void (await fs.write(slots.get(a)!, Number(b), Number(c)));
    case 'truncate':
      return fs.truncate(at(a), Number(b));
    case 'chmod':
      return fs.chmod(at(a), Number.parseInt(b, 8));
    case 'chown':
      return fs.chown(at(a), Number(b), Number(c));
    case 'utimes':
      return fs.utimes(at(a), 1000n * 10n ** 9n, 2000n * 10n ** 9n);
    case 'setxattr':
      return fs.setxattr(at(a), b, Uint8Array.of(0x76));
    case 'removexattr':
      return fs.removexattr(at(a), b);
    default:
      throw new Error(`unknown script operation ${op}`);
  }
}

/** What a group saw, as the kernel reports it: the low 32 bits, and names ('.' for a directory's own events). */
function seen(events: QueuedEvent[]): Seen {
  let mask = 0n;
  const names = new Set<string>();
  for (const event of events) {
    mask |= event.mask & 0xffff_ffffn;
    const aboutDirectoryItself = (event.mask & FAN_ONDIR) !== 0n && (event.mask & FAN_DIRENT_EVENTS) === 0n;
    if (aboutDirectoryItself) names.add('.');
    else if (event.name !== undefined) names.add(event.name);
    // A rename's events name the old entry too (a link's CREATE carries the source path, but only its new name is reported).
    if (event.oldPath !== undefined && (event.mask & (FAN_MOVED_FROM | FAN_MOVED_TO | FAN_RENAME)) !== 0n)
      names.add(event.oldPath.slice(event.oldPath.lastIndexOf('/') + 1));
  }
  return { mask: `0x${mask.toString(16)}`, names: [...names].sort() };
}

describe(`events as the kernel raises them (fixture from Linux ${fixture.kernel})`, () => {
  it('gives every group, for every operation, the bits and names real fanotify gives, but for the listed deviations', async () => {
    const engine = await Engine.open('/e', { io: new MemoryIo(), store: 'files' });
    for (const call of script.setup) await perform(engine, call, new Map());
    const queues = new Map<string, EventQueue>();
    for (const group of script.groups) {
      const created = await engine.groups.create(group.name);
      await created.mark({ path: at(group.path), scope: group.kind, mask: maskOf(group.mask) });
      queues.set(group.name, created.openQueue());
    }
    const deviations = new Map(fixture.deviations.map((deviation) => [`${deviation.step}/${deviation.group}`, deviation]));
    const slots = new Map<string, number>();
    const differences: string[] = [];
    for (const { step, call, groups } of fixture.steps) {
      expect(call).toEqual(script.steps[step]);
      await perform(engine, call, slots);
      for (const [name, kernel] of Object.entries(groups)) {
        const fanlog = seen(await queues.get(name)!.read({ max: 1000 }));
        const deviation = deviations.get(`${step}/${name}`);
        const want = deviation?.fanlog ?? { mask: kernel.mask, names: [...kernel.names].sort() };
        if (JSON.stringify(fanlog) !== JSON.stringify(want)) {
          differences.push(
            `step ${step} (${call.join(' ')}), group ${name}: fanlog ${fanlog.mask} [${fanlog.names}], ${deviation === undefined ? 'kernel' : 'deviation'} ${want.mask} [${want.names}]`,
          );
        }
      }
    }
    expect(differences).toEqual([]);
    await engine.close();
  });

  it('lists each deviation with its reason, for a step and group the fixture has', () => {
    for (const deviation of fixture.deviations) {
      expect(deviation.reason.length).toBeGreaterThan(20);
      expect(fixture.steps[deviation.step]?.groups[deviation.group]).toBeDefined();
    }
  });
});
