// Versioned schema migrations for the SQLite store, applied in order; PRAGMA user_version
// records how far a database has come. Never edit a released migration: append a new one.
export const SQLITE_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE secrets (
    secret_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    secret_type INTEGER NOT NULL,
    kms_key_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    rotation_enabled INTEGER NOT NULL,
    rotation_interval_seconds INTEGER NOT NULL,
    rotation_handler_url TEXT NOT NULL,
    last_rotated_at INTEGER,
    next_rotation_at INTEGER,
    rotation_token TEXT,
    rotation_lease_until INTEGER,
    last_rotation_error TEXT NOT NULL,
    deletion_date INTEGER,
    api_key_principal_krn TEXT NOT NULL,
    api_key_grace_period_seconds INTEGER NOT NULL,
    UNIQUE (account_id, name)
  ) STRICT;
  CREATE INDEX secrets_due_rotation ON secrets (next_rotation_at) WHERE rotation_enabled = 1;
  CREATE INDEX secrets_due_purge ON secrets (deletion_date) WHERE deletion_date IS NOT NULL;

  CREATE TABLE secret_versions (
    secret_id TEXT NOT NULL REFERENCES secrets (secret_id) ON DELETE CASCADE,
    version_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    key_krn TEXT NOT NULL,
    encrypted_data_key BLOB NOT NULL,
    sealed_value BLOB NOT NULL,
    value_kind INTEGER NOT NULL,
    PRIMARY KEY (secret_id, version_id)
  ) STRICT;
  CREATE INDEX secret_versions_by_seq ON secret_versions (secret_id, seq);

  CREATE TABLE version_labels (
    secret_id TEXT NOT NULL,
    label TEXT NOT NULL,
    version_id TEXT NOT NULL,
    PRIMARY KEY (secret_id, label),
    FOREIGN KEY (secret_id, version_id) REFERENCES secret_versions (secret_id, version_id) ON DELETE CASCADE
  ) STRICT;

  CREATE TABLE secret_tags (
    secret_id TEXT NOT NULL REFERENCES secrets (secret_id) ON DELETE CASCADE,
    tag_key TEXT NOT NULL,
    tag_value TEXT NOT NULL,
    PRIMARY KEY (secret_id, tag_key)
  ) STRICT;

  CREATE TABLE default_keys (
    account_id TEXT PRIMARY KEY,
    key_krn TEXT NOT NULL
  ) STRICT;

  CREATE TABLE api_key_retirements (
    secret_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    principal_krn TEXT NOT NULL,
    api_key_id TEXT NOT NULL,
    disable_at INTEGER NOT NULL,
    PRIMARY KEY (api_key_id)
  ) STRICT;
  CREATE INDEX api_key_retirements_due ON api_key_retirements (disable_at);
  `,
];
