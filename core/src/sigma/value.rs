//! Values and modifiers: one YAML value of `field|mod1|mod2` becomes one or more matchers
//! (strings with their anchor, wildcard globs, regexes, networks, numbers, null, exists,
//! field references). Wildcards `*` `?` and the escapes `\*` `\?` `\\` follow pySigma.

use std::collections::HashMap;

use base64::Engine as _;
use yaml_serde::Value;

use super::rule::Reason;

/// User values for `|expand` placeholders (`%name%` -> values).
pub type Placeholders = HashMap<String, Vec<String>>;

/// Largest compiled regex accepted (bytes of the regex crate's program).
pub(crate) const REGEX_SIZE_LIMIT: usize = 8 << 20;

/// Where a literal must sit in the value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Anchor {
    /// The whole value.
    Exact,
    /// At the start.
    Prefix,
    /// At the end.
    Suffix,
    /// Anywhere.
    Contains,
}

/// Numeric comparisons.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Cmp {
    Gt,
    Gte,
    Lt,
    Lte,
}

/// An IPv4 or IPv6 network (IPv4 as IPv4-mapped... no: kept apart by `v6`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Net {
    pub v6: bool,
    pub addr: u128,
    pub prefix: u8,
}

impl Net {
    fn parse(s: &str) -> Option<Net> {
        let (ip, len) = match s.split_once('/') {
            Some((ip, len)) => (ip, Some(len.trim().parse::<u8>().ok()?)),
            None => (s, None),
        };
        let ip: std::net::IpAddr = ip.trim().parse().ok()?;
        let (v6, addr, max) = match ip {
            std::net::IpAddr::V4(a) => (false, u32::from(a) as u128, 32),
            std::net::IpAddr::V6(a) => (true, u128::from(a), 128),
        };
        let prefix = len.unwrap_or(max);
        if prefix > max {
            return None;
        }
        Some(Net {
            v6,
            addr: addr & Net::mask(v6, prefix),
            prefix,
        })
    }

    /// The network mask of `prefix` bits.
    pub(crate) fn mask(v6: bool, prefix: u8) -> u128 {
        let bits = if v6 { 128 } else { 32 };
        if prefix == 0 {
            0
        } else {
            let all = if v6 { u128::MAX } else { u32::MAX as u128 };
            (all >> (bits - prefix as u32)) << (bits - prefix as u32)
        }
    }
}

/// What one value tests.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Matcher {
    /// A literal (encoded; lower-cased unless `cased`) at `anchor`.
    Str {
        text: Vec<u8>,
        anchor: Anchor,
        cased: bool,
    },
    /// Wildcards inside the value: an anchored regex, prefiltered by its longest literal.
    Glob {
        regex: String,
        literal: Vec<u8>,
        cased: bool,
    },
    /// `|re` (flags already inline).
    Regex(String),
    /// `|cidr`.
    Cidr(Net),
    /// `|gt` and friends.
    Num(Cmp, f64),
    /// `null`: the field is null or missing.
    Null,
    /// `|exists`.
    Exists(bool),
    /// `|fieldref`: the value equals (or contains, ...) another field's value.
    FieldRef {
        other: String,
        anchor: Anchor,
        cased: bool,
    },
}

/// The modifiers of one field item.
#[derive(Clone, Debug, Default)]
pub(crate) struct Modifiers {
    pub anchor: Option<Anchor>,
    pub all: bool,
    pub cased: bool,
    pub re: bool,
    pub re_flags: String,
    pub cidr: bool,
    pub base64: bool,
    pub base64offset: bool,
    pub utf16: Option<&'static str>,
    pub windash: bool,
    pub exists: bool,
    pub cmp: Option<Cmp>,
    pub fieldref: bool,
    pub expand: bool,
}

impl Modifiers {
    /// Parses the `|`-separated modifiers after the field name.
    pub(crate) fn parse<'a>(names: impl Iterator<Item = &'a str>) -> Result<Self, String> {
        let mut m = Modifiers::default();
        for name in names {
            let set_anchor = |m: &mut Modifiers, a: Anchor| -> Result<(), String> {
                if m.anchor.is_some_and(|x| x != a) {
                    return Err("two of contains/startswith/endswith on one field".to_string());
                }
                m.anchor = Some(a);
                Ok(())
            };
            match name {
                "contains" => set_anchor(&mut m, Anchor::Contains)?,
                "startswith" => set_anchor(&mut m, Anchor::Prefix)?,
                "endswith" => set_anchor(&mut m, Anchor::Suffix)?,
                "all" => m.all = true,
                "cased" => m.cased = true,
                "re" => m.re = true,
                "i" | "ignorecase" => m.re_flags.push('i'),
                "m" | "multiline" => m.re_flags.push('m'),
                "s" | "dotall" => m.re_flags.push('s'),
                "cidr" => m.cidr = true,
                "base64" => m.base64 = true,
                "base64offset" => m.base64offset = true,
                "wide" | "utf16le" => m.utf16 = Some("utf16le"),
                "utf16be" => m.utf16 = Some("utf16be"),
                "utf16" => m.utf16 = Some("utf16"),
                "windash" => m.windash = true,
                "exists" => m.exists = true,
                "gt" => m.cmp = Some(Cmp::Gt),
                "gte" => m.cmp = Some(Cmp::Gte),
                "lt" => m.cmp = Some(Cmp::Lt),
                "lte" => m.cmp = Some(Cmp::Lte),
                "fieldref" => m.fieldref = true,
                "expand" => m.expand = true,
                other => return Err(format!("unknown modifier `{other}`")),
            }
        }
        if !m.re_flags.is_empty() && !m.re {
            return Err("regex flags (i, m, s) without `re`".into());
        }
        if m.re && (m.anchor.is_some() || m.base64 || m.base64offset || m.utf16.is_some()) {
            return Err("`re` combined with a string modifier".into());
        }
        Ok(m)
    }
}

/// A piece of a Sigma string.
#[derive(Clone, Debug, PartialEq)]
enum Piece {
    Lit(String),
    Star,
    One,
}

/// Splits a Sigma string into literals and wildcards (pySigma's escapes: `\*`, `\?`, `\\`;
/// a backslash before anything else is itself).
fn pieces(s: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut lit = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.peek() {
                Some(&n @ ('*' | '?' | '\\')) => {
                    lit.push(n);
                    chars.next();
                }
                _ => lit.push('\\'),
            },
            '*' | '?' => {
                if !lit.is_empty() {
                    out.push(Piece::Lit(std::mem::take(&mut lit)));
                }
                let p = if c == '*' { Piece::Star } else { Piece::One };
                if !(p == Piece::Star && out.last() == Some(&Piece::Star)) {
                    out.push(p);
                }
            }
            c => lit.push(c),
        }
    }
    if !lit.is_empty() {
        out.push(Piece::Lit(lit));
    }
    out
}

/// Lower-cases a literal for case-insensitive matching (Unicode lower case for UTF-8,
/// ASCII for other bytes).
pub(crate) fn fold(bytes: &[u8]) -> Vec<u8> {
    match std::str::from_utf8(bytes) {
        Ok(s) if s.is_ascii() => s.to_ascii_lowercase().into_bytes(),
        Ok(s) => s.to_lowercase().into_bytes(),
        Err(_) => bytes.to_ascii_lowercase(),
    }
}

const DASHES: [&str; 5] = ["-", "/", "\u{2013}", "\u{2014}", "\u{2015}"];

/// pySigma's `windash`: every dash or slash that starts a word (`\B[-/]\b`) becomes each of
/// `-` `/` en dash, em dash and horizontal bar (one variant per value).
fn windash(s: &str) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    let word = |c: char| c.is_alphanumeric() || c == '_';
    let spots: Vec<usize> = (0..chars.len())
        .filter(|&i| {
            (chars[i] == '-' || chars[i] == '/')
                && (i == 0 || !word(chars[i - 1]))
                && chars.get(i + 1).is_some_and(|&c| word(c))
        })
        .collect();
    if spots.is_empty() {
        return vec![s.to_string()];
    }
    DASHES
        .iter()
        .map(|d| {
            let mut out = String::with_capacity(s.len() + 8);
            for (i, &c) in chars.iter().enumerate() {
                if spots.contains(&i) {
                    out.push_str(d);
                } else {
                    out.push(c);
                }
            }
            out
        })
        .collect()
}

/// `|expand`: each `%name%` replaced by each of the user's values for it.
fn expand(s: &str, placeholders: &Placeholders) -> Result<Vec<String>, Reason> {
    let mut results = vec![String::new()];
    let mut rest = s;
    while let Some(start) = rest.find('%') {
        let Some(len) = rest[start + 1..].find('%') else {
            break;
        };
        let name = &rest[start + 1..start + 1 + len];
        let values = placeholders.get(name).ok_or_else(|| {
            Reason::new(
                "placeholder",
                format!("placeholder `%{name}%` has no value (give it in the placeholders map)"),
            )
        })?;
        let head = &rest[..start];
        results = results
            .iter()
            .flat_map(|r| values.iter().map(move |v| format!("{r}{head}{v}")))
            .collect();
        if results.len() > super::rule::MAX_VALUES {
            return Err(Reason::new("limit", "placeholder expansion is too large"));
        }
        rest = &rest[start + 2 + len..];
    }
    Ok(results.into_iter().map(|r| r + rest).collect())
}

fn utf16(s: &str, kind: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() * 2 + 2);
    if kind == "utf16" {
        out.extend_from_slice(&[0xFF, 0xFE]);
    }
    for u in s.encode_utf16() {
        if kind == "utf16be" {
            out.extend_from_slice(&u.to_be_bytes());
        } else {
            out.extend_from_slice(&u.to_le_bytes());
        }
    }
    out
}

/// pySigma's `base64offset`: the three encodings of `bytes` at offsets 0, 1, 2 in a stream,
/// with the characters that depend on neighbouring bytes cut off.
pub(crate) fn base64_offsets(bytes: &[u8]) -> Vec<Vec<u8>> {
    let start = [0usize, 2, 3];
    let end_cut = [0usize, 3, 2];
    (0..3)
        .map(|i| {
            let mut padded = vec![b' '; i];
            padded.extend_from_slice(bytes);
            let enc = base64::engine::general_purpose::STANDARD
                .encode(&padded)
                .into_bytes();
            let cut = end_cut[(bytes.len() + i) % 3];
            let end = enc.len().saturating_sub(cut).max(start[i]);
            enc[start[i].min(end)..end].to_vec()
        })
        .collect()
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The matchers of one value under `mods`.
pub(crate) fn matchers(
    field: Option<&str>,
    mods: &Modifiers,
    v: &Value,
    placeholders: &Placeholders,
) -> Result<Vec<Matcher>, Reason> {
    let bad = |d: String| Reason::new("value", d);
    let name = field.unwrap_or("keywords");
    if mods.exists {
        return match v {
            Value::Bool(b) => Ok(vec![Matcher::Exists(*b)]),
            _ => Err(bad(format!("`{name}|exists` needs true or false"))),
        };
    }
    if v.is_null() {
        return Ok(vec![Matcher::Null]);
    }
    let text = scalar_text(v).ok_or_else(|| {
        bad(format!(
            "a value of `{name}` is a list or map, not a scalar"
        ))
    })?;
    if let Some(op) = mods.cmp {
        let x: f64 = text
            .trim()
            .parse()
            .map_err(|_| bad(format!("`{name}` compares with `{text}`, not a number")))?;
        return Ok(vec![Matcher::Num(op, x)]);
    }
    if mods.cidr {
        let net = Net::parse(&text)
            .ok_or_else(|| bad(format!("`{text}` is not an IPv4 or IPv6 network")))?;
        return Ok(vec![Matcher::Cidr(net)]);
    }
    if mods.re {
        let flags: String = mods.re_flags.chars().map(|f| format!("(?{f})")).collect();
        let pattern = format!("{flags}{text}");
        regex::RegexBuilder::new(&pattern)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map_err(|e| Reason::new("regex", format!("`{name}|re`: {e}")))?;
        return Ok(vec![Matcher::Regex(pattern)]);
    }
    // Keywords are searched as substrings of any string column.
    let anchor = mods.anchor.unwrap_or(if field.is_none() {
        Anchor::Contains
    } else {
        Anchor::Exact
    });
    if mods.fieldref {
        return Ok(vec![Matcher::FieldRef {
            other: text,
            anchor,
            cased: mods.cased,
        }]);
    }
    let mut texts = if mods.expand {
        expand(&text, placeholders)?
    } else {
        vec![text]
    };
    if mods.windash {
        texts = texts.iter().flat_map(|t| windash(t)).collect();
    }
    let encoded = mods.base64 || mods.base64offset || mods.utf16.is_some();
    let mut out = Vec::new();
    for t in texts {
        let ps = pieces(&t);
        if encoded {
            if ps.iter().any(|p| !matches!(p, Piece::Lit(_))) {
                return Err(Reason::new(
                    "modifier",
                    format!("`{name}`: wildcards cannot be encoded (base64/utf16)"),
                ));
            }
            let plain: String = ps
                .iter()
                .map(|p| match p {
                    Piece::Lit(s) => s.as_str(),
                    _ => "",
                })
                .collect();
            let mut bytes = match mods.utf16 {
                Some(kind) => utf16(&plain, kind),
                None => plain.into_bytes(),
            };
            let variants = if mods.base64offset {
                base64_offsets(&bytes)
            } else {
                if mods.base64 {
                    bytes = base64::engine::general_purpose::STANDARD
                        .encode(&bytes)
                        .into_bytes();
                }
                vec![bytes]
            };
            for b in variants {
                let text = if mods.cased { b } else { fold(&b) };
                out.push(Matcher::Str {
                    text,
                    anchor,
                    cased: mods.cased,
                });
            }
            continue;
        }
        out.push(from_pieces(ps, anchor, mods.cased));
    }
    Ok(out)
}

/// A literal or glob from pieces, with the anchor's implied wildcards added.
fn from_pieces(mut ps: Vec<Piece>, anchor: Anchor, cased: bool) -> Matcher {
    if ps.is_empty() {
        // The empty string: equal to "" (exact), or any value (other anchors).
        return Matcher::Str {
            text: Vec::new(),
            anchor,
            cased,
        };
    }
    if matches!(anchor, Anchor::Contains | Anchor::Suffix) && ps.first() != Some(&Piece::Star) {
        ps.insert(0, Piece::Star);
    }
    if matches!(anchor, Anchor::Contains | Anchor::Prefix) && ps.last() != Some(&Piece::Star) {
        ps.push(Piece::Star);
    }
    let lead = ps.first() == Some(&Piece::Star);
    let trail = ps.len() > 1 && ps.last() == Some(&Piece::Star);
    let inner = &ps[usize::from(lead)..ps.len() - usize::from(trail)];
    match inner {
        [] => {
            // Only stars: any value (`*` matches the empty string too).
            Matcher::Str {
                text: Vec::new(),
                anchor: Anchor::Contains,
                cased,
            }
        }
        [Piece::Lit(s)] => {
            let anchor = match (lead, trail) {
                (false, false) => Anchor::Exact,
                (false, true) => Anchor::Prefix,
                (true, false) => Anchor::Suffix,
                (true, true) => Anchor::Contains,
            };
            let text = if cased {
                s.as_bytes().to_vec()
            } else {
                fold(s.as_bytes())
            };
            Matcher::Str {
                text,
                anchor,
                cased,
            }
        }
        _ => {
            let mut regex = String::from(if cased { "(?s)^" } else { "(?si)^" });
            let mut literal: &str = "";
            for p in &ps {
                match p {
                    Piece::Lit(s) => {
                        regex.push_str(&regex::escape(s));
                        if s.len() > literal.len() {
                            literal = s;
                        }
                    }
                    Piece::Star => regex.push_str(".*"),
                    Piece::One => regex.push('.'),
                }
            }
            regex.push('$');
            let literal = if cased {
                literal.as_bytes().to_vec()
            } else {
                fold(literal.as_bytes())
            };
            Matcher::Glob {
                regex,
                literal,
                cased,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_wildcards() {
        assert_eq!(
            pieces(r"C:\Windows\\*.exe"),
            vec![
                Piece::Lit(r"C:\Windows\".into()),
                Piece::Star,
                Piece::Lit(".exe".into())
            ]
        );
        assert_eq!(pieces(r"a\*b\?c\\d"), vec![Piece::Lit(r"a*b?c\d".into())]);
        assert_eq!(
            pieces(r"C:\Windows\*"),
            vec![Piece::Lit(r"C:\Windows*".into())]
        );
        assert_eq!(
            from_pieces(pieces("*\\cmd.exe"), Anchor::Exact, false),
            Matcher::Str {
                text: b"\\cmd.exe".to_vec(),
                anchor: Anchor::Suffix,
                cased: false
            }
        );
    }

    #[test]
    fn windash_variants() {
        let v = windash("net user /add -x a-b");
        assert_eq!(v.len(), 5);
        assert_eq!(v[0], "net user -add -x a-b");
        assert_eq!(v[1], "net user /add /x a-b");
        assert_eq!(v[2], "net user \u{2013}add \u{2013}x a-b");
    }

    #[test]
    fn base64offset_matches_python() {
        // Python, pySigma's formula: b64encode(i*b" " + v)[(0,2,3)[i] : (None,-3,-2)[(len(v)+i)%3]]
        let enc = |v: &[u8]| -> Vec<String> {
            base64_offsets(v)
                .into_iter()
                .map(|b| String::from_utf8(b).unwrap_or_default())
                .collect()
        };
        assert_eq!(enc(b"http"), vec!["aHR0c", "h0dH", "odHRw"]);
        assert_eq!(enc(b"cmd"), vec!["Y21k", "NtZ", "jbW"]);
        assert_eq!(enc(b"ab"), vec!["YW", "Fi", "hY"]);
    }

    #[test]
    fn cidr_masks() {
        let n = Net::parse("10.1.0.0/16").unwrap_or(Net {
            v6: false,
            addr: 0,
            prefix: 0,
        });
        assert_eq!(n.addr, 0x0A01_0000);
        assert_eq!(Net::mask(false, 16), 0xFFFF_0000);
        assert!(Net::parse("10.0.0.0/33").is_none());
        assert!(Net::parse("fe80::/10").is_some_and(|n| n.v6 && n.prefix == 10));
    }
}
