#!/usr/bin/env bash
# `npm run trm -- <command>`: the trm command from the sources, in the directory npm was started
# from (so `--jwks ./public.jwks.json` means the file there), with the repository's TypeScript setup.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "${INIT_CWD:-$PWD}"
exec "$REPO/node_modules/.bin/tsx" --tsconfig "$REPO/tsconfig.json" "$REPO/src/cli.ts" "$@"
