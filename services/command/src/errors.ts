/**
 * A failure of the command service that is not a domain rejection. Callers may
 * retry a `retriable` error with the same idempotency key.
 */
export class CommandServiceError extends Error {
  constructor(
    readonly code: 'unavailable' | 'internal',
    message: string,
    readonly retriable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'CommandServiceError';
  }
}

export function unavailable(message: string, cause?: unknown): CommandServiceError {
  return new CommandServiceError('unavailable', message, true, { cause });
}

/**
 * Returns the error for a full queue. It is `unavailable`, like an outage, so
 * clients retry it with backoff; `resource_exhausted` means a request that is
 * too large, which a retry cannot fix.
 */
export function overloaded(message: string): CommandServiceError {
  return new CommandServiceError('unavailable', message, true);
}
