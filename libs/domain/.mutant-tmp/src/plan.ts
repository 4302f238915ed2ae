import type { Period } from '@vevee/contracts';

/** Limits of one meter, one amount per calendar period. A missing period is unlimited. */
export type MeterLimits = Partial<Record<Period, number>>;

/** The plan a workspace's deciders use. */
export interface WorkspacePlan {
  workspaceId: string;
  /** IANA zone that calendar windows align to, for example `Europe/Berlin`. */
  timeZone: string;
  version: number;
  meters: Record<string, MeterLimits>;
}
