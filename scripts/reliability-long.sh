#!/usr/bin/env bash
# The reliability suite's long profile, for manual runs: every fault with
# its full trial count, then each fuzz target for a bounded time. Figures go
# to docs/reliability.md by hand from its output (and from
# $BITNOBI_RELIABILITY_REPORT, when set, for the fault table's rows).
#
#   bash scripts/reliability-long.sh            # FUZZTIME=60s per target
#   FUZZTIME=5m bash scripts/reliability-long.sh
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-60s}

echo "== reliability suite, long profile"
BITNOBI_RELIABILITY=long go test -count=1 -timeout 60m ./reliability/

# Each fuzz target, bounded. The corpus each finds stays in the Go build
# cache; a failing input is written under the package's testdata/fuzz/, to
# be committed with the fix as a regression test.
targets=(
  ".:FuzzGraphValidate"
  "./secret:FuzzOpen"
  "./workflow:FuzzImport"
  "./backup/retention:FuzzApply"
  "./backup:FuzzParseManifest"
  "./backup:FuzzRowRoundTrip"
  "./backup:FuzzDecodeRow"
  "./backup:FuzzImport"
  "./backup/archive:FuzzExtract"
)
for t in "${targets[@]}"; do
  pkg=${t%%:*} name=${t##*:}
  echo "== fuzz $pkg $name for $FUZZTIME"
  # Writing fuzzers fsync on every run: a RAM-backed TMPDIR keeps them fast.
  TMPDIR=${FUZZ_TMPDIR:-/dev/shm} go test -run '^$' -fuzz "^$name\$" -fuzztime "$FUZZTIME" -fuzzminimizetime 10s "$pkg"
done
