import type { Period } from '@vevee/contracts';

import type { LimitDefinition, WorkspaceCatalog } from './catalog';

/** Limits of one meter, one amount per calendar period. A missing period is unlimited. */
export type MeterLimits = Partial<Record<Period, number>>;

/** The plan id that catalogFromPlan gives a workspace's single plan. */
export const DEFAULT_PLAN_ID = 'default';

/** A workspace with one plan of calendar-aligned hard limits, as the seed file writes it. */
export interface WorkspacePlan {
  workspaceId: string;
  /** IANA zone that calendar windows align to, for example `Europe/Berlin`. */
  timeZone: string;
  version: number;
  meters: Record<string, MeterLimits>;
}

/**
 * Converts a single plan into a catalog: one meter per key (unit = key, summed)
 * and one hard calendar limit per period, under plan id `default`.
 */
export function catalogFromPlan(plan: WorkspacePlan): WorkspaceCatalog {
  const limits: LimitDefinition[] = [];
  const meters: WorkspaceCatalog['meters'] = {};
  for (const [meter, periods] of Object.entries(plan.meters)) {
    meters[meter] = { key: meter, unit: meter, aggregation: 'sum', displayName: meter };
    for (const [period, amount] of Object.entries(periods)) {
      if (amount === undefined) continue;
      limits.push({ id: `${meter}-${period}`, meter, amount, period: period as Period, window: 'calendar', enforcement: 'hard', overage: 'record', credits: false });
    }
  }
  return {
    workspaceId: plan.workspaceId,
    timeZone: plan.timeZone,
    version: plan.version,
    meters,
    plans: { [DEFAULT_PLAN_ID]: [{ planId: DEFAULT_PLAN_ID, version: plan.version, name: 'Default', limits }] },
    defaultPlanId: DEFAULT_PLAN_ID,
  };
}
