/**
 * The workload's random filesystem calls and the names they use: paths it
 * made (they may be gone since), fresh names now and then drawn from all of
 * UTF-16 or from arbitrary bytes, and descriptors it opened.
 */
import type { FanlogFs, ProcessContext } from '../engine/fs/fs.js';
import type { Prng } from '../journal/prng.js';

const NAMES = ['a', 'b', 'c'];

export class Names {
  readonly dirs = ['/d', '/d/s'];
  readonly files: string[] = [];
  /** Paths made with lone surrogates: no call may succeed with one. */
  readonly illFormed = new Set<string>();

  readonly #prng: Prng;
  constructor(prng: Prng) {
    this.#prng = prng;
  }

  /** A path the workload made (it may be gone since), or a directory. */
  path(): string {
    return this.#prng.chance(0.75) && this.files.length > 0 ? this.#prng.pick(this.files) : this.#prng.pick(this.dirs);
  }

  /**
   * A new name in one of the directories, remembered in `into` when given.
   * Now and then it is drawn from all of UTF-16 (lone surrogates included:
   * UTF-8 cannot hold them, so the call must be EINVAL) or from arbitrary
   * bytes read as Latin-1 (well-formed, however odd: they must round-trip).
   */
  fresh(into?: string[]): string {
    const roll = this.#prng.next();
    let name = `${this.#prng.pick(NAMES)}${this.#prng.int(6)}`;
    if (roll < 0.06) name = this.#utf16Name();
    else if (roll < 0.1)
      name = Buffer.from(this.#prng.bytes(this.#prng.between(1, 8)).map((byte) => (byte === 0x2f || byte === 0 ? 0x5f : byte))).toString('latin1');
    const made = `${this.#prng.pick(this.dirs)}/${name}`;
    if (made.isWellFormed()) into?.push(made);
    else this.illFormed.add(made);
    return made;
  }

  #utf16Name(): string {
    const units: number[] = [];
    for (let i = this.#prng.between(1, 6); i > 0; i--) {
      let unit = this.#prng.between(1, 0xffff);
      if (unit === 0x2f) unit = 0x2e2f;
      units.push(unit);
    }
    const name = String.fromCharCode(...units);
    return name === '.' || name === '..' ? `${name}x` : name;
  }
}

/** One call of the filesystem API, drawn at random, with its arguments drawn when it is made. */
export function randomCall(fs: FanlogFs, names: Names, fds: number[], prng: Prng, ctx: ProcessContext): () => Promise<unknown> {
  const fd = (): number => (fds.length === 0 ? 999 : prng.pick(fds));
  const calls: (() => Promise<unknown>)[] = [
    () => fs.mkdir(names.fresh(names.dirs), {}, ctx),
    () => fs.create(names.fresh(names.files), { size: prng.int(300_000), offline: prng.chance(0.5) }, ctx),
    () =>
      fs
        .open(names.path(), prng.pick(['r', 'w', 'rw'] as const), { create: prng.chance(0.3), truncate: prng.chance(0.1) }, ctx)
        .then((opened) => void fds.push(opened)),
    () => fs.read(fd(), prng.int(300_000), prng.between(1, 70_000), ctx),
    () => fs.read(fd(), prng.int(300_000), prng.between(1, 70_000), ctx),
    () => fs.write(fd(), prng.int(300_000), prng.between(1, 20_000), ctx),
    () => fs.fault(fd(), prng.int(300_000), { write: prng.chance(0.3) }, ctx),
    () => fs.close(fds.length === 0 ? 999 : fds.splice(prng.int(fds.length), 1)[0]!, ctx),
    () => fs.truncate(names.path(), prng.int(300_000), ctx),
    () => fs.unlink(names.path(), ctx),
    () => fs.rmdir(prng.pick(names.dirs), ctx),
    () => fs.rename(names.path(), prng.chance(0.5) ? names.fresh(names.files) : names.path(), ctx),
    () => fs.link(names.path(), names.fresh(names.files), ctx),
    () => fs.symlink(prng.pick(['f0', '/d/f1', '../x']), names.fresh(), ctx),
    () => fs.chmod(names.path(), prng.int(0o777), ctx),
    () => fs.setxattr(names.path(), prng.pick(['user.a', 'user.b']), prng.bytes(prng.int(16)), ctx),
    // Entries near and over the segment size (8 KiB in simulated runs): they get a segment of their own.
    () => fs.setxattr(names.path(), 'user.big', prng.bytes(prng.pick([7900, 8150, 8192, 9000, 20_000, 65_536])), ctx),
    () => fs.removexattr(names.path(), 'user.a', ctx),
    () => fs.hsmFill(names.path(), prng.int(300_000), prng.int(100_000), ctx),
    () => fs.hsmRelease(names.path(), ctx),
  ];
  return calls[prng.int(calls.length)]!;
}
