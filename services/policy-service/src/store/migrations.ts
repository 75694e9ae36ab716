// Versioned schema migrations for the SQLite store, applied in order; PRAGMA user_version
// records how far a database has come. Never edit a released migration: append a new one.
export const SQLITE_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE change_sequence (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    value INTEGER NOT NULL
  ) STRICT;
  INSERT INTO change_sequence (id, value) VALUES (1, 0);

  CREATE TABLE accounts (
    account_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL
  ) STRICT;

  CREATE TABLE principals (
    krn TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (account_id),
    type TEXT NOT NULL CHECK (type IN ('user', 'role')),
    name TEXT NOT NULL,
    trust_policy TEXT,
    created_at INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX principals_by_account ON principals (account_id, krn);

  -- principal_krn has no foreign key: an account's root principal is implicit.
  CREATE TABLE api_keys (
    api_key_id TEXT PRIMARY KEY,
    principal_krn TEXT NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (account_id),
    description TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
    created_at INTEGER NOT NULL,
    last_used_at INTEGER,
    secret_hash BLOB NOT NULL CHECK (length(secret_hash) = 32)
  ) STRICT;
  CREATE INDEX api_keys_by_principal ON api_keys (principal_krn, api_key_id);

  CREATE TABLE policies (
    krn TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (account_id),
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    document TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX policies_by_account ON policies (account_id, krn);

  -- policy_krn has no foreign key: managed policies are not rows.
  CREATE TABLE attachments (
    principal_krn TEXT NOT NULL,
    policy_krn TEXT NOT NULL,
    attached_at INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (principal_krn, policy_krn)
  ) STRICT;
  CREATE INDEX attachments_by_policy ON attachments (policy_krn);

  CREATE TABLE resource_policies (
    resource_krn TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    document TEXT NOT NULL,
    updated_at INTEGER NOT NULL
  ) STRICT;

  CREATE TABLE grants (
    grant_id TEXT PRIMARY KEY,
    key_krn TEXT NOT NULL,
    account_id TEXT NOT NULL,
    grantee_principal TEXT NOT NULL,
    retiring_principal TEXT,
    operations TEXT NOT NULL,
    constraints TEXT,
    name TEXT NOT NULL,
    issuing_principal TEXT NOT NULL,
    token_hash BLOB NOT NULL CHECK (length(token_hash) = 32),
    created_at INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX grants_by_key ON grants (key_krn, grant_id);

  CREATE TABLE role_sessions (
    session_id TEXT PRIMARY KEY,
    role_krn TEXT NOT NULL,
    account_id TEXT NOT NULL,
    session_name TEXT NOT NULL,
    source_principal TEXT NOT NULL,
    secret_hash BLOB NOT NULL CHECK (length(secret_hash) = 32),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX role_sessions_by_role ON role_sessions (role_krn);
  CREATE INDEX role_sessions_by_expiry ON role_sessions (expires_at);
  `,
  // 2: client certificate identities (SANs) of users and roles.
  `
  CREATE TABLE certificate_identities (
    san TEXT PRIMARY KEY,
    type TEXT NOT NULL CHECK (type IN ('uri', 'dns')),
    principal_krn TEXT NOT NULL REFERENCES principals (krn),
    account_id TEXT NOT NULL,
    created_at INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX certificate_identities_by_principal ON certificate_identities (principal_krn, san);
  `,
];
