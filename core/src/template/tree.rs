//! Phase 2: clustering of masked forms. Among the clusters of a form's token count that
//! share a token at the same position with it (found through the index, `index.rs`):
//! Drain's most similar compatible template; else the merge of clusters that differ from
//! it in one place (a word variable, anywhere in the message); else a new cluster, merged
//! for output with a template of the same constant skeleton (optional variables).

use super::mask::glob_params;
use super::segment::is_unspaced;
use super::{FnvMap, TemplateMiner, WILDCARD};

/// Most cached forms (also at most twice `max_clusters`).
const MAX_CACHE: usize = 1 << 20;

#[derive(Clone, Debug)]
pub(super) struct Cluster {
    pub(super) tokens: Vec<Box<str>>,
    /// Live: in the index, matching messages (false once merged into another cluster or
    /// evicted).
    pub(super) in_leaf: bool,
    pub(super) size: u64,
    /// LRU tick of the last use of this template (roots only).
    pub(super) used: u64,
    /// Evicted by the cluster cap (dropped at the next compaction).
    pub(super) evicted: bool,
}

impl Cluster {
    pub(super) fn text(&self) -> String {
        self.tokens.join(" ")
    }
}

/// Splits a masked form into its skeleton (the tokens that are not bare `<*>`) and its gaps
/// (`gaps[i]`: a bare `<*>` stands before skeleton token `i`; `gaps[len]`: at the end).
pub(super) fn split_form(form: &str) -> (Vec<&str>, Vec<bool>) {
    let mut skel = Vec::new();
    let mut gaps = vec![false];
    for t in form.split(' ').filter(|t| !t.is_empty()) {
        if t == WILDCARD {
            if let Some(g) = gaps.last_mut() {
                *g = true;
            }
        } else {
            skel.push(t);
            gaps.push(false);
        }
    }
    (skel, gaps)
}

/// Whether the pattern `general` (with `<*>` wildcards, each standing for any text) matches the token `specific` (itself possibly with wildcards).
pub(super) fn generalises(general: &str, specific: &str) -> bool {
    general.contains(WILDCARD) && glob_params(general, specific, &mut Vec::new())
}

/// The template's tokens without bare wildcards, joined by spaces.
pub(super) fn skeleton(tokens: &[Box<str>]) -> String {
    let mut s = String::new();
    for t in tokens.iter().filter(|t| &***t != WILDCARD) {
        if !s.is_empty() {
            s.push(' ');
        }
        s.push_str(t);
    }
    s
}

/// The text of a skeleton with its optional variables.
pub(super) fn interleave(tokens: &[Box<str>], gaps: &[bool]) -> String {
    let mut out = String::new();
    for (i, g) in gaps.iter().enumerate() {
        if *g {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(WILDCARD);
        }
        if let Some(t) = tokens.get(i) {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(t);
        }
    }
    out
}

/// Most tokens of a script written without spaces one variable may span (a name of
/// several ideographs).
pub(super) const MAX_RUN: usize = 8;

pub(super) fn unspaced(t: &str) -> bool {
    t.chars().next().is_some_and(is_unspaced)
}

/// Places where template `t` does not generalise message `m` (same length), as runs
/// `a..=b`: one or two places, each one token, or a run of up to `MAX_RUN` plain tokens of
/// scripts written without spaces (a word of several ideographs), leaving at least one
/// position shared; else `None`.
fn places(t: &[Box<str>], m: &[&str]) -> Option<Places> {
    let mut runs: Places = Vec::new();
    let mut diff = 0usize;
    for (i, (a, b)) in t.iter().zip(m).enumerate() {
        if &**a == *b || generalises(a, b) {
            continue;
        }
        diff += 1;
        let joins = runs.last().is_some_and(|&(s, e)| {
            e + 1 == i
                && i - s < MAX_RUN
                && unspaced(a)
                && unspaced(b)
                && unspaced(&t[e])
                && unspaced(m[e])
        });
        if joins {
            if let Some(r) = runs.last_mut() {
                r.1 = i;
            }
        } else if runs.len() == 2 || runs.last().is_some_and(|&(_, e)| e + 1 == i) {
            // At most two places, with a constant between them (two adjacent words that
            // differ are another phrase, not two variables).
            return None;
        } else {
            runs.push((i, i));
        }
    }
    (!runs.is_empty() && diff < m.len()).then_some(runs)
}

/// Up to two places of a message, as runs of positions.
type Places = Vec<(usize, usize)>;

/// Whether template `g` generalises template `c` at every position (same length).
fn covers(g: &[Box<str>], c: &[Box<str>]) -> bool {
    g.len() == c.len() && g.iter().zip(c).all(|(a, b)| a == b || generalises(a, b))
}

impl TemplateMiner {
    /// Compares a template with a message's tokens: `None` when some position is
    /// incompatible (two different tokens neither of which generalises the other), else the
    /// share of equal tokens and how many positions the template has as wildcards.
    fn similarity(template: &[Box<str>], toks: &[&str]) -> Option<(f64, usize)> {
        let mut same = 0usize;
        let mut params = 0usize;
        for (a, b) in template.iter().zip(toks) {
            if &**a == *b {
                same += 1;
            } else if &**a == WILDCARD {
                params += 1;
            } else if !(generalises(a, b) || generalises(b, a)) {
                return None;
            }
        }
        Some((same as f64 / template.len().max(1) as f64, params))
    }

    /// Whether joining message `m` leaves template `t` a share of constant tokens of at
    /// least `similarity`, or no smaller than it had (a message whose first words mask to
    /// variables does not turn `iar <*> dear <*>` into `<*> <*> dear <*>`).
    fn keeps_constants(&self, t: &[Box<str>], m: &[&str]) -> bool {
        let before = t.iter().filter(|a| !a.contains(WILDCARD)).count();
        let after = t
            .iter()
            .zip(m)
            .filter(|(a, b)| !a.contains(WILDCARD) && !b.contains(WILDCARD))
            .count();
        after == before || after as f64 / t.len().max(1) as f64 >= self.config.similarity
    }

    /// The cluster `c` stands for now (clusters merged into another point to it).
    pub(crate) fn resolve(&self, mut c: u32) -> u32 {
        while let Some(&a) = self.alias.get(c as usize) {
            if a == c {
                break;
            }
            c = a;
        }
        c
    }

    /// Clusters one masked form with `weight` messages; returns its cluster index.
    ///
    /// Candidates: the live clusters with as many tokens that share a token at the same
    /// position (the index).
    /// 1. The most similar candidate (Drain's similarity: share of equal tokens, at least
    ///    `similarity`) among those *compatible* with the message: at every position the
    ///    tokens are equal, or one generalises the other (`<*>` matches anything,
    ///    `rhost=<*>` matches `rhost=10.0.0.1`'s masked form, ...). The template keeps the
    ///    more general token.
    /// 2. Else, candidates that generalise the message everywhere but in one place, where
    ///    both have a plain word (or a run of up to 8 ideographs, kana, ...: a word of a
    ///    script written without spaces), grouped by that place: when the largest group
    ///    and the message show at least `min_variable_values` distinct values there, it is
    ///    a variable, and they merge into one template with `<*>` there. Fewer distinct
    ///    words (`root` / `admin`, `in` / `out`) are kept apart as distinct templates. The
    ///    place may be any position, the first ones too, and a template that already has
    ///    a variable elsewhere joins (two word variables in one message merge).
    /// 3. Else a new cluster. When an existing template has the same constant skeleton (the
    ///    tokens that are not a bare `<*>`), the new cluster is merged into it for output
    ///    (optional variables: `bytes sent` / `bytes (1.01 KB) sent`), but stays live to
    ///    match messages of its own length.
    ///
    /// After a merge, the merged template absorbs every live cluster it generalises, and
    /// merges again with clusters differing from it in one place (the same rule as 2).
    pub(super) fn add_masked(&mut self, form: &str, weight: u64) -> u32 {
        let toks: Vec<&str> = form.split(' ').filter(|t| !t.is_empty()).collect();
        let cands = self.index.candidates(&toks);
        let mut best: Option<(u32, f64, usize)> = None;
        for &c in &cands {
            let t = &self.clusters[c as usize].tokens;
            let Some((sim, params)) = Self::similarity(t, &toks) else {
                continue;
            };
            if sim >= self.config.similarity
                && self.keeps_constants(t, &toks)
                && best.is_none_or(|(_, s, p)| sim > s || (sim == s && params > p))
            {
                best = Some((c, sim, params));
            }
        }
        if let Some((c, _, _)) = best {
            let old = self.clusters[c as usize].tokens.clone();
            let mut tokens = old.clone();
            for (a, b) in tokens.iter_mut().zip(&toks) {
                if &**a != *b && &**a != WILDCARD && generalises(b, a) {
                    *a = (*b).into();
                }
            }
            self.clusters[c as usize].size += weight;
            self.touch(c);
            if tokens != old {
                self.retemplate(c, tokens);
                return self.settle(c);
            }
            return c;
        }
        // Step 2: candidates differing in one or two places.
        let differ: Vec<(u32, Places)> = cands
            .iter()
            .filter_map(|&c| Some((c, places(&self.clusters[c as usize].tokens, &toks)?)))
            .collect();
        if let Some((group, tokens)) = self.best_group(differ, &toks) {
            let root = self.merge_group(&group, tokens);
            self.clusters[root as usize].size += weight;
            return self.settle(root);
        }
        let c = self.push_cluster(&toks, weight);
        self.touch(c);
        self.enforce_cap();
        c
    }

    /// Groups the candidates by the places where they differ from the message (a group of
    /// two places also holds the candidates differing in one of them) and returns the
    /// largest group (ties: the earliest places) in which every place, with the message,
    /// shows at least `min_variable_values` distinct values, and whose merged template
    /// keeps a share of constant tokens of at least `similarity` (what a message needs to
    /// join it: `onStandStepChanged <*>` and `theDayChanged <*>` never make `<*> <*>`).
    /// Returns the group and the merged tokens.
    fn best_group(
        &self,
        differ: Vec<(u32, Places)>,
        toks: &[&str],
    ) -> Option<(Vec<u32>, Vec<Box<str>>)> {
        let mut keys: Vec<&Places> = differ.iter().map(|(_, p)| p).collect();
        keys.sort_unstable();
        keys.dedup();
        let mut groups: Vec<(&Places, Vec<u32>)> = keys
            .into_iter()
            .map(|k| {
                let cs = differ
                    .iter()
                    .filter(|(_, p)| p.iter().all(|r| k.contains(r)))
                    .map(|(c, _)| *c)
                    .collect();
                (k, cs)
            })
            .collect();
        groups.sort_by(|x, y| y.1.len().cmp(&x.1.len()).then_with(|| x.0.cmp(y.0)));
        groups.into_iter().find_map(|(k, cs)| {
            for &(a, b) in k {
                let mut values: Vec<String> = cs
                    .iter()
                    .map(|&c| self.clusters[c as usize].tokens[a..=b].join(" "))
                    .collect();
                values.push(toks[a..=b].join(" "));
                values.sort_unstable();
                values.dedup();
                if values.len() < self.config.min_variable_values {
                    return None;
                }
            }
            let mut tokens: Vec<Box<str>> = toks.iter().map(|t| Box::from(*t)).collect();
            for &c in &cs {
                for (x, y) in tokens.iter_mut().zip(&self.clusters[c as usize].tokens) {
                    if x != y {
                        *x = if generalises(y, x) {
                            y.clone()
                        } else {
                            WILDCARD.into()
                        };
                    }
                }
            }
            for &(a, b) in k {
                for t in &mut tokens[a..=b] {
                    *t = WILDCARD.into();
                }
            }
            let constant = tokens.iter().filter(|t| !t.contains(WILDCARD)).count();
            (constant as f64 / tokens.len().max(1) as f64 >= self.config.similarity)
                .then_some((cs, tokens))
        })
    }

    /// Gives live cluster `c` new tokens (re-indexed).
    fn retemplate(&mut self, c: u32, tokens: Vec<Box<str>>) {
        let cl = &mut self.clusters[c as usize];
        if cl.in_leaf {
            self.index.remove(c, &cl.tokens);
            self.index.insert(c, &tokens);
        }
        cl.tokens = tokens;
        let key = skeleton(&self.clusters[c as usize].tokens);
        self.skeletons.entry(key).or_insert(c);
        if self.alias[c as usize] == c {
            self.adopt_stretched(c);
        }
    }

    /// Merges the live clusters `group` into the first of them, which takes `tokens`.
    fn merge_group(&mut self, group: &[u32], tokens: Vec<Box<str>>) -> u32 {
        let root = group.iter().copied().min().unwrap_or(0);
        self.detach(root);
        for &c in group {
            if c == root {
                continue;
            }
            self.detach(c);
            self.unlist(c);
            let size = std::mem::take(&mut self.clusters[c as usize].size);
            self.clusters[root as usize].size += size;
            self.alias[c as usize] = root;
            let mut moved = self.members.remove(&c).unwrap_or_default();
            for &m in &moved {
                self.alias[m as usize] = root;
            }
            moved.push(c);
            self.members.entry(root).or_default().extend(moved);
        }
        self.retemplate(root, tokens);
        let used = group
            .iter()
            .map(|&c| std::mem::take(&mut self.clusters[c as usize].used))
            .max()
            .unwrap_or(0);
        self.clusters[root as usize].used = used;
        self.touch(root);
        root
    }

    /// Makes `c` its own template again when it was merged for output into another one
    /// (same skeleton, another length).
    pub(super) fn detach(&mut self, c: u32) {
        let r = self.alias[c as usize];
        if r != c {
            if let Some(v) = self.members.get_mut(&r) {
                v.retain(|&m| m != c);
            }
            self.alias[c as usize] = c;
        }
    }

    /// After template `c` became more general: absorbs the live clusters it generalises,
    /// then merges it with clusters differing from it in one place, until nothing changes.
    /// Returns the surviving cluster.
    fn settle(&mut self, mut c: u32) -> u32 {
        loop {
            let tokens = self.clusters[c as usize].tokens.clone();
            // Absorb: clusters sharing every wildcard-free token of `c` that it generalises.
            let n = tokens.len();
            let list = tokens
                .iter()
                .enumerate()
                .filter(|(_, t)| !t.contains(WILDCARD))
                .min_by_key(|(i, t)| self.index.list_len(n, *i, t))
                .map(|(i, t)| self.index.list(n, i, t));
            let absorbed: Vec<u32> = list
                .map(|l| {
                    l.into_iter()
                        .filter(|&o| o != c && covers(&tokens, &self.clusters[o as usize].tokens))
                        .collect()
                })
                .unwrap_or_default();
            if !absorbed.is_empty() {
                let mut group = absorbed;
                group.push(c);
                c = self.merge_group(&group, tokens.clone());
            }
            // Merge again with clusters differing in one place.
            let toks: Vec<&str> = tokens.iter().map(|t| &**t).collect();
            let differ: Vec<(u32, Places)> = self
                .index
                .candidates(&toks)
                .into_iter()
                .filter(|&o| o != c)
                .filter_map(|o| Some((o, places(&self.clusters[o as usize].tokens, &toks)?)))
                .collect();
            let Some((mut group, merged)) = self.best_group(differ, &toks) else {
                return c;
            };
            group.push(c);
            c = self.merge_group(&group, merged);
        }
    }

    fn push_cluster(&mut self, toks: &[&str], size: u64) -> u32 {
        let id = self.clusters.len() as u32;
        let mut tokens: Vec<Box<str>> = toks.iter().map(|t| Box::from(*t)).collect();
        let key = skeleton(&tokens);
        let stretched = if self.skeletons.contains_key(&key) {
            None
        } else {
            self.stretch_match(&tokens)
        };
        if let Some((_, t)) = &stretched {
            tokens = t.clone();
        }
        self.index.insert(id, &tokens);
        self.live += 1;
        self.clusters.push(Cluster {
            tokens,
            in_leaf: true,
            size,
            used: 0,
            evicted: false,
        });
        self.alias.push(id);
        if let Some((r, _)) = stretched {
            self.alias[id as usize] = r;
            self.members.entry(r).or_default().push(id);
            return id;
        }
        // Same constant skeleton as an existing template, with optional variables elsewhere
        // (`bytes sent` / `bytes (1.01 KB) sent`): the same template, whatever the length.
        // (`key` is the skeleton of the new cluster's tokens: they were not stretched.)
        match self.skeletons.get(&key) {
            Some(&r)
                if !self.clusters[r as usize].evicted
                    && skeleton(&self.clusters[r as usize].tokens) == key =>
            {
                let r = self.resolve(r);
                self.alias[id as usize] = r;
                self.members.entry(r).or_default().push(id);
            }
            _ => {
                self.skeletons.insert(key, id);
            }
        }
        id
    }

    /// Output template of template `r` (a root): its skeleton with the union of the
    /// optional variables of the clusters merged into it that share its skeleton (the
    /// entry of `r` in [`output_templates`](Self::output_templates)).
    pub(super) fn output_template(&self, r: u32) -> (Vec<Box<str>>, Vec<bool>) {
        let form = self.clusters[r as usize].tokens.join(" ");
        let (sk, mut gaps) = split_form(&form);
        for &m in self.members.get(&r).map_or(&[][..], |v| v.as_slice()) {
            if m == r || self.resolve(m) != r {
                continue;
            }
            let other = self.clusters[m as usize].tokens.join(" ");
            let (sk2, gaps2) = split_form(&other);
            if sk2 == sk {
                for (g, h) in gaps.iter_mut().zip(gaps2) {
                    *g |= h;
                }
            }
        }
        (sk.into_iter().map(Box::from).collect(), gaps)
    }

    /// Output template of every live cluster: its skeleton with the union of the optional
    /// variables of the clusters merged into it that share its skeleton. Indexed by cluster;
    /// entries of merged clusters are those of their live cluster.
    pub(super) fn output_templates(&self) -> Vec<(Vec<Box<str>>, Vec<bool>)> {
        let mut out: Vec<(Vec<Box<str>>, Vec<bool>)> = self
            .clusters
            .iter()
            .map(|c| {
                let form = c.tokens.join(" ");
                let (sk, gaps) = split_form(&form);
                (sk.into_iter().map(Box::from).collect(), gaps)
            })
            .collect();
        for c in 0..self.clusters.len() {
            let r = self.resolve(c as u32) as usize;
            if r != c && out[c].0 == out[r].0 {
                let gaps = out[c].1.clone();
                for (g, h) in out[r].1.iter_mut().zip(gaps) {
                    *g |= h;
                }
            }
        }
        for c in 0..self.clusters.len() {
            let r = self.resolve(c as u32) as usize;
            if r != c {
                out[c] = out[r].clone();
            }
        }
        out
    }

    /// Phase 2 (serial): the forms of `chunks` (per chunk, its distinct masked forms and the
    /// form of each line, `u32::MAX` for a null line) not seen before go through the tree, in
    /// first-seen order, and each cluster grows by its lines. Returns each line's cluster as
    /// the tree placed it (not resolved), `u32::MAX` for a null line.
    pub(super) fn cluster_forms(
        &mut self,
        chunks: &[(Vec<String>, Vec<u32>)],
        n: usize,
    ) -> Vec<u32> {
        let mut line_cluster: Vec<u32> = Vec::with_capacity(n);
        let mut weights: FnvMap<u32, u64> = FnvMap::default();
        let max_cache = MAX_CACHE.min(2 * self.config.max_clusters).max(4096);
        for (order, ids) in chunks {
            // LRU ticks count lines: a template's last use is its last line so far.
            let base = self.lru.tick;
            // The line (1-based, over all calls) where each form first occurs in the chunk.
            let mut first = vec![0u64; order.len()];
            for (j, &id) in ids.iter().enumerate().rev() {
                if let Some(f) = first.get_mut(id as usize) {
                    *f = base + j as u64 + 1;
                }
            }
            let mut map = Vec::with_capacity(order.len());
            for (k, form) in order.iter().enumerate() {
                self.lru.tick = first[k];
                let cached = self.cache.get(form.as_str()).copied();
                let cached = cached.filter(|&c| !self.clusters[self.resolve(c) as usize].evicted);
                let c = match cached {
                    Some(c) => {
                        self.touch(c);
                        c
                    }
                    None => {
                        let c = self.add_masked(form, 0);
                        if self.cache.len() >= max_cache {
                            self.cache.clear();
                        }
                        self.cache.insert(form.as_str().into(), c);
                        c
                    }
                };
                map.push(c);
            }
            let mut last: FnvMap<u32, u64> = FnvMap::default();
            for (j, &id) in ids.iter().enumerate() {
                if id == u32::MAX {
                    line_cluster.push(u32::MAX);
                } else {
                    let c = map[id as usize];
                    *weights.entry(c).or_default() += 1;
                    last.insert(c, base + j as u64 + 1);
                    line_cluster.push(c);
                }
            }
            let mut last: Vec<(u64, u32)> = last.into_iter().map(|(c, t)| (t, c)).collect();
            last.sort_unstable();
            for (t, c) in last {
                self.touch_at(c, t);
            }
            self.lru.tick = base + ids.len() as u64;
        }
        for (c, w) in weights {
            // Merged-away clusters pass their messages on to the cluster they joined.
            let c = if self.clusters[c as usize].in_leaf {
                c
            } else {
                self.resolve(c)
            };
            self.clusters[c as usize].size += w;
        }
        line_cluster
    }
}
