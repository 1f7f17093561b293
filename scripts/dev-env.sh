#!/usr/bin/env bash
# Runs CMD in the development environment: `npm run dev` runs the hub in it, and `npm run trm`,
# `npm run demo` and `npm run migrate` act on the same data.
#   DATABASE_URL           the Postgres of scripts/services.sh, database trm_dev (created if missing),
#                          never the server's `postgres` database the tests use
#   REDIS_URL              the Redis of scripts/services.sh, database 1 (the tests use 0)
#   DATABASE_SCHEMA        trm_dev
#   HUB_SIGNING_KEYS_FILE  .data/hub-signing-keys.json (the dev hub creates it on its first start)
#   WEBHOOK_ALLOW_LOOPBACK true (webhooks to http://127.0.0.1 for trying push delivery)
# A variable already set in the environment is kept as it is (DATABASE_URL and REDIS_URL included).
set -euo pipefail

if [ $# -eq 0 ]; then
  echo "usage: $0 CMD [ARGS...]" >&2
  exit 2
fi

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
own_database=${DATABASE_URL:-}
own_redis=${REDIS_URL:-}

urls=$("$REPO/scripts/services.sh")
while IFS= read -r line; do
  case $line in
    DATABASE_URL=* | REDIS_URL=*)
      # shellcheck disable=SC2163 # exports the NAME=value that $line holds
      export "$line"
      ;;
  esac
done <<<"$urls"

if [ -z "$own_database" ]; then
  # services.sh answers postgres://user@host:port/postgres: same server, the dev database
  export DATABASE_URL="${DATABASE_URL%/*}/trm_dev"
  node "$REPO/scripts/dev-database.mjs" "$DATABASE_URL"
fi
if [ -z "$own_redis" ]; then
  export REDIS_URL="${REDIS_URL%/}/1"
fi
export DATABASE_SCHEMA="${DATABASE_SCHEMA:-trm_dev}"
export HUB_SIGNING_KEYS_FILE="${HUB_SIGNING_KEYS_FILE:-$REPO/.data/hub-signing-keys.json}"
export WEBHOOK_ALLOW_LOOPBACK="${WEBHOOK_ALLOW_LOOPBACK:-true}"
exec "$@"
