import * as tf from '@tensorflow/tfjs-core';
import type { StyleRange } from '../models/editing';
import { alignFace, type AlignTransform } from '../photo/align';
import { centredBox, clampBox, type CropBox } from '../photo/cars';
import { cropAndResize } from '../photo/resample';
import { describeAlignedPair, descriptorDistance, type DetectedFace, type FaceDetector } from '../photo/faces';
import { ffhqQuad, ffhqQuadFromEyesAndMouth } from '../photo/geometry';
import { findFaces } from '../photo/intake';
import { CheckpointError } from '../io/errors';
import { alignedFaceRegion, boxPlacement, boxRegion, changeReach, composite, compositeRegion, cropExtent, editableRegion, faceRegion, facePlacement, FOLLOW_CHANGE, followChange, maskedChange, pasteCrop, toCropPoints, type Placement, type PhotoRegion } from '../photo/composite';
import type { Point, RgbImage } from '../photo/types';
import { fromRgb, toRgb, toRgbSync } from './image';
import type { EditValue, StudioModel } from './model';
import { reconstructionError, refine, Refinement, refinementTarget, type RefineOptions, type RefinementData } from './refine';

/** What the reference panel applies on top of the slider edits. */
export type Transfer =
  | { kind: 'block'; block: string; strength: number }
  | { kind: 'mix'; range: StyleRange; strength: number };

export interface Framing {
  /** faces: the chosen face (or manual points); cars: the crop box; resize: an already aligned image, as it is. */
  kind: 'face' | 'manual' | 'car' | 'resize';
  faceIndex?: number;
  points?: { eyeLeft: Point; eyeRight: Point; mouth: Point };
  box?: CropBox;
}

/**
 * What a photo's inversion needs to come back without detection, alignment or the encoder: the aligned input,
 * how it maps onto the photo, the faces found and the codes. Plain data, so a page can keep it (IndexedDB) and
 * a reload shows the last state at once.
 */
export interface SubjectSnapshot {
  faces: DetectedFace[];
  aligned: RgbImage;
  transform: AlignTransform | null;
  box: CropBox | null;
  /** W+ codes [1, N, D], row-major. */
  codes: Float32Array;
  codesShape: [number, number, number];
  /** The photo's pivotal tuning, when it was refined. */
  refinement?: RefinementData | null;
  /** The framed face's 68 landmarks (photo pixels), which bound what an edit may change; null: hand-placed. */
  landmarks?: Point[] | null;
}

/** One photo's inversion, with everything needed to render edits and paste them back. */
interface Subject {
  photo: RgbImage;
  faces: DetectedFace[];
  aligned: RgbImage | null;
  transform: AlignTransform | null;
  box: CropBox | null;
  codes: tf.Tensor3D | null;
  /** The photo's own tuned generator layers (refine()); null until refined, and again after a new framing. */
  refinement: Refinement | null;
  /** The framed face's landmarks (photo pixels); null for hand-placed eyes and mouth, crops and cars. */
  landmarks: Point[] | null;
  /** The reconstruction's picture (float, as rendered) for the codes and layers it was made with. */
  /** The picture of the codes without edits, and what its render took. */
  reconstructed?: { codes: tf.Tensor3D; refinement: Refinement | null; data: Float32Array; shape: [number, number, number, number]; ms: number };
  /** The composite's region mask, kept for the crop size it was made at. */
  region?: { key: string; mask: Float32Array };
}

/**
 * The editor's state machine without any UI: photo -> framing (face or crop) -> inversion -> edits, reference
 * transfer, paste-back. The page's worker wraps it; Node tests drive it directly.
 */
export class EditorSession {
  private subject: Subject | null = null;
  /** Previews made ahead (prepare), by edits and transfer, for the codes, tuned layers and reference they came from. */
  private prepared: { from: { codes: tf.Tensor3D | null; refinement: Refinement | null; reference: tf.Tensor3D | null }; previews: Map<string, RgbImage> } | null = null;
  private reference: Subject | null = null;

  /**
   * Where a face edit reaches the photo: 'follows the change' (the landmark region joined to wherever the edit
   * changes the picture, src/photo/composite.ts followChange), or 'landmarks' alone (the rule before issue 35, kept
   * so that the evaluation can measure what the change brought). Cars keep their crop box either way.
   */
  regionRule: 'follows the change' | 'landmarks' = 'follows the change';
  /** How the region follows the change (FOLLOW_CHANGE; changed by the measurements that chose it). */
  followRule = FOLLOW_CHANGE;

  constructor(readonly model: StudioModel, private readonly detector: FaceDetector | null) {}

  get domain() {
    return this.model.manifest.domain;
  }

  /** Sets the photo; for faces, detects them (largest first; throws PhotoError 'no-face' when none). */
  async setPhoto(photo: RgbImage, which: 'subject' | 'reference' = 'subject', detect = true): Promise<DetectedFace[]> {
    const subject: Subject = { photo, faces: [], aligned: null, transform: null, box: null, codes: null, refinement: null, landmarks: null };
    this.replace(which, subject);
    if (this.domain === 'face' && detect) {
      if (!this.detector) throw new Error('no face detector');
      subject.faces = await findFaces(photo, this.detector);
    }
    return subject.faces;
  }

  /** The default framing: the largest face, or the largest centred crop of the model's aspect. */
  defaultFraming(which: 'subject' | 'reference' = 'subject'): Framing {
    const s = this.get(which);
    if (this.domain === 'face') return { kind: 'face', faceIndex: 0 };
    const [h, w] = this.model.inputSize;
    return { kind: 'car', box: centredBox(s.photo, w / h) };
  }

  /** Frames the photo (a face, hand-placed eyes and mouth, or a crop box) to the encoder's input. */
  async frame(framing: Framing, which: 'subject' | 'reference' = 'subject'): Promise<RgbImage> {
    const s = this.get(which);
    const [h, w] = this.model.inputSize;
    s.codes?.dispose();
    s.codes = null;
    this.dropRefinement(s);
    s.region = undefined;
    s.landmarks = framing.kind === 'face' ? s.faces[framing.faceIndex ?? 0]?.landmarks ?? null : null;
    if (framing.kind === 'car' || framing.kind === 'resize') {
      s.box = framing.kind === 'resize' ? { x: 0, y: 0, width: s.photo.width, height: s.photo.height } : clampBox(framing.box ?? centredBox(s.photo, w / h), s.photo);
      s.transform = null;
      s.aligned = await cropAndResize(s.photo, s.box, [h, w]);
    } else {
      const quad = framing.kind === 'manual'
        ? ffhqQuadFromEyesAndMouth(framing.points!.eyeLeft, framing.points!.eyeRight, framing.points!.mouth)
        : ffhqQuad(s.faces[framing.faceIndex ?? 0].landmarks);
      const aligned = await alignFace(s.photo, quad, h);
      s.aligned = aligned.image;
      s.transform = aligned.transform;
      s.box = null;
    }
    return s.aligned;
  }

  /**
   * Inverts the framed photo; returns the reconstruction, its MSE against the input (images in [-1, 1]) and, for
   * faces, the identity distance (face-api descriptors; below 0.6 is the same person by face-api's rule; null when
   * no face is found in the aligned photo). `identity: false` leaves the identity out (the app asks for it after
   * showing the picture: reconstructionIdentity).
   */
  async invert(which: 'subject' | 'reference' = 'subject', options: { identity?: boolean } = {}): Promise<{ reconstruction: RgbImage; mse: number; identity: number | null; ms: number; encodeMs: number; generateMs: number }> {
    const s = this.get(which);
    if (!s.aligned) throw new Error('frame the photo first');
    const started = performance.now();
    const input = fromRgb(s.aligned);
    s.codes?.dispose();
    this.dropRefinement(s);
    s.codes = this.model.invert(input);
    input.dispose();
    if (!(await s.codes.data()).every(Number.isFinite)) {
      s.codes.dispose();
      s.codes = null;
      throw new CheckpointError('non-finite', 'the model turned this photo into NaN or infinite codes: its weights or this backend are broken (try another model, or reload the page)');
    }
    const encodeMs = performance.now() - started;
    const { reconstruction, mse } = await this.reconstruct(which);
    const generateMs = performance.now() - started - encodeMs;
    const ms = performance.now() - started;
    const identity = which === 'subject' && options.identity !== false ? await this.identity(s.aligned, reconstruction) : null;
    return { reconstruction, mse, identity, ms, encodeMs, generateMs };
  }

  /** face-api's distance between the photo's face and its reconstruction's as they are now (refined or not). */
  async reconstructionIdentity(): Promise<number | null> {
    const s = this.get('subject');
    if (!s.aligned || !s.codes) throw new Error('invert the photo first');
    return this.identity(s.aligned, (await this.reconstruct('subject')).reconstruction);
  }

  private async identity(input: RgbImage, reconstruction: RgbImage): Promise<number | null> {
    if (this.domain !== 'face' || !this.detector) return null;
    const pair = await describeAlignedPair(this.detector, input, reconstruction);
    return pair && descriptorDistance(pair.face, pair.rendering);
  }

  /** The edited codes: slider edits, then the reference transfer. Caller disposes. */
  editedCodes(edits: EditValue[], transfer?: Transfer | null): tf.Tensor3D {
    const s = this.get('subject');
    if (!s.codes) throw new Error('invert the photo first');
    return tf.tidy(() => {
      let codes = this.model.applyEdits(s.codes!, edits);
      const ref = this.reference?.codes;
      if (transfer && ref) {
        codes = transfer.kind === 'block'
          ? this.model.transfer(codes, ref, transfer.block, transfer.strength)
          : this.model.mixStyles(codes, ref, transfer.range, transfer.strength);
      }
      return codes;
    });
  }

  /**
   * Renders the edit; `preview` uses the generator's early exit that keeps up with a hand on this model and backend
   * (src/engine/preview-resolution.ts), and answers from the
   * previews made ahead (prepare) when one was made for these edits, codes, tuned layers and reference.
   */
  async render(edits: EditValue[], options: { preview?: boolean; transfer?: Transfer | null } = {}): Promise<{ image: RgbImage; ms: number; prepared?: boolean }> {
    const started = performance.now();
    const prepared = options.preview ? this.preparedPreviews().get(previewKey(edits, options.transfer)) : undefined;
    if (prepared) return { image: { ...prepared, data: prepared.data.slice() }, ms: performance.now() - started, prepared: true };
    const codes = this.editedCodes(edits, options.transfer);
    const resolution = options.preview ? this.model.previews.choose() : this.model.manifest.outputSize;
    const rendering = performance.now();
    const image = this.model.render(codes, { resolution, tuned: this.subject?.refinement?.layers });
    const rgb = await toRgb(image);
    this.model.previews.observe(resolution, performance.now() - rendering);
    tf.dispose([codes, image]);
    return { image: rgb, ms: performance.now() - started };
  }

  /**
   * Makes the preview of these edits ahead of the hand: while a slider is held still, its neighbouring positions
   * are rendered, so that the next move shows at once. Returns whether it rendered (false: already made).
   */
  async prepare(edits: EditValue[], transfer?: Transfer | null): Promise<boolean> {
    const previews = this.preparedPreviews();
    const key = previewKey(edits, transfer);
    if (previews.has(key)) return false;
    const { image } = await this.render(edits, { preview: true, transfer });
    previews.set(key, image);
    for (const old of previews.keys()) {
      if (previews.size <= PREPARED_PREVIEWS) break;
      previews.delete(old); // the oldest first: a Map keeps insertion order
    }
    return true;
  }

  /** The previews made ahead, emptied when what they were made from (codes, tuned layers, reference) changed. */
  private preparedPreviews(): Map<string, RgbImage> {
    const s = this.get('subject');
    const from = { codes: s.codes, refinement: s.refinement, reference: this.reference?.codes ?? null };
    const made = this.prepared;
    if (!made || made.from.codes !== from.codes || made.from.refinement !== from.refinement || made.from.reference !== from.reference) {
      this.prepared = { from, previews: new Map() };
    }
    return this.prepared!.previews;
  }

  /**
   * The edit in the photo at its full resolution, keeping the photo's detail: the photo plus what the edit
   * changes (edit − reconstruction, through the photo's tuned layers when refined) under the face-and-hair region
   * joined to wherever the edit changes the picture (faces: hair grown, the face's outline) or the feathered crop box
   * (cars); see src/photo/composite.ts. No edit: the photo, byte for byte; nothing changes outside the crop.
   */
  async composite(edits: EditValue[], transfer?: Transfer | null): Promise<RgbImage> {
    const s = this.get('subject');
    if (!s.codes) throw new Error('invert the photo first');
    if (unedited(edits, transfer)) return { width: s.photo.width, height: s.photo.height, data: s.photo.data.slice() }; // nothing to render
    return (await this.renderWithComposite(edits, transfer)).result;
  }

  /**
   * The edit rendered once, both as the generator's picture (what render() returns) and in the photo (what
   * composite() returns): a slider's release shows both, and rendering twice cost a quarter of it.
   * `inRegion`: the photo only over the region any edit of it can change (`region`: the crop's part of the photo for
   * faces, whose region follows each edit; the same for every edit), for
   * a page that shows the photo and repaints that part; a 12 MP photo is 12 MP to copy, convert and upload whole.
   * `weight`: the blend weight this edit used and the landmark region it grew from, in the generator's crop, and
   * where the crop sits in the photo.
   */
  async renderWithComposite(edits: EditValue[], transfer?: Transfer | null, options: { inRegion?: boolean; reach?: boolean; onPartial?: (picture: RgbImage, resolution: number) => void; partialFrom?: number } = {}): Promise<{ image: RgbImage; result: RgbImage; region: PhotoRegion | null; renderMs: number; compositeMs: number; reach: number | null; weight: { mask: Float32Array; base: Float32Array; placement: Placement } }> {
    const started = performance.now();
    const s = this.get('subject');
    if (!s.codes) throw new Error('invert the photo first');
    const tuned = s.refinement?.layers;
    // A slow render shows its coarser pictures on the way (from partialFrom px), read at once inside the render: on
    // the CPU backends only, where a render is slow and such a read is a copy. On WebGPU a synchronous read in the
    // middle of a render failed its pending buffer maps ("Failed to execute 'mapAsync'") and lost the device; on
    // WebGL it would stall the pipeline.
    const readsAtOnce = tf.getBackend() === 'wasm' || tf.getBackend() === 'cpu';
    const onPartial = !options.onPartial || !readsAtOnce ? undefined : ((p: tf.Tensor4D, at: number) => { if (at >= (options.partialFrom ?? 0)) options.onPartial!(toRgbSync(p), at); });
    const plain = unedited(edits, transfer);
    // The picture without edits is the reconstruction, already made by the inversion or a restore: rendering it again
    // took the official 1024 px model another 1.2-3.5 s on wasm after every new or reopened photo.
    const saved = plain ? await this.reconstructedPicture(s) : null;
    const picture = saved ? tf.tensor4d(saved.data, saved.shape) : tf.tidy(() => this.model.render(this.editedCodes(edits, transfer), { tuned, onPartial }));
    const image = await toRgb(picture);
    // a reused picture reports what its render cost (the page's progressive rule and preview choice read it)
    const renderMs = saved ? saved.ms : performance.now() - started;
    if (!saved) this.model.previews.observe(this.model.manifest.outputSize, renderMs);
    const [, h, w] = picture.shape;
    const placement = this.placement(s, [h, w]);
    const base = this.regionMask(s, placement);
    const follows = this.domain === 'face' && this.regionRule === 'follows the change';
    // the page repaints one region for every edit of a photo: all that any edit may reach
    const region = options.inRegion ? editableRegion(s.photo, follows ? cropExtent(w, h) : base, placement) : null;
    let change: Float32Array;
    let reach: number | null = options.reach ? 1 : null; // measured on request: the page's renders do not need it
    let mask = base;
    if (plain) {
      change = new Float32Array(h * w * 3); // the photo itself, byte for byte
    } else {
      const edit = (await picture.data()) as Float32Array;
      const reconstruction = (await this.reconstructedPicture(s)).data;
      if (follows) mask = followChange(base, edit, reconstruction, w, h, this.followRule);
      change = maskedChange(edit, reconstruction, mask);
      if (options.reach) reach = changeReach(edit, reconstruction, mask);
    }
    picture.dispose();
    const result = region ? compositeRegion(s.photo, change, placement, region) : composite(s.photo, change, placement);
    const compositeStarted = started + (saved ? 0 : renderMs);
    return { image, result, region, renderMs, compositeMs: performance.now() - compositeStarted, reach, weight: { mask, base, placement } };
  }

  /** Where the generator's [h, w] picture sits in the subject photo. */
  private placement(s: Subject, [h, w]: [number, number]): Placement {
    if (s.transform) return facePlacement(s.transform, w);
    if (!s.box) throw new Error('frame the photo first');
    return boxPlacement(s.box, [h, w]);
  }

  /**
   * What an edit may change whatever it does, in the generator's crop: the face and hair from the landmarks (faces;
   * an edit's own change widens it, followChange), the crop box (cars).
   */
  private regionMask(s: Subject, placement: Placement): Float32Array {
    const key = `${placement.width}x${placement.height}`;
    if (s.region?.key !== key) {
      const mask = this.domain !== 'face' ? boxRegion(placement.width, placement.height)
        : s.landmarks ? faceRegion(toCropPoints(s.landmarks, placement), placement.width)
          : alignedFaceRegion(placement.width);
      s.region = { key, mask };
    }
    return s.region.mask;
  }

  /**
   * The generated crop itself put into the full-resolution photo, feathered at the crop's edges (the edit
   * replaces the face or the box; composite() keeps the photo's detail).
   */
  async pasteBack(edit: RgbImage): Promise<RgbImage> {
    const s = this.get('subject');
    const placement = this.placement(s, [edit.height, edit.width]);
    return pasteCrop(s.photo, edit, boxRegion(edit.width, edit.height), placement);
  }

  /** The generator's float32 output for the current codes before any clamping, NCHW, at full resolution. */
  async rawOutput(): Promise<{ data: Float32Array; shape: number[] }> {
    const s = this.get('subject');
    if (!s.codes) throw new Error('invert the photo first');
    const raw = tf.tidy(() => tf.transpose(this.model.generator.synthesize(s.codes!, { tuned: s.refinement?.layers }), [0, 3, 1, 2]));
    const data = (await raw.data()) as Float32Array;
    const shape = [...raw.shape];
    raw.dispose();
    return { data, shape };
  }

  /** The subject photo as it was opened. */
  photo(): RgbImage {
    return this.get('subject').photo;
  }

  /** The faces found in the subject photo (largest first). */
  faces(): DetectedFace[] {
    return this.get('subject').faces;
  }

  async exportCodes(): Promise<{ data: Float32Array; shape: number[] }> {
    const s = this.get('subject');
    if (!s.codes) throw new Error('invert the photo first');
    return { data: (await s.codes.data()) as Float32Array, shape: [...s.codes.shape] };
  }

  /** Continues from exported codes (W+ [1, N, D] of this model). */
  importCodes(data: Float32Array, shape: number[]): void {
    const s = this.get('subject');
    const { nQueries, generator } = this.model.manifest;
    if (shape.length !== 3 || shape[1] !== nQueries || shape[2] !== generator.styleDim) {
      throw new RangeError(`these codes are [${shape}]; this model's are [1, ${nQueries}, ${generator.styleDim}]`);
    }
    s.codes?.dispose();
    this.dropRefinement(s); // tuned for other codes
    s.codes = tf.tensor3d(data, [1, nQueries, generator.styleDim]);
  }

  /** The photo's framing and inversion as plain data (see SubjectSnapshot); null before it is inverted. */
  async snapshot(which: 'subject' | 'reference' = 'subject'): Promise<SubjectSnapshot | null> {
    const s = which === 'subject' ? this.subject : this.reference;
    if (!s?.aligned || !s.codes) return null;
    const [b, n, d] = s.codes.shape;
    return {
      faces: s.faces, aligned: s.aligned, transform: s.transform, box: s.box,
      codes: Float32Array.from(await s.codes.data()), codesShape: [b, n, d],
      refinement: s.refinement?.toData() ?? null, landmarks: s.landmarks,
    };
  }

  /** Takes a photo back with its snapshot: no detection, no alignment, no encoder. */
  restore(photo: RgbImage, snapshot: SubjectSnapshot, which: 'subject' | 'reference' = 'subject'): void {
    const { nQueries, generator } = this.model.manifest;
    const [, n, d] = snapshot.codesShape;
    const [h, w] = this.model.inputSize;
    if (n !== nQueries || d !== generator.styleDim || snapshot.codes.length !== n * d) {
      throw new RangeError(`the saved codes are [${snapshot.codesShape}]; this model's are [1, ${nQueries}, ${generator.styleDim}]`);
    }
    if (snapshot.aligned.width !== w || snapshot.aligned.height !== h) {
      throw new RangeError(`the saved aligned photo is ${snapshot.aligned.width}x${snapshot.aligned.height}; this model takes ${w}x${h}`);
    }
    const refinement = snapshot.refinement ? Refinement.fromData(this.model, snapshot.refinement) : null;
    this.replace(which, {
      photo, faces: snapshot.faces, aligned: snapshot.aligned, transform: snapshot.transform, box: snapshot.box,
      codes: tf.tensor3d(snapshot.codes, [1, n, d]), refinement, landmarks: snapshot.landmarks ?? null,
    });
  }

  /**
   * The rendered reconstruction (float, as the generator made it) of the subject's current codes and layers: the
   * same for its report and for every composite of these codes, so rendered once and kept until either changes.
   */
  private async reconstructedPicture(s: Subject): Promise<{ data: Float32Array; shape: [number, number, number, number]; ms: number }> {
    if (!s.codes) throw new Error('invert the photo first');
    if (s.reconstructed?.codes !== s.codes || s.reconstructed.refinement !== s.refinement) {
      const started = performance.now();
      const picture = this.model.render(s.codes, { tuned: s.refinement?.layers });
      const data = (await picture.data()) as Float32Array;
      s.reconstructed = { codes: s.codes, refinement: s.refinement, data, shape: picture.shape, ms: performance.now() - started };
      // a full render like any other: the previews' choice learns from it (the first picture of a photo is this one)
      this.model.previews.observe(this.model.manifest.outputSize, s.reconstructed.ms);
      picture.dispose();
    }
    return s.reconstructed;
  }

  /** The reconstruction of the current codes (no edits), with its MSE against the aligned input. */
  async reconstruct(which: 'subject' | 'reference' = 'subject'): Promise<{ reconstruction: RgbImage; mse: number }> {
    const s = this.get(which);
    if (!s.aligned || !s.codes) throw new Error('invert the photo first');
    const input = fromRgb(s.aligned);
    const { data, shape } = await this.reconstructedPicture(s);
    const image = tf.tensor4d(data, shape);
    const mseTensor = tf.tidy(() => {
      const resized = tf.image.resizeBilinear(tf.clipByValue(image, -1, 1), [input.shape[1], input.shape[2]], false, true);
      return tf.mean(tf.square(tf.sub(resized, input)));
    });
    const reconstruction = await toRgb(image);
    const mse = (await mseTensor.data())[0];
    tf.dispose([input, image, mseTensor]);
    return { reconstruction, mse };
  }

  /**
   * Pivotal tuning of the subject (see refine.ts): its codes become the pivot and it gets its own tuned layers,
   * which every later render (edits, transfer, mixing, paste-back) goes through. The reference is never tuned.
   * Cancelled (options.signal), the encoder's result stays as it was. Returns the error before and after.
   */
  /** `identity: false` leaves face-api's likeness of the refined picture to the caller (it can come after the picture). */
  async refine(options: RefineOptions & { identity?: boolean } = {}): Promise<{ before: { mse: number; ssim: number }; after: { mse: number; ssim: number }; reconstruction: RgbImage; mse: number; identity: number | null; ms: number }> {
    const s = this.get('subject');
    if (!s.aligned || !s.codes) throw new Error('invert the photo first');
    const input = fromRgb(s.aligned);
    const resolution = options.resolution ?? Math.min(this.model.manifest.outputSize, 256);
    const target = refinementTarget(this.model, input, resolution);
    try {
      const before = reconstructionError(this.model, s.codes, target, s.refinement?.layers);
      const { codes, refinement, ms } = await refine(this.model, input, s.codes, { ...options, resolution });
      s.codes.dispose();
      this.dropRefinement(s);
      s.codes = codes;
      s.refinement = refinement;
      const after = reconstructionError(this.model, codes, target, refinement.layers);
      const { reconstruction, mse } = await this.reconstruct('subject');
      return { before, after, reconstruction, mse, identity: options.identity === false ? null : await this.identity(s.aligned, reconstruction), ms };
    } finally {
      tf.dispose([input, target]);
    }
  }

  /** Whether the subject has been refined, and with how many steps. */
  refined(): { steps: number; resolution: number } | null {
    const r = this.subject?.refinement;
    return r ? { steps: r.steps, resolution: r.resolution } : null;
  }

  private dropRefinement(s: Subject): void {
    s.refinement?.dispose();
    s.refinement = null;
  }

  hasReference(): boolean {
    return Boolean(this.reference?.codes);
  }

  dispose(): void {
    this.subject?.codes?.dispose();
    this.reference?.codes?.dispose();
    this.subject?.refinement?.dispose();
    this.reference?.refinement?.dispose();
    this.subject = null;
    this.reference = null;
    this.prepared = null;
  }

  private get(which: 'subject' | 'reference'): Subject {
    const s = which === 'subject' ? this.subject : this.reference;
    if (!s) throw new Error(`no ${which} photo`);
    return s;
  }

  private replace(which: 'subject' | 'reference', next: Subject): void {
    const old = which === 'subject' ? this.subject : this.reference;
    old?.codes?.dispose();
    old?.refinement?.dispose();
    if (which === 'subject') this.subject = next; else this.reference = next;
  }
}

/** No slider moved and no reference transfer: the photo itself is the result. */
function unedited(edits: EditValue[], transfer?: Transfer | null): boolean {
  return !edits.some((e) => e.value !== 0) && !transfer;
}

/** How many previews made ahead are kept: a held slider's neighbours on both sides, a few times over. */
const PREPARED_PREVIEWS = 64;

/**
 * The edits and transfer as a key. A slider's value is keyed to 9 significant digits: the page's copy of a
 * position (min + n * step in binary) and the browser's (in decimal) differ in the 16th.
 */
function previewKey(edits: EditValue[], transfer?: Transfer | null): string {
  const sorted = [...edits].sort((a, b) => (a.direction < b.direction ? -1 : a.direction > b.direction ? 1 : 0));
  return JSON.stringify([sorted.map((e) => [e.direction, e.value.toPrecision(9), e.range ?? null]), transfer ?? null]);
}
