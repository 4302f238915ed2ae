-- Up Migration

-- Secrets that the command replicas share through this database and nobody
-- else holds. `replica_token` marks calls from one replica to another: the
-- internal RPC TransferUsage accepts only calls that carry it, so an API key
-- alone cannot move usage between persons.
CREATE TABLE cluster_secrets (
  name text PRIMARY KEY,
  value text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Two random UUIDs: 244 random bits.
INSERT INTO cluster_secrets (name, value)
VALUES ('replica_token', replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''));

-- Down Migration

DROP TABLE cluster_secrets;
