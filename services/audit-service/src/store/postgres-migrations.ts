// Versioned migrations of the PostgreSQL store, in schema audit_service (applied by
// @keyhold/postgres's migrate, once, by whichever replica starts first). Never edit a released
// migration: append a new one. The tables mirror the SQLite store's (migrations.ts).
import type { Migration } from "@keyhold/postgres";

export const POSTGRES_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "audit log",
    sql: `
    -- The append lock: every append and checkpoint store of every replica first locks this one
    -- row (SELECT ... FOR UPDATE), so they serialise and the chain never forks.
    CREATE TABLE log_head (
      id integer PRIMARY KEY CHECK (id = 1)
    );
    INSERT INTO log_head (id) VALUES (1);

    -- The log: one row per record, never updated; rows below the retained start are deleted by
    -- retention only. The columns after chain_hash are copies of the event's fields for lookups.
    CREATE TABLE records (
      idx bigint PRIMARY KEY CHECK (idx >= 0),
      event bytea NOT NULL,
      leaf_hash bytea NOT NULL,
      chain_hash bytea NOT NULL,
      appended_at bigint NOT NULL,
      event_id text NOT NULL,
      time_us bigint NOT NULL,
      account_id text NOT NULL,
      principal_krn text NOT NULL,
      action text NOT NULL,
      resource text NOT NULL,
      outcome_code integer NOT NULL,
      outcome_reason text NOT NULL,
      source text NOT NULL,
      source_sequence bigint NOT NULL
    );
    CREATE INDEX records_by_event_id ON records (event_id, idx);
    CREATE INDEX records_by_time ON records (time_us, idx);
    CREATE INDEX records_by_account ON records (account_id, time_us, idx);
    CREATE INDEX records_by_principal ON records (principal_krn, time_us, idx);
    CREATE INDEX records_by_resource ON records (resource, time_us, idx);

    -- Exactly-once delivery: the last source_sequence of each outbox that is in the log,
    -- updated in the same transaction as the records it covers.
    CREATE TABLE sources (
      source text PRIMARY KEY,
      acknowledged_through bigint NOT NULL,
      updated_at bigint NOT NULL
    );

    -- Signed checkpoints, each with the Merkle frontier at its size (32-byte perfect-subtree
    -- roots, largest first, concatenated).
    CREATE TABLE checkpoints (
      tree_size bigint PRIMARY KEY,
      root_hash bytea NOT NULL,
      chain_hash bytea NOT NULL,
      time_seconds bigint NOT NULL,
      time_nanos integer NOT NULL,
      key_id text NOT NULL,
      signature bytea NOT NULL,
      frontier bytea NOT NULL
    );
    CREATE INDEX checkpoints_by_time ON checkpoints (time_seconds, tree_size);

    -- retained_start: the tree size of the checkpoint the retained log starts at (0: nothing pruned).
    CREATE TABLE meta (
      name text PRIMARY KEY,
      value text NOT NULL
    );
    `,
  },
];
