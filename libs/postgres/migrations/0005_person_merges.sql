-- Up Migration

-- Persons merged into another by an alias, from the UsageTransferredOut event that
-- started the merge. From then on the decider runs every request for the person
-- for `merged_into`, so dashboards show that person's quota instead.
CREATE TABLE person_merges (
  workspace_id text NOT NULL,
  person_id text NOT NULL,
  merged_into text NOT NULL,
  transfer_id text NOT NULL,
  merged_at timestamptz NOT NULL,
  PRIMARY KEY (workspace_id, person_id),
  CHECK (merged_into <> person_id)
);

-- Down Migration

DROP TABLE person_merges;
