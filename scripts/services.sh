#!/usr/bin/env bash
# Makes PostgreSQL and Redis available and prints, on stdout only:
#   DATABASE_URL=postgres://...
#   REDIS_URL=redis://...
# `services.sh stop` (npm run services:stop) stops the private servers of step 3 below, if running;
# their data stays under .data/ for the next start. It never touches servers it did not start.
# Each service is found independently, first that answers wins:
#   1. DATABASE_URL / REDIS_URL from the environment;
#   2. the standard loopback ports (postgres 127.0.0.1:5432 as user postgres with trust auth,
#      redis 127.0.0.1:6379); TRM_SERVICES_SKIP_STANDARD=1 skips this step, to exercise step 3
#      on a machine that already runs both;
#   3. private servers under $REPO/.data/ on 55432 and 56379, started if needed (reused when
#      already running), with Debian's packages installed when the binaries are missing.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Where and on which ports the private servers run; the variables are for tests of this script.
DATA=${TRM_SERVICES_DATA:-$REPO/.data}
PG_PORT=${TRM_SERVICES_PG_PORT:-55432}
REDIS_PORT=${TRM_SERVICES_REDIS_PORT:-56379}

# Everything but the two result lines goes to stderr, whatever prints it (apt-get, pg_ctl, ...).
exec 3>&1 1>&2

log() { echo "services.sh: $*" >&2; }
die() {
  log "$*"
  exit 1
}
have() { command -v "$1" >/dev/null 2>&1; }
is_root() { [ "$(id -u)" = 0 ]; }

as_root() {
  if is_root; then
    "$@"
  elif have sudo; then
    sudo "$@"
  else
    die "need root to run: $*"
  fi
}

apt_updated=
apt_install() {
  have apt-get || die "cannot install $* without apt-get"
  log "installing $*"
  if [ -z "$apt_updated" ]; then
    as_root apt-get update -qq
    apt_updated=1
  fi
  # a package's postinst may start a daemon: it must not keep our stdout or lock open
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" 3>&- 9<&-
}

# host and port of a URL, for the /dev/tcp fallback when no client is installed
url_host() {
  local rest=${1#*://}
  rest=${rest##*@}
  rest=${rest%%[/?]*}
  if [[ $rest == \[* ]]; then
    rest=${rest#\[}
    echo "${rest%%]*}"
  else
    echo "${rest%%:*}"
  fi
}
url_port() {
  local rest=${1#*://}
  rest=${rest##*@}
  rest=${rest%%[/?]*}
  rest=${rest##*]}
  if [[ $rest == *:* ]]; then echo "${rest##*:}"; else echo "$2"; fi
}

# shellcheck disable=SC2016 # $1 and $2 are the inner shell's arguments
tcp_open() { timeout 2 bash -c '>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null; }

pg_answers() {
  local url=$1
  if have psql; then
    PGCONNECT_TIMEOUT=2 psql "$url" -XAtqc 'select 1' >/dev/null 2>&1
  elif have pg_isready; then
    pg_isready -q -t 2 -d "$url"
  else
    tcp_open "$(url_host "$url")" "$(url_port "$url" 5432)"
  fi
}

redis_answers() {
  local url=$1 reply
  if have redis-cli; then
    reply=$(timeout 2 redis-cli -u "$url" ping 2>/dev/null) || return 1
    [ "$reply" = PONG ]
  else
    # RESP by hand: a server that wants a password still proves it is there with -NOAUTH
    # shellcheck disable=SC2016 # $1 and $2 are the inner shell's arguments
    reply=$(timeout 2 bash -c 'exec 4<>"/dev/tcp/$1/$2" && printf "PING\r\n" >&4 && head -c 7 <&4' \
      _ "$(url_host "$url")" "$(url_port "$url" 6379)" 2>/dev/null) || return 1
    [[ $reply == +PONG* || $reply == -NOAUTH* ]]
  fi
}

# Serialises step 3 between concurrent runs (flock on the directory itself leaves no file behind).
# Servers started under it must not inherit fd 9 (they would hold the lock for good) nor fd 3
# (a caller reading our stdout through a pipe would never see it close).
lock_data() {
  [ -n "${data_locked:-}" ] && return
  mkdir -p "$DATA"
  exec 9<"$DATA"
  flock -w 120 9 || die "timed out waiting for another services.sh"
  data_locked=1
}

pg_bindir() {
  local dir
  for dir in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V -r); do
    [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && echo "$dir" && return
  done
  have initdb && have pg_ctl && dirname "$(command -v initdb)"
}

start_private_postgres() {
  local url=postgres://postgres@127.0.0.1:$PG_PORT/postgres dir=$DATA/pg bin
  database_url=$url
  pg_answers "$url" && return
  lock_data
  pg_answers "$url" && return

  bin=$(pg_bindir) || true
  if [ -z "$bin" ] || ! have psql; then
    apt_install postgresql postgresql-client
    bin=$(pg_bindir) || die "no initdb/pg_ctl after installing postgresql"
  fi

  # initdb and postgres refuse to run as root
  local run=()
  if is_root; then run=(runuser -u postgres --); fi

  mkdir -p "$dir"
  if is_root; then
    chown postgres: "$dir"
    runuser -u postgres -- test -w "$dir" || die "user postgres cannot write $dir (a parent directory is closed to it)"
  fi
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    log "initialising postgres in $dir/data"
    "${run[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
      die "initdb failed, see $dir/initdb.log"
  fi
  log "starting postgres on 127.0.0.1:$PG_PORT"
  "${run[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $dir" start 3>&- 9<&- ||
    die "postgres did not start: $(tail -n 20 "$dir/log" 2>/dev/null)"
  pg_answers "$url" || die "postgres started but does not answer on $url"
}

start_private_redis() {
  local url=redis://127.0.0.1:$REDIS_PORT dir=$DATA/redis
  redis_url=$url
  redis_answers "$url" && return
  lock_data
  redis_answers "$url" && return

  if ! have redis-server || ! have redis-cli; then apt_install redis-server redis-tools; fi
  mkdir -p "$dir"
  log "starting redis on 127.0.0.1:$REDIS_PORT"
  # noeviction: BullMQ loses jobs if Redis may evict keys
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize yes --dir "$dir" \
    --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --save '' --appendonly no \
    --maxmemory-policy noeviction 3>&- 9<&-
  local i
  for ((i = 0; i < 50; i++)); do
    redis_answers "$url" && return
    sleep 0.1
  done
  die "redis did not start: $(tail -n 20 "$dir/redis.log" 2>/dev/null)"
}

find_postgres() {
  if [ -n "${DATABASE_URL:-}" ]; then
    database_url=$DATABASE_URL
    pg_answers "$database_url" && return
    log "DATABASE_URL does not answer; looking further"
  fi
  if [ "${TRM_SERVICES_SKIP_STANDARD:-}" != 1 ]; then
    database_url=postgres://postgres@127.0.0.1:5432/postgres
    pg_answers "$database_url" && return
  fi
  start_private_postgres
}

find_redis() {
  if [ -n "${REDIS_URL:-}" ]; then
    redis_url=$REDIS_URL
    redis_answers "$redis_url" && return
    log "REDIS_URL does not answer; looking further"
  fi
  if [ "${TRM_SERVICES_SKIP_STANDARD:-}" != 1 ]; then
    redis_url=redis://127.0.0.1:6379
    redis_answers "$redis_url" && return
  fi
  start_private_redis
}

stop_private_postgres() {
  local dir=$DATA/pg bin run=()
  if [ ! -f "$dir/data/postmaster.pid" ]; then
    log "no private postgres running ($dir/data)"
    return
  fi
  bin=$(pg_bindir) || die "no pg_ctl to stop the private postgres in $dir/data"
  if is_root; then run=(runuser -u postgres --); fi
  "${run[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop 3>&- 9<&- >/dev/null ||
    die "postgres in $dir/data did not stop: $(tail -n 5 "$dir/log" 2>/dev/null)"
  log "stopped postgres on 127.0.0.1:$PG_PORT (data kept in $dir/data)"
}

stop_private_redis() {
  local dir=$DATA/redis pid
  pid=$(cat "$dir/redis.pid" 2>/dev/null) || true
  # the pid file may outlive its server: only a redis-server started here is stopped
  if [ -z "$pid" ] || [[ "$(cat "/proc/$pid/cmdline" 2>/dev/null | tr '\0' ' ')" != *redis-server*:$REDIS_PORT* ]]; then
    log "no private redis running (127.0.0.1:$REDIS_PORT)"
    return
  fi
  kill -TERM "$pid"
  local i
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && die "redis (pid $pid) did not stop"
  log "stopped redis on 127.0.0.1:$REDIS_PORT (it keeps no data)"
}

if [ "${1:-}" = stop ]; then
  [ -d "$DATA" ] || {
    log "no private services (nothing under $DATA)"
    exit 0
  }
  lock_data
  stop_private_postgres
  stop_private_redis
  exit 0
fi

find_postgres
find_redis
echo "DATABASE_URL=$database_url" >&3
echo "REDIS_URL=$redis_url" >&3
