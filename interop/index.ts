/**
 * `fanlog/interop`: the formats other tools read and write. Lustre's
 * `lfs changelog` text, the kernel's fanotify event stream and its
 * responses (export and import), and the journal's own record codec.
 *
 * @module fanlog/interop
 */
export { exportLfsChangelog, lfsLine, lustreType, lustreFid, LUSTRE_RECORD_TYPES, type LustreRecordType, CLF_UNLINK_LAST } from './lfs.js';
export {
  encodeFanotifyEvents,
  decodeFanotifyEvents,
  writeFanotifyEvents,
  fanotifyEventOf,
  type FanotifyEvent,
  type FanotifyExportOptions,
  type FileHandle,
  type DirectoryEntry,
  fileHandleOf,
  fidOfHandle,
  FILEID_INO32_GEN,
  FANLOG_INFO_TYPE_WRITE,
} from './fanotify-events.js';
export { importFanotifyEvents } from './fanotify-import.js';
export {
  encodeFanotifyResponse,
  decodeFanotifyResponses,
  type FanotifyResponse,
  FANOTIFY_RESPONSE_BYTES,
  FAN_NOFD,
  FAN_AUDIT,
  FAN_INFO,
} from './fanotify-response.js';
export { encodeRecord, decodeRecord } from '../engine/record/codec.js';
