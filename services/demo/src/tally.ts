/** Outcome of one replayed request. `tokens` is the quantity that was reserved or requested. */
export type CallOutcome =
  | { kind: 'committed'; tokens: number; cost: number; limit: number }
  | { kind: 'released'; tokens: number; limit: number }
  | { kind: 'denied'; tokens: number; limit: number }
  | { kind: 'error'; tokens: number; step: 'reserve' | 'commit' | 'release'; code: string; message: string };

/** Per-person results of a replay. */
export interface PersonTally {
  personId: string;
  calls: number;
  allowedCalls: number;
  deniedCalls: number;
  /** Allowed calls whose simulated provider call failed, so the reservation was released. */
  failedCalls: number;
  errorCalls: number;
  requestedTokens: number;
  /** Tokens committed as usage. */
  allowedTokens: number;
  deniedTokens: number;
  /** Cost of the committed calls in USD. */
  cost: number;
  /** The limit of the last reserve reply, or undefined before any reply. */
  limit: number | undefined;
  /** Ledger events the requests produced: reserved or denied, then committed or released. */
  ledgerEvents: number;
}

export function emptyTally(personId: string): PersonTally {
  return {
    personId,
    calls: 0,
    allowedCalls: 0,
    deniedCalls: 0,
    failedCalls: 0,
    errorCalls: 0,
    requestedTokens: 0,
    allowedTokens: 0,
    deniedTokens: 0,
    cost: 0,
    limit: undefined,
    ledgerEvents: 0,
  };
}

/** Adds one outcome to the person's tally, creating the tally on first use. */
export function recordOutcome(tallies: Map<string, PersonTally>, personId: string, outcome: CallOutcome): void {
  let tally = tallies.get(personId);
  if (tally === undefined) {
    tally = emptyTally(personId);
    tallies.set(personId, tally);
  }

  tally.calls++;
  tally.requestedTokens += outcome.tokens;
  if (outcome.kind !== 'error') tally.limit = outcome.limit;

  switch (outcome.kind) {
    case 'committed':
      tally.allowedCalls++;
      tally.allowedTokens += outcome.tokens;
      tally.cost += outcome.cost;
      tally.ledgerEvents += 2;
      break;
    case 'released':
      tally.allowedCalls++;
      tally.failedCalls++;
      tally.ledgerEvents += 2;
      break;
    case 'denied':
      tally.deniedCalls++;
      tally.deniedTokens += outcome.tokens;
      tally.ledgerEvents += 1;
      break;
    case 'error':
      tally.errorCalls++;
      // NOTE: a failed reserve may or may not have reached the ledger, and a reservation
      // whose commit or release failed expires after its TTL with one more event, so
      // these counts are a lower bound.
      if (outcome.step !== 'reserve') tally.ledgerEvents += 1;
      break;
  }
}

/** Sums all tallies into one row named `total`. `limit` is the highest limit seen. */
export function totalTally(tallies: Iterable<PersonTally>): PersonTally {
  const total = emptyTally('total');
  for (const tally of tallies) {
    total.calls += tally.calls;
    total.allowedCalls += tally.allowedCalls;
    total.deniedCalls += tally.deniedCalls;
    total.failedCalls += tally.failedCalls;
    total.errorCalls += tally.errorCalls;
    total.requestedTokens += tally.requestedTokens;
    total.allowedTokens += tally.allowedTokens;
    total.deniedTokens += tally.deniedTokens;
    total.cost += tally.cost;
    total.ledgerEvents += tally.ledgerEvents;
    if (tally.limit !== undefined) total.limit = Math.max(total.limit ?? 0, tally.limit);
  }
  return total;
}
