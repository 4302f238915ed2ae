import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** The Prometheus metrics of the ClickHouse projector. */
export interface ProjectorMetrics {
  rowsInserted: Counter;
  insertSeconds: Histogram;
  stoppedPartitions: Gauge;
}

export function createProjectorMetrics(registry: Registry): ProjectorMetrics {
  return {
    rowsInserted: new Counter({
      name: 'vevee_projector_clickhouse_rows_inserted_total',
      help: 'Ledger events inserted into the ClickHouse events table, redelivered ones included',
      registers: [registry],
    }),
    insertSeconds: new Histogram({
      name: 'vevee_projector_clickhouse_insert_duration_seconds',
      help: 'Duration of one batch insert into the ClickHouse events table, in seconds',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    stoppedPartitions: new Gauge({
      name: 'vevee_projector_clickhouse_stopped_partitions',
      help: 'Ledger partitions the ClickHouse projector stopped at a record it cannot decode',
      registers: [registry],
    }),
  };
}
