import { zipSync } from 'fflate';

/**
 * Writes torch.save zip checkpoints for tests without PyTorch: protocol-2 pickles of nested dicts of float32
 * tensors, strings, numbers and booleans, with one storage per tensor, as torch >= 1.6 lays them out. Used to
 * make checkpoints with the full official shapes (hundreds of MB) that cannot be shipped as fixtures.
 */
export interface FloatTensor {
  shape: number[];
  data: Float32Array;
  /** The storage's element count, when the test supplies the storage's bytes itself (default: data.length). */
  numel?: number;
}

export type PickleValue = FloatTensor | string | number | boolean | null | PickleDict | { rawGlobal: [string, string] };
export interface PickleDict { [key: string]: PickleValue }

class PickleWriter {
  private chunks: number[] = [];
  readonly storages: Float32Array[] = [];

  byte(...b: number[]) { this.chunks.push(...b); }
  int32(v: number) { const b = new Uint8Array(new Int32Array([v]).buffer); this.byte(...b); }
  text(s: string) { const b = new TextEncoder().encode(s); this.byte(0x58); this.int32(b.length); this.byte(...b); } // BINUNICODE
  global(module: string, name: string) { this.byte(0x63, ...new TextEncoder().encode(`${module}\n${name}\n`)); } // GLOBAL
  int(v: number) { this.byte(0x4a); this.int32(v); } // BININT
  float(v: number) { const b = new Uint8Array(8); new DataView(b.buffer).setFloat64(0, v); this.byte(0x47, ...b); } // BINFLOAT
  tuple(items: number[]) { this.byte(0x28); for (const i of items) this.int(i); this.byte(0x74); } // MARK ... TUPLE

  value(v: PickleValue) {
    if (v === null) this.byte(0x4e);
    else if (typeof v === 'boolean') this.byte(v ? 0x88 : 0x89);
    else if (typeof v === 'string') this.text(v);
    else if (typeof v === 'number') (Number.isInteger(v) ? this.int(v) : this.float(v));
    else if ('rawGlobal' in v) this.global(...(v as { rawGlobal: [string, string] }).rawGlobal);
    else if ('data' in v && v.data instanceof Float32Array) this.tensor(v as FloatTensor);
    else this.dict(v as PickleDict);
  }

  dict(d: PickleDict) {
    this.byte(0x7d); // EMPTY_DICT
    const keys = Object.keys(d);
    if (!keys.length) return;
    this.byte(0x28); // MARK
    for (const k of keys) { this.text(k); this.value(d[k]); }
    this.byte(0x75); // SETITEMS
  }

  tensor(t: FloatTensor) {
    const key = String(this.storages.length);
    this.storages.push(t.data);
    this.global('torch._utils', '_rebuild_tensor_v2');
    this.byte(0x28); // MARK (args)
    this.byte(0x28); this.text('storage'); this.global('torch', 'FloatStorage'); this.text(key); this.text('cpu'); this.int(t.numel ?? t.data.length); this.byte(0x74);
    this.byte(0x51); // BINPERSID
    this.int(0);
    this.tuple(t.shape);
    const stride = t.shape.map((_, i) => t.shape.slice(i + 1).reduce((a, b) => a * b, 1));
    this.tuple(stride);
    this.byte(0x89); // requires_grad False
    this.global('collections', 'OrderedDict'); this.byte(0x29, 0x52); // () REDUCE
    this.byte(0x74, 0x52); // TUPLE REDUCE
  }

  finish(): Uint8Array {
    return new Uint8Array([0x80, 0x02, ...this.chunks, 0x2e]);
  }
}

export function pickle(root: PickleValue): { pickle: Uint8Array; storages: Float32Array[] } {
  const w = new PickleWriter();
  w.value(root);
  return { pickle: w.finish(), storages: w.storages };
}

/** A torch zip checkpoint (stored entries, as torch writes them). */
export function torchZip(root: PickleValue, archiveName = 'archive'): Uint8Array {
  const { pickle: pkl, storages } = pickle(root);
  const files: Record<string, [Uint8Array, { level: 0 }]> = {
    [`${archiveName}/data.pkl`]: [pkl, { level: 0 }],
    [`${archiveName}/version`]: [new TextEncoder().encode('3\n'), { level: 0 }],
  };
  storages.forEach((s, i) => { files[`${archiveName}/data/${i}`] = [new Uint8Array(s.buffer, s.byteOffset, s.byteLength), { level: 0 }]; });
  return zipSync(files);
}
