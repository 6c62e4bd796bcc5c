/**
 * What the churn of the campaign's mirror runs (mirror-churn.ts) knows of
 * its objects' names, to hold each rename the mirror journaled to what
 * happened on disk.
 *
 *   objects    by a serial of the churn's own (which no inode reuse can
 *              confuse): the type and every name the object ever had.
 *              Every name the churn gives is new (`n<serial>`) but one a
 *              file is renamed over, so a name is one object's until then
 *   overs      each rename over a file: the object renamed and the one
 *              whose name it took
 *   a rename   the mirror journals joins two names of one object, whatever
 *              it took the directories to be meanwhile (names, not paths,
 *              are compared); or, in a start scan, where identities are
 *              rebuilt by path (docs/guide/mirror.md, limits: a file
 *              replaced at its path while no mirror ran is seen as a
 *              modify), it joins a name of a file replaced at one of its
 *              names to a name of the file that replaced it: the engine's
 *              file took the new one's identity at the shared name, and
 *              its other names go where the new one's are
 */

export type ChurnType = 'file' | 'dir' | 'symlink';

interface ChurnObject {
  type: ChurnType;
  /** Every name it ever had. */
  names: Set<string>;
}

export class ChurnNames {
  readonly #objects = new Map<number, ChurnObject>();
  /** Each rename over a file: [the object renamed, the object replaced]. */
  readonly #overs: [by: number, over: number][] = [];

  /** A new object `id`, named `name`. */
  add(id: number, type: ChurnType, name: string): void {
    this.#objects.set(id, { type, names: new Set([name]) });
  }

  typeOf(id: number): ChurnType {
    return this.#objects.get(id)!.type;
  }

  /** Object `id` has the name `name` too (a rename or a hard link). */
  named(id: number, name: string): void {
    this.#objects.get(id)!.names.add(name);
  }

  /** Object `id` was renamed over `name`, a name of object `over` until then. */
  renamedOver(id: number, name: string, over: number): void {
    this.named(id, name);
    this.#overs.push([id, over]);
  }

  /** Whether a rename of `from` to `to` of an object of this type, journaled by the mirror (`byPath`: in a start scan), is one the churn explains. */
  explainsRename(from: string, to: string, type: ChurnType, byPath = false): boolean {
    for (const object of this.#objects.values()) if (object.type === type && object.names.has(from) && object.names.has(to)) return true;
    if (!byPath) return false;
    return this.#overs.some(([by, over]) => {
      const [a, b] = [this.#objects.get(over)!, this.#objects.get(by)!];
      return a.type === type && b.type === type && a.names.has(from) && b.names.has(to);
    });
  }
}
