//! Hour-of-day and day-of-week sin/cos in a time zone (kernel `aggregate/time_features`).
//!
//! The zone's UTC offset at each instant comes from chrono-tz (the IANA database compiled in),
//! so daylight-saving changes are right; offsets are cached per 15-minute UTC slot, the
//! granularity of every zone transition since 1970.

use std::str::FromStr;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float32Array, RecordBatch};
use arrow::buffer::NullBuffer;
use chrono::{Offset, TimeZone};

use crate::columns::{Times, times};
use crate::cpu::time_features::{NULL, WORDS};
use crate::engine::Engine;
use crate::error::{Error, Result};

/// Output column suffixes, in kernel order.
pub(crate) const TIME_COLUMNS: [&str; 4] = ["hour_sin", "hour_cos", "dow_sin", "dow_cos"];

/// Parses an IANA zone name (`UTC`, `Europe/Paris`, ...).
pub(crate) fn parse_tz(tz: &str) -> Result<chrono_tz::Tz> {
    chrono_tz::Tz::from_str(tz).map_err(|_| {
        Error::param(
            "tz",
            format!(
                "`{tz}` is not an IANA time zone name (e.g. UTC, Europe/Paris, America/New_York)"
            ),
        )
    })
}

/// Local second of the week (0 = Monday 00:00) of every time, `NULL` for null times.
pub(crate) fn seconds_of_week(
    t: &[i64],
    nulls: Option<&NullBuffer>,
    tz: chrono_tz::Tz,
) -> Vec<u32> {
    let mut slot = i64::MIN;
    let mut offset = 0i64;
    t.iter()
        .enumerate()
        .map(|(i, &ns)| {
            if nulls.is_some_and(|n| n.is_null(i)) {
                return NULL;
            }
            let secs = ns.div_euclid(1_000_000_000);
            let s = secs.div_euclid(900);
            if s != slot {
                slot = s;
                offset = chrono::DateTime::from_timestamp(s * 900, 0)
                    .map(|d| {
                        i64::from(
                            tz.offset_from_utc_datetime(&d.naive_utc())
                                .fix()
                                .local_minus_utc(),
                        )
                    })
                    .unwrap_or(0);
            }
            let local = secs + offset;
            let day = local.div_euclid(86_400);
            // 1970-01-01 was a Thursday: Monday = 0.
            let dow = (day + 3).rem_euclid(7);
            (dow * 86_400 + local.rem_euclid(86_400)) as u32
        })
        .collect()
}

/// The four Float32 time-feature columns of `column` in zone `tz`.
pub(crate) fn time_features(
    batch: &RecordBatch,
    column: &str,
    tz: &str,
    engine: &Engine,
) -> Result<Vec<ArrayRef>> {
    let zone = parse_tz(tz)?;
    let Times { ns: t, nulls, .. } = times(batch, column)?;
    let sow = seconds_of_week(&t, nulls.as_ref(), zone);
    let out = engine.time_features(&sow)?;
    Ok((0..WORDS)
        .map(|k| {
            let v: Vec<f32> = (0..t.len()).map(|i| out[i * WORDS + k]).collect();
            Arc::new(Float32Array::new(v.into(), nulls.clone())) as ArrayRef
        })
        .collect())
}
