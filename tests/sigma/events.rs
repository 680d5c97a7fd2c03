//! Test-side loader of SigmaHQ's regression events (evtx_dump JSON: one object, or JSON
//! lines) into a RecordBatch named as vigil's EVTX reader names columns: System fields
//! `timestamp` (UTC ns), `event_id`, `provider`, `channel`, `computer`, `record_id`, and the
//! `EventData` fields under their Windows names, as text. Raw text files become `message`.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampNanosecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use serde_json::Value;

fn text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Object(m) if m.contains_key("#text") => m.get("#text").and_then(text),
        other => Some(other.to_string()),
    }
}

fn int(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        Value::Object(m) => int(m.get("#text")),
        _ => None,
    }
}

/// One event flattened: (System columns, EventData fields).
pub struct Flat {
    pub time: Option<i64>,
    pub event_id: Option<i64>,
    pub record_id: Option<i64>,
    pub provider: Option<String>,
    pub channel: Option<String>,
    pub computer: Option<String>,
    pub data: BTreeMap<String, Option<String>>,
}

pub fn flatten(ev: &Value) -> Flat {
    let e = ev.get("Event").unwrap_or(ev);
    let sys = e.get("System").cloned().unwrap_or(Value::Null);
    let time = sys
        .pointer("/TimeCreated/#attributes/SystemTime")
        .and_then(Value::as_str)
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .and_then(|t| t.timestamp_nanos_opt());
    let mut data = BTreeMap::new();
    if let Some(Value::Object(m)) = e.get("EventData") {
        for (k, v) in m {
            if k.starts_with('#') {
                continue;
            }
            data.insert(k.clone(), text(v));
        }
    }
    // UserData holds one element whose children are the event's fields.
    if let Some(Value::Object(u)) = e.get("UserData") {
        for inner in u.values() {
            if let Value::Object(m) = inner {
                for (k, v) in m {
                    if !k.starts_with('#') {
                        data.insert(k.clone(), text(v));
                    }
                }
            }
        }
    }
    Flat {
        time,
        event_id: int(sys.get("EventID")),
        record_id: int(sys.get("EventRecordID")),
        provider: sys
            .pointer("/Provider/#attributes/Name")
            .and_then(Value::as_str)
            .map(str::to_string),
        channel: sys.get("Channel").and_then(text),
        computer: sys.get("Computer").and_then(text),
        data,
    }
}

/// The events of one file (a JSON object, an array, or JSON lines).
pub fn read_events(path: &std::path::Path) -> Vec<Value> {
    let t = std::fs::read_to_string(path).unwrap_or_default();
    match serde_json::from_str::<Value>(&t) {
        Ok(Value::Array(a)) => a,
        Ok(v) => vec![v],
        // JSON lines, or pretty-printed objects one after another.
        Err(_) => serde_json::Deserializer::from_str(&t)
            .into_iter::<Value>()
            .map_while(Result::ok)
            .collect(),
    }
}

pub fn batch(events: &[Value]) -> RecordBatch {
    let flats: Vec<Flat> = events.iter().map(flatten).collect();
    let mut names: Vec<String> = Vec::new();
    for f in &flats {
        for k in f.data.keys() {
            if !names.contains(k) {
                names.push(k.clone());
            }
        }
    }
    let s = |g: &dyn Fn(&Flat) -> Option<String>| -> ArrayRef {
        Arc::new(StringArray::from(flats.iter().map(g).collect::<Vec<_>>()))
    };
    let mut fields = vec![
        Field::new(
            "timestamp",
            DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
            true,
        ),
        Field::new("event_id", DataType::Int64, true),
        Field::new("provider", DataType::Utf8, true),
        Field::new("channel", DataType::Utf8, true),
        Field::new("computer", DataType::Utf8, true),
        Field::new("record_id", DataType::Int64, true),
    ];
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(
            TimestampNanosecondArray::from(flats.iter().map(|f| f.time).collect::<Vec<_>>())
                .with_timezone("UTC"),
        ),
        Arc::new(Int64Array::from(
            flats.iter().map(|f| f.event_id).collect::<Vec<_>>(),
        )),
        s(&|f| f.provider.clone()),
        s(&|f| f.channel.clone()),
        s(&|f| f.computer.clone()),
        Arc::new(Int64Array::from(
            flats.iter().map(|f| f.record_id).collect::<Vec<_>>(),
        )),
    ];
    for n in names {
        if fields.iter().any(|f| f.name() == &n) {
            continue;
        }
        fields.push(Field::new(&n, DataType::Utf8, true));
        cols.push(s(&|f| f.data.get(&n).cloned().flatten()));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).expect("regression batch")
}

/// A raw text file as a `message` column, one row a line.
pub fn raw_batch(path: &std::path::Path) -> RecordBatch {
    let t = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = t.lines().filter(|l| !l.trim().is_empty()).collect();
    RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new(
            "message",
            DataType::Utf8,
            true,
        )])),
        vec![Arc::new(StringArray::from(lines))],
    )
    .expect("raw batch")
}
