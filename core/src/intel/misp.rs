//! MISP in: event JSON (`{"Event": {...}}`, or a `response` list of them), feed folders
//! (`manifest.json` + one `<uuid>.json` per event) and warninglists. Attributes of types
//! ip-src/ip-dst (also `|port`), domain, hostname, domain|ip, url, md5/sha1/sha256 (also
//! `filename|hash`), email/email-src/email-dst become indicators when `to_ids` is set;
//! a decayed attribute (MISP decay model) or one past its expiry is left out and counted.

use serde_json::Value;

use super::normalize::IndicatorKind;
use super::stix::parse_time;
use super::warninglist::{Warninglist, WarninglistType};
use super::{Intel, NewIndicator};

/// Whether `v` is a MISP event (or a list / response of events).
pub(crate) fn is_misp_event(v: &Value) -> bool {
    v.get("Event").is_some()
        || is_bare_event(v)
        || v.get("response").is_some_and(Value::is_array)
        || v.as_array()
            .and_then(|a| a.first())
            .is_some_and(|x| x.get("Event").is_some())
}

/// An event without the `{"Event": ...}` wrapper (as PyMISP's `to_json` writes it).
fn is_bare_event(v: &Value) -> bool {
    v.get("Attribute").is_some_and(Value::is_array)
        || (v.get("info").is_some() && v.get("uuid").is_some() && v.get("type").is_none())
}

/// Whether `v` is a MISP warninglist.
pub(crate) fn is_warninglist(v: &Value) -> bool {
    v.get("list").is_some_and(Value::is_array) && v.get("type").is_some_and(Value::is_string)
}

fn kinds_of(t: &str) -> Option<Vec<Option<IndicatorKind>>> {
    use IndicatorKind as K;
    Some(match t {
        "ip-src" | "ip-dst" | "ip-src|port" | "ip-dst|port" => vec![Some(K::Cidr)],
        "domain" | "hostname" => vec![Some(K::Domain)],
        "domain|ip" | "hostname|port" => vec![Some(K::Domain), Some(K::Cidr)],
        "url" | "uri" => vec![Some(K::Url)],
        "md5" | "filename|md5" => vec![Some(K::Md5)],
        "sha1" | "filename|sha1" => vec![Some(K::Sha1)],
        "sha256" | "filename|sha256" => vec![Some(K::Sha256)],
        "email" | "email-src" | "email-dst" => vec![Some(K::Email)],
        _ => return None,
    })
}

/// Confidence from MISP's estimative-language or admiralty tags, if any.
fn tag_confidence(tags: &[&str]) -> Option<u8> {
    tags.iter().find_map(|t| {
        let t = t.to_ascii_lowercase();
        if t.starts_with("estimative-language:confidence-in-analytic-judgment=") {
            Some(if t.contains("high") {
                90
            } else if t.contains("moderate") {
                60
            } else {
                30
            })
        } else {
            None
        }
    })
}

fn tags_of(v: &Value) -> Vec<&str> {
    v.get("Tag")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|t| t.get("name").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default()
}

fn truthy(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "1" || s.eq_ignore_ascii_case("true"),
        Some(Value::Number(n)) => n.as_u64() == Some(1),
        _ => false,
    }
}

impl Intel {
    /// Adds the attributes of MISP event(s) under `source`; returns how many were added.
    pub fn add_misp_event(&mut self, json: &Value, source: &str) -> usize {
        let events: Vec<&Value> = if let Some(e) = json.get("Event") {
            vec![e]
        } else if is_bare_event(json) {
            vec![json]
        } else if let Some(a) = json.get("response").and_then(Value::as_array) {
            a.iter().filter_map(|x| x.get("Event")).collect()
        } else if let Some(a) = json.as_array() {
            a.iter().filter_map(|x| x.get("Event")).collect()
        } else {
            self.source_report(source, "misp_event")
                .reject("(file)", "not a MISP event: no `Event` object");
            return 0;
        };
        let mut added = 0;
        for ev in events {
            let ev_tags = tags_of(ev);
            let mut attrs: Vec<&Value> = ev
                .get("Attribute")
                .and_then(Value::as_array)
                .map(|a| a.iter().collect())
                .unwrap_or_default();
            for obj in ev
                .get("Object")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                attrs.extend(
                    obj.get("Attribute")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten(),
                );
            }
            for a in attrs {
                added += self.add_misp_attribute(a, &ev_tags, source);
            }
        }
        added
    }

    fn add_misp_attribute(&mut self, a: &Value, ev_tags: &[&str], source: &str) -> usize {
        const F: &str = "misp_event";
        let t = a.get("type").and_then(Value::as_str).unwrap_or("");
        let value = a.get("value").and_then(Value::as_str).unwrap_or("");
        let Some(kinds) = kinds_of(t) else {
            self.source_report(source, F)
                .reject(value, &format!("attribute type `{t}` is not matched"));
            return 0;
        };
        if a.get("deleted").is_some_and(|d| truthy(Some(d))) {
            self.source_report(source, F).reject(value, "deleted");
            return 0;
        }
        if !truthy(a.get("to_ids")) {
            self.source_report(source, F)
                .reject(value, "to_ids is false");
            return 0;
        }
        let decayed = a
            .get("decay_score")
            .and_then(Value::as_array)
            .is_some_and(|d| d.iter().any(|s| truthy(s.get("decayed"))));
        if decayed {
            self.source_report(source, F)
                .reject(value, "decayed (MISP decay model)");
            return 0;
        }
        let mut tags = tags_of(a);
        tags.extend_from_slice(ev_tags);
        let confidence = tag_confidence(&tags);
        let valid_from = a
            .get("first_seen")
            .and_then(Value::as_str)
            .and_then(parse_time);
        // MISP has no standard expiry field; `expiration` (as some exports write) or the
        // decay model's verdict above stand for it.
        let valid_until = a
            .get("expiration")
            .and_then(Value::as_str)
            .and_then(parse_time);
        let id = a.get("uuid").and_then(Value::as_str).map(str::to_string);
        let parts: Vec<&str> = if t.contains('|') {
            value.splitn(2, '|').collect()
        } else {
            vec![value]
        };
        let picks: Vec<(Option<IndicatorKind>, &str)> = match t {
            "ip-src|port" | "ip-dst|port" | "hostname|port" => {
                vec![(
                    kinds.first().copied().flatten(),
                    parts.first().copied().unwrap_or(""),
                )]
            }
            t if t.starts_with("filename|") => {
                vec![(
                    kinds.first().copied().flatten(),
                    parts.get(1).copied().unwrap_or(""),
                )]
            }
            _ => kinds.iter().copied().zip(parts.iter().copied()).collect(),
        };
        let mut added = 0;
        for (kind, v) in picks {
            let ind = NewIndicator {
                value: v.to_string(),
                kind,
                id: id.clone(),
                confidence,
                valid_from,
                valid_until,
            };
            added += usize::from(self.add_indicator(source, F, ind));
        }
        added
    }

    /// Adds a MISP warninglist from its JSON (`name`, `type`, `list`).
    pub fn add_warninglist_json(&mut self, json: &Value, fallback_name: &str) -> crate::Result<()> {
        let name = json
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or(fallback_name);
        let t = json.get("type").and_then(Value::as_str).unwrap_or("");
        let kind = match WarninglistType::parse(t) {
            Ok(k) => k,
            Err(why) => {
                self.source_report(name, "warninglist").reject(name, &why);
                return Ok(());
            }
        };
        let entries: Vec<String> = json
            .get("list")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        self.add_warninglist(Warninglist::new(name, kind, entries));
        Ok(())
    }
}
