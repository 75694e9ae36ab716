// Versioned migrations for the PostgreSQL store, in the schema secrets_service (one per service:
// services never read each other's tables). Applied by @keyhold/postgres's migrate, once per
// database however many replicas start together. Never edit a released migration: append one.
import type { Migration } from "@keyhold/postgres";

export const SECRETS_SERVICE_SCHEMA = "secrets_service";

export const POSTGRES_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "secrets, versions, stage labels, tags, default keys, API key retirements",
    sql: `
    CREATE TABLE secrets (
      secret_id text PRIMARY KEY,
      account_id text NOT NULL,
      -- Byte order, as SQLite: names page in the same order whatever the database's locale.
      name text COLLATE "C" NOT NULL,
      description text NOT NULL,
      secret_type integer NOT NULL,
      kms_key_id text NOT NULL,
      created_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL,
      rotation_enabled boolean NOT NULL,
      rotation_interval_seconds integer NOT NULL,
      rotation_handler_url text NOT NULL,
      last_rotated_at timestamptz,
      next_rotation_at timestamptz,
      rotation_token text,
      rotation_lease_until timestamptz,
      last_rotation_error text NOT NULL,
      deletion_date timestamptz,
      api_key_principal_krn text NOT NULL,
      api_key_grace_period_seconds integer NOT NULL,
      UNIQUE (account_id, name)
    );
    CREATE INDEX secrets_due_rotation ON secrets (next_rotation_at) WHERE rotation_enabled;
    CREATE INDEX secrets_due_purge ON secrets (deletion_date) WHERE deletion_date IS NOT NULL;

    CREATE TABLE secret_versions (
      secret_id text NOT NULL REFERENCES secrets (secret_id) ON DELETE CASCADE,
      version_id text NOT NULL,
      seq integer NOT NULL,
      created_at timestamptz NOT NULL,
      key_krn text NOT NULL,
      encrypted_data_key bytea NOT NULL,
      sealed_value bytea NOT NULL,
      value_kind smallint NOT NULL,
      PRIMARY KEY (secret_id, version_id),
      UNIQUE (secret_id, seq)
    );

    -- A label is on at most one version of a secret (the primary key says so).
    CREATE TABLE version_labels (
      secret_id text NOT NULL,
      label text NOT NULL,
      version_id text NOT NULL,
      position integer NOT NULL,
      PRIMARY KEY (secret_id, label),
      FOREIGN KEY (secret_id, version_id) REFERENCES secret_versions (secret_id, version_id) ON DELETE CASCADE
    );
    CREATE INDEX version_labels_by_version ON version_labels (secret_id, version_id);

    CREATE TABLE secret_tags (
      secret_id text NOT NULL REFERENCES secrets (secret_id) ON DELETE CASCADE,
      tag_key text NOT NULL,
      tag_value text NOT NULL,
      PRIMARY KEY (secret_id, tag_key)
    );
    CREATE INDEX secret_tags_by_key ON secret_tags (tag_key, tag_value);

    CREATE TABLE default_keys (
      account_id text PRIMARY KEY,
      key_krn text NOT NULL
    );

    CREATE TABLE api_key_retirements (
      api_key_id text PRIMARY KEY,
      secret_id text NOT NULL,
      account_id text NOT NULL,
      principal_krn text NOT NULL,
      disable_at timestamptz NOT NULL
    );
    CREATE INDEX api_key_retirements_due ON api_key_retirements (disable_at);
    `,
  },
];
