//! Row filters of a KPI spec (`where={"survey_type": "nps"}`): every condition
//! must hold, a condition holds when the row's value is one of its values.
use arrow_array::RecordBatch;
use arrow_schema::{DataType, Schema};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ingest::{find_column, Strings};
use crate::keys::{encode_column, KeyValue, SKIP};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    pub column: String,
    /// Accepted values; JSON null matches null.
    pub values: Vec<serde_json::Value>,
}

/// Conditions bound to column indices, with their values in the column's key form.
#[derive(Clone, Debug)]
pub struct Filter {
    conditions: Vec<(usize, Vec<KeyValue>)>,
}

impl Filter {
    pub fn bind(conditions: &[Condition], schema: &Schema) -> Result<Option<Filter>> {
        if conditions.is_empty() {
            return Ok(None);
        }
        let mut bound = Vec::new();
        for c in conditions {
            let index = find_column(schema, &c.column, "where")?;
            let dt = schema.field(index).data_type();
            let values = c
                .values
                .iter()
                .map(|v| {
                    key_for(dt, v).ok_or_else(|| {
                        Error::column(
                            &c.column,
                            format!(
                                "where= value {v} cannot be compared with column '{}' of type {dt}",
                                c.column
                            ),
                        )
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            bound.push((index, values));
        }
        Ok(Some(Filter { conditions: bound }))
    }

    /// Copy `cells` into `out`, with [`SKIP`] for the rows the filter rejects.
    pub fn apply(&self, batch: &RecordBatch, cells: &[u32], out: &mut Vec<u32>) {
        out.clear();
        out.extend_from_slice(cells);
        let mut codes = Vec::new();
        for (index, accepted) in &self.conditions {
            let column = batch.column(*index);
            if let Some(s) = Strings::new(column.as_ref()) {
                // Plain strings: compare in place, no encoding.
                let wanted: Vec<Option<&str>> = accepted
                    .iter()
                    .map(|k| match k {
                        KeyValue::Str(s) => Some(&**s),
                        _ => None,
                    })
                    .collect();
                for (i, cell) in out.iter_mut().enumerate() {
                    let v = if s.nulls().is_some_and(|n| n.is_null(i)) { None } else { Some(s.value(i)) };
                    if !wanted.contains(&v) {
                        *cell = SKIP;
                    }
                }
                continue;
            }
            // Other types (dictionaries, ints, bools): encode, then test each distinct value once.
            let distinct = encode_column(column.as_ref(), &mut codes);
            let keep: Vec<bool> = distinct.iter().map(|v| accepted.contains(v)).collect();
            for (cell, &code) in out.iter_mut().zip(&codes) {
                if !keep[code as usize] {
                    *cell = SKIP;
                }
            }
        }
    }
}

/// A JSON filter value in the key form of a column of type `dt`.
fn key_for(dt: &DataType, v: &serde_json::Value) -> Option<KeyValue> {
    use serde_json::Value as J;
    if v.is_null() {
        return Some(KeyValue::Null);
    }
    match dt {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            v.as_str().map(|s| KeyValue::Str(s.into()))
        }
        DataType::Dictionary(_, inner) => key_for(inner, v),
        DataType::Boolean => v.as_bool().map(KeyValue::Bool),
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 | DataType::Date32 => {
            v.as_i64().map(KeyValue::Int)
        }
        DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => {
            v.as_u64().map(KeyValue::UInt)
        }
        DataType::Float32 | DataType::Float64 => match v {
            J::Number(n) => n.as_f64().map(KeyValue::Float),
            _ => None,
        },
        _ => None,
    }
}
