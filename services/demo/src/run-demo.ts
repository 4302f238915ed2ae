import { randomUUID } from 'node:crypto';

import { Vevee } from '@vevee/sdk';

import { runFunnelDemo, type FunnelDemoResult } from './funnel-demo';
import { runPlansDemo, type PlansDemoResult } from './plans-demo';
import { formatCount, formatPersonReport, formatTotals, formatUsageSummary } from './report';
import { replay } from './replay';
import { totalTally, type PersonTally } from './tally';
import { assignPersons, replaySchedule, type AssignedRequest, type ReplayBurst } from './trace';
import { loadTrace } from './trace-file';
import { waitForUsageSummary, type SummaryWaitResult } from './usage-summary';

export const DEFAULT_REQUESTS = 3_000;
/** 30x replays the first 3,000 requests (629 s of the trace) in about 21 s. */
export const DEFAULT_SPEEDUP = 30;
export const DEFAULT_PERSONS = 300;
/** The trace's date, 2023-11-16, as a number. */
export const DEFAULT_SEED = 20231116;
export const DEFAULT_CONCURRENCY = 64;
/**
 * The daily `tokens` limit per person that the demo workspace's plan is expected to
 * set. The replay uses it only to place the deliberate bursts just below the cap, while
 * the server enforces the limit of the plan.
 */
export const DEFAULT_DAILY_TOKEN_LIMIT = 150_000;

/** Heaviest persons that get a deliberate burst, calls per burst, and how far below the cap the burst starts. */
const DELIBERATE_BURST = { persons: 5, size: 16, tokensBelowCap: 10_000 };

export interface RunDemoOptions {
  /** Base URL of the Vevee RPC API, e.g. http://127.0.0.1:4000. */
  baseUrl: string;
  apiKey: string;
  /** URL of the GraphQL endpoint, e.g. http://127.0.0.1:4000/graphql. */
  graphqlUrl: string;
  /** Number of trace requests to replay, from the first. */
  requests?: number;
  /** Replay pace relative to the trace. */
  speedup?: number;
  /** Prints one line of output. */
  log: (line: string) => void;
  persons?: number;
  seed?: number;
  /** Prefix of person ids, which run from `<personPrefix>001`. A new prefix starts from empty daily counters. */
  personPrefix?: string;
  concurrency?: number;
  dailyTokenLimit?: number;
  /** Path of the trace CSV, by default the repository's copy. */
  tracePath?: string;
  /** How long to wait for the usage summary to count every event, in milliseconds. */
  summaryDeadlineMs?: number;
  /** Kafka bootstrap servers of the running Vevee, for the ingest batch; without them the batch is skipped. */
  kafkaBrokers?: string[];
  /** The topic namespace of the running Vevee (`VEVEE_NAMESPACE`). */
  namespace?: string;
  /** The workspace the API key belongs to, which the ingested events name. Default `demo`. */
  workspaceId?: string;
}

export interface DemoResult {
  tallies: Map<string, PersonTally>;
  total: PersonTally;
  summary: SummaryWaitResult;
  plans: PlansDemoResult;
  funnel: FunnelDemoResult | undefined;
}

/** Loads the trace and plans the replay: persons, models and failures, then the bursts. */
async function planReplay(options: RunDemoOptions): Promise<{ requests: AssignedRequest[]; schedule: ReplayBurst[] }> {
  const requestCount = options.requests ?? DEFAULT_REQUESTS;
  const dailyTokenLimit = options.dailyTokenLimit ?? DEFAULT_DAILY_TOKEN_LIMIT;

  const trace = await loadTrace(options.tracePath);
  if (!Number.isInteger(requestCount) || requestCount < 1 || requestCount > trace.length) {
    throw new RangeError(`requests must be an integer from 1 to ${trace.length} (the trace's length), got ${requestCount}`);
  }
  const requests = assignPersons(trace.slice(0, requestCount), {
    persons: options.persons ?? DEFAULT_PERSONS,
    seed: options.seed ?? DEFAULT_SEED,
    ...(options.personPrefix === undefined ? {} : { personPrefix: options.personPrefix }),
  });
  const schedule = replaySchedule(requests, {
    speedup: options.speedup ?? DEFAULT_SPEEDUP,
    deliberate: {
      persons: DELIBERATE_BURST.persons,
      size: DELIBERATE_BURST.size,
      startAtTokens: Math.max(0, dailyTokenLimit - DELIBERATE_BURST.tokensBelowCap),
    },
  });
  return { requests, schedule };
}

/**
 * Replays the start of the Azure LLM inference trace through the SDK as the persons of
 * one app, prints who was allowed and denied, then prints the dashboard's usage summary
 * once it counts every event that the replay produced.
 */
export async function runDemo(options: RunDemoOptions): Promise<DemoResult> {
  const speedup = options.speedup ?? DEFAULT_SPEEDUP;
  const { log } = options;
  const { requests, schedule } = await planReplay(options);

  const traceSeconds = (requests[requests.length - 1]?.offsetMs ?? 0) / 1000;
  log('Azure LLM inference trace 2023, conversation service (CC BY 4.0; Patel et al., "Splitwise", ISCA 2024)');
  log(`replaying ${formatCount(requests.length)} requests (${traceSeconds.toFixed(0)} s of the trace) at ${speedup}x: about ${(traceSeconds / speedup).toFixed(1)} s`);

  const client = new Vevee({ apiKey: options.apiKey, baseUrl: options.baseUrl });
  const startedAt = new Date();
  const runId = randomUUID().slice(0, 8);
  let tallies: Map<string, PersonTally>;
  let errorsLogged = 0;
  try {
    tallies = await replay({
      client,
      schedule,
      concurrency: options.concurrency ?? DEFAULT_CONCURRENCY,
      runId,
      onError: (request, outcome) => {
        // Only the first five errors are printed, but the tables count all of them.
        if (errorsLogged++ < 5) log(`${outcome.step} failed for request ${request.index} of ${request.personId}: ${outcome.code}: ${outcome.message}`);
      },
    });
  } catch (error) {
    client.close();
    throw error;
  }
  const finishedAt = new Date();
  log(`replay finished in ${((finishedAt.getTime() - startedAt.getTime()) / 1000).toFixed(1)} s`);
  log('');

  const total = totalTally(tallies.values());
  for (const line of formatPersonReport(tallies.values())) log(line);
  log('');
  for (const line of formatTotals(tallies.values())) log(line);
  log('');
  if (total.errorCalls === total.calls) {
    throw new Error(`every call failed (the first errors are printed above); check that Vevee is running at ${options.baseUrl} and that the API key is valid`);
  }

  const summary = await waitForUsageSummary({
    graphqlUrl: options.graphqlUrl,
    apiKey: options.apiKey,
    // One second of margin on each side, because the server stamps events with its own clock.
    from: new Date(startedAt.getTime() - 1_000),
    to: new Date(finishedAt.getTime() + 1_000),
    // usageSummary counts every ledger event in [from, to), so it reaches the replay's
    // count once the ClickHouse projector has caught up.
    expectedEvents: total.ledgerEvents,
    deadlineMs: options.summaryDeadlineMs ?? 30_000,
  });
  log(`usage summary from the GraphQL API (${options.graphqlUrl}), after ${(summary.waitedMs / 1000).toFixed(1)} s:`);
  for (const line of formatUsageSummary(summary.summary)) log(line);
  if (!summary.complete) {
    log(`WARNING: the summary counted ${formatCount(summary.summary.events)} events when the deadline passed; the replay produced ${formatCount(total.ledgerEvents)}`);
  }

  log('');
  let plans: PlansDemoResult;
  try {
    plans = await runPlansDemo({ client, log, graphqlUrl: options.graphqlUrl, apiKey: options.apiKey, personId: `${options.personPrefix ?? 'user-'}plans-${runId}` });
  } finally {
    client.close();
  }

  let funnel: FunnelDemoResult | undefined;
  if (options.kafkaBrokers !== undefined) {
    log('');
    funnel = await runFunnelDemo({
      log,
      graphqlUrl: options.graphqlUrl,
      apiKey: options.apiKey,
      workspaceId: options.workspaceId ?? 'demo',
      kafkaBrokers: options.kafkaBrokers,
      namespace: options.namespace ?? '',
      runId,
    });
  }

  return { tallies, total, summary, plans, funnel };
}
