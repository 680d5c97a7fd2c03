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
//!
//! Layout: this file holds the public API (settings, [`TemplateMiner`], [`Template`], ids,
//! output column names) and step 1's parallel driver; `mask` the masking of a message
//! (step 1), `tree` the parse tree and its clusters (step 2), `assign` the output columns
//! (step 3), `state` the saved JSON state, [`counts`] the template count vectors.

mod assign;
pub mod counts;
mod index;
mod mask;
mod names;
mod segment;
mod state;
mod stretch;
mod tree;
mod wide;

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use arrow::array::{Array, RecordBatch, StringArray};
use arrow::datatypes::Schema;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
pub(crate) use index::RandMap;
use index::{Index, Lru};
pub use mask::{MaskRule, Masks, WILDCARD};
use mask::{RuleBits, masked_form};
pub use segment::Segmenter;
use tree::{Cluster, interleave};

/// Output column: template id (UInt64, FNV-1a of the template text).
pub const TEMPLATE_ID: &str = "template_id";
/// Output column: template text (dictionary-encoded Utf8).
pub const TEMPLATE: &str = "template";
/// Output column: parameters, the text under each `<*>` (`List<Utf8>`).
pub const PARAMETERS: &str = "parameters";

/// Format tag of a saved miner state.
pub const STATE_FORMAT: &str = "vigil.template_miner";
/// Version of the saved miner state (version 1 states still load).
pub const STATE_VERSION: u32 = 2;
/// Largest miner state [`TemplateMiner::from_json`] accepts, in bytes.
pub const MAX_STATE_BYTES: usize = 256 << 20;
/// Most tokens a message may have to be clustered; longer messages are clustered on their
/// first `MAX_TOKENS` tokens plus one wildcard for the rest.
pub const MAX_TOKENS: usize = 512;
/// Rows per chunk of the parallel masking phase.
const PARSE_CHUNK_ROWS: usize = 16 * 1024;

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
    /// Depth of the parse tree as in Drain (state version 1), 3 to 16. Since version 2
    /// the miner searches all clusters of a message's token count through an index, so
    /// that variables in the first tokens merge; the setting is kept for compatibility.
    pub depth: usize,
    /// Least similarity (share of a template's tokens equal to the message's) to join a
    /// cluster, in (0, 1].
    pub similarity: f64,
    /// Most children of a tree node (state version 1); kept for compatibility, at least 2.
    pub max_children: usize,
    /// Distinct plain words one position must show before it becomes a variable (fewer
    /// distinct words there are kept as distinct templates). At least 2.
    pub min_variable_values: usize,
    /// Mask rules applied before clustering.
    pub masks: Masks,
    /// How text of scripts written without spaces (Chinese, Japanese, Thai, ...) is cut
    /// into tokens.
    pub segmenter: Segmenter,
    /// Most live clusters; past it the least recently used template is evicted (see
    /// [`TemplateMiner`]). At least 1.
    pub max_clusters: usize,
}

impl Default for MinerConfig {
    fn default() -> Self {
        MinerConfig {
            depth: 4,
            similarity: 0.5,
            max_children: 100,
            min_variable_values: 4,
            masks: Masks::default(),
            segmenter: Segmenter::default(),
            max_clusters: 100_000,
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
        if self.max_clusters < 1 {
            return Err(Error::param("max_clusters", "must be at least 1"));
        }
        Ok(())
    }
}

/// A template miner. Feed it messages with [`parse`](Self::parse); save and load its state
/// with [`to_json`](Self::to_json) / [`from_json`](Self::from_json); combine shards with
/// [`merge`](Self::merge).
///
/// At most [`MinerConfig::max_clusters`] clusters are live: when a new cluster makes one
/// too many, the least recently used template (by its last message) is evicted with the
/// clusters merged into it, as drain3's `max_clusters` does. Rows parsed before keep the
/// template they were given; later messages like it start a new template (with the same
/// text and id once it has seen them again). Maps keyed by message text use randomly
/// keyed hashers (no hash flooding); results never depend on the keys.
#[derive(Clone, Debug)]
pub struct TemplateMiner {
    config: MinerConfig,
    rules: RuleBits,
    clusters: Vec<Cluster>,
    /// `alias[c]`: the cluster `c` was merged into (`c` itself while it is a template of
    /// its own); `alias[c] <= c`.
    alias: Vec<u32>,
    /// Per template with clusters merged into it, those clusters.
    members: RandMap<u32, Vec<u32>>,
    /// Skeleton (template without bare `<*>`) → first cluster with it.
    skeletons: RandMap<String, u32>,
    /// Masked form → cluster, for forms already clustered.
    cache: RandMap<Box<str>, u32>,
    /// Live clusters by (token count, position, token).
    index: Index,
    /// Live clusters.
    live: usize,
    /// Evicted clusters not yet dropped.
    evicted: usize,
    lru: Lru,
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

fn get(a: &StringArray, i: usize) -> Option<&str> {
    a.is_valid(i).then(|| a.value(i))
}

/// Phase 1 (parallel): the masked form of every line of `strings`, deduplicated per chunk
/// of `chunk` rows: per chunk, its distinct forms in first-seen order and the index of each
/// line's form (`u32::MAX` for a null line).
fn distinct_forms(
    strings: &StringArray,
    rules: RuleBits,
    chunk: usize,
) -> Vec<(Vec<String>, Vec<u32>)> {
    let n = strings.len();
    (0..n.div_ceil(chunk))
        .into_par_iter()
        .map(|c| {
            let mut local: RandMap<String, u32> = RandMap::default();
            let mut order = Vec::new();
            let mut ids = Vec::with_capacity(chunk.min(n));
            let mut buf = String::new();
            for i in c * chunk..((c + 1) * chunk).min(n) {
                let Some(s) = get(strings, i) else {
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
        .collect()
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
            rules: RuleBits::of(&config.masks, config.segmenter),
            config,
            clusters: Vec::new(),
            alias: Vec::new(),
            members: RandMap::default(),
            skeletons: RandMap::default(),
            cache: RandMap::default(),
            index: Index::default(),
            live: 0,
            evicted: 0,
            lru: Lru::default(),
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
            .filter(|&i| self.alias[i] == i as u32 && !self.clusters[i].evicted)
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

    /// Parses `messages`: one row out per row in, with [`TEMPLATE_ID`], [`TEMPLATE`] and
    /// [`PARAMETERS`]; a null message gets nulls. Learns from the messages as it goes.
    pub fn parse(&mut self, messages: &dyn Array) -> Result<RecordBatch> {
        self.parse_column(messages, "message", PARSE_CHUNK_ROWS)
    }

    /// [`parse`](Self::parse) with phase 1 cut into chunks of `chunk` rows (tests check that
    /// the chunking does not change the result).
    #[doc(hidden)]
    pub fn parse_chunked(&mut self, messages: &dyn Array, chunk: usize) -> Result<RecordBatch> {
        self.parse_column(messages, "message", chunk)
    }

    /// Parses `messages`, the column `name` (named in type errors).
    fn parse_column(
        &mut self,
        messages: &dyn Array,
        name: &str,
        chunk: usize,
    ) -> Result<RecordBatch> {
        let strings = crate::columns::utf8(messages, name)?;
        // Phase 1 (parallel): masked forms, deduplicated per chunk in first-seen order.
        let chunks = distinct_forms(&strings, self.rules, chunk.max(1));
        // Phase 2 (serial): forms not seen before go through the tree, in first-seen order.
        let line_cluster = self.cluster_forms(&chunks, strings.len());
        // Phase 3 (parallel): final templates, ids and parameters per line.
        let out = self.assign(&strings, line_cluster);
        self.compact();
        out
    }

    /// `batch` with [`TEMPLATE_ID`], [`TEMPLATE`] and [`PARAMETERS`] of its `column` appended.
    pub fn parse_batch(&mut self, batch: &RecordBatch, column: &str) -> Result<RecordBatch> {
        let col = crate::columns::column(batch, column)?;
        let out = self.parse_column(col.as_ref(), column, PARSE_CHUNK_ROWS)?;
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
        self.compact();
        Ok(())
    }
}
