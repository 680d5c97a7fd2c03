"""vigil.Intel against independent references: Python's ipaddress (IP/CIDR membership and
longest prefix), a naive label-suffix walk (domains), hashlib (hashes), the stix2 library
(bundles in, sightings checked) and pymisp (MISP events and feeds in, sightings checked)."""

import datetime as dt
import hashlib
import ipaddress
import json
import pathlib
import random
import zipfile

import pyarrow as pa
import pytest

import vigil

stix2 = pytest.importorskip("stix2")


def _pairs(matches):
    t = matches if isinstance(matches, pa.Table) else matches.to_arrow()
    return {(r, i) for r, i in zip(t.column("row").to_pylist(), t.column("indicator_id").to_pylist())}


def _rand_net(rng, v6):
    if v6:
        # A few shared /16 roots so that prefixes overlap.
        root = rng.choice([0x20010db8, 0x2a000000, 0xfd000000]) << 96
        bits = root | rng.getrandbits(96)
        length = rng.choice([16, 24, 32, 48, 56, 64, 96, 112, 127, 128])
        return ipaddress.ip_network((bits, length), strict=False)
    root = rng.choice([10, 172, 192]) << 24
    bits = root | rng.getrandbits(24)
    length = rng.choice([8, 12, 16, 20, 24, 28, 30, 32])
    return ipaddress.ip_network((bits, length), strict=False)


@pytest.mark.parametrize("seed", [1, 2])
def test_ip_cidr_longest_prefix_against_ipaddress(seed):
    rng = random.Random(seed)
    nets = {}
    for _ in range(300):
        n = _rand_net(rng, rng.random() < 0.4)
        nets.setdefault(n, f"id-{len(nets)}")
    intel = vigil.Intel()
    csv_rows = ["value,kind,id,confidence"]
    for n, i in nets.items():
        text = str(n.network_address) if n.prefixlen == n.max_prefixlen else str(n)
        csv_rows.append(f"{text},{'ip' if '/' not in text else 'cidr'},{i},{rng.randint(0, 100)}")
    intel._i.load_text("\n".join(csv_rows) + "\n", "nets.csv")
    assert intel.report()["nets.csv"]["loaded"] == len(nets)
    events, expect = [], set()
    net_list = list(nets)
    for row in range(2000):
        if rng.random() < 0.7:
            n = rng.choice(net_list)
            addr = n.network_address + rng.randrange(n.num_addresses)
        else:
            addr = ipaddress.ip_address(rng.getrandbits(32)) if rng.random() < 0.5 else ipaddress.ip_address(rng.getrandbits(128))
        text = str(addr)
        if addr.version == 4 and rng.random() < 0.2:
            text = f"::ffff:{addr}"  # IPv4-mapped IPv6 is the same address
        events.append(text)
        containing = [n for n in net_list if addr.version == n.version and addr in n]
        if containing:
            best = max(n.prefixlen for n in containing)
            expect |= {(row, nets[n]) for n in containing if n.prefixlen == best}
    events += ["not-an-ip", "", None, "999.1.1.1"]
    df = pa.table({"dst": pa.array(events, pa.string())})
    m, rep = intel.match(df, {"dst": "ip"}, report=True)
    assert _pairs(m) == expect
    assert rep["columns"][0]["invalid"] == 2 and rep["columns"][0]["empty"] == 2


def _naive_domain_hits(name, exact, suffix):
    n = name.strip().rstrip(".").lower()
    labels = n.split(".")
    hits = {exact[n]} if n in exact else set()
    for k in range(len(labels)):
        s = ".".join(labels[k:])
        if s in suffix:
            hits.add(suffix[s])
    return hits


def test_domains_against_naive_suffix_walk():
    rng = random.Random(7)
    words = ["evil", "mail", "cdn", "a", "b", "example", "corp", "x1", "login"]
    tlds = ["com", "net", "org", "co.uk"]

    def name():
        return ".".join(rng.choice(words) for _ in range(rng.randint(1, 3))) + "." + rng.choice(tlds)

    exact, suffix = {}, {}
    intel = vigil.Intel()
    for i in range(60):
        d = name()
        if rng.random() < 0.5:
            exact.setdefault(d, f"e{i}")
            intel._i.load_text(f"value,kind,id\n{d},domain,{exact[d]}\n", "d")
        else:
            suffix.setdefault(d, f"s{i}")
            intel._i.load_text(f"value,kind,id\n{d},domain_suffix,{suffix[d]}\n", "d")
    events = []
    for _ in range(3000):
        d = name()
        if rng.random() < 0.3:
            d = d.upper()
        if rng.random() < 0.2:
            d += "."
        events.append(d)
    m = intel.match(pa.table({"query": events}), {"query": "domain"})
    expect = {(r, i) for r, e in enumerate(events) for i in _naive_domain_hits(e, exact, suffix)}
    assert _pairs(m) == expect
    assert len(expect) > 100


def test_idn_and_punycode_are_one_name():
    intel = vigil.Intel()
    intel.add(["bücher.example"], "domain_suffix", source="t")
    ev = ["www.BÜCHER.example.", "xn--bcher-kva.example", "buecher.example"]
    m = intel.match(pa.table({"q": ev}), {"q": "domain"})
    assert sorted(m.column("row").to_pylist()) == [0, 1]
    assert "bücher.example".encode("idna").decode() == "xn--bcher-kva.example"
    assert intel.indicators().column("value").to_pylist() == ["xn--bcher-kva.example"]


def test_hashes_against_hashlib():
    rng = random.Random(3)
    blobs = [rng.randbytes(rng.randint(0, 200)) for _ in range(90)]
    intel = vigil.Intel()
    expected_rows = {}
    events = []
    for i, b in enumerate(blobs):
        algo = ["md5", "sha1", "sha256"][i % 3]
        h = hashlib.new(algo, b).hexdigest()
        if i % 2 == 0:
            intel.add([h.upper() if i % 4 == 0 else h], "hash", source="h")
            expected_rows[len(events)] = algo
        events.append(h.upper() if i % 3 == 0 else h)
    events += ["zz" * 16, "abc", ""]
    m, rep = intel.match(pa.table({"sha": events}), {"sha": "hash"}, report=True)
    got = dict(zip(m.column("row").to_pylist(), m.column("kind").to_pylist()))
    assert got == expected_rows
    assert rep["columns"][0]["invalid"] == 2


def test_urls_emails_substrings():
    intel = vigil.Intel()
    intel.add(["HTTP://Evil.Example:80/%7Eadmin/login.php"], "url", source="u")
    intel.add(["Bob@Phish.Example"], "email", source="e")
    intel.add(["mimikatz", "Invoke-Expression"], "substring", source="s", confidence=70)
    df = pa.table({
        "url": ["http://evil.example/~admin/login.php", "https://evil.example/~admin/login.php",
                "evil.example/%7eadmin/login.php", "http://evil.example:8080/~admin/login.php"],
        "mail": ["<bob@phish.example>", "alice@phish.example", "BOB@PHISH.EXAMPLE.", "nope"],
        "cmd": ["run MIMIKATZ.exe", "iex (invoke-expression $x) mimikatz", "dir", None],
    })
    m = intel.match(df, {"url": "url", "mail": "email", "cmd": "substring"})
    got = sorted(zip(m.column("column").to_pylist(), m.column("row").to_pylist()))
    assert got == [("cmd", 0), ("cmd", 1), ("cmd", 1), ("mail", 0), ("mail", 2),
                   ("url", 0), ("url", 2)]


def _bundle(tmp_path):
    t0 = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    inds = [
        stix2.Indicator(pattern="[ipv4-addr:value = '203.0.113.0/24']", pattern_type="stix",
                        valid_from=t0, confidence=80, labels=["malicious-activity"]),
        stix2.Indicator(pattern="[domain-name:value = 'c2.evil.example' OR url:value = 'http://evil.example/x']",
                        pattern_type="stix", valid_from=t0),
        stix2.Indicator(pattern="[file:hashes.'SHA-256' = '" + hashlib.sha256(b"x").hexdigest() + "' AND file:hashes.MD5 = '" + hashlib.md5(b"x").hexdigest() + "']",
                        pattern_type="stix", valid_from=t0, valid_until=t0 + dt.timedelta(days=30)),
        stix2.Indicator(pattern="[network-traffic:dst_ref.value = '198.51.100.7']", pattern_type="stix", valid_from=t0),
        stix2.Indicator(pattern="[process:name = 'evil.exe']", pattern_type="stix", valid_from=t0),
        stix2.Indicator(pattern="[ipv4-addr:value = '1.1.1.1'] FOLLOWEDBY [domain-name:value = 'a.example']",
                        pattern_type="stix", valid_from=t0),
        stix2.Indicator(pattern="alert tcp any any -> any any (msg:\"x\";)", pattern_type="snort", valid_from=t0),
    ]
    path = tmp_path / "bundle.json"
    path.write_text(stix2.Bundle(objects=inds).serialize())
    return path, inds


def test_stix_bundle_written_by_stix2_loads_matches_and_reports(tmp_path):
    path, inds = _bundle(tmp_path)
    intel = vigil.Intel.load(path)
    rep = intel.report()["bundle.json"]
    assert rep["format"] == "stix" and rep["loaded"] == 6
    assert sum(rep["rejected"].values()) == 3
    reasons = " ".join(rep["rejected"])
    assert "process:name" in reasons and "FOLLOWEDBY" in reasons and "snort" in reasons
    df = pa.table({"ip": ["203.0.113.9", "198.51.100.7", "8.8.8.8"],
                   "q": ["C2.evil.example.", "evil.example", "x"],
                   "sha": [hashlib.md5(b"x").hexdigest(), hashlib.sha256(b"x").hexdigest(), "0" * 64]})
    m = intel.match(df, {"ip": "ip", "q": "domain", "sha": "hash"})
    got = set(zip(m.column("row").to_pylist(), m.column("indicator_id").to_pylist()))
    assert got == {(0, inds[0].id), (1, inds[3].id), (0, inds[1].id), (0, inds[2].id), (1, inds[2].id)}
    assert m.filter(pa.compute.equal(m.column("indicator_id"), inds[0].id)).column("confidence").to_pylist() == [80]
    # Expiry: the hash indicator is valid for 30 days from 2024-01-01.
    late = intel.match(df, {"sha": "hash"}, at=dt.datetime(2024, 3, 1, tzinfo=dt.timezone.utc))
    assert late.num_rows == 0
    assert intel.expire(dt.datetime(2024, 3, 1, tzinfo=dt.timezone.utc)) == 2 and len(intel) == 4


pymisp = pytest.importorskip("pymisp")


def _feed_json(ev):
    """The event as a MISP feed writes it (``to_feed`` needs the creator organisation)."""
    org = pymisp.MISPOrganisation()
    org.from_dict(name="ACME", uuid="5f6e7d8c-1111-4222-8333-944455556666")
    ev.Orgc = org
    return json.dumps(ev.to_feed(with_meta=False))


def _misp_event():
    ev = pymisp.MISPEvent()
    ev.info = "test event"
    ev.add_attribute("ip-dst", "192.0.2.10", to_ids=True)
    ev.add_attribute("ip-src|port", "192.0.2.99|8080", to_ids=True)
    ev.add_attribute("domain", "bad.example", to_ids=True)
    ev.add_attribute("hostname", "Host.Bad2.Example", to_ids=True)
    ev.add_attribute("url", "http://bad.example/a", to_ids=True)
    ev.add_attribute("md5", hashlib.md5(b"m").hexdigest().upper(), to_ids=True)
    ev.add_attribute("email-src", "spam@bad.example", to_ids=True)
    ev.add_attribute("ip-dst", "192.0.2.11", to_ids=False)  # context only: not loaded
    ev.add_attribute("regkey", "HKLM\\x", to_ids=True)  # type not matched
    ev.add_attribute("ip-dst", "300.1.1.1", to_ids=True)  # invalid
    return ev


def test_misp_event_and_feed_written_by_pymisp(tmp_path):
    ev = _misp_event()
    (tmp_path / "event.json").write_text(ev.to_json())
    intel = vigil.Intel.load(tmp_path / "event.json")
    rep = intel.report()["event.json"]
    assert rep["loaded"] == 7
    assert rep["rejected"] == {"to_ids is false": 1, "attribute type `regkey` is not matched": 1,
                               "invalid IP address": 1}
    feed = tmp_path / "feed"
    feed.mkdir()
    (feed / f"{ev.uuid}.json").write_text(_feed_json(ev))
    (feed / "manifest.json").write_text(json.dumps({ev.uuid: {"info": ev.info}}))
    fi = vigil.Intel.load(feed)
    assert fi.report()["feed"]["format"] == "misp_feed" and fi.report()["feed"]["loaded"] == 7
    df = pa.table({"ip": ["192.0.2.10", "192.0.2.99", "192.0.2.11"], "host": ["x.bad.example", "host.bad2.example", "bad.example"]})
    m = fi.match(df, {"ip": "ip", "host": "domain"})
    assert sorted(zip(m.column("column").to_pylist(), m.column("row").to_pylist())) == [
        ("host", 1), ("host", 2), ("ip", 0), ("ip", 1)]
    uuids = {a.value: a.uuid for a in ev.attributes}
    assert uuids["192.0.2.10"] in m.column("indicator_id").to_pylist()


def test_warninglists_suppress_and_say_so(tmp_path):
    (tmp_path / "list.json").write_text(json.dumps(
        {"name": "Test resolvers", "type": "cidr", "version": 1, "description": "d", "list": ["8.8.8.0/24", "2001:4860::/32"]}))
    intel = vigil.Intel.load(tmp_path / "list.json")
    intel.add(["8.8.8.8", "9.9.9.9", "2001:4860::8888"], "ip", source="feed")
    intel.add_warninglist("Top domains", "hostname", ["google.com"])
    intel.add(["mail.google.com", "evil.example"], "domain", source="feed")
    df = pa.table({"ip": ["8.8.8.8", "9.9.9.9", "2001:4860::8888"], "q": ["MAIL.google.com", "evil.example", "x"]})
    m = intel.match(df, {"ip": "ip", "q": "domain"})
    sup = dict(zip(zip(m.column("column").to_pylist(), m.column("row").to_pylist()), m.column("suppressed_by").to_pylist()))
    assert sup == {("ip", 0): "Test resolvers", ("ip", 1): None, ("ip", 2): "Test resolvers",
                   ("q", 0): "Top domains", ("q", 1): None}


def test_stix_and_misp_sightings_pass_their_libraries(tmp_path):
    path, inds = _bundle(tmp_path)
    intel = vigil.Intel.load(path)
    ts = pa.array([dt.datetime(2024, 1, 2, 3, 4, 5), dt.datetime(2024, 1, 2, 3, 4, 9),
                   dt.datetime(2024, 1, 1, 0, 0, 0)], pa.timestamp("us", "UTC"))
    df = pa.table({"ts": ts, "ip": ["203.0.113.9", "203.0.113.200", "198.51.100.7"]})
    m = intel.match(df, {"ip": "ip"}, keep=["ts"])
    bundle = vigil.stix_sightings(m, "ACME SOC", time_column="ts", observed_data=True)
    parsed = stix2.parse(json.dumps(bundle), allow_custom=False)
    sightings = [o for o in parsed.objects if o.type == "sighting"]
    by_ref = {s.sighting_of_ref: s for s in sightings}
    assert set(by_ref) == {inds[0].id, inds[3].id}
    s0 = by_ref[inds[0].id]
    assert s0.count == 2
    assert s0.first_seen == dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    assert s0.last_seen == dt.datetime(2024, 1, 2, 3, 4, 9, tzinfo=dt.timezone.utc)
    ident = [o for o in parsed.objects if o.type == "identity"][0]
    assert ident.name == "ACME SOC" and s0.where_sighted_refs == [ident.id]
    od = {o.id: o for o in parsed.objects if o.type == "observed-data"}
    assert od[s0.observed_data_refs[0]].number_observed == 2
    values = {o.value for o in parsed.objects if o.type == "ipv4-addr"}
    assert values == {"203.0.113.9", "203.0.113.200", "198.51.100.7"}
    misp = vigil.misp_sightings(m, "ACME SOC", time_column="ts")
    assert len(misp) == 3
    for s in misp:
        ms = pymisp.MISPSighting()
        ms.from_dict(**s)
        assert ms.source == "ACME SOC" and ms.type == "0"


def test_save_load_roundtrip_and_bad_files(tmp_path):
    intel = vigil.Intel()
    intel.add(["10.0.0.0/8", "evil.example", "a" * 32], "auto", source="s", confidence=40)
    intel.add_warninglist("w", "string", ["evil.example"])
    p = tmp_path / "set.json"
    intel.save(p)
    back = vigil.Intel.open(p)
    assert back.indicators().to_pylist() == intel.indicators().to_pylist()
    assert back.warninglists == ["w"]
    doc = json.loads(p.read_text())
    doc["version"] = 99
    with pytest.raises(vigil.ModelError, match="version"):
        vigil.Intel.from_json(json.dumps(doc))
    doc["version"] = 1
    doc["indicators"][0][1] = "10.0.0.1/8"  # not in normal form
    with pytest.raises(vigil.ModelError, match="normal form"):
        vigil.Intel.from_json(json.dumps(doc))
    with pytest.raises(vigil.ModelError):
        vigil.Intel.from_json("{\"format\": \"vigil-intel\", \"version\": 1}")


def test_updates_without_rebuild():
    intel = vigil.Intel()
    assert intel.add(["1.2.3.4", "5.6.7.0/24"], "auto", source="a") == 2
    assert intel.add(["1.2.3.4"], "ip", source="a") == 0  # duplicate
    df = pa.table({"ip": ["1.2.3.4", "5.6.7.8"]})
    assert intel.match(df, {"ip": "ip"}).num_rows == 2
    assert intel.remove(["5.6.7.0/24"], "cidr") == 1
    assert intel.match(df, {"ip": "ip"}).column("row").to_pylist() == [0]


def test_pipeline_stage_counts_hits():
    import polars as pl

    intel = vigil.Intel()
    intel.add(["10.0.0.0/8"], "cidr", source="a", confidence=30)
    intel.add(["10.1.1.1"], "ip", source="b", confidence=90)
    intel.add(["evil.example"], "domain_suffix", source="c")
    df = pl.DataFrame({"ip": ["10.1.1.1", "10.2.2.2", "8.8.8.8"], "q": ["a.evil.example", "x", "y"]})
    out = vigil.extract(df, [intel.stage({"ip": "ip", "q": "domain"})])
    assert out["intel_hits"].to_list() == [2, 1, 0]
    assert out["intel_max_confidence"].to_list() == [90.0, 30.0, 0.0]


ZEEK_ZIP = (pathlib.Path(__file__).resolve().parents[2].parent / "shared" / "data" / "otrf" / "datasets" / "compound"
            / "LSASS_campaign_01" / "metasploit_logonpasswords_lsass_memory_dump_zeek_logs.zip")


@pytest.mark.skipif(not ZEEK_ZIP.exists(), reason="../shared/data not present")
def test_readme_example_on_otrf_zeek_conn(tmp_path, monkeypatch):
    import polars as pl

    with zipfile.ZipFile(ZEEK_ZIP) as z:
        z.extract("conn.log", tmp_path)
    raw = vigil.read_log(tmp_path / "conn.log", format="zeek")
    resp = raw["id.resp_h"].drop_nulls().unique(maintain_order=True).to_list()
    orig = raw["id.orig_h"].drop_nulls().unique(maintain_order=True).to_list()
    t0 = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)
    inds = [stix2.Indicator(pattern=f"[ipv4-addr:value = '{ip}']", pattern_type="stix", valid_from=t0)
            for ip in resp[:3] if ":" not in ip]
    (tmp_path / "apt_bundle.json").write_text(stix2.Bundle(objects=inds).serialize())
    ev = pymisp.MISPEvent()
    ev.info = "feed event"
    ev.add_attribute("ip-src", orig[0], to_ids=True)
    feed = tmp_path / "misp_feed"
    feed.mkdir()
    (feed / f"{ev.uuid}.json").write_text(_feed_json(ev))
    (feed / "manifest.json").write_text(json.dumps({ev.uuid: {"info": ev.info}}))
    wl = tmp_path / "warninglists" / "public-dns"
    wl.mkdir(parents=True)
    (wl / "list.json").write_text(json.dumps({"name": "Local resolver", "type": "cidr", "list": [f"{resp[0]}/32"]}))
    monkeypatch.chdir(tmp_path)
    # The README's six lines.
    intel = vigil.Intel.load("apt_bundle.json", "misp_feed/", "warninglists/public-dns/list.json")
    conn = vigil.read_log("conn.log", format="zeek").with_columns(pl.col("ts").cast(pl.Float64))
    hits = intel.match(conn, {"id.orig_h": "ip", "id.resp_h": "ip"}, keep=["ts"])
    print(hits.filter(pl.col("suppressed_by").is_not_null()))
    print(intel.report())
    pathlib.Path("sightings.json").write_text(json.dumps(vigil.stix_sightings(hits, "ACME SOC", time_column="ts")))
    # Checked independently with polars and stix2.
    n_resp = {ip: conn.filter(pl.col("id.resp_h") == ip).height for ip in resp[:3]}
    from_feed = hits.filter((pl.col("column") == "id.orig_h") & (pl.col("source") == "misp_feed"))
    assert from_feed.height == conn.filter(pl.col("id.orig_h") == orig[0]).height
    stix_ips = set(resp[:3])
    assert hits.filter(pl.col("column") == "id.orig_h").height == conn.filter(
        pl.col("id.orig_h").is_in(stix_ips)).height + from_feed.height
    suppressed = hits.filter(pl.col("suppressed_by") == "Local resolver")
    assert suppressed.equals(hits.filter(pl.col("value") == resp[0]))
    per_orig = 1 + int(orig[0] == resp[0])
    assert suppressed.height == n_resp[resp[0]] + per_orig * conn.filter(pl.col("id.orig_h") == resp[0]).height
    bundle = stix2.parse(pathlib.Path("sightings.json").read_text(), allow_custom=False)
    counts = {s.sighting_of_ref: s.count for s in bundle.objects if s.type == "sighting"}
    expect = {i.id: n_resp[ip] for i, ip in zip(inds, resp[:3]) if ip != resp[0] and n_resp[ip]}
    assert {k: v for k, v in counts.items() if k in expect} == expect
    ts = conn.filter(pl.col("id.resp_h") == resp[1])["ts"]
    s1 = [s for s in bundle.objects if s.type == "sighting" and s.sighting_of_ref == inds[1].id][0]
    assert abs(s1.first_seen.timestamp() - ts.min()) < 2e-3 and abs(s1.last_seen.timestamp() - ts.max()) < 2e-3


def test_polars_match_never_loads_pyarrow():
    """A polars frame in, a polars frame out through the Arrow stream interface: pyarrow is
    never imported; the matches are the hand-checked ones, in the documented types."""
    import subprocess
    import sys

    code = """
import sys
import polars as pl
import vigil
intel = vigil.Intel()
intel.add(["10.0.0.0/8", "10.1.0.0/16"], "cidr", source="nets")
intel.add(["evil.example"], "domain_suffix", source="names", confidence=70)
df = pl.DataFrame({"ip": ["10.1.2.3", "8.8.8.8", None, "10.9.9.9"],
                   "q": ["a.evil.example", "good.example", "EVIL.example.", "x"]})
df = pl.concat([df.slice(0, 2), df.slice(2)], rechunk=False)
m, rep = intel.match(df, {"ip": "ip", "q": "domain"}, report=True)
assert "pyarrow" not in sys.modules, "a polars match loaded pyarrow"
got = sorted(zip(m["row"].to_list(), m["column"].cast(pl.String).to_list(),
                 m["value"].to_list(), m["kind"].cast(pl.String).to_list()))
# 10.1.2.3: the /16 wins over the /8; EVIL.example. is the listed domain itself.
want = [(0, "ip", "10.1.2.3", "cidr"), (0, "q", "a.evil.example", "domain_suffix"),
        (2, "q", "EVIL.example.", "domain_suffix"), (3, "ip", "10.9.9.9", "cidr")]
assert got == want, got
assert m.schema["row"] == pl.UInt64 and m.schema["column"] == pl.Categorical, m.schema
assert m.schema["suppressed_by"] == pl.Categorical, m.schema
assert m.filter(pl.col("column") == "q")["confidence"].to_list() == [70, 70]
assert m.filter(pl.col("column") == "ip")["confidence"].null_count() == 2
assert [c["matches"] for c in rep["columns"]] == [2, 2], rep
"""
    subprocess.run([sys.executable, "-c", code], check=True)
