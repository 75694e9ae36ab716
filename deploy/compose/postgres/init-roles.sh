#!/bin/sh
# Runs once, when the PostgreSQL volume is new (docker-entrypoint-initdb.d): one login role per
# Keyhold service, each owning the schema named after it (key_service, secrets_service,
# policy_service, audit_service) and allowed nothing else, so services never read each other's
# tables. Passwords come from the environment compose.yaml hands in.
set -eu
for service in key_service secrets_service policy_service audit_service; do
  var=$(echo "$service" | tr 'a-z' 'A-Z')_DB_PASSWORD
  password=$(printenv "$var")
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v role="$service" -v password="$password" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password';
CREATE SCHEMA :"role" AUTHORIZATION :"role";
ALTER ROLE :"role" SET search_path = :"role";
REVOKE ALL ON SCHEMA public FROM :"role";
SQL
done
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -c 'REVOKE CREATE ON SCHEMA public FROM PUBLIC'
