#!/usr/bin/env bash
# One database and one role per component (database-per-service).
#
# Run once by the postgres image's entrypoint, on the first start with an empty data
# volume (mounted into /docker-entrypoint-initdb.d/). Changing a password afterwards
# needs ALTER ROLE by hand (or a fresh volume): this script does not run again.
#
# Each role owns its database (so on PostgreSQL 15+ it also owns the `public` schema
# there and can run its own Alembic migrations), and CONNECT is revoked from PUBLIC on
# every database, so a component's role cannot open another component's database
# (nor the `postgres` maintenance database).
#
# Passwords come from the container environment (see docker-compose.yml); the compose
# file passes the same values to the components inside their DATABASE_URLs.
set -eo pipefail

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v participants_password="${TREMPLIN_PARTICIPANTS_DB_PASSWORD:?TREMPLIN_PARTICIPANTS_DB_PASSWORD is not set}" \
    -v matching_password="${TREMPLIN_MATCHING_DB_PASSWORD:?TREMPLIN_MATCHING_DB_PASSWORD is not set}" \
    -v clauses_password="${TREMPLIN_CLAUSES_DB_PASSWORD:?TREMPLIN_CLAUSES_DB_PASSWORD is not set}" \
    -v funding_password="${TREMPLIN_FUNDING_DB_PASSWORD:?TREMPLIN_FUNDING_DB_PASSWORD is not set}" \
    -v gateway_password="${TREMPLIN_GATEWAY_DB_PASSWORD:?TREMPLIN_GATEWAY_DB_PASSWORD is not set}" \
    <<'EOSQL'
-- psql interpolates :'name' as a properly quoted literal (the heredoc is not shell-expanded).

CREATE ROLE participants LOGIN PASSWORD :'participants_password';
CREATE DATABASE participants OWNER participants;
REVOKE CONNECT, TEMPORARY ON DATABASE participants FROM PUBLIC;

CREATE ROLE matching LOGIN PASSWORD :'matching_password';
CREATE DATABASE matching OWNER matching;
REVOKE CONNECT, TEMPORARY ON DATABASE matching FROM PUBLIC;

CREATE ROLE clauses LOGIN PASSWORD :'clauses_password';
CREATE DATABASE clauses OWNER clauses;
REVOKE CONNECT, TEMPORARY ON DATABASE clauses FROM PUBLIC;

CREATE ROLE funding LOGIN PASSWORD :'funding_password';
CREATE DATABASE funding OWNER funding;
REVOKE CONNECT, TEMPORARY ON DATABASE funding FROM PUBLIC;

CREATE ROLE gateway LOGIN PASSWORD :'gateway_password';
CREATE DATABASE gateway OWNER gateway;
REVOKE CONNECT, TEMPORARY ON DATABASE gateway FROM PUBLIC;

-- The maintenance database stays reachable by the superuser only.
REVOKE CONNECT, TEMPORARY ON DATABASE postgres FROM PUBLIC;
EOSQL
