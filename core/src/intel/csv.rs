//! CSV indicator files (`value,kind` and optional `id,source,confidence,valid_until`, read
//! with the `csv` crate) and plain lists (one value per line, `#` comments, hosts-file lines
//! `0.0.0.0 name`, the kind decided per value).

use super::normalize::IndicatorKind;
use super::stix::parse_time;
use super::{Intel, NewIndicator};

/// Whether the first line of `text` is a CSV header with `value` and `kind`.
pub(crate) fn is_csv(text: &str) -> bool {
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let cols: Vec<String> = first
        .split(',')
        .map(|c| c.trim().trim_matches('"').to_ascii_lowercase())
        .collect();
    cols.iter().any(|c| c == "value") && cols.iter().any(|c| c == "kind")
}

/// An expiry in RFC 3339 or epoch seconds.
fn parse_until(text: &str) -> Option<i64> {
    let t = text.trim();
    parse_time(t).or_else(|| {
        t.parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && s.abs() < 9.2e9)
            .map(|s| (s * 1e9) as i64)
    })
}

impl Intel {
    /// Adds the rows of a CSV indicator file; `source` names rows without a `source` column.
    pub fn add_csv(&mut self, text: &str, source: &str) -> usize {
        const F: &str = "csv";
        self.source_report(source, F);
        let mut rdr = csv::ReaderBuilder::new()
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let headers: Vec<String> = match rdr.headers() {
            Ok(h) => h.iter().map(str::to_ascii_lowercase).collect(),
            Err(e) => {
                self.source_report(source, F)
                    .reject("(header)", &format!("unreadable CSV header: {e}"));
                return 0;
            }
        };
        let col = |name: &str| headers.iter().position(|h| h == name);
        let (Some(vi), ki) = (col("value"), col("kind")) else {
            self.source_report(source, F)
                .reject("(header)", "no `value` column");
            return 0;
        };
        let (ii, si, ci, ui) = (
            col("id"),
            col("source"),
            col("confidence"),
            col("valid_until"),
        );
        // One entry per line at most: reserve once instead of regrowing.
        self.table
            .reserve(text.bytes().filter(|&b| b == b'\n').count());
        let mut added = 0;
        for rec in rdr.records() {
            let rec = match rec {
                Ok(r) => r,
                Err(e) => {
                    self.source_report(source, F)
                        .reject("(row)", &format!("unreadable CSV row: {e}"));
                    continue;
                }
            };
            let get = |i: Option<usize>| i.and_then(|i| rec.get(i)).filter(|s| !s.is_empty());
            let value = get(Some(vi)).unwrap_or("");
            let src = get(si).unwrap_or(source).to_string();
            let kind = match IndicatorKind::parse(get(ki).unwrap_or("auto")) {
                Ok(k) => k,
                Err(why) => {
                    self.source_report(&src, F).reject(value, &why);
                    continue;
                }
            };
            let confidence = match get(ci).map(|c| c.parse::<u8>()) {
                None => None,
                Some(Ok(c)) if c <= 100 => Some(c),
                Some(_) => {
                    self.source_report(&src, F)
                        .reject(value, "confidence is not an integer 0..100");
                    continue;
                }
            };
            let valid_until = match get(ui) {
                None => None,
                Some(u) => match parse_until(u) {
                    Some(t) => Some(t),
                    None => {
                        self.source_report(&src, F)
                            .reject(value, "valid_until is neither RFC 3339 nor epoch seconds");
                        continue;
                    }
                },
            };
            let ind = NewIndicator {
                value: value.to_string(),
                kind,
                id: get(ii).map(str::to_string),
                confidence,
                valid_from: None,
                valid_until,
            };
            added += usize::from(self.add_indicator(&src, F, ind));
        }
        added
    }

    /// Adds a plain list: one value per line, kinds decided per value (or all `kind`).
    pub fn add_list(&mut self, text: &str, kind: Option<IndicatorKind>, source: &str) -> usize {
        const F: &str = "list";
        self.source_report(source, F);
        self.table
            .reserve(text.bytes().filter(|&b| b == b'\n').count());
        let mut added = 0;
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() || line.starts_with("//") || line.starts_with(';') {
                continue;
            }
            let mut tokens = line.split_whitespace();
            let first = tokens.next().unwrap_or("");
            let value = match (first, tokens.next()) {
                ("0.0.0.0" | "127.0.0.1" | "::" | "::1", Some(host)) => host,
                _ => line,
            };
            let ind = NewIndicator {
                value: value.to_string(),
                kind,
                ..Default::default()
            };
            added += usize::from(self.add_indicator(source, F, ind));
        }
        added
    }
}
