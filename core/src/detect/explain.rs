//! What a detector returns for a batch: scores, per-item contributions, and the
//! `explanation` column built from a row's largest contributions.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, DictionaryArray, Float32Array, Int32Array, ListArray, StringArray, StructArray,
};
use arrow::buffer::{NullBuffer, OffsetBuffer};
use arrow::datatypes::{DataType, Field, Fields, Int32Type};

/// What a detector returns for a batch.
#[derive(Clone, Debug, PartialEq)]
pub struct Scores {
    /// One score per row, higher = more anomalous; NaN when the row could not be scored.
    pub scores: Vec<f32>,
    /// Row-major: for each row, one contribution per item of `items`.
    pub contributions: Vec<f32>,
    /// What each contribution refers to (a feature, or for rarity a column combination).
    pub items: Vec<String>,
    /// For rarity, row-major like `contributions`: the value that was scored.
    pub values: Option<Vec<Option<String>>>,
}

/// Which scored rows of a pipeline's output get an `explanation`.
///
/// Explanations are what analysts read for alerts: by default only alert rows get one and
/// every other row's `explanation` is null, so scoring costs little beside the features.
/// An alert row's explanation is the same whichever is chosen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExplainRows {
    /// Only rows whose `alert` is true (the default); other rows get a null explanation.
    #[default]
    Alerts,
    /// Every scored row (a list per row: costs more than the score itself on large tables).
    All,
}

impl ExplainRows {
    /// Parses `"alerts"` or `"all"` (the names the Python API takes).
    pub fn parse(name: &str) -> crate::Result<Self> {
        match name {
            "alerts" => Ok(ExplainRows::Alerts),
            "all" => Ok(ExplainRows::All),
            other => Err(crate::Error::param(
                "explain",
                format!("`{other}` is not one of \"alerts\" (the default) or \"all\""),
            )),
        }
    }
}

impl Scores {
    /// Drops the contributions unless `explain`.
    pub(super) fn explained(self, explain: bool) -> Scores {
        if explain {
            return self;
        }
        Scores {
            scores: self.scores,
            contributions: Vec::new(),
            items: Vec::new(),
            values: None,
        }
    }

    /// The `score` column: Float32, null where a row could not be scored.
    pub fn score_array(&self) -> Float32Array {
        let nulls = NullBuffer::from_iter(self.scores.iter().map(|s| !s.is_nan()));
        let nulls = Some(nulls).filter(|n| n.null_count() > 0);
        let values: Vec<f32> = self
            .scores
            .iter()
            .map(|&s| if s.is_nan() { 0.0 } else { s })
            .collect();
        Float32Array::new(values.into(), nulls)
    }

    /// The `explanation` column: per scored row, its `top_k` items by |contribution| as
    /// `List<Struct<feature: Dictionary<Int32, Utf8>, contribution: Float32, value: Utf8>>`
    /// (null when unscored).
    pub fn explanation_array(&self, top_k: usize) -> ListArray {
        let rows: Vec<usize> = (0..self.scores.len()).collect();
        self.explanation_array_at(top_k, &rows, self.scores.len())
    }

    /// The `explanation` column of a table of `len` rows of which `self` scored only `rows`
    /// (`self`'s row `r` is the table's row `rows[r]`, each below `len`): those rows get
    /// their explanation as in [`explanation_array`](Self::explanation_array), every other
    /// row (and every row beyond `self`'s) is null.
    pub fn explanation_array_at(&self, top_k: usize, rows: &[usize], len: usize) -> ListArray {
        let width = self.items.len();
        let mut lengths = vec![0usize; len];
        let mut valid = vec![false; len];
        let mut keys = Vec::new();
        let mut contribution = Vec::new();
        let mut value: Vec<Option<&str>> = Vec::new();
        let mut order = Vec::with_capacity(width);
        for (r, (&row, &s)) in rows.iter().zip(&self.scores).enumerate() {
            if s.is_nan() || row >= len {
                continue;
            }
            let c = self
                .contributions
                .get(r * width..(r + 1) * width)
                .unwrap_or_default();
            top_items(c, top_k, &mut order);
            valid[row] = true;
            lengths[row] = order.len();
            for &j in &order {
                keys.push(j as i32);
                contribution.push(c[j]);
                value.push(
                    self.values
                        .as_ref()
                        .and_then(|v| v.get(r * width + j))
                        .and_then(|v| v.as_deref()),
                );
            }
        }
        let names = StringArray::from_iter_values(&self.items);
        // Every key is an index of `items` (`top_items` returns indices of `c`, which has `width` entries).
        let feature = DictionaryArray::<Int32Type>::new(Int32Array::from(keys), Arc::new(names));
        let columns: Vec<ArrayRef> = vec![
            Arc::new(feature),
            Arc::new(Float32Array::from(contribution)),
            Arc::new(StringArray::from(value)),
        ];
        let items = StructArray::new(explanation_fields(), columns, None);
        ListArray::new(
            item_field(),
            OffsetBuffer::from_lengths(lengths),
            Arc::new(items),
            Some(NullBuffer::from(valid)).filter(|n| n.null_count() > 0),
        )
    }
}

/// Fields of one explanation item: `feature` (dictionary-encoded name), `contribution`,
/// `value`.
fn explanation_fields() -> Fields {
    Fields::from(vec![
        Field::new(
            "feature",
            DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
            false,
        ),
        Field::new("contribution", DataType::Float32, false),
        Field::new("value", DataType::Utf8, true),
    ])
}

/// The list item field of the `explanation` column: `item`, a nullable struct of
/// [`explanation_fields`].
fn item_field() -> Arc<Field> {
    Arc::new(Field::new(
        "item",
        DataType::Struct(explanation_fields()),
        true,
    ))
}

/// Type of the `explanation` column.
pub fn explanation_type() -> DataType {
    DataType::List(item_field())
}

/// Into `idx`: indices of the `k` largest |contribution| of one row (NaN and 0 skipped,
/// ties by index).
fn top_items(c: &[f32], k: usize, idx: &mut Vec<usize>) {
    idx.clear();
    idx.extend((0..c.len()).filter(|&j| !c[j].is_nan() && c[j] != 0.0));
    idx.sort_by(|&a, &b| c[b].abs().total_cmp(&c[a].abs()).then(a.cmp(&b)));
    idx.truncate(k);
}
