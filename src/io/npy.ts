import { dump, parse } from 'npyjs';
import { CheckpointError } from './errors';
import type { RawTensor } from '../models/weights';

/** Reads a .npy array (InterFaceGAN boundaries, golden tensors, exported codes) as float32. */
export function readNpy(bytes: Uint8Array, name = 'array.npy'): RawTensor {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
  if (bytes.length < 10 || !magic.every((b, i) => bytes[i] === b)) {
    throw new CheckpointError('not-npy', `${name} is not a NumPy .npy file`);
  }
  const copy = new Uint8Array(bytes).buffer; // a Buffer may be a view into a shared pool
  let array;
  try {
    array = parse(copy);
  } catch (error) {
    throw new CheckpointError('not-npy', `${name}: damaged .npy file (${(error as Error).message})`);
  }
  if (array.fortranOrder) throw new CheckpointError('unsupported-format', `${name}: Fortran-ordered arrays are not supported`);
  const n = array.shape.reduce((a, b) => a * b, 1);
  const source = array.data as unknown as ArrayLike<number | bigint>;
  if (source.length !== n) throw new CheckpointError('truncated', `${name}: expected ${n} values, found ${source.length}`);
  const data = source instanceof Float32Array ? source : Float32Array.from(source as ArrayLike<number>, Number);
  return { shape: array.shape, data };
}

/** Writes float32 values as a .npy file. */
export function writeNpy(data: Float32Array, shape: number[]): Uint8Array {
  return new Uint8Array(dump(data, shape, { dtype: 'f4' }));
}
