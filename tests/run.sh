#!/usr/bin/env bash
# Runs every check and test of vigil (after `bash .ci/run` has set the machine up once):
# formatting, clippy, the Rust tests (CPU, and GPU parity on any Vulkan adapter: Mesa's
# lavapipe in CI, where a missing adapter fails the run), the main example, and the Python
# tests against a fresh build of the extension module.
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
# GPU failures are test failures here, not silent CPU fallbacks.
export VIGIL_GPU_STRICT=1
VENV="${VIGIL_VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "no Python venv at $VENV: run 'bash .ci/run' once (or set VIGIL_VENV)" >&2
  exit 2
fi
VENV="$(cd "$VENV" && pwd)"
export PYO3_PYTHON="$VENV/bin/python"

echo "== module layout (no import cycle, leaf module, file sizes)"
python3 tests/check_layout.py
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings
echo "== Rust tests (CPU + GPU parity)"
cargo test -p vigil
echo "== command-line tool (vigil score / mine / info on the bundled data, error cases)"
cargo test -p vigil-cli
echo "== main example (debug build, smoke run)"
cargo run -q -p vigil --example dga -- --top 3
echo "== Python extension + tests"
(cd python && VIRTUAL_ENV="$VENV" PATH="$VENV/bin:$PATH" maturin develop -q)
(cd python && "$VENV/bin/python" -m pytest -q)
