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
}

interface Norm { gamma: tf.Tensor1D; beta: tf.Tensor1D }

export class TransformerDecoderLayer extends TensorOwner {
  readonly dModel: number;
  private readonly selfAttn: Attention;
  private readonly crossAttn: Attention;
  private readonly linear1: { w: tf.Tensor2D; b: tf.Tensor1D };
  private readonly linear2: { w: tf.Tensor2D; b: tf.Tensor1D };
  private readonly norms: Norm[];

  /** The head count is not stored in the weights; it is 4 in every official model. */
  constructor(weights: RawWeights, readonly heads = 4) {
    super();
    this.dModel = weights.shape('self_attn.out_proj.weight')[0];
    this.selfAttn = this.attention(weights.scope('self_attn.'));
    this.crossAttn = this.attention(weights.scope('multihead_attn.'));
    this.linear1 = this.linear(weights, 'linear1');
    this.linear2 = this.linear(weights, 'linear2');
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
    const split = (x: tf.Tensor3D, len: number) => tf.transpose(tf.reshape(x, [b, len, h, hd]), [0, 2, 1, 3]) as tf.Tensor4D;
    // PyTorch scales q before the product; doing the same keeps the rounding identical.
    const q = split(tf.mul(project(query, a.wq, a.bq), 1 / Math.sqrt(hd)) as tf.Tensor3D, n);
    const k = split(project(memory, a.wk, a.bk), m);
    const v = split(project(memory, a.wv, a.bv), m);
    const weights = tf.softmax(tf.matMul(q, k, false, true));
    const context = tf.reshape(tf.transpose(tf.matMul(weights, v), [0, 2, 1, 3]), [b, n, d]) as tf.Tensor3D;
    return project(context, a.wo, a.bo);
  }

  private norm(x: tf.Tensor3D, i: number): tf.Tensor3D {
    const { mean, variance } = tf.moments(x, -1, true);
    const normed = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5)));
    return tf.add(tf.mul(normed, this.norms[i].gamma), this.norms[i].beta) as tf.Tensor3D;
  }
}

/** x [B, N, in] @ w [in, out] + b. */
export function project(x: tf.Tensor3D, w: tf.Tensor2D, b: tf.Tensor1D): tf.Tensor3D {
  const [batch, n, d] = x.shape;
  return tf.reshape(tf.add(tf.matMul(tf.reshape(x, [batch * n, d]), w), b), [batch, n, w.shape[1]]) as tf.Tensor3D;
}
