import {
  DEFAULT_PERSONS,
  DEFAULT_REQUESTS,
  DEFAULT_SEED,
  assignPersons,
  priceCall,
  requestTokens,
  type AssignedRequest,
  type TraceRequest,
} from '@vevee/demo';

/** One trace request as the benchmark sends it: reserve `tokens`, then commit them or release the hold. */
export interface BenchRequest {
  /** Position in the phase's stream, from 0; unique within a phase. */
  index: number;
  personId: string;
  tokens: number;
  /** True for the demo's simulated failed provider calls, which release instead of committing. */
  releases: boolean;
  /** The commit's cost and metadata, priced before the phase so the load generator spends no CPU on it. */
  commit: { cost: number; currency: string; metadata: Record<string, unknown> };
}

/** Requests and persons of one cohort: the demo's assignment of 3,000 trace requests to 300 persons. */
export const COHORT_REQUESTS = DEFAULT_REQUESTS;
export const COHORT_PERSONS = DEFAULT_PERSONS;

export interface WorkloadOptions {
  trace: readonly TraceRequest[];
  /** Prefix of every person id, unique per phase, so each phase starts from empty counters. */
  personPrefix: string;
  /** Cohorts whose requests interleave, so each cohort advances at rate / cohortsPerRound. */
  cohortsPerRound: number;
}

/**
 * Streams the phase's requests without end. The stream is made of cohorts: each one
 * is a slice of 3,000 consecutive trace requests, assigned to 300 persons of its own
 * with the demo's `assignPersons` (Zipf 1.1, 2% failed calls), so every cohort sees
 * the demo's share of denials once it is complete. `cohortsPerRound` cohorts
 * interleave request by request, then the next round of cohorts starts. Slices wrap
 * around the end of the trace.
 */
export function* workloadStream(options: WorkloadOptions): Generator<BenchRequest> {
  const perRound = options.cohortsPerRound;
  if (!Number.isInteger(perRound) || perRound < 1) {
    throw new RangeError(`cohortsPerRound must be a positive integer, got ${perRound}`);
  }
  let index = 0;
  for (let round = 0; ; round++) {
    const cohorts = Array.from({ length: perRound }, (_, offset) => cohort(options, round * perRound + offset));
    for (let position = 0; position < COHORT_REQUESTS; position++) {
      for (const requests of cohorts) {
        const request = requests[position]!;
        yield benchRequest(request, index++);
      }
    }
  }
}

/** Person ids of the first `cohorts` cohorts of a stream: the rows that a SQL baseline inserts before the phase. */
export function cohortPersonIds(personPrefix: string, cohorts: number): string[] {
  const ids: string[] = [];
  for (let number = 0; number < cohorts; number++) {
    const prefix = cohortPrefix(personPrefix, number);
    for (let rank = 1; rank <= COHORT_PERSONS; rank++) ids.push(`${prefix}${String(rank).padStart(3, '0')}`);
  }
  return ids;
}

/** Cohorts a stream with `cohortsPerRound` runs through in its first `requests` requests. */
export function cohortsFor(requests: number, cohortsPerRound: number): number {
  const rounds = Math.ceil(requests / (COHORT_REQUESTS * cohortsPerRound));
  return Math.max(1, rounds) * cohortsPerRound;
}

function cohortPrefix(personPrefix: string, number: number): string {
  return `${personPrefix}c${number}-user-`;
}

function cohort(options: WorkloadOptions, number: number): AssignedRequest[] {
  const start = (number * COHORT_REQUESTS) % options.trace.length;
  const slice: TraceRequest[] = [];
  for (let offset = 0; offset < COHORT_REQUESTS; offset++) {
    slice.push(options.trace[(start + offset) % options.trace.length]!);
  }
  return assignPersons(slice, { persons: COHORT_PERSONS, seed: DEFAULT_SEED + number, personPrefix: cohortPrefix(options.personPrefix, number) });
}

/** Commit bodies by model and token counts, shared by every request with the same ones; nothing mutates them. */
const commitBodies = new Map<string, BenchRequest['commit']>();

function benchRequest(request: AssignedRequest, index: number): BenchRequest {
  const key = `${request.model}:${request.inputTokens}:${request.outputTokens}`;
  let commit = commitBodies.get(key);
  if (commit === undefined) {
    const price = priceCall({ model: request.model, inputTokens: request.inputTokens, outputTokens: request.outputTokens });
    commit = {
      cost: price.cost,
      currency: price.currency,
      metadata: { model: price.model, provider: price.provider, inputTokens: request.inputTokens, outputTokens: request.outputTokens },
    };
    commitBodies.set(key, commit);
  }
  return { index, personId: request.personId, tokens: requestTokens(request), releases: request.failsCall, commit };
}

/** Takes the next `count` requests of a stream into an array, so a phase spends no time generating them. */
export function takeRequests(stream: Iterator<BenchRequest>, count: number): BenchRequest[] {
  const requests: BenchRequest[] = [];
  for (let taken = 0; taken < count; taken++) {
    const next = stream.next();
    if (next.done === true) break;
    requests.push(next.value);
  }
  return requests;
}
