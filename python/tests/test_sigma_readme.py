"""The README's five-line Sigma example (read EVTX -> match Sigma -> join with anomaly scores)
run as written on the in-repo fixture: three SigmaHQ rules and their regression .evtx files."""

from pathlib import Path

import pytest

import vigil

pl = pytest.importorskip("polars")

FIXTURE = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "sigma"


def case_ids():
    """The rule id of each fixture case, read from its info.yml (rule_metadata id)."""
    ids = set()
    for info in (FIXTURE / "events").glob("*.info.yml"):
        lines = info.read_text().splitlines()
        meta = lines.index("rule_metadata:")
        ids.add(lines[meta + 1].split("id:")[1].strip())
    return ids


def test_readme_five_lines(monkeypatch):
    monkeypatch.chdir(FIXTURE.parents[2])
    # --- the README's lines ---
    events = vigil.read_evtx("tests/fixtures/sigma/events")                      # EVTX -> polars
    rules = vigil.SigmaRules.load("tests/fixtures/sigma/rules")                  # Sigma rules
    model = vigil.Pipeline([rules.stage(), vigil.entropy("CommandLine")], detector=vigil.RobustZ()).fit(events)
    scored = model.score(events, features=True).with_row_index("row").cast({"row": pl.UInt64})  # + rule levels
    hits = rules.match(events).join(scored.select("row", "score", "sigma_max_level"), on="row")
    # --- checks ---
    assert isinstance(events, pl.DataFrame) and events.height == 7
    # Each fixture case's rule fires (SigmaHQ's regression data: match_count 1 each).
    assert set(hits["rule_id"].to_list()) == case_ids()
    # The joined per-event level is the highest level of the rules hitting that row.
    rank = {"informational": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}
    best = hits.group_by("row").agg(pl.col("level").replace_strict(rank).max().alias("want"))
    check = best.join(hits.select("row", "sigma_max_level").unique(), on="row")
    assert (check["want"] == check["sigma_max_level"].cast(pl.Int64)).all()
    # Rows without a CommandLine have no entropy and so no score (rows in = rows out).
    no_cmd = scored.filter(pl.col("CommandLine").is_null())
    assert no_cmd["score"].is_null().all() and no_cmd.height > 0
