import * as tf from '@tensorflow/tfjs-core';
import { WINOGRAD_RELAXED_SIMD, WINOGRAD_SIMD } from '../kernels/winograd-wasm';

/**
 * 3×3, stride 1, zero-padded convolutions by Winograd's F(2×2, 3×3) in our own WebAssembly kernel
 * (kernels/winograd.ts): 4 multiply-adds per output and input channel where tfjs-wasm's direct convolution does 9,
 * with fused multiply-add where the browser has relaxed SIMD. Single-threaded, it ran 2.6-2.9× faster than
 * XNNPACK's direct convolution on one thread for the encoder's layer shapes (Node, relaxed SIMD).
 * Filters are transformed once (G g Gᵀ, in float64) and kept in the kernel's memory; activations are copied in and out.
 */

interface KernelExports {
  memory: WebAssembly.Memory;
  inputTransform(x: number, v: number, h: number, w: number, c: number, ty0: number, ty1: number): void;
  products(v: number, u: number, m: number, tiles: number, c: number, cout: number): void;
  outputTransform(m: number, y: number, w: number, cout: number, ty0: number, ty1: number): void;
}

/** A 3×3 filter in Winograd's form ([16, C, Cout]) at `offset` in the kernel's memory. */
export interface WinogradFilter { offset: number; c: number; cout: number }

const G = [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]];
const PAGE = 65536;
/** Bytes of each transformed band (v or m): the image is done in bands of tile rows no larger. */
const BAND_BYTES = 8 * 2 ** 20;

function decode(base64: string): Uint8Array<ArrayBuffer> {
  const text = atob(base64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

export class Winograd3x3 {
  private readonly kernel: KernelExports;
  /** The end of the filters kept so far; scratch space for a convolution starts here. */
  private filtersEnd = 0;

  private constructor(module: WebAssembly.Module, readonly fusedMultiplyAdd: boolean) {
    this.kernel = new WebAssembly.Instance(module, {}).exports as unknown as KernelExports;
  }

  /** The kernel this runtime can run (relaxed SIMD first, then SIMD), or null where it has no WebAssembly SIMD. */
  static create(options: { fusedMultiplyAdd?: boolean } = {}): Winograd3x3 | null {
    for (const [base64, fma] of [[WINOGRAD_RELAXED_SIMD, true], [WINOGRAD_SIMD, false]] as const) {
      if (options.fusedMultiplyAdd !== undefined && options.fusedMultiplyAdd !== fma) continue;
      const bytes = decode(base64);
      if (typeof WebAssembly === 'object' && WebAssembly.validate(bytes)) return new Winograd3x3(new WebAssembly.Module(bytes), fma);
    }
    return null;
  }

  /** Whether a convolution of x [B, H, W, C] with this filter fits the kernel (even sides, widths in 8s). */
  static fits(x: readonly number[], f: { c: number; cout: number }): boolean {
    const [, h, w, c] = x;
    return h % 2 === 0 && w % 2 === 0 && ((h / 2) * (w / 2)) % 4 === 0 && c === f.c && c % 8 === 0 && f.cout % 8 === 0;
  }

  /** Keeps filter [3, 3, C, Cout] (HWIO, tfjs's layout) in Winograd's form. */
  addFilter(filter: Float32Array, c: number, cout: number): WinogradFilter {
    if (filter.length !== 9 * c * cout) throw new RangeError(`a 3×3 filter of ${c} → ${cout} channels has ${9 * c * cout} values, not ${filter.length}`);
    const offset = this.filtersEnd;
    this.reserve(offset + 16 * c * cout * 4);
    const u = new Float32Array(this.kernel.memory.buffer, offset, 16 * c * cout);
    const g = new Float64Array(9);
    for (let ci = 0; ci < c; ci++) {
      for (let co = 0; co < cout; co++) {
        for (let t = 0; t < 9; t++) g[t] = filter[t * c * cout + ci * cout + co];
        for (let p = 0; p < 4; p++) {
          // (G g) row p, then times Gᵀ
          const r0 = G[p][0] * g[0] + G[p][1] * g[3] + G[p][2] * g[6];
          const r1 = G[p][0] * g[1] + G[p][1] * g[4] + G[p][2] * g[7];
          const r2 = G[p][0] * g[2] + G[p][1] * g[5] + G[p][2] * g[8];
          for (let q = 0; q < 4; q++) u[((p * 4 + q) * c + ci) * cout + co] = r0 * G[q][0] + r1 * G[q][1] + r2 * G[q][2];
        }
      }
    }
    this.filtersEnd = offset + 16 * c * cout * 4;
    return { offset, c, cout };
  }

  /** conv2d(x, filter, strides 1, pad 'same') for x [B, H, W, C] that `fits`; `bandBytes` bounds the scratch. */
  conv(x: tf.Tensor4D, f: WinogradFilter, bandBytes = BAND_BYTES): tf.Tensor4D {
    const [b, h, w, c] = x.shape;
    if (!Winograd3x3.fits(x.shape, f)) throw new RangeError(`the Winograd kernel does not take [${x.shape}] with ${f.c} → ${f.cout} channels`);
    const tw = w / 2;
    // Tile rows a band: as many as keep its transforms under bandBytes, in steps that keep its tiles in 4s.
    const rowStep = tw % 4 === 0 ? 1 : tw % 2 === 0 ? 2 : 4;
    const bandRows = Math.max(rowStep, Math.floor(bandBytes / (16 * tw * Math.max(c, f.cout) * 4) / rowStep) * rowStep);
    const bandTiles = Math.min(bandRows, h / 2) * tw;
    const at = { x: this.filtersEnd, v: 0, m: 0, y: 0 };
    at.v = at.x + h * w * c * 4;
    at.m = at.v + 16 * bandTiles * c * 4;
    at.y = at.m + 16 * bandTiles * f.cout * 4;
    this.reserve(at.y + h * w * f.cout * 4);
    const input = x.dataSync() as Float32Array;
    const output = new Float32Array(b * h * w * f.cout);
    const k = this.kernel;
    for (let i = 0; i < b; i++) {
      new Float32Array(k.memory.buffer, at.x, h * w * c).set(input.subarray(i * h * w * c, (i + 1) * h * w * c));
      for (let ty0 = 0; ty0 < h / 2; ty0 += bandRows) {
        const ty1 = Math.min(h / 2, ty0 + bandRows);
        k.inputTransform(at.x, at.v, h, w, c, ty0, ty1);
        k.products(at.v, f.offset, at.m, (ty1 - ty0) * tw, c, f.cout);
        k.outputTransform(at.m, at.y, w, f.cout, ty0, ty1);
      }
      output.set(new Float32Array(k.memory.buffer, at.y, h * w * f.cout), i * h * w * f.cout);
    }
    return tf.tensor4d(output, [b, h, w, f.cout]);
  }

  /** Bytes of memory the kernel holds (filters and the largest convolution's scratch). */
  get bytes(): number {
    return this.kernel.memory.buffer.byteLength;
  }

  private reserve(end: number): void {
    const pages = Math.ceil(end / PAGE) - this.kernel.memory.buffer.byteLength / PAGE;
    if (pages > 0) this.kernel.memory.grow(pages);
  }
}
