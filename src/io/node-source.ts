import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import type { ByteSource } from './byte-source';
import { CheckpointError } from './errors';

/** A file on disk in Node, read by positioned reads; call close() when done. */
export async function fileSource(path: string): Promise<ByteSource & { close(): Promise<void> }> {
  const handle = await open(path, 'r');
  const { size } = await handle.stat();
  const name = basename(path);
  return {
    size,
    name,
    async read(offset, length) {
      if (offset < 0 || offset + length > size) {
        throw new CheckpointError('truncated', `${name}: needs bytes ${offset}..${offset + length} but the file has only ${size}; it is truncated or damaged`);
      }
      const out = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await handle.read(out, done, length - done, offset + done);
        if (bytesRead === 0) throw new CheckpointError('truncated', `${name}: unexpected end of file`);
        done += bytesRead;
      }
      return out;
    },
    close: () => handle.close(),
  };
}
