import * as tf from '@tensorflow/tfjs-core';
import { StyleTransformerEncoder, type EncoderTrace } from './encoder';
import { Generator, type SynthesisOptions } from './stylegan2';
import { RawWeights, TensorOwner } from './weights';

/** Encoder + generator + latent_avg: image -> W+ codes -> image, as the official StyleTransformer module. */
export class StyleTransformer extends TensorOwner {
  readonly encoder: StyleTransformerEncoder;
  readonly generator: Generator;
  /** [1, N, D] (a [D] average is broadcast over the styles, as the official code does). */
  readonly latentAvg: tf.Tensor3D;

  constructor(encoder: StyleTransformerEncoder, generator: Generator, latentAvg: tf.Tensor) {
    super();
    this.encoder = encoder;
    this.generator = generator;
    const { nQueries, dModel } = encoder.config;
    this.latentAvg = this.keep(tf.tidy(() =>
      tf.broadcastTo(tf.reshape(latentAvg, [1, -1, dModel]), [1, nQueries, dModel]) as tf.Tensor3D));
  }

  /** Loads from official names: `encoder.module.*`, `decoder.module.*` and `latent_avg`. */
  static fromWeights(weights: RawWeights): StyleTransformer {
    const encoder = new StyleTransformerEncoder(weights.scope('encoder.module.'));
    const generator = new Generator(weights.scope('decoder.module.'));
    const latentAvg = weights.tensor('latent_avg');
    const model = new StyleTransformer(encoder, generator, latentAvg);
    latentAvg.dispose();
    return model;
  }

  /** The queries: the learned z mapped through the generator's mapping MLP, [B, N, D]. */
  queries(batch: number): tf.Tensor3D {
    return tf.tidy(() => {
      const [, n, d] = this.encoder.z.shape;
      const w = this.generator.mapping(tf.reshape(this.encoder.z, [n, d]) as tf.Tensor2D);
      return tf.tile(tf.reshape(w, [1, n, d]), [batch, 1, 1]) as tf.Tensor3D;
    });
  }

  trace(images: tf.Tensor4D): EncoderTrace {
    return tf.tidy(() => this.encoder.trace(images, this.queries(images.shape[0])));
  }

  /** Images NHWC in [-1, 1] at the encoder's input size -> W+ codes [B, N, D] (latent_avg included). */
  invert(images: tf.Tensor4D): tf.Tensor3D {
    return tf.tidy(() => tf.add(this.encoder.encode(images, this.queries(images.shape[0])), this.latentAvg) as tf.Tensor3D);
  }

  /** Settles when the encoder and the generator can run on every thread they will use: await it before the first inversion. */
  ready(): Promise<void> {
    return Promise.all([this.encoder.ready(), this.generator.ready()]).then(() => undefined);
  }

  render(codes: tf.Tensor3D, options?: SynthesisOptions): tf.Tensor4D {
    return this.generator.synthesize(codes, options);
  }

  override dispose(): void {
    super.dispose();
    this.encoder.dispose();
    this.generator.dispose();
  }
}
