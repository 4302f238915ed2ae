import type pg from 'pg';

import type { WorkspaceCatalog } from '@vevee/domain';
import { loadCatalog } from '@vevee/postgres';

/**
 * Returns the meters and plans of one workspace, as the deciders see them, or
 * undefined for a workspace that PostgreSQL does not have. Every read of a
 * catalog by the person account fields goes through here.
 */
export async function loadWorkspaceCatalog(pool: pg.Pool, workspaceId: string): Promise<WorkspaceCatalog | undefined> {
  return loadCatalog(pool, workspaceId);
}
