-- Up Migration

-- The workspace catalog: meters, plan versions and the default plan, written by
-- the seed and the gateway's mutations. Every change raises
-- workspaces.catalog_version by one in the same transaction, so the command
-- service can tell a newer catalog from an older copy.
ALTER TABLE workspaces
  ADD COLUMN default_plan_id text,
  ADD COLUMN catalog_version bigint NOT NULL DEFAULT 0 CHECK (catalog_version >= 0);

CREATE TABLE meters (
  workspace_id text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  key text NOT NULL CHECK (key ~ '^[A-Za-z0-9_.-]{1,64}$'),
  -- Free text such as tokens, or a currency code such as USD.
  unit text NOT NULL CHECK (unit <> ''),
  aggregation text NOT NULL CHECK (aggregation IN ('sum', 'count')),
  display_name text NOT NULL CHECK (display_name <> ''),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (workspace_id, key)
);

-- A change to a plan inserts its next version; a published row never changes.
CREATE TABLE plan_versions (
  workspace_id text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  plan_id text NOT NULL CHECK (plan_id ~ '^[A-Za-z0-9_-]{1,64}$'),
  version integer NOT NULL CHECK (version > 0),
  name text NOT NULL CHECK (name <> ''),
  -- LimitDefinition objects of libs/domain: id, meter, amount, period, window, enforcement, overage, credits.
  limits jsonb NOT NULL CHECK (jsonb_typeof(limits) = 'array'),
  published_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (workspace_id, plan_id, version)
);

CREATE FUNCTION reject_plan_version_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'plan version % of plan "%" in workspace "%" is published and cannot change: publish a new version instead',
    OLD.version, OLD.plan_id, OLD.workspace_id;
END;
$$;

CREATE TRIGGER plan_versions_immutable BEFORE UPDATE ON plan_versions
  FOR EACH ROW EXECUTE FUNCTION reject_plan_version_update();

-- Plans written before this migration, in the old `plans` table, become
-- versions of the plan `default`, with one summed meter per key and one hard
-- calendar limit per period, the same conversion as catalogFromPlan.
INSERT INTO meters (workspace_id, key, unit, aggregation, display_name)
SELECT DISTINCT p.workspace_id, m.key, m.key, 'sum', m.key
FROM plans p, jsonb_each(p.meters) AS m (key, value);

INSERT INTO plan_versions (workspace_id, plan_id, version, name, limits, published_at)
SELECT p.workspace_id, 'default', p.version, 'Default',
  COALESCE((
    SELECT jsonb_agg(jsonb_build_object(
      'id', m.key || '-' || l.key, 'meter', m.key, 'amount', l.value, 'period', l.key,
      'window', 'calendar', 'enforcement', 'hard', 'overage', 'record', 'credits', false
    ) ORDER BY m.key, l.key)
    FROM jsonb_each(p.meters) AS m (key, value), jsonb_each(m.value) AS l (key, value)
  ), '[]'::jsonb),
  p.created_at
FROM plans p;

UPDATE workspaces w
SET default_plan_id = 'default',
    catalog_version = (SELECT max(p.version) FROM plans p WHERE p.workspace_id = w.id)
WHERE EXISTS (SELECT 1 FROM plans p WHERE p.workspace_id = w.id);

-- Down Migration

DROP TABLE plan_versions;
DROP FUNCTION reject_plan_version_update();
DROP TABLE meters;
ALTER TABLE workspaces DROP COLUMN catalog_version, DROP COLUMN default_plan_id;
