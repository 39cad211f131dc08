#!/usr/bin/env bash
# Runs a command with restic available, for the differential test of
# "bitnobi backups prune" against "restic forget" (backup/retention):
#
#   bash scripts/with-restic.sh go test ./backup/retention/
#
# It installs Debian's restic with apt-get when restic is nowhere to be
# found, and exports
#
#   BITNOBI_TEST_RESTIC=/path/to/restic   the binary the test runs
#   BITNOBI_TEST_RESTIC_REQUIRED=1        the test may not skip
#
# for the command; the command's exit status is the script's.
set -euo pipefail

log() { printf 'restic: %s\n' "$*" >&2; }

if ! command -v restic >/dev/null; then
  log "restic not found: installing Debian's restic"
  if [ "$(id -u)" -ne 0 ]; then
    log "not root: install restic (apt-get install restic) or put it on the PATH"
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq restic >/dev/null
fi

BITNOBI_TEST_RESTIC=$(command -v restic)
export BITNOBI_TEST_RESTIC
export BITNOBI_TEST_RESTIC_REQUIRED=1
log "$("$BITNOBI_TEST_RESTIC" version | head -1)"

"$@"
