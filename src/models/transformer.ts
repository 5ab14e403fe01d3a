import * as tf from '@tensorflow/tfjs-core';
import { RawWeights, TensorOwner } from './weights';

/**
 * DETR's post-norm TransformerDecoderLayer as the Style Transformer uses it: self-attention over the queries,
 * cross-attention from the queries to a memory, a ReLU feed-forward, each followed by residual + LayerNorm.
 * Tokens are [B, N, D] here (PyTorch's are [N, B, D]).
 */

interface Attention {
  wq: tf.Tensor2D; bq: tf.Tensor1D;
  wk: tf.Tensor2D; bk: tf.Tensor1D;
  wv: tf.Tensor2D; bv: tf.Tensor1D;
  wo: tf.Tensor2D; bo: tf.Tensor1D;
  /** Wk as PyTorch stores it, [out, in]: maps queries into the memory's space (cross-attention only). */
  wkRows?: tf.Tensor2D;
}

interface Norm { gamma: tf.Tensor1D; beta: tf.Tensor1D }

/** a × b, or a × bᵀ: the products of attention over a long memory, which an owner may run elsewhere. */
export type MatMul = (a: tf.Tensor2D, b: tf.Tensor2D, transposeB: boolean) => tf.Tensor2D;

/**
 * tfjs's, with b transposed first: tfjs-wasm's matMul with a transposed operand runs a slow loop (133 ms for what
 * takes 13.5 ms this way, official shapes, Node wasm).
 */
export const tfMatMul: MatMul = (a, b, transposeB) => tf.matMul(a, transposeB ? tf.transpose(b) : b);

export class TransformerDecoderLayer extends TensorOwner {
  readonly dModel: number;
  private readonly selfAttn: Attention;
  private readonly crossAttn: Attention;
  private readonly linear1: { w: tf.Tensor2D; b: tf.Tensor1D };
  private readonly linear2: { w: tf.Tensor2D; b: tf.Tensor1D };
  private readonly norms: Norm[];
  /** [H, 1, D]: 1 in head j's columns of row j, 0 elsewhere. */
  private readonly headMask: tf.Tensor3D;

  /**
   * The head count is not stored in the weights; it is 4 in every official model. `matMul` runs the two products
   * of cross-attention with the memory (the encoder passes its kernel's, on wasm).
   */
  constructor(weights: RawWeights, readonly heads = 4, private readonly matMul: MatMul = tfMatMul) {
    super();
    this.dModel = weights.shape('self_attn.out_proj.weight')[0];
    this.selfAttn = this.attention(weights.scope('self_attn.'));
    this.crossAttn = this.attention(weights.scope('multihead_attn.'));
    this.crossAttn.wkRows = this.keep(tf.tidy(() => tf.transpose(this.crossAttn.wk) as tf.Tensor2D));
    this.linear1 = this.linear(weights, 'linear1');
    this.linear2 = this.linear(weights, 'linear2');
    const headWidth = this.dModel / heads;
    this.headMask = this.keep(tf.tensor3d(
      Array.from({ length: heads * this.dModel }, (_, i) => (Math.floor((i % this.dModel) / headWidth) === Math.floor(i / this.dModel) ? 1 : 0)),
      [heads, 1, this.dModel]));
    this.norms = [1, 2, 3].map((i) => ({
      gamma: this.keep(weights.tensor(`norm${i}.weight`) as tf.Tensor1D),
      beta: this.keep(weights.tensor(`norm${i}.bias`) as tf.Tensor1D),
    }));
  }

  private linear(weights: RawWeights, name: string) {
    return {
      w: this.keep(tf.tidy(() => tf.transpose(weights.tensor(`${name}.weight`)) as tf.Tensor2D)),
      b: this.keep(weights.tensor(`${name}.bias`) as tf.Tensor1D),
    };
  }

  private attention(weights: RawWeights): Attention {
    const d = this.dModel;
    const slices = tf.tidy(() => {
      const w = weights.tensor('in_proj_weight');
      const b = weights.tensor('in_proj_bias');
      return [0, 1, 2].map((i) => ({
        w: tf.transpose(tf.slice(w, [i * d, 0], [d, d])) as tf.Tensor2D,
        b: tf.slice(b, [i * d], [d]) as tf.Tensor1D,
      }));
    });
    for (const s of slices) { this.keep(s.w); this.keep(s.b); }
    const out = this.linear(weights, 'out_proj');
    return {
      wq: slices[0].w, bq: slices[0].b, wk: slices[1].w, bk: slices[1].b, wv: slices[2].w, bv: slices[2].b,
      wo: out.w, bo: out.b,
    };
  }

  /** queries [B, N, D], memory [B, M, D] -> [B, N, D]. */
  apply(queries: tf.Tensor3D, memory: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => {
      let x = this.norm(tf.add(queries, this.attend(this.selfAttn, queries, queries)), 0);
      x = this.norm(tf.add(x, this.attend(this.crossAttn, x, memory)), 1);
      const hidden = tf.relu(project(x, this.linear1.w, this.linear1.b));
      return this.norm(tf.add(x, project(hidden, this.linear2.w, this.linear2.b)), 2);
    });
  }

  private attend(a: Attention, query: tf.Tensor3D, memory: tf.Tensor3D): tf.Tensor3D {
    const [b, n, d] = query.shape;
    const m = memory.shape[1];
    const h = this.heads;
    const hd = d / h;
    // PyTorch scales q before the product; doing the same keeps the rounding identical.
    const scaled = tf.mul(project(query, a.wq, a.bq), 1 / Math.sqrt(hd)) as tf.Tensor3D;
    if (a.wkRows && attendInMemorySpaceIsCheaper(n, m, d, h)) return project(this.attendInMemorySpace(a, a.wkRows, scaled, memory), a.wo, a.bo);
    const split = (x: tf.Tensor3D, len: number) => tf.transpose(tf.reshape(x, [b, len, h, hd]), [0, 2, 1, 3]) as tf.Tensor4D;
    const q = split(scaled, n);
    const k = split(project(memory, a.wk, a.bk), m);
    const v = split(project(memory, a.wv, a.bv), m);
    const weights = tf.softmax(tf.matMul(q, k, false, true));
    const context = tf.reshape(tf.transpose(tf.matMul(weights, v), [0, 2, 1, 3]), [b, n, d]) as tf.Tensor3D;
    return project(context, a.wo, a.bo);
  }

  /**
   * The same attention with the key and value projections moved to the queries' side, for a long memory and few
   * queries (the encoder's 18 queries against 4,096 tokens of p1): q·(Wk m + bk) = (Wkᵀq)·m + q·bk, and
   * Σ softmax·(Wv m + bv) = Wv (Σ softmax·m) + bv, so each head's queries are mapped into the memory's own
   * space once and the memory is never projected. On the official shapes that is 0.34 G multiply-adds where the
   * projections cost 2.2 G. q·bk is the same for every key of a query, and softmax does not change when a row is
   * shifted, so it is left out; the rest is a reassociation, equal to float32 rounding. Returns the heads'
   * context before the output projection, [B, N, D].
   */
  private attendInMemorySpace(a: Attention, wkRows: tf.Tensor2D, scaledQuery: tf.Tensor3D, memory: tf.Tensor3D): tf.Tensor3D {
    const [, n, d] = scaledQuery.shape;
    const h = this.heads;
    const perItem = tf.unstack(scaledQuery).map((q, i) => {
      const tokens = tf.squeeze(tf.slice(memory, [i, 0, 0], [1, -1, -1]), [0]) as tf.Tensor2D;
      // Row block j holds the queries with every column outside head j zeroed: [H * N, D].
      const byHead = tf.reshape(tf.mul(q, this.headMask), [h * n, d]) as tf.Tensor2D;
      const inMemorySpace = tf.matMul(byHead, wkRows) as tf.Tensor2D;
      // tokens · queriesᵀ, then transposed: the long side as the product's rows
      const weights = tf.softmax(tf.transpose(this.matMul(tokens, inMemorySpace, true))) as tf.Tensor2D;
      const values = tf.matMul(this.matMul(weights, tokens, false), a.wv);
      // Head j's context is row block j restricted to head j's columns; the other heads' columns are zeroed.
      return tf.add(tf.sum(tf.mul(tf.reshape(values, [h, n, d]), this.headMask), 0), a.bv) as tf.Tensor2D;
    });
    return tf.stack(perItem) as tf.Tensor3D;
  }

  private norm(x: tf.Tensor3D, i: number): tf.Tensor3D {
    const { mean, variance } = tf.moments(x, -1, true);
    const normed = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5)));
    return tf.add(tf.mul(normed, this.norms[i].gamma), this.norms[i].beta) as tf.Tensor3D;
  }
}

/**
 * Multiply-adds of attention from N queries to M memory tokens of width D with H heads: projecting the memory
 * (2·M·D² for keys and values, plus 2·N·M·D for the products) against mapping each head's queries into the
 * memory's space (2·H·N·D² plus 2·H·N·M·D).
 */
export function attendInMemorySpaceIsCheaper(n: number, m: number, d: number, h: number): boolean {
  return 2 * h * n * d * d + 2 * h * n * m * d < 2 * m * d * d + 2 * n * m * d;
}

/** x [B, N, in] @ w [in, out] + b. */
export function project(x: tf.Tensor3D, w: tf.Tensor2D, b: tf.Tensor1D): tf.Tensor3D {
  const [batch, n, d] = x.shape;
  return tf.reshape(tf.add(tf.matMul(tf.reshape(x, [batch * n, d]), w), b), [batch, n, w.shape[1]]) as tf.Tensor3D;
}
