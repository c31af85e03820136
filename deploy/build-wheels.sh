#!/usr/bin/env bash
# Build the wheels of slotraft and of every runtime dependency on the host, into
# deploy/wheels/, for the image build (which has no network). Uses the project's venv.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON=python3
rm -rf deploy/wheels
# async-timeout: redis-py needs it on Pythons before 3.11.3, such as Debian 12's 3.11.2,
# which the host's Python may not (so pip would not fetch it here).
"$PYTHON" -m pip wheel --quiet --wheel-dir deploy/wheels . "async-timeout>=4.0.3"
echo "wheels in deploy/wheels: $(ls deploy/wheels | wc -l) files"
