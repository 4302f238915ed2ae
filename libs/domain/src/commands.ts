/** Commands a person's decider accepts. Inputs are validated at the edge. */

import type { CreditRecurrence, SubscriptionStatus, UsageTransfer } from '@vevee/contracts';

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
  /** The time the sender gave the event. Analytics use it, and quota windows use the decision time. */
  occurredAt?: number;
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

/** Returns what a reserve would reply now, without holding anything. */
export interface CheckQuotaCommand extends PersonCommand {
  kind: 'check';
  meter: string;
  quantity: number;
}

export interface UpsertSubscriptionCommand extends PersonCommand {
  kind: 'upsertSubscription';
  planId: string;
  status: SubscriptionStatus;
  /** The billing anchor; undefined keeps the current one, or uses the decision time for a new subscription. */
  startsAt: number | undefined;
  source: string;
  externalId: string;
  occurredAt: number;
  /** `immediately`, or `next_period`: at the end of the current billing period. */
  effective: 'immediately' | 'next_period';
  reason: string;
}

export interface GrantCreditsCommand extends PersonCommand {
  kind: 'grantCredits';
  idempotencyKey: string;
  meter: string;
  amount: number;
  priority: number;
  /** Undefined means the decision time. */
  effectiveAt: number | undefined;
  expiresAt: number | null;
  recurrence: CreditRecurrence | null;
  reason: string;
}

/** Merges this (anonymous) person into a known person: its usage in open windows moves there. */
export interface MergeIntoCommand extends PersonCommand {
  kind: 'mergeInto';
  targetPersonId: string;
}

/** Adds a merged person's usage to this person, once per transferId. */
export interface TransferInCommand extends PersonCommand {
  kind: 'transferIn';
  transferId: string;
  sourcePersonId: string;
  transfers: UsageTransfer[];
}

/** Resolves a person id: the person itself, or the person it was merged into. */
export interface ResolvePersonCommand extends PersonCommand {
  kind: 'resolve';
}

export type QuotaCommand =
  | ResolvePersonCommand
  | MergeIntoCommand
  | TransferInCommand
  | CheckQuotaCommand
  | UpsertSubscriptionCommand
  | GrantCreditsCommand
  | ReserveQuotaCommand
  | CommitQuotaCommand
  | ReleaseQuotaCommand
  | TrackUsageCommand
  | ExpireReservationsCommand;
