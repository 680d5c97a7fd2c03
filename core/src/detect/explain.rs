//! What a detector returns for a batch: scores, per-item contributions, and the
//! `explanation` column built from a row's largest contributions.

use std::sync::Arc;

use arrow::array::{
    Float32Array, Float32Builder, ListArray, ListBuilder, StringBuilder, StructBuilder,
};
use arrow::datatypes::{DataType, Field, Fields};

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
        self.scores
            .iter()
            .map(|&s| (!s.is_nan()).then_some(s))
            .collect()
    }

    /// The `explanation` column: per scored row, its `top_k` items by |contribution| as
    /// `List<Struct<feature: Utf8, contribution: Float32, value: Utf8>>` (null when unscored).
    pub fn explanation_array(&self, top_k: usize) -> ListArray {
        let width = self.items.len();
        let mut list = ListBuilder::new(StructBuilder::from_fields(explanation_fields(), top_k))
            .with_field(item_field());
        for (i, &s) in self.scores.iter().enumerate() {
            if s.is_nan() {
                list.append(false);
                continue;
            }
            let c = &self.contributions[i * width..(i + 1) * width];
            let item = list.values();
            for j in top_items(c, top_k) {
                if let Some(b) = item.field_builder::<StringBuilder>(0) {
                    b.append_value(&self.items[j]);
                }
                if let Some(b) = item.field_builder::<Float32Builder>(1) {
                    b.append_value(c[j]);
                }
                if let Some(b) = item.field_builder::<StringBuilder>(2) {
                    b.append_option(
                        self.values
                            .as_ref()
                            .and_then(|v| v[i * width + j].as_deref()),
                    );
                }
                item.append(true);
            }
            list.append(true);
        }
        list.finish()
    }
}

/// Fields of one explanation item: `feature`, `contribution`, `value`.
fn explanation_fields() -> Fields {
    Fields::from(vec![
        Field::new("feature", DataType::Utf8, false),
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

/// Indices of the `k` largest |contribution| of one row (NaN skipped, ties by index).
fn top_items(c: &[f32], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..c.len())
        .filter(|&j| !c[j].is_nan() && c[j] != 0.0)
        .collect();
    idx.sort_by(|&a, &b| c[b].abs().total_cmp(&c[a].abs()).then(a.cmp(&b)));
    idx.truncate(k);
    idx
}
