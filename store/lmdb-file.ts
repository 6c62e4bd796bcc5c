/**
 * Sanity of an LMDB data file, checked before lmdb maps it: a damaged
 * header or a file shorter than its pages makes LMDB crash the process
 * (SIGSEGV on a zeroed meta page, SIGBUS on a truncated file) instead of
 * returning an error, so fanlog reads what LMDB would trust first.
 *
 * What is read (LMDB's mdb.c, data format version 2, 64-bit builds): pages
 * 0 and 1 are meta pages, written alternately by commits. Each is a 24-byte
 * page header then the meta:
 *
 *   offset  size  field
 *   0       8     page number (0 or 1)
 *   18      2     page flags: P_META 0x08
 *   24      4     magic 0xBEEFC0DE
 *   28      4     data format version (low 16 bits: 2)
 *   48      4     page size (the free DB's md_pad)
 *   88      8     free DB root page (all ones: empty)
 *   136     8     main DB root page (all ones: empty)
 *   144     8     last used page
 *   152     8     transaction id
 *
 * Rules: both meta pages must be sound (LMDB refuses, or crashes on, one
 * that is not); the page size a power of two from 512 to 65536 and the same
 * in both; every page either meta names (roots, last page) inside the file.
 * Anything else is ECORRUPT with the file and the byte offset.
 */
import { promises as fsp } from 'node:fs';
import { corrupt } from '../errors.js';

const META_MAGIC = 0xbeefc0de;
const DATA_VERSION = 2;
const P_META = 0x08;
const NO_PAGE = 0xffff_ffff_ffff_ffffn;
/** Where page 1 may start: LMDB uses the OS page size, which fanlog's platforms keep at 4 KiB or a power of two near it. */
const PAGE_BYTES_MIN = 512;
const PAGE_BYTES_MAX = 65536;

interface Meta {
  pageBytes: number;
  freeRoot: bigint;
  mainRoot: bigint;
  lastPage: bigint;
  txnId: bigint;
}

function readMeta(file: string, page: Uint8Array, pageNumber: number, at: number): Meta {
  const view = new DataView(page.buffer, page.byteOffset, page.byteLength);
  if (page.byteLength < 160) throw corrupt(file, at, `meta page ${pageNumber} is incomplete`);
  if (view.getBigUint64(0, true) !== BigInt(pageNumber)) throw corrupt(file, at, `meta page ${pageNumber} names itself page ${view.getBigUint64(0, true)}`);
  if ((view.getUint16(18, true) & P_META) === 0) throw corrupt(file, at + 18, `page ${pageNumber} is not a meta page`);
  if (view.getUint32(24, true) !== META_MAGIC) throw corrupt(file, at + 24, `meta page ${pageNumber} has a bad magic number`);
  const version = view.getUint32(28, true) & 0xffff;
  if (version !== DATA_VERSION) throw corrupt(file, at + 28, `meta page ${pageNumber} has data format version ${version}, not ${DATA_VERSION}`);
  const pageBytes = view.getUint32(48, true);
  if (pageBytes < PAGE_BYTES_MIN || pageBytes > PAGE_BYTES_MAX || (pageBytes & (pageBytes - 1)) !== 0) {
    throw corrupt(file, at + 48, `meta page ${pageNumber} has an impossible page size ${pageBytes}`);
  }
  return {
    pageBytes,
    freeRoot: view.getBigUint64(88, true),
    mainRoot: view.getBigUint64(136, true),
    lastPage: view.getBigUint64(144, true),
    txnId: view.getBigUint64(152, true),
  };
}

/**
 * Checks the LMDB data file `file` as described above; resolves when LMDB
 * may map it. A missing file is fine (LMDB creates it).
 */
export async function checkLmdbFile(file: string): Promise<void> {
  let handle: fsp.FileHandle;
  try {
    handle = await fsp.open(file, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  try {
    const fileBytes = (await handle.stat()).size;
    const first = new Uint8Array(Math.min(fileBytes, PAGE_BYTES_MAX * 2));
    await handle.read(first, 0, first.length, 0);
    if (fileBytes < 160) throw corrupt(file, fileBytes, `the file is ${fileBytes} bytes, shorter than a meta page`);
    const meta0 = readMeta(file, first.subarray(0, 160), 0, 0);
    const pageBytes = meta0.pageBytes;
    if (fileBytes < 2 * pageBytes) throw corrupt(file, fileBytes, `the file is ${fileBytes} bytes, shorter than its two meta pages of ${pageBytes}`);
    const meta1 = readMeta(file, first.subarray(pageBytes, pageBytes + 160), 1, pageBytes);
    if (meta1.pageBytes !== pageBytes) throw corrupt(file, pageBytes + 48, `the meta pages disagree on the page size (${pageBytes}, ${meta1.pageBytes})`);
    const pages = BigInt(Math.floor(fileBytes / pageBytes));
    for (const [index, meta] of [meta0, meta1].entries()) {
      const at = index * pageBytes;
      if (meta.lastPage >= pages) {
        throw corrupt(file, fileBytes, `meta page ${index} (transaction ${meta.txnId}) uses pages up to ${meta.lastPage}, but the file holds ${pages} (truncated)`);
      }
      for (const [name, root, offset] of [['free', meta.freeRoot, 88], ['main', meta.mainRoot, 136]] as const) {
        if (root !== NO_PAGE && (root < 2n || root > meta.lastPage)) {
          throw corrupt(file, at + offset, `meta page ${index} puts the ${name} tree's root at page ${root}, outside pages 2..${meta.lastPage}`);
        }
      }
    }
  } finally {
    await handle.close();
  }
}
