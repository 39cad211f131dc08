#!/usr/bin/env bash
# Runs a command with a throw-away MariaDB server:
#
#   bash scripts/with-mariadb.sh go test ./workflow/
#
# It installs Debian's mariadb-server if mariadbd is nowhere to be found,
# creates a data directory in a temporary folder (owned by the mysql user
# when run as root), starts mariadbd on a free port on 127.0.0.1 with its
# socket in that folder, creates a user and a database for the tests, and
# exports
#
#   BITNOBI_TEST_MARIADB=user:password@tcp(127.0.0.1:port)/db   the tests' DSN
#   BITNOBI_TEST_MARIADB_REQUIRED=1                            a MariaDB test may not skip
#
# for the command. The server is stopped and its folder removed when the
# script exits, whatever the command's outcome; the command's exit status
# is the script's. It chains: with-postgres.sh with-mariadb.sh go test ...
set -euo pipefail

log() { printf 'mariadb: %s\n' "$*" >&2; }

find_bin() {
  local b
  for b in mariadbd mysqld; do
    if command -v "$b" >/dev/null; then command -v "$b"; return; fi
    if [ -x "/usr/sbin/$b" ]; then echo "/usr/sbin/$b"; return; fi
  done
  return 1
}

if ! mysqld=$(find_bin) || { ! command -v mariadb-install-db >/dev/null && ! command -v mysql_install_db >/dev/null; }; then
  log "mariadbd not found: installing Debian's mariadb-server"
  if [ "$(id -u)" -ne 0 ]; then
    log "not root: install MariaDB (apt-get install mariadb-server) or put mariadbd on the PATH"
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends mariadb-server mariadb-client >/dev/null
  mysqld=$(find_bin)
fi
install_db=$(command -v mariadb-install-db || command -v mysql_install_db)
client=$(command -v mariadb || command -v mysql)

# Who runs the server: as root, the mysql user.
user_opt=()
if [ "$(id -u)" -eq 0 ]; then
  if ! id mysql >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin mysql
  fi
  user_opt=(--user=mysql)
fi

tmpbase=${TMPDIR:-/tmp}
[ ${#user_opt[@]} -eq 0 ] || tmpbase=/tmp
tmp=$(mktemp -d "$tmpbase/bitnobi-mariadb.XXXXXX")
chmod 0700 "$tmp"
[ ${#user_opt[@]} -eq 0 ] || chown mysql: "$tmp"
data="$tmp/data"
sock="$tmp/mysqld.sock"
pid=

cleanup() {
  local status=$?
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$install_db" --no-defaults "${user_opt[@]}" --datadir="$data" --auth-root-authentication-method=socket \
  --skip-test-db >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log" >&2; exit 1; }

random_hex() { od -An -tx1 -N16 /dev/urandom | tr -d ' \n'; }
testpw=$(random_hex)

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
started=
for _ in 1 2 3 4 5 6 7 8 9 10; do
  port=$((20000 + RANDOM % 20000))
  port_in_use "$port" && continue
  # Durability is pointless for a server deleted at exit: off, for speed.
  "$mysqld" --no-defaults "${user_opt[@]}" --datadir="$data" --socket="$sock" --pid-file="$tmp/mysqld.pid" \
    --bind-address=127.0.0.1 --port="$port" --skip-name-resolve --innodb-flush-log-at-trx-commit=0 \
    --innodb-buffer-pool-size=32M --skip-log-bin --log-error="$tmp/server.log" >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 1 300); do
    if "$client" --no-defaults -S "$sock" -u root -e 'SELECT 1' >/dev/null 2>&1; then started=1; break; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  [ -z "$started" ] || break
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=
done
if [ -z "$started" ]; then
  log "the server did not start; its log:"
  cat "$tmp/server.log" >&2 || true
  exit 1
fi

"$client" --no-defaults -S "$sock" -u root -e "
  CREATE DATABASE bitnobi_test;
  CREATE USER 'bitnobi_test'@'127.0.0.1' IDENTIFIED BY '$testpw';
  GRANT ALL ON bitnobi_test.* TO 'bitnobi_test'@'127.0.0.1';"

export BITNOBI_TEST_MARIADB="bitnobi_test:$testpw@tcp(127.0.0.1:$port)/bitnobi_test"
export BITNOBI_TEST_MARIADB_REQUIRED=1
log "$("$mysqld" --version | awk '{print $3}') on 127.0.0.1:$port (data in $tmp)"

"$@"
