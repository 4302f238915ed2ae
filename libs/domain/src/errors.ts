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

/** A request for a person that was merged into another; the caller sends it for `targetPersonId`. */
export class MergedPersonError extends DomainError {
  constructor(
    readonly personId: string,
    readonly targetPersonId: string,
  ) {
    super('failed_precondition', 'personId', `person "${personId}" was merged into "${targetPersonId}"; send requests for "${targetPersonId}"`);
    this.name = 'MergedPersonError';
  }
}
