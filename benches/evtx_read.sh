#!/usr/bin/env bash
# EVTX read throughput, whole process: the SigmaHQ regression .evtx files linked COPIES times
# (default 50) into a temporary directory, read by vigil (release example, files in parallel)
# and by evtx_dump (the evtx crate's own CLI, JSON out to /dev/null, one process per file set
# via xargs -P, if installed) and python-evtx (pure Python, if installed in $VENV).
# Run under `flock /work/bench.lock` on a shared machine.
set -euo pipefail
cd "$(dirname "$0")/.."
COPIES="${1:-50}"
SRC="${SRC:-../shared/data/sigma/regression_data}"
VENV="${VIGIL_VENV:-.venv}"
DIR="$(mktemp -d)"
trap 'rm -rf "$DIR"' EXIT
i=0
while IFS= read -r f; do
  for c in $(seq 1 "$COPIES"); do
    mkdir -p "$DIR/$c"
    ln -s "$(realpath "$f")" "$DIR/$c/$i.evtx"
  done
  i=$((i + 1))
done < <(find "$SRC" -name '*.evtx' | sort)
echo "$i files x $COPIES copies = $((i * COPIES)) files in $DIR"
cargo build -q --release -p vigil --example evtx_read
cat "$DIR"/1/*.evtx > /dev/null  # page cache warm for everyone
echo "== vigil (read_evtx, whole process)"
/usr/bin/time -f "%e s wall, %M KiB max RSS" target/release/examples/evtx_read "$DIR"
if command -v evtx_dump > /dev/null; then
  echo "== evtx_dump -o jsonl (the crate's CLI, 2 processes at a time)"
  /usr/bin/time -f "%e s wall, %M KiB max RSS" \
    sh -c "find '$DIR' -name '*.evtx' -print0 | xargs -0 -n 200 -P 2 sh -c 'for f; do evtx_dump -o jsonl \"\$f\"; done' _ > /dev/null"
fi
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import Evtx" 2> /dev/null; then
  echo "== python-evtx (records -> XML, one copy of the files only)"
  /usr/bin/time -f "%e s wall, %M KiB max RSS" "$VENV/bin/python" -c "
import sys, glob, Evtx.Evtx as E
n = 0
for f in glob.glob('$DIR/1/*.evtx'):
    with E.Evtx(f) as log:
        for r in log.records():
            r.xml(); n += 1
print(n, 'events')"
fi
