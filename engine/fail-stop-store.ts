/**
 * The engine's view of its MetaStore: every commit first checks that the
 * engine is usable, and a commit that fails puts the whole engine in its
 * failed state (invariant 7). Without it a failed store write (a cursor, a
 * group's configuration, a checkpoint) would fail one call while the engine
 * carried on, its durable state no longer what it believes.
 */
import type { MetaOp, MetaStore } from './meta-store.js';

export class FailStopStore implements MetaStore {
  constructor(
    private readonly inner: MetaStore,
    private readonly checkUsable: () => void,
    private readonly fail: (error: unknown) => Error,
  ) {}

  get(key: string): Promise<Uint8Array | undefined> {
    return this.inner.get(key);
  }

  scan(prefix: string): AsyncIterable<[key: string, value: Uint8Array]> {
    return this.inner.scan(prefix);
  }

  async commit(ops: readonly MetaOp[]): Promise<void> {
    this.checkUsable();
    try {
      await this.inner.commit(ops);
    } catch (error) {
      throw this.fail(error);
    }
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
