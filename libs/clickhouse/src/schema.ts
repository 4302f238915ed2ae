import type { ClickHouseClient } from '@clickhouse/client';

import type { Logger } from '@vevee/platform';

import { ANALYTICS_SCHEMA_STEPS } from './analytics-schema';
import { quoteDatabase } from './identifiers';

/** One numbered change of the analytics schema. Every statement must be idempotent. */
export interface SchemaStep {
  version: number;
  name: string;
  statements: (db: string) => string[];
}

/**
 * The schema steps in the order they apply. Append new steps at the end and
 * never edit one that has shipped, because installs record the versions they
 * applied and skip them on the next start.
 */
export const SCHEMA_STEPS: readonly SchemaStep[] = [
  {
    version: 1,
    name: 'create events',
    statements: (db) => [
      // One row per ledger event.
      //
      // ENGINE: ReplacingMergeTree collapses rows with equal sorting keys, and
      // event_id ends the key, so a redelivered event becomes a second copy of
      // the same key. Merges remove the copy in the background. Readers that
      // need exact numbers use FINAL, which collapses copies that no merge has
      // reached yet. Copies of one event are identical, so no version column
      // is needed to choose between them.
      //
      // ORDER BY (workspace_id, at, event_id): every dashboard query reads one
      // workspace over a time range, so the primary index prunes to that
      // workspace's granules for the range. event_id makes the key unique per
      // event, which is what the deduplication above keys on. workspace_id and
      // at are fields of the event, so two copies of one event always share
      // the whole key.
      //
      // PARTITION BY toYYYYMM(at): monthly parts keep the partition count low
      // (ClickHouse merges only within a partition, and many small partitions
      // slow inserts and merges), match the dashboard's monthly periods, and
      // let retention drop a whole month. A copy of an event has the same `at`,
      // so it lands in the same partition, where merges and FINAL can see it.
      //
      // The bloom filter on person_id lets a person's timeline skip granules
      // of the workspace that hold none of that person's events.
      `CREATE TABLE IF NOT EXISTS ${db}.events
      (
          event_id         String,
          workspace_id     LowCardinality(String),
          person_id        String,
          type             LowCardinality(String),
          event_type       LowCardinality(String),
          meter            LowCardinality(String),
          quantity         Float64,
          cost             Float64,
          currency         LowCardinality(String),
          reservation_id   String,
          idempotency_key  String,
          at               DateTime64(3, 'UTC'),
          plan_version     UInt32,
          metadata         String,
          ledger_partition UInt32,
          ledger_offset    UInt64,
          payload          String,
          inserted_at      DateTime64(3, 'UTC') DEFAULT now64(3, 'UTC'),
          INDEX person_id_bloom person_id TYPE bloom_filter GRANULARITY 4
      )
      ENGINE = ReplacingMergeTree
      PARTITION BY toYYYYMM(at)
      ORDER BY (workspace_id, at, event_id)`,
    ],
  },
  // Version 2: persons, aliases, rollups and views for analytics.
  ...ANALYTICS_SCHEMA_STEPS,
];

async function createMigrationsTable(client: ClickHouseClient, db: string): Promise<void> {
  // ReplacingMergeTree by version: two processes that apply the same step at
  // once record it twice, and the copies collapse into one row.
  await client.command({
    query: `CREATE TABLE IF NOT EXISTS ${db}.schema_migrations
    (
        version    UInt32,
        name       String,
        applied_at DateTime64(3, 'UTC') DEFAULT now64(3, 'UTC')
    )
    ENGINE = ReplacingMergeTree
    ORDER BY version`,
  });
}

async function appliedVersions(client: ClickHouseClient, db: string): Promise<Set<number>> {
  const result = await client.query({ query: `SELECT version FROM ${db}.schema_migrations FINAL`, format: 'JSONEachRow' });
  const rows = await result.json<{ version: number | string }>();
  return new Set(rows.map((row) => Number(row.version)));
}

/**
 * Creates the analytics database and applies the schema steps it lacks, in
 * order, recording each one in `schema_migrations`. Safe to run at every start
 * and from several processes at once, because every step is idempotent.
 * Returns the versions applied by this call.
 */
export async function ensureClickHouseSchema(client: ClickHouseClient, database: string, logger?: Logger): Promise<number[]> {
  const db = quoteDatabase(database);
  await client.command({ query: `CREATE DATABASE IF NOT EXISTS ${db}` });
  await createMigrationsTable(client, db);

  const applied = await appliedVersions(client, db);
  const appliedNow: number[] = [];
  for (const step of SCHEMA_STEPS) {
    if (applied.has(step.version)) continue;

    for (const statement of step.statements(db)) {
      await client.command({ query: statement });
    }
    // Recorded after the statements: a crash in between repeats the step at
    // the next start, which its idempotent statements allow.
    await client.insert({
      table: `${db}.schema_migrations`,
      values: [{ version: step.version, name: step.name }],
      format: 'JSONEachRow',
    });
    appliedNow.push(step.version);
    logger?.info({ database, version: step.version, name: step.name }, 'clickhouse schema step applied');
  }
  return appliedNow;
}
