import type { SchemaStep } from './schema';

/**
 * The name of an event as analytics shows it: the app's event type of a
 * UsageTracked or ingested event, else the ledger type (QuotaReserved, …).
 */
export const EVENT_NAME_SQL = "if(event_type != '', event_type, type)";

/** Event type of an ingested identify event; its metadata has `set` and `setOnce` objects. */
export const IDENTIFY_EVENT = '$identify';

/** Event type of an ingested alias event; metadata.anonymousId is merged into the event's person. */
export const ALIAS_EVENT = '$alias';

/**
 * Tables, materialized views and views that analytics reads, built from
 * `events`. A materialized view processes only rows inserted after it
 * exists, so each table is first filled from the events already stored
 * (read with FINAL), then its materialized view is created.
 *
 * NOTE: events inserted by another process between a table's fill and the
 * creation of its materialized view are missing from that table. The
 * projector applies the schema before it consumes, so only a second writer
 * (such as an ingest sink on a ClickHouse server) can hit that gap.
 */
function aliasRows(source: string): string {
  return `SELECT workspace_id, JSONExtractString(metadata, 'anonymousId') AS anonymous_id, person_id, at AS aliased_at, event_id
      FROM ${source}
      WHERE event_type = '${ALIAS_EVENT}' AND anonymous_id != '' AND anonymous_id != person_id`;
}

function propertyRows(source: string, operation: 'set' | 'set_once'): string {
  const field = operation === 'set' ? 'set' : 'setOnce';
  return `SELECT workspace_id, person_id, property.1 AS key,
             if(JSONType(property.2) = 'String', JSONExtractString(property.2), property.2) AS value,
             '${operation}' AS operation, at, event_id
      FROM ${source}
      ARRAY JOIN JSONExtractKeysAndValuesRaw(metadata, '${field}') AS property
      WHERE event_type = '${IDENTIFY_EVENT}'`;
}

function activityRows(source: string): string {
  return `SELECT workspace_id, person_id, min(at) AS first_seen, max(at) AS last_seen
      FROM ${source}
      GROUP BY workspace_id, person_id`;
}

export const ANALYTICS_SCHEMA_STEPS: readonly SchemaStep[] = [
  {
    version: 2,
    name: 'create analytics tables and views',
    statements: (db) => [
      // anonymous id -> known id, one row per $alias event. A redelivered
      // event repeats its sorting key, so ReplacingMergeTree drops the copy.
      // Readers take the earliest alias of an anonymous id (argMin by time).
      `CREATE TABLE IF NOT EXISTS ${db}.person_aliases
      (
          workspace_id LowCardinality(String),
          anonymous_id String,
          person_id    String,
          aliased_at   DateTime64(3, 'UTC'),
          event_id     String
      )
      ENGINE = ReplacingMergeTree
      ORDER BY (workspace_id, anonymous_id, event_id)`,
      // Filling again after a crash is harmless: the copies collapse.
      `INSERT INTO ${db}.person_aliases ${aliasRows(`${db}.events FINAL`)}`,
      `CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.person_aliases_mv TO ${db}.person_aliases AS ${aliasRows(`${db}.events`)}`,

      // One row per property key of each $identify event, under the id the
      // event was sent with. Set and set-once are resolved when read, after
      // the ids go through the alias map, so properties set on an anonymous
      // id join the known person's and never block a merge. `value` is the
      // JSON text of the value, with a string's quotes removed.
      `CREATE TABLE IF NOT EXISTS ${db}.person_properties
      (
          workspace_id LowCardinality(String),
          person_id    String,
          key          String,
          value        String,
          operation    Enum8('set' = 1, 'set_once' = 2),
          at           DateTime64(3, 'UTC'),
          event_id     String
      )
      ENGINE = ReplacingMergeTree
      ORDER BY (workspace_id, person_id, key, operation, event_id)`,
      `INSERT INTO ${db}.person_properties ${propertyRows(`${db}.events FINAL`, 'set')}`,
      `INSERT INTO ${db}.person_properties ${propertyRows(`${db}.events FINAL`, 'set_once')}`,
      `CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.person_properties_set_mv TO ${db}.person_properties AS ${propertyRows(`${db}.events`, 'set')}`,
      `CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.person_properties_set_once_mv TO ${db}.person_properties AS ${propertyRows(`${db}.events`, 'set_once')}`,

      // First and last event time per raw person id. min and max give the
      // same result however often an event is inserted again.
      `CREATE TABLE IF NOT EXISTS ${db}.person_activity
      (
          workspace_id LowCardinality(String),
          person_id    String,
          first_seen   SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
          last_seen    SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
      )
      ENGINE = AggregatingMergeTree
      ORDER BY (workspace_id, person_id)`,
      `INSERT INTO ${db}.person_activity ${activityRows(`${db}.events FINAL`)}`,
      `CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.person_activity_mv TO ${db}.person_activity AS ${activityRows(`${db}.events`)}`,

      // This step also created the rollup table events_hourly, its
      // materialized view and the view events_daily on it. Step 3 replaces
      // the rollup with a view and creates events_daily. They are left out
      // here so that a second process that repeats this step after step 3
      // cannot create the rollup again.

      // Quota denials with the limit that denied them, read from the payload.
      `CREATE VIEW IF NOT EXISTS ${db}.denials AS
      SELECT workspace_id, event_id, person_id, meter, quantity, at,
             JSONExtractString(payload, 'reason') AS reason,
             JSONExtractFloat(payload, 'limit') AS limit,
             JSONExtractString(payload, 'limitPeriod') AS limit_period,
             JSONExtractFloat(payload, 'remaining') AS remaining
      FROM ${db}.events FINAL
      WHERE type = 'QuotaDenied'`,

      // One row per reservation with its outcome. 'active' also covers a hold
      // past its TTL whose QuotaExpired event has not been written yet.
      `CREATE VIEW IF NOT EXISTS ${db}.reservations AS
      SELECT workspace_id, reservation_id,
             any(person_id) AS person_id,
             any(meter) AS meter,
             sumIf(quantity, type = 'QuotaReserved') AS reserved_quantity,
             minIf(at, type = 'QuotaReserved') AS reserved_at,
             multiIf(countIf(type = 'QuotaCommitted') > 0, 'committed',
                     countIf(type = 'QuotaReleased') > 0, 'released',
                     countIf(type = 'QuotaExpired') > 0, 'expired',
                     'active') AS status,
             sumIf(quantity, type = 'QuotaCommitted') AS committed_quantity,
             sum(cost) AS cost,
             maxIf(at, type != 'QuotaReserved') AS closed_at
      FROM ${db}.events FINAL
      WHERE reservation_id != ''
      GROUP BY workspace_id, reservation_id`,

      // The alias map: the earliest alias of each anonymous id.
      `CREATE VIEW IF NOT EXISTS ${db}.person_alias_map AS
      SELECT workspace_id, anonymous_id, argMin(person_id, (aliased_at, event_id)) AS person_id
      FROM ${db}.person_aliases FINAL
      GROUP BY workspace_id, anonymous_id`,

      // events with person_id resolved through the alias map, and
      // original_person_id, the id the event was sent with. The map is looked
      // up with transform() on cityHash64(workspace_id, anonymous_id): on 8
      // million events that took about two thirds of the time of a join.
      `CREATE VIEW IF NOT EXISTS ${db}.events_resolved AS
      WITH (SELECT (groupArray(cityHash64(workspace_id, anonymous_id)), groupArray(person_id)) FROM ${db}.person_alias_map) AS alias_map
      SELECT e.* REPLACE (transform(cityHash64(e.workspace_id, e.person_id), alias_map.1, alias_map.2, e.person_id) AS person_id),
             e.person_id AS original_person_id,
             if(e.event_type != '', e.event_type, e.type) AS event_name
      FROM ${db}.events AS e FINAL`,

      // Persons after alias resolution, with first and last event time.
      `CREATE VIEW IF NOT EXISTS ${db}.persons AS
      SELECT a.workspace_id AS workspace_id,
             if(m.person_id != '', m.person_id, a.person_id) AS person_id,
             min(a.first_seen) AS first_seen,
             max(a.last_seen) AS last_seen
      FROM ${db}.person_activity AS a
      LEFT JOIN ${db}.person_alias_map AS m ON m.workspace_id = a.workspace_id AND m.anonymous_id = a.person_id
      GROUP BY workspace_id, person_id
      SETTINGS join_use_nulls = 0`,

      // Each person's resolved property values: the latest set, else the
      // earliest set-once.
      `CREATE VIEW IF NOT EXISTS ${db}.person_property_values AS
      SELECT p.workspace_id AS workspace_id,
             if(m.person_id != '', m.person_id, p.person_id) AS person_id,
             p.key AS key,
             if(countIf(p.operation = 'set') > 0,
                argMaxIf(p.value, (p.at, p.event_id), p.operation = 'set'),
                argMinIf(p.value, (p.at, p.event_id), p.operation = 'set_once')) AS value
      FROM ${db}.person_properties AS p FINAL
      LEFT JOIN ${db}.person_alias_map AS m ON m.workspace_id = p.workspace_id AND m.anonymous_id = p.person_id
      GROUP BY workspace_id, person_id, key
      SETTINGS join_use_nulls = 0`,
    ],
  },
  {
    version: 3,
    name: 'compute events_hourly from events with FINAL',
    statements: (db) => [
      // The SummingMergeTree rollup counted an event inserted twice (after a
      // crash, or sent twice by a producer) twice for good. A view over
      // `events` FINAL counts it once (measurement in docs/clickhouse.md).
      `DROP VIEW IF EXISTS ${db}.events_hourly_mv`,
      `DROP TABLE IF EXISTS ${db}.events_hourly`,
      `CREATE VIEW IF NOT EXISTS ${db}.events_hourly AS
      SELECT workspace_id, toStartOfHour(at) AS hour, type, ${EVENT_NAME_SQL} AS event_name,
             count() AS events, sum(cost) AS cost, sum(quantity) AS quantity
      FROM ${db}.events FINAL
      GROUP BY workspace_id, hour, type, event_name`,
      `CREATE VIEW IF NOT EXISTS ${db}.events_daily AS
      SELECT workspace_id, toDate(hour) AS day, type, event_name,
             sum(events) AS events, sum(cost) AS cost, sum(quantity) AS quantity
      FROM ${db}.events_hourly
      GROUP BY workspace_id, day, type, event_name`,
    ],
  },
  {
    version: 4,
    name: 'follow alias chains in person_alias_map',
    statements: (db) => [
      // An anonymous id can be aliased to an id that is itself aliased later
      // (anon-2 to anon-1, then anon-1 to user-1). The map follows up to
      // three aliases, as the deciders follow up to three merges, so every
      // id of the chain maps to its last known id. Each hop takes the
      // earliest alias of its id. A cycle, which only ingested $alias events
      // can make, ends after three hops.
      `CREATE OR REPLACE VIEW ${db}.person_alias_map AS
      WITH direct AS (
        SELECT workspace_id, anonymous_id, argMin(person_id, (aliased_at, event_id)) AS person_id
        FROM ${db}.person_aliases FINAL
        GROUP BY workspace_id, anonymous_id
      )
      SELECT hop1.workspace_id AS workspace_id,
             hop1.anonymous_id AS anonymous_id,
             multiIf(hop3.person_id != '', hop3.person_id, hop2.person_id != '', hop2.person_id, hop1.person_id) AS person_id
      FROM direct AS hop1
      LEFT JOIN direct AS hop2 ON hop2.workspace_id = hop1.workspace_id AND hop2.anonymous_id = hop1.person_id
      LEFT JOIN direct AS hop3 ON hop3.workspace_id = hop2.workspace_id AND hop3.anonymous_id = hop2.person_id
      SETTINGS join_use_nulls = 0`,
    ],
  },
];
