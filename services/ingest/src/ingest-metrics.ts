import { Counter, Histogram, type Registry } from 'prom-client';

/** The Nest token of the IngestMetrics, created once per process because a registry rejects a metric name twice. */
export const INGEST_METRICS = Symbol('IngestMetrics');

/** The Prometheus metrics of the ingest sink and the HTTP batch endpoint. */
export interface IngestMetrics {
  /** Records read from the ingest topic, by outcome. */
  records: Counter<'outcome'>;
  insertSeconds: Histogram;
  /** Events received by `POST /v1/events:batch`, by outcome. */
  httpEvents: Counter<'outcome'>;
}

export function createIngestMetrics(registry: Registry): IngestMetrics {
  return {
    records: new Counter({
      name: 'vevee_ingest_records_total',
      help: 'Ingest records read, by outcome: inserted (into ClickHouse), metered (sent to the decider), duplicate (same eventId earlier in the batch), rejected (sent to the DLQ); redelivered records included',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    insertSeconds: new Histogram({
      name: 'vevee_ingest_insert_duration_seconds',
      help: 'Duration of one batch insert of ingested events into the ClickHouse events table, in seconds',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    httpEvents: new Counter({
      name: 'vevee_ingest_http_events_total',
      help: 'Events received by POST /v1/events:batch, by outcome: accepted (produced to the ingest topic) or rejected',
      labelNames: ['outcome'],
      registers: [registry],
    }),
  };
}
