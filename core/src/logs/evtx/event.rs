//! One Windows event as a row: the System fields typed, the EventData / UserData fields by
//! name, from any of the JSON shapes the event can come in (evtx_dump's `Event.System` /
//! `Event.EventData`, Winlogbeat's `winlog.*`, or a flat object with `EventID` and the fields at
//! the top). The EVTX reader renders each record into evtx_dump's shape and maps it here too, so
//! both inputs give the same columns.

use serde_json::{Map, Value};

/// One event, ready to be appended to a batch.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct EventRow {
    pub timestamp: Option<i64>,
    pub event_id: Option<u32>,
    pub provider: Option<String>,
    pub channel: Option<String>,
    pub computer: Option<String>,
    pub record_id: Option<u64>,
    pub level: Option<u32>,
    pub task: Option<u32>,
    pub opcode: Option<u32>,
    pub keywords: Option<String>,
    pub process_id: Option<u32>,
    pub thread_id: Option<u32>,
    pub user_sid: Option<String>,
    /// Named `Data` items (and UserData leaves), in document order.
    pub fields: Vec<(String, String)>,
    /// Unnamed `Data` items.
    pub data: Option<Vec<String>>,
    /// `UserData` and other nested children of `Event`, as a JSON object.
    pub user_data: Option<String>,
    /// Why the record could not be read (then everything else may be null).
    pub error: Option<String>,
}

impl EventRow {
    /// A damaged record: only the reason (and the record id, where known).
    pub(crate) fn damaged(reason: String, record_id: Option<u64>) -> Self {
        EventRow {
            record_id,
            error: Some(reason),
            ..EventRow::default()
        }
    }
}

/// Parses a timestamp as Windows and Winlogbeat write it (RFC 3339, `Z` or an offset, any
/// fraction; a space for the `T` and no zone are read as UTC) into ns since the epoch.
pub(crate) fn parse_time(text: &str) -> Option<i64> {
    let t = text.trim();
    if let Ok(dt) = chrono::DateTime::parse_from_rfc3339(t) {
        return dt.timestamp_nanos_opt();
    }
    let t = t.strip_suffix('Z').unwrap_or(t);
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(n) = chrono::NaiveDateTime::parse_from_str(t, fmt) {
            return n.and_utc().timestamp_nanos_opt();
        }
    }
    None
}

/// `#text` of an element rendered as `{"#attributes": .., "#text": v}`, or the value itself.
fn text(v: &Value) -> &Value {
    match v {
        Value::Object(m) => m.get("#text").unwrap_or(v),
        _ => v,
    }
}

/// An attribute of an element rendered as `{"#attributes": {name: ..}}`.
fn attr<'v>(v: Option<&'v Value>, name: &str) -> Option<&'v Value> {
    v?.get("#attributes")?.get(name)
}

/// A scalar as Windows shows it in XML; `None` for null, objects and arrays.
pub(crate) fn scalar_string(v: &Value) -> Option<String> {
    match text(v) {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A value for a named column: scalars as text, nested values as their JSON text.
fn field_string(v: &Value) -> Option<String> {
    match text(v) {
        Value::Null => None,
        Value::Object(_) | Value::Array(_) => Some(text(v).to_string()),
        other => scalar_string(other),
    }
}

/// A number written as text, in decimal or `0x` hex, spaces around ignored.
pub(crate) fn int_text(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

fn int<T: TryFrom<u64>>(v: Option<&Value>) -> Option<T> {
    let n = match text(v?) {
        Value::Number(n) => n.as_u64()?,
        Value::String(s) => int_text(s)?,
        _ => return None,
    };
    T::try_from(n).ok()
}

fn string(v: Option<&Value>) -> Option<String> {
    v.and_then(scalar_string)
}

/// Keywords as Windows shows them: `0x` and lower-case hex; text is kept as given.
fn keywords(v: Option<&Value>) -> Option<String> {
    match text(v?) {
        Value::Number(n) => n.as_u64().map(|k| format!("{k:#x}")),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

/// Maps one JSON document to an event row, or says why it is not a Windows event.
pub(crate) fn event_from_json(doc: &Value) -> Result<EventRow, String> {
    let Value::Object(top) = doc else {
        return Err(format!(
            "not a Windows event: a JSON {} where an object was expected",
            kind(doc)
        ));
    };
    if let Some(ev) = top.get("Event") {
        let Value::Object(ev) = ev else {
            return Err(format!("`Event` is a JSON {}, not an object", kind(ev)));
        };
        return Ok(from_evtx_dump(ev));
    }
    // An Elasticsearch hit: the document under `_source`.
    if let Some(src @ Value::Object(_)) = top.get("_source") {
        return event_from_json(src);
    }
    if let Some(Value::Object(w)) = top.get("winlog") {
        return Ok(from_winlogbeat(top, w));
    }
    if top.contains_key("EventID") {
        return Ok(from_flat(top));
    }
    Err("not a Windows event: no `Event`, `winlog` or `EventID` key".to_string())
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// evtx_dump's shape: `{"Event": {"System": .., "EventData": .., "UserData": ..}}`.
fn from_evtx_dump(ev: &Map<String, Value>) -> EventRow {
    let sys = ev.get("System");
    let get = |k: &str| sys.and_then(|s| s.get(k));
    let provider = get("Provider");
    let mut row = EventRow {
        timestamp: attr(get("TimeCreated"), "SystemTime")
            .and_then(Value::as_str)
            .and_then(parse_time),
        event_id: int(get("EventID")),
        provider: string(attr(provider, "Name"))
            .or_else(|| string(attr(provider, "EventSourceName"))),
        channel: string(get("Channel")),
        computer: string(get("Computer")),
        record_id: int(get("EventRecordID")),
        level: int(get("Level")),
        task: int(get("Task")),
        opcode: int(get("Opcode")),
        keywords: keywords(get("Keywords")),
        process_id: int(attr(get("Execution"), "ProcessID")),
        thread_id: int(attr(get("Execution"), "ThreadID")),
        user_sid: string(attr(get("Security"), "UserID")),
        ..EventRow::default()
    };
    if let Some(ed) = ev.get("EventData") {
        event_data(ed, &mut row);
    }
    let mut nested = Map::new();
    for (k, v) in ev {
        if !matches!(k.as_str(), "System" | "EventData" | "#attributes") {
            nested.insert(k.clone(), v.clone());
        }
    }
    if let Some(ud) = ev.get("UserData") {
        user_data_fields(ud, &mut row);
    }
    if !nested.is_empty() {
        row.user_data = Some(Value::Object(nested).to_string());
    }
    row
}

/// `EventData`: named `Data` items become fields; unnamed ones (`"Data": {"#text": [..]}`)
/// the list.
fn event_data(ed: &Value, row: &mut EventRow) {
    match ed {
        Value::Object(m) => {
            for (k, v) in m {
                if k == "#attributes" {
                    continue;
                }
                if k == "Data" || k == "#text" {
                    unnamed(v, row);
                } else if let Some(s) = field_string(v) {
                    row.fields.push((k.clone(), s));
                }
            }
        }
        Value::Null => {}
        other => unnamed(other, row),
    }
}

fn unnamed(v: &Value, row: &mut EventRow) {
    let items = row.data.get_or_insert_with(Vec::new);
    match text(v) {
        Value::Array(a) => {
            for item in a {
                items.push(field_string(item).unwrap_or_default());
            }
        }
        Value::Null => {}
        other => items.push(field_string(other).unwrap_or_default()),
    }
}

/// UserData holds one element (`LogFileCleared`, `EventXML`, ...) whose children are the
/// event's fields: its scalar children become fields too (as hayabusa and chainsaw read them),
/// unless EventData already named them.
fn user_data_fields(ud: &Value, row: &mut EventRow) {
    let Value::Object(m) = ud else { return };
    for (k, inner) in m {
        if k == "#attributes" {
            continue;
        }
        let Value::Object(fields) = inner else {
            continue;
        };
        for (name, v) in fields {
            if name == "#attributes" || name == "#text" {
                continue;
            }
            if row.fields.iter().any(|(n, _)| n == name) {
                continue;
            }
            if let Some(s) = field_string(v) {
                row.fields.push((name.clone(), s));
            }
        }
    }
}

/// Winlogbeat / Elastic Agent: `winlog.event_id`, `winlog.channel`, `winlog.event_data`, ...
/// Level, task and opcode are text there (`information`, `Info`), so those columns stay null
/// unless they are numbers; keywords are kept when a hex string.
fn from_winlogbeat(top: &Map<String, Value>, w: &Map<String, Value>) -> EventRow {
    let proc = w.get("process");
    let mut row = EventRow {
        timestamp: top
            .get("@timestamp")
            .or_else(|| w.get("time_created"))
            .and_then(Value::as_str)
            .and_then(parse_time),
        event_id: int(w.get("event_id"))
            .or_else(|| int(top.get("event").and_then(|e| e.get("code")))),
        provider: string(w.get("provider_name")),
        channel: string(w.get("channel")),
        computer: string(w.get("computer_name")),
        record_id: int(w.get("record_id")),
        level: int(w.get("level")),
        task: int(w.get("task")),
        opcode: int(w.get("opcode")),
        keywords: match w.get("keywords") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => n.as_u64().map(|k| format!("{k:#x}")),
            _ => None,
        },
        process_id: int(proc.and_then(|p| p.get("pid"))),
        thread_id: int(proc.and_then(|p| p.get("thread")).and_then(|t| t.get("id"))),
        user_sid: string(w.get("user").and_then(|u| u.get("identifier"))),
        ..EventRow::default()
    };
    if let Some(Value::Object(ed)) = w.get("event_data") {
        for (k, v) in ed {
            if let Some(s) = field_string(v) {
                row.fields.push((k.clone(), s));
            }
        }
    }
    if let Some(ud) = w.get("user_data") {
        if let Value::Object(fields) = ud {
            for (name, v) in fields {
                if name == "xml_name" || row.fields.iter().any(|(n, _)| n == name) {
                    continue;
                }
                if let Some(s) = field_string(v) {
                    row.fields.push((name.clone(), s));
                }
            }
        }
        let mut nested = Map::new();
        nested.insert("UserData".to_string(), ud.clone());
        row.user_data = Some(Value::Object(nested).to_string());
    }
    row
}

/// A flat event (evtx_dump flattened with jq, Zircolite, chainsaw): System fields by their
/// Windows names at the top, every other key a field.
fn from_flat(top: &Map<String, Value>) -> EventRow {
    let g = |k: &str| top.get(k);
    let mut row = EventRow {
        timestamp: g("SystemTime")
            .or_else(|| g("TimeCreated"))
            .or_else(|| g("TimeCreated_SystemTime"))
            .or_else(|| g("@timestamp"))
            .and_then(Value::as_str)
            .and_then(parse_time),
        event_id: int(g("EventID")),
        provider: string(g("Provider_Name").or_else(|| g("Provider"))),
        channel: string(g("Channel")),
        computer: string(g("Computer")),
        record_id: int(g("EventRecordID")),
        level: int(g("Level")),
        task: int(g("Task")),
        opcode: int(g("Opcode")),
        keywords: keywords(g("Keywords")),
        process_id: int(g("ProcessID").or_else(|| g("Execution_ProcessID"))),
        thread_id: int(g("ThreadID").or_else(|| g("Execution_ThreadID"))),
        user_sid: string(g("UserID").or_else(|| g("Security_UserID"))),
        ..EventRow::default()
    };
    const SYSTEM: [&str; 20] = [
        "SystemTime",
        "TimeCreated",
        "TimeCreated_SystemTime",
        "@timestamp",
        "EventID",
        "Provider_Name",
        "Provider",
        "Channel",
        "Computer",
        "EventRecordID",
        "Level",
        "Task",
        "Opcode",
        "Keywords",
        "ProcessID",
        "Execution_ProcessID",
        "ThreadID",
        "Execution_ThreadID",
        "UserID",
        "Security_UserID",
    ];
    for (k, v) in top {
        if SYSTEM.contains(&k.as_str()) {
            continue;
        }
        if k == "Data" {
            unnamed(v, &mut row);
        } else if let Some(s) = field_string(v) {
            row.fields.push((k.clone(), s));
        }
    }
    row
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_of_windows_and_winlogbeat() {
        // 2026-04-17T05:24:53Z = 1776403493 s (date -u -d ... +%s).
        assert_eq!(
            parse_time("2026-04-17T05:24:53.092051Z"),
            Some(1_776_403_493_092_051_000)
        );
        assert_eq!(
            parse_time("2026-04-17T07:24:53.5+02:00"),
            Some(1_776_403_493_500_000_000)
        );
        assert_eq!(
            parse_time("2026-04-17 05:24:53.079"),
            Some(1_776_403_493_079_000_000)
        );
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn event_id_with_qualifiers_and_unnamed_data() {
        let doc: Value = serde_json::from_str(
            r##"{"Event": {"System": {"EventID": {"#attributes": {"Qualifiers": 16384}, "#text": 7036},
                 "Keywords": "0x8080000000000000"},
               "EventData": {"Data": {"#text": ["a", 5, null]}, "Binary": "00FF"}}}"##,
        )
        .unwrap_or_default();
        let row = event_from_json(&doc).unwrap_or_default();
        assert_eq!(row.event_id, Some(7036));
        assert_eq!(row.keywords.as_deref(), Some("0x8080000000000000"));
        assert_eq!(
            row.data,
            Some(vec!["a".to_string(), "5".to_string(), String::new()])
        );
        assert_eq!(row.fields, vec![("Binary".to_string(), "00FF".to_string())]);
    }

    #[test]
    fn not_events_say_why() {
        for text in ["[1]", "3", r#"{"a": 1}"#, r#"{"Event": 4}"#] {
            let doc: Value = serde_json::from_str(text).unwrap_or_default();
            assert!(event_from_json(&doc).is_err(), "{text}");
        }
    }
}
