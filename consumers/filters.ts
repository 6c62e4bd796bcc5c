/**
 * Fastpath filters: small named predicates that run inside the engine on
 * each record a consumer scans, before it is delivered, so that a consumer
 * skips irrelevant records for almost nothing.
 *
 * A filter is registered by name as a factory; a consumer attaches one by
 * name with a string argument (at most 1024 bytes), and the factory turns
 * the argument into the predicate. A predicate is given a record header
 * (kind, op, mask, fid, path, old path): a view whose fields are decoded
 * when read (engine/record/view.ts). Built-ins decide from the record's
 * bytes without decoding anything: each also has a raw test (`rawTestOf`),
 * which the consumer runs instead.
 *   path-prefix <prefix>   records whose path (or old path) is the prefix or under it
 *   mask <hex>             records whose mask has any of these bits
 * A note (a mirror's scan: it says records before it may not be exact)
 * passes both when the tree it is about holds the prefix, or any mask.
 */
import { FanlogError, invalid } from '../errors.js';
import { hasMaskAt, maskMeetsAt, pathAboveAt, pathUnderAt, type RecordHeader } from '../engine/record/view.js';
import { kindAt } from '../engine/record/bytes.js';
import { checkName } from '../validate.js';

export type FilterPredicate = (header: RecordHeader) => boolean;
export type FilterFactory = (argument: string) => FilterPredicate;
/** A built-in's test on a record's bytes, `b[start, end)`, whose header is known (`headerKnown`). */
export type RawTest = (b: Uint8Array, start: number, end: number) => boolean;

export const FILTER_ARGUMENT_BYTES_MAX = 1024;

/** The raw test of each built-in predicate. */
const RAW_TESTS = new WeakMap<FilterPredicate, RawTest>();

/** The raw test standing for `predicate`, if it is a built-in's. */
export function rawTestOf(predicate: FilterPredicate): RawTest | undefined {
  return RAW_TESTS.get(predicate);
}

function withRawTest(predicate: FilterPredicate, raw: RawTest): FilterPredicate {
  RAW_TESTS.set(predicate, raw);
  return predicate;
}

function under(path: string | undefined, prefix: string): boolean {
  if (path === undefined) return false;
  return prefix === '/' || path === prefix || path.startsWith(prefix.endsWith('/') ? prefix : `${prefix}/`);
}

const BUILT_INS: Record<string, FilterFactory> = {
  'path-prefix': (argument) => {
    if (!argument.startsWith('/')) throw invalid(`path-prefix needs an absolute path, got '${argument}'`);
    const prefix = new TextEncoder().encode(argument);
    return withRawTest(
      (header) =>
        under(header.path, argument) ||
        under(header.oldPath, argument) ||
        (header.kind === 'note' && header.path !== undefined && under(argument, header.path)),
      (b, start, end) => pathUnderAt(b, start, end, prefix) || (kindAt(b, start) === 'note' && pathAboveAt(b, start, end, prefix)),
    );
  },
  mask: (argument) => {
    if (!/^(0x)?[0-9a-fA-F]{1,16}$/.test(argument)) throw invalid(`mask needs a hex mask, got '${argument}'`);
    const bits = BigInt(argument.startsWith('0x') ? argument : `0x${argument}`);
    const [low, high] = [Number(bits & 0xffffffffn) | 0, Number(bits >> 32n) | 0];
    return withRawTest(
      (header) => (header.mask !== undefined && (header.mask & bits) !== 0n) || header.kind === 'note',
      // Any other record without a mask does not pass a mask filter.
      (b, start, end) => (hasMaskAt(b, start, end) && maskMeetsAt(b, start, end, low, high)) || kindAt(b, start) === 'note',
    );
  },
};

export class Filters {
  readonly #factories = new Map<string, FilterFactory>(Object.entries(BUILT_INS));

  /** Registers a filter factory; EEXIST if the name is taken (built-ins included). */
  register(name: string, factory: FilterFactory): void {
    checkName('filter', name);
    if (typeof factory !== 'function') throw invalid('a filter is a function (argument) => (header) => boolean');
    if (this.#factories.has(name)) throw new FanlogError('EEXIST', `filter '${name}' is registered already`);
    this.#factories.set(name, factory);
  }

  has(name: string): boolean {
    return this.#factories.has(name);
  }

  /** Builds the predicate for `name` with `argument`: ENOENT unknown, E2BIG argument too long, EINVAL rejected. */
  build(name: string, argument: string): FilterPredicate {
    const factory = this.#factories.get(name);
    if (factory === undefined) throw new FanlogError('ENOENT', `no filter named '${String(name)}'`);
    if (typeof argument !== 'string' || !argument.isWellFormed()) throw invalid('a filter argument is a well-formed string');
    if (Buffer.byteLength(argument) > FILTER_ARGUMENT_BYTES_MAX)
      throw new FanlogError('E2BIG', `filter argument is longer than ${FILTER_ARGUMENT_BYTES_MAX} bytes`);
    let predicate: FilterPredicate;
    try {
      predicate = factory(argument);
    } catch (error) {
      if (error instanceof FanlogError) throw error;
      throw invalid(`filter '${name}' rejected its argument: ${String(error)}`);
    }
    if (typeof predicate !== 'function') throw invalid(`filter '${name}' did not return a predicate`);
    return predicate;
  }
}
