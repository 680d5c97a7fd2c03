//! The per-event intel stage: for each row, how many unsuppressed indicator matches its
//! columns have (`intel_hits`) and their highest confidence (`intel_max_confidence`, 0 when
//! none or unknown), so intel hits and anomaly scores rank alerts together.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float32Array, RecordBatch, UInt32Array};
use arrow::datatypes::{DataType, Field};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{ColumnKind, Intel, file};
use crate::columns::column;
use crate::error::{Error, Result};

/// Matches columns against an indicator set and appends per-row counts.
#[derive(Clone, Debug)]
pub struct IntelStage {
    /// Columns and their kinds.
    pub columns: Vec<(String, ColumnKind)>,
    /// The indicators (saved inline in model files).
    pub intel: Arc<Intel>,
    /// Output prefix: `<prefix>_hits`, `<prefix>_max_confidence` (default `intel`).
    pub prefix: String,
}

impl PartialEq for IntelStage {
    fn eq(&self, other: &Self) -> bool {
        self.columns == other.columns
            && self.prefix == other.prefix
            && (Arc::ptr_eq(&self.intel, &other.intel)
                || self.intel.to_json().ok() == other.intel.to_json().ok())
    }
}

impl IntelStage {
    /// A stage over `columns` with output prefix `intel`.
    pub fn new(intel: Arc<Intel>, columns: &[(&str, ColumnKind)]) -> Self {
        IntelStage {
            columns: columns.iter().map(|(c, k)| (c.to_string(), *k)).collect(),
            intel,
            prefix: "intel".into(),
        }
    }

    /// The first input column.
    pub fn column(&self) -> &str {
        self.columns.first().map_or("", |(c, _)| c.as_str())
    }

    /// Checks there is at least one column and a prefix.
    pub fn validate(&self) -> Result<()> {
        if self.columns.is_empty() {
            return Err(Error::param("columns", "give at least one (column, kind)"));
        }
        if self.prefix.is_empty() {
            return Err(Error::param("prefix", "must not be empty"));
        }
        Ok(())
    }

    /// `<prefix>_hits` (UInt32) and `<prefix>_max_confidence` (Float32).
    pub fn output_fields(&self) -> Vec<Field> {
        vec![
            Field::new(format!("{}_hits", self.prefix), DataType::UInt32, false),
            Field::new(
                format!("{}_max_confidence", self.prefix),
                DataType::Float32,
                false,
            ),
        ]
    }

    pub(crate) fn compute(&self, batch: &RecordBatch) -> Result<Vec<ArrayRef>> {
        let n = batch.num_rows();
        let mut hits = vec![0u32; n];
        let mut conf = vec![0f32; n];
        for (name, kind) in &self.columns {
            let array = column(batch, name)?;
            let (found, _) = self
                .intel
                .column_hits(array.as_ref(), name, *kind, None, 0)?;
            for h in found.iter().filter(|h| h.suppressed.is_none()) {
                let r = h.row as usize;
                if let (Some(c), Some(m)) = (hits.get_mut(r), conf.get_mut(r)) {
                    *c += 1;
                    let e = self.intel.table.entries.get(h.entry as usize);
                    let v = e.and_then(|e| e.confidence).map_or(0.0, f32::from);
                    *m = m.max(v);
                }
            }
        }
        Ok(vec![
            Arc::new(UInt32Array::from(hits)),
            Arc::new(Float32Array::from(conf)),
        ])
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    kind: String,
    column: String,
    columns: Vec<(String, ColumnKind)>,
    prefix: String,
    intel: Value,
}

impl Serialize for IntelStage {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::Error as _;
        let intel: Value = self
            .intel
            .to_json()
            .and_then(|t| serde_json::from_str(&t).map_err(|e| Error::Model(e.to_string())))
            .map_err(S::Error::custom)?;
        json!({
            "kind": "intel", "column": self.column(), "columns": self.columns,
            "prefix": self.prefix, "intel": intel,
        })
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for IntelStage {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        let spec = Spec::deserialize(d)?;
        if spec.kind != "intel" {
            return Err(D::Error::custom("not an intel stage"));
        }
        let intel = file::from_value(spec.intel).map_err(D::Error::custom)?;
        Ok(IntelStage {
            columns: spec.columns,
            intel: Arc::new(intel),
            prefix: spec.prefix,
        })
    }
}
