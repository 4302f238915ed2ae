import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import {
  decodeLedgerEvent,
  encodeLedgerEvent,
  reservationIdFor,
  type LedgerEvent,
  type Period,
  type WindowRef,
} from '@vevee/contracts';

import {
  applyEvent,
  counterKey,
  decide,
  emptyPersonState,
  type CommitQuotaCommand,
  type Decision,
  type DecisionContext,
  type PersonState,
  type QuotaCommand,
  type QuotaReply,
  type ReserveQuotaCommand,
  type ReserveReply,
  type TrackUsageCommand,
  type WorkspacePlan,
  catalogFromPlan,
} from '../src';

import {
  FINAL_SWEEP_DELAY_MS,
  REGULAR_SCENARIOS,
  SCENARIOS,
  SIMULATION_SPAN_MS,
  SKIPPED_MIDNIGHT,
  THOUSANDTHS_PER_UNIT,
  scenarioNamed,
  simulationArb,
  type LimitsInThousandths,
  type Op,
  type Scenario,
  type SimulationInput,
} from './arbitraries';

/*
 * Property tests of the pure decider. Each run drives a few persons through a
 * random sequence of commands and checks every decision against a reference
 * model kept in this file: integer amounts in thousandths, windows from the
 * hand-written tables in arbitraries.ts, and hold statuses.
 *
 * The model counts a commit in the windows its reservation was made in, as
 * QuotaCommitted.windows records, so a hold made before midnight and committed
 * after it adds nothing to the new day. A hold stops counting at its
 * expiresAt, the instant included.
 */

const WORKSPACE_ID = 'ws';
const PERIODS: Period[] = ['day', 'month'];
const TOLERANCE = 1e-9;

/** Which checks a run makes beyond the replies and event types, which every run checks. */
interface Checks {
  /**
   * An allowed reserve fits every limit in the model's exact amounts, and
   * used + reserved <= limit wherever only reserves added to a window.
   */
  limits?: boolean;
  /** A denied reserve exceeds some limit in exact arithmetic. */
  liveness?: boolean;
  /** The decider's counters of the current windows equal the model's amounts. */
  counters?: boolean;
  /** Windows, resetsAt, limit and remaining in events and replies match the model. */
  replies?: boolean;
  /** Before each decision, fold the events into a fresh state, compare it and decide on it too. */
  replay?: boolean;
  /** The decider's state keeps and reserves only unexpired holds, and each hold ends once in the events. */
  expiry?: boolean;
}

type HoldStatus = 'active' | 'committed' | 'released' | 'expired';

interface ModelHold {
  reservationId: string;
  meter: string;
  /** Thousandths of a unit. */
  quantity: number;
  expiresAt: number;
  /** Windows the hold counts in, from the scenario's table at reserve time. */
  windows: WindowRef[];
  /** Windows the decider wrote into QuotaReserved. */
  recordedWindows: WindowRef[];
  status: HoldStatus;
  firstCommit: { command: CommitQuotaCommand; reply: QuotaReply | undefined } | undefined;
}

interface KeyedRequest {
  command: ReserveQuotaCommand | TrackUsageCommand;
  reply: QuotaReply | undefined;
}

interface ModelPerson {
  personId: string;
  /** The decider's live state. */
  state: PersonState;
  events: LedgerEvent[];
  holds: Map<string, ModelHold>;
  /** Used amount in thousandths, by counter key. */
  used: Map<string, number>;
  /** Counter keys that a commit above its estimate, a commit after expiry or a track added to. */
  exceedable: Set<string>;
  keyed: KeyedRequest[];
}

interface LimitView {
  period: Period;
  window: WindowRef;
  limit: number;
  used: number;
  reserved: number;
}

/** Deterministic ids; each one is wrapped in braces so it can be found inside reservation ids. */
class IdSource {
  readonly issued: string[] = [];

  constructor(private readonly prefix: string) {}

  issue(kind: string): string {
    const id = `{${this.prefix}:${kind}:${this.issued.length}}`;
    this.issued.push(id);
    return id;
  }
}

function contextFor(now: number, plan: WorkspacePlan, ids: IdSource): DecisionContext {
  return {
    now,
    catalog: catalogFromPlan(plan),
    newEventId: () => ids.issue('event'),
    newReservationId: (personId) => reservationIdFor(personId, ids.issue('reservation')),
  };
}

function units(thousandths: number): number {
  return thousandths / THOUSANDTHS_PER_UNIT;
}

/*
 * Assertions for the hot path. vitest's expect cost about 7 µs a call here, so
 * shrinking a counterexample took tens of seconds. These compare cheaply and
 * call expect only on a mismatch, for its diff.
 */

function check(condition: boolean, message: () => string): void {
  if (!condition) throw new Error(message());
}

/** Serializes to JSON, keeping an undefined property apart from a missing one as toStrictEqual does. */
function strictJson(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) => (item === undefined ? '<undefined>' : item));
}

function checkEqual(actual: unknown, expected: unknown, what: string): void {
  if (strictJson(actual) !== strictJson(expected)) expect(actual, what).toStrictEqual(expected);
}

/** Compares only the properties that `expected` names. */
function checkFields(actual: object, expected: Record<string, unknown>, what: string): void {
  const picked = Object.fromEntries(Object.keys(expected).map((key) => [key, (actual as Record<string, unknown>)[key]]));
  checkEqual(picked, expected, what);
}

function checkClose(actual: number, expected: number, what: string): void {
  check(Math.abs(actual - expected) <= TOLERANCE, () => `${what}: got ${actual}, expected ${expected}`);
}

function checkAccepted(decision: Decision, what: string): void {
  check(decision.error === undefined, () => `${what} rejected: ${decision.error?.code} ${decision.error?.message}`);
}

function checkRejected(decision: Decision, code: string, field: string, what: string): void {
  checkEqual({ reply: decision.reply, code: decision.error?.code, field: decision.error?.field }, { reply: undefined, code, field }, what);
}

function checkNoEvents(own: LedgerEvent[], what: string): void {
  if (own.length > 0) checkEqual(own.map((event) => event.type), [], `events of ${what}`);
}

/** Returns the decision as plain JSON, with each id it issued replaced by the id's position. */
function withoutIssuedIds(decision: Decision, issued: string[]): unknown {
  const error = decision.error === undefined ? null : { code: decision.error.code, field: decision.error.field, message: decision.error.message };
  let text = JSON.stringify({ events: decision.events, reply: decision.reply ?? null, error });
  issued.forEach((id, index) => {
    text = text.split(id).join(`<issued ${index}>`);
  });
  return JSON.parse(text);
}

/** Folds events read back from their wire encoding, as a new owner of the partition would. */
function replay(events: LedgerEvent[]): PersonState {
  const state = emptyPersonState();
  for (const event of events) {
    applyEvent(state, decodeLedgerEvent(encodeLedgerEvent(event)));
  }
  return state;
}

function openCounters(state: PersonState, at: number) {
  return [...state.counters].filter(([, counter]) => counter.end > at);
}

/**
 * Compares a replayed state with the live one. The live state has also moved to
 * the time of decisions that emitted no event, so counters are compared only for
 * windows still open then.
 */
function expectSameState(replayed: PersonState, live: PersonState): void {
  checkEqual([...replayed.holds], [...live.holds], 'holds after replay');
  checkEqual([...replayed.closed], [...live.closed], 'closed reservations after replay');
  checkEqual([...replayed.idempotency], [...live.idempotency], 'idempotency records after replay');
  checkEqual(openCounters(replayed, live.lastAt), openCounters(live, live.lastAt), 'open counters after replay');
}

/**
 * Checks that every reservation ends exactly once: a commit before expiry, a
 * release or an expiry. At most one commit after expiry may follow an expiry.
 * No other decision of the person may come between a hold's expiresAt and its
 * QuotaExpired event.
 */
function expectEachHoldEndsOnce(events: LedgerEvent[]): void {
  const reservedAt = new Map<string, number>();
  events.forEach((event, index) => {
    if (event.type === 'QuotaReserved') {
      check(!reservedAt.has(event.reservationId), () => `reservation ${event.reservationId} reserved twice`);
      reservedAt.set(event.reservationId, index);
    } else if (event.type === 'QuotaCommitted' || event.type === 'QuotaReleased' || event.type === 'QuotaExpired') {
      const start = reservedAt.get(event.reservationId);
      check(start !== undefined && start < index, () => `${event.type} for reservation ${event.reservationId} before or without its QuotaReserved`);
    }
  });

  for (const [reservationId, reserveIndex] of reservedAt) {
    const reserved = events[reserveIndex];
    if (reserved?.type !== 'QuotaReserved') throw new Error('reservation index points at another event');
    const ends: number[] = [];
    const lateCommits: number[] = [];
    events.forEach((event, index) => {
      if (!('reservationId' in event) || event.reservationId !== reservationId || event.type === 'QuotaReserved') return;
      if (event.type === 'QuotaCommitted' && event.afterExpiry) lateCommits.push(index);
      else ends.push(index);
    });
    check(ends.length === 1, () => `reservation ${reservationId} ends ${ends.length} times: ${ends.map((index) => events[index]!.type).join(', ')}`);

    const endIndex = ends[0]!;
    const end = events[endIndex]!;
    if (end.type === 'QuotaExpired') {
      check(end.at >= reserved.expiresAt, () => `reservation ${reservationId} expired at ${end.at}, before its expiresAt ${reserved.expiresAt}`);
      for (let index = reserveIndex + 1; index < endIndex; index++) {
        const between = events[index]!;
        const sameSweep = between.type === 'QuotaExpired' && between.at === end.at;
        check(between.at < reserved.expiresAt || sameSweep, () => `${between.type} at ${between.at} decided while hold ${reservationId}, expired at ${reserved.expiresAt}, still counted`);
      }
    } else {
      check(end.at < reserved.expiresAt, () => `${end.type} of ${reservationId} at ${end.at}, not before its expiresAt ${reserved.expiresAt}`);
    }
    check(lateCommits.length <= 1, () => `reservation ${reservationId} committed ${lateCommits.length} times after expiry`);
    if (lateCommits.length === 1) {
      check(end.type === 'QuotaExpired' && lateCommits[0]! > endIndex, () => `commit after expiry of ${reservationId} does not follow a QuotaExpired`);
    }
  }
}

class Simulation {
  private readonly scenario: Scenario;
  private readonly plan: WorkspacePlan;
  private readonly persons: ModelPerson[];
  private readonly spanEnd: number;
  private readonly liveIds = new IdSource('live');
  private now: number;
  private nextKey = 0;

  constructor(
    private readonly input: SimulationInput,
    private readonly checks: Checks,
  ) {
    this.scenario = scenarioNamed(input.scenario);
    this.now = this.scenario.start;
    this.spanEnd = this.scenario.start + SIMULATION_SPAN_MS;
    const meters: WorkspacePlan['meters'] = {};
    input.meters.forEach((limits, index) => {
      meters[meterName(index)] = Object.fromEntries(Object.entries(limits).map(([period, limit]) => [period, units(limit)]));
    });
    this.plan = { workspaceId: WORKSPACE_ID, timeZone: this.scenario.timeZone, version: 7, meters };
    this.persons = Array.from({ length: input.personCount }, (_, index) => ({
      personId: `person-${index}`,
      state: emptyPersonState(),
      events: [],
      holds: new Map(),
      used: new Map(),
      exceedable: new Set(),
      keyed: [],
    }));
  }

  run(): void {
    for (const op of this.input.ops) {
      const person = this.apply(op);
      if (person !== undefined) this.afterDecision(person);
      if (this.checks.limits) this.persons.forEach((each) => this.expectWithinLimits(each));
    }
    this.sweep();
  }

  /** Runs one step and returns the person it decided for, if any. */
  private apply(op: Op): ModelPerson | undefined {
    if (op.kind === 'jump') {
      const next = (this.scenario.windows.day ?? []).map((window) => window.start).find((start) => start > this.now);
      if (next !== undefined) this.now = Math.min(Math.max(this.now, next + op.offset), this.spanEnd);
      return undefined;
    }
    this.now = Math.min(this.now + op.dt, this.spanEnd);
    const person = this.persons[op.person % this.persons.length]!;
    switch (op.kind) {
      case 'reserve':
        this.reserve(person, op);
        return person;
      case 'commit':
        this.commit(person, op);
        return person;
      case 'release':
        this.release(person, op);
        return person;
      case 'expire':
        this.expire(person);
        return person;
      case 'track':
        this.track(person, op);
        return person;
      case 'repeat':
        return this.repeat(person, op.pick) ? person : undefined;
      case 'repeatCommit':
        return this.repeatCommit(person, op.pick) ? person : undefined;
      case 'reuseKey':
        return this.reuseKey(person, op.pick) ? person : undefined;
    }
  }

  /** Moves past every TTL and expires what is left, then checks the whole event streams. */
  private sweep(): void {
    this.now = this.spanEnd + FINAL_SWEEP_DELAY_MS;
    for (const person of this.persons) {
      this.expire(person);
      this.afterDecision(person);
    }
    for (const person of this.persons) {
      if (this.checks.replay) expectSameState(replay(person.events), person.state);
      if (this.checks.expiry) expectEachHoldEndsOnce(person.events);
    }
  }

  /**
   * Decides one command on the live state. Holds due at `now` must come first as
   * QuotaExpired events, in the order they were reserved. The events after them
   * are returned as `own`.
   */
  private decideStep(person: ModelPerson, command: QuotaCommand): { decision: Decision; own: LedgerEvent[]; expired: number } {
    const onReplay = this.checks.replay ? this.decideOnReplay(person, command) : undefined;
    const due = [...person.holds.values()].filter((hold) => hold.status === 'active' && hold.expiresAt <= this.now);

    const issuedBefore = this.liveIds.issued.length;
    const decision = decide(person.state, command, contextFor(this.now, this.plan, this.liveIds));
    const issued = this.liveIds.issued.slice(issuedBefore);

    const expiries = decision.events.slice(0, due.length).map((event) => ({
      type: event.type,
      reservationId: 'reservationId' in event ? event.reservationId : undefined,
      at: event.at,
      quantity: 'quantity' in event ? event.quantity : undefined,
      windows: 'windows' in event ? event.windows : undefined,
    }));
    const expected = due.map((hold) => ({
      type: 'QuotaExpired',
      reservationId: hold.reservationId,
      at: this.now,
      quantity: units(hold.quantity),
      windows: hold.recordedWindows,
    }));
    checkEqual(expiries, expected, `expiries at the head of a ${command.kind} decision at ${new Date(this.now).toISOString()}`);
    for (const hold of due) hold.status = 'expired';
    person.events.push(...decision.events);

    if (onReplay !== undefined) {
      checkEqual(withoutIssuedIds(decision, issued), onReplay, `${command.kind} decided on the replayed state`);
    }
    return { decision, own: decision.events.slice(due.length), expired: due.length };
  }

  private decideOnReplay(person: ModelPerson, command: QuotaCommand): unknown {
    const replayed = replay(person.events);
    expectSameState(replayed, person.state);
    const ids = new IdSource('replay');
    const decision = decide(replayed, command, contextFor(this.now, this.plan, ids));
    return withoutIssuedIds(decision, ids.issued);
  }

  private reserve(person: ModelPerson, op: Extract<Op, { kind: 'reserve' }>): void {
    const meterIndex = op.meter % this.input.meters.length;
    const meter = meterName(meterIndex);
    // Read before deciding, because reservedIn already leaves out reservations that expire now.
    const views = this.limitViews(person, meter, this.input.meters[meterIndex]!);
    const left = Math.min(...views.map((view) => view.limit - view.used - view.reserved));
    let quantity = op.quantity;
    if (left > 0 && op.fill === 'exact') quantity = left;
    if (left > 0 && op.fill === 'over') quantity = left + 1;
    const command: ReserveQuotaCommand = {
      kind: 'reserve',
      workspaceId: WORKSPACE_ID,
      personId: person.personId,
      meter,
      quantity: units(quantity),
      idempotencyKey: `reserve-${this.nextKey++}`,
      ttlSeconds: op.ttlSeconds,
    };

    const { decision, own } = this.decideStep(person, command);

    checkAccepted(decision, 'reserve');
    check(own.length === 1, () => `reserve emitted ${own.map((event) => event.type).join(', ') || 'nothing'} after its expiries`);
    const event = own[0]!;
    const reply = decision.reply;
    if (reply?.kind !== 'reserve') throw new Error(`reserve returned ${JSON.stringify(reply)}`);
    if (event.type === 'QuotaReserved') {
      checkFields(
        reply,
        { allowed: true, reservationId: event.reservationId, expiresAt: this.now + op.ttlSeconds * 1000 },
        'reply to an allowed reserve',
      );
      checkEqual(event.expiresAt, this.now + op.ttlSeconds * 1000, 'expiresAt of the reservation');
      person.holds.set(event.reservationId, {
        reservationId: event.reservationId,
        meter,
        quantity,
        expiresAt: this.now + op.ttlSeconds * 1000,
        windows: this.windowsAt(this.now, meter),
        recordedWindows: event.windows,
        status: 'active',
        firstCommit: undefined,
      });
    } else {
      checkEqual(event.type, 'QuotaDenied', 'event of a reserve');
      checkFields(reply, { allowed: false, reservationId: '', expiresAt: undefined }, 'reply to a denied reserve');
    }
    this.expectReserveDecision(views, quantity, reply, event);
    person.keyed.push({ command, reply });
  }

  private expectReserveDecision(views: LimitView[], quantity: number, reply: ReserveReply, event: LedgerEvent): void {
    const describeViews = () =>
      views.map((view) => `${view.period}: used ${units(view.used)} + reserved ${units(view.reserved)} of ${units(view.limit)}`).join('; ');
    if (this.checks.limits && reply.allowed) {
      for (const view of views) {
        check(
          view.used + view.reserved + quantity <= view.limit,
          () => `reserve of ${units(quantity)} at ${new Date(this.now).toISOString()} allowed past the ${view.period} limit (${describeViews()})`,
        );
      }
    }
    if (this.checks.liveness && !reply.allowed) {
      const fits = views.every((view) => view.used + view.reserved + quantity <= view.limit);
      check(!fits, () => `reserve of ${units(quantity)} denied although it fits every limit (${describeViews()})`);
    }
    if (!this.checks.replies) return;

    if (event.type === 'QuotaReserved') {
      checkEqual(event.windows, this.windowsAt(this.now, event.meter), 'windows of the reservation');
    }

    const available = (view: LimitView) => view.limit - view.used - view.reserved;
    const tightest = Math.min(...views.map(available));
    const reported = views.find((view) => view.period === reply.period);
    if (reported === undefined) throw new Error(`reply names period ${reply.period}, which has no limit (${describeViews()})`);
    check(available(reported) === tightest, () => `reply names the ${reply.period} limit, which is not the tightest (${describeViews()})`);
    checkClose(reply.limit, units(reported.limit), 'limit in the reply');
    checkEqual(reply.resetsAt, reported.window.end, `resetsAt of the ${reply.period} window`);
    checkClose(reply.remaining, units(reply.allowed ? tightest - quantity : Math.max(0, tightest)), 'remaining in the reply');
  }

  private commit(person: ModelPerson, op: Extract<Op, { kind: 'commit' }>): void {
    const holds = [...person.holds.values()];
    const hold = holds[op.pick % Math.max(1, holds.length)];
    const reservationId = hold?.reservationId ?? reservationIdFor(person.personId, 'never-reserved');
    const estimate = hold?.quantity ?? 1000;
    let quantity = estimate;
    if (op.actual === 'above') quantity = estimate + op.delta;
    if (op.actual === 'below') quantity = Math.max(0, estimate - op.delta);
    const command: CommitQuotaCommand = {
      kind: 'commit',
      workspaceId: WORKSPACE_ID,
      personId: person.personId,
      reservationId,
      quantity: units(quantity),
      cost: op.costCents / 100,
      currency: 'USD',
      metadata: { model: 'gpt-test', step: this.nextKey },
      idempotencyKey: `commit-${this.nextKey++}`,
    };

    const { decision, own } = this.decideStep(person, command);

    if (hold === undefined) {
      checkRejected(decision, 'not_found', 'reservationId', 'commit of an unknown reservation');
      checkNoEvents(own, 'a commit of an unknown reservation');
      return;
    }
    switch (hold.status) {
      case 'active':
      case 'expired': {
        const afterExpiry = hold.status === 'expired';
        checkAccepted(decision, 'commit');
        checkEqual(own.map((event) => event.type), ['QuotaCommitted'], 'events of a commit');
        const event = own[0]!;
        if (event.type !== 'QuotaCommitted') throw new Error(`commit emitted ${event.type}`);
        checkFields(event, {
          reservationId,
          meter: hold.meter,
          reservedQuantity: units(hold.quantity),
          quantity: units(quantity),
          afterExpiry,
          cost: command.cost,
          windows: hold.recordedWindows,
        }, 'QuotaCommitted');
        checkClose(event.overage, units(Math.max(0, quantity - hold.quantity)), 'overage');
        checkEqual(
          decision.reply,
          { kind: 'commit', reservationId, quantity: units(quantity), overage: event.overage, afterExpiry, creditQuantity: 0, capped: false },
          'reply to a commit',
        );

        const mayExceed = afterExpiry ? quantity > 0 : quantity > hold.quantity;
        for (const window of hold.windows) {
          const key = counterKey(hold.meter, window);
          person.used.set(key, (person.used.get(key) ?? 0) + quantity);
          if (mayExceed) person.exceedable.add(key);
        }
        hold.status = 'committed';
        hold.firstCommit = { command, reply: decision.reply };
        return;
      }
      case 'committed': {
        checkNoEvents(own, 'a second commit');
        const first = hold.firstCommit!;
        if (first.command.quantity === command.quantity && first.command.cost === command.cost) {
          checkAccepted(decision, 'repeated commit');
          checkEqual(decision.reply, first.reply, 'reply to a repeated commit');
        } else {
          checkRejected(decision, 'failed_precondition', 'reservationId', 'second commit with another quantity or cost');
        }
        return;
      }
      case 'released':
        checkNoEvents(own, 'a commit after release');
        checkRejected(decision, 'failed_precondition', 'reservationId', 'commit after release');
        return;
    }
  }

  private release(person: ModelPerson, op: Extract<Op, { kind: 'release' }>): void {
    const holds = [...person.holds.values()];
    const hold = holds[op.pick % Math.max(1, holds.length)];
    const reservationId = hold?.reservationId ?? reservationIdFor(person.personId, 'never-reserved');
    const command: QuotaCommand = { kind: 'release', workspaceId: WORKSPACE_ID, personId: person.personId, reservationId, idempotencyKey: `release-${this.nextKey++}` };

    const { decision, own } = this.decideStep(person, command);

    if (hold === undefined) {
      checkRejected(decision, 'not_found', 'reservationId', 'release of an unknown reservation');
      checkNoEvents(own, 'a release of an unknown reservation');
      return;
    }
    const reply = { kind: 'release', reservationId, released: units(hold.quantity) };
    switch (hold.status) {
      case 'active': {
        checkAccepted(decision, 'release');
        checkEqual(own.map((event) => event.type), ['QuotaReleased'], 'events of a release');
        const fields = { reservationId, meter: hold.meter, quantity: units(hold.quantity), windows: hold.recordedWindows };
        checkFields(own[0]!, fields, 'QuotaReleased');
        checkEqual(decision.reply, reply, 'reply to a release');
        hold.status = 'released';
        return;
      }
      case 'released':
        checkNoEvents(own, 'a repeated release');
        checkEqual(decision.reply, reply, 'reply to a repeated release');
        return;
      case 'expired':
        checkNoEvents(own, 'a release after expiry');
        checkEqual(decision.reply, { ...reply, released: 0 }, 'reply to a release after expiry');
        return;
      case 'committed':
        checkNoEvents(own, 'a release after commit');
        checkRejected(decision, 'failed_precondition', 'reservationId', 'release after commit');
        return;
    }
  }

  private expire(person: ModelPerson): void {
    const { decision, own, expired } = this.decideStep(person, { kind: 'expire', workspaceId: WORKSPACE_ID, personId: person.personId });
    checkNoEvents(own, 'an expire command beyond its expiries');
    checkEqual(decision.reply, { kind: 'expire', expired }, 'reply to expire');
  }

  private track(person: ModelPerson, op: Extract<Op, { kind: 'track' }>): void {
    const meter = op.meter === undefined ? '' : meterName(op.meter % this.input.meters.length);
    const command: TrackUsageCommand = {
      kind: 'track',
      workspaceId: WORKSPACE_ID,
      personId: person.personId,
      eventType: 'model.call',
      meter,
      quantity: units(op.quantity),
      cost: op.costCents / 100,
      currency: 'USD',
      metadata: { step: this.nextKey },
      idempotencyKey: `track-${this.nextKey++}`,
    };

    const { decision, own } = this.decideStep(person, command);

    checkAccepted(decision, 'track');
    checkEqual(own.map((event) => event.type), ['UsageTracked'], 'events of a track');
    const event = own[0]!;
    checkFields(event, { meter, quantity: command.quantity, eventType: command.eventType }, 'UsageTracked');
    checkEqual(decision.reply, { kind: 'track', eventId: event.eventId }, 'reply to a track');
    if (this.checks.replies && event.type === 'UsageTracked') {
      checkEqual(event.windows, meter === '' ? [] : this.windowsAt(this.now, meter), 'windows of the tracked usage');
    }
    if (meter !== '') {
      for (const window of this.windowsAt(this.now, meter)) {
        const key = counterKey(meter, window);
        person.used.set(key, (person.used.get(key) ?? 0) + op.quantity);
        person.exceedable.add(key);
      }
    }
    person.keyed.push({ command, reply: decision.reply });
  }

  /** Sends an earlier reserve or track again, unchanged. Returns false when there is none. */
  private repeat(person: ModelPerson, pick: number): boolean {
    const first = person.keyed[pick % Math.max(1, person.keyed.length)];
    if (first === undefined) return false;

    const { decision, own } = this.decideStep(person, first.command);

    checkNoEvents(own, `a repeated ${first.command.kind}`);
    checkAccepted(decision, `repeated ${first.command.kind}`);
    checkEqual(decision.reply, first.reply, `reply to a repeated ${first.command.kind}`);
    return true;
  }

  /** Sends an earlier successful commit again, unchanged. Returns false when there is none. */
  private repeatCommit(person: ModelPerson, pick: number): boolean {
    const committed = [...person.holds.values()].filter((hold) => hold.firstCommit !== undefined);
    const hold = committed[pick % Math.max(1, committed.length)];
    if (hold?.firstCommit === undefined) return false;

    const { decision, own } = this.decideStep(person, hold.firstCommit.command);

    checkNoEvents(own, 'a repeated commit');
    checkAccepted(decision, 'repeated commit');
    checkEqual(decision.reply, hold.firstCommit.reply, 'reply to a repeated commit');
    return true;
  }

  /** Sends a reserve with an earlier reserve's or track's key but another quantity. Returns false when there is none. */
  private reuseKey(person: ModelPerson, pick: number): boolean {
    const first = person.keyed[pick % Math.max(1, person.keyed.length)];
    if (first === undefined) return false;
    const command: ReserveQuotaCommand = {
      kind: 'reserve',
      workspaceId: WORKSPACE_ID,
      personId: person.personId,
      meter: first.command.meter === '' ? meterName(0) : first.command.meter,
      quantity: first.command.quantity + units(1),
      idempotencyKey: first.command.idempotencyKey,
      ttlSeconds: 30,
    };

    const { decision, own } = this.decideStep(person, command);

    checkNoEvents(own, 'a reserve that reuses a key');
    checkRejected(decision, 'invalid_argument', 'idempotencyKey', 'reserve that reuses a key');
    return true;
  }

  private afterDecision(person: ModelPerson): void {
    if (this.checks.counters) this.expectCountersMatchModel(person);
    if (this.checks.expiry) this.expectOnlyLiveHoldsCounted(person);
  }

  /**
   * Compares the decider's counters of the current windows with the model. Only
   * right after a decision: the state of a person moves forward only then.
   */
  private expectCountersMatchModel(person: ModelPerson): void {
    this.input.meters.forEach((_limits, index) => {
      const meter = meterName(index);
      for (const period of PERIODS) {
        const window = this.windowAt(period, this.now);
        const key = counterKey(meter, window);
        const counter = person.state.counters.get(key);
        checkClose(counter?.used ?? 0, units(person.used.get(key) ?? 0), `${person.personId} used in ${key} at ${this.now}`);
        checkClose(counter?.reserved ?? 0, units(this.reservedIn(person, meter, window)), `${person.personId} reserved in ${key} at ${this.now}`);
      }
    });
  }

  /** Checks used + reserved <= limit in every current window that only reserves added to. */
  private expectWithinLimits(person: ModelPerson): void {
    this.input.meters.forEach((limits, index) => {
      const meter = meterName(index);
      for (const period of PERIODS) {
        const limit = limits[period];
        if (limit === undefined) continue;
        const window = this.windowAt(period, this.now);
        const key = counterKey(meter, window);
        if (person.exceedable.has(key)) continue;
        const used = person.used.get(key) ?? 0;
        const reserved = this.reservedIn(person, meter, window);
        check(used + reserved <= limit, () => `${person.personId} ${key}: used ${units(used)} + reserved ${units(reserved)} over the limit ${units(limit)}`);
      }
    });
  }

  /**
   * Checks that the state keeps and reserves exactly the unexpired holds. It uses
   * the windows the decider recorded, so it does not depend on the window tables.
   */
  private expectOnlyLiveHoldsCounted(person: ModelPerson): void {
    const live = [...person.holds.values()].filter((hold) => hold.status === 'active' && hold.expiresAt > this.now);
    checkEqual([...person.state.holds.keys()], live.map((hold) => hold.reservationId), `holds of ${person.personId} at ${this.now}`);

    const reserved = new Map<string, number>();
    for (const hold of live) {
      for (const window of hold.recordedWindows) {
        if (window.end <= this.now) continue;
        const key = counterKey(hold.meter, window);
        reserved.set(key, (reserved.get(key) ?? 0) + hold.quantity);
      }
    }
    for (const [key, counter] of person.state.counters) {
      checkClose(counter.reserved, units(reserved.get(key) ?? 0), `${person.personId} reserved in ${key} at ${this.now}`);
    }
    for (const key of reserved.keys()) {
      check(person.state.counters.has(key), () => `${person.personId} has no counter ${key} for a live hold at ${this.now}`);
    }
  }

  private limitViews(person: ModelPerson, meter: string, limits: LimitsInThousandths): LimitView[] {
    const views: LimitView[] = [];
    for (const period of PERIODS) {
      const limit = limits[period];
      if (limit === undefined) continue;
      const window = this.windowAt(period, this.now);
      views.push({ period, window, limit, used: person.used.get(counterKey(meter, window)) ?? 0, reserved: this.reservedIn(person, meter, window) });
    }
    return views;
  }

  /** Sums the unexpired holds of `meter` that count in `window`, in thousandths. */
  private reservedIn(person: ModelPerson, meter: string, window: WindowRef): number {
    let total = 0;
    for (const hold of person.holds.values()) {
      if (hold.status !== 'active' || hold.expiresAt <= this.now || hold.meter !== meter) continue;
      if (hold.windows.some((held) => held.period === window.period && held.start === window.start)) total += hold.quantity;
    }
    return total;
  }

  /** Returns the windows of every limited period of the meter, in the plan's order. */
  private windowsAt(at: number, meter: string): WindowRef[] {
    const limits = this.plan.meters[meter] ?? {};
    return (Object.keys(limits) as Period[]).filter((period) => limits[period] !== undefined).map((period) => this.windowAt(period, at));
  }

  private windowAt(period: Period, at: number): WindowRef {
    const window = (this.scenario.windows[period] ?? []).find((candidate) => candidate.start <= at && at < candidate.end);
    if (window === undefined) throw new Error(`scenario ${this.scenario.name} has no ${period} window at ${new Date(at).toISOString()}`);
    return window;
  }
}

function meterName(index: number): string {
  return `meter-${index}`;
}

function simulate(checks: Checks): (input: SimulationInput) => void {
  return (input) => new Simulation(input, checks).run();
}

const ALL_SCENARIOS = Object.keys(SCENARIOS);

describe('decide properties', () => {
  it('reserve › never allows past a limit', () => {
    fc.assert(fc.property(simulationArb(REGULAR_SCENARIOS), simulate({ limits: true, counters: true, replies: true })), { numRuns: 1000 });
  });

  it('reserve › denies only past a limit', () => {
    fc.assert(fc.property(simulationArb(REGULAR_SCENARIOS), simulate({ limits: true, liveness: true })), { numRuns: 500 });
  });

  it('reserve › never allows past a limit on a skipped midnight', () => {
    fc.assert(fc.property(simulationArb([SKIPPED_MIDNIGHT]), simulate({ limits: true })), { numRuns: 400 });
  });

  it('reserve › windows match on a skipped midnight', () => {
    fc.assert(fc.property(simulationArb([SKIPPED_MIDNIGHT]), simulate({ counters: true, replies: true })), { numRuns: 100 });
  });

  it('fold › replay reaches the same state and decisions', () => {
    fc.assert(fc.property(simulationArb(ALL_SCENARIOS, 40), simulate({ replay: true })), { numRuns: 300 });
  });

  it('idempotency › a repeat returns the first reply', () => {
    fc.assert(fc.property(simulationArb(ALL_SCENARIOS), simulate({})), { numRuns: 600 });
  });

  it('expiry › a hold stops counting at expiresAt and ends once', () => {
    fc.assert(fc.property(simulationArb(ALL_SCENARIOS), simulate({ expiry: true })), { numRuns: 600 });
  });
});
