/**
 * Error codes of the RPC API. They follow the Connect and gRPC code names, so a
 * client can branch on them without parsing messages.
 */
export const ErrorCode = {
  InvalidArgument: 'invalid_argument',
  Unauthenticated: 'unauthenticated',
  NotFound: 'not_found',
  FailedPrecondition: 'failed_precondition',
  ResourceExhausted: 'resource_exhausted',
  Unavailable: 'unavailable',
  Internal: 'internal',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];
