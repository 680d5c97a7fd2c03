#!/usr/bin/env bash
# EVTX read throughput on one big file, whole process: the chunks of an EVTX file (default: the
# evtx crate's sample security.evtx as rsigma-runtime ships it, 2,261 events in 26 chunks)
# repeated COPIES times (default 100: 226,100 events, 170 MB) into one file by
# benches/evtx_concat.py; read by vigil (release example evtx_read), evtx_dump (`cargo install
# evtx`, if on PATH or in $EVTX_DUMP) and python-evtx (one copy only: it is slow).
# Run under `flock /work/bench.lock` on a shared machine.
set -euo pipefail
cd "$(dirname "$0")/.."
COPIES="${1:-100}"
SRC="${SRC:-$(ls -d ~/.cargo/registry/src/*/rsigma-runtime-*/tests/fixtures 2>/dev/null | head -1)}"
VENV="${VIGIL_VENV:-.venv}"
DIR="$(mktemp -d)"
trap 'rm -rf "$DIR"' EXIT
mkdir -p "$DIR/src"
cp "$SRC"/*.evtx "$DIR/src/"
python3 benches/evtx_concat.py "$DIR/src" "$COPIES" "$DIR/big.evtx"
cargo build -q --release -p vigil --example evtx_read
echo "== vigil (read_evtx, whole process)"
/usr/bin/time -f "%e s wall, %M KiB max RSS" target/release/examples/evtx_read "$DIR/big.evtx"
DUMP="${EVTX_DUMP:-$(command -v evtx_dump || true)}"
if [ -n "$DUMP" ]; then
  echo "== evtx_dump -o jsonl ($("$DUMP" --version))"
  /usr/bin/time -f "%e s wall, %M KiB max RSS" "$DUMP" -o jsonl "$DIR/big.evtx" > /dev/null
fi
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import Evtx" 2> /dev/null; then
  echo "== python-evtx (records -> XML, one copy)"
  /usr/bin/time -f "%e s wall, %M KiB max RSS" "$VENV/bin/python" -c "
import glob, Evtx.Evtx as E
n = 0
for f in glob.glob('$DIR/src/*.evtx'):
    with E.Evtx(f) as log:
        for r in log.records():
            r.xml(); n += 1
print(n, 'events')"
fi
