// Versioned schema migrations, applied in order: for the SQLite store (PRAGMA user_version
// records how far a database has come) and for the PostgreSQL store (schema policy_service;
// schema_migrations records it, see @keyhold/postgres). Never edit a released migration: append
// a new one. The two schemas hold the same data: text keys compare byte-wise in both (COLLATE
// "C" in PostgreSQL, as SQLite's BINARY), so paging orders agree; times are timestamptz (ms
// precision is all that is stored) where SQLite keeps epoch milliseconds.
import type { Migration } from "@keyhold/postgres";
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

/** The PostgreSQL schema name (KEYHOLD_DATABASE_URL deployments). */
export const POSTGRES_SCHEMA = "policy_service";

export const POSTGRES_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "policy store",
    sql: `
  CREATE TABLE change_sequence (
    id integer PRIMARY KEY CHECK (id = 1),
    value bigint NOT NULL
  );
  INSERT INTO change_sequence (id, value) VALUES (1, 0);

  CREATE TABLE accounts (
    account_id text COLLATE "C" PRIMARY KEY,
    name text NOT NULL,
    created_at timestamptz NOT NULL
  );

  CREATE TABLE principals (
    krn text COLLATE "C" PRIMARY KEY,
    account_id text COLLATE "C" NOT NULL REFERENCES accounts (account_id),
    type text NOT NULL CHECK (type IN ('user', 'role')),
    name text NOT NULL,
    trust_policy text,
    created_at timestamptz NOT NULL
  );
  CREATE INDEX principals_by_account ON principals (account_id, krn);

  -- principal_krn has no foreign key: an account's root principal is implicit.
  CREATE TABLE api_keys (
    api_key_id text COLLATE "C" PRIMARY KEY,
    principal_krn text COLLATE "C" NOT NULL,
    account_id text COLLATE "C" NOT NULL REFERENCES accounts (account_id),
    description text NOT NULL,
    status text NOT NULL CHECK (status IN ('active', 'disabled')),
    created_at timestamptz NOT NULL,
    last_used_at timestamptz,
    secret_hash bytea NOT NULL CHECK (length(secret_hash) = 32)
  );
  CREATE INDEX api_keys_by_principal ON api_keys (principal_krn, api_key_id);

  CREATE TABLE policies (
    krn text COLLATE "C" PRIMARY KEY,
    account_id text COLLATE "C" NOT NULL REFERENCES accounts (account_id),
    name text NOT NULL,
    description text NOT NULL,
    document text NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
  );
  CREATE INDEX policies_by_account ON policies (account_id, krn);

  -- policy_krn has no foreign key: managed policies are not rows.
  CREATE TABLE attachments (
    principal_krn text COLLATE "C" NOT NULL,
    policy_krn text COLLATE "C" NOT NULL,
    attached_at timestamptz NOT NULL,
    seq bigint GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (principal_krn, policy_krn)
  );
  CREATE INDEX attachments_by_policy ON attachments (policy_krn);

  CREATE TABLE resource_policies (
    resource_krn text COLLATE "C" PRIMARY KEY,
    account_id text COLLATE "C" NOT NULL,
    document text NOT NULL,
    updated_at timestamptz NOT NULL
  );

  CREATE TABLE grants (
    grant_id text COLLATE "C" PRIMARY KEY,
    key_krn text COLLATE "C" NOT NULL,
    account_id text COLLATE "C" NOT NULL,
    grantee_principal text COLLATE "C" NOT NULL,
    retiring_principal text,
    operations text NOT NULL,
    constraints text,
    name text NOT NULL,
    issuing_principal text NOT NULL,
    token_hash bytea NOT NULL CHECK (length(token_hash) = 32),
    created_at timestamptz NOT NULL
  );
  CREATE INDEX grants_by_key ON grants (key_krn, grant_id);

  CREATE TABLE role_sessions (
    session_id text COLLATE "C" PRIMARY KEY,
    role_krn text COLLATE "C" NOT NULL,
    account_id text COLLATE "C" NOT NULL,
    session_name text NOT NULL,
    source_principal text NOT NULL,
    secret_hash bytea NOT NULL CHECK (length(secret_hash) = 32),
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
  );
  CREATE INDEX role_sessions_by_role ON role_sessions (role_krn);
  CREATE INDEX role_sessions_by_expiry ON role_sessions (expires_at);

  CREATE TABLE certificate_identities (
    san text COLLATE "C" PRIMARY KEY,
    type text NOT NULL CHECK (type IN ('uri', 'dns')),
    principal_krn text COLLATE "C" NOT NULL REFERENCES principals (krn),
    account_id text COLLATE "C" NOT NULL,
    created_at timestamptz NOT NULL
  );
  CREATE INDEX certificate_identities_by_principal ON certificate_identities (principal_krn, san);
  `,
  },
];
