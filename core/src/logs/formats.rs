//! Line parsers of the fixed formats: syslog (RFC 3164 and RFC 5424), Apache/Nginx access
//! logs (common and combined), JSON lines (flattened), Zeek TSV.

use serde_json::Value;

/// Columns of the syslog reader.
pub const SYSLOG_COLUMNS: [&str; 11] = [
    "priority",
    "facility",
    "severity",
    "version",
    "timestamp",
    "hostname",
    "app_name",
    "procid",
    "msgid",
    "structured_data",
    "message",
];

/// Columns of the access-log reader.
pub const ACCESS_COLUMNS: [&str; 13] = [
    "client",
    "ident",
    "user",
    "time",
    "request",
    "method",
    "path",
    "protocol",
    "status",
    "bytes",
    "referer",
    "user_agent",
    "extra",
];

fn split_word(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start_matches(' ');
    if s.is_empty() {
        return None;
    }
    match s.find(' ') {
        Some(i) => Some((&s[..i], &s[i + 1..])),
        None => Some((s, "")),
    }
}

fn nil(s: &str) -> Option<String> {
    (s != "-").then(|| s.to_string())
}

/// `<PRI>` at the start of `s`: (pri, rest).
fn pri(s: &str) -> Option<(u32, &str)> {
    let r = s.strip_prefix('<')?;
    let end = r.find('>')?;
    let digits = &r[..end];
    if digits.is_empty() || digits.len() > 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let p: u32 = digits.parse().ok()?;
    (p <= 191).then_some((p, &r[end + 1..]))
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Parses a syslog line (RFC 5424 when it starts `<PRI>1 `, else RFC 3164 with an optional
/// `<PRI>`), in [`SYSLOG_COLUMNS`] order.
pub fn syslog(line: &str) -> Result<Vec<Option<String>>, String> {
    let line = line.trim_end_matches(['\r', '\n']);
    let mut out: Vec<Option<String>> = vec![None; SYSLOG_COLUMNS.len()];
    let (p, rest) = match pri(line) {
        Some((p, r)) => (Some(p), r),
        None => (None, line),
    };
    if let Some(p) = p {
        out[0] = Some(p.to_string());
        out[1] = Some((p / 8).to_string());
        out[2] = Some((p % 8).to_string());
    }
    if p.is_some() && rest.starts_with("1 ") {
        // RFC 5424: VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD [MSG]
        out[3] = Some("1".into());
        let mut r = &rest[2..];
        for col in [4, 5, 6, 7, 8] {
            let (w, next) = split_word(r).ok_or("RFC 5424 header is cut short")?;
            out[col] = nil(w);
            r = next;
        }
        let r = r.trim_start_matches(' ');
        let (sd, msg) = if let Some(after) = r.strip_prefix('-') {
            (None, after)
        } else if r.starts_with('[') {
            // Structured data: one or more [..] elements; `]` inside values is escaped.
            let b = r.as_bytes();
            let mut i = 0;
            let mut in_quote = false;
            let mut depth = 0;
            while i < b.len() {
                match b[i] {
                    b'\\' if in_quote => i += 1,
                    b'"' => in_quote = !in_quote,
                    b'[' if !in_quote => depth += 1,
                    b']' if !in_quote => {
                        depth -= 1;
                        if depth == 0 && b.get(i + 1) != Some(&b'[') {
                            i += 1;
                            break;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            if depth != 0 || i > b.len() {
                return Err("RFC 5424 structured data is not closed".into());
            }
            (Some(r[..i].to_string()), &r[i..])
        } else {
            return Err("RFC 5424 structured data must be `-` or `[...]`".into());
        };
        out[9] = sd;
        let msg = msg.strip_prefix(' ').unwrap_or(msg);
        let msg = msg.strip_prefix('\u{feff}').unwrap_or(msg);
        out[10] = Some(msg.to_string());
        return Ok(out);
    }
    // RFC 3164: TIMESTAMP HOSTNAME TAG[PID]: MSG (timestamp `Mmm dd hh:mm:ss` or ISO 8601).
    let r = rest;
    let (ts, r) = if r.len() >= 15 && MONTHS.iter().any(|m| r.starts_with(m)) {
        let ts = r.get(..15).ok_or("timestamp is cut short")?;
        let b = ts.as_bytes();
        let ok = b[3] == b' '
            && (b[4] == b' ' || b[4].is_ascii_digit())
            && b[5].is_ascii_digit()
            && b[6] == b' '
            && b[9] == b':'
            && b[12] == b':';
        if !ok {
            return Err("RFC 3164 timestamp must be `Mmm dd hh:mm:ss`".into());
        }
        (ts, &r[15..])
    } else if r.len() >= 19
        && r.as_bytes()[..4].iter().all(u8::is_ascii_digit)
        && r.as_bytes().get(10) == Some(&b'T')
    {
        split_word(r).ok_or("timestamp is cut short")?
    } else {
        return Err(
            "no syslog timestamp (RFC 3164 `Mmm dd hh:mm:ss`, ISO 8601, or RFC 5424 `<PRI>1`)"
                .into(),
        );
    };
    out[4] = Some(ts.to_string());
    let (host, r) = split_word(r).ok_or("hostname is missing")?;
    out[5] = Some(host.to_string());
    // TAG: up to `[`, `:` or whitespace.
    let tag_end = r
        .find(|c: char| c == '[' || c == ':' || c.is_whitespace())
        .unwrap_or(r.len());
    let tag = &r[..tag_end];
    let mut after = &r[tag_end..];
    let mut pid = None;
    if let Some(a) = after.strip_prefix('[')
        && let Some(end) = a.find(']')
    {
        pid = Some(a[..end].to_string());
        after = &a[end + 1..];
    }
    if !tag.is_empty() && after.starts_with(':') {
        out[6] = Some(tag.to_string());
        out[7] = pid;
        out[10] = Some(after[1..].trim_start_matches(' ').to_string());
    } else {
        out[10] = Some(r.to_string());
    }
    Ok(out)
}

fn quoted(s: &str) -> Option<(String, &str)> {
    let r = s.strip_prefix('"')?;
    let b = r.as_bytes();
    let mut i = 0;
    let mut v = String::new();
    let mut start = 0;
    while i < b.len() {
        match b[i] {
            b'\\' if i + 1 < b.len() => {
                v.push_str(&r[start..i]);
                v.push(b[i + 1] as char);
                i += 2;
                start = i;
                // Keep multi-byte characters intact after an escaped ASCII byte.
                while start < b.len() && !r.is_char_boundary(start) {
                    start += 1;
                }
                i = start;
                continue;
            }
            b'"' => {
                v.push_str(&r[start..i]);
                return Some((v, &r[i + 1..]));
            }
            _ => i += 1,
        }
    }
    None
}

/// Parses an Apache/Nginx access-log line (common or combined), in [`ACCESS_COLUMNS`] order.
pub fn access(line: &str) -> Result<Vec<Option<String>>, String> {
    let line = line.trim_end_matches(['\r', '\n']);
    let mut out: Vec<Option<String>> = vec![None; ACCESS_COLUMNS.len()];
    let (client, r) = split_word(line).ok_or("empty line")?;
    out[0] = Some(client.to_string());
    let (ident, r) = split_word(r).ok_or("ident is missing")?;
    out[1] = nil(ident);
    let (user, r) = split_word(r).ok_or("user is missing")?;
    out[2] = nil(user);
    let r = r.trim_start_matches(' ');
    let r = r.strip_prefix('[').ok_or("time must be in [brackets]")?;
    let end = r.find(']').ok_or("time bracket is not closed")?;
    out[3] = Some(r[..end].to_string());
    let r = r[end + 1..].trim_start_matches(' ');
    let (request, r) = quoted(r).ok_or("request must be a \"quoted\" string")?;
    let mut parts = request.splitn(3, ' ');
    if let (Some(m), Some(p)) = (parts.next(), parts.next()) {
        out[5] = Some(m.to_string());
        out[6] = Some(p.to_string());
        out[7] = parts.next().map(str::to_string);
    }
    out[4] = Some(request);
    let (status, r) = split_word(r).ok_or("status is missing")?;
    if !(status.len() == 3 && status.bytes().all(|b| b.is_ascii_digit())) {
        return Err(format!("status `{status}` is not a 3-digit code"));
    }
    out[8] = Some(status.to_string());
    let (bytes, r) = split_word(r).ok_or("bytes are missing")?;
    if bytes != "-" && !bytes.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("bytes `{bytes}` is not a number or `-`"));
    }
    out[9] = nil(bytes);
    let r = r.trim_start_matches(' ');
    if r.is_empty() {
        return Ok(out);
    }
    let (referer, r) = quoted(r).ok_or("referer must be a \"quoted\" string")?;
    out[10] = nil(&referer);
    let r = r.trim_start_matches(' ');
    let (ua, r) = quoted(r).ok_or("user agent must be a \"quoted\" string")?;
    out[11] = nil(&ua);
    let r = r.trim();
    if !r.is_empty() {
        out[12] = Some(r.to_string());
    }
    Ok(out)
}

/// Most nesting levels flattened; deeper values are kept as JSON text.
const MAX_FLATTEN_DEPTH: usize = 32;

fn flatten(prefix: &str, v: &Value, depth: usize, out: &mut Vec<(String, Option<String>)>) {
    match v {
        Value::Object(map) if depth < MAX_FLATTEN_DEPTH && !map.is_empty() => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, depth + 1, out);
            }
        }
        Value::Null => out.push((prefix.to_string(), None)),
        Value::String(s) => out.push((prefix.to_string(), Some(s.clone()))),
        Value::Bool(_) | Value::Number(_) => out.push((prefix.to_string(), Some(v.to_string()))),
        other => out.push((prefix.to_string(), Some(other.to_string()))),
    }
}

/// Parses one JSON-lines record: an object, nested objects flattened with `.`-joined keys,
/// arrays kept as JSON text, scalars as text.
pub fn json(line: &str) -> Result<Vec<(String, Option<String>)>, String> {
    let v: Value = serde_json::from_str(line.trim()).map_err(|e| format!("JSON: {e}"))?;
    if !v.is_object() {
        return Err("JSON line is not an object".into());
    }
    let mut out = Vec::new();
    flatten("", &v, 0, &mut out);
    Ok(out)
}

/// State of a Zeek TSV log: its directives.
#[derive(Clone, Debug)]
pub struct ZeekTsv {
    /// Field separator (`#separator`, default tab).
    pub separator: String,
    /// Text of an unset field (`#unset_field`, default `-`): read as null.
    pub unset: String,
    /// Text of an empty field (`#empty_field`, default `(empty)`): read as "".
    pub empty: String,
    /// Column names (`#fields`).
    pub fields: Vec<String>,
}

impl Default for ZeekTsv {
    fn default() -> Self {
        ZeekTsv {
            separator: "\t".into(),
            unset: "-".into(),
            empty: "(empty)".into(),
            fields: Vec::new(),
        }
    }
}

fn unescape_zeek(s: &str) -> String {
    // `\x09`-style escapes.
    let mut out = String::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    let mut start = 0;
    while i + 4 <= b.len() {
        if b[i] == b'\\'
            && b[i + 1] == b'x'
            && b[i + 2].is_ascii_hexdigit()
            && b[i + 3].is_ascii_hexdigit()
        {
            out.push_str(&s[start..i]);
            let v = u8::from_str_radix(&s[i + 2..i + 4], 16).unwrap_or(b'?');
            out.push(v as char);
            i += 4;
            start = i;
        } else {
            i += 1;
        }
    }
    out.push_str(&s[start..]);
    out
}

impl ZeekTsv {
    /// Reads a `#` directive line; returns whether it was one.
    pub fn directive(&mut self, line: &str) -> bool {
        let Some(d) = line.strip_prefix('#') else {
            return false;
        };
        let (key, val) = match d.find([' ', '\t']) {
            Some(i) => (&d[..i], &d[i + 1..]),
            None => (d, ""),
        };
        match key {
            "separator" => self.separator = unescape_zeek(val.trim()),
            "unset_field" => self.unset = val.to_string(),
            "empty_field" => self.empty = val.to_string(),
            "fields" => {
                self.fields = val
                    .split(self.separator.as_str())
                    .map(str::to_string)
                    .collect()
            }
            _ => {}
        }
        if self.separator.is_empty() {
            self.separator = "\t".into();
        }
        true
    }

    /// Parses a data line in `fields` order.
    pub fn row(&self, line: &str) -> Result<Vec<Option<String>>, String> {
        if self.fields.is_empty() {
            return Err("data line before any `#fields` header".into());
        }
        let vals: Vec<&str> = line.split(self.separator.as_str()).collect();
        if vals.len() != self.fields.len() {
            return Err(format!(
                "{} fields where the `#fields` header names {}",
                vals.len(),
                self.fields.len()
            ));
        }
        Ok(vals
            .into_iter()
            .map(|v| {
                if v == self.unset {
                    None
                } else if v == self.empty {
                    Some(String::new())
                } else {
                    Some(v.to_string())
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn syslog_5424() {
        let r = syslog(r#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="App\]lication"] An application event"#).unwrap();
        assert_eq!(r[0].as_deref(), Some("165"));
        assert_eq!(r[1].as_deref(), Some("20"));
        assert_eq!(r[2].as_deref(), Some("5"));
        assert_eq!(r[5].as_deref(), Some("mymachine.example.com"));
        assert_eq!(r[7], None);
        assert_eq!(r[8].as_deref(), Some("ID47"));
        assert!(r[9].as_deref().unwrap().ends_with("lication\"]"));
        assert_eq!(r[10].as_deref(), Some("An application event"));
        assert!(syslog("<34>1 2003-10-11T22:14:15.003Z host").is_err());
    }

    #[test]
    fn syslog_3164() {
        let r = syslog("<34>Oct 11 22:14:15 mymachine su[99]: 'su root' failed").unwrap();
        assert_eq!(r[1].as_deref(), Some("4"));
        assert_eq!(r[4].as_deref(), Some("Oct 11 22:14:15"));
        assert_eq!(r[6].as_deref(), Some("su"));
        assert_eq!(r[7].as_deref(), Some("99"));
        assert_eq!(r[10].as_deref(), Some("'su root' failed"));
        let r = syslog("Jun 14 15:16:01 combo sshd(pam_unix)[19939]: check pass; user unknown")
            .unwrap();
        assert_eq!(r[6].as_deref(), Some("sshd(pam_unix)"));
        assert!(syslog("garbage").is_err());
    }

    #[test]
    fn access_combined() {
        let r = access(r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)""#).unwrap();
        assert_eq!(r[2].as_deref(), Some("frank"));
        assert_eq!(r[3].as_deref(), Some("10/Oct/2000:13:55:36 -0700"));
        assert_eq!(r[5].as_deref(), Some("GET"));
        assert_eq!(r[6].as_deref(), Some("/apache_pb.gif"));
        assert_eq!(r[8].as_deref(), Some("200"));
        assert_eq!(r[9].as_deref(), Some("2326"));
        assert_eq!(r[11].as_deref(), Some("Mozilla/4.08 [en] (Win98; I ;Nav)"));
        let r = access(r#"1.2.3.4 - - [x] "GET /a\"b HTTP/1.1" 404 -"#).unwrap();
        assert_eq!(r[6].as_deref(), Some("/a\"b"));
        assert_eq!(r[9], None);
        assert!(access(r#"1.2.3.4 - - [x] "GET / HTTP/1.1" 2000 1"#).is_err());
    }

    #[test]
    fn json_flatten() {
        let r = json(r#"{"a":1,"b":{"c":"x","d":[1,2]},"e":null}"#).unwrap();
        assert_eq!(
            r,
            vec![
                ("a".to_string(), Some("1".to_string())),
                ("b.c".to_string(), Some("x".to_string())),
                ("b.d".to_string(), Some("[1,2]".to_string())),
                ("e".to_string(), None)
            ]
        );
        assert!(json("[1]").is_err());
        assert!(json("{").is_err());
    }

    #[test]
    fn zeek() {
        let mut z = ZeekTsv::default();
        assert!(z.directive("#separator \\x09"));
        assert_eq!(z.separator, "\t");
        z.directive("#fields\tts\tuid\tq");
        let r = z.row("1.5\t-\t(empty)").unwrap();
        assert_eq!(r, vec![Some("1.5".into()), None, Some(String::new())]);
        assert!(z.row("1.5\t-").is_err());
    }
}
