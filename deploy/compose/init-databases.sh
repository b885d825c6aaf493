#!/usr/bin/env bash
# Run once by the postgres image on a fresh volume (/docker-entrypoint-initdb.d): one
# database and one role per OMS service, the same set as deploy/local/stack creates
# (tests/test_compose.py checks they agree). Passwords: OMS_<SVC>_DB_PASSWORD.
set -euo pipefail

SERVICES=(order inventory orchestration shipping notification analytics)

for svc in "${SERVICES[@]}"; do
    password_var="OMS_${svc^^}_DB_PASSWORD"
    password="${!password_var:-oms_$svc}"
    psql -v ON_ERROR_STOP=1 -X -q --username "$POSTGRES_USER" --dbname "${POSTGRES_DB:-postgres}" \
        -v name="oms_$svc" -v password="$password" <<'SQL'
SELECT format('CREATE ROLE %I', :'name')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'name')
\gexec
SELECT format('ALTER ROLE %I WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD %L',
              :'name', :'password')
\gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'name', :'name')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'name')
\gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'name')
\gexec
SELECT format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO %I', :'name', :'name')
\gexec
SQL
    echo "init-databases: database and role oms_$svc"
done
