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
  | 'not-npy';

export class CheckpointError extends Error {
  readonly code: CheckpointErrorCode;
  constructor(code: CheckpointErrorCode, message: string) {
    super(message);
    this.name = 'CheckpointError';
    this.code = code;
  }
}
