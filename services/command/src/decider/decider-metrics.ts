import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

const LATENCY_BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1];

export interface DeciderMetrics {
  decisionSeconds: Histogram<'command'>;
  appendSeconds: Histogram;
  batchRecords: Histogram;
  recoveries: Counter<'reason'>;
  rebalances: Counter;
  forwarded: Counter<'outcome'>;
  personReads: Counter;
}

export interface DeciderGauges {
  pendingEvents: () => number;
  ownedPartitions: () => number;
  /** Persons of the owned partitions whose state is in memory, or only in their snapshot rows. */
  persons: (where: 'memory' | 'snapshot') => number;
}

export function createDeciderMetrics(registry: Registry, gauges: DeciderGauges): DeciderMetrics {
  new Gauge({
    name: 'vevee_decider_pending_events',
    help: 'Events decided but not yet durable in the ledger, across owned partitions.',
    registers: [registry],
    collect() {
      this.set(gauges.pendingEvents());
    },
  });
  new Gauge({
    name: 'vevee_decider_owned_partitions',
    help: 'Ledger partitions this replica owns.',
    registers: [registry],
    collect() {
      this.set(gauges.ownedPartitions());
    },
  });
  new Gauge({
    name: 'vevee_decider_persons',
    help: 'Persons of the owned partitions, by where their state is: in memory, or only in their snapshot rows after eviction.',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      this.set({ state: 'memory' }, gauges.persons('memory'));
      this.set({ state: 'snapshot' }, gauges.persons('snapshot'));
    },
  });
  return {
    decisionSeconds: new Histogram({
      name: 'vevee_decider_decision_seconds',
      help: 'Time from receiving a command to its durable reply, in seconds.',
      labelNames: ['command'],
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    appendSeconds: new Histogram({
      name: 'vevee_decider_append_seconds',
      help: 'Duration of one group-commit transaction on the ledger, in seconds.',
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    batchRecords: new Histogram({
      name: 'vevee_decider_batch_records',
      help: 'Records per group-commit transaction.',
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000],
      registers: [registry],
    }),
    recoveries: new Counter({
      name: 'vevee_decider_recoveries_total',
      help: 'Partitions rebuilt from a snapshot and the ledger, by reason.',
      labelNames: ['reason'],
      registers: [registry],
    }),
    rebalances: new Counter({
      name: 'vevee_decider_rebalances_total',
      help: 'Assignments received from the command consumer group.',
      registers: [registry],
    }),
    personReads: new Counter({
      name: 'vevee_decider_person_reads_total',
      help: 'Evicted persons read back from their snapshot rows for a command.',
      registers: [registry],
    }),
    forwarded: new Counter({
      name: 'vevee_decider_forwarded_total',
      help: 'Requests forwarded to the replica that owns the person, by outcome.',
      labelNames: ['outcome'],
      registers: [registry],
    }),
  };
}
