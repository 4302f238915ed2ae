import { randomUUID } from 'node:crypto';

import { Code, ConnectError } from '@connectrpc/connect';

import type { ErrorCode } from '@vevee/contracts';
import { DomainError } from '@vevee/domain';
import type { Logger } from '@vevee/platform';

import { CommandServiceError } from '../errors';
import { INVALID_FIELDS_HEADER } from './requests';

const CONNECT_CODES: Record<ErrorCode, Code> = {
  invalid_argument: Code.InvalidArgument,
  unauthenticated: Code.Unauthenticated,
  not_found: Code.NotFound,
  failed_precondition: Code.FailedPrecondition,
  resource_exhausted: Code.ResourceExhausted,
  unavailable: Code.Unavailable,
  internal: Code.Internal,
};

/**
 * Maps every error a handler can raise to a Connect error. Unexpected errors
 * are logged with an id that the reply carries, and their details stay private.
 */
export function toConnectError(error: unknown, logger: Logger): ConnectError {
  if (error instanceof ConnectError) {
    return error;
  }
  if (error instanceof DomainError) {
    const mapped = new ConnectError(error.message, CONNECT_CODES[error.code]);
    if (error.field !== undefined) mapped.metadata.set(INVALID_FIELDS_HEADER, error.field);
    return mapped;
  }
  if (error instanceof CommandServiceError) {
    if (error.code === 'internal') logger.error({ err: error }, 'command failed');
    return new ConnectError(error.message, CONNECT_CODES[error.code]);
  }
  const errorId = randomUUID();
  logger.error({ err: error, errorId }, 'command failed with an unexpected error');
  return new ConnectError(`internal error ${errorId}; the command service log has the details`, Code.Internal);
}
