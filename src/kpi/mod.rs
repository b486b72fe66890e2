//! The KPIs, one module per family. Each KPI is a [`crate::engine::Kpi`]: a
//! state with update / merge / finalize, registered in [`crate::registry`].
pub mod commercial;
pub mod customers;
pub mod feedback;
pub mod finance;
pub mod orders;
pub mod service;
pub mod survey;

use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, Int64Array};
use arrow_schema::{DataType, Field};

/// Output helpers shared by the KPI families.
pub(crate) fn count_field(name: &str) -> Field {
    Field::new(name, DataType::Int64, false)
}

pub(crate) fn value_field(name: &str) -> Field {
    Field::new(name, DataType::Float64, true)
}

/// An Int64 column from counts.
pub(crate) fn counts(values: impl Iterator<Item = u64>) -> ArrayRef {
    Arc::new(Int64Array::from_iter_values(values.map(|v| v as i64)))
}

/// A Float64 column where `None` (undefined, e.g. n = 0) becomes null, never NaN.
pub(crate) fn values(values: impl Iterator<Item = Option<f64>>) -> ArrayRef {
    // Values and validity written straight into their buffers (one pass, sized once).
    let mut data = Vec::with_capacity(values.size_hint().0);
    let mut valid = arrow_buffer::BooleanBufferBuilder::new(values.size_hint().0);
    for v in values {
        let v = v.filter(|x| x.is_finite());
        data.push(v.unwrap_or(0.0));
        valid.append(v.is_some());
    }
    let nulls = arrow_buffer::NullBuffer::new(valid.finish());
    let nulls = (nulls.null_count() > 0).then_some(nulls);
    Arc::new(Float64Array::new(data.into(), nulls))
}

/// Point value and interval columns `name`, `name_ci_low`, `name_ci_high`.
pub(crate) fn with_interval(name: &str) -> [Field; 3] {
    [value_field(name), value_field(&format!("{name}_ci_low")), value_field(&format!("{name}_ci_high"))]
}

/// A point value and its interval; `None` where undefined (e.g. n = 0).
pub(crate) type Estimate = (Option<f64>, Option<(f64, f64)>);

/// Three columns from (value, interval) pairs.
pub(crate) fn interval_columns(rows: &[Estimate]) -> [ArrayRef; 3] {
    [
        values(rows.iter().map(|r| r.0)),
        values(rows.iter().map(|r| r.1.map(|c| c.0))),
        values(rows.iter().map(|r| r.1.map(|c| c.1))),
    ]
}

/// A share: `hits` of `n` (Wilson interval), with nulls and bad rows counted aside.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Share {
    pub hits: u64,
    pub n: u64,
}

impl Share {
    #[inline]
    pub fn add(&mut self, hit: bool) {
        self.n += 1;
        self.hits += u64::from(hit);
    }
    pub fn merge(&mut self, other: &Share) {
        self.hits += other.hits;
        self.n += other.n;
    }
    /// Percentage and Wilson interval in percent; `None` when n = 0.
    pub fn estimate(&self, z: f64) -> Estimate {
        let pct = (self.n > 0).then(|| 100.0 * self.hits as f64 / self.n as f64);
        (pct, crate::stats::wilson(self.hits, self.n, z).map(|(a, b)| (100.0 * a, 100.0 * b)))
    }
}

/// Output columns `name`, `name_ci_low`, `name_ci_high` for a list of shares.
#[allow(dead_code)] // the order and service families use it
pub(crate) fn share_columns(shares: impl Iterator<Item = Share>, z: f64) -> [ArrayRef; 3] {
    let rows: Vec<Estimate> = shares.map(|s| s.estimate(z)).collect();
    interval_columns(&rows)
}

/// All observed values of a measure (for exact percentiles). Merging
/// concatenates; finalising sorts first, so the result never depends on chunking.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Samples {
    pub values: Vec<f64>,
}

impl Samples {
    pub fn merge(&mut self, other: &Samples) {
        self.values.extend_from_slice(&other.values);
    }
    /// (p50, p90, mean) with numpy's linear interpolation; `None` when empty.
    pub fn summary(&self) -> Option<(f64, f64, f64)> {
        if self.values.is_empty() {
            return None;
        }
        let mut v = self.values.clone();
        v.sort_unstable_by(f64::total_cmp);
        let mut sum = crate::stats::NeumaierSum::default();
        v.iter().for_each(|&x| sum.add(x));
        let p50 = crate::stats::percentile_linear(&mut v, 0.5)?;
        let p90 = crate::stats::percentile_linear(&mut v, 0.9)?;
        Some((p50, p90, sum.value() / v.len() as f64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_and_samples() {
        let mut s = Share::default();
        [true, false, true, true].into_iter().for_each(|h| s.add(h));
        assert_eq!(s.estimate(1.96).0, Some(75.0));
        assert_eq!(Share::default().estimate(1.96), (None, None));
        let mut a = Samples { values: vec![3.0, 1.0] };
        a.merge(&Samples { values: vec![2.0, 10.0] });
        let (p50, p90, mean) = a.summary().unwrap();
        assert_eq!((p50, mean), (2.5, 4.0));
        assert!((p90 - 7.9).abs() < 1e-12);
        assert!(Samples::default().summary().is_none());
    }
}
