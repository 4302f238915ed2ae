import { Inject, Injectable, type NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import type pg from 'pg';
import type { Counter, Registry } from 'prom-client';

import { LOGGER, METRICS, type Logger } from '@vevee/platform';
import { PG_POOL, hashApiKey } from '@vevee/postgres';

import { graphqlErrorsCounter, toClientError } from './error-mapping';
import { GatewayError, unauthenticated } from './errors';

/** The workspace that the request's API key belongs to. Every query reads only its data. */
export interface WorkspaceContext {
  workspaceId: string;
  /** IANA zone that the workspace's day and month windows align to. */
  timeZone: string;
}

/** The GraphQL context of an authenticated request. */
export interface GatewayContext {
  workspace: WorkspaceContext;
}

/** A request that passed ApiKeyMiddleware. */
export interface AuthenticatedRequest extends Request {
  workspace?: WorkspaceContext;
}

const BEARER = /^Bearer\s+(\S+)\s*$/i;

/** Returns the workspace of the API key in an `Authorization: Bearer <api key>` header. */
export async function authenticate(pool: pg.Pool, authorization: string | undefined): Promise<WorkspaceContext> {
  const match = BEARER.exec(authorization ?? '');
  if (match === null) {
    throw unauthenticated('missing API key: send the header "Authorization: Bearer <api key>" with a key of your workspace');
  }

  const result = await pool.query<{ id: string; time_zone: string }>(
    `SELECT w.id, w.time_zone
     FROM api_keys k JOIN workspaces w ON w.id = k.workspace_id
     WHERE k.key_hash = $1`,
    [hashApiKey(match[1]!)],
  );
  const row = result.rows[0];
  if (row === undefined) {
    throw unauthenticated('invalid API key: no workspace has this key. Check the "Authorization: Bearer <api key>" header, or create a new key');
  }
  return { workspaceId: row.id, timeZone: row.time_zone };
}

/**
 * Authenticates every GraphQL request before Apollo runs it, and responds to
 * a rejected one with a GraphQL error body and HTTP 401.
 *
 * NOTE: this is HTTP middleware and not Apollo's context function because
 * Apollo keeps a context error's status and code only when the error is a
 * GraphQLError of Apollo's own copy of graphql-js. Vitest loads graphql-js
 * twice (ESM for our sources, CommonJS for Apollo), so there a context error
 * would become a 500.
 */
@Injectable()
export class ApiKeyMiddleware implements NestMiddleware {
  private readonly errorsTotal: Counter<'code'>;

  constructor(
    @Inject(PG_POOL) private readonly pool: pg.Pool,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(METRICS) registry: Registry,
  ) {
    this.errorsTotal = graphqlErrorsCounter(registry);
  }

  async use(request: AuthenticatedRequest, response: Response, next: NextFunction): Promise<void> {
    // A CORS preflight carries no credentials.
    if (request.method === 'OPTIONS') return next();

    try {
      request.workspace = await authenticate(this.pool, request.headers.authorization);
    } catch (error) {
      const clientError = toClientError(error, this.logger);
      this.errorsTotal.inc({ code: String(clientError.extensions?.code) });
      const status = error instanceof GatewayError ? 401 : 500;
      if (status === 401) response.setHeader('www-authenticate', 'Bearer');
      response.status(status).json({ errors: [clientError] });
      return;
    }
    next();
  }
}
