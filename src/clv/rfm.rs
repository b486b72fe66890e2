//! RFM summary from transactions, with the semantics of lifetimes'
//! `summary_data_from_transaction_data`: transactions are bucketed to periods
//! (day, ISO week, month) and summed per (customer, period) first; per customer
//! `frequency` = periods with a purchase − 1, `recency` = periods from the
//! first to the last purchase, `T` = periods from the first purchase to
//! `as_of`, `monetary_value` = mean of the repeat periods' totals (the first
//! period excluded; 0 when frequency = 0). Transactions in periods after
//! `as_of`'s period are dropped and counted.

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, Float64Array, RecordBatch, UInt64Array};
use arrow_schema::{DataType, Field, Schema};
use arrow_select::concat::concat;
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::ingest::{find_column, show_f64, Numeric};
use crate::keys;
use crate::period::{civil_from_days, format_day, DateReader, NULL_DAY};

/// The time unit of frequency, recency and T.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Freq {
    Day,
    /// ISO weeks, Monday to Sunday (pandas' `W`, i.e. `W-SUN`, periods).
    Week,
    Month,
}

impl Freq {
    pub fn parse(s: &str) -> Result<Freq> {
        match s {
            "D" => Ok(Freq::Day),
            "W" => Ok(Freq::Week),
            "M" => Ok(Freq::Month),
            other => Err(Error::column("freq", format!("freq must be \"D\", \"W\" or \"M\", got {other:?}"))),
        }
    }

    /// Periods per month, as lifetimes' CLV counts them (30 days, 4.345 weeks).
    pub fn per_month(self) -> f64 {
        match self {
            Freq::Day => 30.0,
            Freq::Week => 4.345,
            Freq::Month => 1.0,
        }
    }

    /// Ordinal of the period holding `day` (days since 1970-01-01).
    pub fn ordinal(self, day: i32) -> i64 {
        let day = i64::from(day);
        match self {
            Freq::Day => day,
            // 1970-01-05 (day 4) is a Monday.
            Freq::Week => (day - 4).div_euclid(7),
            Freq::Month => {
                let (y, m, _) = civil_from_days(day);
                y * 12 + i64::from(m) - 1
            }
        }
    }
}

/// One row per customer, in order of first appearance in the sorted data
/// (customers sorted by their code, i.e. by first row in the input).
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Input row of the customer's first order (earliest period, then row order).
    pub first_row: Vec<u64>,
    pub frequency: Vec<f64>,
    pub recency: Vec<f64>,
    pub t: Vec<f64>,
    pub monetary_value: Vec<f64>,
    /// Sum of all amounts up to `as_of`, the first purchase included.
    pub revenue: Vec<f64>,
    /// Transactions after `as_of`'s period, left out.
    pub dropped_after_as_of: u64,
}

fn column_error(column: &str, count: usize, example: String, problem: &str) -> Error {
    Error::Input {
        message: format!("column '{column}': {count} rows {problem} (example: {example})"),
        column: Some(column.to_string()),
        count: Some(count as u64),
        example: Some(example),
    }
}

/// Summarise transactions. `names` are (customer, date, amount) column names for errors.
pub fn summarize(
    customer: &dyn Array,
    date: &dyn Array,
    amount: &dyn Array,
    names: (&str, &str, &str),
    as_of: Option<i32>,
    freq: Freq,
) -> Result<Summary> {
    let (c_name, d_name, a_name) = names;
    if keys::key_out_type(customer.data_type()).is_none() {
        return Err(Error::column(
            c_name,
            format!(
                "column '{c_name}' (customer=) has type {}, which cannot identify customers; use strings \
                 or integers",
                customer.data_type()
            ),
        ));
    }
    if customer.null_count() > 0 {
        let first = (0..customer.len()).find(|&i| customer.is_null(i)).expect("has nulls");
        return Err(column_error(
            c_name,
            customer.null_count(),
            format!("null at row {first}"),
            "have no customer id",
        ));
    }
    let reader = DateReader::new(d_name, date.data_type(), None)?;
    let mut days = Vec::new();
    reader.days(date, &mut days);
    let null_days = days.iter().filter(|&&d| d == NULL_DAY).count();
    if null_days > 0 {
        let first = days.iter().position(|&d| d == NULL_DAY).expect("counted");
        return Err(column_error(d_name, null_days, format!("null at row {first}"), "have no date"));
    }
    let numeric = Numeric::new(amount).ok_or_else(|| {
        Error::column(
            a_name,
            format!("column '{a_name}' (amount=) has type {}, not numeric", amount.data_type()),
        )
    })?;
    let mut amounts = Vec::with_capacity(amount.len());
    let (mut missing, mut negative) = ((0usize, None), (0usize, None));
    numeric.for_each(|i, v| match v {
        None => {
            missing.0 += 1;
            missing.1.get_or_insert(i);
            amounts.push(0.0);
        }
        Some(v) => {
            if !(v.is_finite() && v >= 0.0) {
                negative.0 += 1;
                negative.1.get_or_insert(v);
            }
            amounts.push(v);
        }
    });
    if missing.0 > 0 {
        let row = missing.1.expect("counted");
        return Err(column_error(
            a_name,
            missing.0,
            format!("null at row {row}"),
            "have a missing amount (fill or drop them first)",
        ));
    }
    if negative.0 > 0 {
        return Err(column_error(
            a_name,
            negative.0,
            show_f64(negative.1.expect("counted")),
            "are negative or not finite (refunds and credits must be netted into their orders first)",
        ));
    }
    let mut codes = Vec::new();
    keys::encode_column(customer, &mut codes);

    let periods: Vec<i64> = days.par_iter().map(|&d| freq.ordinal(d)).collect();
    let last = match as_of {
        Some(day) => freq.ordinal(day),
        None => *periods.iter().max().ok_or_else(|| Error::param("no orders: the table is empty"))?,
    };
    let mut rows: Vec<(u32, i64, u32)> = (0..periods.len())
        .filter(|&i| periods[i] <= last)
        .map(|i| (codes[i], periods[i], i as u32))
        .collect();
    let dropped = (periods.len() - rows.len()) as u64;
    if rows.is_empty() {
        let shown = as_of.map_or_else(|| "the last order".to_string(), format_day);
        return Err(Error::column(
            "as_of",
            format!("no orders on or before as_of ({shown}): {dropped} orders are all later"),
        ));
    }
    rows.par_sort_unstable();

    let mut out = Summary { dropped_after_as_of: dropped, ..Summary::default() };
    let mut i = 0;
    while i < rows.len() {
        let (cust, first_period, first_row) = rows[i];
        let mut periods_seen = 0u64;
        let mut last_period = first_period;
        let mut repeat_total = 0.0;
        let mut revenue = 0.0;
        while i < rows.len() && rows[i].0 == cust {
            let period = rows[i].1;
            let mut period_total = 0.0;
            while i < rows.len() && rows[i].0 == cust && rows[i].1 == period {
                period_total += amounts[rows[i].2 as usize];
                i += 1;
            }
            if periods_seen > 0 {
                repeat_total += period_total;
            }
            revenue += period_total;
            periods_seen += 1;
            last_period = period;
        }
        let frequency = (periods_seen - 1) as f64;
        out.first_row.push(u64::from(first_row));
        out.frequency.push(frequency);
        out.recency.push((last_period - first_period) as f64);
        out.t.push((last - first_period) as f64);
        out.monetary_value.push(if frequency > 0.0 { repeat_total / frequency } else { 0.0 });
        out.revenue.push(revenue);
    }
    Ok(out)
}

/// [`summarize`] over record batches (columns looked up by name, with
/// suggestions), as an Arrow batch: `first_row` (u64), `frequency`, `recency`,
/// `T`, `monetary_value`, `revenue` (f64). Also returns the count of dropped
/// transactions after `as_of`.
pub fn summarize_batches(
    schema: &Schema,
    batches: &[RecordBatch],
    (customer, date, amount): (&str, &str, &str),
    as_of: Option<i32>,
    freq: Freq,
) -> Result<(RecordBatch, u64)> {
    let column = |name: &str, role: &str| -> Result<ArrayRef> {
        let index = find_column(schema, name, role)?;
        let parts: Vec<&dyn Array> = batches.iter().map(|b| b.column(index).as_ref()).collect();
        if parts.is_empty() {
            return Ok(arrow_array::new_empty_array(schema.field(index).data_type()));
        }
        concat(&parts).map_err(|e| Error::Internal(format!("concatenating column '{name}': {e}")))
    };
    let (c, d, a) = (column(customer, "customer")?, column(date, "date")?, column(amount, "amount")?);
    let s = summarize(c.as_ref(), d.as_ref(), a.as_ref(), (customer, date, amount), as_of, freq)?;
    let f64_field = |name: &str| Field::new(name, DataType::Float64, false);
    let out_schema = Arc::new(Schema::new(vec![
        Field::new("first_row", DataType::UInt64, false),
        f64_field("frequency"),
        f64_field("recency"),
        f64_field("T"),
        f64_field("monetary_value"),
        f64_field("revenue"),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(UInt64Array::from(s.first_row)),
        Arc::new(Float64Array::from(s.frequency)),
        Arc::new(Float64Array::from(s.recency)),
        Arc::new(Float64Array::from(s.t)),
        Arc::new(Float64Array::from(s.monetary_value)),
        Arc::new(Float64Array::from(s.revenue)),
    ];
    let batch = RecordBatch::try_new(out_schema, columns).map_err(|e| Error::Internal(e.to_string()))?;
    Ok((batch, s.dropped_after_as_of))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Date32Array, Float64Array, StringArray};

    #[test]
    fn summarises_like_lifetimes() {
        // Customer a: two orders on day 0 (one period), one on day 3, one on day 10 (after as_of 5).
        let c = StringArray::from(vec!["a", "b", "a", "a", "a"]);
        let d = Date32Array::from(vec![0, 2, 0, 3, 10]);
        let m = Float64Array::from(vec![1.0, 5.0, 2.0, 4.0, 100.0]);
        let s = summarize(&c, &d, &m, ("c", "d", "m"), Some(5), Freq::Day).unwrap();
        assert_eq!(s.frequency, vec![1.0, 0.0]);
        assert_eq!(s.recency, vec![3.0, 0.0]);
        assert_eq!(s.t, vec![5.0, 3.0]);
        assert_eq!(s.monetary_value, vec![4.0, 0.0]);
        assert_eq!(s.revenue, vec![7.0, 5.0]);
        assert_eq!(s.first_row, vec![0, 1]);
        assert_eq!(s.dropped_after_as_of, 1);
    }

    #[test]
    fn weeks_and_months() {
        // 1970-01-05 is a Monday: days 4..=10 are one ISO week.
        assert_eq!(Freq::Week.ordinal(4), Freq::Week.ordinal(10));
        assert_ne!(Freq::Week.ordinal(3), Freq::Week.ordinal(4));
        assert_eq!(Freq::Month.ordinal(30), 1970 * 12);
        assert_eq!(Freq::Month.ordinal(31), 1970 * 12 + 1);
    }

    #[test]
    fn rejects_negative_amounts() {
        let c = StringArray::from(vec!["a"]);
        let d = Date32Array::from(vec![0]);
        let m = Float64Array::from(vec![-1.0]);
        let err = summarize(&c, &d, &m, ("c", "d", "m"), None, Freq::Day).unwrap_err();
        assert!(matches!(err, Error::Input { count: Some(1), .. }));
    }
}
