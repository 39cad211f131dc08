# Bitnobi's container image: one static binary on an empty base (no
# shell, no package manager), run as an unprivileged user, with the data
# directory and the backup folder as volumes.
#
#   docker build -t bitnobi .
#   docker compose up -d          (see compose.yaml and the README)
#
# The data directory is /data/bitnobi, inside the /data volume rather than
# the volume itself, because a restore builds the new state beside the
# data directory and then switches it in with renames: both must be on the
# volume, in a directory the unprivileged user may write.
#
# The binary is /usr/local/bin/bitnobi, on the PATH, so that "docker
# compose exec bitnobi bitnobi backup" finds it.
#
# The binary is built in the first stage. To package a binary built
# elsewhere (go build, as scripts/test-container.sh does offline), give an
# image that holds it in /out/rootfs: --build-arg BINARY_FROM=that-image.
ARG BINARY_FROM=build

FROM docker.io/library/golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/rootfs/usr/local/bin/bitnobi ./cmd/bitnobi \
 && mkdir -p /out/rootfs/data /out/rootfs/backup /out/rootfs/tmp \
 && chmod 1777 /out/rootfs/tmp

FROM ${BINARY_FROM} AS binary

FROM scratch
COPY --from=binary --chown=65532:65532 /out/rootfs/ /
USER 65532:65532
ENV BITNOBI_DATA_DIR=/data/bitnobi \
    BITNOBI_BACKUP_DIR=/backup \
    BITNOBI_LISTEN=:8000 \
    TMPDIR=/tmp
VOLUME ["/data", "/backup"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/bitnobi", "health", "--url", "http://127.0.0.1:8000"]
ENTRYPOINT ["/usr/local/bin/bitnobi"]
CMD ["serve"]
