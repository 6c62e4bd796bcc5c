/**
 * The stream entry of a changelog record: what the replicator appends to a
 * Redis stream and what any reader, in any language, reads back.
 *
 * The entry's ID is `<seq>-0`: the record's fanlog seq is its position in
 * the stream. Its fields, all strings but `record`, wherever each applies
 * (README, "Scale-out with Redis Streams", has the table):
 *   seq, time (ns), kind, op, mask (hex, `0x...`), maskNames (`CREATE|ONDIR`),
 *   path, oldPath, name, fid and parentFid (`ino:gen`), handle and
 *   parentHandle (`0xTYPE:HEX`, where the filesystem's handle holds no fid), range
 *   (`offset:count`), pid, tid, uid, gid, group, response (the number),
 *   requestSeq, source (a mirror's events), reason (a mirror's scan notes),
 *   and `record`: the record's own encoded bytes, which
 *   `decodeRecord` reads losslessly (every field, whatever this table has).
 */
import type { DeliveredRecord } from '../consumers/consumer.js';
import { decodeDelivered } from '../consumers/delivered.js';
import { maskNames } from '../engine/notify/masks.js';
import { type Fid, handleText } from '../engine/record/record.js';
import { FanlogError } from '../errors.js';

const fid = (value: Fid): string => `${value.ino}:${value.gen}`;

/** The entry's fields as a flat list (field, value, ...), for XADD (the replicator's own). @internal */
export function entryFields(record: DeliveredRecord, encoded: Uint8Array): (string | Buffer)[] {
  const fields: (string | Buffer)[] = ['seq', record.seq.toString(), 'time', record.time.toString(), 'kind', record.kind, 'op', record.op];
  const add = (name: string, value: string | undefined): void => {
    if (value !== undefined) fields.push(name, value);
  };
  if (record.mask !== undefined) {
    add('mask', `0x${record.mask.toString(16)}`);
    add('maskNames', maskNames(record.mask).join('|'));
  }
  add('path', record.path);
  add('oldPath', record.oldPath);
  add('name', record.name);
  add('fid', record.fid === undefined ? undefined : fid(record.fid));
  add('parentFid', record.parentFid === undefined ? undefined : fid(record.parentFid));
  add('handle', record.handle === undefined ? undefined : handleText(record.handle));
  add('parentHandle', record.parentHandle === undefined ? undefined : handleText(record.parentHandle));
  add('range', record.range === undefined ? undefined : `${record.range.offset}:${record.range.count}`);
  add('pid', record.pid?.toString());
  add('tid', record.tid?.toString());
  add('uid', record.uid?.toString());
  add('gid', record.gid?.toString());
  add('group', record.group);
  add('response', record.response?.toString());
  add('requestSeq', record.requestSeq?.toString());
  add('source', record.source);
  add('reason', record.reason);
  fields.push('record', Buffer.from(encoded.buffer, encoded.byteOffset, encoded.length));
  return fields;
}

/**
 * The record an entry holds, shaped like a consumer's DeliveredRecord
 * (decoded from its `record` field). `fields` is the entry's flat list as a
 * client returns it with binary replies (ioredis' `xreadBuffer`): field
 * names as text or bytes, the `record` value as bytes. Typed by Uint8Array,
 * of which Buffer is one, so that a user's types need no Node typings.
 */
export function recordOfEntry(id: string, fields: (string | Uint8Array)[]): DeliveredRecord {
  let bytes: Uint8Array | undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const value = fields[i + 1]!;
    if (textOf(fields[i]!) === 'record' && typeof value !== 'string') bytes = value;
  }
  const seq = /^(\d+)-0$/.exec(id)?.[1];
  if (bytes === undefined || seq === undefined)
    throw new FanlogError('ECORRUPT', `stream entry ${id} is not a fanlog record (no 'record' field, or an ID other than <seq>-0)`);
  return decodeDelivered(BigInt(seq), new Uint8Array(bytes));
}

const utf8 = new TextDecoder();
const textOf = (field: string | Uint8Array): string => (typeof field === 'string' ? field : utf8.decode(field));
