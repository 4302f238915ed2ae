import { Code, ConnectError, createContextKey, type Interceptor } from '@connectrpc/connect';

import type { WorkspaceDirectory } from '../workspaces';

/** The workspace the request's API key belongs to, set by the auth interceptor. */
export const WORKSPACE_ID = createContextKey<string>('', { description: 'workspace id of the API key' });

const BEARER = /^Bearer\s+(\S+)\s*$/i;

/** Rejects requests without a known API key in `Authorization: Bearer <key>`. */
export function authInterceptor(workspaces: WorkspaceDirectory): Interceptor {
  return (next) => async (request) => {
    const match = BEARER.exec(request.header.get('authorization') ?? '');
    if (match === null) {
      throw new ConnectError('missing API key: send the header "Authorization: Bearer <api key>"', Code.Unauthenticated);
    }
    const workspaceId = workspaces.authenticate(match[1]!);
    if (workspaceId === undefined) {
      throw new ConnectError('invalid API key: check the key, or create a new one for the workspace', Code.Unauthenticated);
    }
    request.contextValues.set(WORKSPACE_ID, workspaceId);
    return next(request);
  };
}
