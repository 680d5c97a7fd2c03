//! A parser for STIX 2.1 patterns and the subset vigil evaluates per value: observations
//! joined by `OR`; inside one observation, comparisons `=`, `IN`, `ISSUBSET` on
//! `ipv4-addr:value`, `ipv6-addr:value`, `domain-name:value`, `url:value`, `file:hashes.*`,
//! `email-addr:value`, `network-traffic:dst_ref.value` / `src_ref.value`, combined with `OR`
//! and with `AND` when every operand describes one file's hashes. Anything else (other
//! operators, `NOT`, qualifiers, observations joined by `AND`/`FOLLOWEDBY`, other objects)
//! parses but is reported with the reason it cannot be evaluated. Small and total: no panic
//! on any input, recursion depth bounded (fuzz target `stix_pattern`).

use super::normalize::{IndicatorKind, parse_cidr};

const MAX_DEPTH: usize = 64;

/// A comparison inside an observation: `object:path op values`.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    /// Object type (`ipv4-addr`, `file`, ...).
    pub object: String,
    /// Property path (`value`, `hashes.SHA-256`, `dst_ref.value`).
    pub path: String,
    /// Operator (`=`, `IN`, `ISSUBSET`, `LIKE`, ...).
    pub op: String,
    /// Whether `NOT` precedes the operator.
    pub negated: bool,
    /// The constant(s): one for most operators, the list for `IN`.
    pub values: Vec<String>,
}

/// An observation expression (inside `[...]`).
#[derive(Clone, Debug, PartialEq)]
pub enum Observation {
    /// One comparison.
    Comparison(Comparison),
    /// All must hold.
    And(Vec<Observation>),
    /// Any may hold.
    Or(Vec<Observation>),
}

/// A whole pattern: observations, joined, qualified.
#[derive(Clone, Debug, PartialEq)]
pub enum Pattern {
    /// `[ ... ]`.
    Observation(Observation),
    /// Observations joined by `AND`, `OR` or `FOLLOWEDBY`.
    Join(String, Vec<Pattern>),
    /// A pattern with a qualifier (`WITHIN`, `REPEATS`, `START`/`STOP`).
    Qualified(Box<Pattern>, String),
}

/// Why a pattern does not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatternError(pub String);

impl std::fmt::Display for PatternError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    LBrack,
    RBrack,
    LParen,
    RParen,
    Comma,
    Str(String),
    Word(String),
    Op(String),
}

fn lex(text: &str) -> Result<Vec<Tok>, PatternError> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        match c {
            c if c.is_whitespace() => i += 1,
            '[' => (out.push(Tok::LBrack), i += 1).1,
            ']' => (out.push(Tok::RBrack), i += 1).1,
            '(' => (out.push(Tok::LParen), i += 1).1,
            ')' => (out.push(Tok::RParen), i += 1).1,
            ',' => (out.push(Tok::Comma), i += 1).1,
            '\'' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(PatternError("unterminated string".into())),
                        Some('\\') => {
                            match chars.get(i + 1) {
                                Some(&e @ ('\'' | '\\')) => s.push(e),
                                _ => return Err(PatternError("invalid escape in string".into())),
                            }
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(&ch) => {
                            s.push(ch);
                            i += 1;
                        }
                    }
                }
                out.push(Tok::Str(s));
            }
            '=' | '!' | '<' | '>' => {
                let two = chars.get(i + 1) == Some(&'=');
                let op: String = if two {
                    [c, '='].iter().collect()
                } else {
                    c.to_string()
                };
                if op == "!" {
                    return Err(PatternError("`!` without `=`".into()));
                }
                i += op.len();
                out.push(Tok::Op(op));
            }
            _ => {
                let start = i;
                while let Some(&ch) = chars.get(i) {
                    if ch.is_whitespace() || "[](),='!<>".contains(ch) {
                        break;
                    }
                    i += 1;
                }
                if start == i {
                    return Err(PatternError(format!("unexpected character `{c}`")));
                }
                let w: String = chars.get(start..i).unwrap_or(&[]).iter().collect();
                // A quoted path step such as hashes.'SHA-256' continues the word.
                let mut w = w;
                while w.ends_with('.') && chars.get(i) == Some(&'\'') {
                    let end = chars
                        .get(i + 1..)
                        .and_then(|r| r.iter().position(|&x| x == '\''))
                        .ok_or_else(|| PatternError("unterminated quoted path step".into()))?;
                    let step: String = chars
                        .get(i + 1..i + 1 + end)
                        .unwrap_or(&[])
                        .iter()
                        .collect();
                    w.push_str(&step);
                    i += end + 2;
                    while let Some(&ch) = chars.get(i) {
                        if ch.is_whitespace() || "[](),='!<>".contains(ch) {
                            break;
                        }
                        w.push(ch);
                        i += 1;
                    }
                }
                out.push(Tok::Word(w));
            }
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    at: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.at).cloned();
        self.at += 1;
        t
    }
    fn word_is(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(x)) if x.eq_ignore_ascii_case(w))
    }
    fn enter(&mut self) -> Result<(), PatternError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(PatternError("pattern nested too deeply".into()));
        }
        Ok(())
    }

    fn pattern(&mut self) -> Result<Pattern, PatternError> {
        self.enter()?;
        let mut parts = vec![self.term()?];
        let mut op: Option<String> = None;
        while let Some(Tok::Word(w)) = self.peek() {
            let w = w.to_ascii_uppercase();
            if !matches!(w.as_str(), "AND" | "OR" | "FOLLOWEDBY") {
                break;
            }
            self.at += 1;
            match &op {
                Some(o) if *o != w => {
                    // Mixed joins: AND binds tighter, but we only need "not all OR" here.
                    op = Some("MIXED".into());
                }
                None => op = Some(w),
                _ => {}
            }
            parts.push(self.term()?);
        }
        self.depth -= 1;
        Ok(match op {
            None => parts
                .pop()
                .unwrap_or(Pattern::Join("OR".into(), Vec::new())),
            Some(o) => Pattern::Join(o, parts),
        })
    }

    fn term(&mut self) -> Result<Pattern, PatternError> {
        let mut p = match self.next() {
            Some(Tok::LBrack) => {
                let o = self.obs_or()?;
                match self.next() {
                    Some(Tok::RBrack) => Pattern::Observation(o),
                    _ => return Err(PatternError("expected `]`".into())),
                }
            }
            Some(Tok::LParen) => {
                let p = self.pattern()?;
                match self.next() {
                    Some(Tok::RParen) => p,
                    _ => return Err(PatternError("expected `)`".into())),
                }
            }
            _ => return Err(PatternError("expected `[` or `(`".into())),
        };
        while let Some(Tok::Word(w)) = self.peek() {
            let q = w.to_ascii_uppercase();
            if !matches!(q.as_str(), "WITHIN" | "REPEATS" | "START") {
                break;
            }
            self.at += 1;
            let mut text = q.clone();
            let n = if q == "START" { 3 } else { 2 };
            for _ in 0..n {
                match self.next() {
                    Some(Tok::Word(x)) | Some(Tok::Str(x)) => {
                        text.push(' ');
                        text.push_str(&x);
                    }
                    _ => return Err(PatternError(format!("incomplete {q} qualifier"))),
                }
            }
            p = Pattern::Qualified(Box::new(p), text);
        }
        Ok(p)
    }

    fn obs_or(&mut self) -> Result<Observation, PatternError> {
        self.enter()?;
        let mut parts = vec![self.obs_and()?];
        while self.word_is("OR") {
            self.at += 1;
            parts.push(self.obs_and()?);
        }
        self.depth -= 1;
        Ok(if parts.len() == 1 {
            parts.pop().unwrap_or(Observation::Or(Vec::new()))
        } else {
            Observation::Or(parts)
        })
    }

    fn obs_and(&mut self) -> Result<Observation, PatternError> {
        let mut parts = vec![self.obs_atom()?];
        while self.word_is("AND") {
            self.at += 1;
            parts.push(self.obs_atom()?);
        }
        Ok(if parts.len() == 1 {
            parts.pop().unwrap_or(Observation::And(Vec::new()))
        } else {
            Observation::And(parts)
        })
    }

    fn obs_atom(&mut self) -> Result<Observation, PatternError> {
        if self.peek() == Some(&Tok::LParen) {
            self.at += 1;
            let o = self.obs_or()?;
            return match self.next() {
                Some(Tok::RParen) => Ok(o),
                _ => Err(PatternError("expected `)` in observation".into())),
            };
        }
        let Some(Tok::Word(path)) = self.next() else {
            return Err(PatternError(
                "expected an object path such as `ipv4-addr:value`".into(),
            ));
        };
        let (object, prop) = path.split_once(':').ok_or_else(|| {
            PatternError(format!("`{path}` is not an object path (type:property)"))
        })?;
        let mut negated = false;
        if self.word_is("NOT") {
            self.at += 1;
            negated = true;
        }
        let op = match self.next() {
            Some(Tok::Op(o)) => o,
            Some(Tok::Word(w)) => w.to_ascii_uppercase(),
            _ => return Err(PatternError(format!("expected an operator after `{path}`"))),
        };
        let values = if op == "IN" {
            if self.next() != Some(Tok::LParen) {
                return Err(PatternError("IN needs a list `( ... )`".into()));
            }
            let mut vals = Vec::new();
            loop {
                match self.next() {
                    Some(Tok::Str(s)) | Some(Tok::Word(s)) => vals.push(s),
                    _ => return Err(PatternError("expected a constant in the IN list".into())),
                }
                match self.next() {
                    Some(Tok::Comma) => continue,
                    Some(Tok::RParen) => break,
                    _ => return Err(PatternError("expected `,` or `)` in the IN list".into())),
                }
            }
            vals
        } else {
            match self.next() {
                Some(Tok::Str(s)) | Some(Tok::Word(s)) => vec![s],
                _ => return Err(PatternError(format!("expected a constant after `{op}`"))),
            }
        };
        Ok(Observation::Comparison(Comparison {
            object: object.to_ascii_lowercase(),
            path: prop.to_string(),
            op,
            negated,
            values,
        }))
    }
}

/// Parses a STIX 2.1 pattern.
pub fn parse_pattern(text: &str) -> Result<Pattern, PatternError> {
    let toks = lex(text)?;
    let mut p = Parser {
        toks,
        at: 0,
        depth: 0,
    };
    let out = p.pattern()?;
    if p.at < p.toks.len() {
        return Err(PatternError("unexpected text after the pattern".into()));
    }
    Ok(out)
}

/// The indicator kind a comparison's path maps to (`None` for a network-traffic reference,
/// decided per value: an address or network, else a domain).
fn path_kind(c: &Comparison) -> Result<Option<IndicatorKind>, String> {
    let path = c.path.to_ascii_lowercase();
    Ok(Some(match (c.object.as_str(), path.as_str()) {
        ("ipv4-addr" | "ipv6-addr", "value") => IndicatorKind::Cidr,
        ("domain-name", "value") => IndicatorKind::Domain,
        ("url", "value") => IndicatorKind::Url,
        ("email-addr", "value") => IndicatorKind::Email,
        ("email-message", "from_ref.value" | "sender_ref.value") => IndicatorKind::Email,
        ("network-traffic", "dst_ref.value" | "src_ref.value") => return Ok(None),
        ("file", "hashes.md5") => IndicatorKind::Md5,
        ("file", "hashes.sha-1" | "hashes.sha1") => IndicatorKind::Sha1,
        ("file", "hashes.sha-256" | "hashes.sha256") => IndicatorKind::Sha256,
        (o, _) => {
            return Err(format!(
                "`{o}:{}` is not an object path vigil matches",
                c.path
            ));
        }
    }))
}

fn comparison_values(c: &Comparison, out: &mut Vec<(IndicatorKind, String)>) -> Result<(), String> {
    if c.negated {
        return Err(format!("NOT {} cannot be matched per value", c.op));
    }
    let kind = path_kind(c)?;
    match c.op.as_str() {
        "=" | "IN" => {}
        "ISSUBSET"
            if matches!(
                c.object.as_str(),
                "ipv4-addr" | "ipv6-addr" | "network-traffic"
            ) => {}
        op => {
            return Err(format!(
                "operator `{op}` on `{}:{}` is not evaluated",
                c.object, c.path
            ));
        }
    }
    for v in &c.values {
        let k = kind.unwrap_or(if parse_cidr(v).is_ok() {
            IndicatorKind::Cidr
        } else {
            IndicatorKind::Domain
        });
        out.push((k, v.clone()));
    }
    Ok(())
}

fn file_hash_and(parts: &[Observation]) -> bool {
    parts.iter().all(|p| {
        matches!(p, Observation::Comparison(c) if c.object == "file"
            && c.path.to_ascii_lowercase().starts_with("hashes.") && !c.negated && c.op == "=")
    })
}

fn observation_values(
    o: &Observation,
    out: &mut Vec<(IndicatorKind, String)>,
) -> Result<(), String> {
    match o {
        Observation::Comparison(c) => comparison_values(c, out),
        Observation::Or(parts) => parts.iter().try_for_each(|p| observation_values(p, out)),
        Observation::And(parts) if file_hash_and(parts) => {
            parts.iter().try_for_each(|p| observation_values(p, out))
        }
        Observation::And(_) => Err(
            "AND of comparisons other than one file's hashes needs several values at once; not evaluated per value"
                .into(),
        ),
    }
}

/// The (kind, value) indicators of a pattern in the evaluable subset, or why not.
pub fn pattern_indicators(p: &Pattern) -> Result<Vec<(IndicatorKind, String)>, String> {
    let mut out = Vec::new();
    fn walk(p: &Pattern, out: &mut Vec<(IndicatorKind, String)>) -> Result<(), String> {
        match p {
            Pattern::Observation(o) => observation_values(o, out),
            Pattern::Join(op, parts) if op == "OR" => parts.iter().try_for_each(|x| walk(x, out)),
            Pattern::Join(op, _) => Err(format!(
                "observations joined by {op} need a correlation of events; not evaluated per value"
            )),
            Pattern::Qualified(_, q) => Err(format!("qualifier `{q}` is not evaluated")),
        }
    }
    walk(p, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ind(p: &str) -> Result<Vec<(IndicatorKind, String)>, String> {
        pattern_indicators(&parse_pattern(p).map_err(|e| e.0)?)
    }

    #[test]
    fn subset() {
        assert_eq!(
            ind("[ipv4-addr:value = '1.2.3.4' OR domain-name:value = 'a.b']"),
            Ok(vec![
                (IndicatorKind::Cidr, "1.2.3.4".into()),
                (IndicatorKind::Domain, "a.b".into())
            ])
        );
        assert_eq!(
            ind("[file:hashes.'SHA-256' = 'ab' AND file:hashes.MD5 = 'cd']").map(|v| v.len()),
            Ok(2)
        );
        assert_eq!(
            ind("[ipv4-addr:value IN ('1.1.1.1', '2.2.2.2')] OR [url:value = 'http://x/it\\'s']")
                .map(|v| v.len()),
            Ok(3)
        );
        assert!(ind("[ipv4-addr:value = '1.2.3.4'] AND [domain-name:value = 'a']").is_err());
        assert!(ind("[process:name = 'x']").is_err());
        assert!(ind("[ipv4-addr:value = '1.2.3.4'] WITHIN 5 SECONDS").is_err());
        assert!(parse_pattern("[ipv4-addr:value = '1.2.3.4'").is_err());
        assert!(parse_pattern(&"(".repeat(10_000)).is_err());
    }
}
