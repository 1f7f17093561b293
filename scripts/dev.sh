#!/usr/bin/env bash
# Development: migrations, then the API and the worker in one terminal with readable logs.
# Run through scripts/dev-env.sh (npm run dev), which provides the development database, Redis and
# key file; with HUB_SIGNING_KEYS_GENERATE the key file is created on the first start.
set -euo pipefail
cd "$(dirname "$0")/.."
export HUB_SIGNING_KEYS_GENERATE="${HUB_SIGNING_KEYS_GENERATE:-true}"
export LOG_PRETTY="${LOG_PRETTY:-true}"
echo "dev: Postgres ${DATABASE_URL##*@} schema $DATABASE_SCHEMA, Redis ${REDIS_URL##*@}, keys $HUB_SIGNING_KEYS_FILE" >&2
npx tsx src/cli.ts migrate
npx tsx src/worker.ts &
worker=$!
trap 'kill $worker 2>/dev/null; wait $worker 2>/dev/null' EXIT INT TERM
npx tsx src/server.ts
