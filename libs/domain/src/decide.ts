import type {
  CreditsBurnedEvent,
  CreditsExpiredEvent,
  CreditsGrantedEvent,
  EnvelopeBase,
  LedgerEvent,
  Period,
  QuotaCommittedEvent,
  QuotaDeniedEvent,
  QuotaExpiredEvent,
  QuotaReleasedEvent,
  QuotaReservedEvent,
  SubscriptionChangedEvent,
  SubscriptionTerms,
  UsageTrackedEvent,
  UsageTransfer,
  UsageTransferredInEvent,
  UsageTransferredOutEvent,
  WindowRef,
} from '@vevee/contracts';

import { isCurrencyCode, latestPlanVersion, meterOf, type LimitDefinition, type PlanVersion, type WorkspaceCatalog } from './catalog';
import type {
  CheckQuotaCommand,
  CommitQuotaCommand,
  GrantCreditsCommand,
  MergeIntoCommand,
  QuotaCommand,
  ReleaseQuotaCommand,
  ReserveQuotaCommand,
  TrackUsageCommand,
  TransferInCommand,
  UpsertSubscriptionCommand,
} from './commands';
import { DomainError, MergedPersonError } from './errors';
import { advanceTo, applyEvent } from './fold';
import { counterKey, roundAmount, type CreditGrant, type Hold, type PersonState } from './state';
import { anchoredWindowFor, limitWindowFor, windowFor } from './windows';

/** The inputs a decision takes from outside the person's state. */
export interface DecisionContext {
  /** Decision time in epoch milliseconds, never earlier than the person's last event. */
  now: number;
  catalog: WorkspaceCatalog;
  newEventId(): string;
  newReservationId(personId: string): string;
}

export interface ReserveReply {
  kind: 'reserve';
  allowed: boolean;
  reservationId: string;
  remaining: number;
  limit: number;
  period: Period;
  resetsAt: number;
  expiresAt: number | undefined;
  reason: string;
  /** The part of the quantity held against credits. */
  creditQuantity: number;
  /** Soft limits that the reserve goes over. */
  softExceeded: string[];
}

/** Usage that moves to the known person a merged person belongs to. */
export interface TransferOut {
  transferId: string;
  targetPersonId: string;
  transfers: UsageTransfer[];
}

export interface CommitReply {
  kind: 'commit';
  /** Set when the person was merged: the caller hands this usage to the target with transferIn. */
  transfer?: TransferOut;
  reservationId: string;
  quantity: number;
  overage: number;
  afterExpiry: boolean;
  creditQuantity: number;
  /** Set when the commit asked for more than the reservation and the policy capped it. */
  capped: boolean;
}

export interface ReleaseReply {
  kind: 'release';
  reservationId: string;
  released: number;
}

export interface TrackReply {
  kind: 'track';
  eventId: string;
}

export interface ExpireReply {
  kind: 'expire';
  expired: number;
}

export interface SubscriptionReply {
  kind: 'upsertSubscription';
  applied: boolean;
  /** `applied`, `scheduled`, `duplicate` (externalId seen before) or `stale` (older occurredAt). */
  outcome: 'applied' | 'scheduled' | 'duplicate' | 'stale';
  current: SubscriptionTerms | null;
  scheduled: { terms: SubscriptionTerms; effectiveAt: number } | null;
}

export interface GrantReply {
  kind: 'grantCredits';
  grantId: string;
  /** The person's spendable balance of the grant's meter or currency now. */
  balance: number;
}

export interface CheckReply extends Omit<ReserveReply, 'kind' | 'reservationId' | 'expiresAt'> {
  kind: 'check';
}

export interface MergeReply {
  kind: 'mergeInto';
  transfer: TransferOut;
}

/** The person itself, not merged into another. A request for a merged person is rejected with MergedPersonError. */
export interface ResolveReply {
  kind: 'resolve';
  personId: string;
}

export interface TransferInReply {
  kind: 'transferIn';
  /** False when the transfer was applied before. */
  applied: boolean;
}

export type QuotaReply = ResolveReply | MergeReply | TransferInReply | ReserveReply | CommitReply | ReleaseReply | TrackReply | ExpireReply | SubscriptionReply | GrantReply | CheckReply;

/**
 * The outcome of one command. `events` must be appended to the ledger even when
 * `error` is set, because they can contain expiries of holds that ran out before
 * the command arrived.
 */
export interface Decision {
  events: LedgerEvent[];
  reply: QuotaReply | undefined;
  error: DomainError | undefined;
}

/** How far a subscription change's occurredAt may lie after the decision time, for clock skew. */
export const MAX_OCCURRED_AT_AHEAD_MS = 10 * 60_000;

const BILLED_STATUSES = new Set(['active', 'trialing', 'past_due']);

/** Returns the terms that decide the person's plan: a billed subscription, or none. */
function billedSubscription(state: PersonState): SubscriptionTerms | undefined {
  const current = state.subscription.current;
  return current !== null && BILLED_STATUSES.has(current.status) ? current : undefined;
}

/** Returns the latest version of the person's plan: the subscribed plan, or the workspace's default plan. */
export function planOf(state: PersonState, catalog: WorkspaceCatalog): PlanVersion {
  const planId = billedSubscription(state)?.planId ?? catalog.defaultPlanId;
  const plan = latestPlanVersion(catalog, planId) ?? latestPlanVersion(catalog, catalog.defaultPlanId);
  if (plan === undefined) {
    throw new DomainError('failed_precondition', undefined, `workspace "${catalog.workspaceId}" has no plan "${planId}" and no default plan; publish a plan first`);
  }
  return plan;
}

/** One limit of the person's plan on a meter, with what is left of it now. */
export interface LimitStatus {
  limit: LimitDefinition;
  window: WindowRef;
  used: number;
  reserved: number;
  /** amount - used - reserved; negative after a recorded overage. */
  available: number;
}

/** Returns every limit of the person's plan on `meter`, in the plan's order, with its window and counters at `now`. */
export function limitStatuses(state: PersonState, catalog: WorkspaceCatalog, plan: PlanVersion, meter: string, now: number): LimitStatus[] {
  const anchor = billedSubscription(state)?.startsAt;
  const statuses: LimitStatus[] = [];
  for (const limit of plan.limits) {
    if (limit.meter !== meter) continue;
    const window = limitWindowFor(limit.period, limit.window, now, catalog.timeZone, anchor);
    const counter = state.counters.get(counterKey(meter, window));
    const used = counter?.used ?? 0;
    const reserved = counter?.reserved ?? 0;
    statuses.push({ limit, window, used, reserved, available: roundAmount(limit.amount - used - reserved) });
  }
  return statuses;
}

/**
 * Returns the distinct windows of the statuses. A window is marked `credits`
 * when every limit on it lets credits pay above it, because the counter of a
 * window is shared by its limits.
 */
function windowsOf(statuses: LimitStatus[]): WindowRef[] {
  const byKey = new Map<string, WindowRef>();
  for (const { limit, window } of statuses) {
    const key = `${window.period}|${window.start}|${window.end}`;
    const known = byKey.get(key);
    if (known === undefined) {
      byKey.set(key, { ...window, credits: limit.credits });
    } else if (!limit.credits) {
      known.credits = false;
    }
  }
  return [...byKey.values()].map((window) => (window.credits === true ? window : { period: window.period, start: window.start, end: window.end }));
}

/** Compares two ids by code unit, the same in every locale. */
function compareIds(a: string, b: string): number {
  if (a === b) return 0;
  return a < b ? -1 : 1;
}

/** Returns true when a grant pays for `meter`: granted for the meter itself, or for the currency that is its unit. */
function grantPaysFor(grant: CreditGrant, meter: string, unit: string): boolean {
  return grant.meter === meter || (isCurrencyCode(unit) && grant.meter === unit);
}

/**
 * Returns the grants that can pay for `meter` now, in burn order: lower
 * priority number first, then the soonest expiry, then the oldest grant.
 */
export function spendableGrants(state: PersonState, catalog: WorkspaceCatalog, meter: string, now: number): CreditGrant[] {
  const unit = catalog.meters[meter]?.unit ?? meter;
  return [...state.grants.values()]
    .filter(
      (grant) =>
        grant.recurrence === null &&
        grant.remaining > 0 &&
        grant.effectiveAt <= now &&
        (grant.expiresAt === null || grant.expiresAt > now) &&
        grantPaysFor(grant, meter, unit),
    )
    .sort(
      (a, b) =>
        a.priority - b.priority ||
        (a.expiresAt ?? Number.MAX_VALUE) - (b.expiresAt ?? Number.MAX_VALUE) ||
        a.grantedAt - b.grantedAt ||
        compareIds(a.grantId, b.grantId),
    );
}

/**
 * Returns the credit that is free to hold for `meter`: spendable grants minus
 * what active holds keep. Credit in a currency is shared by every meter priced
 * in it, so holds on those other meters count against it too, up to its total.
 */
export function creditAvailable(state: PersonState, catalog: WorkspaceCatalog, meter: string, now: number): number {
  const unit = catalog.meters[meter]?.unit ?? meter;
  const currency = isCurrencyCode(unit) ? unit : undefined;
  let own = 0;
  let shared = 0;
  for (const grant of spendableGrants(state, catalog, meter, now)) {
    if (grant.meter === currency) shared += grant.remaining;
    else own += grant.remaining;
  }
  let heldCredit = 0;
  let heldByOtherMeters = 0;
  for (const hold of state.holds.values()) {
    if (hold.meter === meter) heldCredit += hold.creditQuantity;
    else if (currency !== undefined && catalog.meters[hold.meter]?.unit === currency) heldByOtherMeters += hold.creditQuantity;
  }
  // Other meters' holds are taken to burn the shared credit first, the worst case for `meter`.
  // NOTE: holds on `meter` may also burn the shared credit before its own grants and leave another
  // meter's hold short. That commit then burns less credit and counts the rest against the allowance.
  return roundAmount(Math.max(0, own + shared - heldCredit - Math.min(shared, heldByOtherMeters)));
}

interface Assessment {
  allowed: boolean;
  statuses: LimitStatus[];
  windows: WindowRef[];
  creditQuantity: number;
  softExceeded: string[];
  /** The hard limit that denied, or the tightest hard limit of an allowed reserve. */
  reported: LimitStatus;
  remaining: number;
}

/**
 * Decides whether `quantity` fits every limit of the person's plan on the
 * meter. Every hard limit must pass on its own; a hard limit with `credits`
 * may pass by holding credit for the part above its allowance. Soft limits
 * never deny, and the ones exceeded are reported.
 */
function assess(state: PersonState, catalog: WorkspaceCatalog, plan: PlanVersion, meter: string, quantity: number, now: number): Assessment {
  const statuses = limitStatuses(state, catalog, plan, meter, now);
  if (statuses.length === 0) {
    throw new DomainError('failed_precondition', 'meter', `plan "${plan.planId}" version ${plan.version} has no limit on meter "${meter}"; add a limit to the plan`);
  }
  const hard = statuses.filter((status) => status.limit.enforcement === 'hard');
  const softExceeded = statuses.filter((status) => status.limit.enforcement === 'soft' && status.available < quantity).map((status) => status.limit.id);

  let creditQuantity = 0;
  let denying: LimitStatus | undefined;
  for (const status of hard) {
    if (status.available >= quantity) continue;
    if (!status.limit.credits) {
      if (denying === undefined || status.available < denying.available) denying = status;
      continue;
    }
    creditQuantity = Math.max(creditQuantity, roundAmount(quantity - Math.max(0, status.available)));
  }
  if (denying === undefined && creditQuantity > 0 && creditAvailable(state, catalog, meter, now) < creditQuantity) {
    denying = hard.filter((status) => status.limit.credits && status.available < quantity).sort((a, b) => a.available - b.available)[0];
  }

  const windows = windowsOf(statuses);
  if (denying !== undefined) {
    return { allowed: false, statuses, windows, creditQuantity: 0, softExceeded, reported: denying, remaining: Math.max(0, denying.available) };
  }

  // The tightest hard limit after this quantity, or the tightest soft one when the plan has no hard limit.
  const counted = (status: LimitStatus) => (status.limit.credits ? quantity - creditQuantity : quantity);
  const candidates = hard.length > 0 ? hard : statuses;
  const reported = candidates.reduce((tightest, status) => (status.available - counted(status) < tightest.available - counted(tightest) ? status : tightest));
  return { allowed: true, statuses, windows, creditQuantity, softExceeded, reported, remaining: Math.max(0, roundAmount(reported.available - counted(reported))) };
}

/** The envelope of the events a decision appends, which always name their plan. */
type Envelope = Required<EnvelopeBase>;

type EnvelopeFactory = () => Envelope;

function envelopeFactory(command: QuotaCommand, context: DecisionContext, plan: PlanVersion | undefined): EnvelopeFactory {
  return () => ({
    version: 1 as const,
    eventId: context.newEventId(),
    workspaceId: command.workspaceId,
    personId: command.personId,
    at: context.now,
    planVersion: plan?.version ?? context.catalog.version,
    planId: plan?.planId ?? context.catalog.defaultPlanId,
  });
}

function reserveReplyOf(event: QuotaReservedEvent | QuotaDeniedEvent): ReserveReply {
  const allowed = event.type === 'QuotaReserved';
  return {
    kind: 'reserve',
    allowed,
    reservationId: allowed ? event.reservationId : '',
    remaining: event.remaining,
    limit: event.limit,
    period: event.limitPeriod,
    resetsAt: event.resetsAt,
    expiresAt: allowed ? event.expiresAt : undefined,
    reason: allowed ? '' : event.reason,
    creditQuantity: allowed ? (event.creditQuantity ?? 0) : 0,
    softExceeded: allowed ? (event.softExceeded ?? []) : [],
  };
}

function transferOf(event: UsageTransferredOutEvent | undefined): TransferOut | undefined {
  return event === undefined ? undefined : { transferId: event.transferId, targetPersonId: event.targetPersonId, transfers: event.transfers };
}

function commitReplyOf(event: QuotaCommittedEvent, transfer?: UsageTransferredOutEvent): CommitReply {
  return {
    kind: 'commit',
    ...(transfer === undefined ? {} : { transfer: transferOf(transfer) }),
    reservationId: event.reservationId,
    quantity: event.quantity,
    overage: event.overage,
    afterExpiry: event.afterExpiry,
    creditQuantity: event.creditQuantity ?? 0,
    capped: event.requestedQuantity !== undefined,
  };
}

function rejectReusedKey(field: string, key: string): never {
  throw new DomainError(
    'invalid_argument',
    field,
    `idempotency key "${key}" was already used for a different request; send a new key for a new request`,
  );
}

type Outcome<R extends QuotaReply> = { events: LedgerEvent[]; reply: R };

interface Decider {
  state: PersonState;
  context: DecisionContext;
  plan: PlanVersion;
  envelope: EnvelopeFactory;
}

function decideCheck({ state, context, plan }: Decider, command: CheckQuotaCommand): Outcome<CheckReply> {
  meterOf(context.catalog, command.meter);
  const assessment = assess(state, context.catalog, plan, command.meter, command.quantity, context.now);
  return {
    events: [],
    reply: {
      kind: 'check',
      allowed: assessment.allowed,
      remaining: assessment.remaining,
      limit: assessment.reported.limit.amount,
      period: assessment.reported.limit.period,
      resetsAt: assessment.reported.window.end,
      reason: assessment.allowed ? '' : 'limit_exceeded',
      creditQuantity: assessment.creditQuantity,
      softExceeded: assessment.softExceeded,
    },
  };
}

function decideReserve({ state, context, plan, envelope }: Decider, command: ReserveQuotaCommand): Outcome<ReserveReply> {
  const previous = state.idempotency.get(command.idempotencyKey);
  if (previous !== undefined) {
    const isSameRequest =
      (previous.type === 'QuotaReserved' || previous.type === 'QuotaDenied') &&
      previous.meter === command.meter &&
      previous.quantity === command.quantity;
    if (!isSameRequest) rejectReusedKey('idempotencyKey', command.idempotencyKey);
    return { events: [], reply: reserveReplyOf(previous) };
  }

  meterOf(context.catalog, command.meter);
  const assessment = assess(state, context.catalog, plan, command.meter, command.quantity, context.now);
  const base = {
    ...envelope(),
    idempotencyKey: command.idempotencyKey,
    meter: command.meter,
    quantity: command.quantity,
    limit: assessment.reported.limit.amount,
    limitPeriod: assessment.reported.limit.period,
    resetsAt: assessment.reported.window.end,
    remaining: assessment.remaining,
  };

  let event: QuotaReservedEvent | QuotaDeniedEvent;
  if (assessment.allowed) {
    const capped = assessment.statuses.some((status) => status.limit.overage === 'cap');
    event = {
      ...base,
      type: 'QuotaReserved',
      reservationId: context.newReservationId(command.personId),
      expiresAt: context.now + command.ttlSeconds * 1000,
      windows: assessment.windows,
      creditQuantity: assessment.creditQuantity,
      softExceeded: assessment.softExceeded,
      overagePolicy: capped ? 'cap' : 'record',
    };
  } else {
    event = { ...base, type: 'QuotaDenied', reason: 'limit_exceeded', limitId: assessment.reported.limit.id };
  }
  return { events: [event], reply: reserveReplyOf(event) };
}

/** Spends up to `amount` of the person's credit for `meter` in burn order, one event per grant touched. */
function burnCredits(decider: Decider, meter: string, amount: number, usage: { reservationId: string; usageEventId: string }): CreditsBurnedEvent[] {
  const burns: CreditsBurnedEvent[] = [];
  let left = roundAmount(amount);
  for (const grant of spendableGrants(decider.state, decider.context.catalog, meter, decider.context.now)) {
    if (left <= 0) break;
    const burned = Math.min(grant.remaining, left);
    left = roundAmount(left - burned);
    burns.push({ ...decider.envelope(), type: 'CreditsBurned', grantId: grant.grantId, meter: grant.meter, amount: burned, ...usage });
  }
  return burns;
}

function decideCommit(decider: Decider, command: CommitQuotaCommand): Outcome<CommitReply> {
  const { state, context, envelope } = decider;
  const hold = state.holds.get(command.reservationId);
  const closed = state.closed.get(command.reservationId);
  if (hold === undefined && closed === undefined) {
    throw new DomainError('not_found', 'reservationId', `reservation "${command.reservationId}" not found; it may be older than 24 hours or belong to another workspace`);
  }
  if (closed?.status === 'committed' && closed.event?.type === 'QuotaCommitted') {
    const requested = closed.event.requestedQuantity ?? closed.event.quantity;
    if (requested !== command.quantity || closed.event.cost !== command.cost) {
      throw new DomainError('failed_precondition', 'reservationId', `reservation "${command.reservationId}" was already committed with quantity ${requested}; a reservation is committed once`);
    }
    return { events: [], reply: commitReplyOf(closed.event, closed.transfer) };
  }
  if (closed?.status === 'released') {
    throw new DomainError('failed_precondition', 'reservationId', `reservation "${command.reservationId}" was released and cannot be committed; use track to record usage without a hold`);
  }

  const reserved = hold ?? closed!.hold;
  const capped = reserved.overagePolicy === 'cap' && command.quantity > reserved.quantity;
  const quantity = capped ? reserved.quantity : command.quantity;
  const creditNeeded = creditForCommit(decider, reserved, quantity, hold !== undefined);
  const eventId = context.newEventId();
  const burns = creditNeeded > 0 ? burnCredits(decider, reserved.meter, creditNeeded, { reservationId: command.reservationId, usageEventId: eventId }) : [];
  const event: QuotaCommittedEvent = {
    ...envelope(),
    eventId,
    type: 'QuotaCommitted',
    idempotencyKey: command.idempotencyKey,
    reservationId: command.reservationId,
    meter: reserved.meter,
    reservedQuantity: reserved.quantity,
    quantity,
    overage: Math.max(0, roundAmount(quantity - reserved.quantity)),
    afterExpiry: hold === undefined,
    ...(capped ? { requestedQuantity: command.quantity } : {}),
    creditQuantity: roundAmount(burns.reduce((sum, burn) => sum + burn.amount, 0)),
    cost: command.cost,
    currency: command.currency,
    metadata: command.metadata,
    windows: reserved.windows,
  };
  const transfer = state.merge === null ? undefined : transferAfterMerge(decider, event, state.merge.targetPersonId);
  return { events: transfer === undefined ? [...burns, event] : [...burns, event, transfer], reply: commitReplyOf(event, transfer) };
}

/**
 * Returns the credit a commit of `quantity` needs. In each credit window of the
 * hold that the plan still limits, the free allowance is what the limit has
 * left plus the hold's own allowance part while the hold is active. Credit pays
 * the rest, and the largest rest over those windows is returned.
 *
 * A quantity above the hold is paid the same way, so credit covers a recorded
 * overage before the allowance is exceeded. When the plan changed and no such
 * window is left, usage fills the hold's allowance part first, then its credit part.
 */
function creditForCommit({ state, context, plan }: Decider, hold: Hold, quantity: number, active: boolean): number {
  const allowancePart = hold.quantity - hold.creditQuantity;
  const holdWindows = new Set(hold.windows.filter((window) => window.credits === true).map((window) => counterKey(hold.meter, window)));
  let needed: number | undefined;
  for (const status of limitStatuses(state, context.catalog, plan, hold.meter, context.now)) {
    if (!status.limit.credits || status.limit.enforcement !== 'hard' || !holdWindows.has(counterKey(hold.meter, status.window))) continue;
    const free = Math.max(0, roundAmount(status.available + (active ? allowancePart : 0)));
    needed = Math.max(needed ?? 0, roundAmount(quantity - free));
  }
  if (needed !== undefined) return Math.max(0, needed);
  return quantity <= hold.quantity ? Math.max(0, roundAmount(quantity - allowancePart)) : hold.creditQuantity;
}

/** Moves a merged person's committed usage on to the person it was merged into. */
function transferAfterMerge(decider: Decider, commit: QuotaCommittedEvent, targetPersonId: string): UsageTransferredOutEvent | undefined {
  const transfers = commit.windows
    .filter((window) => window.end > decider.context.now)
    .map((window) => ({
      meter: commit.meter,
      window: { period: window.period, start: window.start, end: window.end },
      used: window.credits === true ? roundAmount(commit.quantity - (commit.creditQuantity ?? 0)) : commit.quantity,
    }))
    .filter((transfer) => transfer.used !== 0);
  if (transfers.length === 0) return undefined;
  return {
    ...decider.envelope(),
    type: 'UsageTransferredOut',
    transferId: `${commit.eventId}:moved`,
    targetPersonId,
    transfers,
    reservationId: commit.reservationId,
  };
}

/** Returns the person's usage in windows that are still open, as transfers. */
function openUsage(state: PersonState, now: number): UsageTransfer[] {
  const transfers: UsageTransfer[] = [];
  for (const [key, counter] of state.counters) {
    if (counter.end <= now || counter.used === 0) continue;
    // Meter names cannot contain "|" (the RPC API checks them), so the key splits cleanly.
    const [meter, period, start, end] = key.split('|') as [string, Period, string, string];
    transfers.push({ meter, window: { period, start: Number(start), end: Number(end) }, used: counter.used });
  }
  return transfers;
}

function decideMergeInto({ state, context, envelope }: Decider, command: MergeIntoCommand): Outcome<MergeReply> {
  if (command.targetPersonId === command.personId) {
    throw new DomainError('invalid_argument', 'knownId', 'knownId must differ from anonymousId: a person cannot be merged into itself');
  }
  if (state.merge !== null) {
    if (state.merge.targetPersonId !== command.targetPersonId) throw new MergedPersonError(command.personId, state.merge.targetPersonId);
    return { events: [], reply: { kind: 'mergeInto', transfer: transferOf(state.merge.transfer)! } };
  }
  const base = envelope();
  const event: UsageTransferredOutEvent = {
    ...base,
    type: 'UsageTransferredOut',
    transferId: `merge:${base.eventId}`,
    targetPersonId: command.targetPersonId,
    transfers: openUsage(state, context.now),
  };
  return { events: [event], reply: { kind: 'mergeInto', transfer: transferOf(event)! } };
}

/**
 * Adds a merged person's usage to this person's windows of the same period:
 * the windows of this person's plan when it limits that period, or else the
 * window as the source counted it.
 */
function decideTransferIn({ state, context, plan, envelope }: Decider, command: TransferInCommand): Outcome<TransferInReply> {
  if (state.transfersIn.has(command.transferId)) return { events: [], reply: { kind: 'transferIn', applied: false } };
  if (command.sourcePersonId === command.personId) {
    throw new DomainError('invalid_argument', 'sourcePersonId', 'sourcePersonId must differ from the person the usage moves to');
  }
  const transfers: UsageTransfer[] = [];
  for (const transfer of command.transfers) {
    const targets = new Map<string, WindowRef>();
    for (const status of limitStatuses(state, context.catalog, plan, transfer.meter, context.now)) {
      if (status.window.period !== transfer.window.period) continue;
      targets.set(counterKey(transfer.meter, status.window), { period: status.window.period, start: status.window.start, end: status.window.end });
    }
    if (targets.size === 0 && transfer.window.end > context.now) targets.set('', transfer.window);
    for (const window of targets.values()) transfers.push({ meter: transfer.meter, window, used: transfer.used });
  }
  const event: UsageTransferredInEvent = {
    ...envelope(),
    type: 'UsageTransferredIn',
    transferId: command.transferId,
    sourcePersonId: command.sourcePersonId,
    transfers,
  };
  return { events: [event], reply: { kind: 'transferIn', applied: true } };
}

function decideRelease({ state, envelope }: Decider, command: ReleaseQuotaCommand): Outcome<ReleaseReply> {
  const hold = state.holds.get(command.reservationId);
  if (hold === undefined) {
    const closed = state.closed.get(command.reservationId);
    if (closed === undefined) {
      throw new DomainError('not_found', 'reservationId', `reservation "${command.reservationId}" not found; it may be older than 24 hours or belong to another workspace`);
    }
    if (closed.status === 'committed') {
      throw new DomainError('failed_precondition', 'reservationId', `reservation "${command.reservationId}" was already committed and cannot be released`);
    }
    const released = closed.event?.type === 'QuotaReleased' ? closed.event.quantity : 0;
    return { events: [], reply: { kind: 'release', reservationId: command.reservationId, released } };
  }

  const event: QuotaReleasedEvent = {
    ...envelope(),
    type: 'QuotaReleased',
    idempotencyKey: command.idempotencyKey,
    reservationId: hold.reservationId,
    meter: hold.meter,
    quantity: hold.quantity,
    windows: hold.windows,
  };
  return { events: [event], reply: { kind: 'release', reservationId: hold.reservationId, released: hold.quantity } };
}

function decideTrack(decider: Decider, command: TrackUsageCommand): Outcome<TrackReply> {
  const { state, context, plan, envelope } = decider;
  const previous = state.idempotency.get(command.idempotencyKey);
  if (previous !== undefined) {
    if (previous.type !== 'UsageTracked' || previous.eventType !== command.eventType || previous.quantity !== command.quantity) {
      rejectReusedKey('idempotencyKey', command.idempotencyKey);
    }
    return { events: [], reply: { kind: 'track', eventId: previous.eventId } };
  }

  let windows: WindowRef[] = [];
  let burns: CreditsBurnedEvent[] = [];
  const eventId = context.newEventId();
  if (command.meter !== '') {
    meterOf(context.catalog, command.meter);
    // Tracked usage is never denied. Credits pay for the part above the allowance of limits that accept them.
    const statuses = limitStatuses(state, context.catalog, plan, command.meter, context.now);
    windows = windowsOf(statuses);
    let creditNeeded = 0;
    for (const status of statuses) {
      if (status.limit.enforcement !== 'hard' || !status.limit.credits) continue;
      creditNeeded = Math.max(creditNeeded, roundAmount(command.quantity - Math.max(0, status.available)));
    }
    if (creditNeeded > 0) burns = burnCredits(decider, command.meter, creditNeeded, { reservationId: '', usageEventId: eventId });
  }

  const event: UsageTrackedEvent = {
    ...envelope(),
    eventId,
    type: 'UsageTracked',
    idempotencyKey: command.idempotencyKey,
    eventType: command.eventType,
    meter: command.meter,
    quantity: command.quantity,
    cost: command.cost,
    currency: command.currency,
    metadata: command.metadata,
    windows,
    creditQuantity: roundAmount(burns.reduce((sum, burn) => sum + burn.amount, 0)),
    ...(command.occurredAt === undefined ? {} : { occurredAt: command.occurredAt }),
  };
  return { events: [...burns, event], reply: { kind: 'track', eventId } };
}

function decideSubscription({ state, context, envelope }: Decider, command: UpsertSubscriptionCommand): Outcome<SubscriptionReply> {
  const subscription = state.subscription;
  const replyWith = (outcome: SubscriptionReply['outcome']): SubscriptionReply => ({
    kind: 'upsertSubscription',
    applied: outcome === 'applied' || outcome === 'scheduled',
    outcome,
    current: subscription.current,
    scheduled: subscription.scheduled,
  });
  if (subscription.appliedExternalIds.includes(command.externalId)) return { events: [], reply: replyWith('duplicate') };
  if (command.occurredAt > context.now + MAX_OCCURRED_AT_AHEAD_MS) {
    // Accepting it would mark every later real change as stale.
    throw new DomainError(
      'invalid_argument',
      'occurredAt',
      `occurredAt ${new Date(command.occurredAt).toISOString()} is more than 10 minutes after the server's time ${new Date(context.now).toISOString()}; send the time the billing system made the change, and check its clock`,
    );
  }
  if (command.occurredAt < subscription.occurredAt) return { events: [], reply: replyWith('stale') };
  if (latestPlanVersion(context.catalog, command.planId) === undefined) {
    const known = Object.keys(context.catalog.plans).join(', ');
    throw new DomainError('invalid_argument', 'planId', `unknown plan "${command.planId}"; the workspace has: ${known}`);
  }

  // A change for the next period replaces a scheduled one, so it changes from those terms; any other changes the terms in force.
  const from = command.effective === 'next_period' ? (subscription.scheduled?.terms ?? subscription.current) : subscription.current;
  const to: SubscriptionTerms = { planId: command.planId, status: command.status, startsAt: command.startsAt ?? from?.startsAt ?? context.now };
  const current = subscription.current;
  const effectiveAt =
    command.effective === 'next_period' && current !== null
      ? anchoredWindowFor('billing', context.now, current.startsAt, context.catalog.timeZone).end
      : context.now;
  const event: SubscriptionChangedEvent = {
    ...envelope(),
    type: 'SubscriptionChanged',
    externalId: command.externalId,
    source: command.source,
    occurredAt: command.occurredAt,
    effectiveAt,
    from,
    to,
    reason: command.reason,
  };
  // The reply shows the terms after this change, which the caller applies to the state next.
  const later = effectiveAt > context.now;
  return {
    events: [event],
    reply: {
      kind: 'upsertSubscription',
      applied: true,
      outcome: later ? 'scheduled' : 'applied',
      current: later ? subscription.current : to,
      scheduled: later ? { terms: to, effectiveAt } : null,
    },
  };
}

function decideGrant({ state, context, envelope }: Decider, command: GrantCreditsCommand): Outcome<GrantReply> {
  const existing = state.grantKeys.get(command.idempotencyKey);
  if (existing !== undefined) {
    const grant = state.grants.get(existing);
    if (grant !== undefined && (grant.meter !== command.meter || grant.amount !== command.amount)) {
      rejectReusedKey('idempotencyKey', command.idempotencyKey);
    }
    return { events: [], reply: { kind: 'grantCredits', grantId: existing, balance: creditAvailable(state, context.catalog, command.meter, context.now) } };
  }
  if (context.catalog.meters[command.meter] === undefined && !isCurrencyCode(command.meter)) {
    const known = Object.keys(context.catalog.meters).join(', ');
    throw new DomainError('invalid_argument', 'meter', `credits must name a meter (${known}) or a three-letter currency code such as USD; got "${command.meter}"`);
  }
  if (context.catalog.meters[command.meter] === undefined) {
    // Currency credit pays only for meters whose unit is that currency.
    const units = [...new Set(Object.values(context.catalog.meters).map((meter) => meter.unit))].filter(isCurrencyCode);
    if (!units.includes(command.meter)) {
      const fix = units.length === 0 ? 'define a meter with that unit first, or grant credits of a meter' : `use ${units.join(' or ')}, or grant credits of a meter`;
      throw new DomainError('invalid_argument', 'meter', `credits in ${command.meter} would pay for no meter of the workspace, because no meter has the unit ${command.meter}: ${fix}`);
    }
  }
  const effectiveAt = command.effectiveAt ?? context.now;
  if (command.expiresAt !== null && command.expiresAt <= effectiveAt) {
    throw new DomainError('invalid_argument', 'expiresAt', 'expiresAt must be after effectiveAt; omit it for credit that never expires');
  }

  const base = envelope();
  const event: CreditsGrantedEvent = {
    ...base,
    type: 'CreditsGranted',
    idempotencyKey: command.idempotencyKey,
    grantId: `grant_${base.eventId}`,
    meter: command.meter,
    amount: command.amount,
    priority: command.priority,
    effectiveAt,
    expiresAt: command.expiresAt,
    recurrence: command.recurrence,
    parentGrantId: null,
    origin: 'grant',
    reason: command.reason,
  };
  const spendableNow = command.recurrence === null && effectiveAt <= context.now ? command.amount : 0;
  const balance = roundAmount(creditAvailable(state, context.catalog, command.meter, context.now) + spendableNow);
  return { events: [event], reply: { kind: 'grantCredits', grantId: event.grantId, balance } };
}

/**
 * Returns the credit events due at `now`. Each recurring grant gets its renewal
 * for the current period, and the previous period's balance is rolled over up
 * to the cap, with the rest written off. Then every other grant that expired
 * with a balance left is written off. Each event is applied before the next is computed.
 */
function settleCredits(state: PersonState, context: DecisionContext, envelope: EnvelopeFactory): LedgerEvent[] {
  const events: LedgerEvent[] = [];
  const emit = (event: LedgerEvent) => {
    applyEvent(state, event);
    events.push(event);
  };
  const now = context.now;

  for (const series of [...state.grants.values()]) {
    const recurrence = series.recurrence;
    if (recurrence === null || series.effectiveAt > now) continue;
    const cycle = windowFor(recurrence.period, now, context.catalog.timeZone);
    if (series.expiresAt !== null && cycle.start >= series.expiresAt) continue;
    if (series.renewedFor !== null && series.renewedFor >= cycle.start) continue;

    for (const previous of [...state.grants.values()]) {
      if (previous.parentGrantId !== series.grantId || previous.origin !== 'renewal' || previous.remaining <= 0) continue;
      const boundary = previous.expiresAt ?? cycle.start;
      // Carried-over credit lasts for the period after the boundary, which is not the current one
      // when the person made no decision in that period.
      const rolloverExpiresAt =
        recurrence.rolloverExpiresAfterMs === null ? windowFor(recurrence.period, boundary, context.catalog.timeZone).end : boundary + recurrence.rolloverExpiresAfterMs;
      const rolled = rolloverExpiresAt > now ? Math.min(previous.remaining, recurrence.rolloverCap) : 0;
      if (rolled > 0) {
        const base = envelope();
        emit({
          ...base,
          type: 'CreditsGranted',
          idempotencyKey: `${previous.grantId}:rollover`,
          grantId: `${previous.grantId}:rollover`,
          meter: series.meter,
          amount: rolled,
          priority: series.priority,
          effectiveAt: boundary,
          expiresAt: rolloverExpiresAt,
          recurrence: null,
          parentGrantId: previous.grantId,
          origin: 'rollover',
          reason: `unused credit of ${previous.grantId} carried over, up to ${recurrence.rolloverCap}`,
        });
      }
      if (previous.remaining > 0) {
        emit({ ...envelope(), type: 'CreditsExpired', grantId: previous.grantId, meter: previous.meter, amount: previous.remaining, expiredAt: boundary });
      }
    }

    const effectiveAt = Math.max(cycle.start, series.effectiveAt);
    emit({
      ...envelope(),
      type: 'CreditsGranted',
      idempotencyKey: `${series.grantId}@${cycle.start}`,
      grantId: `${series.grantId}@${cycle.start}`,
      meter: series.meter,
      amount: series.amount,
      priority: series.priority,
      effectiveAt,
      expiresAt: series.expiresAt === null ? cycle.end : Math.min(cycle.end, series.expiresAt),
      recurrence: null,
      parentGrantId: series.grantId,
      origin: 'renewal',
      reason: `renewal of ${series.grantId} for the ${recurrence.period} starting ${new Date(cycle.start).toISOString()}`,
    });
  }

  for (const grant of [...state.grants.values()]) {
    if (grant.recurrence !== null || grant.expiresAt === null || grant.expiresAt > now || grant.remaining <= 0) continue;
    const expiry: CreditsExpiredEvent = { ...envelope(), type: 'CreditsExpired', grantId: grant.grantId, meter: grant.meter, amount: grant.remaining, expiredAt: grant.expiresAt };
    emit(expiry);
  }
  return events;
}

/**
 * Returns the earliest time at or after `now` when settling the person's
 * credits would append events: a recurring grant's next renewal (with the
 * rollover and write-off of the period before), or the expiry of a grant
 * with credit left. Returns `now` when something is overdue, and undefined
 * when nothing is due. The decider wakes the person then, so renewals and
 * write-offs reach the ledger without waiting for the person's next command.
 */
export function nextCreditSettlement(state: PersonState, timeZone: string, now: number): number | undefined {
  let due: number | undefined;
  const consider = (at: number) => {
    const when = Math.max(at, now);
    if (due === undefined || when < due) due = when;
  };

  for (const grant of state.grants.values()) {
    const recurrence = grant.recurrence;
    if (recurrence === null) {
      if (grant.expiresAt !== null && grant.remaining > 0) consider(grant.expiresAt);
      continue;
    }
    if (grant.effectiveAt > now) {
      consider(grant.effectiveAt);
      continue;
    }
    const cycle = windowFor(recurrence.period, now, timeZone);
    if (grant.expiresAt !== null && cycle.start >= grant.expiresAt) continue;
    if (grant.renewedFor === null || grant.renewedFor < cycle.start) {
      consider(now);
    } else if (grant.expiresAt === null || cycle.end < grant.expiresAt) {
      consider(cycle.end);
    }
  }
  return due;
}

/**
 * Decides one command for one person and applies the resulting events to the
 * state in place. Holds whose TTL passed before `context.now` are expired
 * first, each with its own event, and then credit grants are renewed, rolled
 * over and written off as their periods end, so the ledger records every such
 * change explicitly. The state is tentative until the events are durable: if
 * appending them fails, the caller must rebuild the state from the log.
 */
export function decide(state: PersonState, command: QuotaCommand, context: DecisionContext): Decision {
  const events: LedgerEvent[] = [];
  let plan: PlanVersion | undefined;
  try {
    plan = planOf(state, context.catalog);
  } catch (error) {
    if (!(error instanceof DomainError)) throw error;
    return { events, reply: undefined, error };
  }
  const envelope = envelopeFactory(command, context, plan);

  for (const hold of [...state.holds.values()]) {
    if (hold.expiresAt > context.now) continue;
    const expiry: QuotaExpiredEvent = {
      ...envelope(),
      type: 'QuotaExpired',
      reservationId: hold.reservationId,
      meter: hold.meter,
      quantity: hold.quantity,
      windows: hold.windows,
    };
    events.push(expiry);
  }
  for (const event of events) {
    applyEvent(state, event);
  }
  advanceTo(state, context.now);
  const expiredCount = events.length;
  events.push(...settleCredits(state, context, envelope));

  try {
    // A scheduled plan change may have taken effect above.
    const current = planOf(state, context.catalog);
    const decider: Decider = { state, context, plan: current, envelope: envelopeFactory(command, context, current) };
    const outcome = decideCommand(decider, command, expiredCount);
    for (const event of outcome.events) {
      applyEvent(state, event);
      events.push(event);
    }
    return { events, reply: outcome.reply, error: undefined };
  } catch (error) {
    if (error instanceof DomainError) {
      return { events, reply: undefined, error };
    }
    throw error;
  }
}

/** Commands that a merged person hands on to the person it was merged into. */
const REDIRECTED_AFTER_MERGE = new Set<QuotaCommand['kind']>(['resolve', 'reserve', 'check', 'track', 'upsertSubscription', 'grantCredits', 'transferIn']);

function decideCommand(decider: Decider, command: QuotaCommand, expiredCount: number): Outcome<QuotaReply> {
  const merge = decider.state.merge;
  // A repeat of a request decided before the merge gets its first reply here, so a retry never counts twice.
  const repeated = (command.kind === 'reserve' || command.kind === 'track') && decider.state.idempotency.has(command.idempotencyKey);
  if (merge !== null && REDIRECTED_AFTER_MERGE.has(command.kind) && !repeated) throw new MergedPersonError(command.personId, merge.targetPersonId);
  switch (command.kind) {
    case 'resolve':
      return { events: [], reply: { kind: 'resolve', personId: command.personId } };
    case 'mergeInto':
      return decideMergeInto(decider, command);
    case 'transferIn':
      return decideTransferIn(decider, command);
    case 'check':
      return decideCheck(decider, command);
    case 'reserve':
      return decideReserve(decider, command);
    case 'commit':
      return decideCommit(decider, command);
    case 'release':
      return decideRelease(decider, command);
    case 'track':
      return decideTrack(decider, command);
    case 'upsertSubscription':
      return decideSubscription(decider, command);
    case 'grantCredits':
      return decideGrant(decider, command);
    case 'expire':
      return { events: [], reply: { kind: 'expire', expired: expiredCount } };
  }
}
