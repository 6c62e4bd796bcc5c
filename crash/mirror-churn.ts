/**
 * The seeded churn of the campaign's mirror runs (mirror-run.ts): changes
 * to a real directory made with Node's synchronous fs calls, each applied
 * to a model too, so that the run can hold what the mirror journaled to
 * what happened.
 *
 *   model   objects by a serial of the churn's own, their names and the
 *           renames over a file (mirror-names.ts: which renames the
 *           mirror may journal), and the tree, path -> object. A path is
 *           `rel` ('a/b'); a name that is not UTF-8
 *           is held escaped (disk.ts) and is never picked again (only an
 *           ancestor's rename or delete moves it)
 *   ops     create, write, append, truncate; mkdir; rename of a file,
 *           symlink or directory within or across directories, onto a
 *           free name or over a file; hard link; symlink; chmod; delete of
 *           a file, symlink or directory with its subtree; inode reuse (a
 *           file with one name deleted and a directory or file made at
 *           once: ext4 gives it the file's inode, counted when it did);
 *           a file or a directory (with a file in it) whose name is not
 *           UTF-8; a symlink whose target is not UTF-8
 *   unseen  inotify tells a write (or chmod) through a name only to that
 *           name's directory: a file written through a link that is
 *           deleted before the mirror looks is changed under its other
 *           names without a word to any watched directory (a limit of
 *           directory watches, README). Such a file is `unseen`: the run
 *           checks only its type
 *   burst   (the run stops the mirroring process meanwhile) files made and
 *           deleted until the inotify queue is full, then survivors made
 *           and files renamed, events the full queue has no room for
 */
import { execFileSync } from 'node:child_process';
import {
  appendFileSync,
  chmodSync,
  closeSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
  symlinkSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import type { Prng } from '../journal/prng.js';
import { escapeBytes } from '../mirror/disk.js';
import { ChurnNames, type ChurnType } from './mirror-names.js';

export type { ChurnType } from './mirror-names.js';

const join = (dir: string, name: string): string => (dir === '' ? name : `${dir}/${name}`);
const nameOf = (rel: string): string => rel.slice(rel.lastIndexOf('/') + 1);
/** A path that holds no escaped name (churn names never hold a backslash). */
const addressable = (rel: string): boolean => !rel.includes('\\');

export class Churn {
  readonly #names = new ChurnNames();
  /** The tree now: path -> object. */
  readonly #at = new Map<string, number>();
  #serial = 0;
  /** Inode reuses the churn made happen (a new object took a deleted file's inode). */
  reuses = 0;
  /** Names (and symlink targets) made that are not UTF-8. */
  unmirrorable = 0;
  /** Objects written through a name, by the names. */
  readonly #writtenThrough = new Map<number, Set<string>>();
  /** Objects written through a name deleted since, that kept other names (see the header). */
  readonly #unseen = new Set<number>();

  readonly #prng: Prng;
  readonly #root: string;
  constructor(
    prng: Prng,
    /** The mirrored directory. */
    root: string,
  ) {
    this.#root = root;
    this.#prng = prng;
    mkdirSync(root, { recursive: true });
  }

  /** Whether a rename of `from` to `to` journaled by the mirror (`byPath`: in a start scan) is one the churn explains (mirror-names.ts). */
  explainsRename(from: string, to: string, type: ChurnType, byPath = false): boolean {
    return this.#names.explainsRename(nameOf(from), nameOf(to), type, byPath);
  }

  /** Whether the object at `rel` may have changed unseen (see the header). */
  unseen(rel: string): boolean {
    const id = this.#at.get(rel);
    return id !== undefined && this.#unseen.has(id);
  }

  /** `count` random changes. */
  run(count: number): void {
    for (let i = 0; i < count; i++) this.step();
  }

  /** One random change (the first few make a tree to change). */
  step(): void {
    const files = this.#paths('file');
    const roll = files.length < 8 ? this.#prng.int(2) : this.#prng.int(24);
    if (roll <= 3) this.#create();
    else if (roll <= 5) this.#mkdir();
    else if (roll === 6) this.#write(this.#prng.pick(files), 'write');
    else if (roll === 7) this.#write(this.#prng.pick(files), 'append');
    else if (roll === 8) this.#write(this.#prng.pick(files), 'truncate');
    else if (roll <= 10) this.#renameEntry();
    else if (roll === 11) this.#renameDir();
    else if (roll === 12) this.#link(this.#prng.pick(files));
    else if (roll === 13) this.#symlink(false);
    else if (roll === 14) this.#chmod();
    else if (roll <= 16) this.#deleteEntry();
    else if (roll === 17) this.#deleteDir();
    else if (roll <= 20) this.#reuse();
    else if (roll === 21 && this.#prng.chance(0.25)) this.#fifo();
    else if (roll === 21) this.#badName();
    else if (roll === 22) this.#symlink(true);
    else this.#create();
  }

  /** Made while the mirroring process is stopped: past `queueMax` inotify events, then the changes whose events find no room. */
  burst(queueMax: number): void {
    const dirs = this.#paths('dir');
    // Two events each (create, delete): the queue is full well before the end.
    const fill = Math.ceil(queueMax / 2) + 500;
    for (let i = 0; i < fill; i++) {
      const path = `${this.#root}/${join(this.#prng.pick(dirs), `burst${this.#serial}-${i}`)}`;
      closeSync(openSync(path, 'w'));
      unlinkSync(path);
    }
    for (let i = 0; i < 50; i++) this.#create();
    for (let i = 0; i < 10; i++) this.#renameEntry();
  }

  #abs(rel: string): string {
    return rel === '' ? this.#root : `${this.#root}/${rel}`;
  }

  #fresh(): string {
    return `n${this.#serial++}`;
  }

  /** Addressable paths of this type now ('' is the root, a directory). */
  #paths(type: ChurnType): string[] {
    const paths = type === 'dir' ? [''] : [];
    for (const [path, id] of this.#at) if (this.#names.typeOf(id) === type && addressable(path)) paths.push(path);
    return paths;
  }

  #add(rel: string, type: ChurnType): void {
    const id = this.#serial++;
    this.#names.add(id, type, nameOf(rel));
    this.#at.set(rel, id);
  }

  #create(): void {
    const rel = join(this.#prng.pick(this.#paths('dir')), this.#fresh());
    writeFileSync(this.#abs(rel), this.#prng.bytes(this.#prng.int(64)));
    this.#add(rel, 'file');
  }

  #mkdir(): void {
    const rel = join(this.#prng.pick(this.#paths('dir')), this.#fresh());
    mkdirSync(this.#abs(rel));
    this.#add(rel, 'dir');
  }

  /** A name goes: if its object was written through it and keeps other names, what was written may go unseen. */
  #unlinked(rel: string): void {
    const id = this.#at.get(rel);
    this.#at.delete(rel);
    if (id === undefined || this.#writtenThrough.get(id)?.has(nameOf(rel)) !== true) return;
    if ([...this.#at.values()].includes(id)) this.#unseen.add(id);
  }

  #touched(rel: string): void {
    const id = this.#at.get(rel)!;
    this.#writtenThrough.set(id, (this.#writtenThrough.get(id) ?? new Set()).add(nameOf(rel)));
  }

  #write(rel: string, how: 'write' | 'append' | 'truncate'): void {
    this.#touched(rel);
    if (how === 'write') writeFileSync(this.#abs(rel), this.#prng.bytes(this.#prng.int(64)));
    else if (how === 'append') appendFileSync(this.#abs(rel), 'z');
    else truncateSync(this.#abs(rel), this.#prng.int(10));
  }

  /** A file or symlink renamed, to a free name or over a file, in its directory or another. */
  #renameEntry(): void {
    const from = [...this.#paths('file'), ...this.#paths('symlink')];
    if (from.length === 0) return;
    const rel = this.#prng.pick(from);
    const over = this.#paths('file').filter((path) => path !== rel);
    const to =
      over.length > 0 && this.#prng.chance(0.25)
        ? this.#prng.pick(over)
        : join(this.#prng.chance(0.5) ? this.#prng.pick(this.#paths('dir')) : rel.slice(0, Math.max(0, rel.lastIndexOf('/'))), this.#fresh());
    renameSync(this.#abs(rel), this.#abs(to));
    const id = this.#at.get(rel)!;
    // rename(2) of two links of one file does nothing.
    if (this.#at.get(to) === id) return;
    const replaced = this.#at.get(to);
    if (replaced !== undefined) this.#unlinked(to);
    this.#at.delete(rel);
    this.#at.set(to, id);
    if (replaced === undefined) this.#names.named(id, nameOf(to));
    else this.#names.renamedOver(id, nameOf(to), replaced);
  }

  /** A directory renamed into another (never into itself), its subtree with it. */
  #renameDir(): void {
    const dirs = this.#paths('dir').filter((path) => path !== '');
    if (dirs.length === 0) return;
    const rel = this.#prng.pick(dirs);
    const parent = this.#prng.pick(this.#paths('dir').filter((path) => path !== rel && !path.startsWith(`${rel}/`)));
    const to = join(parent, this.#fresh());
    renameSync(this.#abs(rel), this.#abs(to));
    this.#names.named(this.#at.get(rel)!, nameOf(to));
    for (const [path, id] of [...this.#at]) {
      if (path !== rel && !path.startsWith(`${rel}/`)) continue;
      this.#at.delete(path);
      this.#at.set(to + path.slice(rel.length), id);
    }
  }

  #link(rel: string): void {
    const to = join(this.#prng.pick(this.#paths('dir')), this.#fresh());
    linkSync(this.#abs(rel), this.#abs(to));
    const id = this.#at.get(rel)!;
    this.#at.set(to, id);
    this.#names.named(id, nameOf(to));
  }

  #symlink(badTarget: boolean): void {
    const rel = join(this.#prng.pick(this.#paths('dir')), this.#fresh());
    symlinkSync(badTarget ? Buffer.from([0x74, 0xff, 0x2f, 0x78]) : `../t${this.#serial}`, this.#abs(rel));
    if (badTarget) this.unmirrorable++;
    this.#add(rel, 'symlink');
  }

  #chmod(): void {
    const dirs = this.#paths('dir').filter((path) => path !== '');
    const files = this.#paths('file');
    if (dirs.length > 0 && this.#prng.chance(0.3)) chmodSync(this.#abs(this.#prng.pick(dirs)), this.#prng.pick([0o755, 0o750, 0o700]));
    else if (files.length > 0) {
      const rel = this.#prng.pick(files);
      this.#touched(rel);
      chmodSync(this.#abs(rel), this.#prng.pick([0o644, 0o640, 0o600]));
    }
  }

  #deleteEntry(): void {
    const from = [...this.#paths('file'), ...this.#paths('symlink')];
    if (from.length === 0) return;
    const rel = this.#prng.pick(from);
    unlinkSync(this.#abs(rel));
    this.#unlinked(rel);
  }

  #deleteDir(): void {
    const dirs = this.#paths('dir').filter((path) => path !== '');
    if (dirs.length === 0) return;
    const rel = this.#prng.pick(dirs);
    rmSync(this.#abs(rel), { recursive: true });
    for (const path of [...this.#at.keys()]) if (path === rel || path.startsWith(`${rel}/`)) this.#unlinked(path);
  }

  /** A file with one name deleted, and at once a directory or a file made: ext4 hands the new one the file's inode. */
  #reuse(): void {
    const single = this.#paths('file').filter((path) => [...this.#at.values()].filter((id) => id === this.#at.get(path)).length === 1);
    if (single.length === 0) return this.#create();
    const rel = this.#prng.pick(single);
    const ino = lstatSync(this.#abs(rel)).ino;
    unlinkSync(this.#abs(rel));
    this.#at.delete(rel);
    const to = join(this.#prng.pick(this.#paths('dir')), this.#fresh());
    const type = this.#prng.chance(0.5) ? 'dir' : 'file';
    if (type === 'dir') mkdirSync(this.#abs(to));
    else writeFileSync(this.#abs(to), 'r');
    this.#add(to, type);
    if (lstatSync(this.#abs(to)).ino === ino) this.reuses++;
  }

  /** A FIFO, which the engine has no type for: never touched again (opening it to write would wait for a reader). */
  #fifo(): void {
    const dir = this.#prng.pick(this.#paths('dir'));
    execFileSync('mkfifo', [this.#abs(join(dir, `${this.#fresh()}.fifo`))]);
    this.unmirrorable++;
  }

  /** A file, or a directory with a file in it, whose name is not UTF-8. */
  #badName(): void {
    const dir = this.#prng.pick(this.#paths('dir'));
    const bytes = Buffer.concat([Buffer.from(`${this.#fresh()}-`), Buffer.from([this.#prng.pick([0xff, 0xfe, 0xc0, 0x80])])]);
    const abs = Buffer.concat([Buffer.from(`${this.#abs(dir)}/`), bytes]);
    const rel = join(dir, escapeBytes(bytes));
    if (this.#prng.chance(0.5)) {
      writeFileSync(abs, 'odd');
      this.#add(rel, 'file');
    } else {
      mkdirSync(abs);
      writeFileSync(Buffer.concat([abs, Buffer.from('/inside')]), 'i');
      this.#add(rel, 'dir');
      this.#add(`${rel}/inside`, 'file');
    }
    this.unmirrorable++;
  }
}
