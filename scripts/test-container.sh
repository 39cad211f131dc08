#!/usr/bin/env bash
# Builds the container image with podman and proves it without starting a
# container (this machine's sandbox cannot: crun cannot set rlimits, and
# no registry is reachable to pull golang). So:
#
#   1. the binary is built here, statically (CGO_ENABLED=0 go build), into
#      a root filesystem with /data, /backup and /tmp, packaged as a
#      throw-away image, and the Dockerfile is built with
#      --build-arg BINARY_FROM=that-image (its golang stage is then unused
#      and never pulled);
#   2. the image's configuration is checked: user 65532, the /data and
#      /backup volumes, the HEALTHCHECK, the entrypoint;
#   3. its root filesystem is mounted (podman image mount), copied, and the
#      entrypoint run there under chroot as uid 65532, with a temporary
#      data volume and a bind-mounted backup folder, as compose.yaml
#      mounts them: it serves (the HEALTHCHECK's command answers), takes a
#      backup into the bind-mounted folder while serving, and the backup
#      is restored into a second, empty data volume (a new container),
#      which serves again.
#
#   bash scripts/test-container.sh
#
# It installs podman from Debian when missing (root only). Exit status 0
# when every step passed.
set -euo pipefail

log() { printf 'container: %s\n' "$*" >&2; }
fail() { log "FAIL: $*"; exit 1; }

repo=$(cd "$(dirname "$0")/.." && pwd)
if ! command -v podman >/dev/null; then
  [ "$(id -u)" -eq 0 ] || fail "podman is missing: apt-get install podman"
  log "installing Debian's podman"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q podman >/dev/null
fi

work=$(mktemp -d)
tag=localhost/bitnobi-test:$$
bintag=localhost/bitnobi-binary:$$
cleanup() {
  set +e
  [ -n "${serve_pid:-}" ] && kill "$serve_pid" 2>/dev/null && wait "$serve_pid" 2>/dev/null
  podman image unmount "$tag" >/dev/null 2>&1
  podman rmi -f "$tag" "$bintag" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

# 1. The image, from a binary built here.
log "building the static binary"
mkdir -p "$work/ctx/out/rootfs/usr/local/bin" "$work/ctx/out/rootfs/data" "$work/ctx/out/rootfs/backup" "$work/ctx/out/rootfs/tmp"
chmod 1777 "$work/ctx/out/rootfs/tmp"
(cd "$repo" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$work/ctx/out/rootfs/usr/local/bin/bitnobi" ./cmd/bitnobi)
if ldd "$work/ctx/out/rootfs/usr/local/bin/bitnobi" >/dev/null 2>&1; then fail "the binary is not static"; fi
printf 'FROM scratch\nCOPY out /out\n' > "$work/ctx/Containerfile"
podman build -q --format docker -t "$bintag" -f "$work/ctx/Containerfile" "$work/ctx" >/dev/null
log "building the Dockerfile"
podman build -q --format docker --build-arg BINARY_FROM="$bintag" -t "$tag" -f "$repo/Dockerfile" "$repo" >/dev/null
size=$(podman image inspect --format '{{.Size}}' "$tag")
log "image size: $((size / 1024 / 1024)) MiB"

# 2. Its configuration.
cfg() { podman image inspect --format "$1" "$tag"; }
[ "$(cfg '{{.Config.User}}')" = "65532:65532" ] || fail "user is $(cfg '{{.Config.User}}'), want 65532:65532"
vols=$(cfg '{{range $k, $v := .Config.Volumes}}{{$k}} {{end}}')
[[ "$vols" == *"/data"* && "$vols" == *"/backup"* ]] || fail "volumes are $vols, want /data and /backup"
hc=$(cfg '{{json .Config.Healthcheck}}')
[[ "$hc" == *'/usr/local/bin/bitnobi'*'health'* ]] || fail "healthcheck is $hc"
[ "$(cfg '{{json .Config.Entrypoint}}')" = '["/usr/local/bin/bitnobi"]' ] || fail "entrypoint is $(cfg '{{json .Config.Entrypoint}}')"
mapfile -t envs < <(podman image inspect --format '{{range .Config.Env}}{{println .}}{{end}}' "$tag" | grep -v '^$')
log "configuration ok: user 65532, volumes $vols, healthcheck, env ${envs[*]}"

# 3. Its root filesystem, under chroot, as the container would run it.
mnt=$(podman image mount "$tag")
[ -x "$mnt/usr/local/bin/bitnobi" ] || fail "no /usr/local/bin/bitnobi in the image"
[ "$(stat -c %u "$mnt/data")" = 65532 ] || fail "/data is not owned by 65532"
hostbackup="$work/host-backup" # the bind-mounted folder (./backup of compose.yaml)
keys="$work/keys"
mkdir -p "$hostbackup" "$keys"
chown 65532:65532 "$hostbackup" "$keys"

# run ROOT ARGS...: "bitnobi ARGS..." (found on the image's PATH, as
# "docker compose exec bitnobi bitnobi ..." finds it) in a copy of the image's root,
# with /proc (the server finds its own binary there, to run scheduled
# backups), with VOLUME as /data and the host's backup folder bind-mounted on /backup.
newroot() {
  local root=$work/$1
  mkdir -p "$root"
  cp -a "$mnt/." "$root/"
  mkdir -p "$root/keys" "$root/proc"
  echo "$root"
}
# run ROOT ARGS...: bitnobi ARGS in ROOT. With exec=exec set, the shell
# running it becomes the server (unshare, sh, env and chroot each exec the
# next), so that a backgrounded `(exec=exec; run ...) &` leaves in $! the
# server's own pid: killing a subshell that merely waits for it would leave
# the server running after the test.
run() {
  local root=$1
  shift
  ${exec:-} unshare -m sh -c 'mount --bind "$1" "$2/backup" && mount --bind "$3" "$2/keys" && mount --rbind /proc "$2/proc" && shift 3 && exec env -i "$@"' \
    sh "$hostbackup" "$root" "$keys" "${envs[@]}" chroot --userspec=65532:65532 "$root" bitnobi "$@"
}

first=$(newroot c1)
port=18$((RANDOM % 900 + 100))
log "serving from the image's root on 127.0.0.1:$port"
(exec=exec; run "$first" serve --listen "127.0.0.1:$port" --log-level warn --backup-schedule off) >"$work/serve1.log" 2>&1 &
serve_pid=$!
for i in $(seq 1 100); do
  run "$first" health --url "http://127.0.0.1:$port" >/dev/null 2>&1 && break
  [ "$i" = 100 ] && { cat "$work/serve1.log" >&2; fail "the server did not answer /api/health"; }
  sleep 0.2
done
curl -fsS -X POST -H 'Content-Type: application/json' -d '{"username":"admin","email":"admin@example.org","password":"correct horse battery"}' \
  "http://127.0.0.1:$port/api/auth/signup" >/dev/null || fail "sign-up refused"
log "backing up into the bind-mounted folder while serving"
out=$(run "$first" backup --quiet) || fail "backup failed: $out"
name=$(basename "$out")
[ -f "$hostbackup/$name/manifest.json" ] || fail "no $name in the host's backup folder"
cp "$first/data/bitnobi/master.key" "$keys/master.key"
chown 65532:65532 "$keys/master.key"
kill "$serve_pid"; wait "$serve_pid" 2>/dev/null || true; serve_pid=

log "restoring $name into a new container's empty /data"
second=$(newroot c2)
run "$second" restore "$name" --key-file /keys/master.key >"$work/restore.log" 2>&1 || { cat "$work/restore.log" >&2; fail "restore failed"; }
(exec=exec; run "$second" serve --listen "127.0.0.1:$port" --log-level warn --backup-schedule off) >"$work/serve2.log" 2>&1 &
serve_pid=$!
for i in $(seq 1 100); do
  run "$second" health --url "http://127.0.0.1:$port" >/dev/null 2>&1 && break
  [ "$i" = 100 ] && { cat "$work/serve2.log" >&2; fail "the restored server did not answer /api/health"; }
  sleep 0.2
done
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' -d '{"username":"admin","password":"correct horse battery"}' "http://127.0.0.1:$port/api/auth/signin")
[ "$code" = 200 ] || fail "the restored server does not know admin (sign-in answered $code)"
log "ok: built, configured, served, backed up into the bind mount, restored into a new volume, served again"
