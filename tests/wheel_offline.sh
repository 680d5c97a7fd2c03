#!/usr/bin/env bash
# Release wheel for an offline machine: builds vigil's wheel with `maturin build --release`
# (timed), gathers its dependencies' wheels (pyarrow, numpy) into a wheelhouse, then installs
# from that folder alone into a fresh venv with the network shut (`pip install --no-index`,
# proxies pointed at a closed port) and runs tests/pip_smoke.py on the bundled data.
#
# Usage (from the project root): bash tests/wheel_offline.sh [WHEELHOUSE_DIR]
#   default WHEELHOUSE_DIR: target/wheelhouse. Copy that folder to the offline machine and run
#   pip install --no-index --find-links WHEELHOUSE_DIR vigil
# Needs maturin (VIGIL_VENV, default .venv) and python3 with venv. Set CARGO_TARGET_DIR to
# time a build from a cold target directory.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
VENV="$(cd "${VIGIL_VENV:-.venv}" && pwd)"
HOUSE="$(mkdir -p "${1:-target/wheelhouse}" && cd "${1:-target/wheelhouse}" && pwd)"
rm -f "$HOUSE"/vigil-*.whl

echo "== maturin build --release (CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-all cores})"
start=$(date +%s)
(cd python && PYO3_PYTHON="$VENV/bin/python" "$VENV/bin/maturin" build --release -q -o "$HOUSE")
secs=$(( $(date +%s) - start ))
WHEEL="$(ls "$HOUSE"/vigil-*.whl)"
echo "built $(basename "$WHEEL") ($(du -h "$WHEEL" | cut -f1)) in ${secs} s"

echo "== dependency wheels (online step: pyarrow, numpy for this Python)"
"$VENV/bin/pip" download -q --disable-pip-version-check --only-binary :all: -d "$HOUSE" "$WHEEL"

echo "== offline install into a fresh venv (--no-index, network shut)"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
python3 -m venv "$TMP/venv"
env http_proxy=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9 \
  HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 PIP_NO_INDEX=1 \
  "$TMP/venv/bin/pip" install -q --disable-pip-version-check --no-index --find-links "$HOUSE" "$WHEEL"
(cd "$TMP" && "$TMP/venv/bin/python" "$ROOT/tests/pip_smoke.py" "$ROOT/../shared/data" --expect-no-polars)
echo "wheel_offline: ok (release build ${secs} s)"
