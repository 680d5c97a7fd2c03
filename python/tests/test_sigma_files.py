"""vigil.SigmaRules over Parquet files (streamed in batches, rows numbered across batches and
files), correlations from Python, and vigil.hunt. Expected values are worked out by hand
(the correlation windows are the hand-computed cases of tests/sigma/correlation.rs) or held
against the in-memory result computed by a different path (the whole table at once)."""

from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import vigil

from test_sigma import RULES, events

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "sigma"


def _sorted(df):
    return df.sort(["row", "rule_id"])


def test_parquet_file_equals_in_memory_on_the_fixture(tmp_path):
    rules = vigil.SigmaRules.load(FIXTURE / "rules")
    ev = vigil.read_evtx(FIXTURE / "events")
    path = tmp_path / "ev.parquet"
    ev.write_parquet(path, row_group_size=3)
    whole = rules.match(ev)
    # 7 events, 5 hits (3 Anydesk, 1 Wmic, 1 scheduled task: the fixture's README).
    assert whole.height == 5
    for batch_rows in (1, 2, 4, 65536):
        got = rules.match(path, batch_rows=batch_rows, progress=False)
        assert isinstance(got, pl.DataFrame)
        assert got.equals(whole), batch_rows
    arrow = rules.match(str(path), to="pyarrow", batch_rows=2)
    assert isinstance(arrow, pa.Table) and arrow.num_rows == 5 and pl.from_arrow(arrow).equals(whole)


def test_rows_count_across_files_and_directories(tmp_path):
    rules = vigil.SigmaRules.from_yaml(RULES)
    df = events()
    # Hand-checked in test_sigma: rows 0 (whoami), 1 (enc), 2 (whoami via NewProcessName).
    (tmp_path / "d" / "sub").mkdir(parents=True)
    df.slice(0, 2).write_parquet(tmp_path / "d" / "a.parquet")
    df.slice(2, 3).write_parquet(tmp_path / "d" / "sub" / "b.parquet")
    (tmp_path / "d" / "notes.txt").write_text("not parquet")
    want = [(0, "r-whoami"), (1, "r-enc"), (2, "r-whoami")]
    for src in (tmp_path / "d", [tmp_path / "d" / "a.parquet", tmp_path / "d" / "sub" / "b.parquet"]):
        hits = rules.match(src, batch_rows=1)
        assert list(zip(hits["row"].to_list(), hits["rule_id"].to_list())) == want
        assert hits["timestamp"].cast(pl.Int64).to_list() == [1_700_000_000_000_000_000 + i for i in (0, 1, 2)]
    # Files in the order given: b first shifts a's rows by b's 3.
    hits = rules.match([tmp_path / "d" / "sub" / "b.parquet", tmp_path / "d" / "a.parquet"])
    assert list(zip(hits["row"].to_list(), hits["rule_id"].to_list())) == [(0, "r-whoami"), (3, "r-whoami"), (4, "r-enc")]


def test_generated_file_in_many_batches_equals_in_memory(tmp_path):
    # 20,000 generated events (several 4096-row evaluation chunks per batch, row groups
    # that do not line up with batches): streamed hits equal the whole table's.
    rules = vigil.SigmaRules.from_yaml(RULES)
    base = events()
    n = 20_000
    idx = [(i * 7919) % base.height for i in range(n)]
    big = base[idx].with_columns(
        pl.when(pl.int_range(n) % 3 == 0).then(pl.col("CommandLine") + " x").otherwise(pl.col("CommandLine")).alias("CommandLine"),
        (pl.lit(1_700_000_000_000_000_000) + pl.int_range(n)).cast(pl.Datetime("ns", "UTC")).alias("timestamp"),
    )
    path = tmp_path / "big.parquet"
    pq.write_table(big.to_arrow(), path, row_group_size=3_000)
    whole = rules.match(big)
    assert whole.height > 5_000
    seen = []
    got = rules.match(path, batch_rows=1_000, progress=lambda *a: None)
    assert _sorted(got).equals(_sorted(whole)) and got.equals(whole)
    # A pyarrow table of many chunks is matched chunk by chunk, rows numbered across them.
    chunked = pq.read_table(path)
    assert chunked.column(0).num_chunks > 1
    assert pl.from_arrow(rules.match(chunked)).equals(whole)
    # Progress is reported by rows (a callable bar stand-in through the native hook).
    rules._native.matches_parquet([str(path)], 4_000, lambda d, t: seen.append((d, t)))
    assert seen[-1] == (n, n) and [d for d, _ in seen] == list(range(4_000, n + 1, 4_000))


def test_match_batches_hands_out_the_same_hits(tmp_path):
    rules = vigil.SigmaRules.from_yaml(RULES)
    df = events()
    df.slice(0, 2).write_parquet(tmp_path / "a.parquet")
    df.slice(2, 3).write_parquet(tmp_path / "b.parquet")
    # Batches of 1 row: rows 0, 1, 2 hit (hand-checked in test_sigma), rows 3 and 4 do not,
    # so three one-hit tables come out, rows numbered across the files.
    got = list(rules.match_batches(tmp_path, batch_rows=1, progress=False))
    assert [t.height for t in got] == [1, 1, 1]
    assert pl.concat(got).equals(rules.match(df))
    arrow = list(rules.match_batches([tmp_path / "b.parquet"], to="pyarrow"))
    assert len(arrow) == 1 and isinstance(arrow[0], pa.Table) and arrow[0]["row"].to_pylist() == [0]
    with pytest.raises(vigil.VigilError, match="missing"):
        rules.match_batches(tmp_path / "missing.parquet")


def test_file_errors(tmp_path):
    rules = vigil.SigmaRules.from_yaml(RULES)
    with pytest.raises(vigil.VigilError, match="does-not-exist"):
        rules.match(tmp_path / "does-not-exist.parquet")
    (tmp_path / "empty").mkdir()
    with pytest.raises(vigil.VigilError, match="no Parquet files"):
        rules.match(tmp_path / "empty")
    with pytest.raises(ValueError, match="add_columns"):
        rules.match(tmp_path / "x.parquet", add_columns=True)


BASE = """
title: Failed logon
id: 00000000-0000-0000-0000-000000004625
name: failed
logsource: {product: synthetic}
detection: {sel: {EventID: 4625}, condition: sel}
level: low
---
title: Logon
id: 00000000-0000-0000-0000-000000004624
name: success
logsource: {product: synthetic}
detection: {sel: {EventID: 4624}, condition: sel}
level: low
---
title: Process
id: 00000000-0000-0000-0000-000000004688
name: process
logsource: {product: synthetic}
detection: {sel: {EventID: 4688}, condition: sel}
level: low
"""

T0 = 1_704_067_200


def correlation(cid, body):
    return f"---\ntitle: Correlation {cid}\nid: {cid}\nlevel: high\ncorrelation:\n{body}"


def synthetic(rows):
    """(seconds after T0, EventID, User) rows as a polars frame."""
    return pl.DataFrame({
        "timestamp": pl.Series([(T0 + t) * 1_000_000_000 for t, _, _ in rows]).cast(pl.Datetime("ns", "UTC")),
        "EventID": [e for _, e, _ in rows],
        "User": [u for _, _, u in rows],
        "SourceIp": ["10.0.0.1"] * len(rows),
    })


def test_correlate_event_count_by_hand_table_and_files(tmp_path):
    rules = vigil.SigmaRules.from_yaml(BASE + correlation(
        "c1", "  type: event_count\n  rules: [failed]\n  group-by: [User]\n  timespan: 60s\n  condition: {gte: 3}\n"))
    # User a fails at 0, 10, 30, 95, 100, 150 (b at 20; a logon at 40 is another rule).
    # 60 s windows ending at each of a's events: at 30 {0, 10, 30} = 3 fires; at 150
    # {95, 100, 150} = 3 fires (150 - 60 = 90 <= 95); the others hold fewer.
    df = synthetic([(0, 4625, "a"), (10, 4625, "a"), (20, 4625, "b"), (30, 4625, "a"), (40, 4624, "a"),
                    (95, 4625, "a"), (100, 4625, "a"), (150, 4625, "a")])
    got = rules.correlate(df)
    assert isinstance(got, pl.DataFrame)
    assert got["correlation_id"].to_list() == ["c1", "c1"]
    assert got["type"].to_list() == ["event_count"] * 2 and got["level"].to_list() == ["high"] * 2
    assert got["group_by"].to_list() == [["User"], ["User"]]
    assert got["group_values"].to_list() == [["a"], ["a"]]
    assert got["value"].to_list() == [3.0, 3.0] and got["events"].to_list() == [3, 3]
    assert got["rows"].to_list() == [[0, 1, 3], [5, 6, 7]]
    assert got["trigger_row"].to_list() == [3, 7]
    ns = lambda s: (T0 + s) * 1_000_000_000  # noqa: E731
    assert got["window_start"].cast(pl.Int64).to_list() == [ns(0), ns(95)]
    assert got["window_end"].cast(pl.Int64).to_list() == [ns(30), ns(150)]
    # pyarrow in, pyarrow out; the same from Parquet files split across batches and files.
    arrow = rules.correlate(df.to_arrow())
    assert isinstance(arrow, pa.Table) and pl.from_arrow(arrow).equals(got)
    df.slice(0, 4).write_parquet(tmp_path / "1.parquet")
    df.slice(4).write_parquet(tmp_path / "2.parquet")
    assert rules.correlate(tmp_path, batch_rows=2, progress=False).equals(got)


def test_correlate_value_count_temporal_ordered_by_hand():
    rules = vigil.SigmaRules.from_yaml(BASE
        + correlation("vc", "  type: value_count\n  rules: failed\n  group-by: [SourceIp]\n  timespan: 5m\n"
                            "  condition: {field: User, gte: 3}\n")
        + correlation("tp", "  type: temporal\n  rules: [failed, success, process]\n  group-by: [User]\n  timespan: 1m\n")
        + correlation("to", "  type: temporal_ordered\n  rules: [failed, success]\n  group-by: [User]\n  timespan: 1m\n"))
    df = synthetic([
        (0, 4625, "a"), (10, 4625, "b"), (20, 4625, "b"),
        (30, 4624, "b"),   # 3: b failed then logged on: ordered fires
        (40, 4625, "c"),   # 4: third distinct user from 10.0.0.1: value_count fires
        (50, 4688, "b"),   # 5: b has all three rules within 1 m: temporal fires
        (200, 4624, "d"), (210, 4625, "d"),  # d logged on before failing: not ordered
        (220, 4688, "d"),  # 8: temporal fires for d
        (400, 4625, "e"),  # 9: value_count window (100, 400] holds d, e: no
    ])
    got = rules.correlate(df)
    assert list(zip(got["correlation_id"], got["group_values"].to_list(), got["value"], got["rows"].to_list())) == [
        ("to", ["b"], 2.0, [1, 2, 3]),
        ("vc", ["10.0.0.1"], 3.0, [0, 1, 2, 4]),
        ("tp", ["b"], 3.0, [1, 2, 3, 5]),
        ("vc", ["10.0.0.1"], 4.0, [0, 1, 2, 4, 7]),
        ("tp", ["d"], 3.0, [6, 7, 8]),
    ]


def test_correlate_without_correlation_rules_is_empty_with_the_columns():
    got = vigil.SigmaRules.from_yaml(BASE).correlate(synthetic([(0, 4625, "a")]))
    assert got.height == 0
    assert got.columns == ["correlation_id", "title", "level", "type", "group_by", "group_values",
                           "window_start", "window_end", "value", "events", "rows", "trigger_row"]


def test_hunt_on_the_fixture_equals_match_and_filters_by_level():
    rules = vigil.SigmaRules.load(FIXTURE / "rules")
    ev = vigil.read_evtx(FIXTURE / "events")
    hits = rules.match(ev)
    t = vigil.hunt(FIXTURE / "events", rules)
    assert t.columns == ["timestamp", "computer", "channel", "event_id", "level", "rule_title", "rule_id",
                         "kind", "record_id", "details", "source_file"]
    # Every detection is a match of the in-memory path, placed at its event.
    got = sorted(zip(t["rule_id"], t["record_id"], t["timestamp"].cast(pl.Int64)))
    want = sorted(zip(hits["rule_id"], ev["record_id"].gather(hits["row"]), hits["timestamp"].cast(pl.Int64)))
    assert got == want and set(t["kind"]) == {"detection"}
    assert t["timestamp"].is_sorted()
    # Levels of the fixture's rules: Anydesk and Wmic medium, the scheduled task high.
    high = vigil.hunt(str(FIXTURE / "events"), FIXTURE / "rules", min_level="high", to="pyarrow")
    assert isinstance(high, pa.Table)
    assert high["rule_id"].to_pylist() == ["7595ba94-cf3b-4471-aa03-4f6baa9e5fad"]
    assert high["event_id"].to_pylist() == [4701]
    with pytest.raises(ValueError, match="min_level"):
        vigil.hunt(FIXTURE / "events", rules, min_level="severe")


def test_hunt_json_events_with_a_correlation(tmp_path):
    import json

    rules = vigil.SigmaRules.from_yaml(BASE + correlation(
        "c1", "  type: event_count\n  rules: [failed]\n  group-by: [User]\n  timespan: 60s\n  condition: {gte: 3}\n"))
    # Three failed logons of a within 30 s: one correlation hit at the third (the failed
    # logon rule is named without generate: true, so its detections are not listed), and
    # the logon of b is a detection of its own (low).
    rows = [(0, 4625, "a"), (10, 4625, "a"), (20, 4624, "b"), (30, 4625, "a")]
    with open(tmp_path / "ev.jsonl", "w") as f:
        for i, (t, e, u) in enumerate(rows):
            f.write(json.dumps({"EventID": e, "User": u, "EventRecordID": i + 1,
                                "TimeCreated": f"2024-01-01T00:00:{t:02d}Z", "Computer": "pc"}) + "\n")
    t = vigil.hunt(tmp_path, rules)
    assert t["kind"].to_list() == ["detection", "correlation"]
    assert t["rule_id"].to_list() == ["00000000-0000-0000-0000-000000004624", "c1"]
    assert t["record_id"].to_list() == [3, 4]
    assert t["level"].to_list() == ["low", "high"]
    assert "event_count 3 over 3 events" in t["details"][1] and "User=a" in t["details"][1]
    everything = vigil.hunt(tmp_path / "ev.jsonl", rules, all_detections=True)
    assert everything["kind"].to_list().count("detection") == 4
    assert vigil.hunt(tmp_path, rules, min_level="medium")["rule_id"].to_list() == ["c1"]
