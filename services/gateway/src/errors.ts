/** The GraphQL error codes that the gateway raises itself, in Apollo's spelling. */
export type GatewayErrorCode = 'BAD_USER_INPUT' | 'UNAUTHENTICATED';

/**
 * A request the gateway rejects. The message is sent to the client as it is,
 * so it names the invalid argument and the fix, and never carries internals.
 */
export class GatewayError extends Error {
  constructor(
    readonly code: GatewayErrorCode,
    message: string,
    /** The GraphQL argument that was invalid, for BAD_USER_INPUT. */
    readonly argument?: string,
  ) {
    super(message);
    this.name = 'GatewayError';
  }
}

export function badUserInput(argument: string, message: string): GatewayError {
  return new GatewayError('BAD_USER_INPUT', message, argument);
}

export function unauthenticated(message: string): GatewayError {
  return new GatewayError('UNAUTHENTICATED', message);
}

/** A value the DateTime scalar cannot read as an instant. */
export class InvalidDateTimeError extends Error {
  /** `shown` is the rejected value as the client wrote it, for example `"2026-02-30"` or `42`. */
  constructor(readonly shown: string) {
    super(`${shown} is not an ISO 8601 date-time with a time zone: send one like 2026-05-01T00:00:00Z`);
    this.name = 'InvalidDateTimeError';
  }
}
