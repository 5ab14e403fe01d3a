import { readFile, writeFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Zip, ZipDeflate, ZipPassThrough, zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { blobSource, bytesSource } from '../src/io/byte-source';
import { CheckpointError } from '../src/io/errors';
import { fileSource } from '../src/io/node-source';
import { readNpy, writeNpy } from '../src/io/npy';
import { collectTensors, getEntry, loadCheckpoint, TorchTensor } from '../src/io/torch';
import { GOLDEN } from './helpers/golden';
import { pickle, torchZip } from './helpers/torch-writer';
import { convertCheckpoint } from '../src/weights/convert';

async function load(path: string) {
  return loadCheckpoint(bytesSource(new Uint8Array(await readFile(path)), path));
}

async function expectCode(promise: Promise<unknown>, code: string, text?: RegExp) {
  const error = await promise.then(() => null, (e: unknown) => e);
  expect(error).toBeInstanceOf(CheckpointError);
  expect((error as CheckpointError).code).toBe(code);
  if (text) expect((error as Error).message).toMatch(text);
}

describe('PyTorch checkpoint reader', () => {
  it('reads shared storages with offsets and strides, float16 and int64 exactly', async () => {
    const ck = await load(join(GOLDEN, 'storage-views.pt'));
    const t = collectTensors(ck.root);
    const values = async (k: string) => Array.from(await t.get(k)!.toFloat32());
    const arange = (n: number) => Array.from({ length: n }, (_, i) => i);
    expect(await values('whole')).toEqual(arange(24));
    expect(t.get('view')!.shape).toEqual([3, 4]);
    expect(await values('view')).toEqual(arange(12).map((i) => i + 4));
    expect(t.get('strided')!.shape).toEqual([4, 3]);
    expect(await values('strided')).toEqual(arange(12).map((i) => i * 2));
    expect(t.get('half')!.dtype).toBe('float16');
    expect(await values('half')).toEqual(arange(24));
    expect(t.get('long')!.dtype).toBe('int64');
    expect(await values('long')).toEqual(arange(5));
    // view and whole share one storage
    expect(t.get('view')!.storage).toBe(t.get('whole')!.storage);
  });

  it('reads the legacy (pre-1.6) format to the same tensors as the zip format', async () => {
    const zip = await load(join(GOLDEN, 'stylegan2-tiny.pt'));
    const legacy = await load(join(GOLDEN, 'stylegan2-tiny-legacy.pt'));
    expect(zip.format).toBe('zip');
    expect(legacy.format).toBe('legacy');
    const a = collectTensors(zip.root);
    const b = collectTensors(legacy.root);
    expect([...b.keys()]).toEqual([...a.keys()]);
    expect(a.size).toBeGreaterThan(50);
    for (const [k, t] of a) expect(Array.from(await b.get(k)!.toFloat32()), k).toEqual(Array.from(await t.toFloat32()));
  });

  it('loads the five official direction files, including pose.pt saved on cuda:0', async () => {
    const dir = join(import.meta.dirname, '..', 'public', 'official-directions'); // shipped with the app
    for (const f of ['age.pt', 'smile.pt']) {
      const t = (await load(join(dir, f))).root as TorchTensor;
      expect(t.shape).toEqual([1, 512]);
      expect((await t.toFloat32()).some((v) => v !== 0)).toBe(true);
    }
    const pose = (await load(join(dir, 'pose.pt'))).root as TorchTensor;
    expect(pose.storage.location).toBe('cuda:0');
    expect(pose.shape).toEqual([1, 18, 512]);
    expect((await pose.toFloat32()).every(Number.isFinite)).toBe(true);
    for (const f of ['ffhq_pca.pt', 'cars_pca.pt']) {
      const root = (await load(join(dir, f))).root;
      expect((getEntry(root, 'comp') as TorchTensor).shape).toEqual([80, 1, 512]);
      expect((getEntry(root, 'std') as TorchTensor).shape).toEqual([80]);
      expect((getEntry(root, 'mean') as TorchTensor).shape).toEqual([1, 512]);
    }
  });

  it('reads a file on disk by positioned reads in Node', async () => {
    const source = await fileSource(join(GOLDEN, 'stylegan2-tiny.pt'));
    try {
      const ck = await loadCheckpoint(source);
      const w = collectTensors(getEntry(ck.root, 'g_ema')).get('style.1.weight')!;
      const fromBytes = collectTensors(getEntry((await load(join(GOLDEN, 'stylegan2-tiny.pt'))).root, 'g_ema')).get('style.1.weight')!;
      expect(Array.from(await w.toFloat32())).toEqual(Array.from(await fromBytes.toFloat32()));
    } finally {
      await source.close();
    }
  });

  it('reads a Blob slice by slice, as the browser does with a dropped File', async () => {
    const bytes = await readFile(join(GOLDEN, 'style-transformer-tiny.pt'));
    const reads: number[] = [];
    const blob = new Blob([bytes]);
    const source = blobSource(blob, 'dropped.pt');
    const counting = { ...source, read: (o: number, n: number) => { reads.push(n); return source.read(o, n); } };
    const ck = await loadCheckpoint(counting);
    const z = collectTensors(getEntry(ck.root, 'state_dict')).get('encoder.module.z')!;
    expect(z.shape).toEqual([1, 8, 64]);
    await z.toFloat32();
    expect(Math.max(...reads)).toBeLessThan(bytes.length / 2);
  });

  it('says what is wrong with files that are not checkpoints', async () => {
    await expectCode(loadCheckpoint(bytesSource(new Uint8Array(0), 'empty.pt')), 'not-a-checkpoint', /empty/);
    await expectCode(loadCheckpoint(bytesSource(new TextEncoder().encode('hello, I am a text file'), 'notes.pt')), 'not-a-checkpoint', /not a PyTorch checkpoint/);
    const plainZip = zipSync({ 'readme.txt': new TextEncoder().encode('hi') });
    await expectCode(loadCheckpoint(bytesSource(plainZip, 'other.zip')), 'not-a-checkpoint', /no data.pkl/);
  });

  it('reports a truncated checkpoint, zip or legacy', async () => {
    for (const f of ['style-transformer-tiny.pt', 'stylegan2-tiny-legacy.pt']) {
      const bytes = new Uint8Array(await readFile(join(GOLDEN, f)));
      const cut = bytes.subarray(0, Math.floor(bytes.length * 0.6));
      const attempt = (async () => {
        const ck = await loadCheckpoint(bytesSource(cut, f));
        for (const t of collectTensors(ck.root).values()) await t.toFloat32();
      })();
      await expectCode(attempt, 'truncated');
    }
  });

  it('never runs pickled code: a global outside the whitelist is refused by name', async () => {
    const evil = torchZip({ payload: { rawGlobal: ['os', 'system'] } });
    await expectCode(loadCheckpoint(bytesSource(evil, 'evil.pt')), 'forbidden-class', /os\.system/);
  });

  it('applies the same refusal to a legacy checkpoint\'s header pickles (sys_info naming posix.system)', async () => {
    // the legacy magic number, protocol 1001, then a sys_info pickle that names a global instead of holding a dict
    const magic = [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e];
    const protocol = [0x80, 0x02, 0x4d, 0xe9, 0x03, 0x2e]; // BININT2 1001, STOP
    const sysInfo = [0x80, 0x02, ...new TextEncoder().encode('cposix\nsystem\n'), 0x71, 0x00, 0x2e]; // GLOBAL posix.system
    const legacy = new Uint8Array([...magic, ...protocol, ...sysInfo, ...new Uint8Array(64)]);
    await expectCode(loadCheckpoint(bytesSource(legacy, 'legacy-evil.pt')), 'forbidden-class', /header refers to the Python object posix\.system/);
  });

  it('refuses impossible tensors and zip entries before reading or allocating anything', async () => {
    const withTensor = (shape: number[], n: number) => torchZip({ state_dict: { 'a.weight': { shape, data: new Float32Array(n) } } });
    await expectCode(loadCheckpoint(bytesSource(withTensor([100000, 100000], 6), 'huge.pt')), 'not-a-checkpoint', /claims 10000000000 elements/);
    await expectCode(loadCheckpoint(bytesSource(withTensor([4, 3], 6), 'short.pt')), 'truncated', /needs elements up to 12 of storage 0, which holds 6/);
    await expectCode(loadCheckpoint(bytesSource(withTensor([-2, 3], 6), 'negative.pt')), 'not-a-checkpoint', /impossible layout/);
    // a stored zip entry whose directory claims 2 GB
    const bytes = withTensor([2, 3], 6);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let at = bytes.length - 22;
    while (view.getUint32(at, true) !== 0x06054b50) at--;
    const directory = view.getUint32(at + 16, true);
    view.setUint32(directory + 24, 0x7fffffff, true);
    await expectCode(loadCheckpoint(bytesSource(bytes, 'claims.pt')), 'not-a-checkpoint', /claims to hold 2147483647 bytes/);
  });

  it('bounds the work a tiny pickle can ask for: shared dicts, an oversized pickle, a legacy pickle that never ends', async () => {
    // 30 levels of dicts, each holding the level below twice through the memo: 300 bytes that ask for 2^30 visits.
    const ascii = (text: string) => [...new TextEncoder().encode(text)];
    const key = (k: string) => [0x58, k.length, 0, 0, 0, ...ascii(k)]; // BINUNICODE
    const ops = [0x80, 0x02, 0x7d, 0x71, 0]; // PROTO 2, EMPTY_DICT, BINPUT 0
    for (let level = 1; level <= 30; level++) {
      ops.push(0x7d, 0x28, ...key('a'), 0x68, level - 1, ...key('b'), 0x68, level - 1, 0x75, 0x71, level, 0x30); // {} MARK a:get b:get SETITEMS PUT POP
    }
    ops.push(0x68, 30, 0x2e); // BINGET 30, STOP
    const shared = zipSync({ 'archive/data.pkl': [new Uint8Array(ops), { level: 0 }], 'archive/version': [new TextEncoder().encode('3\n'), { level: 0 }] });
    const checkpoint = await loadCheckpoint(bytesSource(shared, 'shared.pt'));
    const started = performance.now();
    expect(() => collectTensors(checkpoint.root)).toThrow(/more than 1,000,000 entries/);
    await expectCode(convertCheckpoint({ checkpoint }), 'not-a-checkpoint', /more than 1,000,000 entries/);
    expect(performance.now() - started).toBeLessThan(2000);

    // a 17 MiB string as the whole pickle: refused from its size in the directory, before it is parsed
    const big = new Uint8Array(17 * 2 ** 20 + 7);
    big.set([0x80, 0x02, 0x58]);
    new DataView(big.buffer).setUint32(3, big.length - 8, true);
    big[big.length - 1] = 0x2e;
    const oversized = zipSync({ 'archive/data.pkl': [big, { level: 0 }], 'archive/version': [new TextEncoder().encode('3\n'), { level: 0 }] });
    await expectCode(loadCheckpoint(bytesSource(oversized, 'oversized.pt')), 'not-a-checkpoint', /data\.pkl\) is 17 MiB/);

    // legacy: a pickle that claims a 40 MiB string is not read past 32 MiB
    const legacy = new Uint8Array(40 * 2 ** 20);
    legacy.set([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e]);
    legacy.set([0x80, 0x02, 0x4d, 0xe9, 0x03, 0x2e, 0x80, 0x02, 0x7d, 0x2e, 0x80, 0x02, 0x58], 15); // protocol 1001, sys info {}, then a string
    new DataView(legacy.buffer).setUint32(28, legacy.length, true);
    let furthest = 0;
    const source = bytesSource(legacy, 'endless.pt');
    const watched = { ...source, read: (offset: number, length: number) => { furthest = Math.max(furthest, offset + length); return source.read(offset, length); } };
    await expectCode(loadCheckpoint(watched), 'not-a-checkpoint', /does not end within the first 32 MiB/);
    expect(furthest).toBeLessThanOrEqual(32 * 2 ** 20);
  });

  it('a compressed bomb (a 100 MB storage deflated to 100 KB) is refused at once, and never inflated', async () => {
    const n = 25_000_000;
    const { pickle: pkl } = pickle({ state_dict: { 'bomb.weight': { shape: [n], data: new Float32Array(1), numel: n } }, latent_avg: { shape: [1], data: new Float32Array(1) } });
    // the zip is written as a stream, so the test itself never holds the 300 MB
    const parts: Uint8Array[] = [];
    const zip = new Zip((error, chunk) => { if (error) throw error; parts.push(chunk); });
    for (const [name, bytes] of [['archive/data.pkl', pkl], ['archive/version', new TextEncoder().encode('3\n')], ['archive/data/1', new Uint8Array(4)]] as const) {
      const entry = new ZipPassThrough(name);
      zip.add(entry);
      entry.push(bytes, true);
    }
    const bomb = new ZipDeflate('archive/data/0', { level: 9 });
    zip.add(bomb);
    const zeros = new Uint8Array(1 << 20);
    for (let left = n * 4; left > 0; left -= zeros.length) bomb.push(left > zeros.length ? zeros : zeros.subarray(0, left), left <= zeros.length);
    zip.end();
    const bytes = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
    parts.reduce((at, p) => { bytes.set(p, at); return at + p.length; }, 0);
    expect(bytes.length).toBeLessThan(2e6);
    const before = process.memoryUsage().rss;
    const started = performance.now();
    const refused = await convertCheckpoint({ checkpoint: await loadCheckpoint(bytesSource(bytes, 'bomb.pt')) }).then(() => null, (e: CheckpointError) => e);
    const ms = performance.now() - started;
    const grown = (process.memoryUsage().rss - before) / 1e6;
    console.log(`bomb (${(bytes.length / 1e6).toFixed(2)} MB, ${(n * 4) / 1e6} MB inflated): refused in ${ms.toFixed(0)} ms, RSS +${grown.toFixed(0)} MB: ${refused?.message}`);
    expect(refused?.code).toBe('not-a-checkpoint');
    expect(ms).toBeLessThan(1000);
    expect(grown).toBeLessThan(200);
  });

  it('reads a checkpoint written by our test writer (used for the official-shape tests)', async () => {
    const data = Float32Array.from([1.5, -2, 3.25, 4, 5, 6]);
    const bytes = torchZip({ state_dict: { 'a.weight': { shape: [2, 3], data } }, opts: { output_size: 1024, note: 'x' } });
    const dir = await mkdtemp(join(tmpdir(), 'stst-'));
    await writeFile(join(dir, 'w.pt'), bytes);
    const ck = await load(join(dir, 'w.pt'));
    const t = collectTensors(getEntry(ck.root, 'state_dict')).get('a.weight')!;
    expect(t.shape).toEqual([2, 3]);
    expect(Array.from(await t.toFloat32())).toEqual(Array.from(data));
    expect((getEntry(ck.root, 'opts') as Map<string, unknown>).get('output_size')).toBe(1024);
  });
});

describe('.npy reader', () => {
  it('reads InterFaceGAN boundaries and round-trips what it writes', async () => {
    const npy = readNpy(new Uint8Array(await readFile(join(GOLDEN, 'directions', 'smile_boundary.npy'))));
    const pt = (await load(join(GOLDEN, 'directions', 'smile.pt'))).root as TorchTensor;
    expect(npy.shape).toEqual(pt.shape);
    expect(Array.from(npy.data)).toEqual(Array.from(await pt.toFloat32()));
    const back = readNpy(writeNpy(npy.data, npy.shape));
    expect(back.shape).toEqual(npy.shape);
    expect(Array.from(back.data)).toEqual(Array.from(npy.data));
  });

  it('rejects files that are not .npy', () => {
    expect(() => readNpy(new TextEncoder().encode('not numpy'), 'x.npy')).toThrow(/not a NumPy/);
  });
});
