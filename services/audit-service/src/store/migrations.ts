// Versioned schema migrations for the SQLite store, applied in order; PRAGMA user_version
// records how far a database has come. Never edit a released migration: append a new one.
export const SQLITE_MIGRATIONS: readonly string[] = [
  `
  -- The log: one row per record, never updated; rows below the retained start are deleted by
  -- retention only. The columns after chain_hash are copies of the event's fields for lookups.
  CREATE TABLE records (
    idx INTEGER PRIMARY KEY,
    event BLOB NOT NULL,
    leaf_hash BLOB NOT NULL,
    chain_hash BLOB NOT NULL,
    appended_at INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    time_us INTEGER NOT NULL,
    account_id TEXT NOT NULL,
    principal_krn TEXT NOT NULL,
    action TEXT NOT NULL,
    resource TEXT NOT NULL,
    outcome_code INTEGER NOT NULL,
    outcome_reason TEXT NOT NULL,
    source TEXT NOT NULL,
    source_sequence INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX records_by_event_id ON records (event_id, idx);
  CREATE INDEX records_by_time ON records (time_us, idx);
  CREATE INDEX records_by_account ON records (account_id, time_us, idx);
  CREATE INDEX records_by_principal ON records (principal_krn, time_us, idx);
  CREATE INDEX records_by_resource ON records (resource, time_us, idx);

  -- Exactly-once delivery: the last source_sequence of each outbox that is in the log,
  -- updated in the same transaction as the records it covers.
  CREATE TABLE sources (
    source TEXT PRIMARY KEY,
    acknowledged_through INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  ) STRICT;

  -- Signed checkpoints, each with the Merkle frontier at its size (the perfect-subtree roots,
  -- 32 bytes each, largest first) so later roots and consistency proofs need no older records.
  CREATE TABLE checkpoints (
    tree_size INTEGER PRIMARY KEY,
    root_hash BLOB NOT NULL,
    chain_hash BLOB NOT NULL,
    time_seconds INTEGER NOT NULL,
    time_nanos INTEGER NOT NULL,
    key_id TEXT NOT NULL,
    signature BLOB NOT NULL,
    frontier BLOB NOT NULL
  ) STRICT;
  CREATE INDEX checkpoints_by_time ON checkpoints (time_seconds, tree_size);

  -- retained_start: the tree size of the checkpoint the retained log starts at (0: nothing pruned).
  CREATE TABLE meta (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
  ) STRICT;
  `,
];
