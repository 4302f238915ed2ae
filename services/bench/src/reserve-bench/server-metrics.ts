/** Sample values of a Prometheus text exposition, by series name with its labels as written, e.g. `x_sum{command="reserve"}`. */
export type MetricSamples = Map<string, number>;

/** Reads the server's `/metrics`. */
export async function scrapeMetrics(url: string): Promise<MetricSamples> {
  const response = await fetch(`${url}/metrics`);
  if (!response.ok) throw new Error(`GET ${url}/metrics returned HTTP ${response.status}`);
  const samples: MetricSamples = new Map();
  for (const line of (await response.text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const separator = line.lastIndexOf(' ');
    samples.set(line.slice(0, separator), Number(line.slice(separator + 1)));
  }
  return samples;
}

/** Sums the samples of a series over all label sets. */
function total(samples: MetricSamples, name: string): number {
  let sum = 0;
  for (const [series, value] of samples) {
    if (series === name || series.startsWith(`${name}{`)) sum += value;
  }
  return sum;
}

function delta(before: MetricSamples, after: MetricSamples, name: string): number {
  return total(after, name) - total(before, name);
}

/** Decider activity between two scrapes. */
export interface DeciderActivity {
  appends: number;
  records: number;
  averageBatchRecords: number;
  averageAppendMs: number;
  /** Average time from receiving a command to its durable reply, by command. */
  averageDecisionMs: Map<string, number>;
  decisions: Map<string, number>;
}

export function deciderActivity(before: MetricSamples, after: MetricSamples): DeciderActivity {
  const appends = delta(before, after, 'vevee_decider_batch_records_count');
  const records = delta(before, after, 'vevee_decider_batch_records_sum');
  const appendSeconds = delta(before, after, 'vevee_decider_append_seconds_sum');
  const averageDecisionMs = new Map<string, number>();
  const decisions = new Map<string, number>();
  for (const command of ['reserve', 'commit', 'release']) {
    const label = `{command="${command}"}`;
    const count = (after.get(`vevee_decider_decision_seconds_count${label}`) ?? 0) - (before.get(`vevee_decider_decision_seconds_count${label}`) ?? 0);
    const seconds = (after.get(`vevee_decider_decision_seconds_sum${label}`) ?? 0) - (before.get(`vevee_decider_decision_seconds_sum${label}`) ?? 0);
    decisions.set(command, count);
    averageDecisionMs.set(command, count > 0 ? (1000 * seconds) / count : Number.NaN);
  }
  return {
    appends,
    records,
    averageBatchRecords: appends > 0 ? records / appends : Number.NaN,
    averageAppendMs: appends > 0 ? (1000 * appendSeconds) / appends : Number.NaN,
    averageDecisionMs,
    decisions,
  };
}

/** Events decided but not yet durable, events appended to the ledger and events each projector has written, from one scrape. */
export function projectionProgress(samples: MetricSamples): { pending: number; appended: number; postgres: number; clickhouse: number } {
  return {
    pending: total(samples, 'vevee_decider_pending_events'),
    appended: total(samples, 'vevee_decider_batch_records_sum'),
    postgres: total(samples, 'vevee_projector_postgres_events_applied_total'),
    clickhouse: total(samples, 'vevee_projector_clickhouse_rows_inserted_total'),
  };
}

/** Returns the event loop lag that prom-client's default metrics report since the previous scrape, in milliseconds. */
export function eventLoopLag(samples: MetricSamples): { meanMs: number; p99Ms: number } {
  return {
    meanMs: 1000 * (samples.get('vevee_nodejs_eventloop_lag_mean_seconds') ?? Number.NaN),
    p99Ms: 1000 * (samples.get('vevee_nodejs_eventloop_lag_p99_seconds') ?? Number.NaN),
  };
}
