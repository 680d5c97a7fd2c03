//! CSV indicator files (`value,kind` and optional `id,source,confidence,valid_until`, read
//! with the `csv` crate) and plain lists (one value per line, `#` comments, hosts-file lines
//! `0.0.0.0 name`, the kind decided per value).

use rayon::prelude::*;

use super::normalize::{IndicatorKind, Normalized, Reason, normalize};
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

/// Column positions of a CSV indicator file.
struct Cols {
    value: usize,
    kind: Option<usize>,
    id: Option<usize>,
    source: Option<usize>,
    confidence: Option<usize>,
    valid_until: Option<usize>,
}

/// One data row of a CSV file, read and normalised, not yet added.
enum Row {
    Unreadable(String),
    Rejected {
        src: Option<String>,
        value: String,
        reason: String,
    },
    Indicator {
        src: Option<String>,
        ind: NewIndicator,
        norm: Result<Normalized, Reason>,
    },
}

/// Text parsed per block of lines (bounds the rows held at once).
const BLOCK_BYTES: usize = 16 << 20;

/// `text` cut into pieces of about `size` bytes, each ending at a line end (the last at the
/// text's end).
fn split_lines(text: &str, size: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let cut = rest
            .as_bytes()
            .iter()
            .skip(size.max(1) - 1)
            .position(|&b| b == b'\n')
            .map_or(rest.len(), |p| p.saturating_add(size.max(1)));
        let (head, tail) = rest.split_at(cut.min(rest.len()));
        out.push(head);
        rest = tail;
    }
    out
}

/// The rows of `text` (CSV data lines, no header) in order.
fn parse_rows(text: &str, cols: &Cols) -> Vec<Row> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut out = Vec::new();
    for rec in rdr.records() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                out.push(Row::Unreadable(format!("unreadable CSV row: {e}")));
                continue;
            }
        };
        let get = |i: Option<usize>| i.and_then(|i| rec.get(i)).filter(|s| !s.is_empty());
        let value = get(Some(cols.value)).unwrap_or("");
        let src = get(cols.source).map(str::to_string);
        let reject = |reason: String| Row::Rejected {
            src: src.clone(),
            value: value.to_string(),
            reason,
        };
        let kind = match IndicatorKind::parse(get(cols.kind).unwrap_or("auto")) {
            Ok(k) => k,
            Err(why) => {
                out.push(reject(why));
                continue;
            }
        };
        let confidence = match get(cols.confidence).map(|c| c.parse::<u8>()) {
            None => None,
            Some(Ok(c)) if c <= 100 => Some(c),
            Some(_) => {
                out.push(reject("confidence is not an integer 0..100".into()));
                continue;
            }
        };
        let valid_until = match get(cols.valid_until) {
            None => None,
            Some(u) => match parse_until(u) {
                Some(t) => Some(t),
                None => {
                    out.push(reject(
                        "valid_until is neither RFC 3339 nor epoch seconds".into(),
                    ));
                    continue;
                }
            },
        };
        let norm = normalize(value, kind);
        out.push(Row::Indicator {
            src,
            ind: NewIndicator {
                value: value.to_string(),
                kind,
                id: get(cols.id).map(str::to_string),
                confidence,
                valid_from: None,
                valid_until,
            },
            norm,
        });
    }
    out
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
        let cols = Cols {
            value: vi,
            kind: ki,
            id: col("id"),
            source: col("source"),
            confidence: col("confidence"),
            valid_until: col("valid_until"),
        };
        let body_start = usize::try_from(rdr.position().byte()).unwrap_or(usize::MAX);
        let body = text.get(body_start..).unwrap_or("");
        // One entry per line at most: reserve once instead of regrowing.
        self.table
            .reserve(body.bytes().filter(|&b| b == b'\n').count());
        // Without quotes no field spans lines, so blocks of lines parse (and normalise) in
        // parallel; the rows are then added in file order, so the result is the sequential
        // one. A block at a time bounds the rows held.
        let quoted = body.contains('"');
        let (block_bytes, pieces) = if quoted {
            (usize::MAX, 1)
        } else {
            (BLOCK_BYTES, 2 * rayon::current_num_threads())
        };
        let mut added = 0;
        for block in split_lines(body, block_bytes) {
            let rows: Vec<Vec<Row>> = split_lines(block, block.len().div_ceil(pieces).max(1))
                .into_par_iter()
                .map(|piece| parse_rows(piece, &cols))
                .collect();
            for row in rows.into_iter().flatten() {
                match row {
                    Row::Unreadable(msg) => {
                        self.source_report(source, F).reject("(row)", &msg);
                    }
                    Row::Rejected { src, value, reason } => {
                        self.source_report(src.as_deref().unwrap_or(source), F)
                            .reject(&value, &reason);
                    }
                    Row::Indicator { src, ind, norm } => {
                        let src = src.as_deref().unwrap_or(source);
                        added += usize::from(self.add_normalized(src, F, ind, norm));
                    }
                }
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_lines_cuts_only_after_line_ends() {
        let t = "a\nbb\nccc\n\ndd";
        for size in [1, 2, 3, 5, 100, usize::MAX] {
            let parts = split_lines(t, size);
            assert_eq!(parts.concat(), t, "{size}");
            for p in &parts[..parts.len() - 1] {
                assert!(p.ends_with('\n'), "{size}: {parts:?}");
            }
        }
        assert!(split_lines("", 4).is_empty());
    }

    #[test]
    fn parallel_rows_equal_the_quoted_sequential_read() {
        // The same file twice: plain (parsed in parallel pieces) and with every value quoted
        // (a quote forces the one-piece read). Reports and indicators must be equal, and
        // agree with counts made by hand from how the rows were generated.
        let mut r = crate::rng::SplitMix64(5);
        let mut plain = String::from("value,kind,id,source,confidence\r\n");
        let mut quoted = plain.clone();
        let (mut good, mut bad_kind, mut bad_conf) = (0, 0, 0);
        let mut first_good = None;
        for i in 0..20_000 {
            let (v, k) = match r.below(6) {
                0 => (
                    format!("10.{}.{}.{}", r.below(4), r.below(256), r.below(256)),
                    "ip",
                ),
                1 => (format!("w{}.example", r.below(50_000)), "domain"),
                2 => (format!("{:032x}", r.next_u64()), "md5"),
                3 => ("x".to_string(), "nonsense"),
                _ => (format!("a{i}.test"), "domain_suffix"),
            };
            let conf = if r.below(10) == 0 { "300" } else { "50" };
            match (k, conf) {
                ("nonsense", _) => bad_kind += 1,
                (_, "300") => bad_conf += 1,
                _ => {
                    good += 1;
                    first_good = first_good.or(Some(i));
                }
            }
            let src = ["a", "", "b"][r.below(3)];
            plain.push_str(&format!("{v},{k},i{i},{src},{conf}\n"));
            quoted.push_str(&format!("\"{v}\",{k},i{i},{src},{conf}\n"));
        }
        let (mut a, mut b) = (Intel::new(), Intel::new());
        let na = a.add_csv(&plain, "file");
        let nb = b.add_csv(&quoted, "file");
        assert_eq!(na, nb);
        assert_eq!(a.report(), b.report());
        assert_eq!(a.indicators(), b.indicators());
        let rep = a.report();
        let loaded: u64 = rep.values().map(|s| s.loaded + s.duplicates).sum();
        assert_eq!(loaded, good);
        let rejected =
            |why: &str| -> u64 { rep.values().filter_map(|s| s.rejected.get(why)).sum() };
        assert_eq!(rejected("confidence is not an integer 0..100"), bad_conf);
        let kinds: u64 = rep
            .values()
            .flat_map(|s| s.rejected.iter())
            .filter(|(why, _)| why.contains("nonsense"))
            .map(|(_, n)| n)
            .sum();
        assert_eq!(kinds, bad_kind);
        // The row right after the header is read (the body starts where the header ends).
        assert_eq!(
            a.indicators().first().map(|i| i.id.clone()),
            first_good.map(|i| format!("i{i}"))
        );
    }
}
