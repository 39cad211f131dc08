#!/usr/bin/env bash
# Runs a command with two throw-away SMTP servers (mailpit, a real SMTP
# server with an HTTP API to read what it received):
#
#   bash scripts/with-smtp.sh go test ./mail/ ./httpapi/
#
# mailpit is built once from the Go module proxy into
# ${XDG_CACHE_HOME:-~/.cache}/bitnobi-test/bin/mailpit-VERSION and reused. A self-signed
# certificate for 127.0.0.1 is made with openssl. One server requires
# STARTTLS, the other implicit TLS; both require a login, so a wrong
# password is refused as a real provider refuses it. Exported:
#
#   BITNOBI_TEST_SMTP=127.0.0.1:PORT          STARTTLS server
#   BITNOBI_TEST_SMTP_API=http://127.0.0.1:PORT   its message API
#   BITNOBI_TEST_SMTP_TLS=127.0.0.1:PORT      implicit-TLS server
#   BITNOBI_TEST_SMTP_TLS_API=http://...      its message API
#   BITNOBI_TEST_SMTP_USER, BITNOBI_TEST_SMTP_PASSWORD   the login both accept
#   BITNOBI_TEST_SMTP_CA=FILE                 the certificate to trust
#   BITNOBI_TEST_SMTP_REQUIRED=1              an SMTP test may not skip
#
# Both servers and their files are removed when the script exits; the
# command's exit status is the script's.
set -euo pipefail

MAILPIT_VERSION=v1.33.1   # pinned
log() { printf 'smtp: %s\n' "$*" >&2; }

# A folder per version: a mailpit built from the module proxy calls itself
# "dev", so its own version cannot tell.
bindir=${XDG_CACHE_HOME:-$HOME/.cache}/bitnobi-test/bin/mailpit-$MAILPIT_VERSION
mailpit="$bindir/mailpit"
if ! [ -x "$mailpit" ]; then
  log "building mailpit $MAILPIT_VERSION (once; cached in $bindir)"
  mkdir -p "$bindir"
  (cd / && GOBIN="$bindir" GOFLAGS= go install "github.com/axllent/mailpit@$MAILPIT_VERSION")
fi
if ! command -v openssl >/dev/null; then
  log "openssl not found: installing Debian's openssl"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bitnobi-smtp.XXXXXX")
pids=()
cleanup() {
  local status=$?
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1,DNS:localhost \
  -keyout "$tmp/key.pem" -out "$tmp/cert.pem" >/dev/null 2>&1
user=bitnobi
password=$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')
printf '%s:%s\n' "$user" "$password" >"$tmp/auth"

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 20000))
    port_in_use "$p" || { echo "$p"; return; }
  done
}

# start NAME FLAGS...: starts a mailpit, sets smtp_port and api_port.
start() {
  local name=$1; shift
  for _ in 1 2 3 4 5; do
    smtp_port=$(free_port); api_port=$(free_port)
    "$mailpit" --smtp "127.0.0.1:$smtp_port" --listen "127.0.0.1:$api_port" \
      --database "$tmp/$name.db" --smtp-auth-file "$tmp/auth" --smtp-disable-rdns \
      --smtp-tls-cert "$tmp/cert.pem" --smtp-tls-key "$tmp/key.pem" "$@" \
      >"$tmp/$name.log" 2>&1 &
    local pid=$!
    for _ in $(seq 1 50); do
      if port_in_use "$smtp_port" && port_in_use "$api_port"; then
        pids+=("$pid"); return 0
      fi
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill "$pid" 2>/dev/null || true
  done
  log "mailpit ($name) did not start; its log:"; cat "$tmp/$name.log" >&2
  exit 1
}

start starttls --smtp-require-starttls
export BITNOBI_TEST_SMTP="127.0.0.1:$smtp_port" BITNOBI_TEST_SMTP_API="http://127.0.0.1:$api_port"
start tls --smtp-require-tls
export BITNOBI_TEST_SMTP_TLS="127.0.0.1:$smtp_port" BITNOBI_TEST_SMTP_TLS_API="http://127.0.0.1:$api_port"
export BITNOBI_TEST_SMTP_USER="$user" BITNOBI_TEST_SMTP_PASSWORD="$password"
export BITNOBI_TEST_SMTP_CA="$tmp/cert.pem" BITNOBI_TEST_SMTP_REQUIRED=1
log "mailpit $MAILPIT_VERSION: STARTTLS on $BITNOBI_TEST_SMTP, implicit TLS on $BITNOBI_TEST_SMTP_TLS"

"$@"
