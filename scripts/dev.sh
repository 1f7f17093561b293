#!/usr/bin/env bash
# Development: migrations, then the API and the worker in one terminal with readable logs.
# Run through scripts/with-services.sh (npm run dev), which provides DATABASE_URL and REDIS_URL.
set -euo pipefail
cd "$(dirname "$0")/.."
export DATABASE_SCHEMA="${DATABASE_SCHEMA:-trm_dev}"
export HUB_SIGNING_KEYS_FILE="${HUB_SIGNING_KEYS_FILE:-$PWD/.data/hub-signing-keys.json}"
export HUB_SIGNING_KEYS_GENERATE="${HUB_SIGNING_KEYS_GENERATE:-true}"
export WEBHOOK_ALLOW_LOOPBACK="${WEBHOOK_ALLOW_LOOPBACK:-true}"
export LOG_PRETTY="${LOG_PRETTY:-true}"
npx tsx src/cli.ts migrate
npx tsx src/worker.ts &
worker=$!
trap 'kill $worker 2>/dev/null; wait $worker 2>/dev/null' EXIT INT TERM
npx tsx src/server.ts
