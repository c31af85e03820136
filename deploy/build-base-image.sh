#!/usr/bin/env bash
# Build a local Debian base image with Python 3 and venv, for machines that cannot pull
# images from a registry: debootstrap into a folder, then `docker import`.
# Idempotent: does nothing when the image already exists.
#
#   deploy/build-base-image.sh [IMAGE]        (default slotraft-base:bookworm)
#   then: export SLOTRAFT_BASE_IMAGE=IMAGE before the compose commands (README.md)
set -euo pipefail

IMAGE="${1:-slotraft-base:bookworm}"
SUITE="${SLOTRAFT_DEBIAN_SUITE:-bookworm}"
MIRROR="${SLOTRAFT_DEBIAN_MIRROR:-http://deb.debian.org/debian}"

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "base image $IMAGE exists; nothing to do"
  exit 0
fi

SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
if ! command -v debootstrap >/dev/null 2>&1; then
  echo "installing debootstrap"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq debootstrap >/dev/null
fi

ROOT="$(mktemp -d /tmp/slotraft-base.XXXXXX)"
trap '$SUDO rm -rf "$ROOT"' EXIT
echo "debootstrap $SUITE into $ROOT (a few minutes) ..."
$SUDO debootstrap --variant=minbase \
  --include=python3,python3-venv,ca-certificates,tini \
  "$SUITE" "$ROOT" "$MIRROR" >"$ROOT.log" 2>&1 || {
  echo "debootstrap failed; the last lines of $ROOT.log:" >&2
  tail -20 "$ROOT.log" >&2
  exit 1
}
rm -f "$ROOT.log"
# Smaller image: no package lists, caches or docs.
$SUDO rm -rf "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/cache/apt/*.bin \
  "$ROOT"/usr/share/doc/* "$ROOT"/usr/share/man/* "$ROOT"/usr/share/locale/*
echo "importing as $IMAGE"
$SUDO tar -C "$ROOT" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["/bin/bash"]' \
  - "$IMAGE" >/dev/null
echo "base image $IMAGE built"
