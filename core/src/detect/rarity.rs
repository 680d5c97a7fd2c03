//! Rarity detector: how surprising a categorical value (or combination) is given the
//! baseline's counts.

use std::collections::HashMap;

use arrow::array::{Array, RecordBatch};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Rarity detector over categorical columns and column combinations.
///
/// Fit: exact counts of every value of each combination (e.g. `["user"]`, `["user", "host"]`)
/// in the baseline; a null is a value of its own. Score of one combination:
/// surprisal = -ln P(value), with additive smoothing P = (count + alpha) / (total + alpha (V +
/// 1)), V the distinct values seen, so an unseen value gets the mass of one extra value.
/// Row score = the largest surprisal over the combinations (the rarest aspect of the row).
/// Explanation: each combination's surprisal, with the value that was scored.
///
/// Counts are exact (a hash map per combination), so memory grows with the baseline's
/// distinct values; they merge exactly across partitions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Rarity {
    /// Column combinations; each inner list is scored as one joint value.
    pub columns: Vec<Vec<String>>,
    /// Additive smoothing (> 0).
    pub alpha: f64,
    /// Combinations listed in each explanation.
    pub top_k: usize,
}

impl Default for Rarity {
    fn default() -> Self {
        Rarity {
            columns: Vec::new(),
            alpha: 1.0,
            top_k: 3,
        }
    }
}

impl Rarity {
    /// Rarity of each column alone.
    pub fn of(columns: &[&str]) -> Self {
        Rarity {
            columns: columns.iter().map(|c| vec![c.to_string()]).collect(),
            ..Default::default()
        }
    }

    /// Adds a combination of columns scored as one joint value.
    pub fn with_combination(mut self, columns: &[&str]) -> Self {
        self.columns
            .push(columns.iter().map(|c| c.to_string()).collect());
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.columns.is_empty() || self.columns.iter().any(|c| c.is_empty()) {
            return Err(Error::param(
                "columns",
                "rarity needs at least one non-empty column combination",
            ));
        }
        if !(self.alpha.is_finite() && self.alpha > 0.0) {
            return Err(Error::param("alpha", "must be finite and > 0"));
        }
        if self.top_k == 0 {
            return Err(Error::param("top_k", "must be at least 1"));
        }
        Ok(())
    }

    /// Counts the combinations' values over the baseline batches.
    pub fn fit(&self, baseline: &[RecordBatch]) -> Result<FittedRarity> {
        self.validate()?;
        let mut tables: Vec<HashMap<String, u64>> = vec![HashMap::new(); self.columns.len()];
        let mut totals = vec![0u64; self.columns.len()];
        for batch in baseline {
            for (c, cols) in self.columns.iter().enumerate() {
                for key in keys(batch, cols)? {
                    *tables[c].entry(key).or_default() += 1;
                    totals[c] += 1;
                }
            }
        }
        let counts = self
            .columns
            .iter()
            .zip(tables)
            .zip(totals)
            .map(|((cols, table), total)| {
                let mut values: Vec<(String, u64)> = table.into_iter().collect();
                values.sort();
                ValueCounts {
                    columns: cols.clone(),
                    total,
                    values,
                }
            })
            .collect();
        Ok(FittedRarity {
            params: self.clone(),
            counts,
        })
    }
}

/// Separates the parts of a combination's key (ASCII unit separator).
const SEP: char = '\u{1f}';
/// Stands for a null part of a key.
const NULL: &str = "\u{0}";

/// One key per row: the combination's values, formatted and joined.
fn keys(batch: &RecordBatch, columns: &[String]) -> Result<Vec<String>> {
    let opts = FormatOptions::default();
    let mut out = vec![String::new(); batch.num_rows()];
    for (p, name) in columns.iter().enumerate() {
        let col = crate::columns::column(batch, name)?;
        let fmt = ArrayFormatter::try_new(col.as_ref(), &opts)?;
        for (i, key) in out.iter_mut().enumerate() {
            if p > 0 {
                key.push(SEP);
            }
            if col.is_null(i) {
                key.push_str(NULL);
            } else {
                key.push_str(&fmt.value(i).to_string());
            }
        }
    }
    Ok(out)
}

/// A key as shown in explanations: parts joined by ", ", nulls as `null`.
fn display(key: &str) -> String {
    key.split(SEP)
        .map(|p| if p == NULL { "null" } else { p })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Surprisals (row-major), scored values (row-major) and row scores.
pub(crate) type RarityScores = (Vec<f32>, Vec<Option<String>>, Vec<f32>);

/// Baseline counts of one column combination.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValueCounts {
    /// The combination's columns.
    pub columns: Vec<String>,
    /// Baseline rows counted.
    pub total: u64,
    /// Each value seen (parts joined by U+001F, a null part as U+0000) and its count, sorted.
    pub values: Vec<(String, u64)>,
}

/// A fitted [`Rarity`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FittedRarity {
    /// The settings it was fitted with.
    pub params: Rarity,
    /// Counts per combination, in the order of `params.columns`.
    pub counts: Vec<ValueCounts>,
}

impl FittedRarity {
    /// Explanation item names: the combinations' columns joined by `+`.
    pub fn items(&self) -> Vec<String> {
        self.params.columns.iter().map(|c| c.join("+")).collect()
    }

    /// Per combination surprisals (row-major), the scored values, and row scores.
    pub(crate) fn score(&self, batch: &RecordBatch) -> Result<RarityScores> {
        let rows = batch.num_rows();
        let k = self.counts.len();
        let mut surprisal = vec![0f32; rows * k];
        let mut values = vec![None; rows * k];
        for (c, vc) in self.counts.iter().enumerate() {
            let table: HashMap<&str, u64> =
                vc.values.iter().map(|(v, n)| (v.as_str(), *n)).collect();
            let alpha = self.params.alpha;
            let denom = vc.total as f64 + alpha * (vc.values.len() as f64 + 1.0);
            for (i, key) in keys(batch, &vc.columns)?.into_iter().enumerate() {
                let n = table.get(key.as_str()).copied().unwrap_or(0) as f64;
                surprisal[i * k + c] = (-((n + alpha) / denom).ln()) as f32;
                values[i * k + c] = Some(display(&key));
            }
        }
        let scores = surprisal
            .chunks_exact(k.max(1))
            .map(|r| r.iter().copied().fold(f32::NEG_INFINITY, f32::max))
            .collect();
        Ok((surprisal, values, scores))
    }

    /// Merges counts fitted on two partitions of a baseline: exact.
    pub fn merge(&self, other: &FittedRarity) -> Result<FittedRarity> {
        if self.params != other.params {
            return Err(Error::param(
                "other",
                "the rarity models count different columns or use other settings",
            ));
        }
        let counts = self
            .counts
            .iter()
            .zip(&other.counts)
            .map(|(a, b)| {
                let mut table: HashMap<&str, u64> =
                    a.values.iter().map(|(v, n)| (v.as_str(), *n)).collect();
                for (v, n) in &b.values {
                    *table.entry(v.as_str()).or_default() += n;
                }
                let mut values: Vec<(String, u64)> =
                    table.into_iter().map(|(v, n)| (v.to_string(), n)).collect();
                values.sort();
                ValueCounts {
                    columns: a.columns.clone(),
                    total: a.total + b.total,
                    values,
                }
            })
            .collect();
        Ok(FittedRarity {
            params: self.params.clone(),
            counts,
        })
    }

    pub(crate) fn validate_shape(&self) -> Result<()> {
        self.params
            .validate()
            .map_err(|e| Error::Model(e.to_string()))?;
        if self.counts.len() != self.params.columns.len()
            || self
                .counts
                .iter()
                .zip(&self.params.columns)
                .any(|(c, cols)| &c.columns != cols)
        {
            return Err(Error::Model(
                "rarity: counts do not match the column combinations".into(),
            ));
        }
        for c in &self.counts {
            let sum = c
                .values
                .iter()
                .try_fold(0u64, |s, (_, n)| s.checked_add(*n));
            if sum != Some(c.total) {
                return Err(Error::Model(format!(
                    "rarity: the counts of {:?} do not add up to their total",
                    c.columns
                )));
            }
        }
        Ok(())
    }
}
