//! Isolation forest (Liu, Ting & Zhou 2008), fitted on the CPU, scored by a WGSL kernel.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::cpu::iforest::{Forest, Node};
use crate::engine::Engine;
use crate::engine::feature_columns::FeatureColumns;
use crate::error::{Error, Result};
use crate::rng::SplitMix64;

/// Isolation-forest detector.
///
/// Fit: `n_trees` trees, each on `max_samples` baseline rows drawn without replacement
/// (all rows when there are fewer), grown to depth ceil(log2(max_samples)) by splitting on a
/// random non-constant feature at a uniform random value between its minimum and maximum in
/// the node, as scikit-learn's `IsolationForest` does. Null features are replaced by their
/// baseline mean (for fitting and scoring).
///
/// Score: scikit-learn's `2^(-E[h(x)] / c(max_samples))` where h is the depth of the leaf
/// reached plus c(samples in that leaf), and c(n) the average path length of an unsuccessful
/// search in a binary search tree of n keys: in (0, 1], higher = more anomalous
/// (`score_samples` in scikit-learn returns its negation). Null when every feature is null.
///
/// Explanation: per feature, its share of the splits that isolated the row (mean over trees
/// of splits on the feature / splits on the path); shares of a row sum to 1. A feature that
/// isolates an outlier in a few splits gets a large share.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IsolationForest {
    /// Trees in the forest.
    pub n_trees: usize,
    /// Baseline rows drawn for each tree.
    pub max_samples: usize,
    /// Seed of the sampling and splits: equal seeds and data give equal forests.
    pub seed: u64,
    /// Features listed in each explanation.
    pub top_k: usize,
}

impl Default for IsolationForest {
    fn default() -> Self {
        IsolationForest {
            n_trees: 100,
            max_samples: 256,
            seed: 0,
            top_k: 3,
        }
    }
}

/// Largest number of trees a forest may hold (fit, merge or load).
pub const MAX_TREES: usize = 10_000;
/// Deepest tree a forest may hold: sample sizes up to 2^30.
const MAX_DEPTH: u32 = 30;
/// Most nodes a loaded forest may hold.
const MAX_NODES: usize = 1 << 26;

/// A fitted [`IsolationForest`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FittedIsolationForest {
    /// The settings it was fitted with.
    pub params: IsolationForest,
    /// Feature names, in matrix column order.
    pub features: Vec<String>,
    /// Rows each tree was grown on (the `c(n)` normaliser uses it).
    pub sample_size: usize,
    /// Per feature: sum of the baseline's non-null values (for the mean that replaces nulls).
    pub sums: Vec<f64>,
    /// Per feature: count of the baseline's non-null values.
    pub counts: Vec<u64>,
    /// Index of each tree's root in the node arrays.
    pub roots: Vec<u32>,
    /// Split feature per node, -1 for leaves.
    pub feature: Vec<i32>,
    /// Split value per node (`x <= threshold` goes left).
    pub threshold: Vec<f32>,
    /// Left child per node (right = left + 1); 0 for leaves.
    pub left: Vec<u32>,
    /// Leaf path length (depth + c(leaf samples)); 0 for internal nodes.
    pub value: Vec<f32>,
}

/// Average path length of an unsuccessful search in a binary search tree of `n` keys, as
/// scikit-learn computes it: 0 for n <= 1, 1 for n = 2, else 2 (ln(n-1) + Euler's gamma) -
/// 2 (n-1) / n.
pub fn average_path_length(n: usize) -> f64 {
    match n {
        0 | 1 => 0.0,
        2 => 1.0,
        n => {
            let n = n as f64;
            2.0 * ((n - 1.0).ln() + 0.577_215_664_901_532_9) - 2.0 * (n - 1.0) / n
        }
    }
}

impl IsolationForest {
    pub(crate) fn validate(&self) -> Result<()> {
        if self.n_trees == 0 || self.n_trees > MAX_TREES {
            return Err(Error::param(
                "n_trees",
                format!("{} is not in 1..={MAX_TREES}", self.n_trees),
            ));
        }
        if self.max_samples < 2 || self.max_samples > 1 << MAX_DEPTH {
            return Err(Error::param(
                "max_samples",
                format!("{} is not in 2..=2^{MAX_DEPTH}", self.max_samples),
            ));
        }
        if self.top_k == 0 {
            return Err(Error::param("top_k", "must be at least 1"));
        }
        Ok(())
    }

    /// Fits on a row-major matrix of `names.len()` features per row (NaN = null).
    pub fn fit(&self, names: &[String], x: &[f32]) -> Result<FittedIsolationForest> {
        self.validate()?;
        let f = names.len();
        let rows = x.len().checked_div(f).unwrap_or(0);
        let mut sums = vec![0f64; f];
        let mut counts = vec![0u64; f];
        if f > 0 {
            for r in x.chunks_exact(f) {
                for (j, &v) in r.iter().enumerate() {
                    if !v.is_nan() {
                        sums[j] += f64::from(v);
                        counts[j] += 1;
                    }
                }
            }
        }
        self.fit_with(names, rows, sums, counts, |idx, fill, out| {
            for &i in idx {
                out.extend(
                    x[i * f..(i + 1) * f]
                        .iter()
                        .zip(fill)
                        .map(|(&v, &m)| if v.is_nan() { m } else { v }),
                );
            }
        })
    }

    /// [`fit`](Self::fit) reading the baseline's columns where Arrow holds them: the same
    /// forest, without a row-major copy of the baseline.
    pub(crate) fn fit_columns(
        &self,
        names: &[String],
        columns: &FeatureColumns,
    ) -> Result<FittedIsolationForest> {
        self.validate()?;
        let (sums, counts) = columns.sums_and_counts();
        self.fit_with(names, columns.rows(), sums, counts, |idx, fill, out| {
            columns.gather(idx, fill, out)
        })
    }

    /// Grows the trees of a baseline of `rows` rows whose per-feature sums and counts of
    /// non-null values are given; `sample(rows, fill, out)` appends those rows row-major to
    /// `out`, nulls replaced by `fill`.
    fn fit_with(
        &self,
        names: &[String],
        rows: usize,
        sums: Vec<f64>,
        counts: Vec<u64>,
        sample: impl Fn(&[usize], &[f32], &mut Vec<f32>) + Sync,
    ) -> Result<FittedIsolationForest> {
        let f = names.len();
        if rows == 0 || f == 0 {
            return Err(Error::InvalidInput(
                "the baseline has no rows; an isolation forest needs at least one".into(),
            ));
        }
        if let Some(j) = counts.iter().position(|&c| c == 0) {
            return Err(Error::InvalidInput(format!(
                "feature `{}` is null in every baseline row, so it cannot be fitted; give a \
                 baseline where its column has values, or drop the feature",
                names[j]
            )));
        }
        let fill: Vec<f32> = sums
            .iter()
            .zip(&counts)
            .map(|(s, &c)| (s / c as f64) as f32)
            .collect();
        let sample_size = self.max_samples.min(rows);
        let depth_limit = (sample_size as f64).log2().ceil().max(1.0) as u32;
        let trees: Vec<Vec<Node>> = (0..self.n_trees)
            .into_par_iter()
            .map(|t| {
                let mut rng =
                    SplitMix64(self.seed ^ (t as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
                let idx = sample_without_replacement(&mut rng, rows, sample_size);
                let mut rows_of_tree = Vec::with_capacity(idx.len() * f);
                sample(&idx, &fill, &mut rows_of_tree);
                grow(&rows_of_tree, f, depth_limit, &mut rng)
            })
            .collect();
        let mut fitted = FittedIsolationForest {
            params: self.clone(),
            features: names.to_vec(),
            sample_size,
            sums,
            counts,
            roots: Vec::new(),
            feature: Vec::new(),
            threshold: Vec::new(),
            left: Vec::new(),
            value: Vec::new(),
        };
        for tree in trees {
            fitted.push_tree(&tree);
        }
        Ok(fitted)
    }
}

/// `k` distinct indices of `0..n` (Floyd's algorithm), in ascending order.
fn sample_without_replacement(rng: &mut SplitMix64, n: usize, k: usize) -> Vec<usize> {
    if k >= n {
        return (0..n).collect();
    }
    let mut chosen = std::collections::HashSet::with_capacity(k);
    for j in n - k..n {
        let t = rng.below(j + 1);
        if !chosen.insert(t) {
            chosen.insert(j);
        }
    }
    let mut v: Vec<usize> = chosen.into_iter().collect();
    v.sort_unstable();
    v
}

/// Grows one tree on `sample` (row-major, `f` features, no NaN); nodes in the kernel layout.
fn grow(sample: &[f32], f: usize, depth_limit: u32, rng: &mut SplitMix64) -> Vec<Node> {
    let n = sample.len() / f;
    let mut nodes = vec![Node::default()];
    // (node index, depth, rows of the node)
    let mut stack: Vec<(usize, u32, Vec<usize>)> = vec![(0, 0, (0..n).collect())];
    let mut order: Vec<usize> = (0..f).collect();
    while let Some((at, depth, rows)) = stack.pop() {
        let leaf = |nodes: &mut Vec<Node>| {
            nodes[at] = Node {
                feature: -1,
                threshold: 0.0,
                left: 0,
                value: depth as f32 + average_path_length(rows.len()) as f32,
            };
        };
        if depth >= depth_limit || rows.len() <= 1 {
            leaf(&mut nodes);
            continue;
        }
        // Features in random order; split on the first that is not constant in the node.
        for i in (1..f).rev() {
            order.swap(i, rng.below(i + 1));
        }
        let mut split = None;
        for &j in &order {
            let (lo, hi) = rows
                .iter()
                .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &r| {
                    let v = sample[r * f + j];
                    (lo.min(v), hi.max(v))
                });
            if lo < hi {
                let mut t = lo + (rng.unit() as f32) * (hi - lo);
                if t >= hi {
                    t = lo;
                }
                split = Some((j, t));
                break;
            }
        }
        let Some((j, t)) = split else {
            leaf(&mut nodes);
            continue;
        };
        let (l, r): (Vec<usize>, Vec<usize>) = rows.iter().partition(|&&i| sample[i * f + j] <= t);
        let left = nodes.len();
        nodes.push(Node::default());
        nodes.push(Node::default());
        nodes[at] = Node {
            feature: j as i32,
            threshold: t,
            left: left as u32,
            value: 0.0,
        };
        stack.push((left + 1, depth + 1, r));
        stack.push((left, depth + 1, l));
    }
    nodes
}

impl FittedIsolationForest {
    fn push_tree(&mut self, tree: &[Node]) {
        let base = self.feature.len() as u32;
        self.roots.push(base);
        for n in tree {
            self.feature.push(n.feature);
            self.threshold.push(n.threshold);
            self.left
                .push(if n.feature < 0 { 0 } else { n.left + base });
            self.value.push(n.value);
        }
    }

    /// Number of trees.
    pub fn n_trees(&self) -> usize {
        self.roots.len()
    }

    fn nodes(&self) -> Vec<Node> {
        (0..self.feature.len())
            .map(|i| Node {
                feature: self.feature[i],
                threshold: self.threshold[i],
                left: self.left[i],
                value: self.value[i],
            })
            .collect()
    }

    fn max_depth(&self) -> u32 {
        // Children come after parents, so one forward pass gives every node's depth.
        let mut depth = vec![0u32; self.feature.len()];
        let mut max = 0;
        for i in 0..self.feature.len() {
            if self.feature[i] >= 0 {
                let l = self.left[i] as usize;
                depth[l] = depth[i] + 1;
                depth[l + 1] = depth[i] + 1;
                max = max.max(depth[i] + 1);
            }
        }
        max
    }

    /// Baseline mean of each feature, which replaces nulls.
    pub fn fill(&self) -> Vec<f32> {
        self.sums
            .iter()
            .zip(&self.counts)
            .map(|(s, &c)| if c == 0 { 0.0 } else { (s / c as f64) as f32 })
            .collect()
    }

    /// Scores a row-major matrix: per-feature shares (row-major; empty unless `explain`) and
    /// one score per row.
    pub(crate) fn score(
        &self,
        engine: &Engine,
        x: &[f32],
        explain: bool,
    ) -> Result<(Vec<f32>, Vec<f32>)> {
        let (nodes, fill) = (self.nodes(), self.fill());
        let forest = self.kernel_forest(&nodes, &fill);
        engine.iforest(x, &forest, explain)
    }

    /// The forest as the kernels read it, over `nodes` and `fill` of this forest.
    fn kernel_forest<'a>(&'a self, nodes: &'a [Node], fill: &'a [f32]) -> Forest<'a> {
        Forest {
            nodes,
            roots: &self.roots,
            fill,
            max_depth: self.max_depth() + 1,
            c_norm: average_path_length(self.sample_size) as f32,
        }
    }

    /// Scores only (no shares) of `columns`, read where Arrow holds them: the same scores as
    /// [`score`](Self::score) on their row-major matrix.
    pub(crate) fn score_columns(
        &self,
        engine: &Engine,
        columns: &FeatureColumns,
    ) -> Result<Vec<f32>> {
        let (nodes, fill) = (self.nodes(), self.fill());
        let forest = self.kernel_forest(&nodes, &fill);
        engine.iforest_columns(columns, &forest)
    }

    /// Joins the trees of two forests fitted on the same features with the same sample size
    /// (e.g. on two partitions of a baseline); the null-filling means combine exactly.
    pub fn merge(&self, other: &FittedIsolationForest) -> Result<FittedIsolationForest> {
        if self.features != other.features {
            return Err(Error::param(
                "other",
                "the forests were fitted on different features",
            ));
        }
        if self.sample_size != other.sample_size {
            return Err(Error::param(
                "other",
                format!(
                    "the forests grew trees on {} and {} rows; their scores are not comparable",
                    self.sample_size, other.sample_size
                ),
            ));
        }
        if self.n_trees() + other.n_trees() > MAX_TREES {
            return Err(Error::param(
                "other",
                format!("the merged forest would exceed {MAX_TREES} trees"),
            ));
        }
        let mut out = self.clone();
        out.params.n_trees = self.n_trees() + other.n_trees();
        for (a, b) in out.sums.iter_mut().zip(&other.sums) {
            *a += b;
        }
        for (a, b) in out.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        let nodes = other.nodes();
        for (t, &root) in other.roots.iter().enumerate() {
            let end = other.roots.get(t + 1).map_or(nodes.len(), |&r| r as usize);
            let tree: Vec<Node> = nodes[root as usize..end]
                .iter()
                .map(|n| Node {
                    left: if n.feature < 0 { 0 } else { n.left - root },
                    ..*n
                })
                .collect();
            out.push_tree(&tree);
        }
        Ok(out)
    }

    /// Checks a loaded forest: every index in bounds, children after parents (so every walk
    /// ends), finite values, bounded size.
    pub(crate) fn validate_shape(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Model(format!("isolation_forest: {m}")));
        self.params
            .validate()
            .map_err(|e| Error::Model(e.to_string()))?;
        let f = self.features.len();
        let n = self.feature.len();
        if self.sums.len() != f || self.counts.len() != f {
            return bad(format!(
                "{f} features but {} sums and {} counts",
                self.sums.len(),
                self.counts.len()
            ));
        }
        if self.sums.iter().any(|s| !s.is_finite()) {
            return bad("sums must be finite".into());
        }
        if self.threshold.len() != n || self.left.len() != n || self.value.len() != n {
            return bad("node arrays differ in length".into());
        }
        if n > MAX_NODES {
            return bad(format!("{n} nodes exceed the limit of {MAX_NODES}"));
        }
        if self.roots.is_empty()
            || self.roots.len() > MAX_TREES
            || self.roots.len() != self.params.n_trees
        {
            return bad(format!(
                "{} roots for n_trees = {}",
                self.roots.len(),
                self.params.n_trees
            ));
        }
        if self.sample_size < 2 || self.sample_size > 1 << MAX_DEPTH {
            return bad(format!(
                "sample_size {} is not in 2..=2^{MAX_DEPTH}",
                self.sample_size
            ));
        }
        for (t, &root) in self.roots.iter().enumerate() {
            let end = self.roots.get(t + 1).map_or(n, |&r| r as usize);
            let root = root as usize;
            if root >= end || end > n || (t == 0 && root != 0) {
                return bad(format!("tree {t} has an invalid node range"));
            }
            for i in root..end {
                if self.feature[i] >= 0 {
                    let l = self.left[i] as usize;
                    if self.feature[i] as usize >= f || l <= i || l + 1 >= end {
                        return bad(format!("node {i} points outside its tree"));
                    }
                    if !self.threshold[i].is_finite() {
                        return bad(format!("node {i} has a non-finite threshold"));
                    }
                } else if self.feature[i] != -1
                    || !(self.value[i].is_finite() && self.value[i] >= 0.0)
                {
                    return bad(format!("leaf {i} is malformed"));
                }
            }
        }
        if self.max_depth() > MAX_DEPTH + 2 {
            return bad(format!("a tree is deeper than {}", MAX_DEPTH + 2));
        }
        Ok(())
    }
}
