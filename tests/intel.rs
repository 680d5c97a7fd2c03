//! Threat-intel matching on real Zeek logs (OTRF conn/dns) against a naive reference (a
//! linear scan over every indicator: prefix test by masking, suffix walk by string
//! comparison), and bad input that must never panic.

#![allow(clippy::unwrap_used, clippy::needless_range_loop)]

mod common;

use std::collections::{BTreeSet, HashSet};
use std::net::IpAddr;

use arrow::array::{Array, AsArray, RecordBatch};
use common::shared_data;
use vigil::intel::{ColumnKind, IndicatorKind, Intel, parse_pattern};
use vigil::logs::{LogFormat, LogReader};

fn read_zeek(dir: &std::path::Path, name: &str) -> RecordBatch {
    let mut r = LogReader::open(dir.join(name), LogFormat::ZeekTsv, 1 << 16).unwrap();
    let batches: Vec<_> = r.by_ref().map(|b| b.unwrap()).collect();
    vigil::logs::concat_batches(&batches).unwrap()
}

fn strings(b: &RecordBatch, col: &str) -> Vec<Option<String>> {
    let a = arrow::compute::cast(
        b.column_by_name(col).unwrap(),
        &arrow::datatypes::DataType::Utf8,
    )
    .unwrap();
    let s = a.as_string::<i32>();
    (0..s.len())
        .map(|i| s.is_valid(i).then(|| s.value(i).to_string()))
        .collect()
}

fn bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v) => u128::from(v.to_ipv6_mapped()),
        IpAddr::V6(v) => u128::from(v),
    }
}

/// (network bits, length in the 128-bit space, id)
type Net = (u128, u8, String);

fn naive_ip(value: &str, nets: &[Net]) -> BTreeSet<String> {
    let Ok(ip) = value.trim().parse::<IpAddr>() else {
        return BTreeSet::new();
    };
    let b = bits(ip);
    let inside: Vec<&Net> = nets
        .iter()
        .filter(|(n, len, _)| {
            let mask = if *len == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(*len))
            };
            b & mask == *n
        })
        .collect();
    let best = inside.iter().map(|(_, l, _)| *l).max();
    inside
        .iter()
        .filter(|(_, l, _)| Some(*l) == best)
        .map(|(_, _, id)| id.clone())
        .collect()
}

fn naive_domain(value: &str, suffixes: &[(String, String)]) -> BTreeSet<String> {
    let v = value.trim().trim_end_matches('.').to_ascii_lowercase();
    suffixes
        .iter()
        .filter(|(s, _)| v == *s || v.ends_with(&format!(".{s}")))
        .map(|(_, id)| id.clone())
        .collect()
}

#[test]
fn otrf_zeek_conn_and_dns_against_naive_reference() {
    let dir = std::env::temp_dir().join(format!("vigil-intel-zeek-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let zip = shared_data().join(
        "otrf/datasets/compound/LSASS_campaign_01/metasploit_logonpasswords_lsass_memory_dump_zeek_logs.zip",
    );
    let st = std::process::Command::new("unzip")
        .args(["-o", "-q"])
        .arg(&zip)
        .arg("-d")
        .arg(&dir)
        .status()
        .unwrap();
    assert!(st.success());
    let conn = read_zeek(&dir, "conn.log");
    let dns = read_zeek(&dir, "dns.log");
    let resp = strings(&conn, "id.resp_h");
    let orig = strings(&conn, "id.orig_h");
    let query = strings(&dns, "query");
    assert!(resp.len() > 100 && query.len() > 40);

    // Indicators from the data (every 5th distinct responder; /24 and /16 of every 7th
    // originator; parents of every 3rd query name) plus random noise networks and names.
    let mut intel = Intel::new();
    let mut nets: Vec<Net> = Vec::new();
    let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let distinct = |v: &[Option<String>]| -> Vec<String> {
        let mut seen = HashSet::new();
        v.iter()
            .flatten()
            .filter(|x| seen.insert((*x).clone()))
            .cloned()
            .collect()
    };
    let add_net = |intel: &mut Intel, text: String, nets: &mut Vec<Net>| {
        let (addr, len) = text
            .split_once('/')
            .map_or((text.as_str(), None), |(a, l)| (a, Some(l)));
        let Ok(ip) = addr.parse::<IpAddr>() else {
            return;
        };
        let full = if ip.is_ipv4() { 32 } else { 128 };
        let l: u8 = len.map_or(full, |l| l.parse().unwrap());
        let l128 = if ip.is_ipv4() { 96 + l } else { l };
        let mask = if l128 == 0 {
            0
        } else {
            u128::MAX << (128 - u32::from(l128))
        };
        let id = format!("n{}", nets.len());
        let csv = format!("value,kind,id\n{text},cidr,{id}\n");
        intel.load_text(&csv, "nets").unwrap();
        nets.push((bits(ip) & mask, l128, id));
    };
    for (i, ip) in distinct(&resp).into_iter().enumerate() {
        if i % 5 == 0 {
            add_net(&mut intel, ip, &mut nets);
        }
    }
    for (i, ip) in distinct(&orig).into_iter().enumerate() {
        if i % 7 == 0 && !ip.contains(':') {
            let o: Vec<&str> = ip.split('.').collect();
            add_net(
                &mut intel,
                format!("{}.{}.{}.0/24", o[0], o[1], o[2]),
                &mut nets,
            );
            add_net(&mut intel, format!("{}.{}.0.0/16", o[0], o[1]), &mut nets);
        }
    }
    for _ in 0..200 {
        let v4 = next() % 2 == 0;
        let text = if v4 {
            let a = next() as u32;
            format!("{}/{}", std::net::Ipv4Addr::from(a), 8 + next() % 25)
        } else {
            format!(
                "{}/{}",
                std::net::Ipv6Addr::from(u128::from(next()) << 64),
                16 + next() % 100
            )
        };
        add_net(&mut intel, text, &mut nets);
    }
    let mut suffixes: Vec<(String, String)> = Vec::new();
    for (i, q) in distinct(&query).into_iter().enumerate() {
        if i % 3 == 0 {
            let name = q.trim_end_matches('.').to_ascii_lowercase();
            let parent = name
                .split_once('.')
                .map_or(name.clone(), |(_, p)| p.to_string());
            if parent.is_empty() || parent.contains(' ') {
                continue;
            }
            let id = format!("d{}", suffixes.len());
            let csv = format!("value,kind,id\n{parent},domain_suffix,{id}\n");
            if intel.load_text(&csv, "names").unwrap() == 1 {
                suffixes.push((parent, id));
            }
        }
    }
    for k in 0..100 {
        let id = format!("d{}", suffixes.len());
        let name = format!("noise{k}.example{}", next() % 10);
        intel.add_indicator(
            "names",
            "code",
            vigil::intel::NewIndicator {
                value: name.clone(),
                kind: Some(IndicatorKind::DomainSuffix),
                id: Some(id.clone()),
                ..Default::default()
            },
        );
        suffixes.push((name, id));
    }

    for (batch, col, kind) in [
        (&conn, "id.resp_h", ColumnKind::Ip),
        (&conn, "id.orig_h", ColumnKind::Ip),
        (&dns, "query", ColumnKind::Domain),
    ] {
        let (m, rep) = intel.match_batch(batch, &[(col, kind)], None).unwrap();
        let rows = m.column(0).as_primitive::<arrow::datatypes::UInt64Type>();
        let ids = m.column(3).as_string_view();
        let mut got: Vec<BTreeSet<String>> = vec![BTreeSet::new(); batch.num_rows()];
        for i in 0..m.num_rows() {
            got[rows.value(i) as usize].insert(ids.value(i).to_string());
        }
        let values = strings(batch, col);
        let mut hit_rows = 0;
        for (r, v) in values.iter().enumerate() {
            let expect = match (v, kind) {
                (None, _) => BTreeSet::new(),
                (Some(v), ColumnKind::Ip) => naive_ip(v, &nets),
                (Some(v), _) => naive_domain(v, &suffixes),
            };
            hit_rows += usize::from(!expect.is_empty());
            assert_eq!(got[r], expect, "{col} row {r} value {v:?}");
        }
        assert!(hit_rows > 10, "{col}: only {hit_rows} rows hit");
        assert_eq!(rep.columns[0].matched_rows as usize, hit_rows);
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_input_never_panics() {
    let mut seed = 12345u64;
    let alphabet: &[u8] = b"[]()':=,. \\ORANDipv4-addr:valuefile:hashes.'SHA-256'IN0123456789/{}\"";
    for len in 0..400 {
        let mut s = Vec::new();
        for _ in 0..len % 97 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            s.push(alphabet[(seed >> 33) as usize % alphabet.len()]);
        }
        let text = String::from_utf8_lossy(&s).into_owned();
        let _ = parse_pattern(&text);
        let mut intel = Intel::new();
        let _ = intel.load_text(&text, "fuzz");
        let _ = Intel::from_json(&text);
    }
    let mut intel = Intel::new();
    for bad in [
        "{\"type\": \"bundle\", \"objects\": [{\"type\": \"indicator\", \"pattern\": 5}]}",
        "{\"Event\": {\"Attribute\": [{\"type\": \"ip-dst\", \"value\": null, \"to_ids\": true}]}}",
        "{\"Event\": 3}",
        "value,kind\n1.2.3.4/99,cidr\n\u{0}evil.com,domain\n,ip\n",
    ] {
        intel.load_text(bad, "bad").unwrap();
    }
    assert!(intel.is_empty());
    let rejected: u64 = intel.report()["bad"].rejected.values().sum();
    assert_eq!(rejected, 5, "{:?}", intel.report());
    assert!(intel.load_text("{not json", "x").is_err());
}
