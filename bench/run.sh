#!/usr/bin/env bash
# bench/run.sh SIZE — compares bitnobi's backups with restic and borg, and
# with the machine's physical limits, on one seeded data directory, in one
# run, so that the ratios hold even on a busy machine.
#
#   bash bench/run.sh S                 # ~100 MB of state, a few minutes
#   REPS=5 bash bench/run.sh M          # ~2 GB
#
# Environment:
#   REPS           repetitions of each measurement (default 3); median, min, max
#   SEED           seed of `bitnobi dev seed` (default 1)
#   BENCH_DIR      work directory (default: a new one under /tmp), removed at the end
#   KEEP=1         keep the work directory
#   LOAD_RATE      API requests per second of the load test (default 50)
#   LOAD_SECONDS   length of each load run (default 20)
#   OUT            results file (default bench/results-SIZE-YYYYMMDD_HHMM.md)
#
# What it does:
#   1. installs restic, borgbackup, zstd, time and age with apt-get when
#      missing;
#   2. builds bitnobi and bench/load, seeds a data directory (timed), makes
#      an age key pair (age-keygen) for the encrypted bitnobi backups;
#   3. REPS times, on a fresh copy of the seeded directory at the same path:
#      each tool's full backup into an empty repository (bitnobi twice:
#      plain, and encrypted with --encrypt into a folder of its own), a
#      backup with no change, then (after `bitnobi dev seed --mutate`, ~1%
#      of the state) an incremental backup, a restore into an empty
#      directory and a full check of the repository; plus the physical
#      limits (cp -a + sync, sha256sum of every file, tar | zstd -1 -T2);
#   4. repository sizes (du) after the full and the incremental backups,
#      peak RSS (/usr/bin/time) of every timed command;
#   5. API latency under a fixed-rate load (bench/load, loopback only) with
#      no backup running and while full backups run back to back;
#   6. writes the results as markdown, with ratios and the targets of
#      issue 7 marked met or not met (on the plain bitnobi backups; the
#      encrypted ones' ratios are shown beside them).
#
# Every tool reads the same data directory from a warm page cache (it fits
# in memory); restic and borg use the compression the issue names (restic
# --compression auto, borg zstd,3); restic always encrypts (AES-256), borg
# runs with -e none, and bitnobi both without encryption and with age
# (--encrypt --recipient), the like-for-like comparison with restic.
set -euo pipefail

SIZE=${1:-}
case "$SIZE" in S|M|L) ;; *) echo "usage: bash bench/run.sh S|M|L" >&2; exit 2 ;; esac
REPS=${REPS:-3}
SEED=${SEED:-1}
LOAD_RATE=${LOAD_RATE:-50}
LOAD_SECONDS=${LOAD_SECONDS:-20}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
STAMP=$(date -u +%Y%m%d_%H%M)
OUT=${OUT:-$ROOT/bench/results-$SIZE-$STAMP.md}
W=${BENCH_DIR:-$(mktemp -d /tmp/bitnobi-bench.XXXXXX)}
mkdir -p "$W"
W=$(cd "$W" && pwd)

log() { printf '[bench %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  if [ "${KEEP:-0}" != 1 ]; then rm -rf "$W"; else log "kept $W"; fi
}
trap cleanup EXIT

# --- 1. tools ---------------------------------------------------------------
need=()
command -v restic >/dev/null || need+=(restic)
command -v borg >/dev/null || need+=(borgbackup)
command -v zstd >/dev/null || need+=(zstd)
[ -x /usr/bin/time ] || need+=(time)
command -v age-keygen >/dev/null || need+=(age)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# --- 2. build and seed -------------------------------------------------------
BIN=$W/bin
mkdir -p "$BIN"
log "building"
(cd "$ROOT" && go build -o "$BIN/bitnobi" ./cmd/bitnobi && go build -o "$BIN/load" ./bench/load)
B=$BIN/bitnobi

SEEDED=$W/seeded      # the seeded state, never backed up itself
DATA=$W/data          # a fresh copy of it for each repetition, always at this path
KEY=$W/master.key
log "seeding size $SIZE (seed $SEED)"
t0=$(date +%s%N)
"$B" dev seed --data-dir "$SEEDED" --size "$SIZE" --seed "$SEED" >"$W/seed.out" 2>"$W/seed.err"
SEED_SECONDS=$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN{printf "%.1f", (b-a)/1e9}')
cp "$SEEDED/master.key" "$KEY"
chmod 600 "$KEY"
rm -f "$SEEDED/bitnobi.lock"
DATA_BYTES=$(du -sb "$SEEDED" | cut -f1)
DATA_FILES=$(find "$SEEDED" -type f | wc -l)
log "seeded in ${SEED_SECONDS}s: $(du -sh "$SEEDED" | cut -f1), $DATA_FILES files"

# The key pair of the encrypted backups (ours-enc-*), one for the whole run:
# a no-change or incremental backup links from the previous one only when
# both are encrypted to the same recipients.
AGE_KEY=$W/age.key
age-keygen -o "$AGE_KEY" 2>/dev/null
AGE_RECIPIENT=$(age-keygen -y "$AGE_KEY")

# --- measurement helpers -------------------------------------------------------
TIMES=$W/times.tsv    # name, rep, seconds, peak RSS KiB, CPU seconds (user+sys)
BYTES=$W/bytes.tsv    # name, rep, bytes
: >"$TIMES"; : >"$BYTES"
CMDS=$W/commands.txt
: >"$CMDS"

# timed NAME REP CMD...: syncs, then runs CMD under /usr/bin/time -v and
# records its wall time and peak RSS; its output goes to $W/logs.
mkdir -p "$W/logs"
timed() {
  local name=$1 rep=$2; shift 2
  if [ "$rep" = 1 ]; then printf '%s\t%s\n' "$name" "$*" >>"$CMDS"; fi
  local tv=$W/logs/$name.$rep.time start end
  sync   # so that no earlier step's writes are flushed on this one's time
  start=$(date +%s%N)
  if ! /usr/bin/time -v -o "$tv" "$@" >"$W/logs/$name.$rep.out" 2>"$W/logs/$name.$rep.err"; then
    log "FAILED: $name (rep $rep): $*"
    tail -20 "$W/logs/$name.$rep.err" >&2
    exit 1
  fi
  end=$(date +%s%N)
  local rss cpu
  rss=$(awk -F': ' '/Maximum resident set size/{print $2}' "$tv")
  cpu=$(awk -F': ' '/User time|System time/{t+=$2} END{printf "%.2f", t}' "$tv")
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$rep" "$(awk -v a="$start" -v b="$end" 'BEGIN{printf "%.3f", (b-a)/1e9}')" "${rss:-0}" "$cpu" >>"$TIMES"
}

diskbytes() { du -s --block-size=1 "$1" | cut -f1; }
record_bytes() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$BYTES"; }

export RESTIC_PASSWORD=bitnobi-bench
export RESTIC_CACHE_DIR=$W/restic-cache
export BORG_BASE_DIR=$W/borg-base
export BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes
export BORG_RELOCATED_REPO_ACCESS_IS_OK=yes
export BORG_DELETE_I_KNOW_WHAT_I_AM_DOING=YES

HAVE_DEEP=0
if "$B" backups verify --help 2>&1 | grep -q -- '--deep'; then HAVE_DEEP=1; fi

# --- 3. repetitions -------------------------------------------------------------
for rep in $(seq 1 "$REPS"); do
  log "repetition $rep/$REPS"
  rm -rf "$DATA" "$W/ours" "$W/ours-enc" "$W/restic" "$W/borg" "$W/restore-"* "$W/cp" "$RESTIC_CACHE_DIR" "$BORG_BASE_DIR"
  cp -a "$SEEDED" "$DATA"
  sync

  # Physical limits on the same bytes.
  timed limit-cp "$rep" sh -c "cp -a '$DATA' '$W/cp' && sync"
  rm -rf "$W/cp"
  timed limit-sha256 "$rep" sh -c "find '$DATA' -type f -print0 | xargs -0 sha256sum >/dev/null"
  timed limit-tar-zstd "$rep" sh -c "tar -C '$W' -cf - data | zstd -1 -T2 -q >/dev/null"

  # Full backups into empty repositories.
  timed ours-full "$rep" "$B" backup --data-dir "$DATA" --backup-dir "$W/ours" --quiet
  record_bytes ours-full "$rep" "$(diskbytes "$W/ours")"
  timed ours-enc-full "$rep" "$B" backup --data-dir "$DATA" --backup-dir "$W/ours-enc" --encrypt --recipient "$AGE_RECIPIENT" --quiet
  record_bytes ours-enc-full "$rep" "$(diskbytes "$W/ours-enc")"
  restic init --repo "$W/restic" --repository-version 2 >/dev/null
  timed restic-full "$rep" restic --repo "$W/restic" backup --compression auto --host bench "$DATA"
  record_bytes restic-full "$rep" "$(diskbytes "$W/restic")"
  borg init -e none "$W/borg" >/dev/null
  timed borg-full "$rep" borg create --compression zstd,3 "$W/borg::full" "$DATA"
  record_bytes borg-full "$rep" "$(diskbytes "$W/borg")"

  # Nothing changed.
  timed ours-nochange "$rep" "$B" backup --data-dir "$DATA" --backup-dir "$W/ours" --quiet
  record_bytes ours-nochange "$rep" "$(diskbytes "$W/ours")"
  timed ours-enc-nochange "$rep" "$B" backup --data-dir "$DATA" --backup-dir "$W/ours-enc" --encrypt --recipient "$AGE_RECIPIENT" --quiet
  record_bytes ours-enc-nochange "$rep" "$(diskbytes "$W/ours-enc")"
  timed restic-nochange "$rep" restic --repo "$W/restic" backup --compression auto --host bench "$DATA"
  record_bytes restic-nochange "$rep" "$(diskbytes "$W/restic")"
  timed borg-nochange "$rep" borg create --compression zstd,3 "$W/borg::nochange" "$DATA"
  record_bytes borg-nochange "$rep" "$(diskbytes "$W/borg")"

  # A day of use, then incremental backups.
  "$B" dev seed --data-dir "$DATA" --size "$SIZE" --seed "$SEED" --mutate >"$W/mutate.out" 2>"$W/mutate.err"
  rm -f "$DATA/bitnobi.lock"
  timed ours-incremental "$rep" "$B" backup --data-dir "$DATA" --backup-dir "$W/ours" --quiet
  record_bytes ours-incremental "$rep" "$(diskbytes "$W/ours")"
  timed ours-enc-incremental "$rep" "$B" backup --data-dir "$DATA" --backup-dir "$W/ours-enc" --encrypt --recipient "$AGE_RECIPIENT" --quiet
  record_bytes ours-enc-incremental "$rep" "$(diskbytes "$W/ours-enc")"
  timed restic-incremental "$rep" restic --repo "$W/restic" backup --compression auto --host bench "$DATA"
  record_bytes restic-incremental "$rep" "$(diskbytes "$W/restic")"
  timed borg-incremental "$rep" borg create --compression zstd,3 "$W/borg::incremental" "$DATA"
  record_bytes borg-incremental "$rep" "$(diskbytes "$W/borg")"

  # Restore the newest backup into an empty directory.
  last=$("$B" backups list --backup-dir "$W/ours" --json | awk -F'"' '/"path"/{p=$4} END{print p}')
  timed ours-restore "$rep" "$B" restore "$last" --data-dir "$W/restore-ours" --key-file "$KEY" --quiet
  last_enc=$("$B" backups list --backup-dir "$W/ours-enc" --json | awk -F'"' '/"path"/{p=$4} END{print p}')
  timed ours-enc-restore "$rep" "$B" restore "$last_enc" --data-dir "$W/restore-ours-enc" --identity "$AGE_KEY" --quiet
  mkdir -p "$W/restore-restic" "$W/restore-borg"
  timed restic-restore "$rep" restic --repo "$W/restic" restore latest --target "$W/restore-restic"
  timed borg-restore "$rep" sh -c "cd '$W/restore-borg' && borg extract '$W/borg::incremental'"
  rm -rf "$W/restore-"*

  # Check what was written.
  timed ours-verify "$rep" "$B" backups verify "$last" --backup-dir "$W/ours" --quiet
  timed ours-enc-verify "$rep" "$B" backups verify "$last_enc" --backup-dir "$W/ours-enc" --identity "$AGE_KEY" --quiet
  timed ours-verify-all "$rep" "$B" backups verify --all --backup-dir "$W/ours" --quiet
  if [ "$HAVE_DEEP" = 1 ]; then
    mkdir -p "$W/tmp"
    timed ours-verify-deep "$rep" "$B" backups verify "$last" --deep --key-file "$KEY" --tmp-dir "$W/tmp" --backup-dir "$W/ours" --quiet
  fi
  timed restic-check "$rep" restic --repo "$W/restic" check --read-data
  timed borg-check "$rep" borg check --verify-data "$W/borg"
done
MUTATE_SUMMARY=$(cat "$W/mutate.out")

# --- 5. API latency under load ---------------------------------------------------
log "load test: $LOAD_RATE req/s for ${LOAD_SECONDS}s, idle and during backups"
PORT=$(( 20000 + RANDOM % 20000 ))
"$B" serve --data-dir "$DATA" --listen "127.0.0.1:$PORT" --log-level warn --gc-interval 0 2>"$W/logs/serve.err" &
SERVER_PID=$!
for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:$PORT/api/version" >/dev/null 2>&1; then break; fi
  sleep 0.1
done
"$BIN/load" -addr "127.0.0.1:$PORT" -rate "$LOAD_RATE" -duration 5s >/dev/null   # warm-up
LOAD_IDLE=$("$BIN/load" -addr "127.0.0.1:$PORT" -rate "$LOAD_RATE" -duration "${LOAD_SECONDS}s" -samples "$W/load-idle.tsv")
"$BIN/load" -addr "127.0.0.1:$PORT" -rate "$LOAD_RATE" -duration "${LOAD_SECONDS}s" -samples "$W/load-backup.tsv" >"$W/load-backup.out" &
LOAD_PID=$!
sleep 1
bfrom=$(date +%s%N)
nb=0
deadline=$(( $(date +%s) + LOAD_SECONDS - 2 ))
while [ "$(date +%s)" -lt "$deadline" ] || [ "$nb" -eq 0 ]; do
  nb=$((nb + 1))
  "$B" backup --data-dir "$DATA" --backup-dir "$W/online-$nb" --quiet >/dev/null
done
bto=$(date +%s%N)
wait "$LOAD_PID"
LOAD_BACKUP=$("$BIN/load" -summarize "$W/load-backup.tsv" -from "$bfrom" -to "$bto")
LOAD_BACKUP_ALL=$(cat "$W/load-backup.out")
kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=
rm -rf "$W"/online-*

# --- 6. results ---------------------------------------------------------------------
# tstat NAME [FIELD]: "median min max" of NAME's seconds (field 3), or of
# field 4 (RSS KiB) or 5 (CPU seconds).
tstat() {
  local field=${2:-3}
  awk -F'\t' -v n="$1" -v f="$field" '$1==n{print $f}' "$TIMES" | sort -g | awk '
    {v[NR]=$1} END{if(NR==0){print "- - -"; exit}
    m = (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2; print m, v[1], v[NR]}'
}
med() { tstat "$1" | cut -d' ' -f1; }
cpu() { tstat "$1" 5 | awk '{if($1=="-")print "—"; else printf "%.1f s", $1}'; }
maxrss() { awk -F'\t' -v n="$1" '$1==n && $4>m{m=$4} END{print m+0}' "$TIMES"; }
bytes_med() {
  awk -F'\t' -v n="$1" '$1==n{print $3}' "$BYTES" | sort -g | awk '{v[NR]=$1} END{if(NR==0){print 0; exit} print (NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2}'
}
# ratio A B: A/B with 2 decimals, "-" if either is missing.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{if(a==""||b==""||a=="-"||b=="-"||b+0==0){print "-"}else{printf "%.2f", a/b}}'; }
cell() { set -- $(tstat "$1"); [ "$1" = - ] && { echo "—"; return; }; printf '%.2f s (%.2f–%.2f)' "$1" "$2" "$3"; }
mib() { awk -v b="$1" 'BEGIN{printf "%.1f MiB", b/1048576}'; }
mbps() { awk -v b="$DATA_BYTES" -v s="$1" 'BEGIN{if(s==""||s=="-"||s+0==0){print "-"}else{printf "%.0f MB/s", b/s/1e6}}'; }
verdict() { if awk "BEGIN{exit !($1)}"; then echo "**met**"; else echo "**not met**"; fi; }
kv() { echo "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1==k{print $2}'; }

cpu=$(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)
fs=$(df -T "$W" | awk 'NR==2{print $2" on "$1}')
{
  echo "# Backup benchmark, size $SIZE, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "Generated by \`bash bench/run.sh $SIZE\` (REPS=$REPS, SEED=$SEED). Times are wall-clock seconds: median (min–max) of $REPS repetitions, all measured in this one run, so the ratios compare tools under the same conditions."
  echo
  echo "## Machine and versions"
  echo
  echo "- CPU: $cpu, $(nproc) cores; RAM: $(free -g | awk '/Mem:/{print $2}') GiB; work dir on $fs"
  echo "- Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (other work was running on this machine)"
  echo "- $(uname -sr); $(go version | cut -d' ' -f3-)"
  echo "- bitnobi $("$B" version 2>/dev/null | awk '/app version/{print $3}'), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo ' with uncommitted changes')"
  echo "- $(restic version | head -1)"
  echo "- $(borg --version)"
  echo "- age: bitnobi's built-in filippo.io/age $(go version -m "$B" | awk '$2=="filippo.io/age"{print $3}'); the key pair from age-keygen $(age-keygen --version 2>/dev/null || echo '(version unknown)')"
  echo "- $(zstd --version | head -1 | tr -d '*' | sed 's/^ *//; s/ *$//'); $(tar --version | head -1)"
  echo
  echo "## Data set"
  echo
  echo "\`bitnobi dev seed --size $SIZE --seed $SEED\` took **${SEED_SECONDS} s**: $(mib "$DATA_BYTES") in $DATA_FILES files."
  echo
  echo '```'
  cat "$W/seed.out"
  echo '```'
  echo
  echo "Each repetition's \`--mutate\` (a day of use, ~1% of the state):"
  echo
  echo '```'
  echo "$MUTATE_SUMMARY"
  echo '```'
  echo
  echo "## Times"
  echo
  echo "| operation | bitnobi | restic | borg | bitnobi ÷ restic | bitnobi ÷ borg |"
  echo "|---|---|---|---|---|---|"
  for op in full nochange incremental restore; do
    label=$op; [ $op = nochange ] && label="no-change backup"; [ $op = full ] && label="full backup"; [ $op = incremental ] && label="backup after 1% change"
    echo "| $label | $(cell ours-$op) | $(cell restic-$op) | $(cell borg-$op) | $(ratio "$(med ours-$op)" "$(med restic-$op)") | $(ratio "$(med ours-$op)" "$(med borg-$op)") |"
    echo "| $label, bitnobi encrypted | $(cell ours-enc-$op) | | | $(ratio "$(med ours-enc-$op)" "$(med restic-$op)") | $(ratio "$(med ours-enc-$op)" "$(med borg-$op)") |"
  done
  echo "| check (bitnobi \`backups verify NEWEST\`; restic \`check --read-data\`, borg \`check --verify-data\`: whole repository) | $(cell ours-verify) | $(cell restic-check) | $(cell borg-check) | $(ratio "$(med ours-verify)" "$(med restic-check)") | $(ratio "$(med ours-verify)" "$(med borg-check)") |"
  echo "| check, bitnobi encrypted (\`backups verify NEWEST --identity\`) | $(cell ours-enc-verify) | | | $(ratio "$(med ours-enc-verify)" "$(med restic-check)") | $(ratio "$(med ours-enc-verify)" "$(med borg-check)") |"
  echo "| bitnobi \`backups verify --all\` (3 backups; a file shared by several, hard-linked, read once) | $(cell ours-verify-all) | | | $(ratio "$(med ours-verify-all)" "$(med restic-check)") | $(ratio "$(med ours-verify-all)" "$(med borg-check)") |"
  if [ "$HAVE_DEEP" = 1 ]; then
    echo "| bitnobi \`backups verify NEWEST --deep\` (adds a trial restore) | $(cell ours-verify-deep) | | | $(ratio "$(med ours-verify-deep)" "$(med restic-check)") | $(ratio "$(med ours-verify-deep)" "$(med borg-check)") |"
  else
    echo
    echo "\`backups verify --deep\` does not exist in this build: skipped."
  fi
  echo
  echo "Rows \"bitnobi encrypted\" are \`bitnobi backup --encrypt --recipient age1...\` into a folder of their own (restore and verify with \`--identity\`), taken at the same moments as the plain ones: against restic, which always encrypts, they are the like-for-like comparison; borg runs unencrypted."
  echo
  echo "Throughput of the full backups over the data directory's $(mib "$DATA_BYTES"): bitnobi $(mbps "$(med ours-full)"), bitnobi encrypted $(mbps "$(med ours-enc-full)"), restic $(mbps "$(med restic-full)"), borg $(mbps "$(med borg-full)")."
  echo
  echo "CPU time (user + system, median) against wall time shows what waits on the disk or on other processes rather than computing:"
  echo
  echo "| operation | bitnobi CPU | restic CPU | borg CPU |"
  echo "|---|---|---|---|"
  for op in full nochange incremental restore; do
    echo "| $op | $(cpu ours-$op) | $(cpu restic-$op) | $(cpu borg-$op) |"
    echo "| $op, bitnobi encrypted | $(cpu ours-enc-$op) | | |"
  done
  echo "| check | $(cpu ours-verify) | $(cpu restic-check) | $(cpu borg-check) |"
  echo "| check, bitnobi encrypted | $(cpu ours-enc-verify) | | |"
  echo
  echo "## Physical limits (same data directory)"
  echo
  echo "| limit | time | throughput | bitnobi ÷ limit |"
  echo "|---|---|---|---|"
  echo "| \`cp -a\` + \`sync\` | $(cell limit-cp) | $(mbps "$(med limit-cp)") | full backup $(ratio "$(med ours-full)" "$(med limit-cp)"), restore $(ratio "$(med ours-restore)" "$(med limit-cp)") |"
  echo "| \`sha256sum\` of every file | $(cell limit-sha256) | $(mbps "$(med limit-sha256)") | verify $(ratio "$(med ours-verify)" "$(med limit-sha256)") |"
  echo "| \`tar -cf - | zstd -1 -T2 >/dev/null\` | $(cell limit-tar-zstd) | $(mbps "$(med limit-tar-zstd)") | full backup $(ratio "$(med ours-full)" "$(med limit-tar-zstd)") |"
  echo
  echo "## Bytes on disk (du, medians)"
  echo
  echo "| | bitnobi | restic | borg | bitnobi ÷ restic | bitnobi ÷ borg |"
  echo "|---|---|---|---|---|---|"
  for t in full nochange incremental; do
    echo "| after $t | $(mib "$(bytes_med ours-$t)") | $(mib "$(bytes_med restic-$t)") | $(mib "$(bytes_med borg-$t)") | $(ratio "$(bytes_med ours-$t)" "$(bytes_med restic-$t)") | $(ratio "$(bytes_med ours-$t)" "$(bytes_med borg-$t)") |"
    echo "| after $t, bitnobi encrypted | $(mib "$(bytes_med ours-enc-$t)") | | | $(ratio "$(bytes_med ours-enc-$t)" "$(bytes_med restic-$t)") | $(ratio "$(bytes_med ours-enc-$t)" "$(bytes_med borg-$t)") |"
  done
  oa=$(( $(bytes_med ours-incremental) - $(bytes_med ours-nochange) ))
  ra=$(( $(bytes_med restic-incremental) - $(bytes_med restic-nochange) ))
  ba=$(( $(bytes_med borg-incremental) - $(bytes_med borg-nochange) ))
  oea=$(( $(bytes_med ours-enc-incremental) - $(bytes_med ours-enc-nochange) ))
  echo "| added by the 1% change | $(mib $oa) | $(mib $ra) | $(mib $ba) | $(ratio $oa $ra) | $(ratio $oa $ba) |"
  echo "| added by the 1% change, bitnobi encrypted | $(mib $oea) | | | $(ratio $oea $ra) | $(ratio $oea $ba) |"
  echo
  echo "## Peak RSS (/usr/bin/time -v, maximum over repetitions)"
  echo
  echo "| | bitnobi | restic | borg |"
  echo "|---|---|---|---|"
  for op in full incremental restore; do
    echo "| $op | $(mib $(( $(maxrss ours-$op) * 1024 ))) | $(mib $(( $(maxrss restic-$op) * 1024 ))) | $(mib $(( $(maxrss borg-$op) * 1024 ))) |"
    echo "| $op, bitnobi encrypted | $(mib $(( $(maxrss ours-enc-$op) * 1024 ))) | | |"
  done
  echo "| verify / check | $(mib $(( $(maxrss ours-verify) * 1024 ))) | $(mib $(( $(maxrss restic-check) * 1024 ))) | $(mib $(( $(maxrss borg-check) * 1024 ))) |"
  echo "| verify, bitnobi encrypted | $(mib $(( $(maxrss ours-enc-verify) * 1024 ))) | | |"
  echo
  echo "## API latency under load"
  echo
  echo "\`bitnobi serve\` on the (mutated) data directory, driven by \`bench/load\` at $LOAD_RATE requests/s (80% reads, 20% audited writes) on 127.0.0.1. Idle: ${LOAD_SECONDS} s with no backup. During backup: full backups into fresh folders back to back for ${LOAD_SECONDS} s, $nb of them; only requests started while they ran count."
  echo
  echo "| | requests | errors | p50 | p90 | p99 | max |"
  echo "|---|---|---|---|---|---|---|"
  for row in "idle|$LOAD_IDLE" "during backup|$LOAD_BACKUP"; do
    n=${row%%|*}; v=${row#*|}
    echo "| $n | $(kv "$v" requests) | $(kv "$v" errors) | $(kv "$v" p50_ms) ms | $(kv "$v" p90_ms) ms | $(kv "$v" p99_ms) ms | $(kv "$v" max_ms) ms |"
  done
  echo
  echo "p99 during backup ÷ idle: **$(ratio "$(kv "$LOAD_BACKUP" p99_ms)" "$(kv "$LOAD_IDLE" p99_ms)")**; p50: $(ratio "$(kv "$LOAD_BACKUP" p50_ms)" "$(kv "$LOAD_IDLE" p50_ms)"). (Whole loaded run: $LOAD_BACKUP_ALL)"
  echo
  echo "## Targets (issue 7)"
  echo
  of=$(med ours-full); rf=$(med restic-full); tz=$(med limit-tar-zstd)
  on=$(med ours-nochange); rn=$(med restic-nochange)
  oi=$(med ours-incremental); ri=$(med restic-incremental)
  orr=$(med ours-restore); rr=$(med restic-restore)
  p99r=$(ratio "$(kv "$LOAD_BACKUP" p99_ms)" "$(kv "$LOAD_IDLE" p99_ms)")
  rss=$(( $(maxrss ours-full) > $(maxrss ours-restore) ? $(maxrss ours-full) : $(maxrss ours-restore) ))
  rss=$(( rss > $(maxrss ours-incremental) ? rss : $(maxrss ours-incremental) ))
  oef=$(med ours-enc-full); oen=$(med ours-enc-nochange); oei=$(med ours-enc-incremental); oer=$(med ours-enc-restore)
  erss=$(( $(maxrss ours-enc-full) > $(maxrss ours-enc-restore) ? $(maxrss ours-enc-full) : $(maxrss ours-enc-restore) ))
  erss=$(( erss > $(maxrss ours-enc-incremental) ? erss : $(maxrss ours-enc-incremental) ))
  echo "The targets are checked on the plain bitnobi backups (no \`--encrypt\`), as the issue sets them. The last column shows the same ratio for the encrypted ones (\`--encrypt\`, age), like for like with restic, which always encrypts; it is shown, not checked."
  echo
  echo "| target | measured | | bitnobi encrypted |"
  echo "|---|---|---|---|"
  echo "| full backup ≥ 2× restic's throughput | restic ÷ bitnobi time = $(ratio "$rf" "$of") | $(verdict "$rf/$of >= 2") | $(ratio "$rf" "$oef") |"
  echo "| full backup ≥ 80% of tar \| zstd -1 -T2 | tar+zstd ÷ bitnobi time = $(ratio "$tz" "$of") | $(verdict "$tz/$of >= 0.8") | $(ratio "$tz" "$oef") |"
  echo "| no-change backup ≤ 1/4 of restic's time | bitnobi ÷ restic = $(ratio "$on" "$rn") | $(verdict "$on/$rn <= 0.25") | $(ratio "$oen" "$rn") |"
  echo "| 1% change: time ≤ 1/2 of restic's | bitnobi ÷ restic = $(ratio "$oi" "$ri") | $(verdict "$oi/$ri <= 0.5") | $(ratio "$oei" "$ri") |"
  echo "| 1% change: added bytes ≤ 1/4 of restic's | bitnobi ÷ restic = $(ratio $oa $ra) | $(verdict "$ra > 0 && $oa/$ra <= 0.25") | $(ratio $oea $ra) |"
  echo "| full backup bytes ≤ restic's repository | bitnobi ÷ restic = $(ratio "$(bytes_med ours-full)" "$(bytes_med restic-full)") | $(verdict "$(bytes_med ours-full) <= $(bytes_med restic-full)") | $(ratio "$(bytes_med ours-enc-full)" "$(bytes_med restic-full)") |"
  echo "| restore ≥ 2× restic's speed | restic ÷ bitnobi time = $(ratio "$rr" "$orr") | $(verdict "$rr/$orr >= 2") | $(ratio "$rr" "$oer") |"
  if [ "$p99r" = - ]; then p99v="not measured"; else p99v=$(verdict "$p99r <= 1.5"); fi
  echo "| API p99 during backup ≤ 1.5× idle | $p99r | $p99v | not measured (the load test runs plain backups) |"
  echo "| peak RSS ≤ 256 MiB (backup, restore) | $(mib $((rss * 1024))) | $(verdict "$rss <= 262144") | $(mib $((erss * 1024))) |"
  echo
  echo "## Commands"
  echo
  echo "\`\$W\` is the work directory, \`\$W/data\` the data directory (a fresh \`cp -a\` of the seeded one for each repetition). Each repetition runs, in order, the limits, the full backups, the no-change backups, \`bitnobi dev seed --data-dir \$W/data --size $SIZE --seed $SEED --mutate\`, the incremental backups, the restores and the checks; within each step bitnobi plain, bitnobi encrypted, restic, borg. restic uses \`RESTIC_PASSWORD\` and \`restic init --repository-version 2\`; borg \`borg init -e none\`; bitnobi encrypted an age key pair made once per run, \`age-keygen -o \$W/age.key\`, and its public key \`AGE_RECIPIENT=\$(age-keygen -y \$W/age.key)\`."
  echo
  echo '```'
  sed "s|$AGE_RECIPIENT|\$AGE_RECIPIENT|g; s|$W|\$W|g" "$CMDS" | awk -F'\t' '{printf "%-20s %s\n", $1, $2}'
  echo '```'
  echo
  echo "## Raw times (wall seconds, peak RSS, CPU seconds)"
  echo
  echo '```'
  awk -F'\t' '{printf "%-20s rep %s  %8.3f s  %8d KiB  %7.2f s CPU\n", $1, $2, $3, $4, $5}' "$TIMES"
  echo '```'
} >"$OUT"
log "results in $OUT"
