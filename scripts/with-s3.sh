#!/usr/bin/env bash
# Runs a command with a throw-away S3 server (versitygw over a temporary
# folder):
#
#   bash scripts/with-s3.sh go test ./offsite/ ./cmd/bitnobi/
#
# It builds versitygw once through the Go module proxy into
# ${XDG_CACHE_HOME:-$HOME/.cache}/bitnobi-test/bin (about 3 minutes the
# first time; later runs reuse the binary), starts it on a free port on
# 127.0.0.1 with random credentials and a bucket, and exports
#
#   BITNOBI_TEST_S3_ENDPOINT=http://127.0.0.1:PORT   the server
#   BITNOBI_TEST_S3_BUCKET=bitnobi-test              an existing bucket
#   BITNOBI_TEST_S3_ACCESS_KEY_ID, BITNOBI_TEST_S3_SECRET_ACCESS_KEY
#   BITNOBI_TEST_S3_DIR=...                          the folder it serves
#   BITNOBI_TEST_S3_BIN=...                          the versitygw binary
#   BITNOBI_TEST_S3_REQUIRED=1                       an S3 test may not skip
#
# for the command. Tests that stop the server start their own with
# BITNOBI_TEST_S3_BIN. The server is stopped and its folder removed when
# the script exits, whatever the command's outcome; the command's exit
# status is the script's. It composes with scripts/with-postgres.sh:
#
#   bash scripts/with-postgres.sh bash scripts/with-s3.sh go test ./...
set -euo pipefail

VERSITYGW_VERSION=v1.8.0   # pinned; Apache-2.0

log() { printf 's3: %s\n' "$*" >&2; }

gobin=${XDG_CACHE_HOME:-$HOME/.cache}/bitnobi-test/bin
vgw=$gobin/versitygw
if ! [ -x "$vgw" ] || ! [ -f "$vgw.$VERSITYGW_VERSION" ]; then
  log "building versitygw $VERSITYGW_VERSION into $gobin (once; about 3 minutes)"
  mkdir -p "$gobin"
  GOBIN=$gobin go install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION"
  touch "$vgw.$VERSITYGW_VERSION"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bitnobi-s3.XXXXXX")
chmod 0700 "$tmp"
pid=
cleanup() {
  local status=$?
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

random_hex() { od -An -tx1 -N16 /dev/urandom | tr -d ' \n'; }
access=bitnobi$(random_hex | cut -c1-12)
secret=$(random_hex)
bucket=bitnobi-test
mkdir -p "$tmp/root/$bucket"

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
started=
for _ in 1 2 3 4 5 6 7 8 9 10; do
  port=$((20000 + RANDOM % 20000))
  port_in_use "$port" && continue
  "$vgw" --access "$access" --secret "$secret" --port "127.0.0.1:$port" posix "$tmp/root" >"$tmp/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do
    if port_in_use "$port"; then started=1; break; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$started" ] && break
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=
done
if [ -z "$started" ]; then
  log "versitygw did not start; its log:"
  cat "$tmp/server.log" >&2 || true
  exit 1
fi

export BITNOBI_TEST_S3_ENDPOINT="http://127.0.0.1:$port"
export BITNOBI_TEST_S3_BUCKET=$bucket
export BITNOBI_TEST_S3_ACCESS_KEY_ID=$access
export BITNOBI_TEST_S3_SECRET_ACCESS_KEY=$secret
export BITNOBI_TEST_S3_DIR=$tmp/root
export BITNOBI_TEST_S3_BIN=$vgw
export BITNOBI_TEST_S3_REQUIRED=1
log "versitygw $VERSITYGW_VERSION on 127.0.0.1:$port (bucket $bucket in $tmp/root)"

"$@"
