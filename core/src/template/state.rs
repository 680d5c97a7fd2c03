//! The saved miner state: versioned JSON of the settings, the clusters (template, size,
//! merge target, last use) and the skeleton index, and its checked loading. Version 1
//! states (with a tree route per cluster, no last use) still load.

use serde::{Deserialize, Serialize};

use super::tree::Cluster;
use super::{
    MAX_STATE_BYTES, MAX_TOKENS, MinerConfig, STATE_FORMAT, STATE_VERSION, Segmenter, TemplateMiner,
};
use crate::error::{Error, Result};

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
    /// Version 1 only: the tree route (checked, then unused).
    #[serde(default, skip_serializing)]
    path: Option<Vec<String>>,
    size: u64,
    /// The cluster this one was merged into (itself while live); never after itself.
    alias: u32,
    /// Still live.
    in_leaf: bool,
    /// LRU tick of the last use (version 2).
    #[serde(default)]
    used: u64,
}

impl TemplateMiner {
    /// The state as versioned JSON (settings, templates, sizes, merges).
    pub fn to_json(&self) -> Result<String> {
        // Evicted clusters are left out; the others keep their order.
        let mut map = vec![u32::MAX; self.clusters.len()];
        let mut next = 0u32;
        for (c, cl) in self.clusters.iter().enumerate() {
            if !cl.evicted {
                map[c] = next;
                next += 1;
            }
        }
        let state = StateJson {
            format: STATE_FORMAT.into(),
            version: STATE_VERSION,
            config: self.config.clone(),
            clusters: self
                .clusters
                .iter()
                .zip(&self.alias)
                .filter(|(c, _)| !c.evicted)
                .map(|(c, &alias)| ClusterJson {
                    template: c.text(),
                    path: None,
                    size: c.size,
                    alias: map[alias as usize],
                    in_leaf: c.in_leaf,
                    used: c.used,
                })
                .collect(),
            skeletons: {
                let mut v: Vec<(String, u32)> = self
                    .skeletons
                    .iter()
                    .filter(|(_, v)| map[**v as usize] != u32::MAX)
                    .map(|(k, v)| (k.clone(), map[*v as usize]))
                    .collect();
                v.sort();
                v
            },
        };
        serde_json::to_string(&state).map_err(|e| Error::Model(e.to_string()))
    }

    /// Loads a state saved by [`to_json`](Self::to_json) (this version or version 1).
    /// Safe on untrusted input: plain data only, at most [`MAX_STATE_BYTES`], every field
    /// checked; errors, never panics.
    pub fn from_json(json: &str) -> Result<Self> {
        if json.len() > MAX_STATE_BYTES {
            return Err(Error::Model(format!(
                "miner state of {} bytes exceeds the limit of {MAX_STATE_BYTES}",
                json.len()
            )));
        }
        let mut state: StateJson =
            serde_json::from_str(json).map_err(|e| Error::Model(format!("miner state: {e}")))?;
        if state.format != STATE_FORMAT {
            return Err(Error::Model(format!(
                "format `{}` is not `{STATE_FORMAT}`",
                state.format
            )));
        }
        if !(1..=STATE_VERSION).contains(&state.version) {
            return Err(Error::Model(format!(
                "miner state version {} is not supported (this build reads 1 to {STATE_VERSION})",
                state.version
            )));
        }
        if state.version == 1 {
            // Version 1 split messages at white space only.
            state.config.segmenter = Segmenter::Whitespace;
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
            match (state.version, &c.path) {
                (1, Some(path)) => {
                    let levels = (m.config.depth - 2).min(toks.len());
                    if path.len() != levels + 1 || path[0] != toks.len().to_string() {
                        return Err(bad("route does not fit the template and depth"));
                    }
                }
                (1, None) => return Err(bad("a version 1 cluster needs its route")),
                (_, Some(_)) => return Err(bad("a route is a version 1 field")),
                _ => {}
            }
            let id = m.clusters.len() as u32;
            if c.alias > id {
                return Err(bad("merged into a later cluster"));
            }
            let tokens: Vec<Box<str>> = toks.iter().map(|t| Box::from(*t)).collect();
            if c.in_leaf {
                m.index.insert(id, &tokens);
                m.live += 1;
            }
            m.clusters.push(Cluster {
                tokens,
                in_leaf: c.in_leaf,
                size: c.size,
                used: c.used,
                evicted: false,
            });
            m.alias.push(c.alias);
        }
        // Merges point straight at their template.
        for c in 0..m.clusters.len() as u32 {
            let r = m.resolve(c);
            m.alias[c as usize] = r;
            if r != c {
                m.members.entry(r).or_default().push(c);
            }
        }
        for (k, v) in state.skeletons {
            if v as usize >= m.clusters.len() {
                return Err(Error::Model(format!(
                    "miner state: skeleton `{k}` names cluster {v}, past the last one"
                )));
            }
            m.skeletons.insert(k, v);
        }
        m.rebuild_lru();
        m.enforce_cap();
        Ok(m)
    }
}
