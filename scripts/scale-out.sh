#!/usr/bin/env bash
# Scale-out on one machine, as it would run across several: Prefect's API on PostgreSQL in
# two processes and its services in a third, events through Redis; phoihop's database on
# PostgreSQL; two process workers pulling from one work pool; the portal in two processes.
# Ctrl-C stops everything.
#
#   scripts/scale-out.sh [AGREEMENT.yaml ...]
#
# Needs: `make` run once (the .venv), a PostgreSQL server (PG_HOST/PG_USER, default
# postgres@127.0.0.1) and Redis (PHOIHOP_REDIS_URL, default redis://127.0.0.1:6379/0).
# Creates the databases `phoihop` and `prefect` when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PG_HOST=${PG_HOST:-127.0.0.1}
PG_USER=${PG_USER:-postgres}
PORT=${PREFECT_PORT:-4300}
DATA=${PHOIHOP_DATA_DIR:-$HOME/.local/share/phoihop}/scale-out
mkdir -p "$DATA"
for db in phoihop prefect; do
  psql -h "$PG_HOST" -U "$PG_USER" -d postgres -tAc "select 1 from pg_database where datname='$db'" \
    | grep -q 1 || psql -h "$PG_HOST" -U "$PG_USER" -d postgres -qc "create database $db"
done
export PHOIHOP_DATA_DIR="$DATA"
export PHOIHOP_DATABASE_URL="postgresql://$PG_USER@$PG_HOST/phoihop"
export PHOIHOP_SYNC_CONCURRENCY=${PHOIHOP_SYNC_CONCURRENCY:-4}
export PREFECT_API_DATABASE_CONNECTION_URL="postgresql+asyncpg://$PG_USER@$PG_HOST/prefect"
.venv/bin/phoihop db upgrade
exec .venv/bin/phoihop up --port "$PORT" --api-workers 2 --workers 2 --portal-workers 2 "$@"
