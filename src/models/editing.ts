import * as tf from '@tensorflow/tfjs-core';
import { TransformerDecoderLayer } from './transformer';
import { countIndexed, RawWeights, TensorOwner } from './weights';

/** The paper's reference-based editing block: queries from the photo's codes, keys and values from the reference's. */
export class EditTransformer extends TensorOwner {
  private readonly layer: TransformerDecoderLayer;

  /** `weights` is scoped at `encoder.module.` of an editing checkpoint. */
  constructor(weights: RawWeights, heads = 4) {
    super();
    this.layer = new TransformerDecoderLayer(weights.scope('transformerlayer.'), heads);
  }

  /** source, reference [B, N, D] -> edited codes [B, N, D]. */
  apply(source: tf.Tensor3D, reference: tf.Tensor3D): tf.Tensor3D {
    return this.layer.apply(source, reference);
  }

  override dispose(): void {
    super.dispose();
    this.layer.dispose();
  }
}

export type ClassifierActivation = 'leakyrelu' | 'relu';

/**
 * LCNet_40, the latent attribute classifier: an MLP over the flattened codes, then per attribute an independent
 * 512->32 embedding and a 32->1 score. The per-attribute heads run as one batched product.
 */
export class LatentClassifier extends TensorOwner {
  readonly nClasses: number;
  readonly inputSize: number;
  private readonly fcs: Array<{ w: tf.Tensor2D; b: tf.Tensor1D }> = [];
  private readonly embedW: tf.Tensor3D; // [C, hidden, 32]
  private readonly embedB: tf.Tensor2D; // [C, 32]
  private readonly outW: tf.Tensor2D; // [C, 32]
  private readonly outB: tf.Tensor1D; // [C]

  /** `weights` is scoped at the classifier's own names (`fcs.*`, `indep_fcs.*`, `output_fcs.*`). */
  constructor(weights: RawWeights, readonly activation: ClassifierActivation = 'leakyrelu') {
    super();
    const layers = countIndexed(weights, 'fcs.', 'weight');
    for (let i = 0; i < layers; i++) {
      this.fcs.push({
        w: this.keep(tf.tidy(() => tf.transpose(weights.tensor(`fcs.${i}.weight`)) as tf.Tensor2D)),
        b: this.keep(weights.tensor(`fcs.${i}.bias`) as tf.Tensor1D),
      });
    }
    this.inputSize = weights.shape('fcs.0.weight')[1];
    this.nClasses = countIndexed(weights, 'indep_fcs.', 'weight');
    const stackOf = (stem: string, suffix: string) =>
      tf.stack(Array.from({ length: this.nClasses }, (_, i) => weights.tensor(`${stem}.${i}.${suffix}`)));
    this.embedW = this.keep(tf.tidy(() => tf.transpose(stackOf('indep_fcs', 'weight'), [0, 2, 1]) as tf.Tensor3D));
    this.embedB = this.keep(tf.tidy(() => stackOf('indep_fcs', 'bias') as tf.Tensor2D));
    this.outW = this.keep(tf.tidy(() => tf.reshape(stackOf('output_fcs', 'weight'), [this.nClasses, -1]) as tf.Tensor2D));
    this.outB = this.keep(tf.tidy(() => tf.reshape(stackOf('output_fcs', 'bias'), [this.nClasses]) as tf.Tensor1D));
  }

  /** codes [B, N, D] -> logits [B, C] and embeddings [B, C, 32]. */
  classify(codes: tf.Tensor3D): { logits: tf.Tensor2D; embeddings: tf.Tensor3D } {
    return tf.tidy(() => {
      const embeddings = this.embed(codes);
      const logits = tf.add(tf.sum(tf.mul(embeddings, this.outW), 2), this.outB) as tf.Tensor2D;
      return { logits, embeddings };
    });
  }

  logits(codes: tf.Tensor3D): tf.Tensor2D {
    return tf.tidy(() => tf.add(tf.sum(tf.mul(this.embed(codes), this.outW), 2), this.outB) as tf.Tensor2D);
  }

  private embed(codes: tf.Tensor3D): tf.Tensor3D {
    const batch = codes.shape[0];
    let x = tf.reshape(codes, [batch, -1]) as tf.Tensor2D;
    for (const { w, b } of this.fcs) {
      const y = tf.add(tf.matMul(x, w), b);
      x = (this.activation === 'relu' ? tf.relu(y) : tf.leakyRelu(y, 0.2)) as tf.Tensor2D;
    }
    // [C, B, hidden] x [C, hidden, 32] -> [C, B, 32] -> [B, C, 32]
    const perClass = tf.matMul(tf.tile(tf.expandDims(x, 0), [this.nClasses, 1, 1]) as tf.Tensor3D, this.embedW);
    return tf.add(tf.transpose(perClass, [1, 0, 2]), this.embedB) as tf.Tensor3D;
  }

  /**
   * Label-editing direction: minus the gradient of BCE-with-logits(logit[attribute], target) with respect to the
   * codes, normalised to unit L2 length per style; moving along it pushes the attribute towards `target`.
   * The gradient is back-propagated by hand through the MLP: tfjs-core's gradient registry cannot be loaded in
   * Node's ESM resolution, and this network is a few dense layers whose derivative is short and exact.
   * d BCE / d logit = sigmoid(logit) - target, a per-sample scalar whose size the normalisation removes; its sign stays.
   */
  labelDirection(codes: tf.Tensor3D, attribute: number, target: 0 | 1): tf.Tensor3D {
    return tf.tidy(() => {
      const [batch, n, d] = codes.shape;
      let x = tf.reshape(codes, [batch, -1]) as tf.Tensor2D;
      const slopes: tf.Tensor2D[] = [];
      for (const { w, b } of this.fcs) {
        const pre = tf.add(tf.matMul(x, w), b) as tf.Tensor2D;
        const positive = tf.cast(tf.greater(pre, 0), 'float32');
        const slope = this.activation === 'relu' ? positive : tf.add(tf.mul(positive, 0.8), 0.2);
        slopes.push(slope as tf.Tensor2D);
        x = tf.mul(pre, slope) as tf.Tensor2D;
      }
      // d logit / d hidden = embedding weight of the attribute times its output weight.
      const embed = tf.reshape(tf.slice(this.embedW, [attribute, 0, 0], [1, -1, -1]), [this.embedW.shape[1], -1]);
      const out = tf.reshape(tf.slice(this.outW, [attribute, 0], [1, -1]), [-1, 1]);
      let g = tf.tile(tf.reshape(tf.matMul(embed, out), [1, -1]), [batch, 1]) as tf.Tensor2D;
      for (let i = this.fcs.length - 1; i >= 0; i--) {
        g = tf.matMul(tf.mul(g, slopes[i]) as tf.Tensor2D, this.fcs[i].w, false, true);
      }
      const logit = tf.slice(this.logits(codes), [0, attribute], [-1, 1]);
      const dLossDLogit = tf.sub(tf.sigmoid(logit), target); // [B, 1]
      const gradient = tf.reshape(tf.neg(tf.mul(g, dLossDLogit)), [batch, n, d]);
      return tf.div(gradient, tf.norm(gradient, 'euclidean', -1, true)) as tf.Tensor3D;
    });
  }
}

/** A style range [start, end) that an edit may move; coarse / medium / fine are the paper's groups. */
export interface StyleRange { start: number; end: number }

export function styleMask(n: number, range: StyleRange | undefined, dModel: number): tf.Tensor3D {
  return tf.tidy(() => {
    const mask = new Float32Array(n);
    const { start, end } = range ?? { start: 0, end: n };
    for (let i = Math.max(0, start); i < Math.min(n, end); i++) mask[i] = 1;
    return tf.tile(tf.tensor3d(mask, [1, n, 1]), [1, 1, dModel]) as tf.Tensor3D;
  });
}

/** InterFaceGAN: codes + factor * direction ([D], [1, D] or [1, N, D]), on the chosen styles only. */
export function interfaceganEdit(codes: tf.Tensor3D, direction: tf.Tensor, factor: number, range?: StyleRange): tf.Tensor3D {
  return tf.tidy(() => {
    const [, n, d] = codes.shape;
    const dir = direction.rank === 3 ? tf.slice(direction, [0, 0, 0], [1, n, d]) : tf.reshape(direction, [1, 1, d]);
    return tf.add(codes, tf.mul(tf.mul(dir, factor), styleMask(n, range, d))) as tf.Tensor3D;
  });
}

export interface GanspaceDirections {
  mean: tf.Tensor; // [1, D]
  comp: tf.Tensor; // [K, 1, D] or [K, D]
  std: tf.Tensor; // [K]
}

/**
 * GANSpace edit of component `index` on styles [start, end): delta = (strength - coord) * comp * std with
 * coord = ((w[0] - mean) . comp) / std, as the encoder4editing release applies it.
 */
export function ganspaceEdit(codes: tf.Tensor3D, pcs: GanspaceDirections, index: number, strength: number, range: StyleRange): tf.Tensor3D {
  return tf.tidy(() => {
    const [b, n, d] = codes.shape;
    const comp = tf.reshape(tf.slice(tf.reshape(pcs.comp, [-1, d]), [index, 0], [1, d]), [d]);
    const std = tf.reshape(tf.slice(pcs.std, [index], [1]), []);
    const first = tf.reshape(tf.slice(codes, [0, 0, 0], [b, 1, d]), [b, d]);
    const coord = tf.div(tf.sum(tf.mul(tf.sub(first, tf.reshape(pcs.mean, [1, d])), comp), 1), std); // [B]
    const delta = tf.mul(tf.reshape(tf.mul(tf.sub(strength, coord), std), [b, 1, 1]), tf.reshape(comp, [1, 1, d]));
    return tf.add(codes, tf.mul(delta, styleMask(n, range, d))) as tf.Tensor3D;
  });
}

/**
 * GANSpace as a displacement: codes + strength * std * comp on styles [start, end), as GANSpace's own figures and
 * our presets' grids show a component. `strength` is in units of the component's standard deviation; 0 leaves the
 * codes as they are and the change grows continuously from there (ganspaceEdit, which sets the coordinate,
 * jumps to half the preset's change at the first notch off 0).
 */
export function ganspaceOffset(codes: tf.Tensor3D, pcs: GanspaceDirections, index: number, strength: number, range: StyleRange): tf.Tensor3D {
  return tf.tidy(() => {
    const [, n, d] = codes.shape;
    const comp = tf.reshape(tf.slice(tf.reshape(pcs.comp, [-1, d]), [index, 0], [1, d]), [1, 1, d]);
    const std = tf.reshape(tf.slice(pcs.std, [index], [1]), []);
    return tf.add(codes, tf.mul(tf.mul(comp, tf.mul(std, strength)), styleMask(n, range, d))) as tf.Tensor3D;
  });
}
