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
  // 2: key versions and rotation, deletion protection and the purge schedule, asymmetric public
  // keys, imported key material (expiry, a commitment to the material, import tokens).
  `
  ALTER TABLE keys ADD COLUMN rotation_period_days INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE keys ADD COLUMN next_rotation_at INTEGER;
  ALTER TABLE keys ADD COLUMN deletion_protection INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE keys ADD COLUMN material_expires_at INTEGER;
  ALTER TABLE keys ADD COLUMN imported_material_digest BLOB;
  CREATE INDEX keys_rotation_due ON keys (next_rotation_at) WHERE next_rotation_at IS NOT NULL;
  CREATE INDEX keys_deletion_due ON keys (deletion_date) WHERE deletion_date IS NOT NULL;
  CREATE INDEX keys_material_expiry ON keys (material_expires_at) WHERE material_expires_at IS NOT NULL;
  ALTER TABLE key_versions ADD COLUMN source INTEGER NOT NULL DEFAULT 1;
  ALTER TABLE key_versions ADD COLUMN public_key BLOB;
  CREATE INDEX key_versions_by_key_created ON key_versions (key_id, created_at, version_id);
  CREATE TABLE import_tokens (
    token_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    key_id TEXT NOT NULL REFERENCES keys (key_id),
    wrapping_algorithm INTEGER NOT NULL,
    wrapping_key_spec INTEGER NOT NULL,
    wrapped_private_key BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX import_tokens_by_key ON import_tokens (key_id);
  `,
  // 3: external key stores (XKS proxies) and the external key of EXTERNAL_KEY_STORE keys.
  `
  CREATE TABLE external_key_stores (
    external_key_store_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    name TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    uri_path TEXT NOT NULL,
    access_key_id TEXT NOT NULL,
    wrapped_secret_access_key BLOB NOT NULL,
    tls_ca_pem TEXT NOT NULL,
    tls_client_certificate_pem TEXT NOT NULL,
    wrapped_tls_client_key BLOB NOT NULL,
    tls_server_name TEXT NOT NULL,
    connection_state INTEGER NOT NULL,
    connection_error_code INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  ) STRICT;
  CREATE UNIQUE INDEX external_key_stores_by_name ON external_key_stores (account_id, name);
  CREATE INDEX external_key_stores_by_account ON external_key_stores (account_id, external_key_store_id);
  ALTER TABLE keys ADD COLUMN external_key_store_id TEXT REFERENCES external_key_stores (external_key_store_id);
  ALTER TABLE keys ADD COLUMN xks_key_id TEXT;
  CREATE INDEX keys_by_external_key_store ON keys (external_key_store_id) WHERE external_key_store_id IS NOT NULL;
  `,
];
