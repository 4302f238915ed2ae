-- Up Migration

-- Workspace configuration, written by the seed and the gateway.
CREATE TABLE workspaces (
  id text PRIMARY KEY,
  name text NOT NULL,
  -- IANA zone that calendar day and month windows align to.
  time_zone text NOT NULL DEFAULT 'UTC',
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
  -- SHA-256 of the key, lowercase hex. The key itself is never stored.
  key_hash text PRIMARY KEY CHECK (key_hash ~ '^[0-9a-f]{64}$'),
  workspace_id text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  label text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX api_keys_workspace_id_idx ON api_keys (workspace_id);

-- Plan versions are immutable: a change inserts the next version.
CREATE TABLE plans (
  workspace_id text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  version integer NOT NULL CHECK (version > 0),
  -- Limits per meter and period, for example {"tokens": {"day": 20000, "month": 400000}}.
  meters jsonb NOT NULL CHECK (jsonb_typeof(meters) = 'object'),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (workspace_id, version)
);

-- Read models built by the Postgres projector from the ledger. They have no
-- foreign keys to workspaces, because the ledger is the source of truth and a
-- projection must never stop on configuration that is missing here.
CREATE TABLE usage_counters (
  workspace_id text NOT NULL,
  person_id text NOT NULL,
  meter text NOT NULL,
  period text NOT NULL CHECK (period IN ('day', 'month')),
  window_start timestamptz NOT NULL,
  window_end timestamptz NOT NULL,
  used numeric NOT NULL DEFAULT 0,
  -- Quantity held by reservations that are still active.
  reserved numeric NOT NULL DEFAULT 0,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (workspace_id, person_id, meter, period, window_start),
  CHECK (window_end > window_start)
);

CREATE TABLE reservations (
  workspace_id text NOT NULL,
  reservation_id text NOT NULL,
  person_id text NOT NULL,
  meter text NOT NULL,
  quantity numeric NOT NULL,
  status text NOT NULL CHECK (status IN ('active', 'committed', 'released', 'expired')),
  reserved_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  closed_at timestamptz,
  -- Set when the reservation is committed.
  committed_quantity numeric,
  overage numeric,
  cost numeric,
  currency text,
  PRIMARY KEY (workspace_id, reservation_id),
  CHECK ((status = 'active') = (closed_at IS NULL))
);

-- Active holds of one person and meter, for the person page and the expiry view.
CREATE INDEX reservations_active_idx ON reservations (workspace_id, person_id, meter, expires_at)
  WHERE status = 'active';

-- The next Kafka offset each projector applies, committed in the same
-- transaction as the rows it wrote.
CREATE TABLE projector_offsets (
  projector text NOT NULL,
  topic text NOT NULL,
  partition integer NOT NULL CHECK (partition >= 0),
  next_offset bigint NOT NULL CHECK (next_offset >= 0),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (projector, topic, partition)
);

-- Down Migration

DROP TABLE projector_offsets;
DROP TABLE reservations;
DROP TABLE usage_counters;
DROP TABLE plans;
DROP TABLE api_keys;
DROP TABLE workspaces;
