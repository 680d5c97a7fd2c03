#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 300) each, one after the other (nightly +
# cargo-fuzz). Seeds: put sample inputs in corpus/<target>/ (not committed).
set -u
cd "$(dirname "$0")"
SECS="${1:-300}"
for t in header_format reader_header reader_syslog reader_access reader_jsonl reader_zeek miner model_json evtx_json sigma_rule intel_file stix_pattern; do
  mkdir -p "corpus/$t"
  cargo +nightly fuzz run -O "$t" "corpus/$t" -- -max_total_time="$SECS" -rss_limit_mb=4096 -max_len=65536 > "fuzz-$t.log" 2>&1
  echo "$t exit $? $(grep -E '^Done|#[0-9]+ *DONE' "fuzz-$t.log" | tail -1)"
done
