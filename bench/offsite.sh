#!/usr/bin/env bash
# bench/offsite.sh SIZE — times "bitnobi backups push" against "rclone copy"
# of the same backup directory to the same S3 server (versitygw over a
# temporary folder), in one run, so that the ratio holds on a busy machine.
#
#   bash scripts/with-s3.sh bash bench/offsite.sh S
#
# Environment: REPS (default 3; median, min, max), SEED (default 1), and
# the BITNOBI_TEST_S3_* variables that scripts/with-s3.sh exports. Installs
# rclone from Debian when missing.
#
# Each repetition pushes to a fresh prefix, so both tools send everything:
#   full     bitnobi backups push B1        vs  rclone copy B1 remote:bucket/pfx/B1
#   next     (after dev seed --mutate, ~1% changed, a new backup B2)
#            bitnobi backups push B2 to the prefix holding B1
#                                            vs  rclone copy B2 to a fresh path
#            (rclone has no content addressing across directories: the
#            whole of B2 is sent again, which is what a folder copy costs)
# Both tools run 4 transfers at a time (rclone's default --transfers 4;
# bitnobi's Remote.Concurrency 4). rclone sends an MD5 with each upload,
# bitnobi a SHA-256 and a check of each object after upload.
set -euo pipefail

SIZE=${1:-S}
REPS=${REPS:-3}
SEED=${SEED:-1}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
: "${BITNOBI_TEST_S3_ENDPOINT:?run through scripts/with-s3.sh}"
W=$(mktemp -d /tmp/bitnobi-offsite-bench.XXXXXX)
trap 'rm -rf "$W"' EXIT
log() { printf '[offsite-bench %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

command -v rclone >/dev/null || { log "installing rclone"; apt-get install -y -qq rclone >/dev/null; }

log "building bitnobi"
(cd "$ROOT" && go build -o "$W/bitnobi" ./cmd/bitnobi)
B=$W/bitnobi
log "seeding $SIZE"
"$B" dev seed --data-dir "$W/data" --size "$SIZE" --seed "$SEED" >/dev/null 2>&1
b1=$("$B" backup --data-dir "$W/data" --backup-dir "$W/backup" --quiet --priority normal)
"$B" dev seed --data-dir "$W/data" --size "$SIZE" --seed "$SEED" --mutate >/dev/null 2>&1
b2=$("$B" backup --data-dir "$W/data" --backup-dir "$W/backup" --quiet --priority normal)
size1=$(du -sb "$b1" | cut -f1)
files1=$(find "$b1" -type f | wc -l)

export BITNOBI_S3_ENDPOINT=$BITNOBI_TEST_S3_ENDPOINT BITNOBI_S3_BUCKET=$BITNOBI_TEST_S3_BUCKET
export BITNOBI_S3_ACCESS_KEY_ID=$BITNOBI_TEST_S3_ACCESS_KEY_ID BITNOBI_S3_SECRET_ACCESS_KEY=$BITNOBI_TEST_S3_SECRET_ACCESS_KEY
export RCLONE_CONFIG_BENCH_TYPE=s3 RCLONE_CONFIG_BENCH_PROVIDER=Other RCLONE_CONFIG_BENCH_ENV_AUTH=false
export RCLONE_CONFIG_BENCH_ENDPOINT=$BITNOBI_TEST_S3_ENDPOINT
export RCLONE_CONFIG_BENCH_ACCESS_KEY_ID=$BITNOBI_TEST_S3_ACCESS_KEY_ID RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY=$BITNOBI_TEST_S3_SECRET_ACCESS_KEY
bucket=$BITNOBI_TEST_S3_BUCKET
# rclone's AWS SDK refuses a custom CA bundle with its own transport; the
# server is plain HTTP on loopback anyway.
unset AWS_CA_BUNDLE

now() { date +%s.%N; }
declare -a push_full rclone_full push_next rclone_next
for rep in $(seq 1 "$REPS"); do
  log "rep $rep/$REPS"
  t0=$(now); BITNOBI_S3_PREFIX=bench/push-$rep "$B" backups push "$b1" --quiet >/dev/null; t1=$(now)
  push_full+=("$(echo "$t1 - $t0" | bc)")
  t0=$(now); rclone copy "$b1" "bench:$bucket/bench/rclone-$rep/$(basename "$b1")"; t1=$(now)
  rclone_full+=("$(echo "$t1 - $t0" | bc)")
  t0=$(now); BITNOBI_S3_PREFIX=bench/push-$rep "$B" backups push "$b2" --quiet >/dev/null; t1=$(now)
  push_next+=("$(echo "$t1 - $t0" | bc)")
  t0=$(now); rclone copy "$b2" "bench:$bucket/bench/rclone-$rep/$(basename "$b2")"; t1=$(now)
  rclone_next+=("$(echo "$t1 - $t0" | bc)")
done

stats() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {printf "%.2f s (min %.2f, max %.2f)", a[int((NR+1)/2)], a[1], a[NR]}'; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ratio() { echo "scale=2; $1 / $2" | bc | sed 's/^\./0./'; }

cat <<MD
## Off-site copy: bitnobi backups push vs rclone copy (size $SIZE, REPS=$REPS, $(date -u +%Y-%m-%d))

Backup $(basename "$b1"): $files1 files, $((size1 / 1000000)) MB; versitygw on loopback over ext4, $(nproc) cores shared with other work (load average $(cut -d' ' -f1 /proc/loadavg) at the end).

| copy | bitnobi push | rclone copy | push / rclone |
|---|---|---|---|
| full backup, empty prefix | $(stats "${push_full[@]}") | $(stats "${rclone_full[@]}") | $(ratio "$(median "${push_full[@]}")" "$(median "${rclone_full[@]}")") |
| next backup (~1% changed) | $(stats "${push_next[@]}") | $(stats "${rclone_next[@]}") | $(ratio "$(median "${push_next[@]}")" "$(median "${rclone_next[@]}")") |
MD
