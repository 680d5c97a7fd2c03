//! Logsource -> data: processing pipelines as in pySigma. A pipeline says which rows a rule's
//! `logsource` applies to (conditions on columns, e.g. Sysmon EventID 1 or Security 4688 for
//! `category: process_creation`), how field names are renamed for each source, and which
//! columns stand for a Sigma field (`EventID` -> `EventID` or the EVTX reader's `event_id`).
//! vigil ships one for Windows ([`Pipeline::windows`]); a user file overrides or extends it.

use std::collections::HashMap;

use yaml_serde::Value;

use super::rule::{Item, LogSource, Reason};
use super::value::Placeholders;
use crate::error::{Error, Result};

const WINDOWS: &str = include_str!("windows.yml");

/// One `logsources` entry.
#[derive(Clone, Debug)]
struct Entry {
    product: Option<String>,
    category: Option<String>,
    service: Option<String>,
    conditions: Vec<Item>,
    fields: HashMap<String, String>,
}

/// A processing pipeline: field aliases, product conditions and logsource entries.
#[derive(Clone, Debug)]
pub struct Pipeline {
    aliases: HashMap<String, Vec<String>>,
    products: Vec<(String, Vec<Item>)>,
    entries: Vec<Entry>,
    /// The YAML texts it was built from, in order (kept for saving).
    pub(crate) sources: Vec<String>,
}

/// How one rule meets the data under one logsource entry.
#[derive(Clone, Debug, Default)]
pub(crate) struct Variant {
    /// Items that must all hold (the product's and the entry's conditions).
    pub all: Vec<Item>,
    /// Product conditions none of which may hold (rules of products the pipeline does not
    /// know fire only on rows no known product claims).
    pub none_of: Vec<Vec<Item>>,
    /// Field renames for this source.
    pub fields: HashMap<String, String>,
}

fn key_str(k: &Value) -> Option<String> {
    match k {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn bad(reason: impl Into<String>) -> Error {
    Error::param("pipeline", reason)
}

fn items(v: &Value, what: &str) -> Result<Vec<Item>> {
    let mut budget = super::rule::MAX_VALUES;
    super::rule::parse_map(what, v, &Placeholders::new(), &mut budget)
        .map_err(|r: Reason| bad(format!("{what}: {}", r.detail)))
}

fn eq(a: &Option<String>, b: &Option<String>) -> bool {
    match (a, b) {
        (None, _) => true,
        (Some(x), Some(y)) => x.eq_ignore_ascii_case(y),
        (Some(_), None) => false,
    }
}

impl Pipeline {
    /// The shipped Windows pipeline: Sysmon, Security, System, PowerShell and the other
    /// channels SigmaHQ's Windows rules name (see `core/src/sigma/windows.yml`).
    pub fn windows() -> Pipeline {
        // The shipped file is checked by a unit test; an empty pipeline is the safe fallback.
        Pipeline::from_yaml(WINDOWS).unwrap_or_else(|e| {
            log::warn!("the shipped Sigma pipeline does not parse: {e}");
            Pipeline::empty()
        })
    }

    /// A pipeline with no aliases, products or entries: every rule applies to every row.
    pub fn empty() -> Pipeline {
        Pipeline {
            aliases: HashMap::new(),
            products: Vec::new(),
            entries: Vec::new(),
            sources: Vec::new(),
        }
    }

    /// Reads a pipeline file (the format of `core/src/sigma/windows.yml`).
    pub fn load(path: impl AsRef<std::path::Path>) -> Result<Pipeline> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?;
        Pipeline::from_yaml(&text)
    }

    /// Parses a pipeline from YAML text.
    pub fn from_yaml(text: &str) -> Result<Pipeline> {
        let doc: Value =
            yaml_serde::from_str(text).map_err(|e| bad(format!("not valid YAML: {e}")))?;
        let mut p = Pipeline::empty();
        p.sources.push(text.to_string());
        if let Some(map) = doc.get("aliases").and_then(Value::as_mapping) {
            for (k, v) in map {
                let k = key_str(k).ok_or_else(|| bad("an alias name is not a string"))?;
                let cols = match v {
                    Value::Sequence(s) => s.iter().filter_map(key_str).collect(),
                    other => key_str(other).into_iter().collect(),
                };
                p.aliases.insert(k, cols);
            }
        }
        if let Some(map) = doc.get("products").and_then(Value::as_mapping) {
            for (k, v) in map {
                let k = key_str(k).ok_or_else(|| bad("a product name is not a string"))?;
                p.products
                    .push((k.clone(), items(v, &format!("product {k}"))?));
            }
        }
        if let Some(seq) = doc.get("logsources").and_then(Value::as_sequence) {
            for (i, e) in seq.iter().enumerate() {
                let s = |k: &str| e.get(k).and_then(key_str);
                let conditions = match e.get("conditions") {
                    Some(v) => items(v, &format!("logsources[{i}].conditions"))?,
                    None => Vec::new(),
                };
                let mut fields = HashMap::new();
                if let Some(m) = e.get("fields").and_then(Value::as_mapping) {
                    for (k, v) in m {
                        if let (Some(k), Some(v)) = (key_str(k), key_str(v)) {
                            fields.insert(k, v);
                        }
                    }
                }
                p.entries.push(Entry {
                    product: s("product"),
                    category: s("category"),
                    service: s("service"),
                    conditions,
                    fields,
                });
            }
        }
        Ok(p)
    }

    /// This pipeline with `user`'s settings on top: its aliases and products replace these of
    /// the same name, and its logsource entries replace all entries of the same
    /// product/category/service.
    pub fn merged(mut self, user: Pipeline) -> Pipeline {
        self.aliases.extend(user.aliases);
        for (name, cond) in user.products {
            self.products.retain(|(n, _)| *n != name);
            self.products.push((name, cond));
        }
        for e in &user.entries {
            self.entries.retain(|x| {
                !(x.product == e.product && x.category == e.category && x.service == e.service)
            });
        }
        self.entries.extend(user.entries);
        self.sources.extend(user.sources);
        self
    }

    /// The columns tried, in order, for Sigma field `field`.
    pub(crate) fn columns(&self, field: &str) -> Vec<String> {
        match self.aliases.get(field) {
            Some(cols) if !cols.is_empty() => cols.clone(),
            _ => vec![field.to_string()],
        }
    }

    /// The ways a rule with logsource `ls` meets the data.
    pub(crate) fn variants(&self, ls: &LogSource) -> Vec<Variant> {
        let product = ls.product.as_ref().and_then(|p| {
            self.products
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(p))
                .map(|(_, c)| c.clone())
        });
        let Some(product) = product else {
            // A product (or none) the pipeline does not know: rows no known product claims.
            return vec![Variant {
                all: Vec::new(),
                none_of: self.products.iter().map(|(_, c)| c.clone()).collect(),
                fields: HashMap::new(),
            }];
        };
        let entries: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|e| {
                (e.category.is_some() || e.service.is_some())
                    && eq(&e.product, &ls.product)
                    && eq(&e.category, &ls.category)
                    && eq(&e.service, &ls.service)
            })
            .collect();
        if entries.is_empty() {
            return vec![Variant {
                all: product,
                none_of: Vec::new(),
                fields: HashMap::new(),
            }];
        }
        entries
            .into_iter()
            .map(|e| {
                let mut all = product.clone();
                all.extend(e.conditions.iter().cloned());
                Variant {
                    all,
                    none_of: Vec::new(),
                    fields: e.fields.clone(),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_pipeline_parses_and_maps() {
        let p = Pipeline::from_yaml(WINDOWS);
        assert!(p.is_ok(), "{p:?}");
        let p = Pipeline::windows();
        let ls = LogSource {
            product: Some("windows".into()),
            category: Some("process_creation".into()),
            service: None,
        };
        let v = p.variants(&ls);
        assert_eq!(v.len(), 2, "Sysmon 1 and Security 4688");
        assert_eq!(
            v[1].fields.get("Image").map(String::as_str),
            Some("NewProcessName")
        );
        let linux = LogSource {
            product: Some("linux".into()),
            ..Default::default()
        };
        let v = p.variants(&linux);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].none_of.len(), 1, "not on Windows rows");
        assert_eq!(p.columns("EventID"), vec!["EventID", "event_id"]);
    }
}
