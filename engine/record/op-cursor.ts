/**
 * An op record read in place, for replay: one reusable cursor that is
 * pointed at each op record's bytes in turn and handed to `FsState.apply`,
 * so that replaying a journal builds no object per record.
 *
 * `point` walks the record's fields once and notes where each lies; the
 * getters decode on access, and only the fields `apply` reads are offered
 * (an op record's path, old path, pid, tid, uid and operation seq are not
 * replay's business). Fids, the range and the attrs come back in objects
 * the cursor owns and refills on the next access: `apply` reads them and
 * never keeps them (engine/model/fs-state.ts). Strings are new (they become directory
 * entries), and an xattr value is copied out of the chunk, so that the
 * state never holds on to journal memory.
 *
 * The record must have been checked whole first (`scanRecord`), as every
 * record the journal's reader hands out is before anyone reads a field.
 */
import assert from 'node:assert/strict';
import { kindAt, opAt, RECORD_FIXED_BYTES, valueAt, valueEnd } from './bytes.js';
import { attrsInto, stringAt, u64At, varintAt, varintEnd } from './values.js';
import { TAG, TAG_MAX_BY_VERSION } from './fields.js';
import type { Attrs, Fid, OpName, OpSource, Range } from './record.js';

const FID_TAG = TAG.fid!;
const PARENT_FID_TAG = TAG.parentFid!;
const OLD_PARENT_FID_TAG = TAG.oldParentFid!;
const NAME_TAG = TAG.name!;
const OLD_NAME_TAG = TAG.oldName!;
const RANGE_TAG = TAG.range!;
const ATTRS_TAG = TAG.attrs!;
const XATTR_TAG = TAG.xattr!;
const VALUE_TAG = TAG.value!;
const TARGET_TAG = TAG.target!;
const OFFLINE_TAG = TAG.offline!;
const ORPHAN_TAG = TAG.orphan!;
/** More than the highest tag of any version (fields.ts TAG_MAX_BY_VERSION). */
const TAG_SLOTS = Math.max(...Object.values(TAG_MAX_BY_VERSION)) + 1;

export class OpCursor implements OpSource {
  readonly kind = 'op' as const;
  #bytes: Uint8Array = new Uint8Array(0);
  #start = 0;
  /** Where each present field's value starts; -1 when absent. */
  readonly #at = new Int32Array(TAG_SLOTS).fill(-1);
  readonly #fid: Fid = { ino: 0, gen: 0 };
  readonly #parentFid: Fid = { ino: 0, gen: 0 };
  readonly #oldParentFid: Fid = { ino: 0, gen: 0 };
  readonly #range: Range = { offset: 0, count: 0 };
  readonly #attrs: Attrs = {};

  /** Points the cursor at the scanned op record in `bytes[start, end)`. */
  point(bytes: Uint8Array, start: number, end: number): this {
    if (kindAt(bytes, start) !== 'op') assert.fail('OpCursor: not an op record');
    this.#bytes = bytes;
    this.#start = start;
    this.#at.fill(-1);
    let at = start + RECORD_FIXED_BYTES;
    while (at < end) {
      const tag = bytes[at++]!;
      this.#at[tag] = at;
      at = valueEnd(bytes, tag, at);
    }
    return this;
  }

  get op(): OpName {
    return opAt(this.#bytes, this.#start);
  }
  get time(): bigint {
    return u64At(this.#bytes, this.#start + 3);
  }
  get fid(): Fid | undefined {
    return this.#fidIn(FID_TAG, this.#fid);
  }
  get parentFid(): Fid | undefined {
    return this.#fidIn(PARENT_FID_TAG, this.#parentFid);
  }
  get oldParentFid(): Fid | undefined {
    return this.#fidIn(OLD_PARENT_FID_TAG, this.#oldParentFid);
  }
  get name(): string | undefined {
    return this.#string(NAME_TAG);
  }
  get oldName(): string | undefined {
    return this.#string(OLD_NAME_TAG);
  }
  get target(): string | undefined {
    return this.#string(TARGET_TAG);
  }
  get xattr(): string | undefined {
    return this.#string(XATTR_TAG);
  }
  get value(): Uint8Array | undefined {
    const at = this.#at[VALUE_TAG]!;
    return at < 0 ? undefined : (valueAt(this.#bytes, VALUE_TAG, at) as Uint8Array);
  }
  get range(): Range | undefined {
    const at = this.#at[RANGE_TAG]!;
    if (at < 0) return undefined;
    this.#range.offset = varintAt(this.#bytes, at);
    this.#range.count = varintAt(this.#bytes, varintEnd(this.#bytes, at));
    return this.#range;
  }
  get attrs(): Attrs | undefined {
    const at = this.#at[ATTRS_TAG]!;
    return at < 0 ? undefined : attrsInto(this.#bytes, at, this.#attrs);
  }
  get offline(): boolean | undefined {
    return this.#at[OFFLINE_TAG]! < 0 ? undefined : true;
  }
  get orphan(): boolean | undefined {
    return this.#at[ORPHAN_TAG]! < 0 ? undefined : true;
  }

  #fidIn(tag: number, fid: Fid): Fid | undefined {
    const at = this.#at[tag]!;
    if (at < 0) return undefined;
    fid.ino = varintAt(this.#bytes, at);
    fid.gen = varintAt(this.#bytes, varintEnd(this.#bytes, at));
    return fid;
  }

  #string(tag: number): string | undefined {
    const at = this.#at[tag]!;
    return at < 0 ? undefined : stringAt(this.#bytes, at);
  }
}
