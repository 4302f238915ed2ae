import { createHash } from 'node:crypto';

import { catalogFromPlan, type WorkspaceCatalog, type WorkspacePlan } from '@vevee/domain';

/** The workspaces this process serves: their API keys and current plans. */
export class WorkspaceDirectory {
  private plans = new Map<string, WorkspacePlan>();
  private catalogs = new Map<string, WorkspaceCatalog>();
  private keys = new Map<string, string>();

  replace(plans: WorkspacePlan[], keyHashes: Map<string, string>): void {
    this.plans = new Map(plans.map((plan) => [plan.workspaceId, plan]));
    this.catalogs = new Map(plans.map((plan) => [plan.workspaceId, catalogFromPlan(plan)]));
    this.keys = new Map(keyHashes);
  }

  /** Returns the workspace an API key belongs to, or undefined for an unknown key. */
  authenticate(apiKey: string): string | undefined {
    return this.keys.get(createHash('sha256').update(apiKey).digest('hex'));
  }

  plan(workspaceId: string): WorkspacePlan | undefined {
    return this.plans.get(workspaceId);
  }

  /** Returns the workspace's meters and plans, which the deciders decide with. */
  catalog(workspaceId: string): WorkspaceCatalog | undefined {
    return this.catalogs.get(workspaceId);
  }
}
