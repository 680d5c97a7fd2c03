//! Log template mining: a Drain-like fixed-depth parse tree over masked tokens.
//!
//! How a batch of messages is parsed ([`TemplateMiner::parse`]):
//! 1. **Mask** (parallel, per line, pure): split at whitespace, replace variables by `<*>`
//!    ([`Masks`]). Lines with the same masked form are deduplicated; the distinct forms keep
//!    the order of their first occurrence, whichever chunk of the input saw them.
//! 2. **Cluster** (serial, CPU): the distinct masked forms, in that order, go through the
//!    Drain tree (token count, then the first `depth - 2` tokens, then the most similar
//!    template in the leaf). This step stays on the CPU: it is a sequence of dependent
//!    updates (each form can change the template the next one is compared with), and it only
//!    sees distinct masked forms, far fewer than lines. Templates with the same constant
//!    skeleton merge whatever their length (optional variables).
//! 3. **Assign** (parallel, per line): each line gets its cluster's final template, its
//!    template id and the parameters (the text under each `<*>`).
//!
//! Because step 1 is a pure per-line function and step 2 sees the same sequence whatever
//! the chunking, a parallel run gives exactly the result of a serial one.
//!
//! Template ids are a 64-bit FNV-1a hash of the template text: the same template gets the
//! same id on every machine and shard.

pub mod counts;
mod mask;

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, DictionaryArray, ListBuilder, RecordBatch, StringArray, StringBuilder,
    UInt64Array,
};
use arrow::datatypes::{DataType, Field, Int32Type, Schema};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
pub use mask::{MaskRule, Masks, WILDCARD};
use mask::{RuleBits, glob_params, mask_token};

/// Output column: template id (UInt64, FNV-1a of the template text).
pub const TEMPLATE_ID: &str = "template_id";
/// Output column: template text (dictionary-encoded Utf8).
pub const TEMPLATE: &str = "template";
/// Output column: parameters, the text under each `<*>` (List<Utf8>).
pub const PARAMETERS: &str = "parameters";

/// Format tag of a saved miner state.
pub const STATE_FORMAT: &str = "vigil.template_miner";
/// Version of the saved miner state.
pub const STATE_VERSION: u32 = 1;
/// Largest miner state [`TemplateMiner::from_json`] accepts, in bytes.
pub const MAX_STATE_BYTES: usize = 256 << 20;
/// Most tokens a message may have to be clustered; longer messages are clustered on their
/// first `MAX_TOKENS` tokens plus one wildcard for the rest.
pub const MAX_TOKENS: usize = 512;
const MAX_CACHE: usize = 1 << 20;

/// FNV-1a 64 hasher, for deterministic, fast in-process maps.
#[derive(Default, Clone, Copy)]
pub(crate) struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 { FNV_OFFSET } else { self.0 };
        for &b in bytes {
            h ^= b as u64;
            h = h.wrapping_mul(FNV_PRIME);
        }
        self.0 = h;
    }
}
pub(crate) type FnvMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv>>;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// The id of a template text: 64-bit FNV-1a of its UTF-8 bytes.
pub fn template_id(template: &str) -> u64 {
    let mut h = FNV_OFFSET;
    for &b in template.as_bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// Settings of a [`TemplateMiner`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MinerConfig {
    /// Depth of the parse tree as in Drain: the root, the token-count layer, `depth - 2`
    /// token layers. At least 3.
    pub depth: usize,
    /// Least similarity (share of a template's tokens equal to the message's) to join a
    /// cluster, in (0, 1].
    pub similarity: f64,
    /// Most children of a tree node before new tokens route to the wildcard child.
    pub max_children: usize,
    /// Distinct plain words one position must show before it becomes a variable (fewer
    /// distinct words there are kept as distinct templates). At least 2.
    pub min_variable_values: usize,
    /// Mask rules applied before clustering.
    pub masks: Masks,
}

impl Default for MinerConfig {
    fn default() -> Self {
        MinerConfig {
            depth: 4,
            similarity: 0.5,
            max_children: 100,
            min_variable_values: 4,
            masks: Masks::default(),
        }
    }
}

impl MinerConfig {
    fn validate(&self) -> Result<()> {
        if !(3..=16).contains(&self.depth) {
            return Err(Error::param("depth", "must be between 3 and 16"));
        }
        if !(self.similarity > 0.0 && self.similarity <= 1.0) {
            return Err(Error::param("similarity", "must be in (0, 1]"));
        }
        if self.min_variable_values < 2 {
            return Err(Error::param("min_variable_values", "must be at least 2"));
        }
        if self.max_children < 2 {
            return Err(Error::param("max_children", "must be at least 2"));
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Default)]
struct Node {
    children: FnvMap<Box<str>, u32>,
    clusters: Vec<u32>,
}

#[derive(Clone, Debug)]
struct Cluster {
    tokens: Vec<Box<str>>,
    /// Still in its tree leaf (false once merged into a sibling).
    in_leaf: bool,
    /// Routing tokens from the token-count layer down to the leaf holding this cluster.
    path: Vec<Box<str>>,
    size: u64,
}

impl Cluster {
    fn text(&self) -> String {
        self.tokens.join(" ")
    }
}

/// A template miner. Feed it messages with [`parse`](Self::parse); save and load its state
/// with [`to_json`](Self::to_json) / [`from_json`](Self::from_json); combine shards with
/// [`merge`](Self::merge).
#[derive(Clone, Debug)]
pub struct TemplateMiner {
    config: MinerConfig,
    rules: RuleBits,
    nodes: Vec<Node>,
    clusters: Vec<Cluster>,
    /// `alias[c]`: the cluster `c` was merged into (`c` itself while it is live); always
    /// `alias[c] <= c`.
    alias: Vec<u32>,
    /// Skeleton (template without bare `<*>`) → first cluster with it.
    skeletons: FnvMap<String, u32>,
    /// Masked form → cluster, for forms already clustered.
    cache: FnvMap<Box<str>, u32>,
}

/// One mined template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    /// FNV-1a 64 of `text`.
    pub id: u64,
    /// The template, tokens joined by one space, variables as `<*>`.
    pub text: String,
    /// Messages assigned to it so far.
    pub size: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateJson {
    format: String,
    version: u32,
    config: MinerConfig,
    clusters: Vec<ClusterJson>,
    /// (skeleton, first cluster with it), sorted.
    skeletons: Vec<(String, u32)>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClusterJson {
    template: String,
    path: Vec<String>,
    size: u64,
    /// The cluster this one was merged into (itself while live); never after itself.
    alias: u32,
    /// Still in its tree leaf.
    in_leaf: bool,
}

fn get(a: &StringArray, i: usize) -> Option<&str> {
    a.is_valid(i).then(|| a.value(i))
}

/// Splits a message at ASCII whitespace.
fn tokens(s: &str) -> impl Iterator<Item = &str> {
    s.split_ascii_whitespace()
}

/// The masked form of a message: masked tokens joined by one space (at most `MAX_TOKENS`
/// tokens, then one wildcard for the rest).
pub(crate) fn masked_form(s: &str, rules: RuleBits, out: &mut String) {
    masked_groups(s, rules, out, None);
}

/// Units that may follow a number and belong to it (`<1 sec`, `(1.01 KB)`).
const UNITS: &[&str] = &[
    "ns", "us", "ms", "s", "sec", "secs", "second", "seconds", "min", "mins", "minute", "minutes",
    "h", "hr", "hrs", "hour", "hours", "day", "days", "b", "kb", "mb", "gb", "tb", "kib", "mib",
    "gib", "tib", "%",
];

fn is_unit(t: &str) -> bool {
    let t = t.trim_end_matches([')', ']', '}', ',', ';', '.', ':']);
    !t.is_empty() && t.len() <= 7 && UNITS.iter().any(|u| u.eq_ignore_ascii_case(t))
}

/// Whether a masked token is a bare variable: `<*>`, or wildcards with punctuation only
/// (`<*>:<*>`, `(<*>)`, `[<*>]`, `<<*>`), or empty brackets (an empty variable).
fn is_bare(masked: &str) -> bool {
    if masked == WILDCARD || matches!(masked, "()" | "[]" | "{}") {
        return true;
    }
    masked.contains(WILDCARD)
        && !masked
            .split(WILDCARD)
            .any(|p| p.bytes().any(|b| b.is_ascii_alphanumeric() || b >= 0x80))
}

/// [`masked_form`], and optionally the byte range of `s` each form token covers. A token
/// that masks to variables and punctuation only (`<*>:<*>`, `(<*>`, `[<*>]`) or to empty
/// brackets becomes `<*>`, and a unit word right after it (`<1 sec`, `(1.01 KB)`) joins it. A
/// run of tokens that each mask to a plain `<*>` becomes one `<*>` (variable-length lists
/// such as several block ids, or a date), so the form does not depend on how many tokens such
/// a variable spans.
pub(crate) fn masked_groups(
    s: &str,
    rules: RuleBits,
    out: &mut String,
    mut groups: Option<&mut Vec<(usize, usize)>>,
) {
    out.clear();
    let base = s.as_ptr() as usize;
    let mut count = 0usize;
    let mut last_plain = false;
    let mut last_bare = false;
    for t in tokens(s) {
        let start = t.as_ptr() as usize - base;
        let end = start + t.len();
        if count == MAX_TOKENS {
            out.push(' ');
            out.push_str(WILDCARD);
            if let Some(g) = groups.as_deref_mut() {
                g.push((start, s.len()));
            }
            break;
        }
        let at = out.len();
        let sep = usize::from(count > 0);
        if count > 0 {
            out.push(' ');
        }
        mask_token(t, rules, out);
        let plain = &out[at + sep..] == WILDCARD;
        let bare = plain || is_bare(&out[at + sep..]);
        let absorb = (plain && last_plain) || (last_bare && !bare && is_unit(t));
        if absorb {
            out.truncate(at);
            if let Some(g) = groups.as_deref_mut()
                && let Some(last) = g.last_mut()
            {
                last.1 = end;
            }
            continue;
        }
        if bare && !plain {
            out.truncate(at + sep);
            out.push_str(WILDCARD);
        }
        last_plain = plain;
        last_bare = bare;
        count += 1;
        if let Some(g) = groups.as_deref_mut() {
            g.push((start, end));
        }
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

/// Appends the parameters of template token `t` over message text `orig`.
fn push_params<'a>(
    lb: &mut ListBuilder<StringBuilder>,
    t: &str,
    orig: &'a str,
    scratch: &mut Vec<&'a str>,
) {
    if t == orig {
        return;
    }
    if t == WILDCARD {
        lb.values().append_value(orig);
    } else {
        scratch.clear();
        glob_params(t, orig, scratch);
        for p in scratch.iter() {
            lb.values().append_value(p);
        }
    }
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
fn interleave(tokens: &[Box<str>], gaps: &[bool]) -> String {
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

impl Default for TemplateMiner {
    fn default() -> Self {
        // The default configuration is valid.
        Self::build(MinerConfig::default())
    }
}

impl TemplateMiner {
    /// A miner with `config`, or an error naming the invalid setting.
    pub fn new(config: MinerConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self::build(config))
    }

    fn build(config: MinerConfig) -> Self {
        TemplateMiner {
            rules: RuleBits::of(&config.masks),
            config,
            nodes: vec![Node::default()],
            clusters: Vec::new(),
            alias: Vec::new(),
            skeletons: FnvMap::default(),
            cache: FnvMap::default(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &MinerConfig {
        &self.config
    }

    /// Templates mined so far, in order of creation.
    pub fn templates(&self) -> Vec<Template> {
        let outs = self.output_templates();
        let mut sizes = vec![0u64; self.clusters.len()];
        for (c, cl) in self.clusters.iter().enumerate() {
            sizes[self.resolve(c as u32) as usize] += cl.size;
        }
        (0..self.clusters.len())
            .filter(|&i| self.alias[i] == i as u32)
            .map(|i| {
                let text = interleave(&outs[i].0, &outs[i].1);
                Template {
                    id: template_id(&text),
                    text,
                    size: sizes[i],
                }
            })
            .collect()
    }

    /// The masked form of `message` (what the tree clusters).
    pub fn mask(&self, message: &str) -> String {
        let mut s = String::new();
        masked_form(message, self.rules, &mut s);
        s
    }

    fn child(&mut self, node: u32, key: &str) -> u32 {
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
    fn add_masked(&mut self, form: &str, weight: u64) -> u32 {
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
    fn output_templates(&self) -> Vec<(Vec<Box<str>>, Vec<bool>)> {
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

    /// Parses `messages`: one row out per row in, with [`TEMPLATE_ID`], [`TEMPLATE`] and
    /// [`PARAMETERS`]; a null message gets nulls. Learns from the messages as it goes.
    pub fn parse(&mut self, messages: &dyn Array) -> Result<RecordBatch> {
        self.parse_chunked(messages, 16 * 1024)
    }

    /// [`parse`](Self::parse) with phase 1 cut into chunks of `chunk` rows (tests check that
    /// the chunking does not change the result).
    #[doc(hidden)]
    pub fn parse_chunked(&mut self, messages: &dyn Array, chunk: usize) -> Result<RecordBatch> {
        let strings = crate::logs::to_utf8(messages, "message")?;
        let n = strings.len();
        let chunk = chunk.max(1);
        // Phase 1 (parallel): masked forms, deduplicated per chunk in first-seen order.
        let rules = self.rules;
        let chunks: Vec<(Vec<String>, Vec<u32>)> = (0..n.div_ceil(chunk))
            .into_par_iter()
            .map(|c| {
                let mut local: FnvMap<String, u32> = FnvMap::default();
                let mut order = Vec::new();
                let mut ids = Vec::with_capacity(chunk.min(n));
                let mut buf = String::new();
                for i in c * chunk..((c + 1) * chunk).min(n) {
                    let Some(s) = get(&strings, i) else {
                        ids.push(u32::MAX);
                        continue;
                    };
                    masked_form(s, rules, &mut buf);
                    let id = match local.get(buf.as_str()) {
                        Some(&id) => id,
                        None => {
                            let id = order.len() as u32;
                            local.insert(buf.clone(), id);
                            order.push(buf.clone());
                            id
                        }
                    };
                    ids.push(id);
                }
                (order, ids)
            })
            .collect();
        // Phase 2 (serial): forms not seen before go through the tree, in first-seen order.
        let mut line_cluster: Vec<u32> = Vec::with_capacity(n);
        let mut weights: FnvMap<u32, u64> = FnvMap::default();
        for (order, ids) in &chunks {
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
        // Phase 3 (parallel): final templates, ids and parameters per line.
        let outs = self.output_templates();
        let texts: Vec<String> = outs.iter().map(|(t, g)| interleave(t, g)).collect();
        let line_cluster: Vec<u32> = line_cluster
            .into_iter()
            .map(|c| if c == u32::MAX { c } else { self.resolve(c) })
            .collect();
        let ids: Vec<u64> = texts.iter().map(|t| template_id(t)).collect();
        let template_ids: UInt64Array = line_cluster
            .iter()
            .map(|&c| (c != u32::MAX).then(|| ids[c as usize]))
            .collect();
        let keys: arrow::array::Int32Array = line_cluster
            .iter()
            .map(|&c| (c != u32::MAX).then_some(c as i32))
            .collect();
        let dict = DictionaryArray::<Int32Type>::try_new(
            keys,
            Arc::new(StringArray::from_iter_values(texts.iter())),
        )?;
        let clusters = &self.clusters;
        // Clusters whose output template is their own token list (no optional variables
        // merged in): parameters align token by token.
        let own: Vec<bool> = clusters
            .iter()
            .zip(&texts)
            .map(|(c, t)| c.tokens.join(" ") == *t)
            .collect();
        let outs = &outs;
        const OUT_CHUNK: usize = 8192;
        let parts: Vec<ArrayRef> = line_cluster
            .par_chunks(OUT_CHUNK)
            .enumerate()
            .map(|(k, cs)| {
                let mut lb = ListBuilder::new(StringBuilder::new());
                let mut groups = Vec::new();
                let mut buf = String::new();
                let mut scratch = Vec::new();
                for (j, &c) in cs.iter().enumerate() {
                    let (Some(s), Some(cl)) =
                        (get(&strings, k * OUT_CHUNK + j), clusters.get(c as usize))
                    else {
                        lb.append(false);
                        continue;
                    };
                    let plain = own[c as usize] && cl.tokens.len() == tokens(s).count();
                    if plain {
                        // Token i of the template covers whitespace token i of the message.
                        for (t, orig) in cl.tokens.iter().zip(tokens(s)) {
                            push_params(&mut lb, t, orig, &mut scratch);
                        }
                        lb.append(true);
                        continue;
                    }
                    // Otherwise the message's masked groups say what each token covers.
                    groups.clear();
                    masked_groups(s, rules, &mut buf, Some(&mut groups));
                    if own[c as usize] {
                        for (t, &(a, b)) in cl.tokens.iter().zip(&groups) {
                            push_params(&mut lb, t, s.get(a..b).unwrap_or_default(), &mut scratch);
                        }
                        lb.append(true);
                        continue;
                    }
                    // A template with optional variables: align skeletons, "" for an absent
                    // optional variable.
                    let (sk, gaps) = &outs[c as usize];
                    let mut gap_text: Vec<Option<&str>> = vec![None];
                    let mut skel_text: Vec<&str> = Vec::new();
                    for (f, &(a, b)) in buf.split(' ').zip(&groups) {
                        let text = s.get(a..b).unwrap_or_default();
                        if f == WILDCARD {
                            if let Some(g) = gap_text.last_mut() {
                                *g = Some(text);
                            }
                        } else {
                            skel_text.push(text);
                            gap_text.push(None);
                        }
                    }
                    for (i, has_gap) in gaps.iter().enumerate() {
                        if *has_gap {
                            lb.values()
                                .append_value(gap_text.get(i).copied().flatten().unwrap_or(""));
                        }
                        if let (Some(t), Some(orig)) = (sk.get(i), skel_text.get(i)) {
                            push_params(&mut lb, t, orig, &mut scratch);
                        }
                    }
                    lb.append(true);
                }
                Arc::new(lb.finish()) as ArrayRef
            })
            .collect();
        let refs: Vec<&dyn Array> = parts.iter().map(|a| a.as_ref()).collect();
        let params: ArrayRef = if refs.is_empty() {
            Arc::new(ListBuilder::new(StringBuilder::new()).finish())
        } else {
            arrow::compute::concat(&refs)?
        };
        let schema = Arc::new(Schema::new(vec![
            Field::new(TEMPLATE_ID, DataType::UInt64, true),
            Field::new(
                TEMPLATE,
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
                true,
            ),
            Field::new(PARAMETERS, params.data_type().clone(), true),
        ]));
        Ok(RecordBatch::try_new(
            schema,
            vec![Arc::new(template_ids), Arc::new(dict), params],
        )?)
    }

    /// `batch` with [`TEMPLATE_ID`], [`TEMPLATE`] and [`PARAMETERS`] of its `column` appended.
    pub fn parse_batch(&mut self, batch: &RecordBatch, column: &str) -> Result<RecordBatch> {
        let col = batch
            .column_by_name(column)
            .ok_or_else(|| Error::MissingColumn {
                column: column.to_string(),
                available: batch
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        let out = self.parse(col.as_ref())?;
        let mut fields: Vec<_> = batch.schema().fields().iter().cloned().collect();
        let mut cols = batch.columns().to_vec();
        for (f, c) in out.schema().fields().iter().zip(out.columns()) {
            if batch.column_by_name(f.name()).is_some() {
                return Err(Error::InvalidInput(format!(
                    "the input already has a column `{}`; rename it before parsing templates",
                    f.name()
                )));
            }
            fields.push(f.clone());
            cols.push(c.clone());
        }
        Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)?)
    }

    /// Adds every template of `other` (with its size) as if its messages came after this
    /// miner's: templates both miners know keep their text and id.
    pub fn merge(&mut self, other: &TemplateMiner) -> Result<()> {
        if other.config != self.config {
            return Err(Error::InvalidInput(
                "cannot merge miners with different settings".into(),
            ));
        }
        for c in &other.clusters {
            if !c.in_leaf {
                continue;
            }
            let form = c.text();
            self.add_masked(&form, c.size);
        }
        self.cache.clear();
        Ok(())
    }

    /// The state as versioned JSON (settings, templates, tree routes, sizes).
    pub fn to_json(&self) -> Result<String> {
        let state = StateJson {
            format: STATE_FORMAT.into(),
            version: STATE_VERSION,
            config: self.config.clone(),
            clusters: self
                .clusters
                .iter()
                .zip(&self.alias)
                .map(|(c, &alias)| ClusterJson {
                    template: c.text(),
                    path: c.path.iter().map(|p| p.to_string()).collect(),
                    size: c.size,
                    alias,
                    in_leaf: c.in_leaf,
                })
                .collect(),
            skeletons: {
                let mut v: Vec<(String, u32)> = self
                    .skeletons
                    .iter()
                    .map(|(k, v)| (k.clone(), *v))
                    .collect();
                v.sort();
                v
            },
        };
        serde_json::to_string(&state).map_err(|e| Error::Model(e.to_string()))
    }

    /// Loads a state saved by [`to_json`](Self::to_json). Safe on untrusted input: plain
    /// data only, at most [`MAX_STATE_BYTES`], every field checked; errors, never panics.
    pub fn from_json(json: &str) -> Result<Self> {
        if json.len() > MAX_STATE_BYTES {
            return Err(Error::Model(format!(
                "miner state of {} bytes exceeds the limit of {MAX_STATE_BYTES}",
                json.len()
            )));
        }
        let state: StateJson =
            serde_json::from_str(json).map_err(|e| Error::Model(format!("miner state: {e}")))?;
        if state.format != STATE_FORMAT {
            return Err(Error::Model(format!(
                "format `{}` is not `{STATE_FORMAT}`",
                state.format
            )));
        }
        if state.version != STATE_VERSION {
            return Err(Error::Model(format!(
                "miner state version {} is not supported (this build reads {STATE_VERSION})",
                state.version
            )));
        }
        state
            .config
            .validate()
            .map_err(|e| Error::Model(format!("miner state settings: {e}")))?;
        let mut m = Self::build(state.config);
        for (i, c) in state.clusters.into_iter().enumerate() {
            // An empty message makes a template of no tokens.
            let toks: Vec<&str> = if c.template.is_empty() {
                Vec::new()
            } else {
                c.template.split(' ').collect()
            };
            let bad = |why: &str| Error::Model(format!("miner state cluster {i}: {why}"));
            if toks.len() > MAX_TOKENS + 1 || toks.iter().any(|t| t.is_empty()) {
                return Err(bad(
                    "template must be 1 to 513 tokens separated by single spaces",
                ));
            }
            let levels = (m.config.depth - 2).min(toks.len());
            if c.path.len() != levels + 1 || c.path[0] != toks.len().to_string() {
                return Err(bad("route does not fit the template and depth"));
            }
            let mut node = 0u32;
            for key in &c.path {
                node = m.child(node, key);
            }
            if m.nodes[node as usize].children.len() > m.config.max_children {
                return Err(bad("too many children"));
            }
            let id = m.clusters.len() as u32;
            if c.alias > id {
                return Err(bad("merged into a later cluster"));
            }
            m.clusters.push(Cluster {
                tokens: toks.iter().map(|t| Box::from(*t)).collect(),
                in_leaf: c.in_leaf,
                path: c.path.into_iter().map(Box::from).collect(),
                size: c.size,
            });
            if c.in_leaf {
                m.nodes[node as usize].clusters.push(id);
            }
            m.alias.push(c.alias);
        }
        for (k, v) in state.skeletons {
            if v as usize >= m.clusters.len() {
                return Err(Error::Model(format!(
                    "miner state: skeleton `{k}` names cluster {v}, past the last one"
                )));
            }
            m.skeletons.insert(k, v);
        }
        Ok(m)
    }
}
