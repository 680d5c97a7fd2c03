//! Phase 2: the Drain-like parse tree (the token count, then the first `depth - 2` tokens,
//! then the most similar template in the leaf), its clusters, the merging of clusters that
//! share a constant skeleton (optional variables), and the output template of each cluster.

use super::mask::glob_params;
use super::{FnvMap, TemplateMiner, WILDCARD};

const MAX_CACHE: usize = 1 << 20;

#[derive(Clone, Debug, Default)]
pub(super) struct Node {
    pub(super) children: FnvMap<Box<str>, u32>,
    pub(super) clusters: Vec<u32>,
}

#[derive(Clone, Debug)]
pub(super) struct Cluster {
    pub(super) tokens: Vec<Box<str>>,
    /// Still in its tree leaf (false once merged into a sibling).
    pub(super) in_leaf: bool,
    /// Routing tokens from the token-count layer down to the leaf holding this cluster.
    pub(super) path: Vec<Box<str>>,
    pub(super) size: u64,
}

impl Cluster {
    pub(super) fn text(&self) -> String {
        self.tokens.join(" ")
    }
}

/// Splits a masked form into its skeleton (the tokens that are not bare `<*>`) and its gaps
/// (`gaps[i]`: a bare `<*>` stands before skeleton token `i`; `gaps[len]`: at the end).
fn split_form(form: &str) -> (Vec<&str>, Vec<bool>) {
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
fn generalises(general: &str, specific: &str) -> bool {
    general.contains(WILDCARD) && glob_params(general, specific, &mut Vec::new())
}

/// The template's tokens without bare wildcards, joined by spaces.
fn skeleton(tokens: &[Box<str>]) -> String {
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

fn has_digit_or_wild(t: &str) -> bool {
    t.bytes().any(|b| b.is_ascii_digit()) || t.contains(WILDCARD)
}

impl TemplateMiner {
    pub(super) fn child(&mut self, node: u32, key: &str) -> u32 {
        if let Some(&c) = self.nodes[node as usize].children.get(key) {
            return c;
        }
        let id = self.nodes.len() as u32;
        self.nodes.push(Node::default());
        self.nodes[node as usize].children.insert(key.into(), id);
        id
    }

    /// Routing tokens of a masked token sequence (Drain: the token count, then the first
    /// `depth - 2` tokens; tokens with digits or wildcards, and new tokens at a node that
    /// has `max_children - 1` children, route to the wildcard). Creates missing nodes.
    fn route(&mut self, toks: &[&str]) -> (u32, Vec<Box<str>>) {
        let len_key: Box<str> = toks.len().to_string().into();
        let mut node = self.child(0, &len_key);
        let mut path = vec![len_key];
        let levels = (self.config.depth - 2).min(toks.len());
        for t in toks.iter().take(levels) {
            let mut key: &str = if has_digit_or_wild(t) { WILDCARD } else { t };
            let n = &self.nodes[node as usize];
            if !n.children.contains_key(key) && n.children.len() + 1 >= self.config.max_children {
                key = WILDCARD;
            }
            node = self.child(node, key);
            path.push(key.into());
        }
        (node, path)
    }

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
    /// 1. The most similar cluster of the leaf (Drain's similarity: share of equal tokens,
    ///    at least `similarity`) among those *compatible* with the message: at every position
    ///    the tokens are equal, or one generalises the other (`<*>` matches anything,
    ///    `rhost=<*>` matches `rhost=10.0.0.1`'s masked form, ...). The template keeps the
    ///    more general token.
    /// 2. Else, clusters of the leaf that differ from the message in exactly one position,
    ///    where both have a plain word: when that position then holds at least
    ///    `min_variable_values` distinct words, it is a variable, and those clusters and the
    ///    message merge into one template with `<*>` there. Fewer distinct words (`root` /
    ///    `admin`, `HTTPS` / `SOCKS5`) are kept apart as distinct templates.
    /// 3. Else a new cluster. When an existing template has the same constant skeleton (the
    ///    tokens that are not a bare `<*>`), the new cluster is merged into it for output
    ///    (optional variables: `bytes sent` / `bytes (1.01 KB) sent`), but stays in its leaf
    ///    to match messages of its own length.
    pub(super) fn add_masked(&mut self, form: &str, weight: u64) -> u32 {
        let toks: Vec<&str> = form.split(' ').filter(|t| !t.is_empty()).collect();
        let (leaf, path) = self.route(&toks);
        let mut best: Option<(u32, f64, usize)> = None;
        for &c in &self.nodes[leaf as usize].clusters {
            let Some((sim, params)) = Self::similarity(&self.clusters[c as usize].tokens, &toks)
            else {
                continue;
            };
            if sim >= self.config.similarity
                && best.is_none_or(|(_, s, p)| sim > s || (sim == s && params > p))
            {
                best = Some((c, sim, params));
            }
        }
        if let Some((c, _, _)) = best {
            let cl = &mut self.clusters[c as usize];
            for (a, b) in cl.tokens.iter_mut().zip(&toks) {
                if &**a != *b && &**a != WILDCARD && generalises(b, a) {
                    *a = (*b).into();
                } else if &**a != *b && &**a != WILDCARD && !generalises(a, b) {
                    *a = WILDCARD.into();
                }
            }
            cl.size += weight;
            return c;
        }
        // Step 2: siblings differing in one position.
        let mut by_pos: FnvMap<usize, Vec<u32>> = FnvMap::default();
        for &c in &self.nodes[leaf as usize].clusters {
            let t = &self.clusters[c as usize].tokens;
            let mut diff = None;
            let mut ok = true;
            for (i, (a, b)) in t.iter().zip(&toks).enumerate() {
                if &**a == *b {
                    continue;
                }
                if diff.is_some() || a.contains(WILDCARD) || b.contains(WILDCARD) {
                    ok = false;
                    break;
                }
                diff = Some(i);
            }
            if let (true, Some(p)) = (ok, diff) {
                by_pos.entry(p).or_default().push(c);
            }
        }
        let mut positions: Vec<(usize, Vec<u32>)> = by_pos.into_iter().collect();
        positions.sort_by_key(|(p, cs)| (std::cmp::Reverse(cs.len()), *p));
        if let Some((p, cs)) = positions.into_iter().next()
            && cs.len() + 1 >= self.config.min_variable_values
        {
            let root = cs[0];
            let mut size = weight;
            for &c in &cs[1..] {
                size += std::mem::take(&mut self.clusters[c as usize].size);
                self.alias[c as usize] = self.resolve(root);
                self.clusters[c as usize].in_leaf = false;
            }
            let cl = &mut self.clusters[root as usize];
            cl.tokens[p] = WILDCARD.into();
            cl.size += size;
            let merged: Vec<u32> = cs[1..].to_vec();
            self.nodes[leaf as usize]
                .clusters
                .retain(|c| !merged.contains(c));
            return root;
        }
        self.push_cluster(&toks, path, weight, leaf)
    }

    fn push_cluster(&mut self, toks: &[&str], path: Vec<Box<str>>, size: u64, leaf: u32) -> u32 {
        let id = self.clusters.len() as u32;
        self.clusters.push(Cluster {
            tokens: toks.iter().map(|t| Box::from(*t)).collect(),
            in_leaf: true,
            path,
            size,
        });
        self.nodes[leaf as usize].clusters.push(id);
        self.alias.push(id);
        // Same constant skeleton as an existing template, with optional variables elsewhere
        // (`bytes sent` / `bytes (1.01 KB) sent`): the same template, whatever the length.
        let key = skeleton(&self.clusters[id as usize].tokens);
        match self.skeletons.get(&key) {
            Some(&r) if skeleton(&self.clusters[r as usize].tokens) == key => {
                self.alias[id as usize] = self.resolve(r);
            }
            _ => {
                self.skeletons.insert(key, id);
            }
        }
        id
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
        for (order, ids) in chunks {
            let mut map = Vec::with_capacity(order.len());
            for form in order {
                let c = match self.cache.get(form.as_str()) {
                    Some(&c) => c,
                    None => {
                        let c = self.add_masked(form, 0);
                        if self.cache.len() >= MAX_CACHE {
                            self.cache.clear();
                        }
                        self.cache.insert(form.as_str().into(), c);
                        c
                    }
                };
                map.push(c);
            }
            for &id in ids {
                if id == u32::MAX {
                    line_cluster.push(u32::MAX);
                } else {
                    let c = map[id as usize];
                    *weights.entry(c).or_default() += 1;
                    line_cluster.push(c);
                }
            }
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
