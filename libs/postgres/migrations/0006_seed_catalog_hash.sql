-- Up Migration

-- The SHA-256 of the catalog part of the seed entry last applied to the
-- workspace. A start with an unchanged seed leaves the catalog alone, so changes
-- made since through GraphQL stay; an edited seed entry is applied again.
ALTER TABLE workspaces ADD COLUMN seed_catalog_hash text;

-- Down Migration

ALTER TABLE workspaces DROP COLUMN seed_catalog_hash;
