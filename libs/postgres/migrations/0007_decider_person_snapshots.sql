-- Up Migration

-- One row per person of a decider snapshot. A snapshot writes only the persons
-- that changed since the previous one, in the same transaction as the
-- partition's row in decider_snapshots, so the rows of a partition together
-- hold every person's state at that row's next_offset.
CREATE TABLE decider_person_snapshots (
  topic text NOT NULL,
  partition integer NOT NULL CHECK (partition >= 0),
  -- workspaceId:personId
  person_key text NOT NULL,
  -- The person's state, as written by snapshotPerson in libs/domain.
  state jsonb NOT NULL,
  -- The partition's next_offset in the snapshot that last wrote this row.
  next_offset bigint NOT NULL CHECK (next_offset >= 0),
  PRIMARY KEY (topic, partition, person_key)
);

-- decider_snapshots.state keeps the persons of snapshots written before this
-- table existed, and is '{}' in newer ones.
COMMENT ON COLUMN decider_snapshots.state IS 'persons of a snapshot written before decider_person_snapshots existed; {} since';

-- Down Migration

-- Without their person rows, the newer snapshots are incomplete: dropping them
-- makes the deciders replay those partitions from the start of the ledger.
DELETE FROM decider_snapshots WHERE state = '{}'::jsonb;
DROP TABLE decider_person_snapshots;
