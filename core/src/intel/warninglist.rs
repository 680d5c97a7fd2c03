//! MISP warninglists: lists of known-benign values (public resolvers, cloud ranges, top
//! domains) that suppress a match and say which list did. Types `string` (exact value),
//! `substring`, `hostname` (the name or any subdomain) and `cidr`; `regex` lists are
//! rejected with a reason.

use std::collections::{BTreeMap, HashSet};

use aho_corasick::AhoCorasick;

use super::ColumnKind;
use super::normalize::{
    label_suffixes, normalize, normalize_domain, parse_cidr, prefix_mask, url_host,
};

/// Matching rule of a warninglist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WarninglistType {
    /// Exact value (after the value's normalisation when it has a kind).
    String,
    /// The entry occurs in the value (ASCII case-insensitive).
    Substring,
    /// The host name or any of its subdomains.
    Hostname,
    /// The address lies in one of the networks.
    Cidr,
}

impl WarninglistType {
    /// Parses MISP's `type` field.
    pub fn parse(name: &str) -> Result<Self, String> {
        Ok(match name {
            "string" => WarninglistType::String,
            "substring" => WarninglistType::Substring,
            "hostname" => WarninglistType::Hostname,
            "cidr" => WarninglistType::Cidr,
            other => {
                return Err(format!(
                    "warninglist type `{other}` is not supported (string, substring, hostname, cidr)"
                ));
            }
        })
    }

    /// MISP's name of the type.
    pub fn name(self) -> &'static str {
        match self {
            WarninglistType::String => "string",
            WarninglistType::Substring => "substring",
            WarninglistType::Hostname => "hostname",
            WarninglistType::Cidr => "cidr",
        }
    }
}

/// One warninglist, ready to test values against.
#[derive(Clone, Debug)]
pub struct Warninglist {
    /// Its name (what `suppressed_by` says).
    pub name: String,
    /// Its type.
    pub kind: WarninglistType,
    /// The entries as given (kept for saving).
    pub entries: Vec<String>,
    exact: HashSet<String>,
    nets: BTreeMap<u8, HashSet<u128>>,
    automaton: Option<AhoCorasick>,
    /// Entries that could not be read, with the reason.
    pub rejected: Vec<(String, &'static str)>,
}

impl Warninglist {
    /// Builds a list from its entries.
    pub fn new(name: &str, kind: WarninglistType, entries: Vec<String>) -> Self {
        let mut w = Warninglist {
            name: name.to_string(),
            kind,
            entries: Vec::new(),
            exact: HashSet::new(),
            nets: BTreeMap::new(),
            automaton: None,
            rejected: Vec::new(),
        };
        let mut subs = Vec::new();
        for e in entries {
            let ok = match kind {
                WarninglistType::String => {
                    let key = normalize(&e, None)
                        .map(|n| n.text)
                        .unwrap_or_else(|_| e.trim().to_lowercase());
                    w.exact.insert(key);
                    Ok(())
                }
                WarninglistType::Hostname => {
                    let v = e.trim();
                    let v = v.strip_prefix("*.").unwrap_or(v);
                    let v = v.strip_prefix('.').unwrap_or(v);
                    normalize_domain(v).map(|d| {
                        w.exact.insert(d);
                    })
                }
                WarninglistType::Cidr => parse_cidr(&e).map(|(bits, len)| {
                    w.nets.entry(len).or_default().insert(bits);
                }),
                WarninglistType::Substring => {
                    if e.is_empty() {
                        Err("empty substring")
                    } else {
                        subs.push(e.clone());
                        Ok(())
                    }
                }
            };
            match ok {
                Ok(()) => w.entries.push(e),
                Err(r) => w.rejected.push((e, r)),
            }
        }
        if !subs.is_empty() {
            w.automaton = AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .build(&subs)
                .ok();
        }
        w
    }

    fn host_listed(&self, host: &str) -> bool {
        label_suffixes(host).any(|s| self.exact.contains(s))
    }

    /// Whether a value of a column of `column` kind is on the list: `raw` as in the event,
    /// `norm` its normalised text, `ip` its address bits for IP columns.
    pub(crate) fn contains(
        &self,
        column: ColumnKind,
        raw: &str,
        norm: &str,
        ip: Option<u128>,
    ) -> bool {
        match self.kind {
            WarninglistType::String => self.exact.contains(norm),
            WarninglistType::Substring => self
                .automaton
                .as_ref()
                .is_some_and(|a| a.is_match(raw.as_bytes())),
            WarninglistType::Cidr => ip.is_some_and(|bits| {
                self.nets
                    .iter()
                    .any(|(len, set)| set.contains(&(bits & prefix_mask(*len))))
            }),
            WarninglistType::Hostname => match column {
                ColumnKind::Domain => self.host_listed(norm),
                ColumnKind::Url => url_host(norm).is_some_and(|h| self.host_listed(h)),
                ColumnKind::Email => norm
                    .rsplit_once('@')
                    .is_some_and(|(_, d)| self.host_listed(d)),
                _ => false,
            },
        }
    }
}
