-- Up Migration

-- Counters of every limit period. A counter is keyed by meter, period, start and
-- end like the decider's, because an anchored day (24 hours from the
-- subscription's start) and a calendar day across a daylight-saving change can
-- share a start and end at different times.
ALTER TABLE usage_counters DROP CONSTRAINT usage_counters_period_check;
ALTER TABLE usage_counters ADD CONSTRAINT usage_counters_period_check
  CHECK (period IN ('minute', 'hour', 'day', 'week', 'month', 'billing', 'lifetime'));
ALTER TABLE usage_counters DROP CONSTRAINT usage_counters_pkey;
ALTER TABLE usage_counters ADD PRIMARY KEY (workspace_id, person_id, meter, period, window_start, window_end);

-- The part of a hold paid by credits. Windows whose limits take credits count
-- only quantity - credit_quantity of it.
ALTER TABLE reservations ADD COLUMN credit_quantity numeric NOT NULL DEFAULT 0;

-- A person's subscription as the decider keeps it: the current terms and a
-- change scheduled for a later billing period boundary. A scheduled change
-- applies when time passes scheduled_effective_at; no event marks that moment,
-- so readers compare it with the time they read at.
CREATE TABLE subscriptions (
  workspace_id text NOT NULL,
  person_id text NOT NULL,
  plan_id text,
  status text CHECK (status IN ('active', 'trialing', 'past_due', 'paused', 'canceled')),
  starts_at timestamptz,
  scheduled_plan_id text,
  scheduled_status text CHECK (scheduled_status IN ('active', 'trialing', 'past_due', 'paused', 'canceled')),
  scheduled_starts_at timestamptz,
  scheduled_effective_at timestamptz,
  -- The billing system's time of the newest applied change.
  occurred_at timestamptz NOT NULL,
  -- The decision time of the last SubscriptionChanged event applied.
  changed_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (workspace_id, person_id),
  CHECK ((plan_id IS NULL) = (status IS NULL) AND (plan_id IS NULL) = (starts_at IS NULL)),
  CHECK ((scheduled_plan_id IS NULL) = (scheduled_effective_at IS NULL))
);

-- One row per SubscriptionChanged event.
CREATE TABLE subscription_history (
  workspace_id text NOT NULL,
  event_id text NOT NULL,
  person_id text NOT NULL,
  -- The decision time, the billing system's time and when the new terms apply.
  at timestamptz NOT NULL,
  occurred_at timestamptz NOT NULL,
  effective_at timestamptz NOT NULL,
  from_plan_id text,
  from_status text,
  from_starts_at timestamptz,
  to_plan_id text NOT NULL,
  to_status text NOT NULL,
  to_starts_at timestamptz NOT NULL,
  reason text NOT NULL,
  source text NOT NULL,
  external_id text NOT NULL,
  PRIMARY KEY (workspace_id, event_id)
);

CREATE INDEX subscription_history_person_idx ON subscription_history (workspace_id, person_id, at DESC, event_id DESC);

-- Credit grants: one-off grants, the schedules of recurring grants (remaining 0),
-- and each period's renewal and rollover.
CREATE TABLE credit_grants (
  workspace_id text NOT NULL,
  person_id text NOT NULL,
  grant_id text NOT NULL,
  -- A meter key, or a currency code that pays for every meter with that unit.
  meter text NOT NULL,
  amount numeric NOT NULL,
  -- The sum of the grant's credit_entries.
  remaining numeric NOT NULL DEFAULT 0,
  priority integer NOT NULL,
  effective_at timestamptz NOT NULL,
  expires_at timestamptz,
  -- {period, rolloverCap, rolloverExpiresAfterMs} of a recurring grant, else null.
  recurrence jsonb,
  origin text NOT NULL CHECK (origin IN ('grant', 'renewal', 'rollover')),
  parent_grant_id text,
  reason text NOT NULL,
  granted_at timestamptz NOT NULL,
  event_id text NOT NULL,
  PRIMARY KEY (workspace_id, person_id, grant_id)
);

-- Every movement of credit, with its amount signed: + for a grant, renewal or
-- rollover into a grant, - for a burn, an expiry write-off or a rollover out of a grant.
CREATE TABLE credit_entries (
  workspace_id text NOT NULL,
  person_id text NOT NULL,
  event_id text NOT NULL,
  grant_id text NOT NULL,
  meter text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('grant', 'schedule', 'renewal', 'rollover_in', 'rollover_out', 'burn', 'expiry')),
  amount numeric NOT NULL,
  -- Set for a burn: what spent the credit. Empty reservation_id for tracked usage.
  reservation_id text,
  usage_event_id text,
  -- The decision time, and when the movement counts: a grant's effective_at or an expiry's boundary.
  at timestamptz NOT NULL,
  effective_at timestamptz NOT NULL,
  PRIMARY KEY (workspace_id, event_id, grant_id)
);

CREATE INDEX credit_entries_person_idx ON credit_entries (workspace_id, person_id, at DESC, event_id DESC, grant_id DESC);

-- Down Migration

DROP TABLE credit_entries;
DROP TABLE credit_grants;
DROP TABLE subscription_history;
DROP TABLE subscriptions;
ALTER TABLE reservations DROP COLUMN credit_quantity;
DELETE FROM usage_counters WHERE period NOT IN ('day', 'month');
ALTER TABLE usage_counters DROP CONSTRAINT usage_counters_pkey;
ALTER TABLE usage_counters ADD PRIMARY KEY (workspace_id, person_id, meter, period, window_start);
ALTER TABLE usage_counters DROP CONSTRAINT usage_counters_period_check;
ALTER TABLE usage_counters ADD CONSTRAINT usage_counters_period_check CHECK (period IN ('day', 'month'));
