#!/usr/bin/env bash
# Runs a command with Debian's chromium available for the browser tests of
# package web:
#
#   bash scripts/with-chromium.sh go test ./web/
#
# It installs chromium from Debian with apt-get when no chromium is found,
# and exports
#
#   BITNOBI_TEST_CHROMIUM=/usr/bin/chromium   the browser the tests start
#   BITNOBI_TEST_CHROMIUM_REQUIRED=1          a browser test may not skip
#
# for the command. The tests start chromium themselves (headless, with
# --no-sandbox since CI runs as root, and a fresh --user-data-dir); the
# command's exit status is the script's.
set -euo pipefail

log() { printf 'chromium: %s\n' "$*" >&2; }

bin=${BITNOBI_TEST_CHROMIUM:-}
if [ -z "$bin" ]; then
  bin=$(command -v chromium || command -v chromium-browser || true)
fi
if [ -z "$bin" ]; then
  log "not found: installing Debian's chromium"
  if [ "$(id -u)" -ne 0 ]; then
    log "not root: install chromium (apt-get install chromium) or set BITNOBI_TEST_CHROMIUM"
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
  bin=$(command -v chromium)
fi

export BITNOBI_TEST_CHROMIUM="$bin"
export BITNOBI_TEST_CHROMIUM_REQUIRED=1
"$@"
