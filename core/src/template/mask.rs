//! Tokenising and masking of variable parts of a log message.
//!
//! A message is split at whitespace into tokens. Each token is cut into segments at
//! punctuation (`= : , ; ( ) [ ] { } " ' | # < >`), and every segment a mask rule
//! recognises as a variable is replaced by `<*>`. The rules are general (no per-dataset
//! tuning): numbers, IPv4/IPv6 addresses, hex values, UUIDs, paths and URLs, host names
//! with a common top-level domain, block ids and other digit-heavy identifiers.

use serde::{Deserialize, Serialize};

use super::MAX_TOKENS;
use super::names::is_local_date_name;
use super::segment::{Segmenter, tokens};
use super::wide::mask_unicode_token;

/// The wildcard that replaces a variable in a template.
pub const WILDCARD: &str = "<*>";

/// A built-in mask rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaskRule {
    /// Decimal numbers, signed or not, with an optional fraction and unit suffix (`12`, `-3.5`, `10ms`).
    Number,
    /// IPv4 addresses (with optional port) and IPv6 addresses.
    Ip,
    /// Hex values: `0x1f`, and runs of at least 8 hex digits with at least one digit.
    Hex,
    /// UUIDs (8-4-4-4-12 hex).
    Uuid,
    /// Absolute or relative file paths and URLs (`/a/b`, `C:\x`, `http://...`).
    Path,
    /// Host names ending in a common top-level domain (`ns.example.com`).
    Host,
    /// Identifiers in which digits make up at least 30% of the characters (`blk_-123`,
    /// `core.2275`, `R02-M1`), which covers block ids, job ids and node names.
    DigitHeavy,
    /// Month and weekday names (`Jun`, `Friday`), the words of a date.
    DateName,
}

impl MaskRule {
    /// Every built-in rule: the default mask set.
    pub const ALL: [MaskRule; 8] = [
        MaskRule::Number,
        MaskRule::Ip,
        MaskRule::Hex,
        MaskRule::Uuid,
        MaskRule::Path,
        MaskRule::Host,
        MaskRule::DigitHeavy,
        MaskRule::DateName,
    ];
}

/// Which rules apply. Default: all built-in rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Masks {
    /// Enabled rules.
    pub rules: Vec<MaskRule>,
}

impl Default for Masks {
    fn default() -> Self {
        Masks {
            rules: MaskRule::ALL.to_vec(),
        }
    }
}

/// Rules as bit flags for the hot path, and the segmenter.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RuleBits(u32, Segmenter);

impl RuleBits {
    pub(crate) fn of(masks: &Masks, seg: Segmenter) -> Self {
        RuleBits(masks.rules.iter().fold(0, |b, r| b | 1 << (*r as u32)), seg)
    }
    #[inline]
    pub(super) fn has(self, r: MaskRule) -> bool {
        self.0 & (1 << (r as u32)) != 0
    }
    #[inline]
    pub(crate) fn segmenter(self) -> Segmenter {
        self.1
    }
}

#[inline]
pub(super) fn is_delim(b: u8) -> bool {
    matches!(
        b,
        b'=' | b':'
            | b','
            | b';'
            | b'('
            | b')'
            | b'['
            | b']'
            | b'{'
            | b'}'
            | b'"'
            | b'\''
            | b'|'
            | b'#'
            | b'<'
            | b'>'
    )
}

const TLDS: &[&str] = &[
    "com",
    "net",
    "org",
    "edu",
    "gov",
    "mil",
    "int",
    "info",
    "biz",
    "io",
    "co",
    "uk",
    "de",
    "cn",
    "hk",
    "jp",
    "ru",
    "fr",
    "br",
    "in",
    "au",
    "nl",
    "it",
    "es",
    "ca",
    "us",
    "eu",
    "local",
    "lan",
    "arpa",
    "tw",
    "kr",
    "me",
    "tv",
    "cc",
    "ch",
    "se",
    "pl",
    "onion",
    "localdomain",
];

fn is_number(s: &[u8]) -> bool {
    let s = s
        .strip_prefix(b"-")
        .or_else(|| s.strip_prefix(b"+"))
        .unwrap_or(s);
    let digits = s.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return false;
    }
    let mut rest = &s[digits..];
    if let Some(r) = rest.strip_prefix(b".") {
        let d = r.iter().take_while(|b| b.is_ascii_digit()).count();
        rest = &r[d..];
    }
    // A short unit suffix (ms, KB, s, %).
    rest.len() <= 3 && rest.iter().all(|b| b.is_ascii_alphabetic() || *b == b'%')
}

fn is_ipv4(s: &[u8]) -> bool {
    let mut parts = 0;
    for p in s.split(|&b| b == b'.') {
        if p.is_empty() || p.len() > 3 || !p.iter().all(u8::is_ascii_digit) {
            return false;
        }
        parts += 1;
    }
    parts == 4
}

fn is_hex(s: &[u8]) -> bool {
    if let Some(h) = s.strip_prefix(b"0x").or_else(|| s.strip_prefix(b"0X")) {
        return !h.is_empty() && h.iter().all(u8::is_ascii_hexdigit);
    }
    s.len() >= 8 && s.iter().all(u8::is_ascii_hexdigit) && s.iter().any(u8::is_ascii_digit)
}

fn is_uuid(s: &[u8]) -> bool {
    s.len() == 36
        && s.iter().enumerate().all(|(i, b)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                *b == b'-'
            } else {
                b.is_ascii_hexdigit()
            }
        })
}

fn is_host(s: &[u8]) -> bool {
    let s = s.strip_suffix(b".").unwrap_or(s);
    let Some(dot) = s.iter().rposition(|&b| b == b'.') else {
        return false;
    };
    let tld = &s[dot + 1..];
    s.iter()
        .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'.' || *b == b'_')
        && s.first().is_some_and(u8::is_ascii_alphanumeric)
        && TLDS
            .iter()
            .any(|t| t.as_bytes().eq_ignore_ascii_case(tld) && tld.len() == t.len())
        && !s.windows(2).any(|w| w == b"..")
}

const DATE_NAMES: &[&str] = &[
    "jan",
    "feb",
    "mar",
    "apr",
    "may",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
    "january",
    "february",
    "march",
    "april",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "mon",
    "tue",
    "wed",
    "thu",
    "fri",
    "sat",
    "sun",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

fn is_date_name(s: &[u8]) -> bool {
    ((3..=9).contains(&s.len())
        && s[0].is_ascii_uppercase()
        && s[1..].iter().all(u8::is_ascii_lowercase)
        && DATE_NAMES
            .iter()
            .any(|d| d.as_bytes().eq_ignore_ascii_case(s)))
        || std::str::from_utf8(s).is_ok_and(is_local_date_name)
}

/// Whether a segment (no delimiters inside) is a variable under `rules`.
pub(crate) fn segment_is_variable(s: &[u8], rules: RuleBits) -> bool {
    if s.is_empty() {
        return false;
    }
    let mut digits = 0usize;
    let mut dots = 0usize;
    for &b in s {
        digits += usize::from(b.is_ascii_digit());
        dots += usize::from(b == b'.');
    }
    if digits == 0 {
        // Without digits only a host name, a hex run of letters (never: it needs a digit),
        // or a date word can be a variable.
        return (dots > 0 && rules.has(MaskRule::Host) && is_host(s))
            || (rules.has(MaskRule::DateName) && is_date_name(s));
    }
    (rules.has(MaskRule::Number) && is_number(s))
        || (rules.has(MaskRule::Ip) && dots == 3 && is_ipv4(s))
        || (rules.has(MaskRule::Uuid) && is_uuid(s))
        || (rules.has(MaskRule::Hex) && is_hex(s))
        || (rules.has(MaskRule::Host) && dots > 0 && is_host(s))
        || (rules.has(MaskRule::DigitHeavy)
            && (digits * 10 >= s.len() * 3 || s[0].is_ascii_digit()))
}

fn is_path_token(t: &[u8]) -> bool {
    let t = t
        .strip_suffix(b",")
        .or_else(|| t.strip_suffix(b"."))
        .unwrap_or(t);
    if t.windows(3).any(|w| w == b"://") {
        return true;
    }
    let slashes = t.iter().filter(|&&b| b == b'/').count();
    (t.first() == Some(&b'/') && t.len() > 1)
        || slashes >= 2
        || (t.len() > 2 && t[1] == b':' && t[2] == b'\\' && t[0].is_ascii_alphabetic())
}

fn is_ipv6(t: &[u8]) -> bool {
    let colons = t.iter().filter(|&&b| b == b':').count();
    colons >= 2
        && t.iter()
            .all(|b| b.is_ascii_hexdigit() || *b == b':' || *b == b'.')
        && t.iter().any(u8::is_ascii_hexdigit)
        && !t.windows(3).any(|w| w == b":::")
}

/// Masks one whitespace-free token into `out`: the whole token when it is a path, URL or
/// IPv6 address, else each variable segment. Returns whether anything was masked.
pub(crate) fn mask_token(t: &str, rules: RuleBits, out: &mut String) -> bool {
    if !t.is_ascii() {
        return mask_unicode_token(t, rules, out);
    }
    let b = t.as_bytes();
    if (rules.has(MaskRule::Path) && is_path_token(b)) || (rules.has(MaskRule::Ip) && is_ipv6(b)) {
        out.push_str(WILDCARD);
        return true;
    }
    let mut masked = false;
    let mut start = 0;
    let mut last_wild = false;
    for i in 0..=b.len() {
        if i == b.len() || is_delim(b[i]) {
            let seg = &b[start..i];
            if segment_is_variable(seg, rules) {
                if !last_wild {
                    out.push_str(WILDCARD);
                }
                masked = true;
                last_wild = true;
            } else if !seg.is_empty() {
                out.push_str(&t[start..i]);
                last_wild = false;
            }
            if i < b.len() {
                out.push(b[i] as char);
                last_wild = false;
            }
            start = i + 1;
        }
    }
    masked
}

/// Splits a token pattern with `<*>` wildcards and matches `token` against it, pushing the
/// text each wildcard stands for to `params` (lazy match, the last wildcard takes the rest;
/// a wildcard may stand for nothing).
/// Returns false, pushing the whole token, when the pattern does not match.
pub(crate) fn glob_params<'a>(pattern: &str, token: &'a str, params: &mut Vec<&'a str>) -> bool {
    let pieces: Vec<&str> = pattern.split(WILDCARD).collect();
    if pieces.len() == 1 {
        return pattern == token;
    }
    let mut rest = token;
    let first = pieces[0];
    let Some(r) = rest.strip_prefix(first) else {
        params.push(token);
        return false;
    };
    rest = r;
    let mut found = Vec::with_capacity(pieces.len() - 1);
    for (k, piece) in pieces.iter().enumerate().skip(1) {
        let last = k == pieces.len() - 1;
        if last {
            if piece.is_empty() {
                found.push(rest);
                rest = "";
            } else if let Some(pre) = rest.strip_suffix(piece) {
                found.push(pre);
                rest = "";
            } else {
                params.push(token);
                return false;
            }
        } else if piece.is_empty() {
            found.push("");
        } else if let Some(at) = rest.find(piece) {
            found.push(&rest[..at]);
            rest = &rest[at + piece.len()..];
        } else {
            params.push(token);
            return false;
        }
    }
    params.extend(found);
    rest.is_empty()
}

/// The masked form of a message: masked tokens joined by one space (at most `MAX_TOKENS`
/// tokens, then one wildcard for the rest).
pub(crate) fn masked_form(s: &str, rules: RuleBits, out: &mut String) {
    masked_groups(s, rules, out, None);
}

/// Units that may follow a number and belong to it (`<1 sec`, `(1.01 KB)`).
const UNITS: &[&str] = &[
    "ns", "us", "ms", "s", "sec", "secs", "second", "seconds", "min", "mins", "minute", "minutes",
    "h", "hr", "hrs", "hour", "hours", "day", "days", "b", "kb", "mb", "gb", "tb", "kib", "mib",
    "gib", "tib", "%",
];

fn is_unit(t: &str) -> bool {
    let t = t.trim_end_matches([')', ']', '}', ',', ';', '.', ':']);
    !t.is_empty() && t.len() <= 7 && UNITS.iter().any(|u| u.eq_ignore_ascii_case(t))
}

/// Whether a masked token is a bare variable: `<*>`, or wildcards with punctuation only
/// (`<*>:<*>`, `(<*>)`, `[<*>]`, `<<*>`), or empty brackets (an empty variable).
fn is_bare(masked: &str) -> bool {
    if masked == WILDCARD || matches!(masked, "()" | "[]" | "{}") {
        return true;
    }
    masked.contains(WILDCARD)
        && !masked
            .split(WILDCARD)
            .any(|p| p.bytes().any(|b| b.is_ascii_alphanumeric() || b >= 0x80))
}

/// [`masked_form`], and optionally the byte range of `s` each form token covers. A token
/// that masks to variables and punctuation only (`<*>:<*>`, `(<*>`, `[<*>]`) or to empty
/// brackets becomes `<*>`, and a unit word right after it (`<1 sec`, `(1.01 KB)`) joins it. A
/// run of tokens that each mask to a plain `<*>` becomes one `<*>` (variable-length lists
/// such as several block ids, or a date), so the form does not depend on how many tokens such
/// a variable spans.
pub(crate) fn masked_groups(
    s: &str,
    rules: RuleBits,
    out: &mut String,
    mut groups: Option<&mut Vec<(usize, usize)>>,
) {
    out.clear();
    let base = s.as_ptr() as usize;
    let mut count = 0usize;
    let mut last_plain = false;
    let mut last_bare = false;
    for t in tokens(s, rules.segmenter()) {
        let start = t.as_ptr() as usize - base;
        let end = start + t.len();
        if count == MAX_TOKENS {
            out.push(' ');
            out.push_str(WILDCARD);
            if let Some(g) = groups.as_deref_mut() {
                g.push((start, s.len()));
            }
            break;
        }
        let at = out.len();
        let sep = usize::from(count > 0);
        if count > 0 {
            out.push(' ');
        }
        mask_token(t, rules, out);
        let plain = &out[at + sep..] == WILDCARD;
        let bare = plain || is_bare(&out[at + sep..]);
        let absorb = (plain && last_plain) || (last_bare && !bare && is_unit(t));
        if absorb {
            out.truncate(at);
            if let Some(g) = groups.as_deref_mut()
                && let Some(last) = g.last_mut()
            {
                last.1 = end;
            }
            continue;
        }
        if bare && !plain {
            out.truncate(at + sep);
            out.push_str(WILDCARD);
        }
        last_plain = plain;
        last_bare = bare;
        count += 1;
        if let Some(g) = groups.as_deref_mut() {
            g.push((start, end));
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn m(t: &str) -> String {
        let mut s = String::new();
        mask_token(t, RuleBits::of(&Masks::default(), Segmenter::Words), &mut s);
        s
    }

    #[test]
    fn masks() {
        assert_eq!(m("10.251.73.220:50010"), "<*>:<*>");
        assert_eq!(m("blk_-6952295868487656571"), "<*>");
        assert_eq!(m("rhost=218.188.2.4"), "rhost=<*>");
        assert_eq!(m("SOCKS5"), "SOCKS5");
        assert_eq!(m("jk2_init()"), "jk2_init()");
        assert_eq!(m("/etc/httpd/conf/workers2.properties"), "<*>");
        assert_eq!(m("ns.marryaldkfaczcz.com"), "<*>");
        assert_eq!(
            m("android.intent.action.SCREEN_ON"),
            "android.intent.action.SCREEN_ON"
        );
        assert_eq!(m("0x1f"), "<*>");
        assert_eq!(m("fe80::1"), "<*>");
        assert_eq!(m("123e4567-e89b-12d3-a456-426614174000"), "<*>");
        assert_eq!(m("(uid=0)"), "(uid=<*>)");
        assert_eq!(m("[preauth]"), "[preauth]");
        // Non-ASCII digits, full-width punctuation, local month and day names.
        assert_eq!(m("２２３２MB"), "<*>");
        assert_eq!(m("٣٤٥"), "<*>");
        assert_eq!(m("ID：１２"), "ID：<*>");
        assert_eq!(m("（１２）"), "（<*>）");
        assert_eq!(m("müller"), "müller");
        assert_eq!(m("Montag"), "<*>");
        assert_eq!(m("décembre"), "<*>");
        assert_eq!(m("января"), "<*>");
        assert_eq!(m("Пользователь"), "Пользователь");
    }

    #[test]
    fn globs() {
        let mut p = Vec::new();
        assert!(glob_params("<*>:<*>", "10.0.0.1:80", &mut p));
        assert_eq!(p, ["10.0.0.1", "80"]);
        p.clear();
        assert!(glob_params("(uid=<*>)", "(uid=0)", &mut p));
        assert_eq!(p, ["0"]);
    }
}
