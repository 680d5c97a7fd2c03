//! Grouping of a chunk: each row's (entity, window index) entries, sorted into runs of one
//! group each, and the global group numbers that stay stable across chunks.

use std::collections::HashMap;

use arrow::buffer::NullBuffer;
use rayon::prelude::*;

use super::Window;
use crate::error::{Error, Result};

pub(super) type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// A group: (entity id, window index).
pub(super) type GroupKey = (u32, i64);

/// The groups seen so far, numbered in first-seen order.
#[derive(Default)]
pub(super) struct Groups {
    /// Key -> group; built only when a second chunk arrives (one chunk needs no lookup).
    number: Map<GroupKey, u32>,
    indexed: bool,
    /// Key of each group.
    pub(super) keys: Vec<GroupKey>,
}

impl Groups {
    /// Groups seen so far.
    pub(super) fn len(&self) -> usize {
        self.keys.len()
    }

    /// The global group of each key (distinct keys), numbering keys not seen before.
    fn number(&mut self, keys: Vec<GroupKey>) -> Vec<u32> {
        if self.keys.is_empty() {
            // First chunk: its groups are the first groups, in order.
            let group = (0..keys.len() as u32).collect();
            self.keys = keys;
            return group;
        }
        if !self.indexed {
            self.number.reserve(self.keys.len() + keys.len());
            for (g, &k) in self.keys.iter().enumerate() {
                self.number.insert(k, g as u32);
            }
            self.indexed = true;
        }
        let mut group = Vec::with_capacity(keys.len());
        for k in keys {
            let next = self.keys.len() as u32;
            let g = *self.number.entry(k).or_insert(next);
            if g == next {
                self.keys.push(k);
            }
            group.push(g);
        }
        group
    }
}

/// One chunk grouped: entries (row, window) sorted into runs of one group each.
pub(super) struct Grouped {
    /// Row of each sorted entry.
    pub(super) rows: Vec<u32>,
    /// Run boundaries into `rows` (runs + 1).
    pub(super) offsets: Vec<u32>,
    /// Global group of each run.
    pub(super) group: Vec<u32>,
    /// Run of the entry broadcast to each row (u32::MAX: no window, null time).
    pub(super) row_run: Vec<u32>,
}

impl Grouped {
    /// Number of runs.
    pub(super) fn runs(&self) -> usize {
        self.group.len()
    }

    /// Rows of run `r`.
    pub(super) fn run(&self, r: usize) -> &[u32] {
        &self.rows[self.offsets[r] as usize..self.offsets[r + 1] as usize]
    }

    /// Per row, the global group broadcast to it (None: null time).
    pub(super) fn row_groups(&self) -> Vec<Option<u32>> {
        self.row_run
            .iter()
            .map(|&r| (r != u32::MAX).then(|| self.group[r as usize]))
            .collect()
    }
}

/// (row, window) entries of a chunk, rows with a null time left out.
struct Entries {
    row: Vec<u32>,
    window: Vec<i64>,
    /// The entry broadcast to each row (u32::MAX: none).
    chosen: Vec<u32>,
}

/// Window entries of every row of a chunk (entity `ids` among `entities` so far, times `t`
/// in ns) grouped into runs of one (entity, window) each; groups not seen before join
/// `groups`. Tumbling windows and the whole input (one window per row) are grouped by a
/// hash (or direct-address) table and a counting sort, O(n); hopping windows by sorting.
pub(super) fn group(
    window: Window,
    entities: usize,
    ids: &[u32],
    t: &[i64],
    tnull: Option<&NullBuffer>,
    groups: &mut Groups,
) -> Result<Grouped> {
    match window {
        Window::Tumbling { every } => group_hashed(Some(every), entities, ids, t, tnull, groups),
        Window::Whole => group_hashed(None, entities, ids, t, tnull, groups),
        Window::Hopping { .. } => group_sorted(window, entities, ids, t, tnull, groups),
    }
}

/// One window per row (`every` = tumbling window length; None = the whole input): each row
/// gets a chunk-local group number (first-seen order) from a direct-address table over
/// (window, entity) when that space is small, else a hash table; rows are then placed into
/// runs by a stable counting sort on that number.
fn group_hashed(
    every: Option<i64>,
    entities: usize,
    ids: &[u32],
    t: &[i64],
    tnull: Option<&NullBuffer>,
    groups: &mut Groups,
) -> Result<Grouped> {
    let n = t.len();
    if n > u32::MAX as usize - 1 {
        return Err(Error::InvalidInput(
            "too many rows in one batch; use smaller batches".into(),
        ));
    }
    let valid = |i: usize| tnull.is_none_or(|nb| nb.is_valid(i));
    let win: Vec<i64> = match every {
        Some(e) => t
            .par_iter()
            .with_min_len(1 << 16)
            .map(|&x| x.div_euclid(e))
            .collect(),
        None => vec![0; n],
    };
    let (wmin, wmax) = (0..n)
        .into_par_iter()
        .with_min_len(1 << 16)
        .filter(|&i| valid(i))
        .map(|i| (win[i], win[i]))
        .reduce(|| (i64::MAX, i64::MIN), |a, b| (a.0.min(b.0), a.1.max(b.1)));
    let mut local = vec![u32::MAX; n];
    let mut keys: Vec<GroupKey> = Vec::new();
    let span = if wmin > wmax {
        0u128
    } else {
        (wmax as i128 - wmin as i128 + 1) as u128 * entities as u128
    };
    let dense_limit = (4 * n as u128).max(1 << 24);
    if span <= dense_limit {
        // Window-major slots: time-sorted rows touch one window's entities at a time.
        let mut slot = vec![u32::MAX; span as usize];
        for i in 0..n {
            if !valid(i) {
                continue;
            }
            let s = (win[i] - wmin) as usize * entities + ids[i] as usize;
            let mut g = slot[s];
            if g == u32::MAX {
                g = keys.len() as u32;
                slot[s] = g;
                keys.push((ids[i], win[i]));
            }
            local[i] = g;
        }
    } else {
        let mut map: Map<GroupKey, u32> = Map::default();
        for i in 0..n {
            if !valid(i) {
                continue;
            }
            let k = (ids[i], win[i]);
            let next = keys.len() as u32;
            let g = *map.entry(k).or_insert(next);
            if g == next {
                keys.push(k);
            }
            local[i] = g;
        }
    }
    drop(win);
    // Counting sort of the rows by local group: runs in first-seen order, rows in row order.
    let runs = keys.len();
    let mut offsets = vec![0u32; runs + 1];
    for &g in &local {
        if g != u32::MAX {
            offsets[g as usize + 1] += 1;
        }
    }
    for r in 0..runs {
        offsets[r + 1] += offsets[r];
    }
    let mut next = offsets.clone();
    let mut rows = vec![0u32; offsets[runs] as usize];
    for (i, &g) in local.iter().enumerate() {
        if g != u32::MAX {
            let p = &mut next[g as usize];
            rows[*p as usize] = i as u32;
            *p += 1;
        }
    }
    let group = groups.number(keys);
    Ok(Grouped {
        rows,
        offsets,
        group,
        row_run: local,
    })
}

/// Hopping windows: each row's entries (one per window holding it) sorted by (entity,
/// window) into runs.
fn group_sorted(
    window: Window,
    entities: usize,
    ids: &[u32],
    t: &[i64],
    tnull: Option<&NullBuffer>,
    groups: &mut Groups,
) -> Result<Grouped> {
    let Entries {
        row: ent_row,
        window: ent_win,
        chosen,
    } = entries(window, t, tnull)?;
    let m = ent_row.len();
    let key_of = |e: usize| (ids[ent_row[e] as usize], ent_win[e]);
    let order = sort_entries(&ent_win, entities, key_of);
    // Runs of equal (entity, window).
    let mut offsets = Vec::new();
    let mut run_key = Vec::new();
    let mut ent_run = vec![0u32; m];
    for (j, &e) in order.iter().enumerate() {
        let k = key_of(e as usize);
        if run_key.last() != Some(&k) {
            offsets.push(j as u32);
            run_key.push(k);
        }
        ent_run[e as usize] = (run_key.len() - 1) as u32;
    }
    offsets.push(m as u32);
    let group = groups.number(run_key);
    let rows: Vec<u32> = order.iter().map(|&e| ent_row[e as usize]).collect();
    let row_run = chosen
        .iter()
        .map(|&c| {
            if c == u32::MAX {
                c
            } else {
                ent_run[c as usize]
            }
        })
        .collect();
    Ok(Grouped {
        rows,
        offsets,
        group,
        row_run,
    })
}

/// The windows of every row with a time: one for tumbling windows and the whole input,
/// each window containing it for hopping ones.
fn entries(window: Window, t: &[i64], tnull: Option<&NullBuffer>) -> Result<Entries> {
    let n = t.len();
    let valid = |i: usize| tnull.is_none_or(|nb| nb.is_valid(i));
    let mut ent_row = Vec::with_capacity(n);
    let mut ent_win = Vec::with_capacity(n);
    let mut chosen = vec![u32::MAX; n];
    for i in 0..n {
        if !valid(i) {
            continue;
        }
        chosen[i] = ent_row.len() as u32;
        match window {
            Window::Tumbling { every } => {
                ent_row.push(i as u32);
                ent_win.push(t[i].div_euclid(every));
            }
            Window::Hopping { every, period } => {
                let lo = t[i].saturating_sub(period).div_euclid(every) + 1;
                let hi = t[i].div_euclid(every);
                for w in lo..=hi {
                    ent_row.push(i as u32);
                    ent_win.push(w);
                }
            }
            Window::Whole => {
                ent_row.push(i as u32);
                ent_win.push(0);
            }
        }
    }
    if ent_row.len() > u32::MAX as usize - 1 {
        return Err(Error::InvalidInput(
            "too many (row, window) entries in one batch; use smaller batches".into(),
        ));
    }
    Ok(Entries {
        row: ent_row,
        window: ent_win,
        chosen,
    })
}

/// Entry indices sorted by `key_of` (stable for equal keys): a counting sort on the dense
/// id `entity * windows + (window - first window)` when that space is small enough, else a
/// parallel sort.
fn sort_entries<F>(ent_win: &[i64], entities: usize, key_of: F) -> Vec<u32>
where
    F: Fn(usize) -> GroupKey + Send + Sync,
{
    let m = ent_win.len();
    let (wmin, wmax) = ent_win
        .iter()
        .fold((i64::MAX, i64::MIN), |(a, b), &w| (a.min(w), b.max(w)));
    let nk = entities as u128;
    let nw = if m == 0 {
        1
    } else {
        (wmax as i128 - wmin as i128 + 1) as u128
    };
    let dense_limit = (2 * m as u128).clamp(1 << 20, 1 << 31);
    if nk * nw > dense_limit {
        let mut o: Vec<u32> = (0..m as u32).collect();
        o.par_sort_by_key(|&e| key_of(e as usize));
        return o;
    }
    // Counting sort: O(n), stable.
    let size = (nk * nw) as usize;
    let gid: Vec<u32> = (0..m)
        .into_par_iter()
        .with_min_len(1 << 14)
        .map(|e| {
            let (k, w) = key_of(e);
            (k as u64 * nw as u64 + (w - wmin) as u64) as u32
        })
        .collect();
    let mut pos = vec![0u32; size + 1];
    for &x in &gid {
        pos[x as usize + 1] += 1;
    }
    for j in 0..size {
        pos[j + 1] += pos[j];
    }
    let mut o = vec![0u32; m];
    for (e, &x) in gid.iter().enumerate() {
        let p = &mut pos[x as usize];
        o[*p as usize] = e as u32;
        *p += 1;
    }
    o
}
