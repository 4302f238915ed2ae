import type { ErrorCode } from '@vevee/contracts';

/** A command the domain rejects. No event is appended for it. */
export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    /** The request field at fault, in the RPC's camelCase. */
    readonly field: string | undefined,
    message: string,
  ) {
    super(message);
    this.name = 'DomainError';
  }
}
