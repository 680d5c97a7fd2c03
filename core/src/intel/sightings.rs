//! Sightings out: a STIX 2.1 bundle of `sighting` objects (one per indicator seen: count,
//! first and last seen, where sighted = an identity you name, optionally `observed-data`
//! with the values seen) and MISP sighting JSON, from a match table
//! ([`super::Intel::match_batch`]). Suppressed matches are left out unless asked for.

use std::collections::HashMap;

use arrow::array::{Array, RecordBatch};
use serde_json::{Value, json};

use super::normalize::IndicatorKind;
use crate::columns::{array_times, column, utf8};
use crate::error::{Error, Result};

/// How to write sightings.
#[derive(Clone, Debug, PartialEq)]
pub struct SightingOptions {
    /// Name of the identity that saw them (`where_sighted_refs`, `created_by_ref`).
    pub identity: String,
    /// A time column of the match table (first/last seen); `None` = `now` for both.
    pub time_column: Option<String>,
    /// Also write `observed-data` objects with the values seen.
    pub observed_data: bool,
    /// Include matches a warninglist suppressed.
    pub include_suppressed: bool,
    /// "Now" (created/modified, and seen times without a time column), ns since the epoch.
    pub now: i64,
}

impl SightingOptions {
    /// Options for `identity`, at the current time.
    pub fn new(identity: &str) -> Self {
        SightingOptions {
            identity: identity.to_string(),
            time_column: None,
            observed_data: false,
            include_suppressed: false,
            now: chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0),
        }
    }
}

fn stamp(ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns)
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

fn uuid5(text: &str) -> uuid::Uuid {
    let ns = uuid::Uuid::from_u128(0x2c3b_8f1e_77aa_4a0d_b6c5_3e9f_0d1a_5eed);
    uuid::Uuid::new_v5(&ns, text.as_bytes())
}

/// The STIX id an indicator id stands for: itself if `indicator--…`, `indicator--<uuid>`
/// for a bare uuid (MISP attributes), else a stable UUIDv5 of it.
pub fn indicator_ref(id: &str) -> String {
    if id.starts_with("indicator--") {
        id.to_string()
    } else if let Ok(u) = uuid::Uuid::parse_str(id) {
        format!("indicator--{u}")
    } else {
        format!("indicator--{}", uuid5(id))
    }
}

struct Group {
    id: String,
    kind: String,
    values: Vec<String>,
    count: u64,
    first: i64,
    last: i64,
}

fn groups(matches: &RecordBatch, opts: &SightingOptions) -> Result<Vec<Group>> {
    let ids = utf8(column(matches, "indicator_id")?.as_ref(), "indicator_id")?;
    let kinds = utf8(column(matches, "kind")?.as_ref(), "kind")?;
    let values = utf8(column(matches, "value")?.as_ref(), "value")?;
    let sup = utf8(column(matches, "suppressed_by")?.as_ref(), "suppressed_by")?;
    let times = match &opts.time_column {
        Some(c) => Some(array_times(column(matches, c)?.as_ref(), c)?),
        None => None,
    };
    let mut order: Vec<Group> = Vec::new();
    let mut at: HashMap<String, usize> = HashMap::new();
    for i in 0..matches.num_rows() {
        if ids.is_null(i) || (!opts.include_suppressed && sup.is_valid(i)) {
            continue;
        }
        let t = match &times {
            Some(t) if t.is_valid(i) => t.ns.get(i).copied().unwrap_or(opts.now),
            Some(_) => continue,
            None => opts.now,
        };
        let id = ids.value(i);
        let g = match at.get(id) {
            Some(&g) => g,
            None => {
                at.insert(id.to_string(), order.len());
                order.push(Group {
                    id: id.to_string(),
                    kind: kinds.value(i).to_string(),
                    values: Vec::new(),
                    count: 0,
                    first: t,
                    last: t,
                });
                order.len() - 1
            }
        };
        if let Some(g) = order.get_mut(g) {
            g.count += 1;
            g.first = g.first.min(t);
            g.last = g.last.max(t);
            let v = values.value(i);
            if values.is_valid(i) && g.values.len() < 100 && !g.values.iter().any(|x| x == v) {
                g.values.push(v.to_string());
            }
        }
    }
    Ok(order)
}

/// A STIX cyber-observable for a value of an indicator kind (none for substrings).
fn observable(kind: &str, value: &str) -> Option<Value> {
    let kind = IndicatorKind::parse(kind).ok().flatten()?;
    let (t, body) = match kind {
        IndicatorKind::Ip | IndicatorKind::Cidr => {
            let t = if value.contains(':') {
                "ipv6-addr"
            } else {
                "ipv4-addr"
            };
            (t, json!({ "value": value.trim() }))
        }
        IndicatorKind::Domain | IndicatorKind::DomainSuffix => {
            ("domain-name", json!({ "value": value.trim() }))
        }
        IndicatorKind::Url => ("url", json!({ "value": value.trim() })),
        IndicatorKind::Email => ("email-addr", json!({ "value": value.trim() })),
        IndicatorKind::Md5 | IndicatorKind::Sha1 | IndicatorKind::Sha256 => {
            let algo = match kind {
                IndicatorKind::Md5 => "MD5",
                IndicatorKind::Sha1 => "SHA-1",
                _ => "SHA-256",
            };
            (
                "file",
                json!({ "hashes": { algo: value.trim().to_ascii_lowercase() } }),
            )
        }
        IndicatorKind::Substring => return None,
    };
    let mut obj = body;
    if let Value::Object(m) = &mut obj {
        m.insert("type".into(), json!(t));
        m.insert("spec_version".into(), json!("2.1"));
        m.insert(
            "id".into(),
            json!(format!("{t}--{}", uuid5(&format!("{t}:{value}")))),
        );
    }
    Some(obj)
}

/// A STIX 2.1 bundle: the identity, then per indicator seen a `sighting` (and, with
/// `observed_data`, an `observed-data` object and the observables it refers to).
pub fn stix_sightings(matches: &RecordBatch, opts: &SightingOptions) -> Result<Value> {
    if opts.identity.trim().is_empty() {
        return Err(Error::param("identity", "name who saw the indicators"));
    }
    let now = stamp(opts.now);
    let identity_id = format!(
        "identity--{}",
        uuid5(&format!("identity:{}", opts.identity))
    );
    let mut objects = vec![json!({
        "type": "identity", "spec_version": "2.1", "id": identity_id,
        "created": now, "modified": now, "name": opts.identity, "identity_class": "organization",
    })];
    for g in groups(matches, opts)? {
        let indicator = indicator_ref(&g.id);
        let key = format!(
            "{}|{indicator}|{}|{}|{}",
            opts.identity, g.first, g.last, g.count
        );
        let mut s = json!({
            "type": "sighting", "spec_version": "2.1",
            "id": format!("sighting--{}", uuid5(&key)),
            "created": now, "modified": now, "created_by_ref": identity_id,
            "sighting_of_ref": indicator, "count": g.count.min(999_999_999),
            "first_seen": stamp(g.first), "last_seen": stamp(g.last),
            "where_sighted_refs": [identity_id],
        });
        if opts.observed_data {
            let scos: Vec<Value> = g
                .values
                .iter()
                .filter_map(|v| observable(&g.kind, v))
                .collect();
            if !scos.is_empty() {
                let refs: Vec<Value> = scos.iter().filter_map(|o| o.get("id").cloned()).collect();
                let od_id = format!("observed-data--{}", uuid5(&format!("od|{key}")));
                objects.push(json!({
                    "type": "observed-data", "spec_version": "2.1", "id": od_id,
                    "created": now, "modified": now, "created_by_ref": identity_id,
                    "first_observed": stamp(g.first), "last_observed": stamp(g.last),
                    "number_observed": g.count.clamp(1, 999_999_999), "object_refs": refs,
                }));
                objects.extend(scos);
                if let Value::Object(m) = &mut s {
                    m.insert("observed_data_refs".into(), json!([od_id]));
                }
            }
        }
        objects.push(s);
    }
    let bundle_id = format!(
        "bundle--{}",
        uuid5(&format!("bundle|{}|{}", opts.identity, opts.now))
    );
    Ok(json!({ "type": "bundle", "id": bundle_id, "objects": objects }))
}

/// MISP sightings: one `{"Sighting": {...}}` per (indicator, value) seen, `type` "0" (a
/// sighting), `date_sighting` the last time seen (epoch seconds), `source` the identity,
/// `attribute_uuid` when the indicator id is a MISP attribute uuid.
pub fn misp_sightings(matches: &RecordBatch, opts: &SightingOptions) -> Result<Value> {
    let mut out = Vec::new();
    for g in groups(matches, opts)? {
        let attr = uuid::Uuid::parse_str(&g.id).ok();
        for v in &g.values {
            let mut s = json!({
                "uuid": uuid5(&format!("misp|{}|{}|{v}|{}", opts.identity, g.id, g.last)).to_string(),
                "value": v, "source": opts.identity, "type": "0",
                "date_sighting": (g.last.div_euclid(1_000_000_000)).to_string(),
            });
            if let (Some(a), Value::Object(m)) = (attr, &mut s) {
                m.insert("attribute_uuid".into(), json!(a.to_string()));
            }
            out.push(json!({ "Sighting": s }));
        }
    }
    Ok(Value::Array(out))
}
