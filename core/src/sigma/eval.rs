//! Evaluation of a compiled plan over a RecordBatch, chunk by chunk (4096 rows, chunks in
//! parallel): each field's column is scanned once (one multi-pattern pass for all literals
//! of all rules, then globs, prefiltered regexes, networks, numbers), leaves collect the
//! sorted rows they hit, the shared logsource conditions become bitmaps, and each rule's
//! detection is evaluated as bitmap operations restricted to its logsource's rows (a rule
//! whose logsource has no row in the chunk costs nothing; `and` stops at the first empty
//! operand).

use std::collections::HashMap;

use arrow::array::{Array, RecordBatch, StringArray};
use arrow::datatypes::DataType;
use rayon::prelude::*;

use super::compile::{Expr, FieldPlan, Group, Literals, Plan, Target};
use super::value::{Anchor, Cmp, Net, fold};

/// Rows per chunk (one bitmap of `WORDS` words).
const CHUNK_ROWS: usize = 1 << 12;
const WORDS: usize = CHUNK_ROWS / 64;
/// A set of rows of one chunk: bit `i` is row `start + i`.
type Bits = [u64; WORDS];
/// Leaves hitting at least this many rows of a chunk are turned into bitmaps once.
const DENSE: usize = 48;

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
        || !plan.keywords.filtered_regexes.is_empty()
        || !plan.keywords.single_regexes.is_empty();
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

/// The rows each leaf hits in one chunk (sorted, distinct), reused across chunks.
struct Hits {
    rows: Vec<Vec<u32>>,
    /// Leaves with at least one row, to clear.
    touched: Vec<u32>,
    /// Per leaf, its bitmap in `pool` when dense (`u32::MAX` otherwise).
    dense: Vec<u32>,
    pool: Vec<Bits>,
}

impl Hits {
    fn new(leaves: usize) -> Hits {
        Hits {
            rows: vec![Vec::new(); leaves],
            touched: Vec::new(),
            dense: vec![u32::MAX; leaves],
            pool: Vec::new(),
        }
    }

    #[inline]
    fn push(&mut self, leaf: u32, row: u32) {
        if let Some(h) = self.rows.get_mut(leaf as usize) {
            match h.last() {
                Some(&last) if last == row => {}
                None => {
                    self.touched.push(leaf);
                    h.push(row);
                }
                _ => h.push(row),
            }
        }
    }

    fn clear(&mut self) {
        for &l in &self.touched {
            if let Some(h) = self.rows.get_mut(l as usize) {
                h.clear();
            }
            if let Some(d) = self.dense.get_mut(l as usize) {
                *d = u32::MAX;
            }
        }
        self.touched.clear();
        self.pool.clear();
    }

    /// Bitmaps for the dense leaves of the chunk starting at `start`.
    fn densify(&mut self, start: u32) {
        for &l in &self.touched {
            let Some(rows) = self.rows.get(l as usize) else {
                continue;
            };
            if rows.len() < DENSE {
                continue;
            }
            let mut b = [0u64; WORDS];
            for &r in rows {
                set(&mut b, (r - start) as usize);
            }
            if let Some(d) = self.dense.get_mut(l as usize) {
                *d = self.pool.len() as u32;
                self.pool.push(b);
            }
        }
    }
}

#[inline]
fn set(b: &mut Bits, i: usize) {
    if let Some(w) = b.get_mut(i / 64) {
        *w |= 1 << (i % 64);
    }
}

#[inline]
fn get(b: &Bits, i: usize) -> bool {
    b.get(i / 64).is_some_and(|w| w >> (i % 64) & 1 == 1)
}

struct Scan<'a> {
    f: &'a FieldPlan,
    last_glob: Vec<u32>,
    last_re: Vec<u32>,
    lower: Vec<u8>,
}

impl Scan<'_> {
    fn literals(&mut self, l: &Literals, hay: &[u8], value: &str, row: u32, out: &mut Vec<u32>) {
        if let Some(leaves) = l.exact.get(hay) {
            for &leaf in leaves {
                out.push(leaf);
            }
        }
        if let Some(t) = &l.prefix {
            t.walk(hay.iter().copied(), |leaf| out.push(leaf));
        }
        if let Some(t) = &l.suffix {
            t.walk(hay.iter().rev().copied(), |leaf| out.push(leaf));
        }
        if let Some(g) = &l.contains {
            self.group(g, hay, value, row, out);
        }
    }

    fn group(&mut self, g: &Group, hay: &[u8], value: &str, row: u32, out: &mut Vec<u32>) {
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
                            out.push(leaf);
                        }
                    }
                    Target::Re(ri) => {
                        let ri = ri as usize;
                        // Non-ASCII values test every prefiltered regex (see `row`).
                        if value.is_ascii() && self.last_re.get(ri) != Some(&row) {
                            if let Some(slot) = self.last_re.get_mut(ri) {
                                *slot = row;
                            }
                            if let Some((re, min_len, leaf)) = self.f.filtered_regexes.get(ri)
                                && value.len() >= *min_len
                                && re.is_match(value)
                            {
                                out.push(*leaf);
                            }
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
                                out.push(glob.leaf);
                            }
                        }
                    }
                }
            }
        }
    }

    /// The leaves `value` hits (on `row`: for the once-per-row glob and regex tests),
    /// appended to `out`; field references excepted (they depend on the row).
    fn value(&mut self, value: &str, row: u32, out: &mut Vec<u32>) {
        let f = self.f;
        if let Some(l) = f.exists {
            out.push(l);
        }
        if let Some(l) = f.empty
            && value.is_empty()
        {
            out.push(l);
        }
        if let Some(l) = &f.folded {
            let mut lower = std::mem::take(&mut self.lower);
            lower.clear();
            if value.is_ascii() {
                lower.extend(value.bytes().map(|b| b.to_ascii_lowercase()));
            } else {
                lower.extend_from_slice(value.to_lowercase().as_bytes());
            }
            self.literals(l, &lower, value, row, out);
            self.lower = lower;
        }
        if let Some(l) = &f.cased {
            self.literals(l, value.as_bytes(), value, row, out);
        }
        for &gi in &f.unfiltered {
            if let Some(glob) = f.globs.get(gi as usize)
                && glob.regex.is_match(value)
            {
                out.push(glob.leaf);
            }
        }
        if !value.is_ascii() {
            for (re, min_len, l) in &f.filtered_regexes {
                if value.len() >= *min_len && re.is_match(value) {
                    out.push(*l);
                }
            }
        }
        for (re, min_len, l) in &f.single_regexes {
            if value.len() >= *min_len && re.is_match(value) {
                out.push(*l);
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
                    out.push(*l);
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
                    out.push(l);
                }
            }
        }
    }

    fn fieldrefs(
        &self,
        value: &str,
        row: u32,
        others: &HashMap<String, StringArray>,
        hits: &mut Hits,
    ) {
        for (cols, anchor, cased, l) in &self.f.fieldrefs {
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
                hits.push(*l, row);
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
    hits: &mut Hits,
) {
    let mut s = Scan {
        f,
        last_glob: vec![u32::MAX; f.globs.len()],
        last_re: vec![u32::MAX; f.filtered_regexes.len()],
        lower: Vec::new(),
    };
    // Values repeat in logs (images, users, command lines of services and tasks): each
    // distinct value of the chunk is tested once, later rows copy its leaves.
    let costly = f.folded.is_some()
        || f.cased.is_some()
        || !f.globs.is_empty()
        || !f.filtered_regexes.is_empty()
        || !f.single_regexes.is_empty()
        || !f.cidrs.is_empty()
        || !f.nums.is_empty();
    let mut memo: foldhash::HashMap<&[u8], (u32, u32)> = foldhash::HashMap::default();
    let mut leaves: Vec<u32> = Vec::new();
    for i in start..end.min(col.len()) {
        if col.is_null(i) {
            continue;
        }
        let value = col.value(i);
        let row = i as u32;
        let (a, b) = if costly {
            match memo.get(value.as_bytes()) {
                Some(&r) => r,
                None => {
                    let a = leaves.len() as u32;
                    s.value(value, row, &mut leaves);
                    let r = (a, leaves.len() as u32);
                    memo.insert(value.as_bytes(), r);
                    r
                }
            }
        } else {
            leaves.clear();
            s.value(value, row, &mut leaves);
            (0, leaves.len() as u32)
        };
        for &l in leaves.get(a as usize..b as usize).unwrap_or_default() {
            hits.push(l, row);
        }
        if !f.fieldrefs.is_empty() {
            s.fieldrefs(value, row, others, hits);
        }
    }
}

/// `e` restricted to the rows of `care`, into `out`; whether any row is set.
fn eval(e: &Expr, hits: &Hits, start: u32, care: &Bits, out: &mut Bits) -> bool {
    match e {
        Expr::Leaf(l) => {
            let l = *l as usize;
            let rows = hits.rows.get(l).map(Vec::as_slice).unwrap_or_default();
            if rows.is_empty() {
                return false;
            }
            let mut any = 0;
            match hits.dense.get(l).and_then(|&d| hits.pool.get(d as usize)) {
                Some(b) => {
                    for ((o, c), x) in out.iter_mut().zip(care).zip(b) {
                        *o = c & x;
                        any |= *o;
                    }
                }
                None => {
                    *out = [0; WORDS];
                    for &r in rows {
                        let i = (r - start) as usize;
                        if get(care, i) {
                            set(out, i);
                            any = 1;
                        }
                    }
                }
            }
            any != 0
        }
        Expr::Not(x) => {
            let mut t = [0u64; WORDS];
            if !eval(x, hits, start, care, &mut t) {
                *out = *care;
                return true;
            }
            let mut any = 0;
            for ((o, c), x) in out.iter_mut().zip(care).zip(&t) {
                *o = c & !x;
                any |= *o;
            }
            any != 0
        }
        Expr::And(xs) => {
            *out = *care;
            let mut t = [0u64; WORDS];
            for x in xs {
                if !eval(x, hits, start, out, &mut t) {
                    return false;
                }
                *out = t;
            }
            out.iter().any(|&w| w != 0)
        }
        Expr::Or(xs) => {
            *out = [0; WORDS];
            let mut rest = *care;
            let mut t = [0u64; WORDS];
            let mut found = false;
            for x in xs {
                if eval(x, hits, start, &rest, &mut t) {
                    found = true;
                    let mut left = 0;
                    for ((o, r), x) in out.iter_mut().zip(rest.iter_mut()).zip(&t) {
                        *o |= x;
                        *r &= !x;
                        left |= *r;
                    }
                    if left == 0 {
                        break;
                    }
                }
            }
            found
        }
    }
}

/// (row, rule position in `plan.rules`) for rows `[start, end)`, ordered by row then rule.
fn chunk(
    plan: &Plan,
    cols: &Resolved,
    hits: &mut Hits,
    start: usize,
    end: usize,
) -> Vec<(u32, u32)> {
    hits.clear();
    for (f, col) in plan.fields.iter().zip(&cols.fields) {
        if let Some(col) = col {
            scan(f, col, &cols.by_name, start, end, hits);
        }
    }
    if !cols.strings.is_empty() {
        let before: Vec<usize> = hits.rows.iter().map(Vec::len).collect();
        for col in &cols.strings {
            scan(&plan.keywords, col, &cols.by_name, start, end, hits);
        }
        // Keyword leaves collect rows column after column: restore the order.
        for (h, b) in hits.rows.iter_mut().zip(before) {
            if h.len() > b {
                h.sort_unstable();
                h.dedup();
            }
        }
    }
    let base = start as u32;
    hits.densify(base);
    let mut valid = [0u64; WORDS];
    for i in 0..end - start {
        set(&mut valid, i);
    }
    let mut sources: Vec<Option<Bits>> = Vec::with_capacity(plan.logsources.len());
    for e in &plan.logsources {
        let mut b = [0u64; WORDS];
        sources.push(eval(e, hits, base, &valid, &mut b).then_some(b));
    }
    let mut out = Vec::new();
    let mut acc = [0u64; WORDS];
    let mut t = [0u64; WORDS];
    for (r, (_, variants)) in plan.rules.iter().enumerate() {
        let mut found = false;
        for (ls, det) in variants {
            let care = match ls {
                None => &valid,
                Some(i) => match sources.get(*i as usize) {
                    Some(Some(b)) => b,
                    _ => continue,
                },
            };
            if eval(det, hits, base, care, &mut t) {
                if !found {
                    acc = [0; WORDS];
                    found = true;
                }
                for (a, x) in acc.iter_mut().zip(&t) {
                    *a |= x;
                }
            }
        }
        if found {
            for (w, &word) in acc.iter().enumerate() {
                let mut word = word;
                while word != 0 {
                    let bit = word.trailing_zeros() as usize;
                    out.push((base + (w * 64 + bit) as u32, r as u32));
                    word &= word - 1;
                }
            }
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
    let leaves = plan.leaves as usize;
    starts
        .into_par_iter()
        .map_init(
            || Hits::new(leaves),
            |hits, s| chunk(plan, &cols, hits, s, (s + CHUNK_ROWS).min(rows)),
        )
        .collect::<Vec<_>>()
        .concat()
}
