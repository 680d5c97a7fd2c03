//! Windows events as JSON text: JSON lines, concatenated (pretty-printed) objects, or JSON
//! arrays of events, split into documents in one streaming pass.
//!
//! The splitter finds where each top-level value ends by counting brackets outside strings. A
//! broken document does not swallow the rest of the input: a line break inside a string (JSON
//! forbids it) or an opening bracket at the start of a line while a value is still open (pretty
//! printers indent nested values) ends it, and reading resumes there, so one bad line of JSON
//! lines costs one row.

use std::io::BufRead;

use rayon::prelude::*;
use serde_json::Value;

use super::event::{EventRow, event_from_json};
use super::rendered::row_from_rendered;

/// Longest JSON document kept; a longer one becomes one damaged row.
pub const MAX_DOCUMENT_BYTES: usize = 16 << 20;

/// One top-level piece of the input.
#[derive(Debug, PartialEq)]
pub(crate) enum Piece {
    /// A complete value's text, and the line it starts on (1-based).
    Doc(Vec<u8>, u64),
    /// Text that cannot be a complete value, why, and the line it starts on.
    Broken(String, u64),
}

/// Splits a byte stream into top-level JSON documents (see the module docs).
pub(crate) struct Splitter<R: BufRead> {
    input: R,
    buf: Vec<u8>,
    pos: usize,
    eof: bool,
    line: u64,
    at_line_start: bool,
    in_array: bool,
    array_line: u64,
}

impl<R: BufRead> Splitter<R> {
    pub(crate) fn new(input: R) -> Self {
        Splitter {
            input,
            buf: Vec::new(),
            pos: 0,
            eof: false,
            line: 1,
            at_line_start: true,
            in_array: false,
            array_line: 0,
        }
    }

    fn peek(&mut self) -> std::io::Result<Option<u8>> {
        if self.pos >= self.buf.len() {
            if self.eof {
                return Ok(None);
            }
            self.buf.clear();
            self.pos = 0;
            let chunk = self.input.fill_buf()?;
            if chunk.is_empty() {
                self.eof = true;
                return Ok(None);
            }
            self.buf.extend_from_slice(chunk);
            let n = chunk.len();
            self.input.consume(n);
        }
        Ok(self.buf.get(self.pos).copied())
    }

    fn bump(&mut self, b: u8) {
        self.pos += 1;
        if b == b'\n' {
            self.line += 1;
            self.at_line_start = true;
        } else {
            self.at_line_start = false;
        }
    }

    /// The next piece, `None` at the end of the input.
    pub(crate) fn next_piece(&mut self) -> std::io::Result<Option<Piece>> {
        loop {
            let Some(b) = self.peek()? else {
                if self.in_array {
                    self.in_array = false;
                    return Ok(Some(Piece::Broken(
                        "JSON array not closed at the end of the input".into(),
                        self.array_line,
                    )));
                }
                return Ok(None);
            };
            match b {
                b' ' | b'\t' | b'\r' | b'\n' => self.bump(b),
                // A byte-order mark at the start of a file.
                0xEF | 0xBB | 0xBF if self.line == 1 => self.bump(b),
                b',' if self.in_array => self.bump(b),
                b']' if self.in_array => {
                    self.in_array = false;
                    self.bump(b);
                }
                b'[' if !self.in_array => {
                    self.in_array = true;
                    self.array_line = self.line;
                    self.bump(b);
                }
                b'{' | b'[' => return self.nested().map(Some),
                _ => return self.scalar().map(Some),
            }
        }
    }

    /// An object or array, up to its closing bracket.
    fn nested(&mut self) -> std::io::Result<Piece> {
        let start = self.line;
        let mut doc = Vec::new();
        let mut too_long = false;
        let mut depth = 0usize;
        let mut in_string = false;
        let mut escaped = false;
        while let Some(b) = self.peek()? {
            if in_string {
                if b == b'\n' {
                    return Ok(Piece::Broken(
                        format!(
                            "line {start}: a JSON string is not closed before the end of line {}",
                            self.line
                        ),
                        start,
                    ));
                }
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    in_string = false;
                }
            } else {
                match b {
                    b'"' => in_string = true,
                    b'{' | b'[' => {
                        if depth > 0 && self.at_line_start {
                            return Ok(Piece::Broken(
                                format!(
                                    "line {start}: a JSON value is not closed before the next one starts on line {}",
                                    self.line
                                ),
                                start,
                            ));
                        }
                        depth += 1;
                    }
                    b'}' | b']' => depth = depth.saturating_sub(1),
                    _ => {}
                }
            }
            if doc.len() < MAX_DOCUMENT_BYTES {
                doc.push(b);
            } else {
                too_long = true;
            }
            self.bump(b);
            if depth == 0 {
                return Ok(if too_long {
                    Piece::Broken(
                        format!(
                            "line {start}: a JSON document longer than {MAX_DOCUMENT_BYTES} bytes"
                        ),
                        start,
                    )
                } else {
                    Piece::Doc(doc, start)
                });
            }
        }
        Ok(Piece::Broken(
            format!("line {start}: a JSON value is not closed at the end of the input"),
            start,
        ))
    }

    /// Anything else: up to the end of its line (or the next `,` / `]` in an array).
    fn scalar(&mut self) -> std::io::Result<Piece> {
        let start = self.line;
        let mut doc = Vec::new();
        while let Some(b) = self.peek()? {
            if b == b'\n' || (self.in_array && (b == b',' || b == b']')) {
                break;
            }
            if doc.len() < MAX_DOCUMENT_BYTES {
                doc.push(b);
            }
            self.bump(b);
        }
        Ok(Piece::Doc(doc, start))
    }
}

/// One piece as an event row (damaged rows say why, with the line).
pub(crate) fn piece_row(piece: Piece) -> EventRow {
    match piece {
        Piece::Broken(why, _) => EventRow::damaged(why, None),
        // evtx_dump's common shape is read straight off the bytes; the rest (and every
        // error message) comes from the general path.
        Piece::Doc(bytes, line) => match row_from_rendered(&bytes) {
            Some(row) => row,
            None => match serde_json::from_slice::<Value>(&bytes) {
                Err(e) => EventRow::damaged(format!("line {line}: not valid JSON: {e}"), None),
                Ok(doc) => match event_from_json(&doc) {
                    Ok(row) => row,
                    Err(why) => EventRow::damaged(format!("line {line}: {why}"), None),
                },
            },
        },
    }
}

/// Reads up to `max` pieces and maps them to rows in parallel. An I/O error ends the input
/// with one damaged row saying so.
pub(crate) fn next_rows<R: BufRead>(split: &mut Splitter<R>, max: usize) -> (Vec<EventRow>, bool) {
    let mut pieces = Vec::new();
    let mut done = false;
    while pieces.len() < max {
        match split.next_piece() {
            Ok(Some(p)) => pieces.push(p),
            Ok(None) => {
                done = true;
                break;
            }
            Err(e) => {
                pieces.push(Piece::Broken(format!("reading stopped: {e}"), split.line));
                done = true;
                break;
            }
        }
    }
    let rows = if pieces.len() > 256 {
        pieces.into_par_iter().map(piece_row).collect()
    } else {
        pieces.into_iter().map(piece_row).collect()
    };
    (rows, done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(text: &str) -> Vec<Piece> {
        let mut s = Splitter::new(text.as_bytes());
        let mut out = Vec::new();
        while let Ok(Some(p)) = s.next_piece() {
            out.push(p);
        }
        out
    }

    fn doc(t: &str, line: u64) -> Piece {
        Piece::Doc(t.as_bytes().to_vec(), line)
    }

    #[test]
    fn lines_pretty_objects_and_arrays() {
        assert_eq!(
            pieces("{\"a\":1}\n{\"b\":\"}{\"}\n"),
            vec![doc("{\"a\":1}", 1), doc("{\"b\":\"}{\"}", 2)]
        );
        assert_eq!(
            pieces("{\n  \"a\": {\n    \"b\": [1]\n  }\n}\n{\n}"),
            vec![
                doc("{\n  \"a\": {\n    \"b\": [1]\n  }\n}", 1),
                doc("{\n}", 6)
            ]
        );
        assert_eq!(
            pieces("[{\"a\":1},\n {\"b\":2}]"),
            vec![doc("{\"a\":1}", 1), doc("{\"b\":2}", 2)]
        );
    }

    #[test]
    fn a_broken_line_costs_one_piece() {
        let p = pieces("{\"a\": \"x\n{\"b\": 1}\n{\"c\": \n{\"d\": 2}\n");
        assert_eq!(p.len(), 4, "{p:?}");
        assert!(matches!(p[0], Piece::Broken(_, 1)));
        assert_eq!(p[1], doc("{\"b\": 1}", 2));
        assert!(matches!(p[2], Piece::Broken(_, 3)));
        assert_eq!(p[3], doc("{\"d\": 2}", 4));
        let p = pieces("[{\"a\": 1}, {\"b\"");
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(matches!(p[1], Piece::Broken(_, 1)));
        assert!(matches!(p[2], Piece::Broken(_, 1)));
    }
}
