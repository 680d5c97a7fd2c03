//! Feature specs: what a user asks for ("entropy of `query`"), mapped onto kernels.
//! Each spec reads one input column and appends named output columns; nulls in the input
//! stay null in every output.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, FixedSizeListArray, Float32Array, RecordBatch,
    UInt32Array,
};
use arrow::buffer::{BooleanBuffer, NullBuffer};
use arrow::datatypes::{DataType, Field};
use serde::{Deserialize, Serialize};

use rayon::prelude::*;

use crate::columns::{STRING_TYPES, Strings, column, numeric_input};
use crate::engine::{Engine, NumericOp, StringOp};
use crate::error::{Error, Result};

mod char_lm;
mod domain;
mod outputs;

pub use char_lm::{NgramCounts, TextPart};
pub use domain::{DomainParts, parse_domain};
pub(crate) use outputs::compute_fused;

/// What a feature computes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum FeatureKind {
    /// Length in bytes (`_len_bytes`) and in Unicode code points (`_len_chars`), UInt32.
    Length,
    /// Shannon entropy of the bytes in bits (`_entropy`), Float32.
    Entropy,
    /// Ratios of ASCII digits, lowercase, uppercase, `.`, `-`, other punctuation, non-ASCII
    /// bytes and vowels to the byte length (Float32, 0 for an empty string); the longest run
    /// of ASCII consonants (UInt32; `y` counts as a consonant); a hex-only flag (Boolean).
    CharClasses,
    /// Signed hashed byte n-grams (`_ngram<n>`), `FixedSizeList<Float32, dims>`.
    Ngrams {
        /// n-gram length, 1..=5.
        n: u32,
        /// Buckets, a power of two from 2 to 65,536.
        dims: u32,
        /// Divide each vector by its L2 norm (zero vectors stay zero).
        normalize: bool,
    },
    /// `log(1 + x)` of a numeric column (`_log1p`), Float32; null for x <= -1.
    Log1p,
    /// `(x - mean) / std` of a numeric column (`_standardized`), Float32. Missing mean or std
    /// are fitted on the baseline (a constant baseline gets std 1).
    Standardize {
        /// Mean to subtract; fitted when `None`.
        mean: Option<f64>,
        /// Standard deviation to divide by (> 0); fitted when `None`.
        std: Option<f64>,
    },
    /// Public Suffix List split of a domain-name column ([`parse_domain`]): `_registrable`,
    /// `_suffix`, `_subdomain` (Utf8, not read by matrix detectors; `Rarity` can name them) and
    /// `_labels` (UInt32). An invalid name gives nulls.
    DomainParts,
    /// Mean, minimum and sum of the per-character natural-log probabilities (`_logprob_mean`,
    /// `_logprob_min`, `_logprob_sum`: the whole name's log-probability), Float32, under a character n-gram model with interpolated
    /// Witten-Bell smoothing, fitted on the baseline (see `NgramCounts`).
    NgramLogprob {
        /// Order of the model (characters of history + 1), 1..=6.
        n: u32,
        /// What the model reads of each string.
        #[serde(default)]
        part: TextPart,
        /// The fitted counts; fitted on the baseline when `None`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        model: Option<NgramCounts>,
    },
}

/// A feature of one input column.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Feature {
    /// Input column.
    pub column: String,
    /// What to compute.
    #[serde(flatten)]
    pub kind: FeatureKind,
    /// Prefix of the output column names; the column name when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

fn spec(column: &str, kind: FeatureKind) -> Feature {
    Feature {
        column: column.to_string(),
        kind,
        prefix: None,
    }
}

/// Byte and code-point length of a string column.
pub fn length(column: &str) -> Feature {
    spec(column, FeatureKind::Length)
}
/// Shannon entropy (bits) of a string column's bytes.
pub fn entropy(column: &str) -> Feature {
    spec(column, FeatureKind::Entropy)
}
/// Character-class ratios, longest consonant run and hex flag of a string column.
pub fn char_classes(column: &str) -> Feature {
    spec(column, FeatureKind::CharClasses)
}
/// Signed hashed byte n-grams of a string column into `dims` buckets (not normalised).
pub fn ngrams(column: &str, n: u32, dims: u32) -> Feature {
    spec(
        column,
        FeatureKind::Ngrams {
            n,
            dims,
            normalize: false,
        },
    )
}
/// `log1p` of a numeric column.
pub fn log1p(column: &str) -> Feature {
    spec(column, FeatureKind::Log1p)
}
/// Standardisation of a numeric column with mean and std fitted on the baseline.
pub fn standardize(column: &str) -> Feature {
    spec(
        column,
        FeatureKind::Standardize {
            mean: None,
            std: None,
        },
    )
}

/// Registrable domain, public suffix, subdomain and label count of a domain-name column.
pub fn domain_parts(column: &str) -> Feature {
    spec(column, FeatureKind::DomainParts)
}

/// Per-character log-probability (mean, minimum) of a string column under a character
/// n-gram model of order `n` fitted on the baseline, reading the whole string.
pub fn ngram_logprob(column: &str, n: u32) -> Feature {
    spec(
        column,
        FeatureKind::NgramLogprob {
            n,
            part: TextPart::Whole,
            model: None,
        },
    )
}

/// Names of the char-class ratio outputs, in kernel order.
const CLASS_RATIOS: [&str; 8] = [
    "digit_ratio",
    "lower_ratio",
    "upper_ratio",
    "dot_ratio",
    "dash_ratio",
    "punct_ratio",
    "non_ascii_ratio",
    "vowel_ratio",
];

impl Feature {
    /// Uses `prefix` instead of the column name in output column names.
    pub fn named(mut self, prefix: &str) -> Self {
        self.prefix = Some(prefix.to_string());
        self
    }

    /// L2-normalises n-gram vectors (no effect on other kinds).
    pub fn normalized(mut self) -> Self {
        if let FeatureKind::Ngrams { normalize, .. } = &mut self.kind {
            *normalize = true;
        }
        self
    }

    /// Makes an n-gram log-probability feature read `part` of each string (no effect on
    /// other kinds).
    pub fn reading(mut self, part: TextPart) -> Self {
        if let FeatureKind::NgramLogprob { part: p, .. } = &mut self.kind {
            *p = part;
        }
        self
    }

    /// Standardises with a given mean and std instead of fitting them (no effect on other kinds).
    pub fn with_mean_std(mut self, mean: f64, std: f64) -> Self {
        if let FeatureKind::Standardize { mean: m, std: s } = &mut self.kind {
            *m = Some(mean);
            *s = Some(std);
        }
        self
    }

    fn prefix(&self) -> &str {
        self.prefix.as_deref().unwrap_or(&self.column)
    }

    /// Checks parameters; called by the pipeline builder and when loading a model.
    pub fn validate(&self) -> Result<()> {
        match self.kind {
            FeatureKind::Ngrams { n, dims, .. } => {
                if !(1..=5).contains(&n) {
                    return Err(Error::param(
                        "n",
                        format!("n-gram length {n} is not in 1..=5"),
                    ));
                }
                if !(2..=65_536).contains(&dims) || !dims.is_power_of_two() {
                    return Err(Error::param(
                        "dims",
                        format!("{dims} is not a power of two in 2..=65536"),
                    ));
                }
            }
            FeatureKind::Standardize { mean, std } => {
                if mean.is_some_and(|m| !m.is_finite()) {
                    return Err(Error::param("mean", "must be finite"));
                }
                if std.is_some_and(|s| !(s.is_finite() && s > 0.0)) {
                    return Err(Error::param("std", "must be finite and > 0"));
                }
            }
            FeatureKind::NgramLogprob { n, ref model, .. } => {
                if !(1..=6).contains(&n) {
                    return Err(Error::param(
                        "n",
                        format!("n-gram order {n} is not in 1..=6"),
                    ));
                }
                if let Some(m) = model {
                    m.validate(n as usize)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Merges two fits of the same spec (n-gram counts add up; other kinds must be equal).
    pub(crate) fn merge(&self, other: &Feature) -> Result<Feature> {
        if self == other {
            return Ok(self.clone());
        }
        if let (
            FeatureKind::NgramLogprob {
                n,
                part,
                model: Some(a),
            },
            FeatureKind::NgramLogprob {
                n: n2,
                part: part2,
                model: Some(b),
            },
        ) = (&self.kind, &other.kind)
            && (n, part, &self.column, &self.prefix) == (n2, part2, &other.column, &other.prefix)
        {
            let mut out = self.clone();
            out.kind = FeatureKind::NgramLogprob {
                n: *n,
                part: *part,
                model: Some(a.merge(b)?),
            };
            return Ok(out);
        }
        Err(Error::param(
            "other",
            "the models were fitted by different pipelines",
        ))
    }

    /// The strings an n-gram model reads of `array` (`None` = null).
    fn lm_texts(&self, array: &dyn Array, part: TextPart) -> Result<Vec<Option<String>>> {
        // A dictionary is read as its values, row by row.
        let decoded;
        let array = if let DataType::Dictionary(..) = array.data_type() {
            decoded = arrow::compute::cast(array, &DataType::Utf8)?;
            decoded.as_ref()
        } else {
            array
        };
        let strings = Strings::new(array, &self.column)?;
        let nulls = array.logical_nulls();
        Ok((0..strings.len())
            .map(|i| {
                if nulls.as_ref().is_some_and(|n| n.is_null(i)) {
                    return None;
                }
                let text = String::from_utf8_lossy(strings.row(i));
                match part {
                    TextPart::Whole => Some(text.into_owned()),
                    TextPart::RegistrableLabel => parse_domain(&text).map(|p| {
                        p.registrable_label()
                            .map(String::from)
                            .unwrap_or_else(|| p.name.clone())
                    }),
                }
            })
            .collect())
    }

    /// Output columns, in order.
    pub fn output_fields(&self) -> Vec<Field> {
        let p = self.prefix();
        let f32f = |s: &str| Field::new(format!("{p}_{s}"), DataType::Float32, true);
        match &self.kind {
            FeatureKind::Length => vec![
                Field::new(format!("{p}_len_bytes"), DataType::UInt32, true),
                Field::new(format!("{p}_len_chars"), DataType::UInt32, true),
            ],
            FeatureKind::Entropy => vec![f32f("entropy")],
            FeatureKind::CharClasses => {
                let mut v: Vec<Field> = CLASS_RATIOS.iter().map(|s| f32f(s)).collect();
                v.push(Field::new(
                    format!("{p}_max_consonant_run"),
                    DataType::UInt32,
                    true,
                ));
                v.push(Field::new(format!("{p}_is_hex"), DataType::Boolean, true));
                v
            }
            FeatureKind::Ngrams { n, dims, .. } => vec![Field::new(
                format!("{p}_ngram{n}"),
                DataType::FixedSizeList(
                    Arc::new(Field::new("item", DataType::Float32, false)),
                    *dims as i32,
                ),
                true,
            )],
            FeatureKind::Log1p => vec![f32f("log1p")],
            FeatureKind::Standardize { .. } => vec![f32f("standardized")],
            FeatureKind::DomainParts => vec![
                Field::new(format!("{p}_registrable"), DataType::Utf8, true),
                Field::new(format!("{p}_suffix"), DataType::Utf8, true),
                Field::new(format!("{p}_subdomain"), DataType::Utf8, true),
                Field::new(format!("{p}_labels"), DataType::UInt32, true),
            ],
            FeatureKind::NgramLogprob { .. } => vec![
                f32f("logprob_mean"),
                f32f("logprob_min"),
                f32f("logprob_sum"),
            ],
        }
    }

    /// Names of the scalar features a detector sees (n-gram vectors expand to `name[i]`).
    pub fn detector_names(&self) -> Vec<String> {
        scalar_names(&self.output_fields())
    }

    fn is_numeric(&self) -> bool {
        matches!(
            self.kind,
            FeatureKind::Log1p | FeatureKind::Standardize { .. }
        )
    }

    /// Whether something (standardisation's mean or std) is still to be fitted.
    pub(crate) fn needs_fit(&self) -> bool {
        matches!(self.kind, FeatureKind::Standardize { mean, std } if mean.is_none() || std.is_none())
    }

    /// Fills in what is fitted on the baseline (standardisation's mean and std).
    pub(crate) fn fit(&self, baseline: &[RecordBatch]) -> Result<Feature> {
        if let FeatureKind::NgramLogprob {
            n,
            part,
            model: None,
        } = self.kind
        {
            let mut texts = Vec::new();
            for batch in baseline {
                texts.extend(self.lm_texts(column(batch, &self.column)?.as_ref(), part)?);
            }
            let counts = NgramCounts::fit(n as usize, texts.iter().flatten().map(String::as_str));
            let mut fitted = self.clone();
            fitted.kind = FeatureKind::NgramLogprob {
                n,
                part,
                model: Some(counts),
            };
            return Ok(fitted);
        }
        let FeatureKind::Standardize { mean, std } = self.kind else {
            return Ok(self.clone());
        };
        if mean.is_some() && std.is_some() {
            return Ok(self.clone());
        }
        let (mut n, mut sum, mut sum2) = (0u64, 0f64, 0f64);
        for batch in baseline {
            let (values, _) = numeric_input(batch, &self.column)?;
            for v in values.iter().filter(|v| !v.is_nan()) {
                let v = f64::from(*v);
                n += 1;
                sum += v;
                sum2 += v * v;
            }
        }
        if n == 0 {
            return Err(Error::InvalidInput(format!(
                "column `{}` has no finite value in the baseline, so standardize cannot fit a mean; give mean and std",
                self.column
            )));
        }
        let m = mean.unwrap_or(sum / n as f64);
        let var = (sum2 / n as f64 - (sum / n as f64).powi(2)).max(0.0);
        let s = std.unwrap_or(if var > 0.0 { var.sqrt() } else { 1.0 });
        let mut fitted = self.clone();
        fitted.kind = FeatureKind::Standardize {
            mean: Some(m),
            std: Some(s),
        };
        Ok(fitted)
    }

    /// Computes the output columns for `batch`.
    pub(crate) fn compute(&self, batch: &RecordBatch, engine: &Engine) -> Result<Vec<ArrayRef>> {
        self.compute_with(batch, engine, false)
    }

    /// Computes the output columns for `batch`; `baseline`: `batch` is part of the baseline
    /// this feature was fitted on, so a fitted model scores each row as held out (an n-gram
    /// model leaves the row's own n-grams out), as it will score rows it has not seen.
    pub(crate) fn compute_with(
        &self,
        batch: &RecordBatch,
        engine: &Engine,
        baseline: bool,
    ) -> Result<Vec<ArrayRef>> {
        if baseline && matches!(self.kind, FeatureKind::NgramLogprob { .. }) {
            return self.compute_strings(column(batch, &self.column)?.as_ref(), engine, true);
        }
        if self.is_numeric() {
            let (values, nulls) = numeric_input(batch, &self.column)?;
            let op = match self.kind {
                FeatureKind::Standardize {
                    mean: Some(m),
                    std: Some(s),
                } => NumericOp::Standardize {
                    mean: m as f32,
                    std: s as f32,
                },
                FeatureKind::Standardize { .. } => {
                    return Err(Error::InvalidInput(format!(
                        "standardize(`{}`) has no mean/std: fit the pipeline first",
                        self.column
                    )));
                }
                _ => NumericOp::Log1p,
            };
            let out = engine.numeric(op, &values)?;
            return Ok(vec![float_with_nan_as_null(out, nulls.as_ref())]);
        }
        let array = column(batch, &self.column)?;
        // A dictionary: compute on its (usually few) values, then gather by key.
        if let DataType::Dictionary(_, value_type) = array.data_type() {
            let dict = array
                .as_any_dictionary_opt()
                .ok_or_else(|| Error::WrongType {
                    column: self.column.clone(),
                    expected: STRING_TYPES.to_string(),
                    found: array.data_type().clone(),
                })?;
            if Strings::new(dict.values().as_ref(), &self.column).is_err() {
                return Err(Error::WrongType {
                    column: self.column.clone(),
                    expected: STRING_TYPES.to_string(),
                    found: DataType::Dictionary(Box::new(DataType::Int32), value_type.clone()),
                });
            }
            let per_value = self.compute_strings(dict.values().as_ref(), engine, false)?;
            let keys = dict.normalized_keys();
            let indices =
                arrow::array::UInt32Array::from_iter(keys.iter().enumerate().map(|(i, &k)| {
                    if array.is_null(i) {
                        None
                    } else {
                        Some(k as u32)
                    }
                }));
            return per_value
                .iter()
                .map(|a| arrow::compute::take(a.as_ref(), &indices, None).map_err(Error::from))
                .collect();
        }
        self.compute_strings(array.as_ref(), engine, false)
    }

    fn compute_strings(
        &self,
        array: &dyn Array,
        engine: &Engine,
        held_out: bool,
    ) -> Result<Vec<ArrayRef>> {
        let strings = Strings::new(array, &self.column)?;
        let nulls = array.logical_nulls();
        let rows = strings.len();
        match &self.kind {
            FeatureKind::DomainParts => return Ok(domain::compute(&strings, nulls)),
            FeatureKind::NgramLogprob { part, model, .. } => {
                let model = model.as_ref().ok_or_else(|| {
                    Error::InvalidInput(format!(
                        "ngram_logprob(`{}`) has no model: fit the pipeline first",
                        self.column
                    ))
                })?;
                let texts = self.lm_texts(array, *part)?;
                return Ok(char_lm::compute(&model.model(), &texts, held_out));
            }
            _ => {}
        }
        let op = match self.kind {
            FeatureKind::Length => StringOp::Length,
            FeatureKind::Entropy => StringOp::Entropy,
            FeatureKind::CharClasses => StringOp::CharClasses,
            FeatureKind::Ngrams { n, dims, .. } => StringOp::Ngrams { n, dims },
            _ => unreachable!("numeric kinds are handled by compute"),
        };
        if !matches!(op, StringOp::Ngrams { .. }) {
            let columns = engine.string_columns(op, &strings)?;
            return self.scalar_columns(columns, &strings, nulls, false);
        }
        let words = op.words();
        let out = engine.strings(op, &strings)?;
        // Output columns are assembled in parallel: one task per column.
        let column_of = |k: usize| -> Vec<u32> { (0..rows).map(|i| out[i * words + k]).collect() };
        let u32s =
            |v: Vec<u32>| -> ArrayRef { Arc::new(UInt32Array::new(v.into(), nulls.clone())) };
        Ok(match self.kind {
            FeatureKind::Length => {
                let (a, b) = rayon::join(|| column_of(0), || column_of(1));
                vec![u32s(a), u32s(b)]
            }
            FeatureKind::Entropy => {
                let values: Vec<f32> = out.iter().map(|&w| f32::from_bits(w)).collect();
                vec![Arc::new(Float32Array::new(values.into(), nulls))]
            }
            FeatureKind::CharClasses => {
                let lens: Vec<u32> = (0..rows)
                    .into_par_iter()
                    .map(|i| strings.row_len(i) as u32)
                    .collect();
                let mut v: Vec<ArrayRef> = (0..CLASS_RATIOS.len())
                    .into_par_iter()
                    .map(|k| {
                        let ratios: Vec<f32> = (0..rows)
                            .map(|i| {
                                if lens[i] == 0 {
                                    0.0
                                } else {
                                    out[i * words + k] as f32 / lens[i] as f32
                                }
                            })
                            .collect();
                        Arc::new(Float32Array::new(ratios.into(), nulls.clone())) as ArrayRef
                    })
                    .collect();
                v.push(u32s(column_of(8)));
                let hex = BooleanBuffer::from_iter((0..rows).map(|i| out[i * words + 9] != 0));
                v.push(Arc::new(BooleanArray::new(hex, nulls)));
                v
            }
            FeatureKind::Ngrams {
                dims, normalize, ..
            } => {
                let mut values: Vec<f32> = out.into_iter().map(f32::from_bits).collect();
                if normalize {
                    for row in values.chunks_mut(dims as usize) {
                        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
                        if norm > 0.0 {
                            row.iter_mut().for_each(|v| *v /= norm);
                        }
                    }
                }
                let item = Arc::new(Field::new("item", DataType::Float32, false));
                let values = Arc::new(Float32Array::from(values));
                vec![Arc::new(FixedSizeListArray::try_new(
                    item,
                    dims as i32,
                    values,
                    nulls,
                )?)]
            }
            _ => unreachable!("numeric kinds are handled by compute"),
        })
    }
}

/// Names of the scalar values of `fields` as a detector sees them: a `FixedSizeList` of `d`
/// values expands to `name[0]` .. `name[d-1]`.
pub(crate) fn scalar_names(fields: &[Field]) -> Vec<String> {
    let mut names = Vec::new();
    for f in fields {
        match f.data_type() {
            DataType::FixedSizeList(_, d) => {
                names.extend((0..*d).map(|i| format!("{}[{i}]", f.name())))
            }
            // Text outputs (domain parts) are for rarity and people, not for the matrix.
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {}
            _ => names.push(f.name().clone()),
        }
    }
    names
}

/// Float32 column where NaN (null input or out-of-domain result) becomes null.
fn float_with_nan_as_null(values: Vec<f32>, input_nulls: Option<&NullBuffer>) -> ArrayRef {
    let valid = NullBuffer::from_iter(values.iter().map(|v| !v.is_nan()));
    let nulls = NullBuffer::union(Some(&valid), input_nulls).filter(|n| n.null_count() > 0);
    Arc::new(Float32Array::new(values.into(), nulls))
}
