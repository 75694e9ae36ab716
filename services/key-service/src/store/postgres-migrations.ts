// Versioned migrations of key-service's PostgreSQL schema (key_service), applied by
// @keyhold/postgres's migrate() under an advisory lock, so replicas starting together apply each
// once. The tables mirror the SQLite store's (same names and meaning): times are timestamptz
// (millisecond Dates round-trip exactly), enums the protobuf numbers, wrapped material bytea;
// text sort keys page in byte order (COLLATE "C"), as SQLite's.
// Never edit a released migration: append a new one.
import type { Migration } from "@keyhold/postgres";

export const KEY_SERVICE_SCHEMA = "key_service";

export const POSTGRES_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "keys, versions, aliases, tags, idempotency, import tokens, external key stores",
    sql: `
      CREATE TABLE external_key_stores (
        external_key_store_id text PRIMARY KEY,
        account_id text NOT NULL,
        name text NOT NULL,
        endpoint text NOT NULL,
        uri_path text NOT NULL,
        access_key_id text NOT NULL,
        wrapped_secret_access_key bytea NOT NULL,
        tls_ca_pem text NOT NULL,
        tls_client_certificate_pem text NOT NULL,
        wrapped_tls_client_key bytea NOT NULL,
        tls_server_name text NOT NULL,
        connection_state integer NOT NULL,
        connection_error_code integer NOT NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        UNIQUE (account_id, name)
      );
      CREATE INDEX external_key_stores_by_account ON external_key_stores (account_id, external_key_store_id COLLATE "C");

      CREATE TABLE keys (
        key_id text PRIMARY KEY,
        account_id text NOT NULL,
        description text NOT NULL,
        key_spec integer NOT NULL,
        key_usage integer NOT NULL,
        origin integer NOT NULL,
        key_manager integer NOT NULL,
        state integer NOT NULL,
        created_at timestamptz NOT NULL,
        primary_version_id text NOT NULL,
        deletion_date timestamptz,
        rotation_period_days integer NOT NULL DEFAULT 0,
        next_rotation_at timestamptz,
        deletion_protection boolean NOT NULL DEFAULT false,
        material_expires_at timestamptz,
        imported_material_digest bytea,
        external_key_store_id text REFERENCES external_key_stores (external_key_store_id),
        xks_key_id text
      );
      CREATE INDEX keys_by_account ON keys (account_id, key_id COLLATE "C");
      CREATE INDEX keys_rotation_due ON keys (next_rotation_at) WHERE next_rotation_at IS NOT NULL;
      CREATE INDEX keys_deletion_due ON keys (deletion_date) WHERE deletion_date IS NOT NULL;
      CREATE INDEX keys_material_expiry ON keys (material_expires_at) WHERE material_expires_at IS NOT NULL;
      CREATE INDEX keys_by_external_key_store ON keys (external_key_store_id) WHERE external_key_store_id IS NOT NULL;

      CREATE TABLE key_versions (
        version_id text PRIMARY KEY,
        key_id text NOT NULL REFERENCES keys (key_id),
        account_id text NOT NULL,
        wrapped_material bytea NOT NULL,
        wrapped_by text NOT NULL,
        created_at timestamptz NOT NULL,
        source integer NOT NULL,
        public_key bytea
      );
      CREATE INDEX key_versions_by_key_created ON key_versions (key_id, created_at, version_id COLLATE "C");

      CREATE TABLE aliases (
        account_id text NOT NULL,
        alias_name text NOT NULL,
        target_key_id text NOT NULL REFERENCES keys (key_id),
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        PRIMARY KEY (account_id, alias_name)
      );
      CREATE INDEX aliases_by_account ON aliases (account_id, alias_name COLLATE "C");
      CREATE INDEX aliases_by_key ON aliases (target_key_id, alias_name COLLATE "C");

      CREATE TABLE key_tags (
        key_id text NOT NULL REFERENCES keys (key_id),
        tag_key text NOT NULL,
        tag_value text NOT NULL,
        PRIMARY KEY (key_id, tag_key)
      );

      CREATE TABLE idempotency (
        account_id text NOT NULL,
        operation text NOT NULL,
        token text NOT NULL,
        request_hash text NOT NULL,
        resource_id text NOT NULL,
        created_at timestamptz NOT NULL,
        PRIMARY KEY (account_id, operation, token)
      );

      CREATE TABLE import_tokens (
        token_id text PRIMARY KEY,
        account_id text NOT NULL,
        key_id text NOT NULL REFERENCES keys (key_id),
        wrapping_algorithm integer NOT NULL,
        wrapping_key_spec integer NOT NULL,
        wrapped_private_key bytea NOT NULL,
        created_at timestamptz NOT NULL,
        expires_at timestamptz NOT NULL
      );
      CREATE INDEX import_tokens_by_key ON import_tokens (key_id);
      CREATE INDEX import_tokens_by_expiry ON import_tokens (expires_at);
    `,
  },
];
