import { reservationIdFor, type CreditRecurrence, type LedgerEvent, type Period, type SubscriptionStatus } from '@vevee/contracts';

import {
  decide,
  emptyPersonState,
  type Decision,
  type LimitDefinition,
  type MeterDefinition,
  type PersonState,
  type PlanVersion,
  type QuotaCommand,
  type QuotaReply,
  type WorkspaceCatalog,
} from '../src';

/**
 * Builders for the table-driven domain tests: a catalog written out in the
 * test, commands with defaults, and a person whose clock the test moves by hand.
 */

export const WORKSPACE = 'ws';
export const PERSON = 'p1';

export function utc(iso: string): number {
  const at = Date.parse(iso);
  if (Number.isNaN(at)) throw new Error(`invalid ISO time in a test: ${iso}`);
  return at;
}

/** Returns the instant as ISO 8601 without zero milliseconds, as the tables write it. */
export function iso(at: number): string {
  return new Date(at).toISOString().replace('.000Z', 'Z');
}

export function limit(id: string, meter: string, amount: number, period: Period, options: Partial<LimitDefinition> = {}): LimitDefinition {
  return { id, meter, amount, period, window: 'calendar', enforcement: 'hard', overage: 'record', credits: false, ...options };
}

export function meter(key: string, unit = key): MeterDefinition {
  return { key, unit, aggregation: 'sum', displayName: key };
}

/** Builds a catalog from plans given as lists of versions, each a list of limits. Versions are numbered from 1. */
export function catalogOf(options: {
  plans: Record<string, LimitDefinition[][]>;
  meters?: MeterDefinition[];
  timeZone?: string;
  defaultPlanId?: string;
  version?: number;
}): WorkspaceCatalog {
  const plans: Record<string, PlanVersion[]> = {};
  for (const [planId, versions] of Object.entries(options.plans)) {
    plans[planId] = versions.map((limits, index) => ({ planId, version: index + 1, name: planId, limits }));
  }
  const meters = options.meters ?? [meter('tokens')];
  return {
    workspaceId: WORKSPACE,
    timeZone: options.timeZone ?? 'UTC',
    version: options.version ?? 1,
    meters: Object.fromEntries(meters.map((definition) => [definition.key, definition])),
    plans,
    defaultPlanId: options.defaultPlanId ?? Object.keys(options.plans)[0]!,
  };
}

const person = { workspaceId: WORKSPACE, personId: PERSON };

export function reserve(meterKey: string, quantity: number, key: string, ttlSeconds = 60): QuotaCommand {
  return { ...person, kind: 'reserve', meter: meterKey, quantity, idempotencyKey: key, ttlSeconds };
}

export function check(meterKey: string, quantity: number): QuotaCommand {
  return { ...person, kind: 'check', meter: meterKey, quantity };
}

export function commit(reservationId: string, quantity: number): QuotaCommand {
  return { ...person, kind: 'commit', reservationId, quantity, cost: 0, currency: 'USD', metadata: {}, idempotencyKey: `commit-${reservationId}` };
}

export function track(meterKey: string, quantity: number, key: string): QuotaCommand {
  return { ...person, kind: 'track', eventType: 'llm.call', meter: meterKey, quantity, cost: 0, currency: 'USD', metadata: {}, idempotencyKey: key };
}

export function grant(options: {
  key: string;
  meter: string;
  amount: number;
  priority?: number;
  effectiveAt?: number;
  expiresAt?: number | null;
  recurrence?: CreditRecurrence | null;
}): QuotaCommand {
  return {
    ...person,
    kind: 'grantCredits',
    idempotencyKey: options.key,
    meter: options.meter,
    amount: options.amount,
    priority: options.priority ?? 0,
    effectiveAt: options.effectiveAt,
    expiresAt: options.expiresAt ?? null,
    recurrence: options.recurrence ?? null,
    reason: 'test grant',
  };
}

export function subscribe(options: {
  planId: string;
  externalId: string;
  occurredAt: number;
  status?: SubscriptionStatus;
  startsAt?: number;
  effective?: 'immediately' | 'next_period';
}): QuotaCommand {
  return {
    ...person,
    kind: 'upsertSubscription',
    planId: options.planId,
    status: options.status ?? 'active',
    startsAt: options.startsAt,
    source: 'stripe',
    externalId: options.externalId,
    occurredAt: options.occurredAt,
    effective: options.effective ?? 'immediately',
    reason: 'test webhook',
  };
}

/**
 * One person's state with the events decided so far. Event and reservation
 * ids come from one counter, so two people given the same commands in the
 * same order get the same ids.
 */
export class Person {
  readonly events: LedgerEvent[] = [];
  /** The number that the next event or reservation id gets; copy it to a restored person to continue the same ids. */
  sequence = 0;

  constructor(
    public catalog: WorkspaceCatalog,
    readonly state: PersonState = emptyPersonState(),
  ) {}

  decide(command: QuotaCommand, now: number): Decision {
    const decision = decide(this.state, command, {
      now,
      catalog: this.catalog,
      newEventId: () => `evt-${this.sequence++}`,
      newReservationId: (personId) => reservationIdFor(personId, `r${this.sequence++}`),
    });
    this.events.push(...decision.events);
    return decision;
  }

  /** Decides a command that must succeed and returns its reply. */
  reply<K extends QuotaReply['kind']>(kind: K, command: QuotaCommand, now: number): Extract<QuotaReply, { kind: K }> {
    const decision = this.decide(command, now);
    if (decision.error !== undefined) throw decision.error;
    if (decision.reply?.kind !== kind) throw new Error(`expected a ${kind} reply, got ${decision.reply?.kind ?? 'none'}`);
    return decision.reply as Extract<QuotaReply, { kind: K }>;
  }

  /** Reserves and returns the reservation id of an allowed reserve. */
  hold(meterKey: string, quantity: number, key: string, now: number): string {
    const reply = this.reply('reserve', reserve(meterKey, quantity, key), now);
    if (!reply.allowed) throw new Error(`reserve ${key} of ${quantity} was denied with ${reply.remaining} remaining`);
    return reply.reservationId;
  }

  /** Returns a counter's used and reserved amounts, or undefined when the window has none. */
  counter(meterKey: string, period: Period, start: number, end: number): { used: number; reserved: number } | undefined {
    const counter = this.state.counters.get(`${meterKey}|${period}|${start}|${end}`);
    return counter === undefined ? undefined : { used: counter.used, reserved: counter.reserved };
  }

  /** Returns the remaining balance of every grant, by id. */
  balances(): Record<string, number> {
    return Object.fromEntries([...this.state.grants.values()].map((entry) => [entry.grantId, entry.remaining]));
  }
}

/** Returns the events of one type, with their type narrowed. */
export function eventsOf<T extends LedgerEvent['type']>(events: LedgerEvent[], type: T): Extract<LedgerEvent, { type: T }>[] {
  return events.filter((event): event is Extract<LedgerEvent, { type: T }> => event.type === type);
}
