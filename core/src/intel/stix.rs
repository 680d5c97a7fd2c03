//! STIX 2.1 bundles in: `indicator` objects with `pattern_type: stix`, their pattern in the
//! evaluable subset ([`super::pattern`]), `valid_from`, `valid_until`, `confidence`,
//! `revoked`. Every indicator that cannot be used is counted with its reason.

use serde_json::Value;

use super::pattern::{parse_pattern, pattern_indicators};
use super::{Intel, NewIndicator};

/// RFC 3339 time to ns since the epoch.
pub(crate) fn parse_time(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .and_then(|t| t.timestamp_nanos_opt())
}

/// Whether `v` looks like a STIX bundle or a STIX object (list).
pub(crate) fn is_stix(v: &Value) -> bool {
    match v {
        Value::Object(o) => {
            o.get("type").and_then(Value::as_str) == Some("bundle")
                || (o.get("type").and_then(Value::as_str) == Some("indicator")
                    && o.contains_key("pattern"))
        }
        Value::Array(a) => a.first().is_some_and(|x| {
            x.get("type").and_then(Value::as_str).is_some() && x.get("id").is_some()
        }),
        _ => false,
    }
}

impl Intel {
    /// Adds the indicators of a STIX 2.1 bundle (or one indicator object, or a list of
    /// objects) under `source`; returns how many were added.
    pub fn add_stix(&mut self, bundle: &Value, source: &str) -> usize {
        const F: &str = "stix";
        self.source_report(source, F);
        let objects: Vec<&Value> = match bundle {
            Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("bundle") => o
                .get("objects")
                .and_then(Value::as_array)
                .map(|a| a.iter().collect())
                .unwrap_or_default(),
            Value::Array(a) => a.iter().collect(),
            other => vec![other],
        };
        let mut added = 0;
        for obj in objects {
            if obj.get("type").and_then(Value::as_str) != Some("indicator") {
                continue;
            }
            let id = obj.get("id").and_then(Value::as_str).unwrap_or("");
            let pattern = obj.get("pattern").and_then(Value::as_str).unwrap_or("");
            let label = if id.is_empty() { pattern } else { id };
            let ptype = obj
                .get("pattern_type")
                .and_then(Value::as_str)
                .unwrap_or("stix");
            if ptype != "stix" {
                self.source_report(source, F)
                    .reject(label, &format!("pattern_type `{ptype}` is not evaluated"));
                continue;
            }
            if obj.get("revoked").and_then(Value::as_bool) == Some(true) {
                self.source_report(source, F).reject(label, "revoked");
                continue;
            }
            let confidence = match obj.get("confidence") {
                None | Some(Value::Null) => None,
                Some(c) => match c.as_u64().filter(|c| *c <= 100) {
                    Some(c) => Some(c as u8),
                    None => {
                        self.source_report(source, F)
                            .reject(label, "confidence is not an integer 0..100");
                        continue;
                    }
                },
            };
            let time = |key: &str| obj.get(key).and_then(Value::as_str).map(parse_time);
            let (valid_from, valid_until) = match (time("valid_from"), time("valid_until")) {
                (Some(None), _) | (_, Some(None)) => {
                    self.source_report(source, F)
                        .reject(label, "valid_from or valid_until is not an RFC 3339 time");
                    continue;
                }
                (f, u) => (f.flatten(), u.flatten()),
            };
            let parsed = match parse_pattern(pattern) {
                Ok(p) => p,
                Err(e) => {
                    self.source_report(source, F)
                        .reject(label, &format!("pattern does not parse: {e}"));
                    continue;
                }
            };
            let values = match pattern_indicators(&parsed) {
                Ok(v) => v,
                Err(why) => {
                    self.source_report(source, F).reject(label, &why);
                    continue;
                }
            };
            for (kind, value) in values {
                let ind = NewIndicator {
                    value,
                    kind: Some(kind),
                    id: (!id.is_empty()).then(|| id.to_string()),
                    confidence,
                    valid_from,
                    valid_until,
                };
                added += usize::from(self.add_indicator(source, F, ind));
            }
        }
        added
    }
}
