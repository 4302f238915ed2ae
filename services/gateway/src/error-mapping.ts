import { randomUUID } from 'node:crypto';

import { ApolloServerErrorCode } from '@apollo/server/errors';
import { TokenKind, type ASTNode, type GraphQLFormattedError } from 'graphql';
import { Counter, type Registry } from 'prom-client';

import type { Logger } from '@vevee/platform';

import { GatewayError, InvalidDateTimeError } from './errors';

/**
 * Codes of errors that Apollo and graphql-js raise about the request itself
 * (syntax, validation, variable values). Their messages describe the request
 * only, so they reach the client unchanged.
 */
const REQUEST_ERROR_CODES = new Set<unknown>([
  ApolloServerErrorCode.GRAPHQL_PARSE_FAILED,
  ApolloServerErrorCode.GRAPHQL_VALIDATION_FAILED,
  ApolloServerErrorCode.BAD_USER_INPUT,
  ApolloServerErrorCode.BAD_REQUEST,
  ApolloServerErrorCode.OPERATION_RESOLUTION_FAILURE,
  ApolloServerErrorCode.PERSISTED_QUERY_NOT_FOUND,
  ApolloServerErrorCode.PERSISTED_QUERY_NOT_SUPPORTED,
]);

const ERRORS_TOTAL = 'vevee_graphql_errors_total';

/** Returns the counter of errors sent to GraphQL clients, registering it on first use. */
export function graphqlErrorsCounter(registry: Registry): Counter<'code'> {
  const existing = registry.getSingleMetric(ERRORS_TOTAL);
  if (existing !== undefined) return existing as Counter<'code'>;
  return new Counter({ name: ERRORS_TOTAL, help: 'GraphQL errors sent to clients, by extensions.code', labelNames: ['code'], registers: [registry] });
}

/**
 * Follows `originalError` (graphql-js) and `cause` links to the first error of
 * `type`. The links are read by name, not through `instanceof GraphQLError`,
 * because a test runner can load a second copy of graphql-js.
 */
function findCause<T extends Error>(error: unknown, type: abstract new (...args: never[]) => T): T | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 8 && current instanceof Error; depth += 1) {
    if (current instanceof type) return current;
    const { originalError } = current as { originalError?: unknown };
    current = originalError ?? current.cause;
  }
  return undefined;
}

/**
 * Returns the name of the argument whose literal value is `node`, read from
 * the tokens before it (`name: value`), or undefined when the value is not an
 * argument's literal, for example a variable's value.
 */
function argumentNameOf(node: ASTNode | undefined): string | undefined {
  const colon = node?.loc?.startToken.prev;
  const name = colon?.prev;
  if (colon?.kind !== TokenKind.COLON || name?.kind !== TokenKind.NAME) return undefined;
  return name.value;
}

function fromGatewayError(formatted: GraphQLFormattedError, error: GatewayError): GraphQLFormattedError {
  return {
    message: error.message,
    locations: formatted.locations,
    path: formatted.path,
    extensions: error.argument === undefined ? { code: error.code } : { code: error.code, argument: error.argument },
  };
}

function fromInvalidDateTime(formatted: GraphQLFormattedError, error: unknown, invalid: InvalidDateTimeError): GraphQLFormattedError {
  const { nodes } = error as { nodes?: readonly ASTNode[] };
  const argument = argumentNameOf(nodes?.[0]);
  // graphql-js names no argument in a literal's error, so the message is
  // rebuilt around the argument. A variable's error already names the variable.
  const message = argument === undefined ? formatted.message : `argument "${argument}" is invalid: ${invalid.message}`;
  return {
    message,
    locations: formatted.locations,
    path: formatted.path,
    extensions: argument === undefined ? { code: 'BAD_USER_INPUT' } : { code: 'BAD_USER_INPUT', argument },
  };
}

/** Keeps only the fields that every GraphQL error may show a client. */
function fromRequestError(formatted: GraphQLFormattedError): GraphQLFormattedError {
  return {
    message: formatted.message,
    locations: formatted.locations,
    path: formatted.path,
    extensions: { code: formatted.extensions?.code },
  };
}

function fromInternalError(formatted: GraphQLFormattedError, error: unknown, logger: Logger): GraphQLFormattedError {
  const errorId = randomUUID();
  const { originalError } = error as { originalError?: unknown };
  logger.error({ err: originalError ?? error, errorId, path: formatted.path }, 'graphql request failed');
  return {
    message: `internal error ${errorId}: the request failed inside the gateway, whose log has the details under this id`,
    locations: formatted.locations,
    path: formatted.path,
    extensions: { code: ApolloServerErrorCode.INTERNAL_SERVER_ERROR, errorId },
  };
}

/**
 * Maps any error that a GraphQL request raised to the error the client gets:
 * the one mapping for the API key check and for Apollo. Rejections keep their
 * message and code. Any other error is logged with a new error id, and the
 * client gets only that id, never a message, stack trace or SQL from inside.
 * `formatted` is Apollo's rendering of the error, when Apollo raised it.
 */
export function toClientError(error: unknown, logger: Logger, formatted: GraphQLFormattedError = { message: '' }): GraphQLFormattedError {
  const gatewayError = findCause(error, GatewayError);
  if (gatewayError !== undefined) return fromGatewayError(formatted, gatewayError);

  const invalidDateTime = findCause(error, InvalidDateTimeError);
  if (invalidDateTime !== undefined) return fromInvalidDateTime(formatted, error, invalidDateTime);

  if (REQUEST_ERROR_CODES.has(formatted.extensions?.code)) return fromRequestError(formatted);

  return fromInternalError(formatted, error, logger);
}

/** Creates Apollo's `formatError` from toClientError, counting every error by code. */
export function createErrorFormatter(logger: Logger, errorsTotal: Counter<'code'>) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const result = toClientError(error, logger, formatted);
    errorsTotal.inc({ code: String(result.extensions?.code) });
    return result;
  };
}
