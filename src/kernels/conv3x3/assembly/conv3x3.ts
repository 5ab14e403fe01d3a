// 3×3 convolutions for WebAssembly SIMD, written in AssemblyScript: stride 1 by Winograd's F(2×2, 3×3) or F(4×4, 3×3)
// (Lavin & Gray, 2016), stride 2 directly (convStride2, below), and the matrix products they share (gemm, also for matMul).
// Why by hand: tfjs-wasm's XNNPACK runs a 3×3 convolution directly (9 multiply-adds per tap and output), and the
// same algorithm built from tfjs ops was 4-7× slower than that (its batched matrix products take a plain loop).
// Here the products are 16 matrix products of (tiles × C) by (C × Cout), 4 multiply-adds where the direct form
// has 9, with fused multiply-add where the browser has relaxed SIMD (ASC_FEATURE_RELAXED_SIMD: built with and
// without it, each with a private and a shared memory).
// F(4×4, 3×3) takes 36 products for 16 outputs (2.25 multiply-adds where the direct form has 9) and its transforms
// read and write less per output; it is kept for the layers whose filter memory it pays for (its u is 2.25× F(2×2)'s).
// Layout: NHWC, stride 1, zero padding 1, H and W multiples of the output tile (2 or 4), C and Cout multiples of 8,
// tiles a multiple of 4. x: [H, W, C]; u: [P, Cout / 8, C, 8] (G g Gᵀ, made by the caller, in panels of 8 output
// channels; P = 16 or 36 positions); y: [H, W, Cout]. The image is done in bands of tile rows [ty0, ty1) (T = their
// tiles) so that the scratch v: [P, T, C] and m: [P, T, Cout] stays small.
// Pointers are byte offsets into this module's memory.
// Threads: each of a band's three steps is split into units (tile rows, a product's rows, tiles) that any thread
// sharing the memory may run, in any order: runUnit reads the step from the job block the caller wrote
// (src/kernels/conv3x3/index.ts); only the build with shared memory runs on more than one thread.

@inline function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

@inline function ld(p: usize): v128 { return v128.load(p); }

/**
 * Channels ch..ch+3 of pixel (yy, xx) times s plus t (the BatchNorm before a convolution, or 1 and 0), or zeros
 * outside the image: the padding is of the normalised input, as the official module pads its BatchNorm's output.
 */
@inline function pixel(x: usize, h: i32, w: i32, c: i32, yy: i32, xx: i32, ch: i32, s: v128, t: v128): v128 {
  return yy >= 0 && yy < h && xx >= 0 && xx < w ? madd(ld(x + (((yy * w + xx) * c + ch) << 2)), s, t) : f32x4.splat(0);
}

/**
 * Bytes from one transform position's plane of v or m ([T, C]) to the next: T C floats and one cache line more. Planes
 * a power of two apart fell into one set of the first-level cache, which holds 8 lines a set, and a tile's 16 or 36
 * values went to the second level and back (F(4×4)'s transforms ran 5× slower than F(2×2)'s).
 */
@inline function planeBytes(t: i32, c: i32): i32 { return ((t * c) << 2) + 64; }

/** Tile rows [from, to) of the band [ty0, ty1); scale and shift (per input channel) are 0 where there is no affine. */
function inputTransform(x: usize, v: usize, h: i32, w: i32, c: i32, ty0: i32, ty1: i32, from: i32, to: i32, scale: usize, shift: usize): void {
  const tw = w >> 1, t = (ty1 - ty0) * tw;
  const plane = planeBytes(t, c); // bytes between transform positions in v
  for (let ty = from; ty < to; ty++) for (let tx = 0; tx < tw; tx++) {
    const tile = (ty - ty0) * tw + tx;
    const y0 = 2 * ty - 1, x0 = 2 * tx - 1;
    for (let ch = 0; ch < c; ch += 4) {
      const s = scale ? ld(scale + (ch << 2)) : f32x4.splat(1), t = shift ? ld(shift + (ch << 2)) : f32x4.splat(0);
      // d[i][j]: the 4×4 input window at (y0, x0)
      const d00 = pixel(x, h, w, c, y0, x0, ch, s, t), d01 = pixel(x, h, w, c, y0, x0 + 1, ch, s, t);
      const d02 = pixel(x, h, w, c, y0, x0 + 2, ch, s, t), d03 = pixel(x, h, w, c, y0, x0 + 3, ch, s, t);
      const d10 = pixel(x, h, w, c, y0 + 1, x0, ch, s, t), d11 = pixel(x, h, w, c, y0 + 1, x0 + 1, ch, s, t);
      const d12 = pixel(x, h, w, c, y0 + 1, x0 + 2, ch, s, t), d13 = pixel(x, h, w, c, y0 + 1, x0 + 3, ch, s, t);
      const d20 = pixel(x, h, w, c, y0 + 2, x0, ch, s, t), d21 = pixel(x, h, w, c, y0 + 2, x0 + 1, ch, s, t);
      const d22 = pixel(x, h, w, c, y0 + 2, x0 + 2, ch, s, t), d23 = pixel(x, h, w, c, y0 + 2, x0 + 3, ch, s, t);
      const d30 = pixel(x, h, w, c, y0 + 3, x0, ch, s, t), d31 = pixel(x, h, w, c, y0 + 3, x0 + 1, ch, s, t);
      const d32 = pixel(x, h, w, c, y0 + 3, x0 + 2, ch, s, t), d33 = pixel(x, h, w, c, y0 + 3, x0 + 3, ch, s, t);
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

/**
 * F(4×4, 3×3)'s Bᵀ a for 6 values a (a column or a row of the 6×6 window), stored at out + i · stride:
 * Bᵀ = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1].
 */
@inline function inputTransform6(a0: v128, a1: v128, a2: v128, a3: v128, a4: v128, a5: v128, out: usize, stride: usize): void {
  const four = f32x4.splat(4), minusFive = f32x4.splat(-5), two = f32x4.splat(2);
  const sum12 = f32x4.add(a1, a2), diff12 = f32x4.sub(a1, a2), sum34 = f32x4.add(a3, a4), diff34 = f32x4.sub(a4, a3);
  const diff42 = f32x4.sub(a4, a2), diff31 = f32x4.sub(a3, a1);
  v128.store(out, madd(four, a0, madd(minusFive, a2, a4)));
  v128.store(out + stride, f32x4.sub(sum34, f32x4.mul(four, sum12)));
  v128.store(out + 2 * stride, madd(four, diff12, diff34));
  v128.store(out + 3 * stride, madd(two, diff31, diff42));
  v128.store(out + 4 * stride, f32x4.sub(diff42, f32x4.mul(two, diff31)));
  v128.store(out + 5 * stride, madd(four, a1, madd(minusFive, a3, a5)));
}

/**
 * inputTransform for F(4×4, 3×3): each tile's 6×6 window (rows 4ty − 1 … 4ty + 4) to Bᵀ d B in v's 36 planes. Its
 * rows are transformed into the planes first and the columns then in place (the planes of one tile and 4 channels
 * stay in the first-level cache): 36 windows' values held at once would not fit the registers either way.
 */
function inputTransform4(x: usize, v: usize, h: i32, w: i32, c: i32, ty0: i32, ty1: i32, from: i32, to: i32, scale: usize, shift: usize): void {
  const tw = w >> 2, t = (ty1 - ty0) * tw;
  const plane = planeBytes(t, c);
  for (let ty = from; ty < to; ty++) for (let tx = 0; tx < tw; tx++) {
    const tile = (ty - ty0) * tw + tx;
    const y0 = 4 * ty - 1, x0 = 4 * tx - 1;
    for (let ch = 0; ch < c; ch += 4) {
      const s = scale ? ld(scale + (ch << 2)) : f32x4.splat(1), sh = shift ? ld(shift + (ch << 2)) : f32x4.splat(0);
      const base = v + ((tile * c + ch) << 2);
      for (let k = 0; k < 6; k++) {
        const yy = y0 + k;
        // (d B)[k][j] into plane 6k + j
        inputTransform6(
          pixel(x, h, w, c, yy, x0, ch, s, sh), pixel(x, h, w, c, yy, x0 + 1, ch, s, sh), pixel(x, h, w, c, yy, x0 + 2, ch, s, sh),
          pixel(x, h, w, c, yy, x0 + 3, ch, s, sh), pixel(x, h, w, c, yy, x0 + 4, ch, s, sh), pixel(x, h, w, c, yy, x0 + 5, ch, s, sh),
          base + k * 6 * plane, plane);
      }
      for (let j = 0; j < 6; j++) {
        // (Bᵀ d B)[i][j] into plane 6i + j
        const p = base + j * plane;
        inputTransform6(ld(p), ld(p + 6 * plane), ld(p + 12 * plane), ld(p + 18 * plane), ld(p + 24 * plane), ld(p + 30 * plane), p, 6 * plane);
      }
    }
  }
}

// C[M×N] = A[M×K] × B[K×N]; M % 4 == 0, N % 8 == 0; B packed in panels of 8 columns ([N / 8, K, 8]), so a panel is
// one contiguous run (at most 16 KiB) that stays in the first-level cache while every 4 rows of a block of A read it.
// Rows of B 2 KiB apart (512 channels), as [K, N] had them, fell into two cache sets and were read from the second
// level each time: the deepest layers ran at 16-18 G multiply-adds a second on one thread, the shallow ones at 22.
const ROW_BLOCK = 64;
// C's rows are ldc floats apart (n, or more where C is a block of columns of a wider matrix).
function gemm(a: usize, b: usize, c: usize, m: i32, n: i32, k: i32, ldc: i32): void {
  const rowA = k << 2, rc = ldc << 2;
  for (let i0 = 0; i0 < m; i0 += ROW_BLOCK) {
    const i1 = min(m, i0 + ROW_BLOCK);
    for (let j = 0; j < n; j += 8) {
      for (let i = i0; i < i1; i += 4) {
        let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
        let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
        let pa = a + ((i * k) << 2);
        let pb = b + ((j * k) << 2);
        for (let p = 0; p < k; p++) {
          const b0 = v128.load(pb), b1 = v128.load(pb, 16);
          const a0 = v128.load32_splat(pa), a1 = v128.load32_splat(pa + rowA);
          const a2 = v128.load32_splat(pa + 2 * rowA), a3 = v128.load32_splat(pa + 3 * rowA);
          c00 = madd(a0, b0, c00); c01 = madd(a0, b1, c01);
          c10 = madd(a1, b0, c10); c11 = madd(a1, b1, c11);
          c20 = madd(a2, b0, c20); c21 = madd(a2, b1, c21);
          c30 = madd(a3, b0, c30); c31 = madd(a3, b1, c31);
          pa += 4; pb += 32;
        }
        const pc = c + ((i * ldc + j) << 2);
        v128.store(pc, c00); v128.store(pc, c01, 16);
        v128.store(pc + rc, c10); v128.store(pc + rc, c11, 16);
        v128.store(pc + 2 * rc, c20); v128.store(pc + 2 * rc, c21, 16);
        v128.store(pc + 3 * rc, c30); v128.store(pc + 3 * rc, c31, 16);
      }
    }
  }
}

/** Rows [from, to) (tiles, in 4s) of the band's product at position k, by the filter's position uk. */
function product(v: usize, u: usize, m: usize, t: i32, c: i32, cout: i32, k: i32, uk: i32, from: i32, to: i32): void {
  gemm(v + k * planeBytes(t, c) + ((from * c) << 2), u + ((uk * c * cout) << 2), m + k * planeBytes(t, cout) + ((from * cout) << 2), to - from, cout, c, cout);
}

/**
 * An output's epilogue, each step skipped where its pointer is 0: times outScale (StyleGAN2's demodulation and the
 * activation's gain), plus the noise at pixel p (already times its weight and the gain, one value for every channel),
 * plus bias, PReLU with slopes alpha (leaky ReLU where they are all 0.2).
 */
@inline function epilogue(y: v128, ch: i32, p: i32, outScale: usize, noise: usize, bias: usize, alpha: usize): v128 {
  if (outScale) y = f32x4.mul(y, ld(outScale + (ch << 2)));
  if (noise) y = f32x4.add(y, f32x4.splat(load<f32>(noise + (p << 2))));
  if (bias) y = f32x4.add(y, ld(bias + (ch << 2)));
  if (alpha) {
    const zero = f32x4.splat(0);
    y = f32x4.add(f32x4.max(y, zero), f32x4.mul(ld(alpha + (ch << 2)), f32x4.min(y, zero)));
  }
  return y;
}

/**
 * Tiles [from, to) of the band [ty0, ty1), then per output channel the epilogue, and the outputs' sum added into
 * sums[0..cout) (for the mean a squeeze-and-excitation block takes), skipped where its pointer is 0.
 */
function outputTransform(m: usize, y: usize, w: i32, cout: i32, ty0: i32, ty1: i32, from: i32, to: i32, bias: usize, alpha: usize, sums: usize, outScale: usize, noise: usize): void {
  const tw = w >> 1, t = (ty1 - ty0) * tw;
  const plane = planeBytes(t, cout);
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
      const oy = 2 * ty, ox = 2 * tx, p = oy * w + ox;
      const o = y + ((p * cout + ch) << 2);
      const row = (w * cout) << 2, col = cout << 2;
      const y00 = epilogue(f32x4.add(f32x4.add(s0, s1), s2), ch, p, outScale, noise, bias, alpha);
      const y01 = epilogue(f32x4.sub(f32x4.sub(s1, s2), s3), ch, p + 1, outScale, noise, bias, alpha);
      const y10 = epilogue(f32x4.add(f32x4.add(q0, q1), q2), ch, p + w, outScale, noise, bias, alpha);
      const y11 = epilogue(f32x4.sub(f32x4.sub(q1, q2), q3), ch, p + w + 1, outScale, noise, bias, alpha);
      if (sums) {
        const at = sums + (ch << 2);
        v128.store(at, f32x4.add(ld(at), f32x4.add(f32x4.add(y00, y01), f32x4.add(y10, y11))));
      }
      v128.store(o, y00);
      v128.store(o + col, y01);
      v128.store(o + row, y10);
      v128.store(o + row + col, y11);
    }
  }
}

/**
 * outputTransform for F(4×4, 3×3): Aᵀ M A of each tile's 36 planes (Aᵀ = [1 1 1 1 1 0; 0 1 -1 2 -2 0;
 * 0 1 1 4 4 0; 0 1 -1 8 -8 1]), rows first into the planes in place, then columns into y with the epilogue.
 */
function outputTransform4(m: usize, y: usize, w: i32, cout: i32, ty0: i32, ty1: i32, from: i32, to: i32, bias: usize, alpha: usize, sums: usize, outScale: usize, noise: usize): void {
  const tw = w >> 2, t = (ty1 - ty0) * tw;
  const plane = planeBytes(t, cout);
  const two = f32x4.splat(2), four = f32x4.splat(4), eight = f32x4.splat(8);
  for (let tile = from; tile < to; tile++) {
    const ty = ty0 + tile / tw, tx = tile % tw;
    for (let ch = 0; ch < cout; ch += 4) {
      const base = m + ((tile * cout + ch) << 2);
      // (M A)[i][0..3] into planes 6i + 0..3
      for (let i = 0; i < 6; i++) {
        const p = base + i * 6 * plane;
        const m0 = ld(p), m1 = ld(p + plane), m2 = ld(p + 2 * plane), m3 = ld(p + 3 * plane), m4 = ld(p + 4 * plane), m5 = ld(p + 5 * plane);
        const sum12 = f32x4.add(m1, m2), diff12 = f32x4.sub(m1, m2), sum34 = f32x4.add(m3, m4), diff34 = f32x4.sub(m3, m4);
        v128.store(p, f32x4.add(f32x4.add(m0, sum12), sum34));
        v128.store(p + plane, madd(two, diff34, diff12));
        v128.store(p + 2 * plane, madd(four, sum34, sum12));
        v128.store(p + 3 * plane, f32x4.add(madd(eight, diff34, diff12), m5));
      }
      const row = (w * cout) << 2;
      let total = f32x4.splat(0);
      for (let j = 0; j < 4; j++) {
        const p = base + j * plane;
        const m0 = ld(p), m1 = ld(p + 6 * plane), m2 = ld(p + 12 * plane), m3 = ld(p + 18 * plane), m4 = ld(p + 24 * plane), m5 = ld(p + 30 * plane);
        const sum12 = f32x4.add(m1, m2), diff12 = f32x4.sub(m1, m2), sum34 = f32x4.add(m3, m4), diff34 = f32x4.sub(m3, m4);
        const px = (4 * ty) * w + 4 * tx + j;
        const o = y + ((px * cout + ch) << 2);
        const y0 = epilogue(f32x4.add(f32x4.add(m0, sum12), sum34), ch, px, outScale, noise, bias, alpha);
        const y1 = epilogue(madd(two, diff34, diff12), ch, px + w, outScale, noise, bias, alpha);
        const y2 = epilogue(madd(four, sum34, sum12), ch, px + 2 * w, outScale, noise, bias, alpha);
        const y3 = epilogue(f32x4.add(madd(eight, diff34, diff12), m5), ch, px + 3 * w, outScale, noise, bias, alpha);
        v128.store(o, y0); v128.store(o + row, y1); v128.store(o + 2 * row, y2); v128.store(o + 3 * row, y3);
        if (sums) total = f32x4.add(total, f32x4.add(f32x4.add(y0, y1), f32x4.add(y2, y3)));
      }
      if (sums) v128.store(sums + (ch << 2), f32x4.add(ld(sums + (ch << 2)), total));
    }
  }
}

/**
 * One tap of a direct convolution for 4 outputs × 8 output channels: the C input channels of pixels p0..p3 (or
 * `zeros`) times the tap's part of a panel (C × 8), into y at `out` (outputs `next` bytes apart), added to what y
 * holds there when `accumulate` (the later taps). Only the first `valid` outputs are read and written (a row's last
 * group may be short). Shared by convStride2 and transposedPhases.
 */
@inline function tapBlock(out: usize, next: i32, p0: usize, p1: usize, p2: usize, p3: usize, panel: usize, c: i32, accumulate: bool, valid: i32): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  if (accumulate) {
    c00 = ld(out); c01 = ld(out + 16);
    if (valid > 1) { c10 = ld(out + next); c11 = ld(out + next + 16); }
    if (valid > 2) { c20 = ld(out + 2 * next); c21 = ld(out + 2 * next + 16); }
    if (valid > 3) { c30 = ld(out + 3 * next); c31 = ld(out + 3 * next + 16); }
  }
  let pb = panel;
  for (let p = 0; p < c; p++) {
    const b0 = v128.load(pb), b1 = v128.load(pb, 16);
    const a0 = v128.load32_splat(p0), a1 = v128.load32_splat(p1);
    const a2 = v128.load32_splat(p2), a3 = v128.load32_splat(p3);
    c00 = madd(a0, b0, c00); c01 = madd(a0, b1, c01);
    c10 = madd(a1, b0, c10); c11 = madd(a1, b1, c11);
    c20 = madd(a2, b0, c20); c21 = madd(a2, b1, c21);
    c30 = madd(a3, b0, c30); c31 = madd(a3, b1, c31);
    p0 += 4; p1 += 4; p2 += 4; p3 += 4; pb += 32;
  }
  v128.store(out, c00); v128.store(out, c01, 16);
  if (valid > 1) { v128.store(out + next, c10); v128.store(out + next, c11, 16); }
  if (valid > 2) { v128.store(out + 2 * next, c20); v128.store(out + 2 * next, c21, 16); }
  if (valid > 3) { v128.store(out + 3 * next, c30); v128.store(out + 3 * next, c31, 16); }
}

/**
 * Output rows [from, to) of a direct 3×3 convolution with stride 2 and zero padding 1 (Winograd's transforms do not
 * take a stride), x [H, W, C] -> y [H / 2, W / 2, Cout], filter f [Cout / 8, 9, C, 8] (panels of 8 output channels);
 * then + bias and the outputs' sum into sums, as outputTransform does. Blocked as gemm is: for each block of 64
 * outputs, each tap and each panel, the tap's part of the panel (C × 8: at most 16 KiB) stays in the first-level cache
 * while every 4 outputs of the block read it, accumulating in y; taking the whole panel (9 C × 8) for every 4 outputs
 * ran from the second-level cache, slower than XNNPACK. Taps outside the image read `zeros` (C zeros), so the inner
 * loop has no bounds checks.
 */
function convStride2(x: usize, f: usize, y: usize, h: i32, w: i32, c: i32, cout: i32, from: i32, to: i32, zeros: usize, bias: usize, sums: usize): void {
  const wo = w >> 1, tapFloats = c << 3, next = cout << 2;
  const first = from * wo, last = to * wo; // outputs, row-major
  for (let o0 = first; o0 < last; o0 += 64) {
    const o1 = min(last, o0 + 64);
    for (let tap = 0; tap < 9; tap++) {
      const dy = tap / 3 - 1, dx = tap % 3 - 1;
      for (let j = 0; j < cout; j += 8) {
        const panel = f + ((((j >> 3) * 9 + tap) * tapFloats) << 2);
        for (let o = o0; o < o1; o += 4) {
          const oy = o / wo, ox = o % wo; // 4 outputs in one row: wo is in 4s
          const yy = 2 * oy + dy, x0 = 2 * ox + dx;
          const rowOk = yy >= 0 && yy < h;
          const row = x + ((yy * w * c) << 2);
          const p0 = rowOk && x0 >= 0 ? row + ((x0 * c) << 2) : zeros;
          const p1 = rowOk ? row + (((x0 + 2) * c) << 2) : zeros;
          const p2 = rowOk ? row + (((x0 + 4) * c) << 2) : zeros;
          const p3 = rowOk && x0 + 6 < w ? row + (((x0 + 6) * c) << 2) : zeros;
          tapBlock(y + ((o * cout + j) << 2), next, p0, p1, p2, p3, panel, c, tap > 0, 4);
        }
      }
    }
    if (!bias && !sums) continue;
    for (let o = o0; o < o1; o++) {
      for (let j = 0; j < cout; j += 4) {
        const p = y + ((o * cout + j) << 2);
        let v = ld(p);
        if (bias) { v = f32x4.add(v, ld(bias + (j << 2))); v128.store(p, v); }
        if (sums) v128.store(sums + (j << 2), f32x4.add(ld(sums + (j << 2)), v));
      }
    }
  }
}

/**
 * Rows m in [from, to) of the phase grid of a transposed 3×3 convolution with stride 2 (StyleGAN2's upsampling layer,
 * before its blur): T[2m + ry][2n + rx] = Σ x[m + dy][n + dx] · w[ky][kx] over the phase's taps (ry = 0: ky 2 with
 * dy −1 and ky 0 with dy 0; ry = 1: ky 1 with dy 0; the same across), for m in 0..H and n in 0..W, x zero outside
 * the image. x [H, W, C] -> t [2H + 2, 2W + 2, Cout]; filter f [Cout / 8, 9, C, 8], as convStride2's. Written
 * straight into the interleaved picture: tfjs-wasm ran the four phases as four convolutions and moved them into
 * place with a transpose. 4 outputs of a phase row at a time (W + 1 is odd: the last group has one).
 */
function transposedPhases(x: usize, f: usize, t: usize, h: i32, w: i32, c: i32, cout: i32, from: i32, to: i32, zeros: usize): void {
  const tapFloats = c << 3, tw = 2 * w + 2, next = cout << 3; // the next output of a phase is two pixels on
  for (let m = from; m < to; m++) {
    for (let ry = 0; ry < 2; ry++) {
      const taps = ry == 0 ? 2 : 1;
      for (let rx = 0; rx < 2; rx++) {
        const across = rx == 0 ? 2 : 1;
        for (let a = 0; a < taps; a++) {
          const ky = ry == 1 ? 1 : a == 0 ? 2 : 0, yy = ry == 0 && a == 0 ? m - 1 : m;
          const rowOk = yy >= 0 && yy < h;
          const row = x + ((yy * w * c) << 2);
          for (let b = 0; b < across; b++) {
            const kx = rx == 1 ? 1 : b == 0 ? 2 : 0, dx = rx == 0 && b == 0 ? -1 : 0;
            const first = a == 0 && b == 0;
            for (let j = 0; j < cout; j += 8) {
              const panel = f + ((((j >> 3) * 9 + ky * 3 + kx) * tapFloats) << 2);
              for (let n = 0; n <= w; n += 4) {
                const x0 = n + dx, valid = min(4, w + 1 - n);
                const p0 = rowOk && x0 >= 0 && x0 < w ? row + ((x0 * c) << 2) : zeros;
                const p1 = rowOk && valid > 1 && x0 + 1 >= 0 && x0 + 1 < w ? row + (((x0 + 1) * c) << 2) : zeros;
                const p2 = rowOk && valid > 2 && x0 + 2 >= 0 && x0 + 2 < w ? row + (((x0 + 2) * c) << 2) : zeros;
                const p3 = rowOk && valid > 3 && x0 + 3 >= 0 && x0 + 3 < w ? row + (((x0 + 3) * c) << 2) : zeros;
                tapBlock(t + ((((2 * m + ry) * tw + 2 * n + rx) * cout + j) << 2), next, p0, p1, p2, p3, panel, c, !first, valid);
              }
            }
          }
        }
      }
    }
  }
}

/** Pixels [from, to) of x [·, C] times scale per channel, in place (an upsampling layer's style, before its taps). */
function scaleChannels(x: usize, c: i32, scale: usize, from: i32, to: i32): void {
  for (let p = from; p < to; p++) {
    const px = x + ((p * c) << 2);
    for (let ch = 0; ch < c; ch += 4) v128.store(px + (ch << 2), f32x4.mul(ld(px + (ch << 2)), ld(scale + (ch << 2))));
  }
}

/**
 * Rows [from, to) of StyleGAN2's upsampled picture z [2H, 2W, C] from the phase grid t [2H + 2, 2W + 2, C]
 * (transposedPhases): the blur [1, 3, 3, 1] / 4 (times the upsampling's gain 4) down t's rows into r, this unit's
 * row of scratch [2W + 2, C], then across r with the epilogue (times outScale, + noise, + bias, PReLU). t's row and
 * column −1 are the blur's zero padding. tfjs read and wrote the picture once for each of the two blurs and each
 * step of the epilogue, on one thread.
 */
function blurPhaseGrid(t: usize, z: usize, r: usize, w2: i32, c: i32, from: i32, to: i32, outScale: usize, noise: usize, bias: usize, alpha: usize): void {
  const rowBytes = ((w2 + 2) * c) << 2, pixelBytes = c << 2;
  const outer = f32x4.splat(0.25), inner = f32x4.splat(0.75), zero = f32x4.splat(0);
  for (let i = from; i < to; i++) {
    const row = t + i * rowBytes; // t's row i; z's row i reads t's rows i − 1 … i + 2
    for (let q = 0; q < rowBytes; q += 16) {
      const above = i > 0 ? ld(row - rowBytes + q) : zero;
      v128.store(r + q, madd(outer, f32x4.add(above, ld(row + 2 * rowBytes + q)), f32x4.mul(inner, f32x4.add(ld(row + q), ld(row + rowBytes + q)))));
    }
    for (let j = 0; j < w2; j++) {
      const at = r + j * pixelBytes, out = z + (((i * w2 + j) * c) << 2);
      for (let ch = 0; ch < c; ch += 4) {
        const q = ch << 2;
        const left = j > 0 ? ld(at - pixelBytes + q) : zero;
        const y = madd(outer, f32x4.add(left, ld(at + 2 * pixelBytes + q)), f32x4.mul(inner, f32x4.add(ld(at + q), ld(at + pixelBytes + q))));
        v128.store(out + q, epilogue(y, ch, i * w2 + j, outScale, noise, bias, alpha));
      }
    }
  }
}

// StyleGAN2's upsampling (the transposed 3×3 convolution with stride 2) by Winograd's F(2, 2) (points 0, 1, ∞). Its
// phase grid T [2H + 2, 2W + 2, Cout] (see transposedPhases) is, for m in 0..H and n in 0..W, four small correlations
// of x's window rows m − 1 … m, columns n − 1 … n: phase (0, 0) a 2×2 one, (0, 1) 2×1, (1, 0) 1×2, (1, 1) 1×1. A
// super-tile of 2×2 (m, n) reads x's 3×3 window from (2ty − 1, 2tx − 1) and takes 25 products (9 + 6 + 6 + 4) where
// the direct form takes 36, as the products of the stride-1 form: v [25, T, C] by the filter's 16 distinct positions
// u [16, Cout / 8, C, 8] into m [25, T, Cout]. Positions: 0-8 Bᵀ d B (phase (0, 0), 3i + j); 9-14 (Bᵀ d)[i][1 + j]
// ((0, 1), 9 + 2i + j, filter 9 + i); 15-20 (d B)[1 + i][j] ((1, 0), 15 + 3i + j, filter 12 + j); 21-24 d[1 + i][1 + j]
// ((1, 1), filter 15). Bᵀ = [1 -1 0; 0 1 0; 0 -1 1], Aᵀ = [1 1 0; 0 1 1]. Super-tiles: (H / 2 + 1) × (W / 2 + 1), a
// band's count rounded up to 4 for the products (the extra rows are never read back).

/** A band's super-tiles rounded up to the products' 4s. */
@inline function tiles4(t: i32): i32 { return (t + 3) & ~3; }

/** The filter position a product of the transposed form reads. */
@inline function transposedFilter(k: i32): i32 { return k < 9 ? k : k < 15 ? 9 + ((k - 9) >> 1) : k < 21 ? 12 + (k - 15) % 3 : 15; }

/** Super-tile rows [from, to) of the band [ty0, ty1) into v's 25 planes. */
function transposedInput(x: usize, v: usize, h: i32, w: i32, c: i32, ty0: i32, ty1: i32, from: i32, to: i32): void {
  const tw = (w >> 1) + 1;
  const plane = planeBytes(tiles4((ty1 - ty0) * tw), c);
  const one = f32x4.splat(1), zero = f32x4.splat(0);
  for (let ty = from; ty < to; ty++) for (let tx = 0; tx < tw; tx++) {
    const tile = (ty - ty0) * tw + tx;
    const y0 = 2 * ty - 1, x0 = 2 * tx - 1;
    for (let ch = 0; ch < c; ch += 4) {
      const d00 = pixel(x, h, w, c, y0, x0, ch, one, zero), d01 = pixel(x, h, w, c, y0, x0 + 1, ch, one, zero), d02 = pixel(x, h, w, c, y0, x0 + 2, ch, one, zero);
      const d10 = pixel(x, h, w, c, y0 + 1, x0, ch, one, zero), d11 = pixel(x, h, w, c, y0 + 1, x0 + 1, ch, one, zero), d12 = pixel(x, h, w, c, y0 + 1, x0 + 2, ch, one, zero);
      const d20 = pixel(x, h, w, c, y0 + 2, x0, ch, one, zero), d21 = pixel(x, h, w, c, y0 + 2, x0 + 1, ch, one, zero), d22 = pixel(x, h, w, c, y0 + 2, x0 + 2, ch, one, zero);
      // d B, row by row
      const e00 = f32x4.sub(d00, d01), e02 = f32x4.sub(d02, d01);
      const e10 = f32x4.sub(d10, d11), e12 = f32x4.sub(d12, d11);
      const e20 = f32x4.sub(d20, d21), e22 = f32x4.sub(d22, d21);
      const base = v + ((tile * c + ch) << 2);
      // (0, 0): Bᵀ (d B)
      v128.store(base, f32x4.sub(e00, e10)); v128.store(base + plane, f32x4.sub(d01, d11)); v128.store(base + 2 * plane, f32x4.sub(e02, e12));
      v128.store(base + 3 * plane, e10); v128.store(base + 4 * plane, d11); v128.store(base + 5 * plane, e12);
      v128.store(base + 6 * plane, f32x4.sub(e20, e10)); v128.store(base + 7 * plane, f32x4.sub(d21, d11)); v128.store(base + 8 * plane, f32x4.sub(e22, e12));
      // (0, 1): Bᵀ d on columns 1 and 2
      v128.store(base + 9 * plane, f32x4.sub(d01, d11)); v128.store(base + 10 * plane, f32x4.sub(d02, d12));
      v128.store(base + 11 * plane, d11); v128.store(base + 12 * plane, d12);
      v128.store(base + 13 * plane, f32x4.sub(d21, d11)); v128.store(base + 14 * plane, f32x4.sub(d22, d12));
      // (1, 0): d B on rows 1 and 2
      v128.store(base + 15 * plane, e10); v128.store(base + 16 * plane, d11); v128.store(base + 17 * plane, e12);
      v128.store(base + 18 * plane, f32x4.sub(d20, d21)); v128.store(base + 19 * plane, d21); v128.store(base + 20 * plane, e22);
      // (1, 1): d itself
      v128.store(base + 21 * plane, d11); v128.store(base + 22 * plane, d12);
      v128.store(base + 23 * plane, d21); v128.store(base + 24 * plane, d22);
    }
  }
}

/** Stores value at row r, column q of the phase grid t [·, gw, C] (channels ch … ch + 3). */
@inline function gridStore(t: usize, gw: i32, cout: i32, r: i32, q: i32, ch: i32, value: v128): void {
  v128.store(t + (((r * gw + q) * cout + ch) << 2), value);
}

/** Super-tiles [from, to) of the band [ty0, ty1): Aᵀ of m's 25 planes into the phase grid t, inside it only. */
function transposedOutput(m: usize, t: usize, h: i32, w: i32, cout: i32, ty0: i32, ty1: i32, from: i32, to: i32): void {
  const tw = (w >> 1) + 1, gw = 2 * w + 2;
  const plane = planeBytes(tiles4((ty1 - ty0) * tw), cout);
  for (let tile = from; tile < to; tile++) {
    const ty = ty0 + tile / tw, tx = tile % tw;
    const m0 = 2 * ty, n0 = 2 * tx; // the super-tile's (m, n)
    const down = m0 + 1 <= h, right = n0 + 1 <= w; // its second row and column are in the grid
    for (let ch = 0; ch < cout; ch += 4) {
      const base = m + ((tile * cout + ch) << 2);
      // (0, 0): Aᵀ M A
      const a0 = f32x4.add(ld(base), ld(base + plane)), a1 = f32x4.add(ld(base + plane), ld(base + 2 * plane));
      const b0 = f32x4.add(ld(base + 3 * plane), ld(base + 4 * plane)), b1 = f32x4.add(ld(base + 4 * plane), ld(base + 5 * plane));
      const c0 = f32x4.add(ld(base + 6 * plane), ld(base + 7 * plane)), c1 = f32x4.add(ld(base + 7 * plane), ld(base + 8 * plane));
      gridStore(t, gw, cout, 2 * m0, 2 * n0, ch, f32x4.add(a0, b0));
      if (right) gridStore(t, gw, cout, 2 * m0, 2 * n0 + 2, ch, f32x4.add(a1, b1));
      if (down) gridStore(t, gw, cout, 2 * m0 + 2, 2 * n0, ch, f32x4.add(b0, c0));
      if (down && right) gridStore(t, gw, cout, 2 * m0 + 2, 2 * n0 + 2, ch, f32x4.add(b1, c1));
      // (0, 1): Aᵀ on each column
      const p9 = ld(base + 9 * plane), p10 = ld(base + 10 * plane), p11 = ld(base + 11 * plane), p12 = ld(base + 12 * plane);
      const p13 = ld(base + 13 * plane), p14 = ld(base + 14 * plane);
      gridStore(t, gw, cout, 2 * m0, 2 * n0 + 1, ch, f32x4.add(p9, p11));
      if (right) gridStore(t, gw, cout, 2 * m0, 2 * n0 + 3, ch, f32x4.add(p10, p12));
      if (down) gridStore(t, gw, cout, 2 * m0 + 2, 2 * n0 + 1, ch, f32x4.add(p11, p13));
      if (down && right) gridStore(t, gw, cout, 2 * m0 + 2, 2 * n0 + 3, ch, f32x4.add(p12, p14));
      // (1, 0): A on each row
      const p15 = ld(base + 15 * plane), p16 = ld(base + 16 * plane), p17 = ld(base + 17 * plane);
      const p18 = ld(base + 18 * plane), p19 = ld(base + 19 * plane), p20 = ld(base + 20 * plane);
      gridStore(t, gw, cout, 2 * m0 + 1, 2 * n0, ch, f32x4.add(p15, p16));
      if (right) gridStore(t, gw, cout, 2 * m0 + 1, 2 * n0 + 2, ch, f32x4.add(p16, p17));
      if (down) gridStore(t, gw, cout, 2 * m0 + 3, 2 * n0, ch, f32x4.add(p18, p19));
      if (down && right) gridStore(t, gw, cout, 2 * m0 + 3, 2 * n0 + 2, ch, f32x4.add(p19, p20));
      // (1, 1)
      gridStore(t, gw, cout, 2 * m0 + 1, 2 * n0 + 1, ch, ld(base + 21 * plane));
      if (right) gridStore(t, gw, cout, 2 * m0 + 1, 2 * n0 + 3, ch, ld(base + 22 * plane));
      if (down) gridStore(t, gw, cout, 2 * m0 + 3, 2 * n0 + 1, ch, ld(base + 23 * plane));
      if (down && right) gridStore(t, gw, cout, 2 * m0 + 3, 2 * n0 + 3, ch, ld(base + 24 * plane));
    }
  }
}

/**
 * Position i of Winograd's G applied to 3 taps (a, b, c): F(2×2, 3×3)'s G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1], F(4×4,
 * 3×3)'s [¼ 0 0; −⅙ −⅙ −⅙; −⅙ ⅙ −⅙; 1⁄24 1⁄12 ⅙; 1⁄24 −1⁄12 ⅙; 0 0 1].
 */
@inline function spread(a: v128, b: v128, c: v128, i: i32, four: bool): v128 {
  if (!four) {
    if (i == 0) return a;
    if (i == 3) return c;
    const half = f32x4.splat(0.5), ends = f32x4.add(a, c);
    return f32x4.mul(half, i == 1 ? f32x4.add(ends, b) : f32x4.sub(ends, b));
  }
  if (i == 0) return f32x4.mul(a, f32x4.splat(0.25));
  if (i == 5) return c;
  if (i < 3) {
    const ends = f32x4.add(a, c);
    return f32x4.mul(f32x4.splat(-1.0 / 6.0), i == 1 ? f32x4.add(ends, b) : f32x4.sub(ends, b));
  }
  const outer = f32x4.add(f32x4.mul(a, f32x4.splat(1.0 / 24.0)), f32x4.mul(c, f32x4.splat(1.0 / 6.0)));
  const inner = f32x4.mul(b, f32x4.splat(1.0 / 12.0));
  return i == 3 ? f32x4.add(outer, inner) : f32x4.sub(outer, inner);
}

/**
 * Input channels [from, to) of a 3×3 filter g [3, 3, C, Cout] (HWIO) into Winograd's form u [P, Cout / 8, C, 8]:
 * G g Gᵀ for 4 output channels at a time (P = 16 or 36 positions). In JavaScript, one value at a time, the official
 * encoder's filters took 1.2 s of its load once a third of them were F(4×4).
 */
function winogradFilter(g: usize, u: usize, c: i32, cout: i32, four: bool, from: i32, to: i32): void {
  const n = four ? 6 : 4, tap = (c * cout) << 2, panel = tap; // bytes from one tap (or one position) to the next
  for (let ci = from; ci < to; ci++) for (let co = 0; co < cout; co += 4) {
    const src = g + ((ci * cout + co) << 2);
    const g00 = ld(src), g01 = ld(src + tap), g02 = ld(src + 2 * tap);
    const g10 = ld(src + 3 * tap), g11 = ld(src + 4 * tap), g12 = ld(src + 5 * tap);
    const g20 = ld(src + 6 * tap), g21 = ld(src + 7 * tap), g22 = ld(src + 8 * tap);
    const dst = u + (((((co >> 3) * c + ci) << 3) + (co & 7)) << 2);
    for (let p = 0; p < n; p++) {
      // (G g)[p][x], then G along x
      const c0 = spread(g00, g10, g20, p, four), c1 = spread(g01, g11, g21, p, four), c2 = spread(g02, g12, g22, p, four);
      for (let q = 0; q < n; q++) v128.store(dst + (p * n + q) * panel, spread(c0, c1, c2, q, four));
    }
  }
}

/**
 * The transposed convolution's filter for Winograd's F(2, 2) (TRANSPOSED_PRODUCTS' 16 filter positions), input channels
 * [from, to), from the filter g [3, 3, C, Cout] (HWIO) into U's panels: a phase's first tap reads the row or column
 * before (ky or kx 2), its second this one (0), and G k = (k0, k0 + k1, k1) (G = [1 0; 1 1; 0 1]) runs down and across
 * for phase (0, 0) (positions 0-8), down for (0, 1) (9-11), across for (1, 0) (12-14); phase (1, 1) is the middle tap (15).
 */
function transposedFilterForm(g: usize, u: usize, c: i32, cout: i32, from: i32, to: i32): void {
  const tap = (c * cout) << 2, panel = tap;
  for (let ci = from; ci < to; ci++) for (let co = 0; co < cout; co += 4) {
    const src = g + ((ci * cout + co) << 2);
    const w00 = ld(src), w01 = ld(src + tap), w02 = ld(src + 2 * tap);
    const w10 = ld(src + 3 * tap), w11 = ld(src + 4 * tap), w12 = ld(src + 5 * tap);
    const w20 = ld(src + 6 * tap), w21 = ld(src + 7 * tap), w22 = ld(src + 8 * tap);
    const dst = u + (((((co >> 3) * c + ci) << 3) + (co & 7)) << 2);
    const top0 = w22, top1 = f32x4.add(w22, w20), top2 = w20;
    const bottom0 = w02, bottom1 = f32x4.add(w02, w00), bottom2 = w00;
    v128.store(dst, top0); v128.store(dst + panel, top1); v128.store(dst + 2 * panel, top2);
    v128.store(dst + 3 * panel, f32x4.add(top0, bottom0)); v128.store(dst + 4 * panel, f32x4.add(top1, bottom1)); v128.store(dst + 5 * panel, f32x4.add(top2, bottom2));
    v128.store(dst + 6 * panel, bottom0); v128.store(dst + 7 * panel, bottom1); v128.store(dst + 8 * panel, bottom2);
    v128.store(dst + 9 * panel, w21); v128.store(dst + 10 * panel, f32x4.add(w21, w01)); v128.store(dst + 11 * panel, w01);
    v128.store(dst + 12 * panel, w12); v128.store(dst + 13 * panel, f32x4.add(w12, w10)); v128.store(dst + 14 * panel, w10);
    v128.store(dst + 15 * panel, w11);
  }
}

/**
 * Panels [from, to) of 8 columns of B [K, N] (or of Bᵀ, given X = B transposed, [N, K]) into [N / 8, K, 8], the
 * layout gemm reads.
 */
function pack(src: usize, dst: usize, k: i32, n: i32, transposed: bool, from: i32, to: i32): void {
  for (let p = from; p < to; p++) {
    const out = dst + ((p * k * 8) << 2);
    if (!transposed) {
      for (let kk = 0; kk < k; kk++) {
        const row = src + ((kk * n + p * 8) << 2);
        v128.store(out + (kk << 5), ld(row)); v128.store(out + (kk << 5), ld(row + 16), 16);
      }
    } else {
      for (let i = 0; i < 8; i++) {
        const row = src + (((p * 8 + i) * k) << 2);
        for (let kk = 0; kk < k; kk++) store<f32>(out + (((kk << 3) + i) << 2), load<f32>(row + (kk << 2)));
      }
    }
  }
}

// The job block's words (i32): the first eight belong to the callers' scheduling (src/kernels/conv3x3/index.ts), the
// rest describe the step.
const STEP = 8, X = 9, V = 10, M = 11, Y = 12, U = 13, H = 14, W = 15, C = 16, COUT = 17, TY0 = 18, TY1 = 19, PER = 20;
const SCALE = 21, SHIFT = 22, BIAS = 23, ALPHA = 24, SUMS = 25, ZEROS = 26, OUT_SCALE = 27, NOISE = 28, TILE = 29;
export const INPUT_TRANSFORM = 0, PRODUCTS = 1, OUTPUT_TRANSFORM = 2, CONV_STRIDE_2 = 3, PACK = 4, MATMUL = 5, TRANSPOSED_PHASES = 6, SCALE_CHANNELS = 7, BLUR_PHASE_GRID = 8,
  TRANSPOSED_INPUT = 9, TRANSPOSED_PRODUCTS = 10, TRANSPOSED_OUTPUT = 11, WINOGRAD_FILTER = 12, TRANSPOSED_FILTER = 13;
// PACK and MATMUL (C [M, N] = A [M, K] × B [K, N]) name their words apart:
const SRC = X, PACKED = V, A = X, CMAT = Y, ROWS = H, COLS = COUT, DEPTH = C, TRANSPOSED = TY0, COL_GROUPS = TY1;

@inline function word(job: usize, i: i32): i32 { return load<i32>(job + (<usize>i << 2)); }

/** Runs unit `unit` of the step in the job block at `job`; every unit of a step may run at once with the others. */
export function runUnit(job: usize, unit: i32): void {
  const step = word(job, STEP), per = word(job, PER);
  const w = word(job, W), ty0 = word(job, TY0), ty1 = word(job, TY1);
  // Winograd's output tile (stride 1): 4 for F(4×4, 3×3), with 36 products; else 2, with 16
  const four = word(job, TILE) == 4, positions = four ? 36 : 16;
  const t = (ty1 - ty0) * (four ? w >> 2 : w >> 1);
  if (step == INPUT_TRANSFORM) {
    const from = ty0 + unit * per;
    if (four) inputTransform4(word(job, X), word(job, V), word(job, H), w, word(job, C), ty0, ty1, from, min(ty1, from + per), word(job, SCALE), word(job, SHIFT));
    else inputTransform(word(job, X), word(job, V), word(job, H), w, word(job, C), ty0, ty1, from, min(ty1, from + per), word(job, SCALE), word(job, SHIFT));
  } else if (step == PRODUCTS) {
    const from = (unit / positions) * per;
    const k = unit % positions;
    product(word(job, V), word(job, U), word(job, M), t, word(job, C), word(job, COUT), k, k, from, min(t, from + per));
  } else if (step == PACK) {
    const from = unit * per;
    pack(word(job, SRC), word(job, PACKED), word(job, DEPTH), word(job, COLS), word(job, TRANSPOSED) != 0, from, min(word(job, COLS) >> 3, from + per));
  } else if (step == MATMUL) {
    // units: blocks of 64 rows by groups of `per` panels of 8 columns
    const groups = word(job, COL_GROUPS), m = word(job, ROWS), n = word(job, COLS), k = word(job, DEPTH);
    const r0 = (unit / groups) * 64, j0 = (unit % groups) * per * 8;
    const j1 = min(n, j0 + per * 8);
    gemm(word(job, A) + ((r0 * k) << 2), word(job, PACKED) + ((j0 * k) << 2), word(job, CMAT) + ((r0 * n + j0) << 2), min(m, r0 + 64) - r0, j1 - j0, k, n);
  } else if (step == TRANSPOSED_PHASES) {
    // units are rows of the phase grid (0..H); the output is t at Y
    const from = unit * per;
    transposedPhases(word(job, X), word(job, U), word(job, Y), word(job, H), w, word(job, C), word(job, COUT), from, min(word(job, H) + 1, from + per), word(job, ZEROS));
  } else if (step == TRANSPOSED_INPUT) {
    // units are super-tile rows of the band [ty0, ty1); x at X, v at V
    const from = ty0 + unit * per;
    transposedInput(word(job, X), word(job, V), word(job, H), w, word(job, C), ty0, ty1, from, min(ty1, from + per));
  } else if (step == TRANSPOSED_PRODUCTS) {
    // units: 25 positions by blocks of `per` super-tiles (in 4s)
    const t4 = tiles4((ty1 - ty0) * ((w >> 1) + 1)), k = unit % 25, from = (unit / 25) * per;
    product(word(job, V), word(job, U), word(job, M), t4, word(job, C), word(job, COUT), k, transposedFilter(k), from, min(t4, from + per));
  } else if (step == TRANSPOSED_OUTPUT) {
    // units are super-tiles of the band; the phase grid at Y
    const from = unit * per, t = (ty1 - ty0) * ((w >> 1) + 1);
    transposedOutput(word(job, M), word(job, Y), word(job, H), w, word(job, COUT), ty0, ty1, from, min(t, from + per));
  } else if (step == WINOGRAD_FILTER) {
    // units are input channels; the filter at X into U, for output tiles of TILE
    const from = unit * per;
    winogradFilter(word(job, X), word(job, U), word(job, C), word(job, COUT), four, from, min(word(job, C), from + per));
  } else if (step == TRANSPOSED_FILTER) {
    // units are input channels; the filter at X into U, F(2, 2)'s 16 positions
    const from = unit * per;
    transposedFilterForm(word(job, X), word(job, U), word(job, C), word(job, COUT), from, min(word(job, C), from + per));
  } else if (step == SCALE_CHANNELS) {
    // units are pixels [unit · per, …) of the H · W at X
    const from = unit * per;
    scaleChannels(word(job, X), word(job, C), word(job, SCALE), from, min(word(job, H) * w, from + per));
  } else if (step == BLUR_PHASE_GRID) {
    // units are rows of the picture (2H at H, 2W at W) from the grid at X into Y, each with its scratch row at M
    const from = unit * per, c = word(job, C);
    blurPhaseGrid(word(job, X), word(job, Y), word(job, M) + unit * (((w + 2) * c) << 2), w, c, from, min(word(job, H), from + per),
      word(job, OUT_SCALE), word(job, NOISE), word(job, BIAS), word(job, ALPHA));
  } else if (step == CONV_STRIDE_2) {
    // units are output rows; ty0 and ty1 are unused (the whole image is one band)
    const from = unit * per, sums = word(job, SUMS);
    convStride2(word(job, X), word(job, U), word(job, Y), word(job, H), w, word(job, C), word(job, COUT), from,
      min(word(job, H) >> 1, from + per), word(job, ZEROS), word(job, BIAS), sums ? sums + ((unit * word(job, COUT)) << 2) : 0);
  } else {
    const from = unit * per;
    // each unit sums into its own row of sums ([units, cout]), so units running at once never add into one place
    const sums = word(job, SUMS), unitSums = sums ? sums + ((unit * word(job, COUT)) << 2) : 0;
    if (four) outputTransform4(word(job, M), word(job, Y), w, word(job, COUT), ty0, ty1, from, min(t, from + per), word(job, BIAS), word(job, ALPHA), unitSums, word(job, OUT_SCALE), word(job, NOISE));
    else outputTransform(word(job, M), word(job, Y), w, word(job, COUT), ty0, ty1, from, min(t, from + per), word(job, BIAS), word(job, ALPHA), unitSums, word(job, OUT_SCALE), word(job, NOISE));
  }
}
