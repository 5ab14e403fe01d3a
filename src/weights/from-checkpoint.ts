import { collectTensors, type TorchTensor } from '../io/torch';
import type { RawTensor } from '../models/weights';

/** Reads every tensor under a dict of the checkpoint into float32 arrays, keyed by their dotted names. */
export async function readTensors(value: unknown, prefix = ''): Promise<Map<string, RawTensor>> {
  const out = new Map<string, RawTensor>();
  for (const [name, tensor] of collectTensors(value, prefix)) out.set(name, await rawTensor(tensor));
  return out;
}

export async function rawTensor(tensor: TorchTensor): Promise<RawTensor> {
  return { shape: [...tensor.shape], data: await tensor.toFloat32() };
}
