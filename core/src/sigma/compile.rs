//! Compilation for columnar evaluation: every rule becomes a boolean expression over leaves
//! (one test of one field), leaves are shared across rules, and each field's tests across
//! all rules are gathered once: literals into one Aho-Corasick automaton per field and
//! casing (exact values by hash, prefixes and suffixes by a trie walk, substrings in one
//! Aho-Corasick pass over the lower-cased value), wildcard globs behind their longest
//! literal, regexes behind the literals any match must contain (found in the regex's syntax
//! tree with `regex-syntax`; they join the substring pass), networks into a prefix table.
//! A rule becomes one (logsource condition, detection) pair per pipeline variant; the
//! logsource conditions are shared across rules so each is evaluated once per chunk.

use std::collections::HashMap;

use aho_corasick::{AhoCorasick, MatchKind};
use regex::{Regex, RegexBuilder};

use super::condition::Cond;
use super::logsource::{Pipeline, Variant};
use super::prefilter::{Trie, parse_regex, required_literals};
use super::rule::{Item, Reason, Rule};
use super::value::{Anchor, Cmp, Matcher, Net, REGEX_SIZE_LIMIT};

/// A rule's condition over leaf ids.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Expr {
    Leaf(u32),
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

/// What an Aho-Corasick hit feeds.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Target {
    /// A literal leaf at this anchor.
    Lit(Anchor, u32),
    /// The glob at this index of the field: test it on this row.
    Glob(u32),
    /// The prefiltered regex at this index of the field: test it on this row.
    Re(u32),
}

/// Unanchored literal patterns of one field and casing (substrings, glob and regex
/// prefilter literals).
#[derive(Debug)]
pub(crate) struct Group {
    pub ac: AhoCorasick,
    /// Per automaton pattern, the leaves it feeds.
    pub targets: Vec<Vec<Target>>,
}

/// The literal tests of one field and casing, by anchor. Case-insensitive patterns are
/// lower-cased and run on the lower-cased value.
#[derive(Debug)]
pub(crate) struct Literals {
    /// Whole-value equality: one hash lookup.
    pub exact: foldhash::HashMap<Vec<u8>, Vec<u32>>,
    pub prefix: Option<Trie>,
    /// Reversed suffixes, walked over the value from its end.
    pub suffix: Option<Trie>,
    pub contains: Option<Group>,
}

/// A wildcard glob leaf.
#[derive(Debug)]
pub(crate) struct Glob {
    pub regex: Regex,
    pub leaf: u32,
}

/// Everything tested on one (mapped) field.
#[derive(Debug, Default)]
pub(crate) struct FieldPlan {
    /// The field name after renames.
    pub name: String,
    /// Columns tried in order (aliases).
    pub columns: Vec<String>,
    /// Field present and not null.
    pub exists: Option<u32>,
    /// Value is the empty string.
    pub empty: Option<u32>,
    /// Case-insensitive literals (run on the lower-cased value).
    pub folded: Option<Literals>,
    /// Case-sensitive literals.
    pub cased: Option<Literals>,
    pub globs: Vec<Glob>,
    /// Globs with no literal: tested on every row.
    pub unfiltered: Vec<u32>,
    /// Regexes tested only on rows where one of their required literals occurs (and on
    /// values that are not ASCII): (regex, shortest match in bytes, leaf).
    pub filtered_regexes: Vec<(Regex, usize, u32)>,
    /// Regexes with no required literal, tested one by one (a set of many regexes falls
    /// back to the slow PikeVM): (regex, shortest match in bytes, leaf).
    pub single_regexes: Vec<(Regex, usize, u32)>,
    pub cidrs: Vec<(Net, u32)>,
    pub nums: Vec<(Cmp, f64, u32)>,
    /// (other field's columns, anchor, cased, leaf).
    pub fieldrefs: Vec<(Vec<String>, Anchor, bool, u32)>,
}

/// One rule compiled: per pipeline variant, its logsource condition (an index into
/// [`Plan::logsources`]; `None` = every row) and its detection over that source's fields.
pub(crate) type RuleExpr = Vec<(Option<u32>, Expr)>;

/// All rules compiled.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    /// (index into the loaded rules, expression).
    pub rules: Vec<(usize, RuleExpr)>,
    /// Distinct logsource conditions, shared by the rules.
    pub logsources: Vec<Expr>,
    pub leaves: u32,
    pub fields: Vec<FieldPlan>,
    /// Keyword tests, run on every string column.
    pub keywords: FieldPlan,
}

#[derive(Default)]
struct FieldBuild {
    name: String,
    columns: Vec<String>,
    exists: Option<u32>,
    empty: Option<u32>,
    lits: [Vec<(Vec<u8>, Target)>; 2],
    globs: Vec<(String, u32)>,
    unfiltered: Vec<u32>,
    regexes: Vec<(String, u32)>,
    cidrs: Vec<(Net, u32)>,
    nums: Vec<(Cmp, f64, u32)>,
    fieldrefs: Vec<(Vec<String>, Anchor, bool, u32)>,
    seen: HashMap<String, u32>,
}

/// Builds the plan; a rule failing to compile (e.g. a glob too large) is returned with its
/// reason instead.
pub(crate) struct Builder<'p> {
    pipeline: &'p Pipeline,
    fields: Vec<FieldBuild>,
    by_name: HashMap<String, usize>,
    keywords: FieldBuild,
    leaves: u32,
    logsources: Vec<Expr>,
    logsource_ids: HashMap<String, u32>,
}

impl<'p> Builder<'p> {
    pub(crate) fn new(pipeline: &'p Pipeline) -> Self {
        Builder {
            pipeline,
            fields: Vec::new(),
            by_name: HashMap::new(),
            keywords: FieldBuild::default(),
            leaves: 0,
            logsources: Vec::new(),
            logsource_ids: HashMap::new(),
        }
    }

    fn field(&mut self, name: &str) -> &mut FieldBuild {
        let i = match self.by_name.get(name) {
            Some(&i) => i,
            None => {
                self.fields.push(FieldBuild {
                    name: name.to_string(),
                    columns: self.pipeline.columns(name),
                    ..Default::default()
                });
                self.by_name.insert(name.to_string(), self.fields.len() - 1);
                self.fields.len() - 1
            }
        };
        &mut self.fields[i]
    }

    /// The leaf of `m` on `field` (`None` = keywords), shared with identical tests.
    fn leaf(
        &mut self,
        field: Option<&str>,
        m: &Matcher,
        renames: &HashMap<String, String>,
    ) -> Result<Expr, Reason> {
        let mut next = self.leaves;
        let other_cols = match m {
            Matcher::FieldRef { other, .. } => {
                let other = renames.get(other).unwrap_or(other);
                Some(self.pipeline.columns(other))
            }
            _ => None,
        };
        let f = match field {
            Some(name) => self.field(name),
            None => &mut self.keywords,
        };
        let mut fresh = |slot: &mut Option<u32>| -> u32 {
            *slot.get_or_insert_with(|| {
                next += 1;
                next - 1
            })
        };
        let expr = match m {
            Matcher::Null => Expr::Not(Box::new(Expr::Leaf(fresh(&mut f.exists)))),
            Matcher::Exists(true) => Expr::Leaf(fresh(&mut f.exists)),
            Matcher::Exists(false) => Expr::Not(Box::new(Expr::Leaf(fresh(&mut f.exists)))),
            Matcher::Str { text, anchor, .. } if text.is_empty() => {
                if *anchor == Anchor::Exact {
                    Expr::Leaf(fresh(&mut f.empty))
                } else {
                    Expr::Leaf(fresh(&mut f.exists))
                }
            }
            other => {
                let key = format!("{other:?}");
                if let Some(&id) = f.seen.get(&key) {
                    return Ok(Expr::Leaf(id));
                }
                let id = next;
                next += 1;
                match other {
                    Matcher::Str {
                        text,
                        anchor,
                        cased,
                    } => f.lits[usize::from(*cased)].push((text.clone(), Target::Lit(*anchor, id))),
                    Matcher::Glob {
                        regex,
                        literal,
                        cased,
                    } => {
                        // Checked here so a huge glob is this rule's error.
                        RegexBuilder::new(regex)
                            .size_limit(REGEX_SIZE_LIMIT)
                            .build()
                            .map_err(|e| Reason::new("regex", format!("wildcard value: {e}")))?;
                        let g = f.globs.len() as u32;
                        f.globs.push((regex.clone(), id));
                        if literal.is_empty() {
                            f.unfiltered.push(g);
                        } else {
                            f.lits[usize::from(*cased)].push((literal.clone(), Target::Glob(g)));
                        }
                    }
                    Matcher::Regex(p) => f.regexes.push((p.clone(), id)),
                    Matcher::Cidr(n) => f.cidrs.push((*n, id)),
                    Matcher::Num(op, x) => f.nums.push((*op, *x, id)),
                    Matcher::FieldRef { anchor, cased, .. } => {
                        f.fieldrefs
                            .push((other_cols.unwrap_or_default(), *anchor, *cased, id))
                    }
                    Matcher::Null | Matcher::Exists(_) => {}
                }
                f.seen.insert(key, id);
                Expr::Leaf(id)
            }
        };
        self.leaves = next;
        Ok(expr)
    }

    fn item(&mut self, item: &Item, renames: &HashMap<String, String>) -> Result<Expr, Reason> {
        let field = item
            .field
            .as_ref()
            .map(|f| renames.get(f).cloned().unwrap_or_else(|| f.clone()));
        let mut parts = Vec::with_capacity(item.matchers.len());
        for m in &item.matchers {
            parts.push(self.leaf(field.as_deref(), m, renames)?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else if item.all {
            Expr::And(parts)
        } else {
            Expr::Or(parts)
        })
    }

    fn items(&mut self, items: &[Item], renames: &HashMap<String, String>) -> Result<Expr, Reason> {
        let mut parts = Vec::with_capacity(items.len());
        for i in items {
            parts.push(self.item(i, renames)?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::And(parts)
        })
    }

    fn cond(&self, c: &Cond, searches: &[Expr]) -> Expr {
        match c {
            Cond::Search(i) => searches
                .get(*i)
                .cloned()
                .unwrap_or_else(|| Expr::Or(Vec::new())),
            Cond::Not(x) => Expr::Not(Box::new(self.cond(x, searches))),
            Cond::And(xs) => Expr::And(xs.iter().map(|x| self.cond(x, searches)).collect()),
            Cond::Or(xs) => Expr::Or(xs.iter().map(|x| self.cond(x, searches)).collect()),
        }
    }

    fn variant(&mut self, rule: &Rule, v: &Variant) -> Result<(Option<u32>, Expr), Reason> {
        let mut searches = Vec::with_capacity(rule.searches.len());
        for (_, s) in &rule.searches {
            let mut maps = Vec::with_capacity(s.maps.len());
            for m in &s.maps {
                maps.push(self.items(m, &v.fields)?);
            }
            searches.push(if maps.len() == 1 {
                maps.remove(0)
            } else {
                Expr::Or(maps)
            });
        }
        let detection = self.cond(&rule.condition, &searches);
        let mut parts = Vec::new();
        let none = HashMap::new();
        if !v.all.is_empty() {
            parts.push(self.items(&v.all, &none)?);
        }
        for n in &v.none_of {
            parts.push(Expr::Not(Box::new(self.items(n, &none)?)));
        }
        let logsource = match parts.len() {
            0 => return Ok((None, detection)),
            1 => parts.remove(0),
            _ => Expr::And(parts),
        };
        // Leaves are shared, so equal conditions print equally.
        let key = format!("{logsource:?}");
        let next = self.logsources.len() as u32;
        let id = *self.logsource_ids.entry(key).or_insert(next);
        if id == next {
            self.logsources.push(logsource);
        }
        Ok((Some(id), detection))
    }

    /// Compiles `rule` under every logsource variant of the pipeline. On error nothing of
    /// the rule is kept... except shared leaves and conditions, which are harmless (never
    /// referenced).
    pub(crate) fn rule(&mut self, rule: &Rule) -> Result<RuleExpr, Reason> {
        let variants = self.pipeline.variants(&rule.meta.logsource);
        let mut parts = Vec::with_capacity(variants.len());
        for v in &variants {
            parts.push(self.variant(rule, v)?);
        }
        Ok(parts)
    }

    /// Builds the automata and regex sets.
    pub(crate) fn finish(self, rules: Vec<(usize, RuleExpr)>) -> Plan {
        Plan {
            rules,
            logsources: self.logsources,
            leaves: self.leaves,
            fields: self.fields.into_iter().map(finish_field).collect(),
            keywords: finish_field(self.keywords),
        }
    }
}

fn automaton(patterns: &[Vec<u8>]) -> Option<AhoCorasick> {
    match AhoCorasick::builder()
        .match_kind(MatchKind::Standard)
        .build(patterns)
    {
        Ok(ac) => Some(ac),
        Err(e) => {
            log::warn!("Sigma: an Aho-Corasick automaton could not be built: {e}");
            None
        }
    }
}

/// Distinct patterns and, per pattern, what it feeds.
fn distinct<T>(lits: Vec<(Vec<u8>, T)>) -> (Vec<Vec<u8>>, Vec<Vec<T>>) {
    let mut index: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut patterns: Vec<Vec<u8>> = Vec::new();
    let mut targets: Vec<Vec<T>> = Vec::new();
    for (text, t) in lits {
        let i = *index.entry(text.clone()).or_insert_with(|| {
            patterns.push(text);
            targets.push(Vec::new());
            patterns.len() - 1
        });
        if let Some(v) = targets.get_mut(i) {
            v.push(t);
        }
    }
    (patterns, targets)
}

fn trie(lits: Vec<(Vec<u8>, u32)>) -> Option<Trie> {
    if lits.is_empty() {
        return None;
    }
    let mut t = Trie::default();
    for (p, leaf) in lits {
        t.insert(&p, leaf);
    }
    Some(t)
}

fn literals(lits: Vec<(Vec<u8>, Target)>) -> Option<Literals> {
    if lits.is_empty() {
        return None;
    }
    let mut exact: foldhash::HashMap<Vec<u8>, Vec<u32>> = Default::default();
    let (mut prefix, mut suffix, mut contains) = (Vec::new(), Vec::new(), Vec::new());
    for (text, t) in lits {
        match t {
            Target::Lit(Anchor::Exact, leaf) => exact.entry(text).or_default().push(leaf),
            Target::Lit(Anchor::Prefix, leaf) => prefix.push((text, leaf)),
            Target::Lit(Anchor::Suffix, leaf) => {
                suffix.push((text.into_iter().rev().collect(), leaf));
            }
            other => contains.push((text, other)),
        }
    }
    let contains = if contains.is_empty() {
        None
    } else {
        let (patterns, targets) = distinct(contains);
        automaton(&patterns).map(|ac| Group { ac, targets })
    };
    Some(Literals {
        exact,
        prefix: trie(prefix),
        suffix: trie(suffix),
        contains,
    })
}

fn finish_field(mut f: FieldBuild) -> FieldPlan {
    let globs: Vec<Glob> = std::mem::take(&mut f.globs)
        .into_iter()
        .filter_map(|(re, leaf)| {
            RegexBuilder::new(&re)
                .size_limit(REGEX_SIZE_LIMIT)
                .build()
                .ok()
                .map(|regex| Glob { regex, leaf })
        })
        .collect();
    // Regexes with required literals join the case-insensitive substring pass; the rest
    // run on every value.
    let mut filtered_regexes = Vec::new();
    let mut single_regexes = Vec::new();
    for (p, leaf) in std::mem::take(&mut f.regexes) {
        let Ok(re) = RegexBuilder::new(&p).size_limit(REGEX_SIZE_LIMIT).build() else {
            continue;
        };
        match required_literals(&p) {
            Some(req) => {
                let i = filtered_regexes.len() as u32;
                filtered_regexes.push((re, req.min_len, leaf));
                for l in req.literals {
                    f.lits[0].push((l, Target::Re(i)));
                }
            }
            None => {
                let min_len = parse_regex(&p)
                    .and_then(|h| h.properties().minimum_len())
                    .unwrap_or(0);
                single_regexes.push((re, min_len, leaf));
            }
        }
    }
    let [folded, cased] = f.lits;
    FieldPlan {
        name: f.name,
        columns: f.columns,
        exists: f.exists,
        empty: f.empty,
        folded: literals(folded),
        cased: literals(cased),
        globs,
        unfiltered: f.unfiltered,
        filtered_regexes,
        single_regexes,
        cidrs: f.cidrs,
        nums: f.nums,
        fieldrefs: f.fieldrefs,
    }
}
