import { CheckpointError } from './errors';

/**
 * Random access to the bytes of a file without loading it whole: checkpoints reach 300 MB, and a browser tab
 * must not hold two copies of them.
 */
export interface ByteSource {
  readonly size: number;
  readonly name: string;
  read(offset: number, length: number): Promise<Uint8Array>;
}

function checkRange(source: { size: number; name: string }, offset: number, length: number): void {
  if (offset < 0 || length < 0 || offset + length > source.size) {
    throw new CheckpointError(
      'truncated',
      `${source.name}: needs bytes ${offset}..${offset + length} but the file has only ${source.size}; it is truncated or damaged`,
    );
  }
}

export function bytesSource(bytes: Uint8Array, name = 'buffer'): ByteSource {
  return {
    size: bytes.byteLength,
    name,
    async read(offset, length) {
      checkRange(this, offset, length);
      return bytes.subarray(offset, offset + length);
    },
  };
}

/** A File or Blob, read slice by slice (the browser keeps the file on disk). */
export function blobSource(blob: Blob, name = (blob as File).name ?? 'blob'): ByteSource {
  return {
    size: blob.size,
    name,
    async read(offset, length) {
      checkRange(this, offset, length);
      return new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer());
    },
  };
}
