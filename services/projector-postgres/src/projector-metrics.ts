import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Prometheus metrics of the Postgres projector, registered on the process registry. */
export class ProjectorPostgresMetrics {
  readonly eventsApplied: Counter<'type'>;
  readonly recordsSkipped: Counter;
  readonly anomalies: Counter<'type'>;
  readonly batchSize: Histogram;
  readonly batchSeconds: Histogram;
  readonly lag: Gauge<'partition'>;
  readonly stoppedPartitions: Gauge;

  constructor(registry: Registry, stoppedCount: () => number) {
    this.eventsApplied = new Counter({
      name: 'vevee_projector_postgres_events_applied_total',
      help: 'Ledger events written to PostgreSQL, by event type.',
      labelNames: ['type'],
      registers: [registry],
    });
    this.recordsSkipped = new Counter({
      name: 'vevee_projector_postgres_records_skipped_total',
      help: 'Redelivered records below the stored next offset, skipped because they are applied already.',
      registers: [registry],
    });
    this.anomalies = new Counter({
      name: 'vevee_projector_postgres_anomalies_total',
      help: 'Events that did not match the projected reservation state (see the warning logs), by event type.',
      labelNames: ['type'],
      registers: [registry],
    });
    this.batchSize = new Histogram({
      name: 'vevee_projector_postgres_batch_size',
      help: 'Records per Kafka batch handed to the projector.',
      buckets: [1, 10, 50, 100, 500, 1_000, 5_000, 10_000],
      registers: [registry],
    });
    this.batchSeconds = new Histogram({
      name: 'vevee_projector_postgres_batch_seconds',
      help: 'Time to apply one batch, transaction included, in seconds.',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    });
    this.lag = new Gauge({
      name: 'vevee_projector_postgres_lag',
      help: 'Records in the partition after the last batch applied, as of that batch.',
      labelNames: ['partition'],
      registers: [registry],
    });
    this.stoppedPartitions = new Gauge({
      name: 'vevee_projector_postgres_stopped_partitions',
      help: 'Partitions stopped on a record this reader cannot decode.',
      registers: [registry],
      collect() {
        this.set(stoppedCount());
      },
    });
  }
}
