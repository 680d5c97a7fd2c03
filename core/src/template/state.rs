//! The saved miner state: versioned JSON of the settings, the clusters (template, tree
//! route, size, merge target) and the skeleton index, and its checked loading.

use serde::{Deserialize, Serialize};

use super::tree::Cluster;
use super::{MAX_STATE_BYTES, MAX_TOKENS, MinerConfig, STATE_FORMAT, STATE_VERSION, TemplateMiner};
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
    path: Vec<String>,
    size: u64,
    /// The cluster this one was merged into (itself while live); never after itself.
    alias: u32,
    /// Still in its tree leaf.
    in_leaf: bool,
}

impl TemplateMiner {
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
