#!/usr/bin/env bash
# Scale-out on one machine, as it would run across several: a Prefect server on
# PostgreSQL, phoihop's database on PostgreSQL, two process workers pulling from one
# work pool. Ctrl-C stops everything.
#
#   scripts/scale-out.sh [AGREEMENT.yaml ...]
#
# Needs: `make` run once (the .venv), a PostgreSQL server (PG_URL, default
# postgres@127.0.0.1:5432). Creates the databases `phoihop` and `prefect` when missing.
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
export PREFECT_HOME="$DATA/prefect"
export PREFECT_API_URL="http://127.0.0.1:$PORT/api"
export PREFECT_API_DATABASE_CONNECTION_URL="postgresql+asyncpg://$PG_USER@$PG_HOST/prefect"
export PREFECT_SERVER_ANALYTICS_ENABLED=false
export PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED=true
BIN=.venv/bin
pids=()
stop() { kill -INT "${pids[@]}" 2>/dev/null || true; wait || true; }
trap stop EXIT INT TERM
"$BIN/prefect" server start --host 127.0.0.1 --port "$PORT" --analytics-off >"$DATA/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 120); do curl -fs "$PREFECT_API_URL/health" >/dev/null && break; sleep 1; done
"$BIN/phoihop" db upgrade
[ $# -gt 0 ] && "$BIN/phoihop" import "$@"
"$BIN/python" -c "from flows.local import LocalStack; from config.settings import load_settings; \
s = LocalStack(load_settings(), $PORT); s.deploy()"
for n in 1 2; do
  "$BIN/prefect" worker start --pool phoihop --type process --name "phoihop-worker-$n" \
    >"$DATA/worker-$n.log" 2>&1 &
  pids+=($!)
done
"$BIN/phoihop" sync
echo "Prefect UI: http://127.0.0.1:$PORT — two workers on pool 'phoihop'; logs in $DATA. Ctrl-C stops."
wait
