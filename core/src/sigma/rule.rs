//! Sigma rule documents (YAML) into a checked rule: metadata, logsource, named searches of
//! field items with modifiers, and the condition. Anything that cannot be evaluated is a
//! [`Reason`] naming what is wrong, never a panic.

use yaml_serde::Value;

use super::condition::{self, Cond};
use super::value::{self, Matcher, Modifiers};

/// The most values one rule may hold (lists of patterns, after modifier expansion).
pub(crate) const MAX_VALUES: usize = 20_000;
/// The most bytes of one rule document.
pub(crate) const MAX_RULE_BYTES: usize = 4 << 20;

/// Why a rule cannot be evaluated. `kind` is a short stable category for counting, `detail`
/// says exactly what.
#[derive(Clone, Debug, PartialEq)]
pub struct Reason {
    /// Category: `yaml`, `missing field`, `condition`, `modifier`, `regex`, `value`,
    /// `placeholder`, `limit`, `correlation`, `not a rule`.
    pub kind: &'static str,
    /// The exact reason.
    pub detail: String,
}

impl Reason {
    pub(crate) fn new(kind: &'static str, detail: impl Into<String>) -> Self {
        Reason {
            kind,
            detail: detail.into(),
        }
    }
}

/// A rule's `logsource`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LogSource {
    /// `product`, e.g. `windows`.
    pub product: Option<String>,
    /// `category`, e.g. `process_creation`.
    pub category: Option<String>,
    /// `service`, e.g. `security`.
    pub service: Option<String>,
}

/// One field item of a search: the values of `field|modifiers`, any (or all) of which match.
#[derive(Clone, Debug)]
pub(crate) struct Item {
    /// `None` for keywords (searched in every string column).
    pub field: Option<String>,
    /// One matcher per value (after expansion of windash, base64offset, placeholders).
    pub matchers: Vec<Matcher>,
    /// `|all`: every matcher must match.
    pub all: bool,
}

/// A named search: any of its maps (each map: all of its items) match.
#[derive(Clone, Debug)]
pub(crate) struct Search {
    pub maps: Vec<Vec<Item>>,
}

/// The metadata every rule (loaded or not) carries into reports and results.
#[derive(Clone, Debug, Default)]
pub(crate) struct Meta {
    pub id: String,
    pub title: String,
    pub status: String,
    pub level: String,
    pub tags: Vec<String>,
    pub logsource: LogSource,
}

/// A rule ready to compile.
#[derive(Clone, Debug)]
pub(crate) struct Rule {
    pub meta: Meta,
    pub searches: Vec<(String, Search)>,
    pub condition: Cond,
}

/// What one YAML document is.
pub(crate) enum Parsed {
    Rule(Box<Rule>),
    /// A document that is not a detection rule (a correlation, a filter, a global action).
    NotEvaluated(Box<Meta>, Reason),
}

fn text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        _ => String::new(),
    }
}

fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_mapping().and_then(|m| m.get(key))
}

/// Metadata of a document, whatever else is wrong with it.
pub(crate) fn meta(doc: &Value) -> Meta {
    let ls = get(doc, "logsource");
    let ls_field = |k: &str| {
        ls.and_then(|l| get(l, k))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    Meta {
        id: text(get(doc, "id")),
        title: text(get(doc, "title")),
        status: text(get(doc, "status")),
        level: text(get(doc, "level")),
        tags: get(doc, "tags")
            .and_then(Value::as_sequence)
            .map(|s| {
                s.iter()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
        logsource: LogSource {
            product: ls_field("product"),
            category: ls_field("category"),
            service: ls_field("service"),
        },
    }
}

/// Parses one YAML document into a rule, given the user's placeholder values.
pub(crate) fn parse(doc: &Value, placeholders: &value::Placeholders) -> Parsed {
    let meta = meta(doc);
    match parse_inner(doc, &meta, placeholders) {
        Ok(Some(rule)) => Parsed::Rule(Box::new(rule)),
        Ok(None) => Parsed::NotEvaluated(
            Box::new(meta),
            Reason::new(
                "correlation",
                "not evaluated: correlation rules (Sigma v2) are not supported yet",
            ),
        ),
        Err(reason) => Parsed::NotEvaluated(Box::new(meta), reason),
    }
}

fn parse_inner(
    doc: &Value,
    meta: &Meta,
    placeholders: &value::Placeholders,
) -> Result<Option<Rule>, Reason> {
    if !doc.is_mapping() {
        return Err(Reason::new(
            "not a rule",
            "the document is not a YAML mapping",
        ));
    }
    if get(doc, "correlation").is_some() {
        return Ok(None);
    }
    if get(doc, "filter").is_some() {
        return Err(Reason::new(
            "not a rule",
            "meta filter documents (`filter:`) are not evaluated",
        ));
    }
    if let Some(action) = get(doc, "action").and_then(Value::as_str) {
        return Err(Reason::new(
            "not a rule",
            format!("`action: {action}` documents (rule collections) are not supported"),
        ));
    }
    if get(doc, "detection").is_none() && get(doc, "logsource").is_none() {
        return Err(Reason::new(
            "not a rule",
            "no `detection` or `logsource` (another kind of YAML file, e.g. a regression-test info.yml)",
        ));
    }
    if meta.title.is_empty() {
        return Err(Reason::new("missing field", "the rule has no `title`"));
    }
    let detection = get(doc, "detection")
        .and_then(Value::as_mapping)
        .ok_or_else(|| Reason::new("missing field", "the rule has no `detection` mapping"))?;
    let mut searches = Vec::new();
    let mut cond_value = None;
    let mut budget = MAX_VALUES;
    for (k, v) in detection {
        let name = k
            .as_str()
            .ok_or_else(|| Reason::new("value", "a detection key is not a string"))?;
        if name == "condition" {
            cond_value = Some(v);
            continue;
        }
        if name == "timeframe" {
            continue;
        }
        let search = parse_search(name, v, placeholders, &mut budget)?;
        searches.push((name.to_string(), search));
    }
    let cond_value = cond_value
        .ok_or_else(|| Reason::new("missing field", "the detection has no `condition`"))?;
    let names: Vec<&str> = searches.iter().map(|(n, _)| n.as_str()).collect();
    let conditions: Vec<&str> = match cond_value {
        Value::String(s) => vec![s.as_str()],
        Value::Sequence(seq) => seq
            .iter()
            .map(|c| {
                c.as_str()
                    .ok_or_else(|| Reason::new("condition", "a condition is not a string"))
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(Reason::new("condition", "`condition` is not a string")),
    };
    let mut parts = Vec::new();
    for c in conditions {
        parts.push(condition::parse(c, &names).map_err(|e| Reason::new("condition", e))?);
    }
    let condition = if parts.len() == 1 {
        parts.remove(0)
    } else {
        Cond::Or(parts)
    };
    Ok(Some(Rule {
        meta: meta.clone(),
        searches,
        condition,
    }))
}

fn parse_search(
    name: &str,
    v: &Value,
    placeholders: &value::Placeholders,
    budget: &mut usize,
) -> Result<Search, Reason> {
    match v {
        Value::Mapping(_) => Ok(Search {
            maps: vec![parse_map(name, v, placeholders, budget)?],
        }),
        Value::Sequence(seq) if !seq.is_empty() && seq.iter().all(Value::is_mapping) => {
            let maps = seq
                .iter()
                .map(|m| parse_map(name, m, placeholders, budget))
                .collect::<Result<_, _>>()?;
            Ok(Search { maps })
        }
        Value::Sequence(seq) if seq.iter().all(|x| !x.is_mapping() && !x.is_sequence()) => {
            let item = parse_item(None, &Modifiers::default(), v, placeholders, budget)?;
            Ok(Search {
                maps: vec![vec![item]],
            })
        }
        Value::String(_) | Value::Number(_) => {
            let item = parse_item(None, &Modifiers::default(), v, placeholders, budget)?;
            Ok(Search {
                maps: vec![vec![item]],
            })
        }
        _ => Err(Reason::new(
            "value",
            format!("search `{name}` is neither a map, a list of maps nor a list of keywords"),
        )),
    }
}

pub(crate) fn parse_map(
    name: &str,
    v: &Value,
    placeholders: &value::Placeholders,
    budget: &mut usize,
) -> Result<Vec<Item>, Reason> {
    let Some(map) = v.as_mapping() else {
        return Err(Reason::new(
            "value",
            format!("search `{name}` is not a map"),
        ));
    };
    let mut items = Vec::with_capacity(map.len());
    for (k, val) in map {
        let key = match k {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => {
                return Err(Reason::new(
                    "value",
                    format!("search `{name}` has a key that is not a string"),
                ));
            }
        };
        let mut parts = key.split('|');
        let field = parts.next().unwrap_or_default().to_string();
        let mods = Modifiers::parse(parts).map_err(|e| Reason::new("modifier", e))?;
        let field = if field.is_empty() { None } else { Some(field) };
        items.push(parse_item(field, &mods, val, placeholders, budget)?);
    }
    Ok(items)
}

fn parse_item(
    field: Option<String>,
    mods: &Modifiers,
    v: &Value,
    placeholders: &value::Placeholders,
    budget: &mut usize,
) -> Result<Item, Reason> {
    let values: Vec<&Value> = match v {
        Value::Sequence(seq) => seq.iter().collect(),
        other => vec![other],
    };
    let mut matchers = Vec::new();
    for x in values {
        let produced = value::matchers(field.as_deref(), mods, x, placeholders)?;
        if produced.len() > *budget {
            return Err(Reason::new(
                "limit",
                format!("the rule has more than {MAX_VALUES} values after expansion"),
            ));
        }
        *budget -= produced.len();
        matchers.extend(produced);
    }
    Ok(Item {
        field,
        matchers,
        all: mods.all,
    })
}
