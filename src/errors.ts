/** An error with a machine-readable code, so that callers can tell the user what is wrong and what to do. */
export class CodedError<Code extends string> extends Error {
  readonly code: Code;
  constructor(code: Code, message: string) {
    super(message);
    this.code = code;
  }
}
