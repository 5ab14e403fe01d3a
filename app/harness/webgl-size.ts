// Test harness (not part of the product), driven by e2e/golden.spec.ts: a generator whose last layers have the
// official FFHQ shape (512 -> 1024 px, 32 channels at 1024; narrow below, so SwiftShader renders it in seconds)
// rendered on WebGL, where tfjs's im2col textures for these layers exceed every GPU's texture limit unless the
// convolutions run in bands, and compared with the same generator on WASM. ?official renders the whole released
// generator's shapes (by hand: see the README's Speed section).
import * as tf from '@tensorflow/tfjs-core';
import { startBackend } from '../../src/browser/backend';
import { generatorLayout } from '../../src/models/layout';
import { Generator, type GeneratorConfig } from '../../src/models/stylegan2';
import { RawWeights } from '../../src/models/weights';
import { randomNormal, randomWeights } from '../../tests/suite/random-weights';

export interface WebglSizeReport {
  webglMs?: number;
  wasmMs?: number;
  /** max |webgl - wasm| over max |wasm|. */
  relativeDifference?: number;
  largestTexture?: [number, number];
  maxTextureSize?: number;
  error?: string;
}

declare global {
  interface Window { webglSizeReport?: WebglSizeReport }
}

const params = new URLSearchParams(location.search);
const SIZE = Number(params.get('size') ?? 1024);
const TOP = Number(params.get('channels') ?? 32);
// ?official: the released FFHQ generator's shapes throughout (minutes on SwiftShader; not run by the tests).
const CONFIG: GeneratorConfig = params.has('official')
  ? {
    size: 1024, styleDim: 512, nMlp: 8, nLatent: 18, numLayers: 17,
    channels: { 4: 512, 8: 512, 16: 512, 32: 512, 64: 512, 128: 256, 256: 128, 512: 64, 1024: 32 },
  }
  : {
    size: SIZE, styleDim: 64, nMlp: 2, nLatent: 2 * Math.log2(SIZE) - 2, numLayers: 2 * Math.log2(SIZE) - 3,
    channels: { 4: 16, 8: 16, 16: 16, 32: 16, 64: 16, 128: 16, 256: 8, 512: 16, 1024: 32, [SIZE]: TOP },
  };

/** Records the largest texture (texels) the WebGL backend allocates (every GPGPUContext.create*MatrixTexture). */
function watchTextures(largest: [number, number]): void {
  const gpgpu = (tf.backend() as unknown as { gpgpu: Record<string, unknown> }).gpgpu;
  const prototype = Object.getPrototypeOf(gpgpu) as Record<string, unknown>;
  for (const name of Object.getOwnPropertyNames(prototype).filter((n) => /^create\w*MatrixTexture$/.test(n))) {
    const create = prototype[name] as (rows: number, columns: number) => unknown;
    // A packed texture holds 2 x 2 values a texel: its physical size is half the matrix's on each side.
    const texels = (n: number) => (name.includes('Packed') ? Math.ceil(n / 2) : n);
    gpgpu[name] = (rows: number, columns: number) => {
      if (texels(rows) * texels(columns) > largest[0] * largest[1]) largest.splice(0, 2, texels(rows), texels(columns));
      return create.call(gpgpu, rows, columns);
    };
  }
}

async function render(generator: Generator, codes: Float32Array): Promise<{ ms: number; data: Float32Array }> {
  const started = performance.now();
  const w = tf.tensor3d(codes, [1, CONFIG.nLatent, CONFIG.styleDim]);
  const picture = generator.synthesize(w);
  const data = await picture.data() as Float32Array;
  tf.dispose([w, picture]);
  return { ms: performance.now() - started, data };
}

async function main() {
  const out = document.getElementById('out')!;
  const report: WebglSizeReport = {};
  try {
    await startBackend(['webgl']);
    // What phones offer (this machine's SwiftShader offers 8192): tfjs lays every texture out within this limit
    // and refuses a tensor that cannot fit it.
    tf.env().set('WEBGL_MAX_TEXTURE_SIZE', Math.min(4096, tf.env().getNumber('WEBGL_MAX_TEXTURE_SIZE')));
    report.maxTextureSize = tf.env().getNumber('WEBGL_MAX_TEXTURE_SIZE');
    const largest: [number, number] = [0, 0];
    watchTextures(largest);
    const weights = new RawWeights(randomWeights(Object.fromEntries(generatorLayout(CONFIG))));
    const codes = randomNormal(CONFIG.nLatent * CONFIG.styleDim, 5);
    const onWebgl = new Generator(weights);
    const webgl = await render(onWebgl, codes);
    onWebgl.dispose();
    report.webglMs = webgl.ms;
    report.largestTexture = largest;
    await startBackend(['wasm']);
    const onWasm = new Generator(weights);
    const wasm = await render(onWasm, codes);
    onWasm.dispose();
    report.wasmMs = wasm.ms;
    let difference = 0;
    let scale = 0;
    for (let i = 0; i < wasm.data.length; i++) {
      difference = Math.max(difference, Math.abs(webgl.data[i] - wasm.data[i]));
      scale = Math.max(scale, Math.abs(wasm.data[i]));
    }
    report.relativeDifference = difference / scale;
    const meanAbs = (d: Float32Array) => d.reduce((a, v) => a + Math.abs(v), 0) / d.length;
    console.log(`webgl-size: mean |webgl| ${meanAbs(webgl.data)}, mean |wasm| ${meanAbs(wasm.data)}, max diff ${difference}, scale ${scale}`);
  } catch (error) {
    report.error = (error as Error).message;
  }
  window.webglSizeReport = report;
  out.textContent = JSON.stringify(report, null, 2);
}

void main();
