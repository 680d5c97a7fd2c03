//! The threat-intel probe kernel on the GPU (Mesa lavapipe in CI) against its CPU twin: the
//! raw (status, mask) words and the whole match table, on random values and on real Zeek
//! logs (OTRF conn/dns) against indicators built from them plus noise.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use common::{Rng, gpu_available, shared_data};
use vigil::Backend;
use vigil::intel::{ColumnKind, IndicatorKind, Intel};
use vigil::logs::{LogFormat, LogReader};

/// GPU and CPU agree on the kernel words and the match table of every column.
fn same_on_both(intel: &Intel, batch: &RecordBatch, columns: &[(&str, ColumnKind)]) -> usize {
    let cpu = intel.clone().with_backend(Backend::Cpu);
    let gpu = intel.clone().with_backend(Backend::Gpu).strict_gpu();
    let mut probed = 0;
    for (name, kind) in columns {
        let a = batch.column_by_name(name).unwrap();
        let c = cpu.probe_words(a.as_ref(), *kind).unwrap().unwrap();
        let g = gpu.probe_words(a.as_ref(), *kind).unwrap().unwrap();
        assert_eq!(c.len(), 2 * a.len());
        for (row, (x, y)) in c.chunks(2).zip(g.chunks(2)).enumerate() {
            assert_eq!(
                x,
                y,
                "{name} row {row}: {:?}",
                a.as_string::<i32>().value(row)
            );
        }
        probed += c.chunks(2).filter(|w| w[0] == 0 && w[1] != 0).count();
    }
    let (mc, rc) = cpu.match_batch(batch, columns, None).unwrap();
    let (mg, rg) = gpu.match_batch(batch, columns, None).unwrap();
    assert_eq!(mc, mg);
    assert_eq!(rc, rg);
    assert!(mc.num_rows() > 0, "no match at all: a vacuous comparison");
    probed
}

fn pick(r: &mut Rng, n: usize) -> usize {
    (r.next_u64() % n as u64) as usize
}

#[test]
fn gpu_probe_equals_cpu_on_random_values() {
    if !gpu_available() {
        return;
    }
    let mut r = Rng(7);
    let mut intel = Intel::new();
    let mut ips = Vec::new();
    let mut names = Vec::new();
    let mut hashes = Vec::new();
    for _ in 0..3000 {
        let ip = format!(
            "10.{}.{}.{}",
            pick(&mut r, 8),
            pick(&mut r, 64),
            pick(&mut r, 256)
        );
        ips.push(ip.clone());
        let name = format!("h{}.d{}.example", pick(&mut r, 50), pick(&mut r, 200));
        names.push(name.clone());
        let h: String = (0..[32, 40, 64][pick(&mut r, 3)])
            .map(|_| char::from(b"0123456789abcdef"[pick(&mut r, 16)]))
            .collect();
        hashes.push(h);
    }
    intel.add(&ips, Some(IndicatorKind::Ip), "ips", Some(50));
    let nets: Vec<String> = (0..400)
        .map(|_| {
            format!(
                "10.{}.{}.0/{}",
                pick(&mut r, 8),
                pick(&mut r, 64),
                [12, 16, 20, 22, 24, 26, 28][pick(&mut r, 7)]
            )
        })
        .collect();
    intel.add(&nets, Some(IndicatorKind::Cidr), "nets", Some(60));
    intel.add(
        ["2001:db8::/32", "::ffff:10.3.0.0/112"],
        Some(IndicatorKind::Cidr),
        "v6",
        None,
    );
    intel.add(&names[..1500], Some(IndicatorKind::Domain), "names", None);
    let parents: Vec<String> = names[1500..]
        .iter()
        .map(|n| n.split_once('.').unwrap().1.to_string())
        .collect();
    intel.add(&parents, Some(IndicatorKind::DomainSuffix), "parents", None);
    intel.add(&hashes[..2000], None, "hashes", None);
    let n = 20_000;
    let mut ip_col = Vec::new();
    let mut dom_col = Vec::new();
    let mut hash_col = Vec::new();
    for _ in 0..n {
        let v = match pick(&mut r, 10) {
            0 => ips[pick(&mut r, ips.len())].clone(),
            1 => "2001:db8::7".to_string(),
            2 => format!(" 10.1.2.{}", pick(&mut r, 300)),
            3 => "-".to_string(),
            4 => "01.2.3.4".to_string(),
            _ => format!(
                "10.{}.{}.{}",
                pick(&mut r, 9),
                pick(&mut r, 64),
                pick(&mut r, 256)
            ),
        };
        ip_col.push(v);
        let nm = names[pick(&mut r, names.len())].clone();
        dom_col.push(match pick(&mut r, 8) {
            0 => nm.to_uppercase(),
            1 => format!("{nm}."),
            2 => format!("www.{nm}"),
            3 => format!("b\u{fc}cher.{nm}"),
            4 => format!("a..{nm}"),
            5 => "(empty)".into(),
            _ => nm,
        });
        let h = hashes[pick(&mut r, hashes.len())].clone();
        hash_col.push(match pick(&mut r, 4) {
            0 => h.to_uppercase(),
            1 => format!("{h}z"),
            _ => h,
        });
    }
    let col = |v: Vec<String>| Arc::new(StringArray::from(v)) as ArrayRef;
    let batch = RecordBatch::try_from_iter([
        ("ip", col(ip_col)),
        ("dom", col(dom_col)),
        ("hash", col(hash_col)),
    ])
    .unwrap();
    let probed = same_on_both(
        &intel,
        &batch,
        &[
            ("ip", ColumnKind::Ip),
            ("dom", ColumnKind::Domain),
            ("hash", ColumnKind::Hash),
        ],
    );
    assert!(probed > 5000, "only {probed} rows with candidates");
}

fn read_zeek(dir: &std::path::Path, name: &str) -> RecordBatch {
    let mut r = LogReader::open(dir.join(name), LogFormat::ZeekTsv, 1 << 16).unwrap();
    let batches: Vec<_> = r.by_ref().map(|b| b.unwrap()).collect();
    vigil::logs::concat_batches(&batches).unwrap()
}

fn utf8(b: &RecordBatch, name: &str) -> RecordBatch {
    let a = arrow::compute::cast(
        b.column_by_name(name).unwrap(),
        &arrow::datatypes::DataType::Utf8,
    )
    .unwrap();
    RecordBatch::try_from_iter([(name, a)]).unwrap()
}

#[test]
fn gpu_probe_equals_cpu_on_otrf_zeek_logs() {
    let zip = shared_data().join(
        "otrf/datasets/compound/LSASS_campaign_01/metasploit_logonpasswords_lsass_memory_dump_zeek_logs.zip",
    );
    if !zip.is_file() {
        eprintln!(
            "SKIPPED: {} is absent (the shared OTRF data)",
            zip.display()
        );
        return;
    }
    if !gpu_available() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("vigil-intel-parity-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
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
    let _ = std::fs::remove_dir_all(&dir);
    let distinct = |b: &RecordBatch, c: &str| -> Vec<String> {
        let a = utf8(b, c);
        let s = a.column(0).as_string::<i32>();
        let mut seen = HashSet::new();
        (0..s.len())
            .filter(|&i| s.is_valid(i))
            .map(|i| s.value(i).to_string())
            .filter(|v| seen.insert(v.clone()))
            .collect()
    };
    let mut r = Rng(11);
    let mut intel = Intel::new();
    let resp = distinct(&conn, "id.resp_h");
    intel.add(
        resp.iter().step_by(4),
        Some(IndicatorKind::Ip),
        "resp",
        Some(70),
    );
    let nets: Vec<String> = distinct(&conn, "id.orig_h")
        .iter()
        .step_by(3)
        .filter_map(|ip| ip.rsplit_once('.').map(|(a, _)| format!("{a}.0/24")))
        .collect();
    intel.add(&nets, Some(IndicatorKind::Cidr), "orig", Some(40));
    let names = distinct(&dns, "query");
    intel.add(
        names.iter().step_by(5),
        Some(IndicatorKind::Domain),
        "names",
        None,
    );
    let parents: Vec<String> = names
        .iter()
        .step_by(3)
        .filter_map(|n| n.split_once('.').map(|(_, p)| p.to_string()))
        .collect();
    intel.add(&parents, Some(IndicatorKind::DomainSuffix), "parents", None);
    // Noise: random networks and names that the logs do not hold.
    let noise: Vec<String> = (0..2000)
        .map(|_| {
            format!(
                "{}.{}.{}.0/{}",
                1 + pick(&mut r, 200),
                pick(&mut r, 256),
                pick(&mut r, 256),
                16 + pick(&mut r, 13)
            )
        })
        .collect();
    intel.add(&noise, Some(IndicatorKind::Cidr), "noise", None);
    let noise: Vec<String> = (0..2000)
        .map(|i| format!("n{i}.noise{}.test", pick(&mut r, 99)))
        .collect();
    intel.add(&noise, Some(IndicatorKind::DomainSuffix), "noise", None);
    let c = conn.clone();
    let conn_cols = RecordBatch::try_from_iter([
        ("id.resp_h", utf8(&c, "id.resp_h").column(0).clone()),
        ("id.orig_h", utf8(&c, "id.orig_h").column(0).clone()),
    ])
    .unwrap();
    same_on_both(
        &intel,
        &conn_cols,
        &[("id.resp_h", ColumnKind::Ip), ("id.orig_h", ColumnKind::Ip)],
    );
    same_on_both(
        &intel,
        &utf8(&dns, "query"),
        &[("query", ColumnKind::Domain)],
    );
}

/// The CPU answers address probes from exact IPv4 prefix sets (bitmaps up to /24, a /24
/// filter and hash sets beyond, constants for lengths covering the IPv4-mapped block) and
/// hashes rows of one length four at a time; the GPU hashes every probe. Same words, same
/// matches, over the whole address space and every kind of length.
#[test]
fn gpu_probe_equals_cpu_on_exact_ipv4_sets_and_hash_runs() {
    if !gpu_available() {
        return;
    }
    let mut r = Rng(99);
    let quad = |r: &mut Rng| {
        let a = r.next_u64() as u32;
        std::net::Ipv4Addr::from(a)
    };
    let mut nets: Vec<String> = vec!["::/1".into(), "8000::/1".into(), "::ffff:0:0/96".into()];
    let mut held = Vec::new();
    for _ in 0..4000 {
        let len = [1, 8, 16, 23, 24, 25, 29, 31, 32][pick(&mut r, 9)];
        let a = u32::from(quad(&mut r)) & (u32::MAX << (32 - len));
        held.push(a);
        nets.push(format!("{}/{len}", std::net::Ipv4Addr::from(a)));
    }
    let mut intel = Intel::new();
    // /1 and /8 draws repeat (duplicates are merged).
    assert!(intel.add(&nets, None, "nets", Some(40)) > 3000);
    let hashes: Vec<String> = (0..3000)
        .map(|i| {
            (0..[64, 64, 64, 40, 32][i % 5])
                .map(|_| char::from(b"0123456789abcdefABCDEF"[pick(&mut r, 22)]))
                .collect()
        })
        .collect();
    intel.add(&hashes[..2000], None, "hashes", None);
    let n = 30_000;
    let ip_col: Vec<String> = (0..n)
        .map(|_| match pick(&mut r, 3) {
            0 => std::net::Ipv4Addr::from(
                held[pick(&mut r, held.len())] | (r.next_u64() as u32 & 0x7f),
            )
            .to_string(),
            _ => quad(&mut r).to_string(),
        })
        .collect();
    let hash_col: Vec<String> = (0..n)
        .map(|i| hashes[(i / 3 + pick(&mut r, 2)) % hashes.len()].clone())
        .collect();
    let col = |v: Vec<String>| Arc::new(StringArray::from(v)) as ArrayRef;
    let batch = RecordBatch::try_from_iter([("ip", col(ip_col)), ("hash", col(hash_col))]).unwrap();
    let probed = same_on_both(
        &intel,
        &batch,
        &[("ip", ColumnKind::Ip), ("hash", ColumnKind::Hash)],
    );
    // Every address is in ::/1 and ::ffff:0:0/96; a third are in a held network.
    assert!(probed > n * 3 / 2, "{probed}");
}
