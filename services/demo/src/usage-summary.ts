import { setTimeout as delay } from 'node:timers/promises';

/** The dashboard's usage numbers for a time range, as the gateway's `usageSummary` query returns them. */
export interface UsageSummary {
  events: number;
  cost: number;
  activePersons: number;
  byType: { type: string; count: number; cost: number }[];
}

export interface UsageSummaryRequest {
  graphqlUrl: string;
  apiKey: string;
  from: Date;
  to: Date;
  /** Per-request timeout in milliseconds. */
  timeoutMs?: number;
}

/** Builds the `usageSummary` query for a range. The ISO timestamps are the only interpolated values. */
export function usageSummaryQuery(from: Date, to: Date): string {
  return `{ usageSummary(from: ${JSON.stringify(from.toISOString())}, to: ${JSON.stringify(to.toISOString())}) { events cost activePersons byType { type count cost } } }`;
}

/** Fetches the usage summary with one GraphQL POST. Throws on an HTTP error, a GraphQL error or a malformed reply. */
export async function fetchUsageSummary(request: UsageSummaryRequest): Promise<UsageSummary> {
  let response: Response;
  try {
    response = await fetch(request.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${request.apiKey}` },
      body: JSON.stringify({ query: usageSummaryQuery(request.from, request.to) }),
      signal: AbortSignal.timeout(request.timeoutMs ?? 5_000),
    });
  } catch (error) {
    // fetch reports a refused connection as "fetch failed" and puts the reason in `cause`.
    const reason = error instanceof Error && error.cause instanceof Error ? error.cause.message : String(error);
    throw new Error(`usageSummary query to ${request.graphqlUrl} failed: ${reason}; check that the gateway is running there`, { cause: error });
  }
  const text = await response.text();
  if (!response.ok) {
    throw new Error(`usageSummary query to ${request.graphqlUrl} failed with HTTP ${response.status}: ${text.slice(0, 500)}`);
  }
  return parseUsageSummaryReply(text);
}

/** Parses a GraphQL reply to the usageSummary query and checks every field. */
export function parseUsageSummaryReply(text: string): UsageSummary {
  const reply = JSON.parse(text) as { data?: { usageSummary?: unknown }; errors?: { message?: unknown }[] };
  if (Array.isArray(reply.errors) && reply.errors.length > 0) {
    throw new Error(`usageSummary query returned errors: ${reply.errors.map((error) => String(error.message)).join('; ')}`);
  }
  const summary = reply.data?.usageSummary as Partial<UsageSummary> | undefined;
  if (summary === undefined || summary === null) {
    throw new Error('usageSummary reply has no data.usageSummary');
  }
  const { events, cost, activePersons, byType } = summary;
  if (typeof events !== 'number' || typeof cost !== 'number' || typeof activePersons !== 'number' || !Array.isArray(byType)) {
    throw new Error(`usageSummary reply is malformed: expected numbers events, cost, activePersons and a byType list, got ${JSON.stringify(summary).slice(0, 500)}`);
  }
  for (const row of byType) {
    if (typeof row?.type !== 'string' || typeof row.count !== 'number' || typeof row.cost !== 'number') {
      throw new Error(`usageSummary reply has a malformed byType row: ${JSON.stringify(row)}`);
    }
  }
  return { events, cost, activePersons, byType };
}

export interface WaitForSummaryOptions extends UsageSummaryRequest {
  /** The event count to wait for. */
  expectedEvents: number;
  /** How long to keep polling, in milliseconds. */
  deadlineMs: number;
  /** Pause between polls, in milliseconds. */
  pollMs?: number;
}

export interface SummaryWaitResult {
  summary: UsageSummary;
  /** False when the deadline passed before the summary counted `expectedEvents`. */
  complete: boolean;
  waitedMs: number;
}

/**
 * Polls the usage summary until it counts at least `expectedEvents` or the deadline
 * passes, because the ClickHouse projection lags the ledger. Returns the last summary
 * either way. Query errors are thrown at once, because a retry would not fix them.
 */
export async function waitForUsageSummary(options: WaitForSummaryOptions): Promise<SummaryWaitResult> {
  const started = performance.now();
  const deadline = started + options.deadlineMs;
  for (;;) {
    const summary = await fetchUsageSummary(options);
    const now = performance.now();
    if (summary.events >= options.expectedEvents) return { summary, complete: true, waitedMs: now - started };
    if (now >= deadline) return { summary, complete: false, waitedMs: now - started };
    await delay(Math.min(options.pollMs ?? 250, deadline - now));
  }
}
