//! Correlation rule documents into [`CorrelationInfo`], and their named rules resolved to the
//! loaded rules. Anything wrong is a [`Reason`] for the report, never a panic.

use yaml_serde::Value;

use super::{Correlation, CorrelationInfo, CorrelationKind, Threshold};
use crate::sigma::rule::{Meta, Reason};
use crate::sigma::{Issue, RuleInfo};

/// The most rules one correlation may name.
const MAX_REFS: usize = 1000;
/// The most group-by fields.
const MAX_GROUP_BY: usize = 64;

fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_mapping().and_then(|m| m.get(key))
}

fn bad(detail: impl Into<String>) -> Reason {
    Reason::new("correlation", detail)
}

/// A scalar as text (`None` for maps, lists and null).
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A string or a list of strings.
fn names(v: Option<&Value>, what: &str, max: usize) -> Result<Vec<String>, Reason> {
    let out: Vec<String> = match v {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Sequence(s)) => s
            .iter()
            .map(|x| scalar(x).ok_or_else(|| bad(format!("`{what}` items must be text"))))
            .collect::<Result<_, _>>()?,
        Some(other) => vec![scalar(other).ok_or_else(|| bad(format!("`{what}` must be a list")))?],
    };
    if out.len() > max {
        return Err(bad(format!("`{what}` has more than {max} items")));
    }
    Ok(out)
}

/// A Sigma timespan (`30s`, `5m`, `1h`, `2d`, `1w`, and `M` months / `y` years as rsigma and
/// pySigma count them: 30.436875 and 365.2425 days) in nanoseconds.
pub(crate) fn timespan(text: &str) -> Result<i64, Reason> {
    let t = text.trim();
    let long = |unit: char, secs: i64| -> Option<Result<i64, Reason>> {
        let n = t.strip_suffix(unit)?;
        Some(
            n.parse::<i64>()
                .ok()
                .filter(|n| *n > 0)
                .and_then(|n| n.checked_mul(secs))
                .and_then(|s| s.checked_mul(1_000_000_000))
                .ok_or_else(|| bad(format!("`timespan: {text}` is not a timespan"))),
        )
    };
    if let Some(r) = long('M', 2_629_746).or_else(|| long('y', 31_556_952)) {
        return r;
    }
    crate::columns::parse_duration_param(t, "timespan")
        .map_err(|e| bad(format!("`timespan: {text}`: {e}")))
}

fn number(v: &Value, key: &str) -> Result<f64, Reason> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|x: &f64| x.is_finite())
    .ok_or_else(|| bad(format!("`condition.{key}` must be a number")))
}

type Condition = (Option<Threshold>, Option<String>, Option<f64>);

fn condition(c: Option<&Value>, kind: CorrelationKind) -> Result<Condition, Reason> {
    let Some(c) = c.filter(|c| !c.is_null()) else {
        return match kind {
            CorrelationKind::Temporal | CorrelationKind::TemporalOrdered => Ok((None, None, None)),
            _ => Err(bad(format!(
                "a `{}` correlation needs a `condition`",
                kind.name()
            ))),
        };
    };
    let Some(m) = c.as_mapping() else {
        return Err(bad(
            "`condition` must be a map such as `{gte: 10}` (expression conditions are not supported)",
        ));
    };
    let mut t = Threshold::default();
    let mut field = None;
    let mut percentile = None;
    for (k, v) in m {
        let key = k.as_str().unwrap_or_default();
        match key {
            "gt" => t.gt = Some(number(v, key)?),
            "gte" => t.gte = Some(number(v, key)?),
            "lt" => t.lt = Some(number(v, key)?),
            "lte" => t.lte = Some(number(v, key)?),
            "eq" => t.eq = Some(number(v, key)?),
            "neq" => t.neq = Some(number(v, key)?),
            "field" => {
                let f = names(Some(v), "condition.field", 1)?;
                field = f.into_iter().next();
            }
            "percentile" => {
                let p = number(v, key)?;
                if !(0.0..=100.0).contains(&p) {
                    return Err(bad("`condition.percentile` must be within 0..100"));
                }
                percentile = Some(p);
            }
            other => {
                return Err(bad(format!("unknown condition operator `{other}`")));
            }
        }
    }
    if t.is_empty() {
        return Err(bad(
            "`condition` has no operator (gt, gte, lt, lte, eq, neq)",
        ));
    }
    if kind.needs_field() && field.is_none() {
        return Err(bad(format!(
            "a `{}` correlation needs `condition.field`",
            kind.name()
        )));
    }
    Ok((Some(t), field, percentile))
}

/// alias -> (rule, field) pairs.
type Aliases = Vec<(String, Vec<(String, String)>)>;

fn aliases(v: Option<&Value>) -> Result<Aliases, Reason> {
    let Some(m) = v.and_then(Value::as_mapping) else {
        return match v {
            None | Some(Value::Null) => Ok(Vec::new()),
            _ => Err(bad("`aliases` must be a map")),
        };
    };
    let mut out = Vec::new();
    for (alias, per_rule) in m {
        let alias = scalar(alias).ok_or_else(|| bad("alias names must be text"))?;
        let Some(pm) = per_rule.as_mapping() else {
            return Err(bad(format!(
                "alias `{alias}` must map rule names to fields"
            )));
        };
        let mut fields = Vec::new();
        for (r, f) in pm {
            match (scalar(r), scalar(f)) {
                (Some(r), Some(f)) => fields.push((r, f)),
                _ => return Err(bad(format!("alias `{alias}`: rule and field must be text"))),
            }
        }
        out.push((alias, fields));
    }
    Ok(out)
}

/// Parses a correlation document (one with a `correlation` map) read from `file`.
pub(crate) fn parse(doc: &Value, meta: &Meta, file: &str) -> Result<CorrelationInfo, Reason> {
    let c = get(doc, "correlation")
        .filter(|c| c.is_mapping())
        .ok_or_else(|| bad("`correlation` must be a map"))?;
    let type_name = get(c, "type").and_then(scalar).unwrap_or_default();
    let kind = CorrelationKind::parse(&type_name).ok_or_else(|| {
        bad(format!(
            "unknown correlation type `{type_name}` (event_count, value_count, temporal, temporal_ordered, value_sum, value_avg, value_percentile)"
        ))
    })?;
    let rules = names(get(c, "rules"), "rules", MAX_REFS)?;
    if rules.is_empty() {
        return Err(bad("`rules` names no rule"));
    }
    let group_by = names(get(c, "group-by"), "group-by", MAX_GROUP_BY)?;
    let span = get(c, "timespan")
        .or_else(|| get(c, "timeframe"))
        .and_then(scalar)
        .ok_or_else(|| bad("`timespan` is missing"))?;
    let timespan_ns = timespan(&span)?;
    let (condition, field, percentile) = condition(get(c, "condition"), kind)?;
    let generate = match get(c, "generate").or_else(|| get(doc, "generate")) {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(bad("`generate` must be true or false")),
    };
    Ok(CorrelationInfo {
        file: file.to_string(),
        id: meta.id.clone(),
        name: get(doc, "name").and_then(scalar).unwrap_or_default(),
        title: meta.title.clone(),
        status: meta.status.clone(),
        level: meta.level.clone(),
        tags: meta.tags.clone(),
        kind,
        rules,
        group_by,
        timespan_ns,
        condition,
        field,
        percentile,
        generate,
        aliases: aliases(get(c, "aliases"))?,
    })
}

/// What one name in a correlation's `rules` refers to.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Named {
    Rule(usize),
    /// Index into the pending correlations.
    Correlation(usize),
}

/// Resolves each correlation's named rules (by `name` or `id`) to loaded rules or to other
/// correlations (a chained correlation, Sigma v2: the named correlation's hits are its
/// events); `names` are the loaded rules' `name`s. A correlation naming a rule that did not
/// load, a correlation that did not resolve, or itself through a cycle goes to `issues` with
/// the reason. The result keeps load order, and a named correlation always resolves to an
/// index into it.
pub(crate) fn resolve(
    pending: Vec<CorrelationInfo>,
    rules: &[RuleInfo],
    names: &[String],
    issues: &mut Vec<Issue>,
) -> Vec<Correlation> {
    let find = |r: &str| {
        rules
            .iter()
            .zip(names)
            .position(|(info, name)| info.id == r || (!name.is_empty() && name == r))
    };
    let find_corr = |r: &str| {
        pending
            .iter()
            .position(|c| c.id == r || (!c.name.is_empty() && c.name == r))
    };
    let issue = |info: &CorrelationInfo, detail: String| Issue {
        file: info.file.clone(),
        rule_id: info.id.clone(),
        title: info.title.clone(),
        status: info.status.clone(),
        reason: bad(detail),
    };
    // Phase 1: every name to a rule or a correlation, or a reason.
    let mut named: Vec<Result<Vec<Named>, String>> = Vec::with_capacity(pending.len());
    for info in &pending {
        let mut refs = Vec::with_capacity(info.rules.len());
        let mut failed = None;
        for r in &info.rules {
            if let Some(i) = find(r) {
                refs.push(Named::Rule(i));
            } else if let Some(c) = find_corr(r) {
                refs.push(Named::Correlation(c));
            } else {
                failed = Some(if let Some(i) = issues.iter().find(|i| &i.rule_id == r) {
                    format!(
                        "names the rule `{r}`, which did not load: {} ({})",
                        i.reason.detail, i.reason.kind
                    )
                } else {
                    format!("names the rule `{r}`, which is not among the rules loaded")
                });
                break;
            }
        }
        named.push(failed.map_or(Ok(refs), Err));
    }
    // Phase 2: a correlation is usable once every correlation it names is (a cycle never is).
    let mut usable = vec![false; pending.len()];
    loop {
        let mut changed = false;
        for (i, n) in named.iter().enumerate() {
            if usable.get(i) == Some(&false)
                && let Ok(refs) = n
                && refs.iter().all(|x| match x {
                    Named::Rule(_) => true,
                    Named::Correlation(c) => usable.get(*c) == Some(&true),
                })
            {
                usable[i] = true;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    // The usable correlations keep load order; `at[i]` is pending i's index in the output.
    let mut at = vec![None; pending.len()];
    let mut next = 0;
    for (i, u) in usable.iter().enumerate() {
        if *u {
            at[i] = Some(next);
            next += 1;
        }
    }
    let mut out = Vec::new();
    for ((i, info), n) in pending.iter().enumerate().zip(named) {
        let refs = match n {
            Err(why) => {
                issues.push(issue(info, why));
                continue;
            }
            Ok(refs) if !usable[i] => {
                let bad_ref = refs.iter().find_map(|x| match x {
                    Named::Correlation(c) if !usable[*c] => pending.get(*c),
                    _ => None,
                });
                let why = match bad_ref {
                    Some(c) if c.id == info.id => {
                        "names itself (directly or through a cycle of correlations)".to_string()
                    }
                    Some(c) => format!(
                        "names the correlation `{}`, which cannot be evaluated (it is in a cycle or reported)",
                        c.id
                    ),
                    None => "names a correlation that cannot be evaluated".to_string(),
                };
                issues.push(issue(info, why));
                continue;
            }
            Ok(refs) => refs,
        };
        let rule_refs: Vec<Option<usize>> = refs
            .iter()
            .map(|x| match x {
                Named::Rule(r) => Some(*r),
                Named::Correlation(_) => None,
            })
            .collect();
        let chained: Vec<(usize, usize)> = refs
            .iter()
            .enumerate()
            .filter_map(|(k, x)| match x {
                Named::Correlation(c) => at.get(*c).copied().flatten().map(|c| (k, c)),
                Named::Rule(_) => None,
            })
            .collect();
        // Per group-by field, per named rule: the field to read (an alias maps it per rule).
        let group_fields = info
            .group_by
            .iter()
            .map(|g| {
                let alias = info.aliases.iter().find(|(a, _)| a == g);
                refs.iter()
                    .zip(&info.rules)
                    .map(|(x, written)| {
                        alias
                            .and_then(|(_, per)| {
                                per.iter().find(|(r, _)| {
                                    r == written
                                        || match x {
                                            Named::Rule(ri) => {
                                                rules.get(*ri).is_some_and(|x| &x.id == r)
                                                    || names
                                                        .get(*ri)
                                                        .is_some_and(|n| !n.is_empty() && n == r)
                                            }
                                            Named::Correlation(c) => {
                                                pending.get(*c).is_some_and(|x| {
                                                    &x.id == r
                                                        || (!x.name.is_empty() && &x.name == r)
                                                })
                                            }
                                        }
                                })
                            })
                            .map_or_else(|| g.clone(), |(_, f)| f.clone())
                    })
                    .collect()
            })
            .collect();
        out.push(Correlation {
            info: info.clone(),
            refs: rule_refs,
            chained,
            group_fields,
        });
    }
    out
}
