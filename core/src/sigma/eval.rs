//! Evaluation of a compiled plan over a RecordBatch: each field's column is scanned once per
//! chunk of rows (one multi-pattern pass for all literals of all rules, then globs, regexes,
//! networks, numbers), leaves collect the sorted rows they hit, and each rule's expression is
//! evaluated over these sparse row sets (with complements for `not`).

use std::borrow::Cow;
use std::collections::HashMap;

use arrow::array::{Array, RecordBatch, StringArray};
use arrow::datatypes::DataType;
use rayon::prelude::*;

use super::compile::{Expr, FieldPlan, Group, Plan, Target};
use super::value::{Anchor, Cmp, Net, fold};

/// Rows per parallel chunk.
const CHUNK_ROWS: usize = 1 << 15;

/// The columns a plan reads from one batch, cast to text once.
pub(crate) struct Resolved {
    fields: Vec<Option<StringArray>>,
    /// Every string column (for keywords).
    strings: Vec<StringArray>,
    /// Columns by name (for field references).
    by_name: HashMap<String, StringArray>,
}

fn text_column(batch: &RecordBatch, name: &str) -> Option<StringArray> {
    let array = batch.column_by_name(name)?;
    match crate::columns::text(array.as_ref(), name) {
        Ok(a) => Some(a),
        Err(e) => {
            log::warn!("Sigma: column `{name}` is not read as text ({e}); rules see it as missing");
            None
        }
    }
}

fn is_string(t: &DataType) -> bool {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, v) => is_string(v),
        _ => false,
    }
}

/// Resolves the plan's fields against `batch`.
pub(crate) fn resolve(plan: &Plan, batch: &RecordBatch) -> Resolved {
    let mut by_name: HashMap<String, StringArray> = HashMap::new();
    let get = |name: &str, by_name: &mut HashMap<String, StringArray>| {
        if let Some(a) = by_name.get(name) {
            return Some(a.clone());
        }
        let a = text_column(batch, name)?;
        by_name.insert(name.to_string(), a.clone());
        Some(a)
    };
    let mut fields = Vec::with_capacity(plan.fields.len());
    for f in &plan.fields {
        // Windows names some fields with spaces (Defender's `Threat Name`); Sigma drops them.
        let col = f
            .columns
            .iter()
            .find_map(|c| get(c, &mut by_name))
            .or_else(|| {
                let spaced = batch
                    .schema()
                    .fields()
                    .iter()
                    .find(|x| x.name().contains(' ') && x.name().replace(' ', "") == f.name)
                    .map(|x| x.name().clone())?;
                get(&spaced, &mut by_name)
            });
        for (cols, ..) in &f.fieldrefs {
            for c in cols {
                get(c, &mut by_name);
            }
        }
        fields.push(col);
    }
    let keywords_used = plan.keywords.folded.is_some()
        || plan.keywords.cased.is_some()
        || !plan.keywords.unfiltered.is_empty()
        || plan.keywords.regexes.is_some();
    let strings = if keywords_used {
        batch
            .schema()
            .fields()
            .iter()
            .filter(|f| is_string(f.data_type()))
            .filter_map(|f| get(f.name(), &mut by_name))
            .collect()
    } else {
        Vec::new()
    };
    Resolved {
        fields,
        strings,
        by_name,
    }
}

#[inline]
fn push(hits: &mut [Vec<u32>], leaf: u32, row: u32) {
    if let Some(h) = hits.get_mut(leaf as usize)
        && h.last() != Some(&row)
    {
        h.push(row);
    }
}

struct Scan<'a> {
    f: &'a FieldPlan,
    last_glob: Vec<u32>,
    lower: String,
}

impl Scan<'_> {
    fn group(&mut self, g: &Group, hay: &[u8], value: &str, row: u32, hits: &mut [Vec<u32>]) {
        for m in g.ac.find_overlapping_iter(hay) {
            let Some(targets) = g.targets.get(m.pattern().as_usize()) else {
                continue;
            };
            for t in targets {
                match *t {
                    Target::Lit(anchor, leaf) => {
                        let ok = match anchor {
                            Anchor::Exact => m.start() == 0 && m.end() == hay.len(),
                            Anchor::Prefix => m.start() == 0,
                            Anchor::Suffix => m.end() == hay.len(),
                            Anchor::Contains => true,
                        };
                        if ok {
                            push(hits, leaf, row);
                        }
                    }
                    Target::Glob(gi) => {
                        let gi = gi as usize;
                        if self.last_glob.get(gi) != Some(&row) {
                            if let Some(slot) = self.last_glob.get_mut(gi) {
                                *slot = row;
                            }
                            if let Some(glob) = self.f.globs.get(gi)
                                && glob.regex.is_match(value)
                            {
                                push(hits, glob.leaf, row);
                            }
                        }
                    }
                }
            }
        }
    }

    fn row(
        &mut self,
        value: &str,
        row: u32,
        others: &HashMap<String, StringArray>,
        hits: &mut [Vec<u32>],
    ) {
        let f = self.f;
        if let Some(l) = f.exists {
            push(hits, l, row);
        }
        if let Some(l) = f.empty
            && value.is_empty()
        {
            push(hits, l, row);
        }
        if let Some(g) = &f.folded {
            if value.is_ascii() {
                self.group(g, value.as_bytes(), value, row, hits);
            } else {
                let mut lower = std::mem::take(&mut self.lower);
                lower.clear();
                lower.push_str(&value.to_lowercase());
                self.group(g, lower.as_bytes(), value, row, hits);
                self.lower = lower;
            }
        }
        if let Some(g) = &f.cased {
            self.group(g, value.as_bytes(), value, row, hits);
        }
        for &gi in &f.unfiltered {
            if let Some(glob) = f.globs.get(gi as usize)
                && glob.regex.is_match(value)
            {
                push(hits, glob.leaf, row);
            }
        }
        if let Some((set, leaves)) = &f.regexes {
            for i in set.matches(value).iter() {
                if let Some(&l) = leaves.get(i) {
                    push(hits, l, row);
                }
            }
        }
        for (re, l) in &f.single_regexes {
            if re.is_match(value) {
                push(hits, *l, row);
            }
        }
        if !f.cidrs.is_empty()
            && let Ok(ip) = value.trim().parse::<std::net::IpAddr>()
        {
            let (v6, addr) = match ip {
                std::net::IpAddr::V4(a) => (false, u32::from(a) as u128),
                std::net::IpAddr::V6(a) => (true, u128::from(a)),
            };
            for (net, l) in &f.cidrs {
                if net.v6 == v6 && addr & Net::mask(v6, net.prefix) == net.addr {
                    push(hits, *l, row);
                }
            }
        }
        if !f.nums.is_empty()
            && let Ok(x) = value.trim().parse::<f64>()
        {
            for &(op, y, l) in &f.nums {
                let ok = match op {
                    Cmp::Gt => x > y,
                    Cmp::Gte => x >= y,
                    Cmp::Lt => x < y,
                    Cmp::Lte => x <= y,
                };
                if ok {
                    push(hits, l, row);
                }
            }
        }
        for (cols, anchor, cased, l) in &f.fieldrefs {
            let other = cols.iter().find_map(|c| others.get(c));
            let Some(other) = other else { continue };
            let i = row as usize;
            if other.is_null(i) {
                continue;
            }
            let (a, b) = if *cased {
                (
                    value.as_bytes().to_vec(),
                    other.value(i).as_bytes().to_vec(),
                )
            } else {
                (fold(value.as_bytes()), fold(other.value(i).as_bytes()))
            };
            let ok = match anchor {
                Anchor::Exact => a == b,
                Anchor::Prefix => a.starts_with(&b),
                Anchor::Suffix => a.ends_with(&b),
                Anchor::Contains => memfind(&a, &b),
            };
            if ok {
                push(hits, *l, row);
            }
        }
    }
}

fn memfind(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

fn scan(
    f: &FieldPlan,
    col: &StringArray,
    others: &HashMap<String, StringArray>,
    start: usize,
    end: usize,
    hits: &mut [Vec<u32>],
) {
    let mut s = Scan {
        f,
        last_glob: vec![u32::MAX; f.globs.len()],
        lower: String::new(),
    };
    for i in start..end.min(col.len()) {
        if col.is_null(i) {
            continue;
        }
        s.row(col.value(i), i as u32, others, hits);
    }
}

/// A set of rows: `rows` (sorted, distinct), or every row but these when `neg`.
struct Set<'a> {
    rows: Cow<'a, [u32]>,
    neg: bool,
}

fn contains(sorted: &[u32], x: u32) -> bool {
    sorted.binary_search(&x).is_ok()
}

fn intersect(a: &[u32], b: &[u32]) -> Vec<u32> {
    let (small, big) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    small
        .iter()
        .copied()
        .filter(|&x| contains(big, x))
        .collect()
}

fn difference(a: &[u32], b: &[u32]) -> Vec<u32> {
    if b.is_empty() {
        return a.to_vec();
    }
    a.iter().copied().filter(|&x| !contains(b, x)).collect()
}

fn union(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => {
                out.push(a[i]);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.push(b[j]);
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

fn and<'a>(a: Set<'a>, b: Set<'a>) -> Set<'a> {
    let rows = match (a.neg, b.neg) {
        (false, false) => intersect(&a.rows, &b.rows),
        (false, true) => difference(&a.rows, &b.rows),
        (true, false) => difference(&b.rows, &a.rows),
        (true, true) => {
            return Set {
                rows: Cow::Owned(union(&a.rows, &b.rows)),
                neg: true,
            };
        }
    };
    Set {
        rows: Cow::Owned(rows),
        neg: false,
    }
}

fn or<'a>(a: Set<'a>, b: Set<'a>) -> Set<'a> {
    let (rows, neg) = match (a.neg, b.neg) {
        (false, false) => (union(&a.rows, &b.rows), false),
        (false, true) => (difference(&b.rows, &a.rows), true),
        (true, false) => (difference(&a.rows, &b.rows), true),
        (true, true) => (intersect(&a.rows, &b.rows), true),
    };
    Set {
        rows: Cow::Owned(rows),
        neg,
    }
}

fn eval<'a>(e: &Expr, hits: &'a [Vec<u32>]) -> Set<'a> {
    const EMPTY: &[u32] = &[];
    match e {
        Expr::Leaf(l) => Set {
            rows: Cow::Borrowed(hits.get(*l as usize).map(Vec::as_slice).unwrap_or(EMPTY)),
            neg: false,
        },
        Expr::Not(x) => {
            let s = eval(x, hits);
            Set {
                rows: s.rows,
                neg: !s.neg,
            }
        }
        Expr::And(xs) => {
            let mut acc = Set {
                rows: Cow::Borrowed(EMPTY),
                neg: true,
            };
            for x in xs {
                acc = and(acc, eval(x, hits));
                if !acc.neg && acc.rows.is_empty() {
                    break;
                }
            }
            acc
        }
        Expr::Or(xs) => {
            let mut acc = Set {
                rows: Cow::Borrowed(EMPTY),
                neg: false,
            };
            for x in xs {
                acc = or(acc, eval(x, hits));
                if acc.neg && acc.rows.is_empty() {
                    break;
                }
            }
            acc
        }
    }
}

/// (row, rule position in `plan.rules`) for rows `[start, end)`, ordered by row then rule.
fn chunk(plan: &Plan, cols: &Resolved, start: usize, end: usize) -> Vec<(u32, u32)> {
    let mut hits: Vec<Vec<u32>> = vec![Vec::new(); plan.leaves as usize];
    for (f, col) in plan.fields.iter().zip(&cols.fields) {
        if let Some(col) = col {
            scan(f, col, &cols.by_name, start, end, &mut hits);
        }
    }
    if !cols.strings.is_empty() {
        let before: Vec<usize> = hits.iter().map(Vec::len).collect();
        for col in &cols.strings {
            scan(&plan.keywords, col, &cols.by_name, start, end, &mut hits);
        }
        // Keyword leaves collect rows column after column: restore the order.
        for (h, b) in hits.iter_mut().zip(before) {
            if h.len() > b {
                h.sort_unstable();
                h.dedup();
            }
        }
    }
    let mut out = Vec::new();
    for (r, (_, expr)) in plan.rules.iter().enumerate() {
        let set = eval(expr, &hits);
        if set.neg {
            out.extend(
                (start as u32..end as u32)
                    .filter(|x| !contains(&set.rows, *x))
                    .map(|x| (x, r as u32)),
            );
        } else {
            out.extend(set.rows.iter().map(|&x| (x, r as u32)));
        }
    }
    out.sort_unstable();
    out
}

/// Every (row, rule position) match of `plan` on `batch`, ordered by row then rule.
pub(crate) fn matches(plan: &Plan, batch: &RecordBatch) -> Vec<(u32, u32)> {
    let cols = resolve(plan, batch);
    let rows = batch.num_rows();
    let starts: Vec<usize> = (0..rows).step_by(CHUNK_ROWS).collect();
    starts
        .into_par_iter()
        .map(|s| chunk(plan, &cols, s, (s + CHUNK_ROWS).min(rows)))
        .collect::<Vec<_>>()
        .concat()
}
