#!/usr/bin/env bash
# Scale-out on one machine, as it would run across several: Prefect's API on PostgreSQL in
# two processes and its services in a third, events through Redis; phoihop's database on
# PostgreSQL; two process workers pulling from one work pool; the portal in two processes.
# `phoihop up` keeps them running (a worker, the services or the portal that stops is
# started again). Ctrl-C stops everything.
#
#   scripts/scale-out.sh [AGREEMENT.yaml ...]
#
# Needs: `make` run once (the .venv), a PostgreSQL server and Redis. Its settings, from the
# environment (defaults in brackets; docs/deploy.md):
#   PG_HOST [127.0.0.1], PG_PORT [5432], PG_USER [postgres]  the PostgreSQL server
#   PHOIHOP_DB [phoihop], PREFECT_DB [prefect]  database names, created when missing
#   PHOIHOP_REDIS_URL [redis://127.0.0.1:6379/0]  Redis (a database number per install)
#   PHOIHOP_PREFECT_PORT [4300], PHOIHOP_PORTAL_PORT [8600]  ports
#   PHOIHOP_DATA_DIR [~/.local/share/phoihop]  logs and keys go to <it>/scale-out-$PHOIHOP_DB
# Two installs side by side on one PostgreSQL server and one Redis: give each its own
# PHOIHOP_DB, PREFECT_DB, Redis database number and ports.
set -euo pipefail
cd "$(dirname "$0")/.."
PG_HOST=${PG_HOST:-127.0.0.1}
PG_PORT=${PG_PORT:-5432}
PG_USER=${PG_USER:-postgres}
PHOIHOP_DB=${PHOIHOP_DB:-phoihop}
PREFECT_DB=${PREFECT_DB:-prefect}
for name in "$PHOIHOP_DB" "$PREFECT_DB"; do
  [[ $name =~ ^[a-z_][a-z0-9_]*$ ]] || {
    echo "scale-out.sh: database name '$name' (PHOIHOP_DB/PREFECT_DB): use a-z, 0-9 and _" >&2
    exit 2
  }
done
DATA=${PHOIHOP_DATA_DIR:-$HOME/.local/share/phoihop}/scale-out-$PHOIHOP_DB
mkdir -p "$DATA"
for db in "$PHOIHOP_DB" "$PREFECT_DB"; do
  psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres -tAc \
    "select 1 from pg_database where datname='$db'" | grep -q 1 \
    || psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres -qc "create database $db"
done
export PHOIHOP_DATA_DIR="$DATA"
export PHOIHOP_DATABASE_URL="postgresql://$PG_USER@$PG_HOST:$PG_PORT/$PHOIHOP_DB"
export PHOIHOP_PREFECT_DATABASE_URL="postgresql+asyncpg://$PG_USER@$PG_HOST:$PG_PORT/$PREFECT_DB"
export PHOIHOP_PREFECT_PORT=${PHOIHOP_PREFECT_PORT:-4300}
export PHOIHOP_PORTAL_URL=${PHOIHOP_PORTAL_URL:-http://127.0.0.1:${PHOIHOP_PORTAL_PORT:-8600}}
export PHOIHOP_SYNC_CONCURRENCY=${PHOIHOP_SYNC_CONCURRENCY:-4}
.venv/bin/phoihop db upgrade
exec .venv/bin/phoihop up --api-workers 2 --workers 2 --portal-workers 2 "$@"
