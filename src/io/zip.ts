import { inflateSync } from 'fflate';
import type { ByteSource } from './byte-source';
import { CheckpointError } from './errors';

/**
 * Reads the central directory of a zip archive through a ByteSource and hands out entries by range.
 * Written by hand because the zip libraries (fflate, zip.js) want the whole archive or stream it in order,
 * while a torch checkpoint is a zip of *stored* tensor blobs that we want to read one slice at a time.
 */
export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

export interface ZipArchive {
  entries: Map<string, ZipEntry>;
  /** Offset of an entry's data in the archive (stored entries only). */
  dataOffset(entry: ZipEntry): Promise<number>;
  readEntry(entry: ZipEntry): Promise<Uint8Array>;
  readRange(entry: ZipEntry, offset: number, length: number): Promise<Uint8Array>;
}

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function u64(dv: DataView, at: number): number {
  return Number(dv.getBigUint64(at, true));
}

export async function isZip(source: ByteSource): Promise<boolean> {
  if (source.size < 4) return false;
  return view(await source.read(0, 4)).getUint32(0, true) === LOCAL;
}

export async function openZip(source: ByteSource): Promise<ZipArchive> {
  const tailLength = Math.min(source.size, 22 + 0xffff + 20);
  const tailStart = source.size - tailLength;
  const tail = await source.read(tailStart, tailLength);
  const tv = view(tail);
  let eocd = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tv.getUint32(i, true) === EOCD) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) {
    throw new CheckpointError('truncated', `${source.name}: the zip directory at the end of the file is missing; the file is truncated`);
  }
  let entryCount = tv.getUint16(eocd + 10, true);
  let cdSize = tv.getUint32(eocd + 12, true);
  let cdOffset = tv.getUint32(eocd + 16, true);
  if (eocd >= 20 && tv.getUint32(eocd - 20, true) === ZIP64_LOCATOR) {
    const z64Offset = u64(tv, eocd - 20 + 8);
    const z64 = view(await source.read(z64Offset, 56));
    if (z64.getUint32(0, true) !== ZIP64_EOCD) {
      throw new CheckpointError('truncated', `${source.name}: damaged zip64 directory`);
    }
    entryCount = u64(z64, 32);
    cdSize = u64(z64, 40);
    cdOffset = u64(z64, 48);
  }
  const cd = await source.read(cdOffset, cdSize);
  const cv = view(cd);
  const decoder = new TextDecoder();
  const entries = new Map<string, ZipEntry>();
  let p = 0;
  for (let n = 0; n < entryCount; n++) {
    if (p + 46 > cd.length || cv.getUint32(p, true) !== CENTRAL) {
      throw new CheckpointError('truncated', `${source.name}: damaged zip directory (entry ${n})`);
    }
    const method = cv.getUint16(p + 10, true);
    let compressedSize = cv.getUint32(p + 20, true);
    let size = cv.getUint32(p + 24, true);
    const nameLength = cv.getUint16(p + 28, true);
    const extraLength = cv.getUint16(p + 30, true);
    const commentLength = cv.getUint16(p + 32, true);
    let localHeaderOffset = cv.getUint32(p + 42, true);
    const name = decoder.decode(cd.subarray(p + 46, p + 46 + nameLength));
    // Zip64 extra field: only the fields saturated in the fixed header are present, in this order.
    let e = p + 46 + nameLength;
    const extraEnd = e + extraLength;
    while (e + 4 <= extraEnd) {
      const id = cv.getUint16(e, true);
      const len = cv.getUint16(e + 2, true);
      if (id === 0x0001) {
        let q = e + 4;
        if (size === 0xffffffff) { size = u64(cv, q); q += 8; }
        if (compressedSize === 0xffffffff) { compressedSize = u64(cv, q); q += 8; }
        if (localHeaderOffset === 0xffffffff) { localHeaderOffset = u64(cv, q); q += 8; }
      }
      e += 4 + len;
    }
    // Sizes are claims: an entry must lie inside the file, a stored one is as long as it says, and a deflated
    // one cannot grow more than deflate can (1032:1) nor past 2 GiB, so a crafted size allocates nothing.
    if (localHeaderOffset + 30 + compressedSize > source.size) {
      throw new CheckpointError('truncated', `${source.name}: zip entry ${name} claims ${compressedSize} bytes at ${localHeaderOffset}, past the end of the ${source.size}-byte file`);
    }
    if ((method === 0 && size !== compressedSize) || (method !== 0 && (size > compressedSize * 1032 + 1024 || size > 2 ** 31))) {
      throw new CheckpointError('not-a-checkpoint', `${source.name}: zip entry ${name} claims to hold ${size} bytes in ${compressedSize}: the archive is damaged or crafted`);
    }
    entries.set(name, { name, method, compressedSize, size, localHeaderOffset });
    p = extraEnd + commentLength;
  }

  const dataOffsets = new Map<string, number>();
  async function dataOffset(entry: ZipEntry): Promise<number> {
    const known = dataOffsets.get(entry.name);
    if (known !== undefined) return known;
    const lv = view(await source.read(entry.localHeaderOffset, 30));
    if (lv.getUint32(0, true) !== LOCAL) {
      throw new CheckpointError('truncated', `${source.name}: damaged zip entry ${entry.name}`);
    }
    const offset = entry.localHeaderOffset + 30 + lv.getUint16(26, true) + lv.getUint16(28, true);
    dataOffsets.set(entry.name, offset);
    return offset;
  }

  const archive: ZipArchive = {
    entries,
    dataOffset,
    async readEntry(entry) {
      const raw = await source.read(await dataOffset(entry), entry.compressedSize);
      if (entry.method === 0) return raw;
      if (entry.method === 8) return inflateSync(raw, { out: new Uint8Array(entry.size) });
      throw new CheckpointError('unsupported-format', `${source.name}: zip entry ${entry.name} uses compression method ${entry.method}`);
    },
    async readRange(entry, offset, length) {
      if (entry.method !== 0) {
        return (await archive.readEntry(entry)).subarray(offset, offset + length);
      }
      if (offset + length > entry.size) {
        throw new CheckpointError('truncated', `${source.name}: ${entry.name} holds ${entry.size} bytes, ${offset + length} needed`);
      }
      return source.read((await dataOffset(entry)) + offset, length);
    },
  };
  return archive;
}
