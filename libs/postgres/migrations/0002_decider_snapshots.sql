-- Up Migration

-- The state of one ledger partition as its decider last saw it, so a new owner
-- replays only the tail after next_offset. Written by the command service.
CREATE TABLE decider_snapshots (
  topic text NOT NULL,
  partition integer NOT NULL CHECK (partition >= 0),
  -- The first ledger offset that the snapshot does not contain.
  next_offset bigint NOT NULL CHECK (next_offset >= 0),
  -- Persons' states, as written by snapshotPerson in libs/domain, keyed workspaceId:personId.
  state jsonb NOT NULL,
  last_at bigint NOT NULL,
  taken_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (topic, partition)
);

-- Down Migration

DROP TABLE decider_snapshots;
