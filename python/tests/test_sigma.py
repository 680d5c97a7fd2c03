"""vigil.SigmaRules: loading with reasons, matching polars and pyarrow, the per-event shape
and the pipeline stage. Expected rows are worked out by hand from the rules below."""

import os
import tempfile

import polars as pl
import pyarrow as pa
import vigil

RULES = """
title: Whoami
id: r-whoami
level: high
tags: [attack.discovery, attack.t1033]
logsource: {category: process_creation, product: windows}
detection:
    sel:
        Image|endswith: '\\\\whoami.exe'
    condition: sel
---
title: Encoded PowerShell
id: r-enc
level: medium
logsource: {category: process_creation, product: windows}
detection:
    sel:
        CommandLine|contains|windash: ' -enc '
    filter:
        User: SYSTEM
    condition: sel and not filter
---
title: Linux thing
id: r-linux
level: critical
logsource: {product: linux}
detection:
    keywords: [whoami]
    condition: keywords
---
title: Broken
id: r-bad
status: test
logsource: {product: windows}
detection:
    sel:
        Image|nosuchmodifier: x
    condition: sel
"""


def events():
    return pl.DataFrame({
        "timestamp": pl.Series([1_700_000_000_000_000_000 + i for i in range(5)]).cast(pl.Datetime("ns", "UTC")),
        "event_id": [1, 1, 4688, 1, 1],
        "channel": ["Microsoft-Windows-Sysmon/Operational"] * 2 + ["Security"] + ["Microsoft-Windows-Sysmon/Operational"] * 2,
        "Image": [r"C:\Windows\System32\whoami.exe", r"C:\x\powershell.exe", None, None, "x"],
        "NewProcessName": [None, None, r"C:\Windows\System32\WHOAMI.EXE", None, None],
        "CommandLine": ["whoami", "powershell /enc AAAA", "whoami /all", "powershell -enc BBBB", None],
        "User": ["bob", "bob", None, "SYSTEM", None],
    })


def test_load_report_and_match_polars():
    rules = vigil.SigmaRules.from_yaml(RULES)
    assert len(rules) == 3
    rep = rules.report()
    assert isinstance(rep, pl.DataFrame)
    assert rep["rule_id"].to_list() == ["r-bad"]
    assert rep["kind"].to_list() == ["modifier"] and "nosuchmodifier" in rep["reason"][0]
    assert rep["status"].to_list() == ["test"]
    hits = rules.match(events())
    assert isinstance(hits, pl.DataFrame)
    # Row 0: Sysmon whoami. Row 1: /enc (windash) by bob. Row 2: Security 4688 with the
    # Image renamed to NewProcessName. Row 3: -enc but by SYSTEM (filtered). The Linux rule
    # never fires on Windows rows.
    assert list(zip(hits["row"].to_list(), hits["rule_id"].to_list())) == [
        (0, "r-whoami"), (1, "r-enc"), (2, "r-whoami")]
    assert hits["tags"][0].to_list() == ["attack.discovery", "attack.t1033"]
    assert hits["level"].to_list() == ["high", "medium", "high"]
    assert hits["timestamp"].cast(pl.Int64).to_list() == [1_700_000_000_000_000_000 + i for i in (0, 1, 2)]


def test_pyarrow_in_pyarrow_out_and_add_columns():
    rules = vigil.SigmaRules.from_yaml(RULES)
    table = events().to_arrow()
    hits = rules.match(table)
    assert isinstance(hits, pa.Table) and hits.num_rows == 3
    shaped = rules.match(events(), add_columns=True)
    assert shaped["sigma_max_level"].to_list() == [4, 3, 4, 0, 0]
    assert shaped["sigma_rules"].to_list() == [["r-whoami"], ["r-enc"], ["r-whoami"], [], []]


def test_linux_rule_fires_only_on_rows_no_product_claims():
    rules = vigil.SigmaRules.from_yaml(RULES)
    syslog = pl.DataFrame({"message": ["user ran whoami", "nothing"]})
    hits = rules.match(syslog)
    assert hits["rule_id"].to_list() == ["r-linux"] and hits["row"].to_list() == [0]


def test_sigma_stage_in_extract():
    rules = vigil.SigmaRules.from_yaml(RULES)
    out = vigil.extract(events(), [rules.stage(), vigil.length("CommandLine")])
    assert out["sigma_max_level"].to_list() == [4, 3, 4, 0, 0]
    assert "CommandLine_len_bytes" in out.columns


def test_user_pipeline_and_placeholders(tmp_path):
    p = tmp_path / "pipe.yml"
    p.write_text("logsources:\n  - {category: process_creation, product: windows, conditions: {channel_x: yes}}\n")
    rules = vigil.SigmaRules.from_yaml(RULES, pipeline=p)
    # The user's entry replaces both shipped process_creation entries: no row has channel_x.
    assert rules.match(events()).height == 0
    text = ("title: t\nid: p\nlogsource: {category: test}\ndetection:\n  sel:\n    u|expand: '%admins%'\n"
            "  condition: sel\n")
    assert vigil.SigmaRules.from_yaml(text).counts_by_reason() == {"placeholder": 1}
    r = vigil.SigmaRules.from_yaml(text, placeholders={"admins": ["root", "adm"]}, shipped_pipeline=False)
    assert r.match(pl.DataFrame({"u": ["adm", "bob", "root"]}))["row"].to_list() == [0, 2]


def test_load_directory_never_fails(tmp_path):
    (tmp_path / "a.yml").write_text(RULES)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.yaml").write_text("title: [unclosed\n")
    rules = vigil.SigmaRules.load(tmp_path)
    assert len(rules) == 3
    assert sorted(rules.report()["kind"].to_list()) == ["modifier", "yaml"]
    assert "SigmaRules" in repr(rules) and "<b>SigmaRules</b>" in rules._repr_html_()


def test_sigma_stage_in_a_scored_pipeline():
    # Rule hits ride beside the anomaly score: the detector sees only the entropy feature.
    rules = vigil.SigmaRules.from_yaml(RULES)
    df = events().with_columns(pl.col("CommandLine").fill_null(""))
    model = vigil.Pipeline([rules.stage(), vigil.entropy("CommandLine")], detector=vigil.RobustZ()).fit(df)
    scored = model.score(df, features=True)
    assert scored["sigma_max_level"].to_list() == [4, 3, 4, 0, 0]
    assert "score" in scored.columns and scored["score"].null_count() == 0
    again = vigil.Model.load(str(_save(model)))
    assert again.score(df, features=True)["sigma_rules"].to_list() == scored["sigma_rules"].to_list()


def _save(model):
    path = os.path.join(tempfile.mkdtemp(), "m.json")
    model.save(path)
    return path
