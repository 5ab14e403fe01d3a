import { BufferReader, Parser } from 'pickleparser';
import type { ByteSource } from './byte-source';
import { CheckpointError } from './errors';
import { isZip, openZip, type ZipArchive } from './zip';

/**
 * Reader for PyTorch `torch.save` files: the zip format (torch >= 1.6) and the legacy pre-1.6 stream.
 * Pickles are parsed by pickleparser, but no Python callable is ever run: every global the pickle names must be
 * on the whitelist below, each mapped to a small JS reconstructor; anything else is refused with its name.
 */

export type TorchDType = 'float32' | 'float16' | 'bfloat16' | 'float64' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

const STORAGE_TYPES: Record<string, { dtype: TorchDType; bytes: number }> = {
  FloatStorage: { dtype: 'float32', bytes: 4 },
  HalfStorage: { dtype: 'float16', bytes: 2 },
  BFloat16Storage: { dtype: 'bfloat16', bytes: 2 },
  DoubleStorage: { dtype: 'float64', bytes: 8 },
  LongStorage: { dtype: 'int64', bytes: 8 },
  IntStorage: { dtype: 'int32', bytes: 4 },
  ShortStorage: { dtype: 'int16', bytes: 2 },
  CharStorage: { dtype: 'int8', bytes: 1 },
  ByteStorage: { dtype: 'uint8', bytes: 1 },
  BoolStorage: { dtype: 'bool', bytes: 1 },
};

interface StorageType {
  readonly storageType: string;
  readonly dtype: TorchDType;
  readonly bytes: number;
}

/** Where a storage's bytes live; read lazily so that a 300 MB checkpoint is never loaded whole. */
export class Storage {
  constructor(
    readonly key: string,
    readonly dtype: TorchDType,
    readonly elementSize: number,
    readonly location: string,
    readonly numel: number,
    private readonly readBytes: (byteOffset: number, byteLength: number) => Promise<Uint8Array>,
  ) {}

  read(elementOffset: number, count: number): Promise<Uint8Array> {
    if (elementOffset + count > this.numel) {
      throw new CheckpointError('truncated', `storage ${this.key} holds ${this.numel} elements; a tensor needs ${elementOffset + count}`);
    }
    return this.readBytes(elementOffset * this.elementSize, count * this.elementSize);
  }
}

export class TorchTensor {
  constructor(
    readonly storage: Storage,
    readonly storageOffset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}

  get dtype(): TorchDType {
    return this.storage.dtype;
  }

  get numel(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  /** The tensor's values in C order, as float32 (integers and halves are converted). */
  async toFloat32(): Promise<Float32Array> {
    const n = this.numel;
    const out = new Float32Array(n);
    if (n === 0) return out;
    const extent = this.shape.reduce((acc, dim, i) => acc + (dim - 1) * this.stride[i], 0) + 1;
    const bytes = await this.storage.read(this.storageOffset, extent);
    if (this.dtype === 'float32' && extent === n) {
      // Contiguous float32 (nearly every weight): one copy, which also aligns the bytes for Float32Array.
      return new Float32Array(bytes.slice().buffer);
    }
    const decode = elementDecoder(this.dtype, bytes);
    const rank = this.shape.length;
    const index = new Array<number>(rank).fill(0);
    let source = 0;
    for (let i = 0; i < n; i++) {
      out[i] = decode(source);
      for (let d = rank - 1; d >= 0; d--) {
        index[d]++;
        source += this.stride[d];
        if (index[d] < this.shape[d]) break;
        source -= this.stride[d] * this.shape[d];
        index[d] = 0;
      }
    }
    return out;
  }
}

function elementDecoder(dtype: TorchDType, bytes: Uint8Array): (i: number) => number {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case 'float32': return (i) => dv.getFloat32(i * 4, true);
    case 'float64': return (i) => dv.getFloat64(i * 8, true);
    case 'float16': return (i) => halfToFloat(dv.getUint16(i * 2, true));
    case 'bfloat16': {
      const scratch = new DataView(new ArrayBuffer(4));
      return (i) => {
        scratch.setUint32(0, dv.getUint16(i * 2, true) << 16);
        return scratch.getFloat32(0);
      };
    }
    case 'int64': return (i) => Number(dv.getBigInt64(i * 8, true));
    case 'int32': return (i) => dv.getInt32(i * 4, true);
    case 'int16': return (i) => dv.getInt16(i * 2, true);
    case 'int8': return (i) => dv.getInt8(i);
    case 'uint8':
    case 'bool': return (i) => dv.getUint8(i);
  }
}

export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

export interface Checkpoint {
  format: 'zip' | 'legacy';
  /** The unpickled object: Maps for dicts, arrays for lists and tuples, TorchTensor for tensors. */
  root: unknown;
}

type Reconstructor = (...args: any[]) => unknown;

function namespace(): Reconstructor {
  // argparse.Namespace: an attribute bag; BUILD fills it.
  return function Namespace(this: unknown) { return this; } as unknown as Reconstructor;
}

/** At most 2^28 elements in one tensor (1 GiB as float32): far above any weight of the models this reads. */
const MAX_TENSOR_ELEMENTS = 2 ** 28;

/**
 * A tensor as the pickle describes it, checked before anything is read: sizes and strides are non-negative
 * whole numbers, the tensor is of a plausible size and lies inside its storage. (A crafted file could otherwise
 * claim [1e9, 1e9] or a negative size and make the reader allocate or index anything.)
 */
function rebuildTensor(storage: Storage, offset: number, size: number[], stride: number[]): TorchTensor {
  const whole = (n: unknown) => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
  if (!(storage instanceof Storage) || !whole(offset) || !Array.isArray(size) || !Array.isArray(stride) || size.length !== stride.length ||
    size.length > 8 || !size.every(whole) || !stride.every(whole)) {
    throw new CheckpointError('not-a-checkpoint', `a tensor has an impossible layout (size ${JSON.stringify(size)}, stride ${JSON.stringify(stride)}, offset ${JSON.stringify(offset)})`);
  }
  const numel = size.reduce((a, b) => a * b, 1);
  if (numel > MAX_TENSOR_ELEMENTS) throw new CheckpointError('not-a-checkpoint', `a tensor claims ${numel} elements ([${size}]), more than any weight of a model this editor runs`);
  const extent = numel === 0 ? 0 : size.reduce((acc, dim, i) => acc + (dim - 1) * stride[i], 0) + 1;
  if (offset + extent > storage.numel) {
    throw new CheckpointError('truncated', `a tensor of [${size}] needs elements up to ${offset + extent} of storage ${storage.key}, which holds ${storage.numel}: the file is damaged`);
  }
  return new TorchTensor(storage, offset, size, stride);
}

function whitelist(): Map<string, Reconstructor | StorageType> {
  const allowed = new Map<string, Reconstructor | StorageType>();
  allowed.set('collections.OrderedDict', () => new Map());
  allowed.set('torch._utils._rebuild_tensor_v2', rebuildTensor);
  allowed.set('torch._utils._rebuild_tensor', rebuildTensor);
  allowed.set('torch._utils._rebuild_parameter', (data: TorchTensor) => data);
  allowed.set('torch._utils._rebuild_parameter_with_state', (data: TorchTensor) => data);
  allowed.set('argparse.Namespace', namespace());
  for (const [storageType, info] of Object.entries(STORAGE_TYPES)) {
    allowed.set(`torch.${storageType}`, { storageType, ...info });
  }
  return allowed;
}

function makeParser(resolveStorage: (pid: unknown[]) => Storage, fileName: string): Parser {
  const allowed = whitelist();
  return new Parser({
    unpicklingTypeOfDictionary: 'Map',
    nameResolver: {
      resolve(module: string, name: string) {
        const found = allowed.get(`${module}.${name}`);
        if (!found) {
          throw new CheckpointError(
            'forbidden-class',
            `${fileName} refers to the Python object ${module}.${name}, which a checkpoint of weights does not need; ` +
              'it was not loaded (pickled code is never run)',
          );
        }
        return found as Reconstructor;
      },
    },
    persistentResolver: {
      resolve(pid: unknown) {
        if (!Array.isArray(pid) || pid[0] !== 'storage') {
          throw new CheckpointError('unsupported-format', `${fileName}: unknown persistent object ${JSON.stringify(pid)}`);
        }
        return resolveStorage(pid);
      },
    },
  });
}

function storageTypeOf(value: unknown, fileName: string): StorageType {
  const type = value as StorageType;
  if (!type || typeof type.storageType !== 'string') {
    throw new CheckpointError('unsupported-dtype', `${fileName}: a tensor uses an unsupported storage type`);
  }
  return type;
}

async function loadZip(source: ByteSource): Promise<Checkpoint> {
  const zip: ZipArchive = await openZip(source);
  const pickleEntry = [...zip.entries.values()].find((e) => e.name.endsWith('data.pkl') && e.name.split('/').length === 2);
  if (!pickleEntry) {
    throw new CheckpointError('not-a-checkpoint', `${source.name} is a zip archive but not a PyTorch checkpoint (no data.pkl)`);
  }
  // Every pickle op can make an object; a state dict's pickle is a few hundred KB even for the official models.
  if (pickleEntry.size > MAX_PICKLE_BYTES) {
    throw new CheckpointError('not-a-checkpoint', `${source.name}: its object description (data.pkl) is ${(pickleEntry.size / 2 ** 20).toFixed(0)} MiB; a checkpoint of weights needs far less than ${MAX_PICKLE_BYTES / 2 ** 20} MiB`);
  }
  const prefix = pickleEntry.name.slice(0, -'data.pkl'.length);
  const byteOrder = zip.entries.get(`${prefix}byteorder`);
  if (byteOrder && new TextDecoder().decode(await zip.readEntry(byteOrder)).trim() !== 'little') {
    throw new CheckpointError('unsupported-format', `${source.name} was saved on a big-endian machine`);
  }
  const storages = new Map<string, Storage>();
  const parser = makeParser((pid) => {
    const [, typeValue, key, location, numel] = pid as [string, unknown, string, string, number];
    const type = storageTypeOf(typeValue, source.name);
    let storage = storages.get(key);
    if (!storage) {
      const entry = zip.entries.get(`${prefix}data/${key}`);
      if (!entry) throw new CheckpointError('truncated', `${source.name}: storage ${key} is missing from the archive`);
      storage = new Storage(key, type.dtype, type.bytes, String(location), Number(numel) || entry.size / type.bytes,
        (offset, length) => zip.readRange(entry, offset, length));
      storages.set(key, storage);
    }
    return storage;
  }, source.name);
  const root = parser.parse(await zip.readEntry(pickleEntry));
  return { format: 'zip', root };
}

// The first bytes of a legacy torch.save stream: protocol 2, LONG1 of the magic number 0x1950a86a20f9469cfc6c.
const LEGACY_MAGIC = [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

async function isLegacy(source: ByteSource): Promise<boolean> {
  if (source.size < LEGACY_MAGIC.length) return false;
  const head = await source.read(0, LEGACY_MAGIC.length);
  return LEGACY_MAGIC.every((b, i) => head[i] === b);
}

async function loadLegacy(source: ByteSource): Promise<Checkpoint> {
  // The pickles come first and the raw storages after them; we do not know where the pickles end until we parse
  // them, so read a growing prefix of the file until they parse.
  let prefixLength = Math.min(source.size, 1 << 20);
  for (;;) {
    const prefix = await source.read(0, prefixLength);
    try {
      return await parseLegacy(source, prefix);
    } catch (error) {
      if (error instanceof CheckpointError) throw error;
      if (prefixLength >= source.size) {
        throw new CheckpointError('truncated', `${source.name}: the legacy checkpoint could not be parsed (${(error as Error).message})`);
      }
      if (prefixLength >= 2 * MAX_PICKLE_BYTES) {
        throw new CheckpointError('not-a-checkpoint', `${source.name}: its object description does not end within the first ${(2 * MAX_PICKLE_BYTES) / 2 ** 20} MiB; a checkpoint of weights needs far less`);
      }
      prefixLength = Math.min(source.size, prefixLength * 4, 2 * MAX_PICKLE_BYTES);
    }
  }
}

async function parseLegacy(source: ByteSource, prefix: Uint8Array): Promise<Checkpoint> {
  const reader = new BufferReader(prefix);
  // The header's pickles (protocol, sys_info, the storage keys) are plain numbers, strings, dicts and lists: no class
  // at all may be named there, so the data pickle's whitelist is not even needed (issue 34: a sys_info naming
  // posix.system was read as data before; nothing ran, but nothing should be accepted).
  const refuse = (what: string) => {
    throw new CheckpointError('forbidden-class', `${source.name}'s header refers to ${what}, which a checkpoint's header never holds; it was not loaded (pickled code is never run)`);
  };
  const plain = new Parser({
    unpicklingTypeOfDictionary: 'Map',
    nameResolver: { resolve: (module: string, name: string) => refuse(`the Python object ${module}.${name}`) },
    persistentResolver: { resolve: () => refuse('a persistent object') },
  });
  // The magic number is an 80-bit LONG1 that pickleparser cannot hold; its bytes were checked by isLegacy.
  if (prefix[LEGACY_MAGIC.length] !== 0x2e) throw new CheckpointError('not-a-checkpoint', `${source.name}: damaged legacy header`);
  reader.skip(LEGACY_MAGIC.length + 1);
  const protocol = plain.read(reader);
  if (protocol !== 1001) throw new CheckpointError('unsupported-format', `${source.name}: legacy protocol ${String(protocol)} is not supported`);
  plain.read(reader); // sys info
  interface Pending { key: string; type: StorageType; location: string; numel: number; views: Array<{ storage: Storage; offset: number }> }
  const pending = new Map<string, Pending>();
  const dataStart = new Map<string, number>();
  const readRoot = (key: string) => (offset: number, length: number) => {
    const start = dataStart.get(key);
    if (start === undefined) throw new CheckpointError('truncated', `${source.name}: storage ${key} is missing`);
    return source.read(start + offset, length);
  };
  const storages = new Map<string, Storage>();
  const parser = makeParser((pid) => {
    const [, typeValue, key, location, numel, viewMetadata] = pid as [string, unknown, string, string, number, unknown];
    const type = storageTypeOf(typeValue, source.name);
    if (!pending.has(key)) pending.set(key, { key, type, location: String(location), numel: Number(numel), views: [] });
    let storage = storages.get(key);
    if (!storage) {
      storage = new Storage(key, type.dtype, type.bytes, String(location), Number(numel), readRoot(key));
      storages.set(key, storage);
    }
    if (Array.isArray(viewMetadata)) {
      const [viewKey, viewOffset, viewSize] = viewMetadata as [string, number, number];
      const view = new Storage(viewKey, type.dtype, type.bytes, String(location), viewSize,
        (offset, length) => readRoot(key)(viewOffset * type.bytes + offset, length));
      storages.set(viewKey, view);
      return view;
    }
    return storage;
  }, source.name);
  const root = parser.read(reader);
  const keys = plain.read(reader) as string[];
  let offset = reader.position;
  for (const key of keys) {
    const info = pending.get(key);
    if (!info) throw new CheckpointError('unsupported-format', `${source.name}: storage ${key} is listed but never used`);
    if (offset + 8 > source.size) throw new CheckpointError('truncated', `${source.name}: storage ${key} runs past the end of the file`);
    const header = new DataView((await source.read(offset, 8)).slice().buffer);
    const numel = Number(header.getBigInt64(0, true));
    // PyTorch refuses a storage whose recorded size differs from the pickle's ("storage has wrong byte size")
    if (numel !== info.numel) throw new CheckpointError('truncated', `${source.name}: storage ${key} holds ${numel} elements where the checkpoint says ${info.numel}: the file is damaged`);
    dataStart.set(key, offset + 8);
    offset += 8 + numel * info.type.bytes;
    if (offset > source.size) throw new CheckpointError('truncated', `${source.name}: storage ${key} runs past the end of the file`);
  }
  return { format: 'legacy', root };
}

/** Opens a torch.save file; throws CheckpointError when it is not one, or is damaged. */
export async function loadCheckpoint(source: ByteSource): Promise<Checkpoint> {
  if (source.size === 0) throw new CheckpointError('not-a-checkpoint', `${source.name} is empty`);
  if (await isZip(source)) return loadZip(source);
  if (await isLegacy(source)) return loadLegacy(source);
  throw new CheckpointError('not-a-checkpoint', `${source.name} is not a PyTorch checkpoint (neither the zip nor the legacy torch.save format)`);
}

/**
 * Walks dicts (Maps) and returns every tensor under a dotted name. A state dict is a few levels deep with a few
 * thousand entries; a dict that contains itself, nests deeper than any checkpoint does, or shares dicts so that the
 * walk would visit more than MAX_DICT_ENTRIES entries (a pickle's memo lets 30 levels of two references to the level
 * below ask for 2^30 visits from a few hundred bytes) is refused instead of overflowing the stack or never ending.
 */
export function collectTensors(value: unknown, prefix = ''): Map<string, TorchTensor> {
  const out = new Map<string, TorchTensor>();
  const onPath = new Set<unknown>();
  let visited = 0;
  const walk = (node: unknown, name: string): void => {
    if (node instanceof TorchTensor) {
      out.set(name, node);
    } else if (node instanceof Map) {
      if (onPath.has(node)) throw new CheckpointError('not-a-checkpoint', `the checkpoint's dict ${name || '(root)'} contains itself`);
      if (onPath.size >= 32) throw new CheckpointError('not-a-checkpoint', `the checkpoint's dicts nest deeper than 32 levels (at ${name})`);
      onPath.add(node);
      for (const [k, v] of node) {
        if (++visited > MAX_DICT_ENTRIES) {
          throw new CheckpointError('not-a-checkpoint', `the checkpoint's dicts hold more than ${MAX_DICT_ENTRIES.toLocaleString('en')} entries in all (shared dicts counted each time they are reached); a checkpoint of weights holds a few thousand`);
        }
        walk(v, name ? `${name}.${String(k)}` : String(k));
      }
      onPath.delete(node);
    }
  };
  walk(value, prefix);
  return out;
}

const MAX_DICT_ENTRIES = 1_000_000;
const MAX_PICKLE_BYTES = 16 * 2 ** 20;

/** A dict entry of the root object (root is a Map for every checkpoint this project reads). */
export function getEntry(root: unknown, key: string): unknown {
  return root instanceof Map ? root.get(key) : undefined;
}
