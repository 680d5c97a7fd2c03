//! What a detector returns for a batch: scores, per-item contributions, and the
//! `explanation` column built from a row's largest contributions.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBufferBuilder, DictionaryArray, Float32Array, Int32Array, ListArray,
    StringArray, StructArray,
};
use arrow::buffer::{BooleanBuffer, NullBuffer, OffsetBuffer};
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
        let scores = &self.scores;
        let nulls = NullBuffer::new(BooleanBuffer::collect_bool(scores.len(), |i| {
            !scores[i].is_nan()
        }));
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
        let mut explained = Vec::new();
        let mut keys = Vec::new();
        let mut contribution = Vec::new();
        let mut value: Vec<Option<&str>> = Vec::new();
        let mut order = Vec::with_capacity(width);
        // The table's rows in ascending order (each once), so that items follow the offsets.
        let mut by_row: Vec<usize> = (0..rows.len().min(self.scores.len())).collect();
        if !rows.windows(2).all(|w| w[0] < w[1]) {
            by_row.sort_by_key(|&r| rows[r]);
            by_row.dedup_by_key(|r| rows[*r]);
        }
        for r in by_row {
            let (row, s) = (rows[r], self.scores[r]);
            if s.is_nan() || row >= len {
                continue;
            }
            let c = self
                .contributions
                .get(r * width..(r + 1) * width)
                .unwrap_or_default();
            top_items(c, top_k, &mut order);
            explained.push((row, order.len()));
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
        let (offsets, valid) = list_offsets(&explained, len);
        ListArray::new(
            item_field(),
            offsets,
            Arc::new(items),
            Some(NullBuffer::new(valid)).filter(|n| n.null_count() > 0),
        )
    }
}

/// Offsets and validity of a list column of `len` rows where only the rows of `explained`
/// (`(row, items)`, rows below `len`, ascending) have a list: the other rows are null and
/// empty. The offsets are written straight, without a per-row array of lengths.
fn list_offsets(explained: &[(usize, usize)], len: usize) -> (OffsetBuffer<i32>, BooleanBuffer) {
    let mut valid = BooleanBufferBuilder::new(len);
    valid.append_n(len, false);
    for &(row, _) in explained {
        valid.set_bit(row, true);
    }
    let total: usize = explained.iter().map(|&(_, n)| n).sum();
    if i32::try_from(total).is_ok() {
        let mut offsets: Vec<i32> = Vec::with_capacity(len + 1);
        offsets.push(0);
        let mut at = 0i32;
        for &(row, n) in explained {
            offsets.resize(row + 1, at);
            // `at + n` is at most `total`, which fits an i32.
            at += n as i32;
            offsets.push(at);
        }
        offsets.resize(len + 1, at);
        return (OffsetBuffer::new(offsets.into()), valid.finish());
    }
    // More items than i32 offsets hold: arrow's own check reports it.
    let mut lengths = vec![0usize; len];
    for &(row, n) in explained {
        lengths[row] = n;
    }
    (OffsetBuffer::from_lengths(lengths), valid.finish())
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use arrow::array::{Array, AsArray};
    use arrow::datatypes::Float32Type;

    use super::*;

    fn scores(rows: &[[f32; 3]]) -> Scores {
        Scores {
            scores: rows.iter().map(|r| r.iter().sum()).collect(),
            contributions: rows.iter().flatten().copied().collect(),
            items: vec!["a".into(), "b".into(), "c".into()],
            values: None,
        }
    }

    /// Rows given in ascending order and in another order give the same lists (before,
    /// rows out of order got each other's items): by hand, row 1 lists c then a, row 3 b, row 5 a, c,
    /// b (top 3), the others are null.
    #[test]
    fn explained_rows_in_any_order_give_the_same_column() {
        let (r1, r3, r5) = ([1.0, 0.0, -2.0], [0.0, 4.0, 0.0], [3.0, 1.0, 2.0]);
        let ascending = scores(&[r1, r3, r5]).explanation_array_at(3, &[1, 3, 5], 7);
        let shuffled = scores(&[r5, r1, r3]).explanation_array_at(3, &[5, 1, 3], 7);
        assert_eq!(ascending.len(), 7);
        assert_eq!(shuffled.len(), 7);
        for i in 0..7 {
            assert_eq!(ascending.is_valid(i), shuffled.is_valid(i), "row {i}");
            assert_eq!(&ascending.value(i), &shuffled.value(i), "row {i}");
        }
        let valid: Vec<bool> = (0..7).map(|i| ascending.is_valid(i)).collect();
        assert_eq!(valid, [false, true, false, true, false, true, false]);
        let contributions = |i: usize| -> Vec<f32> {
            let item = ascending.value(i);
            let item = item.as_struct();
            item.column(1)
                .as_primitive::<Float32Type>()
                .values()
                .to_vec()
        };
        assert_eq!(contributions(1), [-2.0, 1.0]);
        assert_eq!(contributions(3), [4.0]);
        assert_eq!(contributions(5), [3.0, 2.0, 1.0]);
        assert_eq!(ascending.value_offsets(), [0, 0, 2, 2, 3, 3, 6, 6]);
    }
}
