#!/bin/sh
# Runs once, when the PostgreSQL volume is new (docker-entrypoint-initdb.d): one login role per
# Keyhold service, each owning the schema named after it (key_service, secrets_service,
# policy_service, audit_service) and allowed nothing else, so services never read each other's
# tables. Each may also create schemas (CREATE on the database), so that a migration's
# `CREATE SCHEMA IF NOT EXISTS <its schema>` works, which PostgreSQL checks against the database
# even when the schema exists. Passwords come from the environment compose.yaml hands in.
set -eu
for service in key_service secrets_service policy_service audit_service; do
  var=$(echo "$service" | tr 'a-z' 'A-Z')_DB_PASSWORD
  password=$(printenv "$var")
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v role="$service" -v password="$password" -v db="$POSTGRES_DB" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password';
GRANT CONNECT, CREATE ON DATABASE :"db" TO :"role";
CREATE SCHEMA :"role" AUTHORIZATION :"role";
ALTER ROLE :"role" SET search_path = :"role";
REVOKE ALL ON SCHEMA public FROM :"role";
SQL
done
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -c 'REVOKE CREATE ON SCHEMA public FROM PUBLIC'
