#!/usr/bin/env bash
# Makes Debian's Chromium available for the browser tests (test/browser/) and prints its path on
# stdout. Installs the `chromium` package when /usr/bin/chromium is missing (as root, or with sudo).
# Exits 1, saying why on stderr, when it is missing and cannot be installed.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
log() { echo "chromium.sh: $*" >&2; }

if [ ! -x "$CHROMIUM" ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    log "$CHROMIUM is missing and there is no apt-get to install it"
    exit 1
  fi
  as_root=()
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      as_root=(sudo -n)
    else
      log "$CHROMIUM is missing and installing it needs root"
      exit 1
    fi
  fi
  log "installing Debian's chromium"
  {
    "${as_root[@]}" apt-get update -qq &&
      "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
  } >&2 || {
    log "apt-get could not install chromium"
    exit 1
  }
  [ -x "$CHROMIUM" ] || {
    log "chromium installed but $CHROMIUM is not there"
    exit 1
  }
fi
echo "$CHROMIUM"
