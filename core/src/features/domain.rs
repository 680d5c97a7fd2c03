//! Domain names split by the Public Suffix List: registrable domain, public suffix,
//! subdomain and label count.
//!
//! The list is Mozilla's Public Suffix List as compiled into the `psl` crate (no file, no
//! network), with its ICANN and private sections (so `x.ddns.net` and `x.blogspot.com` are
//! registrable domains of their own, as browsers treat them), wildcard (`*.ck`) and exception
//! (`!www.ck`) rules, and the list's default rule: a top-level label the list does not know is
//! a public suffix of its own.
//!
//! A name is normalised before the lookup: IDNA dot equivalents (`。` `．` `｡`) become `.`, one
//! trailing root dot is dropped, and letters are lowercased (Unicode lowercase). Names in
//! Unicode and in punycode (`xn--`) both resolve, and come back in the form given.
//! A name is invalid, and every output is null, when it is empty, has an empty label
//! (`a..b`, `.a`), a label over 63 bytes or is over 253 bytes, holds an ASCII character other
//! than letters, digits, `-` and `_` (spaces, `/`, `:`, `@`, ...) or any control or white-space
//! character, or is an IPv4 address (four all-digit labels).

use std::sync::Arc;

use arrow::array::{ArrayRef, StringBuilder, UInt32Builder};
use arrow::buffer::NullBuffer;

use crate::columns::Strings;

/// The parts of one domain name (see the module documentation for the rules).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainParts {
    /// The normalised name (lowercase, no trailing dot).
    pub name: String,
    /// The public suffix (`co.uk` of `a.b.co.uk`).
    pub suffix: String,
    /// The registrable domain: the suffix and one label left of it (`b.co.uk`); `None` when
    /// the name is itself a public suffix.
    pub registrable: Option<String>,
    /// The labels left of the registrable domain (`a`); `""` when there are none, `None` when
    /// there is no registrable domain.
    pub subdomain: Option<String>,
    /// Number of labels of the name (`a.b.co.uk`: 4).
    pub labels: u32,
}

impl DomainParts {
    /// The label left of the public suffix (`b` of `a.b.co.uk`), `None` without a
    /// registrable domain.
    pub fn registrable_label(&self) -> Option<&str> {
        let reg = self.registrable.as_deref()?;
        let end = reg.len().checked_sub(self.suffix.len() + 1)?;
        reg.get(..end)
    }
}

/// Splits `name` by the Public Suffix List; `None` for an invalid name.
pub fn parse_domain(name: &str) -> Option<DomainParts> {
    let mut norm: String = name
        .chars()
        .map(|c| match c {
            '\u{3002}' | '\u{ff0e}' | '\u{ff61}' => '.',
            c => c,
        })
        .flat_map(char::to_lowercase)
        .collect();
    if norm.ends_with('.') {
        norm.pop();
    }
    if norm.is_empty() || norm.len() > 253 {
        return None;
    }
    let mut labels = 0u32;
    let mut all_digits = true;
    for label in norm.split('.') {
        if label.is_empty() || label.len() > 63 {
            return None;
        }
        labels += 1;
        all_digits &= label.bytes().all(|b| b.is_ascii_digit());
        let bad = |c: char| {
            if c.is_ascii() {
                !(c.is_ascii_alphanumeric() || c == '-' || c == '_')
            } else {
                c.is_control() || c.is_whitespace()
            }
        };
        if label.chars().any(bad) {
            return None;
        }
    }
    if labels == 4 && all_digits {
        return None;
    }
    let suffix_len = psl::suffix(norm.as_bytes())?.as_bytes().len();
    let suffix = norm.get(norm.len().checked_sub(suffix_len)?..)?.to_string();
    let (registrable, subdomain) = match psl::domain(norm.as_bytes()) {
        Some(d) => {
            let reg_len = d.as_bytes().len();
            let start = norm.len().checked_sub(reg_len)?;
            let sub = norm.get(..start.saturating_sub(1))?.to_string();
            (Some(norm.get(start..)?.to_string()), Some(sub))
        }
        None => (None, None),
    };
    Some(DomainParts {
        name: norm,
        suffix,
        registrable,
        subdomain,
        labels,
    })
}

/// The four output columns (registrable, suffix, subdomain, labels) of a string column.
pub(crate) fn compute(strings: &Strings, nulls: Option<NullBuffer>) -> Vec<ArrayRef> {
    let rows = strings.len();
    let mut reg = StringBuilder::new();
    let mut suf = StringBuilder::new();
    let mut sub = StringBuilder::new();
    let mut lab = UInt32Builder::with_capacity(rows);
    for i in 0..rows {
        let parts = if nulls.as_ref().is_some_and(|n| n.is_null(i)) {
            None
        } else {
            std::str::from_utf8(strings.row(i))
                .ok()
                .and_then(parse_domain)
        };
        match parts {
            Some(p) => {
                reg.append_option(p.registrable.as_deref());
                suf.append_value(&p.suffix);
                sub.append_option(p.subdomain.as_deref());
                lab.append_value(p.labels);
            }
            None => {
                reg.append_null();
                suf.append_null();
                sub.append_null();
                lab.append_null();
            }
        }
    }
    vec![
        Arc::new(reg.finish()),
        Arc::new(suf.finish()),
        Arc::new(sub.finish()),
        Arc::new(lab.finish()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(name: &str) -> Option<(Option<String>, String, Option<String>, u32)> {
        parse_domain(name).map(|p| (p.registrable, p.suffix, p.subdomain, p.labels))
    }

    fn some(
        reg: &str,
        suf: &str,
        sub: &str,
        labels: u32,
    ) -> Option<(Option<String>, String, Option<String>, u32)> {
        Some((Some(reg.into()), suf.into(), Some(sub.into()), labels))
    }

    #[test]
    fn public_suffix_rules() {
        assert_eq!(
            parts("mail.google.com"),
            some("google.com", "com", "mail", 3)
        );
        assert_eq!(parts("a.b.bbc.co.uk"), some("bbc.co.uk", "co.uk", "a.b", 5));
        // wildcard `*.ck` and its exception `!www.ck`
        assert_eq!(parts("a.b.ck"), some("a.b.ck", "b.ck", "", 3));
        assert_eq!(parts("www.ck"), some("www.ck", "ck", "", 2));
        // private section, unknown TLD (default rule), upper case and trailing dot
        assert_eq!(
            parts("abc.ddns.net"),
            some("abc.ddns.net", "ddns.net", "", 3)
        );
        assert_eq!(
            parts("exagelaz.bazar"),
            some("exagelaz.bazar", "bazar", "", 2)
        );
        assert_eq!(
            parts("WWW.Example.COM."),
            some("example.com", "com", "www", 3)
        );
        // a public suffix alone has no registrable domain
        assert_eq!(parts("co.uk"), Some((None, "co.uk".into(), None, 2)));
        // IDN in Unicode and punycode
        assert_eq!(
            parts("www.例子.公司.cn"),
            some("例子.公司.cn", "公司.cn", "www", 4)
        );
        assert_eq!(
            parts("a.xn--fiqs8s"),
            some("a.xn--fiqs8s", "xn--fiqs8s", "", 2)
        );
        assert_eq!(parts("BÜCHER.de"), some("bücher.de", "de", "", 2));
        assert_eq!(
            parts("a\u{3002}example\u{ff0e}org"),
            some("example.org", "org", "a", 3)
        );
        assert_eq!(
            parse_domain("a.b.bbc.co.uk").and_then(|p| p.registrable_label().map(String::from)),
            Some("bbc".into())
        );
    }

    #[test]
    fn invalid_names_are_none() {
        for bad in [
            "",
            ".",
            "a..b",
            ".a.com",
            "a b.com",
            "http://a.com",
            "a.com/x",
            "u@a.com",
            "1.2.3.4",
            "a.com:80",
            "a\tb.com",
        ] {
            assert_eq!(parts(bad), None, "{bad:?}");
        }
        assert_eq!(parts(&format!("{}.com", "a".repeat(64))), None);
        assert!(parts(&format!("{}.com", "a".repeat(63))).is_some());
        let long = vec!["abcdefghi"; 26].join(".");
        assert_eq!(parts(&long), None);
        assert!(parts("_dmarc.example.com").is_some());
    }
}
