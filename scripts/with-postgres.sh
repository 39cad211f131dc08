#!/usr/bin/env bash
# Runs a command with a throw-away PostgreSQL cluster:
#
#   bash scripts/with-postgres.sh go test ./postgres/ ./httpapi/
#
# It installs PostgreSQL from Debian if initdb is nowhere to be found,
# creates a cluster in a temporary folder (as the postgres user when run as
# root: PostgreSQL refuses to run as root), starts it on a free port on
# 127.0.0.1 with its Unix socket in that folder, creates a role and a
# database for the tests, and exports
#
#   BITNOBI_TEST_POSTGRES=postgres://...   the tests' DSN (see internal/dbtest)
#   BITNOBI_TEST_POSTGRES_REQUIRED=1       a PostgreSQL test may not skip
#
# for the command. The cluster is stopped and removed when the script exits,
# whatever the command's outcome; the command's exit status is the script's.
set -euo pipefail

log() { printf 'postgres: %s\n' "$*" >&2; }

find_bin() {
  local dir
  if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
    dirname "$(readlink -f "$(command -v initdb)")"
    return
  fi
  # Debian keeps the server programs off the PATH; take the newest.
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -n -r); do
    if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
      echo "$dir"
      return
    fi
  done
  return 1
}

if ! bin=$(find_bin); then
  log "initdb not found: installing Debian's postgresql"
  if [ "$(id -u)" -ne 0 ]; then
    log "not root: install PostgreSQL (apt-get install postgresql) or put initdb on the PATH"
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql >/dev/null
  bin=$(find_bin)
fi

# Who runs the server: root may not, so the postgres user does.
as_pg=()
if [ "$(id -u)" -eq 0 ]; then
  if ! id postgres >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
  fi
  runuser=$(PATH="$PATH:/usr/sbin:/sbin" command -v runuser || true)
  if [ -n "$runuser" ]; then
    as_pg=("$runuser" -u postgres --)
  else
    as_pg=(su -s /bin/sh -c '"$0" "$@"' postgres --)
  fi
fi

# As root, in /tmp: the postgres user must reach the folder, and $TMPDIR
# may be under root's home.
tmpbase=${TMPDIR:-/tmp}
[ ${#as_pg[@]} -eq 0 ] || tmpbase=/tmp
tmp=$(mktemp -d "$tmpbase/bitnobi-pg.XXXXXX")
chmod 0700 "$tmp"
[ ${#as_pg[@]} -eq 0 ] || chown postgres: "$tmp"
data="$tmp/data"

cleanup() {
  local status=$?
  if [ -f "$data/postmaster.pid" ]; then
    "${as_pg[@]}" "$bin/pg_ctl" -D "$data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$tmp"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

random_hex() { od -An -tx1 -N16 /dev/urandom | tr -d ' \n'; }
superpw=$(random_hex)
testpw=$(random_hex)
printf '%s\n' "$superpw" >"$tmp/pwfile"
[ ${#as_pg[@]} -eq 0 ] || chown postgres: "$tmp/pwfile"

"${as_pg[@]}" "$bin/initdb" -D "$data" -U postgres --pwfile="$tmp/pwfile" \
  --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$tmp/initdb.log" 2>&1 ||
  { cat "$tmp/initdb.log" >&2; exit 1; }
rm -f "$tmp/pwfile"

# Durability is pointless for a cluster deleted at exit: turn it off for speed.
cat >>"$data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$tmp'
max_connections = 300
fsync = off
synchronous_commit = off
full_page_writes = off
EOF

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
started=
for _ in 1 2 3 4 5 6 7 8 9 10; do
  port=$((20000 + RANDOM % 20000))
  port_in_use "$port" && continue
  if "${as_pg[@]}" "$bin/pg_ctl" -D "$data" -o "-p $port" -l "$tmp/server.log" -w -t 60 start >/dev/null 2>&1; then
    started=1
    break
  fi
done
if [ -z "$started" ]; then
  log "the server did not start; its log:"
  cat "$tmp/server.log" >&2 || true
  exit 1
fi

psql=("${as_pg[@]}" "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$tmp" -p "$port" -U postgres -d postgres)
"${psql[@]}" -c "CREATE ROLE bitnobi_test LOGIN CREATEDB PASSWORD '$testpw'" \
  -c "CREATE DATABASE bitnobi_test OWNER bitnobi_test"

export BITNOBI_TEST_POSTGRES="postgres://bitnobi_test:$testpw@127.0.0.1:$port/bitnobi_test?sslmode=disable"
export BITNOBI_TEST_POSTGRES_REQUIRED=1
log "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (cluster in $tmp)"

"$@"
