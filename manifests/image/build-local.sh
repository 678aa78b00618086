#!/usr/bin/env bash
# Build the image with no container registry and no Docker daemon, then start it once.
#   manifests/image/build-local.sh [TAG]          (make image; needs root, Debian's
#                                                   podman, buildah and debootstrap)
# 1. The base: Debian bookworm with its Python 3.11 (what python:3.11-slim-bookworm holds),
#    made by debootstrap from Debian's archive and imported as a local image (once).
# 2. `podman build` of the Dockerfile on that base, with chroot isolation: no cgroups or
#    rlimits needed, so it also works in sandboxes where OCI runtimes cannot start.
# 3. The image's command (`scaler serve`, as its USER) with manifests/base/config.env on
#    loopback ports, run by buildah; the image's HEALTHCHECK command must answer SERVING and
#    the dashboard page 200. Exit 0 only if all of that holds.
set -euo pipefail
cd "$(dirname "$0")/../.."
tag="${1:-localhost/sonic-scaler:local}"
base="localhost/sonic-scaler-base:bookworm"

if ! podman image exists "$base"; then
  root="$(mktemp -d)"
  debootstrap --variant=minbase \
    --include=python3,python3-venv,python-is-python3,ca-certificates \
    bookworm "$root/rootfs" http://deb.debian.org/debian
  tar -C "$root/rootfs" -c . | podman import --change 'CMD ["python3"]' - "$base"
  rm -rf "$root"
fi

# pip inside the build trusts what this machine trusts (a TLS-inspecting proxy's CA, say).
mounts=()
[ -f /etc/ssl/certs/ca-certificates.crt ] &&
  mounts+=(-v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro)
[ -f /etc/pip.conf ] && mounts+=(-v /etc/pip.conf:/etc/pip.conf:ro)
podman build --isolation chroot --format docker "${mounts[@]}" \
  --build-arg PYTHON_IMAGE="$base" -t "$tag" .

# Start it: the shipped settings, loopback ports, overrides in a file (no cluster here).
port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
grpc_port="$(port)" metrics_port="$(port)" dashboard_port="$(port)"
ctr="$(buildah from "$tag")"
envs=()
while IFS= read -r line; do
  case "$line" in '' | \#*) ;; *) envs+=(--env "$line") ;; esac
done < manifests/base/config.env
envs+=(--env "SCALER_GRPC_LISTEN=127.0.0.1:$grpc_port"
  --env "SCALER_METRICS_LISTEN=127.0.0.1:$metrics_port"
  --env "SCALER_DASHBOARD_LISTEN=127.0.0.1:$dashboard_port"
  --env SCALER_OVERRIDES_CONFIGMAP= --env SCALER_OVERRIDES_FILE=/tmp/overrides.json
  --env SCALER_KUBERNETES_API=false --env SCALER_PROMETHEUS_URL=http://127.0.0.1:9)
buildah config "${envs[@]}" "$ctr"
entry="$(buildah inspect --format '{{range .OCIv1.Config.Entrypoint}}{{.}} {{end}}{{range .OCIv1.Config.Cmd}}{{.}} {{end}}' "$ctr")"
log="$(mktemp)"
# shellcheck disable=SC2086  # the image's ENTRYPOINT + CMD, word by word
buildah run --isolation chroot --network host "$ctr" -- $entry >"$log" 2>&1 &
pid=$!
cleanup() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  buildah rm "$ctr" >/dev/null
}
trap cleanup EXIT
healthy=""
for _ in $(seq 60); do
  if buildah run --isolation chroot --network host "$ctr" -- sonic-scaler-healthcheck; then
    healthy=yes
    break
  fi
  sleep 1
done
status="$(python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=10).status)' \
  "http://127.0.0.1:$dashboard_port/" || true)"
cat "$log"
[ -n "$healthy" ] || { echo "image: gRPC health never SERVING ($entry)"; exit 1; }
[ "$status" = 200 ] || { echo "image: dashboard answered '$status'"; exit 1; }
echo "image $tag: '$entry' as $(buildah inspect --format '{{.OCIv1.Config.User}}' "$ctr"): health SERVING, dashboard 200"
