import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { toRgb } from '../src/engine/image';
import { StudioModel } from '../src/engine/model';
import { EditorSession } from '../src/engine/session';
import { useNodeBackend } from '../src/node/backend';
import { decodePhoto, nodeFaceDetector } from '../src/node/photo';
import type { FaceDetector } from '../src/photo/faces';
import type { RgbImage } from '../src/photo/types';
import { loadBundle } from '../src/weights/loader';
import { directoryFiles } from '../src/weights/node-files';
import { FIXTURES } from './helpers/golden';

const ROOT = join(import.meta.dirname, '..');
let model: StudioModel;
let detector: FaceDetector;

const photo = async (p: string) => decodePhoto(new Uint8Array(await readFile(join(FIXTURES, 'photos', p))), p);
const differs = (a: RgbImage, b: RgbImage) => a.data.some((v, i) => v !== b.data[i]);

beforeAll(async () => {
  await useNodeBackend('wasm');
  const { manifest, weights } = await loadBundle(directoryFiles(join(ROOT, 'models', 'golden-tiny')));
  model = await StudioModel.load(manifest, weights);
  detector = await nodeFaceDetector();
});

describe('editor session (the app\'s engine side, without a browser)', () => {
  it('frames, inverts, edits, transfers from a reference and pastes back', async () => {
    const session = new EditorSession(model, detector);
    const faces = await session.setPhoto(await photo('faces/two_people.jpg'));
    expect(faces).toHaveLength(2);
    const aligned = await session.frame({ kind: 'face', faceIndex: 1 });
    expect([aligned.width, aligned.height]).toEqual([64, 64]);
    const { reconstruction, mse } = await session.invert();
    expect([reconstruction.width, mse > 0]).toEqual([32, true]);
    const plain = (await session.render([])).image;
    expect(differs(plain, reconstruction)).toBe(false);
    const smiled = (await session.render([{ direction: 'smile', value: 3 }])).image;
    expect(differs(smiled, reconstruction)).toBe(true);
    const preview = (await session.render([{ direction: 'smile', value: 3 }], { preview: true })).image;
    expect(preview.width).toBe(model.previews.choose()); // the exit that keeps up here: this tiny generator renders its full 32 px at once
    expect(preview.width).toBe(32);

    await session.setPhoto(await photo('faces/obama.jpg'), 'reference');
    await session.frame(session.defaultFraming('reference'), 'reference');
    await session.invert('reference');
    const transferred = (await session.render([], { transfer: { kind: 'block', block: 'bangs', strength: 1 } })).image;
    expect(differs(transferred, reconstruction)).toBe(true);
    const mixed = (await session.render([], { transfer: { kind: 'mix', range: { start: 4, end: 8 }, strength: 1 } })).image;
    expect(differs(mixed, reconstruction)).toBe(true);

    const pasted = await session.pasteBack(smiled);
    expect([pasted.width, pasted.height]).toEqual([1126, 661]);
    const codes = await session.exportCodes();
    session.importCodes(codes.data, codes.shape);
    expect(differs((await session.render([])).image, reconstruction)).toBe(false);
    expect(() => session.importCodes(new Float32Array(18 * 512), [1, 18, 512])).toThrow(/this model's are \[1, 8, 64\]/);
    session.dispose();
  });

  it('a full render hands over its coarser pictures on the way, each the early exit at that size', async () => {
    const session = new EditorSession(model, detector);
    await session.setPhoto(await photo('faces/obama.jpg'));
    await session.frame(session.defaultFraming());
    await session.invert();
    const edits = [{ direction: model.manifest.directions[0].id, value: 2 }];
    const partials: Array<{ at: number; image: RgbImage }> = [];
    const whole = await session.renderWithComposite(edits, null, { onPartial: (image, at) => partials.push({ at, image }), partialFrom: 8 });
    const size = model.manifest.outputSize;
    expect(partials.map((p) => p.at)).toEqual([8, 16, 32, 64, 128, 256].filter((r) => r < size));
    for (const { at, image } of partials) {
      expect([image.width, image.height]).toEqual([at, at]);
      const exit = tf.tidy(() => session.model.render(session.editedCodes(edits, null), { resolution: at }));
      expect(Array.from(image.data)).toEqual(Array.from((await toRgb(exit)).data));
      exit.dispose();
    }
    expect(whole.image.width).toBe(size);
    session.dispose();
  });

  it('frames by hand-placed eyes and mouth when no face is found', async () => {
    const session = new EditorSession(model, detector);
    await expect(session.setPhoto(await photo('cars/ferrari-red-3852233337_7593a392c1_b.jpg'))).rejects.toThrow(/No face/);
    const aligned = await session.frame({ kind: 'manual', points: { eyeLeft: { x: 400, y: 300 }, eyeRight: { x: 480, y: 300 }, mouth: { x: 440, y: 390 } } });
    expect(aligned.width).toBe(64);
    await session.invert();
    session.dispose();
  });

  it('a snapshot brings a photo back without detection or the encoder: same pixels, same paste-back', async () => {
    const session = new EditorSession(model, detector);
    const obama = await photo('faces/obama.jpg');
    await session.setPhoto(obama);
    await session.frame(session.defaultFraming());
    const { reconstruction, mse } = await session.invert();
    const edit = [{ direction: 'smile', value: 2 }];
    const edited = (await session.render(edit)).image;
    const pasted = await session.pasteBack(edited);
    // Through structured cloning, as IndexedDB stores it.
    const snapshot = structuredClone((await session.snapshot())!);
    session.dispose();

    const counting = { calls: 0, detect: async () => { counting.calls++; return []; }, describeRegion: async () => { counting.calls++; return new Float32Array(128); } };
    const restored = new EditorSession(model, counting);
    restored.restore(obama, snapshot);
    const again = await restored.reconstruct();
    expect([differs(again.reconstruction, reconstruction), again.mse]).toEqual([false, mse]);
    expect(differs((await restored.render(edit)).image, edited)).toBe(false);
    expect(differs(await restored.pasteBack(edited), pasted)).toBe(false);
    expect(counting.calls).toBe(0);
    expect(() => restored.restore(obama, { ...snapshot, codesShape: [1, 18, 512] })).toThrow(/this model's are \[1, 8, 64\]/);
    restored.dispose();
  });

  it('the photo\'s first picture, unedited, is the reconstruction the inversion or the restore rendered: not rendered again', async () => {
    const session = new EditorSession(model, detector);
    const obama = await photo('faces/obama.jpg');
    await session.setPhoto(obama);
    await session.frame(session.defaultFraming());
    const renders = vi.spyOn(model, 'render');
    const timed = vi.spyOn(model.previews, 'observe');
    try {
      const { reconstruction } = await session.invert();
      expect(renders).toHaveBeenCalledTimes(1);
      // that render is timed for the previews' choice, as the full render it replaces was
      expect(timed).toHaveBeenCalledWith(model.manifest.outputSize, expect.any(Number));
      const first = await session.renderWithComposite([]);
      expect(renders).toHaveBeenCalledTimes(1);
      expect(differs(first.image, reconstruction)).toBe(false);
      const edited = await session.renderWithComposite([{ direction: 'smile', value: 2 }]);
      expect(renders).toHaveBeenCalledTimes(2);
      expect(differs(edited.image, reconstruction)).toBe(true);
      expect(differs((await session.renderWithComposite([])).image, reconstruction)).toBe(false);
      expect(renders).toHaveBeenCalledTimes(2);

      const snapshot = structuredClone((await session.snapshot())!);
      const restored = new EditorSession(model, detector);
      restored.restore(obama, snapshot);
      await restored.reconstruct();
      expect(renders).toHaveBeenCalledTimes(3);
      expect(differs((await restored.renderWithComposite([])).result, first.result)).toBe(false);
      expect(renders).toHaveBeenCalledTimes(3);
      restored.dispose();
    } finally {
      renders.mockRestore();
      timed.mockRestore();
      session.dispose();
    }
  });

  it('leaks no tensor over many edits and renders', async () => {
    const session = new EditorSession(model, detector);
    await session.setPhoto(await photo('faces/obama.jpg'));
    await session.frame(session.defaultFraming());
    await session.invert();
    const edit = (i: number) => session.render([{ direction: 'smile', value: i / 10 }, { direction: 'label-attribute-0', value: 1 }], { preview: i % 2 === 0 });
    await edit(0); // the model keeps the label slider's direction at these codes (one tensor, for the whole drag)
    const before = tf.memory().numTensors;
    for (let i = 1; i < 30; i++) await edit(i);
    expect(tf.memory().numTensors).toBe(before);
    session.dispose();
  });

  it('answers a preview made ahead with the picture a render makes, and never for other codes or a full render', async () => {
    const session = new EditorSession(model, detector);
    await session.setPhoto(await photo('faces/obama.jpg'));
    await session.frame(session.defaultFraming());
    await session.invert();
    const smile = (value: number) => [{ direction: 'smile', value }];
    expect(await session.prepare(smile(0.24))).toBe(true);
    expect(await session.prepare(smile(0.24))).toBe(false); // made once
    // The browser's value for that position and the page's may differ in the 16th digit.
    const made = await session.render(smile(0.24000000000000002), { preview: true });
    expect(made.prepared).toBe(true);
    expect((await session.render(smile(0.32), { preview: true })).prepared).toBeFalsy();
    expect((await session.render(smile(0.24))).prepared).toBeFalsy();
    expect((await session.render(smile(0.24))).image.width).toBe(32);

    // The same codes again, as a new tensor: what was made ahead is dropped, and rendering anew gives its pixels.
    const codes = await session.exportCodes();
    session.importCodes(codes.data, codes.shape);
    const rendered = await session.render(smile(0.24), { preview: true });
    expect(rendered.prepared).toBeFalsy();
    expect(differs(rendered.image, made.image)).toBe(false);
    // Other codes: another picture, not the one made ahead.
    expect(await session.prepare(smile(0.24))).toBe(true);
    session.importCodes(codes.data.map((v) => v * 0.5), codes.shape);
    const other = await session.render(smile(0.24), { preview: true });
    expect(other.prepared).toBeFalsy();
    expect(differs(other.image, made.image)).toBe(true);
    session.dispose();
  });
});
