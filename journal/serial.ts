/**
 * Serial: runs asynchronous work one piece at a time, in call order.
 *
 * The journal's disk steps run through one, and so do the walks of a
 * journal reader and the reads of a consumer. Every read-modify-write of a group, a consumer or a registry's catalog
 * runs through the Serial of the object it changes, and reads the state it
 * modifies only once its turn has come. So whatever way concurrent calls
 * interleave, what is stored equals what some serial order of the calls
 * that resolved would have stored: a write can never carry a state read
 * before another write landed (a lost update), nor write to an object a
 * call before it removed.
 */
export class Serial {
  #tail: Promise<unknown> = Promise.resolve();

  /** Runs `work` after everything queued before it has settled; resolves or rejects as it does. */
  run<T>(work: () => Promise<T>): Promise<T> {
    const turn = this.#tail.then(work);
    this.#tail = turn.catch(() => undefined);
    return turn;
  }

  /** Resolves once everything queued so far has settled. */
  idle(): Promise<void> {
    return this.#tail.then(() => undefined);
  }
}
