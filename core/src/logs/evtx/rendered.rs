//! The fast path for JSON events in evtx_dump's shape (what the EVTX reader has the `evtx`
//! crate render for each record, and what JSON event files from evtx_dump hold): the System fields and the named `EventData` items are read straight
//! off the bytes into an [`EventRow`], borrowing the text, instead of building a
//! `serde_json::Value` tree (an ordered map per element) and walking it.
//!
//! It reads only the common shape: `Event` holding `System` and `EventData` with named scalar
//! items. Anything else (`UserData` or other children of `Event`, unnamed `Data` items, nested
//! values, a name repeated in `EventData`) makes [`row_from_rendered`] return `None`, and the
//! caller reads the record through the general path ([`super::event::event_from_json`]); both
//! give the same row (a test holds them equal on every record of the EVTX files at hand).

use std::borrow::Cow;
use std::fmt;

use serde::Deserializer;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde_json::Number;

use super::event::{EventRow, int_text, parse_time};

/// The row of one rendered record, or `None` when the record needs the general path.
pub(crate) fn row_from_rendered(bytes: &[u8]) -> Option<EventRow> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let row = de.deserialize_map(TopVisitor).ok()?;
    de.end().ok()?;
    row
}

/// A JSON scalar, text borrowed from the input where it has no escapes.
#[derive(Debug)]
enum Scalar<'a> {
    Str(Cow<'a, str>),
    Num(Number),
    Bool(bool),
    Null,
}

impl Scalar<'_> {
    /// As the general path's `scalar_string`: text, a number in serde_json's rendering, a bool.
    fn string(&self) -> Option<String> {
        match self {
            Scalar::Str(s) => Some(s.to_string()),
            Scalar::Num(n) => Some(n.to_string()),
            Scalar::Bool(b) => Some(b.to_string()),
            Scalar::Null => None,
        }
    }

    /// As the general path's `int`: a non-negative integer, or text in decimal or `0x` hex.
    fn int<T: TryFrom<u64>>(&self) -> Option<T> {
        let n = match self {
            Scalar::Num(n) => n.as_u64()?,
            Scalar::Str(s) => int_text(s)?,
            _ => return None,
        };
        T::try_from(n).ok()
    }

    /// As the general path's `keywords`: a number as `0x` hex, text as given.
    fn keywords(&self) -> Option<String> {
        match self {
            Scalar::Num(n) => n.as_u64().map(|k| format!("{k:#x}")),
            Scalar::Str(s) => Some(s.to_string()),
            _ => None,
        }
    }
}

/// An element's value: a scalar, or `{"#attributes": {..}, "#text": scalar}` (either part may
/// be missing). Any other shape is an error, which sends the record to the general path.
#[derive(Debug, Default)]
struct Node<'a> {
    /// The scalar itself, or the object's `#text`.
    text: Option<Scalar<'a>>,
    /// The object's attributes (the last of a repeated name wins, as in a JSON map).
    attrs: Vec<(Cow<'a, str>, Scalar<'a>)>,
    /// An object without `#text`: its text is the object itself.
    object_without_text: bool,
}

impl<'a> Node<'a> {
    fn text(&self) -> Option<&Scalar<'a>> {
        self.text.as_ref()
    }

    fn attr(&self, name: &str) -> Option<&Scalar<'a>> {
        self.attrs
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

/// Fails the fast path (the caller falls back to the general one).
fn unhandled<E: de::Error>(what: &str) -> E {
    E::custom(format_args!("fast path does not read {what}"))
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(KeyVisitor)
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON scalar")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v.to_string())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Scalar::Num(v.into()))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Scalar::Num(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Number::from_f64(v)
            .map(Scalar::Num)
            .ok_or_else(|| unhandled("a non-finite number"))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Scalar::Bool(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Null)
    }
}

struct ScalarSeed;

impl<'de> DeserializeSeed<'de> for ScalarSeed {
    type Value = Scalar<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
}

/// `#attributes`: names to scalar values.
struct AttrsVisitor;

impl<'de> Visitor<'de> for AttrsVisitor {
    type Value = Vec<(Cow<'de, str>, Scalar<'de>)>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("attributes")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(k) = m.next_key_seed(Key)? {
            out.push((k, m.next_value_seed(ScalarSeed)?));
        }
        Ok(out)
    }
}

struct AttrsSeed;

impl<'de> DeserializeSeed<'de> for AttrsSeed {
    type Value = Vec<(Cow<'de, str>, Scalar<'de>)>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(AttrsVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an element value")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        ScalarVisitor.visit_borrowed_str(v).map(scalar_node)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        ScalarVisitor.visit_str(v).map(scalar_node)
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        ScalarVisitor.visit_string(v).map(scalar_node)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        ScalarVisitor.visit_u64(v).map(scalar_node)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        ScalarVisitor.visit_i64(v).map(scalar_node)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        ScalarVisitor.visit_f64(v).map(scalar_node)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        ScalarVisitor.visit_bool(v).map(scalar_node)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        ScalarVisitor.visit_unit().map(scalar_node)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
        let mut node = Node::default();
        while let Some(k) = m.next_key_seed(Key)? {
            match k.as_ref() {
                "#text" => node.text = Some(m.next_value_seed(ScalarSeed)?),
                "#attributes" => node.attrs = m.next_value_seed(AttrsSeed)?,
                _ => return Err(unhandled("an element with children")),
            }
        }
        node.object_without_text = node.text.is_none();
        Ok(node)
    }
}

fn scalar_node(s: Scalar<'_>) -> Node<'_> {
    Node {
        text: Some(s),
        ..Node::default()
    }
}

struct NodeSeed;

impl<'de> DeserializeSeed<'de> for NodeSeed {
    type Value = Node<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

/// The children of `System` the row reads (the last, `Security`, gives the user SID).
const SYSTEM_USED: [&str; 12] = [
    "Provider",
    "EventID",
    "Channel",
    "Computer",
    "EventRecordID",
    "Level",
    "Task",
    "Opcode",
    "Keywords",
    "TimeCreated",
    "Execution",
    "Security",
];

/// `Event.System` into the row's typed columns; children the row does not use are skipped.
struct SystemSeed<'r>(&'r mut EventRow);

impl<'de> DeserializeSeed<'de> for SystemSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for SystemSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("System")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<(), A::Error> {
        let row = self.0;
        while let Some(k) = m.next_key_seed(Key)? {
            if !SYSTEM_USED.contains(&k.as_ref()) {
                m.next_value::<IgnoredAny>()?;
                continue;
            }
            let n = m.next_value_seed(NodeSeed)?;
            match k.as_ref() {
                "Provider" => {
                    row.provider = n
                        .attr("Name")
                        .and_then(Scalar::string)
                        .or_else(|| n.attr("EventSourceName").and_then(Scalar::string))
                }
                "EventID" => row.event_id = n.text().and_then(Scalar::int),
                "Channel" => row.channel = n.text().and_then(Scalar::string),
                "Computer" => row.computer = n.text().and_then(Scalar::string),
                "EventRecordID" => row.record_id = n.text().and_then(Scalar::int),
                "Level" => row.level = n.text().and_then(Scalar::int),
                "Task" => row.task = n.text().and_then(Scalar::int),
                "Opcode" => row.opcode = n.text().and_then(Scalar::int),
                "Keywords" => row.keywords = n.text().and_then(Scalar::keywords),
                "TimeCreated" => {
                    row.timestamp = match n.attr("SystemTime") {
                        Some(Scalar::Str(s)) => parse_time(s),
                        _ => None,
                    }
                }
                "Execution" => {
                    row.process_id = n.attr("ProcessID").and_then(Scalar::int);
                    row.thread_id = n.attr("ThreadID").and_then(Scalar::int);
                }
                _ => row.user_sid = n.attr("UserID").and_then(Scalar::string),
            }
        }
        Ok(())
    }
}

/// `Event.EventData` with named scalar items: the row's fields, in document order.
struct EventDataSeed<'r>(&'r mut EventRow);

impl<'de> DeserializeSeed<'de> for EventDataSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for EventDataSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("EventData")
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<(), A::Error> {
        let row = self.0;
        while let Some(k) = m.next_key_seed(Key)? {
            match k.as_ref() {
                "#attributes" => {
                    m.next_value::<IgnoredAny>()?;
                    continue;
                }
                "Data" | "#text" => return Err(unhandled("unnamed Data items")),
                _ => {}
            }
            if row.fields.iter().any(|(n, _)| n.as_str() == k.as_ref()) {
                return Err(unhandled("a repeated EventData name"));
            }
            let node = m.next_value_seed(NodeSeed)?;
            if node.object_without_text {
                return Err(unhandled("a nested EventData value"));
            }
            if let Some(s) = node.text().and_then(Scalar::string) {
                row.fields.push((k.into_owned(), s));
            }
        }
        Ok(())
    }
}

/// `Event`: `System` and `EventData` only.
struct EventSeed;

impl<'de> DeserializeSeed<'de> for EventSeed {
    type Value = EventRow;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<EventRow, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EventSeed {
    type Value = EventRow;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("Event")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<EventRow, A::Error> {
        let mut row = EventRow::default();
        let (mut system, mut event_data) = (false, false);
        while let Some(k) = m.next_key_seed(Key)? {
            match k.as_ref() {
                "#attributes" => {
                    m.next_value::<IgnoredAny>()?;
                }
                "System" if !system => {
                    system = true;
                    m.next_value_seed(SystemSeed(&mut row))?;
                }
                "EventData" if !event_data => {
                    event_data = true;
                    m.next_value_seed(EventDataSeed(&mut row))?;
                }
                _ => return Err(unhandled("this child of Event")),
            }
        }
        Ok(row)
    }
}

/// The document: `{"Event": {..}}` (other top-level keys are skipped, as the general path does).
struct TopVisitor;

impl<'de> Visitor<'de> for TopVisitor {
    type Value = Option<EventRow>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a rendered record")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
        let mut row = None;
        while let Some(k) = m.next_key_seed(Key)? {
            if k == "Event" && row.is_none() {
                row = Some(m.next_value_seed(EventSeed)?);
            } else if k == "Event" {
                return Err(unhandled("a repeated Event"));
            } else {
                m.next_value::<IgnoredAny>()?;
            }
        }
        Ok(row)
    }
}

#[cfg(test)]
mod tests {
    use super::super::event::event_from_json;
    use super::*;

    fn slow(doc: &str) -> Option<EventRow> {
        event_from_json(&serde_json::from_str(doc).ok()?).ok()
    }

    #[test]
    fn common_shape_reads_like_the_general_path() {
        let doc = r##"{"Event":{"#attributes":{"xmlns":"x"},"System":{"Provider":{"#attributes":
            {"Name":"Microsoft-Windows-Sysmon","Guid":"{5770}"}},"EventID":{"#attributes":
            {"Qualifiers":""},"#text":1},"Version":5,"Level":4,"Task":"0x1","Opcode":0,
            "Keywords":9223372036854775808,"TimeCreated":{"#attributes":{"SystemTime":
            "2021-04-27T09:13:58.514826Z"}},"EventRecordID":"42","Correlation":null,
            "Execution":{"#attributes":{"ProcessID":3024,"ThreadID":4204}},"Channel":
            "Microsoft-Windows-Sysmon/Operational","Computer":"PC\u00e9","Security":
            {"#attributes":{"UserID":"S-1-5-18"}}},"EventData":{"CommandLine":"a \"b\" c",
            "ProcessId":3024,"Flag":true,"Ratio":1.5,"Empty":"","Gone":null,
            "Hashes":{"#text":"MD5=00"}}}}"##;
        let fast = row_from_rendered(doc.as_bytes()).expect("common shape");
        assert_eq!(Some(fast.clone()), slow(doc));
        // Hand-checked values.
        assert_eq!(fast.event_id, Some(1));
        assert_eq!(fast.task, Some(1));
        assert_eq!(fast.record_id, Some(42));
        assert_eq!(fast.keywords.as_deref(), Some("0x8000000000000000"));
        assert_eq!(fast.computer.as_deref(), Some("PCé"));
        assert_eq!(fast.process_id, Some(3024));
        assert_eq!(fast.timestamp, Some(1_619_514_838_514_826_000));
        let fields: Vec<(&str, &str)> = fast
            .fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            fields,
            [
                ("CommandLine", "a \"b\" c"),
                ("ProcessId", "3024"),
                ("Flag", "true"),
                ("Ratio", "1.5"),
                ("Empty", ""),
                ("Hashes", "MD5=00")
            ]
        );
    }

    #[test]
    fn other_shapes_go_to_the_general_path() {
        for doc in [
            r##"{"Event":{"System":{"EventID":1},"UserData":{"X":{"A":"1"}}}}"##,
            r##"{"Event":{"System":{"EventID":1},"EventData":{"Data":{"#text":["a","b"]}}}}"##,
            r##"{"Event":{"System":{"EventID":1},"EventData":{"A":"1","A":"2"}}}"##,
            r##"{"Event":{"System":{"EventID":1},"EventData":{"A":{"B":"1"}}}}"##,
            r##"{"Event":{"System":{"EventID":1},"EventData":{"A":["1"]}}}"##,
            r##"{"Event":{"System":{"EventID":1},"EventData":"text"}}"##,
            r##"{"Event":{"System":{"EventID":{"#text":[1]}}}}"##,
            r##"{"Event":{"System":[1]}}"##,
            r##"{"NotEvent":{}}"##,
            r##"[1]"##,
            r##"{"Event":{"System":{}}} trailing"##,
        ] {
            assert!(row_from_rendered(doc.as_bytes()).is_none(), "{doc}");
        }
    }

    #[test]
    fn edge_values_read_like_the_general_path() {
        for doc in [
            r##"{"Event":{"System":{"EventID":-1,"Level":70000000000,"Keywords":"0X1F"}}}"##,
            r##"{"Event":{"System":{"EventID":"0x10","Task":" 7 ","Keywords":-3}}}"##,
            r##"{"Event":{"System":{"EventID":1.0,"Provider":{"#attributes":{"EventSourceName":"S"}}}}}"##,
            r##"{"Event":{"System":{"Provider":{"#attributes":{"Name":"A","Name":"B"}}}}}"##,
            r##"{"Event":{"System":{"TimeCreated":{"#attributes":{"SystemTime":5}},"Security":null}}}"##,
            r##"{"Event":{"System":{"Execution":{"#attributes":{"ProcessID":"12","ThreadID":"x"}}}},"x":1}"##,
            r##"{"Event":{"EventData":null,"System":{"Channel":"C"}}}"##,
            r##"{"Event":{"EventData":{"#attributes":{"Name":"n"},"K\u0041":"v\n"}}}"##,
        ] {
            let fast = row_from_rendered(doc.as_bytes());
            assert!(fast.is_some(), "{doc}");
            assert_eq!(fast, slow(doc), "{doc}");
        }
    }

    /// Every `.evtx` file under `dir` (recursively).
    fn evtx_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                evtx_files(&p, out);
            } else if p.extension().is_some_and(|x| x == "evtx") {
                out.push(p);
            }
        }
    }

    /// Every record of the bundled fixtures and (when present) SigmaHQ's regression files:
    /// the fast path either declines or gives exactly the general path's row.
    #[test]
    fn real_records_read_like_the_general_path() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut files = Vec::new();
        evtx_files(&root.join("tests/fixtures/sigma/events"), &mut files);
        evtx_files(
            &root.join("../shared/data/sigma/regression_data"),
            &mut files,
        );
        let (mut fast_rows, mut general_rows) = (0, 0);
        for f in &files {
            let mut p = ::evtx::EvtxParser::from_path(f)
                .expect("readable fixture")
                .with_configuration(::evtx::ParserSettings::new().indent(false));
            for rec in p.records_json() {
                let Ok(rec) = rec else { continue };
                let general = slow(&rec.data);
                match row_from_rendered(rec.data.as_bytes()) {
                    Some(row) => {
                        fast_rows += 1;
                        assert_eq!(Some(row), general, "{}: {}", f.display(), rec.data);
                    }
                    None => general_rows += 1,
                }
            }
        }
        eprintln!(
            "{} files: {fast_rows} records fast, {general_rows} general",
            files.len()
        );
        // The bundled Sysmon and Security events have the common shape.
        assert!(fast_rows > 0);
    }
}
