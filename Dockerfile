# Charta's container image: the static charta binary and nothing else.
#
# Build it with `make docker`, which compiles dist/charta with CGO_ENABLED=0
# and uses dist/ as the build context (the context holds only the binary):
#
#   CGO_ENABLED=0 GOOS=linux go build -o dist/charta ./cmd/charta
#   docker build -t charta:dev -f Dockerfile dist
#
# There is no shell, no libc and no CA bundle: node-to-node TLS uses the
# consortium CA given with --tls-ca, so none is needed.
#
# The process runs as root inside the container, with every capability
# dropped by docker-compose.yml except DAC_OVERRIDE. Why not a non-root
# USER: a FROM-scratch build cannot chown a directory, so /data would be
# owned by root and a fresh named volume unwritable; and the node's TLS key
# is mode 0600, owned by whoever ran scripts/compose-init.sh on the host,
# so a fixed UID could not read it either. To run unprivileged, chown the
# data and config directories to a UID and pass --user (docs/containers.md).
FROM scratch
COPY charta /charta
# API (HTTP, /readyz, /metrics) and Raft (mTLS).
EXPOSE 8080 7000
WORKDIR /data
ENTRYPOINT ["/charta"]
CMD ["help"]
