//! The KPIs, one module per family. Each KPI is a [`crate::engine::Kpi`]: a
//! state with update / merge / finalize, registered in [`crate::registry`].
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
    Arc::new(values.map(|v| v.filter(|x| x.is_finite())).collect::<Float64Array>())
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
