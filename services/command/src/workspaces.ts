import { createHash } from 'node:crypto';

import type { WorkspaceCatalog } from '@vevee/domain';

/** The workspaces this process serves: their API keys and catalogs. */
export class WorkspaceDirectory {
  private catalogs = new Map<string, WorkspaceCatalog>();
  private keys = new Map<string, string>();

  replace(catalogs: WorkspaceCatalog[], keyHashes: Map<string, string>): void {
    this.catalogs = new Map(catalogs.map((catalog) => [catalog.workspaceId, catalog]));
    this.keys = new Map(keyHashes);
  }

  /**
   * Stores a workspace's catalog unless the stored one has the same or a
   * newer version, so copies that arrive out of order never undo a change.
   * Returns true when the catalog replaced the stored one.
   */
  applyCatalog(catalog: WorkspaceCatalog): boolean {
    const current = this.catalogs.get(catalog.workspaceId);
    if (current !== undefined && current.version >= catalog.version) return false;
    this.catalogs.set(catalog.workspaceId, catalog);
    return true;
  }

  /** Returns the workspace an API key belongs to, or undefined for an unknown key. */
  authenticate(apiKey: string): string | undefined {
    return this.keys.get(createHash('sha256').update(apiKey).digest('hex'));
  }

  /** Returns the workspace's meters and plans, which the deciders decide with. */
  catalog(workspaceId: string): WorkspaceCatalog | undefined {
    return this.catalogs.get(workspaceId);
  }
}
