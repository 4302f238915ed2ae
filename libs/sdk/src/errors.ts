import { Code, ConnectError } from '@connectrpc/connect';

/** Codes the SDK raises, the same names as the RPC API's error codes. */
export type VeveeErrorCode =
  | 'invalid_argument'
  | 'unauthenticated'
  | 'not_found'
  | 'failed_precondition'
  | 'resource_exhausted'
  | 'unavailable'
  | 'deadline_exceeded'
  | 'internal'
  | 'unknown';

const CODE_NAMES: Partial<Record<Code, VeveeErrorCode>> = {
  [Code.InvalidArgument]: 'invalid_argument',
  [Code.Unauthenticated]: 'unauthenticated',
  [Code.NotFound]: 'not_found',
  [Code.FailedPrecondition]: 'failed_precondition',
  [Code.ResourceExhausted]: 'resource_exhausted',
  [Code.Unavailable]: 'unavailable',
  [Code.DeadlineExceeded]: 'deadline_exceeded',
  [Code.Internal]: 'internal',
};

const RETRIABLE: ReadonlySet<VeveeErrorCode> = new Set(['unavailable', 'deadline_exceeded']);

/** An error from Vevee. Retrying a `retriable` one with the same idempotency key is safe. */
export class VeveeError extends Error {
  constructor(
    readonly code: VeveeErrorCode,
    message: string,
    /** The request fields the server named as invalid. */
    readonly fields: string[],
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'VeveeError';
  }

  get retriable(): boolean {
    return RETRIABLE.has(this.code);
  }

  static from(error: unknown): VeveeError {
    if (error instanceof VeveeError) return error;
    const connectError = ConnectError.from(error);
    const fields = connectError.metadata.get('vevee-invalid-fields');
    return new VeveeError(
      CODE_NAMES[connectError.code] ?? 'unknown',
      connectError.rawMessage,
      fields === null || fields === '' ? [] : fields.split(','),
      { cause: error },
    );
  }
}
