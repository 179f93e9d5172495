#!/bin/sh
# The two roles of docs/operations.md#database-roles-and-row-level-security, made when the
# compose stack's PostgreSQL starts on an empty volume. Passwords come from deploy/.env.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v owner_pw="$PORTAL_OWNER_PASSWORD" -v app_pw="$PORTAL_APP_PASSWORD" <<'SQL'
CREATE ROLE portal_owner LOGIN PASSWORD :'owner_pw' NOSUPERUSER NOBYPASSRLS;
CREATE ROLE portal_app LOGIN PASSWORD :'app_pw' NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
ALTER DATABASE portal OWNER TO portal_owner;
ALTER SCHEMA public OWNER TO portal_owner;
SET ROLE portal_owner;
GRANT USAGE ON SCHEMA public TO portal_app;
ALTER DEFAULT PRIVILEGES FOR ROLE portal_owner IN SCHEMA public
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO portal_app;
ALTER DEFAULT PRIVILEGES FOR ROLE portal_owner IN SCHEMA public
  GRANT USAGE, SELECT ON SEQUENCES TO portal_app;
SQL
