"""Renders the README's plot images (docs/img/*.png) from the bundled data in ../shared/data.

Run from the project root with vigil, polars and matplotlib installed:
    python docs/make_images.py
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

import vigil
import vigil.plot

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data"
OUT = ROOT / "docs" / "img"


def lines(path: Path) -> list[str]:
    return [s for s in path.read_text().splitlines() if s]


def domains():
    benign = lines(DATA / "domains" / "opendns-top-domains.txt")
    dga = [d for fam in ("necurs", "gozi", "banjori") for d in lines(DATA / "domains" / "dga" / f"{fam}.txt")[:40]]
    baseline = pa.table({"query": benign[:5000]})
    today = pa.table({"query": benign[5000:] + dga})
    # A day where a third of the queries come from DGA malware: features drift.
    infected = pa.table({"query": benign[5000:7000] + [d for fam in ("necurs", "qakbot", "gozi", "banjori")
                                                     for d in lines(DATA / "domains" / "dga" / f"{fam}.txt")[:250]]})
    return baseline, today, infected


def save(fig, name: str) -> None:
    path = OUT / name
    fig.savefig(path, dpi=80)
    print(f"{path.relative_to(ROOT)}: {path.stat().st_size // 1024} KiB")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    features = [vigil.entropy("query"), vigil.length("query"), vigil.char_classes("query")]

    # 1. Score distribution of a day of DNS queries with DGA domains among them.
    baseline, today, infected = domains()
    model = vigil.Pipeline(features, detector=vigil.RobustZ(), threshold=vigil.BaselineQuantile(0.995)).fit(baseline)
    scored = model.score(today)
    save(vigil.plot.score_distribution(scored, model.cutoff), "score_distribution.png")

    # 2. One web client's requests over time (the web-shell session of the bundled access log).
    web = vigil.read_log(DATA / "web" / "access_log_webshell.txt", "apache", to="pyarrow")
    web = web.append_column("ts", pc.strptime(web["time"], format="%d/%b/%Y:%H:%M:%S %z", unit="s", error_is_null=True))
    web = web.filter(pc.is_valid(web["ts"]))
    web_features = [vigil.entropy("path"), vigil.length("path"), vigil.char_classes("path")]
    web_model = vigil.Pipeline(web_features, detector=vigil.RobustZ(), threshold=vigil.BaselineQuantile(0.99)).fit(web.slice(0, 400))
    web_scored = web_model.score(web)
    # The web-shell session (06:31 UTC on): the earlier browsing is an hour before.
    web_scored = web_scored.filter(pc.greater_equal(web_scored["ts"], pa.scalar(1531290600, pa.timestamp("s", "UTC"))))
    save(vigil.plot.entity_timeline(web_scored, "192.168.105.83", by="client", cutoff=web_model.cutoff),
         "entity_timeline.png")

    # 3. Linux syslog templates per day; templates unknown to a miner of the first 500 lines are new.
    log = vigil.read_log(DATA / "loghub" / "Linux" / "Linux_2k.log", "syslog", to="pyarrow")
    log = log.append_column("ts", pc.strptime(pc.utf8_replace_slice(log["timestamp"], 0, 0, "2005 "),
                                              format="%Y %b %d %H:%M:%S", unit="s", error_is_null=True))
    parsed = vigil.TemplateMiner().parse(log, column="message")
    save(vigil.plot.template_counts(parsed, every="1d", new_since="2005-07-15"), "template_counts.png")

    # 4. Feature drift between the baseline day and today.
    ref = vigil.extract(baseline, features)
    cur = vigil.extract(infected, features)
    cols = [c for c in ref.column_names if c != "query"]
    save(vigil.plot.drift(vigil.drift(ref, cur, cols)), "drift.png")


if __name__ == "__main__":
    main()
