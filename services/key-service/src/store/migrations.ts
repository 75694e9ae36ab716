// Versioned schema migrations for the SQLite store, applied in order; PRAGMA user_version
// records how far a database has come. Never edit a released migration: append a new one.
export const SQLITE_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE keys (
    key_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    description TEXT NOT NULL,
    key_spec INTEGER NOT NULL,
    key_usage INTEGER NOT NULL,
    origin INTEGER NOT NULL,
    key_manager INTEGER NOT NULL,
    state INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    primary_version_id TEXT NOT NULL,
    deletion_date INTEGER
  ) STRICT;
  CREATE INDEX keys_by_account ON keys (account_id, key_id);

  CREATE TABLE key_versions (
    version_id TEXT PRIMARY KEY,
    key_id TEXT NOT NULL REFERENCES keys (key_id),
    account_id TEXT NOT NULL,
    wrapped_material BLOB NOT NULL,
    wrapped_by TEXT NOT NULL,
    created_at INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX key_versions_by_key ON key_versions (key_id);

  CREATE TABLE aliases (
    account_id TEXT NOT NULL,
    alias_name TEXT NOT NULL,
    target_key_id TEXT NOT NULL REFERENCES keys (key_id),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, alias_name)
  ) STRICT;
  CREATE INDEX aliases_by_key ON aliases (target_key_id, alias_name);

  CREATE TABLE key_tags (
    key_id TEXT NOT NULL REFERENCES keys (key_id),
    tag_key TEXT NOT NULL,
    tag_value TEXT NOT NULL,
    PRIMARY KEY (key_id, tag_key)
  ) STRICT;

  CREATE TABLE idempotency (
    account_id TEXT NOT NULL,
    operation TEXT NOT NULL,
    token TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, operation, token)
  ) STRICT;
  `,
];
