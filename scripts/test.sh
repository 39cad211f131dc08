#!/usr/bin/env bash
# The whole test suite, as CI runs it: static checks, then every test with
# the race detector, on SQLite and on a throw-away PostgreSQL cluster that
# scripts/with-postgres.sh starts (installing PostgreSQL from Debian if
# needed) and removes at the end, on a throw-away S3 server (versitygw,
# built once by scripts/with-s3.sh), and with real SMTP servers (mailpit,
# scripts/with-smtp.sh). Run from anywhere:
# bash scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

STATICCHECK_VERSION=v0.8.2   # pinned; installed through the Go module proxy

step() { printf '\n== %s\n' "$*"; }

step "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change these files (run: gofmt -w .):"
  echo "$unformatted"
  exit 1
fi

step "go vet"
go vet ./...

step "staticcheck $STATICCHECK_VERSION"
bin="$(go env GOPATH)/bin"
if ! "$bin/staticcheck" -version 2>/dev/null | grep -q "(${STATICCHECK_VERSION#v})"; then
  go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
fi
"$bin/staticcheck" ./...

step "go test -race (SQLite, PostgreSQL, MariaDB for SQL sources, S3 on versitygw, SMTP on mailpit, restic for prune; the web pages in headless chromium)"
bash scripts/with-postgres.sh bash scripts/with-mariadb.sh bash scripts/with-s3.sh bash scripts/with-smtp.sh bash scripts/with-restic.sh bash scripts/with-chromium.sh go test -race -count=1 -timeout 20m ./...

# The race detector slows hashing and compression about tenfold, so under it
# the end-to-end test moves 8 MB instead of the 100 MB upload; run it once
# more without it, at full size.
step "end-to-end test at full size (no race detector)"
bash scripts/with-postgres.sh bash scripts/with-s3.sh go test -count=1 -timeout 10m -run 'EndToEnd' ./cmd/...

# Benchmarks are not timed here, but each must still run: one iteration
# each, so that one whose set-up or assertions a change broke fails CI
# instead of the next person who measures.
step "benchmarks, one iteration each (run, not timed)"
bash scripts/with-postgres.sh bash scripts/with-s3.sh go test -count=1 -run '^$' -bench . -benchtime 1x -timeout 10m ./...

step "container image: built with podman, its entrypoint run under chroot (serve, backup, restore)"
bash scripts/test-container.sh
