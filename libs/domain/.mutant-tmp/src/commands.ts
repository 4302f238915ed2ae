/** Commands a person's decider accepts. Inputs are validated at the edge. */

export const DEFAULT_RESERVATION_TTL_SECONDS = 60;

interface PersonCommand {
  workspaceId: string;
  personId: string;
}

export interface ReserveQuotaCommand extends PersonCommand {
  kind: 'reserve';
  meter: string;
  quantity: number;
  idempotencyKey: string;
  ttlSeconds: number;
}

export interface CommitQuotaCommand extends PersonCommand {
  kind: 'commit';
  reservationId: string;
  quantity: number;
  cost: number;
  currency: string;
  metadata: Record<string, unknown>;
  idempotencyKey: string;
}

export interface ReleaseQuotaCommand extends PersonCommand {
  kind: 'release';
  reservationId: string;
  idempotencyKey: string;
}

export interface TrackUsageCommand extends PersonCommand {
  kind: 'track';
  eventType: string;
  meter: string;
  quantity: number;
  cost: number;
  currency: string;
  metadata: Record<string, unknown>;
  idempotencyKey: string;
}

/** Appends an expiry for every hold of the person whose TTL has passed. */
export interface ExpireReservationsCommand extends PersonCommand {
  kind: 'expire';
}

export type QuotaCommand =
  | ReserveQuotaCommand
  | CommitQuotaCommand
  | ReleaseQuotaCommand
  | TrackUsageCommand
  | ExpireReservationsCommand;
