import type pg from 'pg';

import { isValidTimeZone, type WorkspacePlan } from '@vevee/domain';

import { parseStoredMeters } from './seed-validation';

export interface WorkspaceConfig {
  id: string;
  name: string;
  timeZone: string;
  /** The latest plan version; version 0 with no meters when the workspace has no plan yet. */
  plan: WorkspacePlan;
}

export interface LoadedWorkspaces {
  workspaces: WorkspaceConfig[];
  /** Workspace id by SHA-256 hex of the API key (see hashApiKey). */
  apiKeys: Map<string, string>;
}

interface WorkspaceRow {
  id: string;
  name: string;
  time_zone: string;
  version: number | null;
  meters: unknown;
}

/**
 * Reads every workspace with its latest plan version, and the API key hashes.
 * A row that breaks the seed rules (time zone, meters) throws, naming the workspace.
 */
export async function loadWorkspaces(pool: pg.Pool): Promise<LoadedWorkspaces> {
  const workspaceRows = await pool.query<WorkspaceRow>(
    `SELECT w.id, w.name, w.time_zone, p.version, p.meters
     FROM workspaces w
     LEFT JOIN LATERAL (
       SELECT version, meters FROM plans WHERE plans.workspace_id = w.id ORDER BY version DESC LIMIT 1
     ) p ON true
     ORDER BY w.id`,
  );
  const keyRows = await pool.query<{ key_hash: string; workspace_id: string }>('SELECT key_hash, workspace_id FROM api_keys');

  const workspaces = workspaceRows.rows.map((row): WorkspaceConfig => {
    if (!isValidTimeZone(row.time_zone)) {
      throw new Error(`workspace "${row.id}" in PostgreSQL has time zone "${row.time_zone}", which this runtime does not know; set an IANA zone name`);
    }
    const version = row.version ?? 0;
    const meters = row.version === null ? {} : parseStoredMeters(row.meters, `plan ${version} of workspace "${row.id}"`);
    return {
      id: row.id,
      name: row.name,
      timeZone: row.time_zone,
      plan: { workspaceId: row.id, timeZone: row.time_zone, version, meters },
    };
  });
  const apiKeys = new Map(keyRows.rows.map((row) => [row.key_hash, row.workspace_id] as const));
  return { workspaces, apiKeys };
}
