import { CodedError } from '../errors';

/** Every failure the readers report is one of these, so callers can tell the user what is wrong with the file. */
export type CheckpointErrorCode =
  | 'not-a-checkpoint'
  | 'truncated'
  | 'unsupported-format'
  | 'forbidden-class'
  | 'unsupported-dtype'
  | 'missing-tensor'
  | 'unexpected-tensor'
  | 'shape-mismatch'
  | 'invalid-bundle'
  | 'non-finite'
  | 'not-npy';

export class CheckpointError extends CodedError<CheckpointErrorCode> {
  override name = 'CheckpointError';
}
