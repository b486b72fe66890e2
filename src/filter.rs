//! Row filters of a KPI spec (`where={"survey_type": "nps"}`): every condition
//! must hold, a condition holds when the row's value is one of its values.
use arrow_array::RecordBatch;
use arrow_schema::{DataType, Schema};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ingest::find_column;
use crate::keys::{canonical, encode_column, KeyValue, SKIP};

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
            // Rows are matched through their key codes: only key types can be filtered on
            // (a null-only condition would otherwise reach a column that cannot be encoded).
            if crate::keys::key_out_type(dt).is_none() {
                return Err(Error::column(
                    &c.column,
                    format!(
                        "column '{}' (where=) has type {dt}, which cannot be filtered on; use strings, \
                         integers, booleans, dates or a dictionary/categorical column",
                        c.column
                    ),
                ));
            }
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
    /// `codes` encodes each filter column once per chunk for all KPIs of the call.
    pub fn apply(&self, batch: &RecordBatch, cells: &[u32], out: &mut Vec<u32>, codes: &mut ColumnCodes) {
        out.clear();
        out.extend_from_slice(cells);
        for (index, accepted) in &self.conditions {
            // Test each distinct value once, then mark every row by its code:
            // OR-ing in SKIP (all ones) rejects a row without a branch.
            let (row_codes, distinct) = codes.get(batch, *index);
            let reject: Vec<u32> =
                distinct.iter().map(|v| if accepted.contains(v) { 0 } else { SKIP }).collect();
            for (cell, &code) in out.iter_mut().zip(row_codes) {
                *cell |= reject[code as usize];
            }
        }
    }
}

/// Columns of one chunk encoded to codes (see [`encode_column`]), each once.
#[derive(Default)]
pub struct ColumnCodes {
    encoded: Vec<(usize, Vec<u32>, Vec<KeyValue>)>,
}

impl ColumnCodes {
    /// Row codes and distinct values of column `index` of `batch` (the chunk this cache is for).
    pub fn get(&mut self, batch: &RecordBatch, index: usize) -> (&[u32], &[KeyValue]) {
        let pos = match self.encoded.iter().position(|(i, _, _)| *i == index) {
            Some(pos) => pos,
            None => {
                let mut codes = Vec::new();
                let distinct = encode_column(batch.column(index).as_ref(), &mut codes);
                self.encoded.push((index, codes, distinct));
                self.encoded.len() - 1
            }
        };
        let (_, codes, distinct) = &self.encoded[pos];
        (codes, distinct)
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
        // As the column's keys are encoded: a float32 value widened, -0.0 as 0.0.
        DataType::Float32 => match v {
            J::Number(n) => n.as_f64().map(|x| KeyValue::Float(canonical(x as f32 as f64))),
            _ => None,
        },
        DataType::Float64 => match v {
            J::Number(n) => n.as_f64().map(|x| KeyValue::Float(canonical(x))),
            _ => None,
        },
        _ => None,
    }
}
