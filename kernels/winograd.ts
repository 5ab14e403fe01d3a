// Winograd F(2×2, 3×3) convolution (Lavin & Gray, 2016) for WebAssembly SIMD, written in AssemblyScript.
// Why by hand: tfjs-wasm's XNNPACK runs a 3×3 convolution directly (9 multiply-adds per tap and output), and the
// same algorithm built from tfjs ops was 4-7× slower than that (its batched matrix products take a plain loop).
// Here the products are 16 matrix products of (tiles × C) by (C × Cout), 4 multiply-adds where the direct form
// has 9, with fused multiply-add where the browser has relaxed SIMD (ASC_FEATURE_RELAXED_SIMD: built twice).
// Layout: NHWC, stride 1, zero padding 1, H and W even, C and Cout multiples of 8, tiles a multiple of 4.
// x: [H, W, C]; u: [16, C, Cout] (G g Gᵀ, made by the caller); y: [H, W, Cout]. The image is done in bands of
// tile rows [ty0, ty1) (T = their tiles) so that the scratch v: [16, T, C] and m: [16, T, Cout] stays small.
// Pointers are byte offsets into this module's memory.
// Threads: each of a band's three steps is split into units (tile rows, a product's rows, tiles) that any thread
// sharing the memory may run, in any order: runUnit reads the step from the job block the caller wrote
// (src/models/winograd.ts, JOB_WORDS); only the build with shared memory runs on more than one thread.

@inline function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

@inline function ld(p: usize): v128 { return v128.load(p); }

/** Channels ch..ch+3 of pixel (yy, xx), or zeros outside the image (the convolution's padding). */
@inline function pixel(x: usize, h: i32, w: i32, c: i32, yy: i32, xx: i32, ch: i32): v128 {
  return yy >= 0 && yy < h && xx >= 0 && xx < w ? ld(x + (((yy * w + xx) * c + ch) << 2)) : f32x4.splat(0);
}

/** Tile rows [from, to) of the band [ty0, ty1). */
function inputTransform(x: usize, v: usize, h: i32, w: i32, c: i32, ty0: i32, ty1: i32, from: i32, to: i32): void {
  const tw = w >> 1, t = (ty1 - ty0) * tw;
  const plane = (t * c) << 2; // bytes between transform positions in v
  for (let ty = from; ty < to; ty++) for (let tx = 0; tx < tw; tx++) {
    const tile = (ty - ty0) * tw + tx;
    const y0 = 2 * ty - 1, x0 = 2 * tx - 1;
    for (let ch = 0; ch < c; ch += 4) {
      // d[i][j]: the 4×4 input window at (y0, x0)
      const d00 = pixel(x, h, w, c, y0, x0, ch), d01 = pixel(x, h, w, c, y0, x0 + 1, ch);
      const d02 = pixel(x, h, w, c, y0, x0 + 2, ch), d03 = pixel(x, h, w, c, y0, x0 + 3, ch);
      const d10 = pixel(x, h, w, c, y0 + 1, x0, ch), d11 = pixel(x, h, w, c, y0 + 1, x0 + 1, ch);
      const d12 = pixel(x, h, w, c, y0 + 1, x0 + 2, ch), d13 = pixel(x, h, w, c, y0 + 1, x0 + 3, ch);
      const d20 = pixel(x, h, w, c, y0 + 2, x0, ch), d21 = pixel(x, h, w, c, y0 + 2, x0 + 1, ch);
      const d22 = pixel(x, h, w, c, y0 + 2, x0 + 2, ch), d23 = pixel(x, h, w, c, y0 + 2, x0 + 3, ch);
      const d30 = pixel(x, h, w, c, y0 + 3, x0, ch), d31 = pixel(x, h, w, c, y0 + 3, x0 + 1, ch);
      const d32 = pixel(x, h, w, c, y0 + 3, x0 + 2, ch), d33 = pixel(x, h, w, c, y0 + 3, x0 + 3, ch);
      // rows: Bᵀ d  (Bᵀ = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1])
      const r00 = f32x4.sub(d00, d20), r01 = f32x4.sub(d01, d21), r02 = f32x4.sub(d02, d22), r03 = f32x4.sub(d03, d23);
      const r10 = f32x4.add(d10, d20), r11 = f32x4.add(d11, d21), r12 = f32x4.add(d12, d22), r13 = f32x4.add(d13, d23);
      const r20 = f32x4.sub(d20, d10), r21 = f32x4.sub(d21, d11), r22 = f32x4.sub(d22, d12), r23 = f32x4.sub(d23, d13);
      const r30 = f32x4.sub(d10, d30), r31 = f32x4.sub(d11, d31), r32 = f32x4.sub(d12, d32), r33 = f32x4.sub(d13, d33);
      const base = v + ((tile * c + ch) << 2);
      // columns: (Bᵀ d) B
      v128.store(base + 0 * plane, f32x4.sub(r00, r02)); v128.store(base + 1 * plane, f32x4.add(r01, r02));
      v128.store(base + 2 * plane, f32x4.sub(r02, r01)); v128.store(base + 3 * plane, f32x4.sub(r01, r03));
      v128.store(base + 4 * plane, f32x4.sub(r10, r12)); v128.store(base + 5 * plane, f32x4.add(r11, r12));
      v128.store(base + 6 * plane, f32x4.sub(r12, r11)); v128.store(base + 7 * plane, f32x4.sub(r11, r13));
      v128.store(base + 8 * plane, f32x4.sub(r20, r22)); v128.store(base + 9 * plane, f32x4.add(r21, r22));
      v128.store(base + 10 * plane, f32x4.sub(r22, r21)); v128.store(base + 11 * plane, f32x4.sub(r21, r23));
      v128.store(base + 12 * plane, f32x4.sub(r30, r32)); v128.store(base + 13 * plane, f32x4.add(r31, r32));
      v128.store(base + 14 * plane, f32x4.sub(r32, r31)); v128.store(base + 15 * plane, f32x4.sub(r31, r33));
    }
  }
}

// C[M×N] = A[M×K] × B[K×N]; M % 4 == 0, N % 8 == 0. In blocks of ROW_BLOCK rows so that a panel of B (K × 8: at
// most 16 KiB) is read from the first-level cache by every 4 rows of the block, and B as a whole once a block: the
// deepest layers' B is 1 MiB (512 × 512) where A has only 64 rows, and sweeping all of B for every 4 rows of A ran
// from the second-level cache.
const ROW_BLOCK = 64;
function gemm(a: usize, b: usize, c: usize, m: i32, n: i32, k: i32): void {
  const rowA = k << 2, rowB = n << 2, rc = n << 2;
  for (let i0 = 0; i0 < m; i0 += ROW_BLOCK) {
    const i1 = min(m, i0 + ROW_BLOCK);
    for (let j = 0; j < n; j += 8) {
      for (let i = i0; i < i1; i += 4) {
        let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
        let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
        let pa = a + ((i * k) << 2);
        let pb = b + (j << 2);
        for (let p = 0; p < k; p++) {
          const b0 = v128.load(pb), b1 = v128.load(pb, 16);
          const a0 = v128.load32_splat(pa), a1 = v128.load32_splat(pa + rowA);
          const a2 = v128.load32_splat(pa + 2 * rowA), a3 = v128.load32_splat(pa + 3 * rowA);
          c00 = madd(a0, b0, c00); c01 = madd(a0, b1, c01);
          c10 = madd(a1, b0, c10); c11 = madd(a1, b1, c11);
          c20 = madd(a2, b0, c20); c21 = madd(a2, b1, c21);
          c30 = madd(a3, b0, c30); c31 = madd(a3, b1, c31);
          pa += 4; pb += rowB;
        }
        const pc = c + ((i * n + j) << 2);
        v128.store(pc, c00); v128.store(pc, c01, 16);
        v128.store(pc + rc, c10); v128.store(pc + rc, c11, 16);
        v128.store(pc + 2 * rc, c20); v128.store(pc + 2 * rc, c21, 16);
        v128.store(pc + 3 * rc, c30); v128.store(pc + 3 * rc, c31, 16);
      }
    }
  }
}

/** Rows [from, to) (tiles, in 4s) of the k-th of the band's 16 products. */
function product(v: usize, u: usize, m: usize, t: i32, c: i32, cout: i32, k: i32, from: i32, to: i32): void {
  gemm(v + (((k * t + from) * c) << 2), u + ((k * c * cout) << 2), m + (((k * t + from) * cout) << 2), to - from, cout, c);
}

/** Tiles [from, to) of the band [ty0, ty1). */
function outputTransform(m: usize, y: usize, w: i32, cout: i32, ty0: i32, ty1: i32, from: i32, to: i32): void {
  const tw = w >> 1, t = (ty1 - ty0) * tw;
  const plane = (t * cout) << 2;
  for (let tile = from; tile < to; tile++) {
    const ty = ty0 + tile / tw, tx = tile % tw;
    for (let ch = 0; ch < cout; ch += 4) {
      const base = m + ((tile * cout + ch) << 2);
      const m0 = ld(base), m1 = ld(base + plane), m2 = ld(base + 2 * plane), m3 = ld(base + 3 * plane);
      const m4 = ld(base + 4 * plane), m5 = ld(base + 5 * plane), m6 = ld(base + 6 * plane), m7 = ld(base + 7 * plane);
      const m8 = ld(base + 8 * plane), m9 = ld(base + 9 * plane), m10 = ld(base + 10 * plane), m11 = ld(base + 11 * plane);
      const m12 = ld(base + 12 * plane), m13 = ld(base + 13 * plane), m14 = ld(base + 14 * plane), m15 = ld(base + 15 * plane);
      // Aᵀ M (Aᵀ = [1 1 1 0; 0 1 -1 -1])
      const s0 = f32x4.add(f32x4.add(m0, m4), m8), s1 = f32x4.add(f32x4.add(m1, m5), m9);
      const s2 = f32x4.add(f32x4.add(m2, m6), m10), s3 = f32x4.add(f32x4.add(m3, m7), m11);
      const q0 = f32x4.sub(f32x4.sub(m4, m8), m12), q1 = f32x4.sub(f32x4.sub(m5, m9), m13);
      const q2 = f32x4.sub(f32x4.sub(m6, m10), m14), q3 = f32x4.sub(f32x4.sub(m7, m11), m15);
      const oy = 2 * ty, ox = 2 * tx;
      const o = y + (((oy * w + ox) * cout + ch) << 2);
      const row = (w * cout) << 2, col = cout << 2;
      v128.store(o, f32x4.add(f32x4.add(s0, s1), s2));
      v128.store(o + col, f32x4.sub(f32x4.sub(s1, s2), s3));
      v128.store(o + row, f32x4.add(f32x4.add(q0, q1), q2));
      v128.store(o + row + col, f32x4.sub(f32x4.sub(q1, q2), q3));
    }
  }
}

// The job block's words (i32): the first eight belong to the callers' scheduling (src/models/winograd.ts), the
// rest describe the step.
const STEP = 8, X = 9, V = 10, M = 11, Y = 12, U = 13, H = 14, W = 15, C = 16, COUT = 17, TY0 = 18, TY1 = 19, PER = 20;
export const INPUT_TRANSFORM = 0, PRODUCTS = 1, OUTPUT_TRANSFORM = 2;

@inline function word(job: usize, i: i32): i32 { return load<i32>(job + (<usize>i << 2)); }

/** Runs unit `unit` of the step in the job block at `job`; every unit of a step may run at once with the others. */
export function runUnit(job: usize, unit: i32): void {
  const step = word(job, STEP), per = word(job, PER);
  const w = word(job, W), ty0 = word(job, TY0), ty1 = word(job, TY1);
  const t = (ty1 - ty0) * (w >> 1);
  if (step == INPUT_TRANSFORM) {
    const from = ty0 + unit * per;
    inputTransform(word(job, X), word(job, V), word(job, H), w, word(job, C), ty0, ty1, from, min(ty1, from + per));
  } else if (step == PRODUCTS) {
    const from = (unit >> 4) * per;
    product(word(job, V), word(job, U), word(job, M), t, word(job, C), word(job, COUT), unit & 15, from, min(t, from + per));
  } else {
    const from = unit * per;
    outputTransform(word(job, M), word(job, Y), w, word(job, COUT), ty0, ty1, from, min(t, from + per));
  }
}
