/**
 * Control calls raced against each other, for the crash campaign: the
 * calls of one scenario are made in one turn of the event loop, not
 * awaited one by one, on scratch objects the model follows (consumers
 * 'scratch-0' and 'scratch-1', notification group 'tmp'):
 *
 *   register twice    two registrations of one name: exactly one resolves,
 *                     the other is EEXIST
 *   ack, deregister   an ack and a deregistration of one consumer
 *   filter, ack       an ack under way while a read finds the consumer's
 *                     filter throwing, which detaches it, or while a call
 *                     detaches it
 *   marks, destroy    two marks of one group, and sometimes its destroy
 *   create            the group, again
 *   destroy, request  a content group is destroyed while a guarded open's
 *                     request for it is being appended: the open must be
 *                     allowed, not wait for ever
 *
 * Every call tells the model when it starts and how it settled; after
 * recovery each object must be what its resolved calls, in the order they
 * resolved, leave (checks.ts). An object with a call in flight, or one that
 * failed with an I/O error (which may or may not have landed), is not held
 * to anything until its next resolved registration or creation.
 */
import type { Engine } from '../fanlog.js';
import { FAN_CREATE, FAN_DELETE, FAN_OPEN_PERM } from '../engine/notify/masks.js';
import type { Prng } from '../journal/prng.js';
import type { ControlChange, Observer } from './workload.js';

/** Codes a control call may be refused with, having changed nothing. */
const REFUSALS = new Set(['EEXIST', 'ENOENT', 'ENOTDIR', 'EBUSY', 'EEVICTED']);
export const SCRATCH_CONSUMERS = ['scratch-0', 'scratch-1'];
export const FLAKY_FILTER = 'flaky';

export class ControlRaces {
  /** While true, the 'flaky' filter throws. */
  flaky = false;
  /** Guarded opens started by the destroy scenario that have not settled. */
  readonly hanging = new Set<Promise<unknown>>();

  readonly #prng: Prng;
  readonly #observer: Observer;
  readonly #unexpected: (error: unknown) => void;
  constructor(prng: Prng, observer: Observer, unexpected: (error: unknown) => void) {
    this.#unexpected = unexpected;
    this.#observer = observer;
    this.#prng = prng;
  }

  /** Registers the flaky filter on a newly opened engine. */
  opened(engine: Engine): void {
    engine.filters.register(FLAKY_FILTER, () => () => {
      if (this.flaky) throw new Error('the flaky filter threw');
      return true;
    });
  }

  /** Runs a call on `object`, telling the observer how it settled; resolves with `{ value }` when it resolved, else undefined. */
  async #track<T>(object: string, call: () => Promise<T>, change: (value: T) => ControlChange): Promise<{ value: T } | undefined> {
    this.#observer.controlStarted(object);
    let value: T;
    try {
      value = await call();
    } catch (error) {
      const code = (error as { code?: string }).code ?? '';
      this.#observer.controlSettled(object, { type: REFUSALS.has(code) ? 'refused' : 'failed' });
      if (!REFUSALS.has(code)) this.#unexpected(error);
      return undefined;
    }
    this.#observer.controlSettled(object, change(value));
    return { value };
  }

  /** One scenario, chosen by the seed. */
  async play(engine: Engine): Promise<void> {
    const prng = this.#prng;
    const name = prng.pick(SCRATCH_CONSUMERS);
    const consumerKey = `consumer:${name}`;
    const present = engine.consumers.list().some((info) => info.name === name && info.evicted === null);
    switch (prng.int(6)) {
      case 0:
        return present ? undefined : this.#registerTwice(engine, name, consumerKey);
      case 1:
        return present ? this.#ackAndDeregister(engine, name, consumerKey) : undefined;
      case 2:
        return present ? this.#filterRace(engine, name, consumerKey) : undefined;
      case 3:
        return this.#markRace(engine);
      case 4:
        return this.#createTmp(engine);
      default:
        return this.#destroyDuringAppend(engine);
    }
  }

  /** Two concurrent registrations of one name: at most one resolves. */
  async #registerTwice(engine: Engine, name: string, consumerKey: string): Promise<void> {
    const outcomes = await Promise.all(
      [0, 1].map(() =>
        this.#track(
          consumerKey,
          () => engine.consumers.register(name, { from: 'next' }),
          () => ({ type: 'register' }),
        ),
      ),
    );
    const registered = outcomes.filter((outcome) => outcome !== undefined).length;
    if (registered > 1) this.#observer.violation(12, `two concurrent registrations of '${name}' both resolved`);
    else this.#observer.checked();
  }

  /** An ack racing a deregistration. */
  async #ackAndDeregister(engine: Engine, name: string, consumerKey: string): Promise<void> {
    const consumer = engine.consumers.get(name);
    const [record] = await consumer.read({ max: 1 }).catch(() => []);
    const calls: Promise<unknown>[] = [];
    if (record !== undefined)
      calls.push(
        this.#track(
          consumerKey,
          () => consumer.ack(record.seq),
          () => ({ type: 'ack', seq: record.seq }),
        ),
      );
    calls.push(
      this.#track(
        consumerKey,
        () => engine.consumers.deregister(name),
        () => ({ type: 'deregister' }),
      ),
    );
    await Promise.all(calls);
  }

  /** An ack racing a filter that throws and is detached, or a detach call. */
  async #filterRace(engine: Engine, name: string, consumerKey: string): Promise<void> {
    const prng = this.#prng;
    const consumer = engine.consumers.get(name);
    if (consumer.info().filter === null) {
      await this.#track(
        consumerKey,
        () => consumer.attachFilter(FLAKY_FILTER, ''),
        () => ({ type: 'attach' }),
      );
    }
    const [record] = await consumer.read({ max: 1 }).catch(() => []);
    if (record === undefined) return;
    const acking = this.#track(
      consumerKey,
      () => consumer.ack(record.seq),
      () => ({ type: 'ack', seq: record.seq }),
    );
    if (prng.chance(0.5)) {
      // The filter throws on the next read and is detached in the background...
      this.flaky = true;
      await consumer.read({ max: 4 }).catch(() => []);
      this.flaky = false;
    } else {
      // ...or is detached by a call, racing the ack.
      await this.#track(
        consumerKey,
        () => consumer.detachFilter(),
        () => ({ type: 'attach' }),
      );
    }
    await acking;
  }

  /** Two marks on one group, maybe racing its destroy. */
  async #markRace(engine: Engine): Promise<void> {
    const prng = this.#prng;
    if (engine.groups.find('tmp') === null) return;
    const group = engine.groups.get('tmp');
    const calls = [
      this.#track(
        'group:tmp',
        () => group.mark({ path: '/d', scope: 'mount', mask: FAN_CREATE }),
        () => ({ type: 'mark', path: '/d' }),
      ),
      this.#track(
        'group:tmp',
        () => group.mark({ path: '/d/s', scope: 'mount', mask: FAN_DELETE }),
        () => ({ type: 'mark', path: '/d/s' }),
      ),
    ];
    if (prng.chance(0.4))
      calls.push(
        this.#track(
          'group:tmp',
          () => group.destroy(),
          () => ({ type: 'destroy' }),
        ),
      );
    await Promise.all(calls);
  }

  /** A group created. */
  async #createTmp(engine: Engine): Promise<void> {
    if (engine.groups.find('tmp') !== null) return;
    await this.#track(
      'group:tmp',
      () => engine.groups.create('tmp'),
      () => ({ type: 'create' }),
    );
  }

  /** A destroy that starts while a permission request is being appended. */
  async #destroyDuringAppend(engine: Engine): Promise<void> {
    if (engine.groups.find('tmp-av') !== null) return;
    const file = engine.fs.readdir('/d/s').then((names) => names.find((entry) => !entry.startsWith('.')));
    const target = await file.catch(() => undefined);
    if (target === undefined) return;
    const created = await this.#track(
      'group:tmp-av',
      () => engine.groups.create('tmp-av', { class: 'content' }),
      () => ({ type: 'create' }),
    );
    if (created === undefined) return;
    const group = created.value;
    const marked = await this.#track(
      'group:tmp-av',
      () => group.mark({ path: '/d/s', scope: 'mount', mask: FAN_OPEN_PERM }),
      () => ({ type: 'mark', path: '/d/s' }),
    );
    if (marked === undefined) {
      await this.#track(
        'group:tmp-av',
        () => group.destroy(),
        () => ({ type: 'destroy' }),
      );
      return;
    }
    // The open's request is appended now; the destroy starts before it is durable.
    const opening = engine.fs
      .open(`/d/s/${target}`, 'r', {}, { pid: 900 })
      .then((fd) => engine.fs.close(fd, { pid: 900 }))
      .catch(() => undefined);
    this.hanging.add(opening);
    void opening.finally(() => this.hanging.delete(opening));
    await this.#track(
      'group:tmp-av',
      () => group.destroy(),
      () => ({ type: 'destroy' }),
    );
  }
}
