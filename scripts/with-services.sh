#!/usr/bin/env bash
# Runs CMD with DATABASE_URL and REDIS_URL pointing at Postgres and Redis that answer
# (see services.sh for where they come from).
set -euo pipefail

if [ $# -eq 0 ]; then
  echo "usage: $0 CMD [ARGS...]" >&2
  exit 2
fi

urls=$("$(dirname "${BASH_SOURCE[0]}")/services.sh")
while IFS= read -r line; do
  case $line in
    DATABASE_URL=* | REDIS_URL=*)
      # shellcheck disable=SC2163 # exports the NAME=value that $line holds
      export "$line"
      ;;
  esac
done <<<"$urls"
exec "$@"
