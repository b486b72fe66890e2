//! The KPIs, one module per family. Each KPI is a [`crate::engine::Kpi`]: a
//! state with update / merge / finalize, registered in [`crate::registry`].
pub mod commercial;
pub mod counts;
pub mod customers;
pub mod feedback;
pub mod finance;
pub mod orders;
pub mod service;
pub mod survey;

use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, Int64Array, NullArray};
use arrow_schema::{DataType, Field};

use crate::engine::Ctx;

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
    let mut column = ValueColumn::with_capacity(values.size_hint().0);
    values.for_each(|v| column.push(v));
    column.finish()
}

/// A Float64 column built value by value: values and validity bits written
/// straight into their buffers (one pass, sized once; the bits a word at a
/// time, which a bit builder's per-value bookkeeping cost as much as the values).
struct ValueColumn {
    data: Vec<f64>,
    words: Vec<u64>,
    word: u64,
    valid: usize,
}

impl ValueColumn {
    fn with_capacity(n: usize) -> Self {
        ValueColumn {
            data: Vec::with_capacity(n),
            words: Vec::with_capacity(n.div_ceil(64)),
            word: 0,
            valid: 0,
        }
    }
    #[inline(always)]
    fn push(&mut self, v: Option<f64>) {
        let v = v.filter(|x| x.is_finite());
        let i = self.data.len();
        self.data.push(v.unwrap_or(0.0));
        self.word |= u64::from(v.is_some()) << (i % 64);
        self.valid += usize::from(v.is_some());
        if i % 64 == 63 {
            self.words.push(std::mem::take(&mut self.word));
        }
    }
    fn finish(mut self) -> ArrayRef {
        let len = self.data.len();
        if len % 64 != 0 {
            self.words.push(self.word);
        }
        let nulls = (self.valid < len).then(|| {
            let bits = arrow_buffer::BooleanBuffer::new(arrow_buffer::Buffer::from_vec(self.words), 0, len);
            arrow_buffer::NullBuffer::new(bits)
        });
        Arc::new(Float64Array::new(self.data.into(), nulls))
    }
}

/// Point value and interval columns `name`, `name_ci_low`, `name_ci_high`.
pub(crate) fn with_interval(name: &str) -> [Field; 3] {
    [value_field(name), value_field(&format!("{name}_ci_low")), value_field(&format!("{name}_ci_high"))]
}

/// A point value and its interval; `None` where undefined (e.g. n = 0).
pub(crate) type Estimate = (Option<f64>, Option<(f64, f64)>);

/// Count columns, then value columns, filled one state at a time: one pass
/// over the states instead of one per column. With a cell per input row,
/// each pass re-reads every state from memory (a histogram state is 104
/// bytes: nps at a million cells read 100 MB per column).
pub(crate) struct RowColumns {
    len: usize,
    /// None: a column `columns=` left out, never built.
    counts: Vec<Option<Vec<i64>>>,
    values: Vec<Option<ValueColumn>>,
    /// Built at the first [`RowColumns::share`] of a column of many rows.
    small_shares: Option<SmallShares>,
}

/// Shares of fewer than [`SMALL_N`] observations, computed once per
/// finalisation: percent and Wilson interval of `hits` of `n`, at index
/// `n (n + 1) / 2 + hits`. With a cell per input row nearly every share is
/// one of these few, and the Wilson interval's three divisions and square
/// root, per share column and cell, were about 8% of the orders call's
/// cycles at 10^6 segments (`perf`). The values are those the formulas give
/// (the same computation, made once).
struct SmallShares {
    z: f64,
    table: Vec<Estimate>,
}

/// See [`SmallShares`].
const SMALL_N: u64 = 64;
/// Rows from which a column's shares are looked up in [`SmallShares`].
const SMALL_SHARES_FROM_ROWS: usize = 4096;

impl SmallShares {
    fn new(z: f64) -> Self {
        let table =
            (0..SMALL_N).flat_map(|n| (0..=n).map(move |hits| Share { hits, n }.estimate(z))).collect();
        SmallShares { z, table }
    }
    /// The share's estimate, if it is in the table (its `z`, and `hits <= n < SMALL_N`).
    #[inline(always)]
    fn get(&self, share: Share, z: f64) -> Option<Estimate> {
        let Share { hits, n } = share;
        if n < SMALL_N && hits <= n && z.to_bits() == self.z.to_bits() {
            Some(self.table[(n * (n + 1) / 2 + hits) as usize])
        } else {
            None
        }
    }
}

impl RowColumns {
    /// `counts` Int64 and `values` Float64 columns for `len` rows: the KPI's
    /// fields in order, of which only those `ctx.keep` asks for are built.
    pub(crate) fn new(ctx: &Ctx, len: usize, counts: usize, values: usize) -> Self {
        let kept = |i: usize| ctx.keep.as_ref().is_none_or(|keep| keep.get(i).copied().unwrap_or(true));
        RowColumns {
            len,
            counts: (0..counts).map(|i| kept(i).then(|| Vec::with_capacity(len))).collect(),
            values: (0..values).map(|j| kept(counts + j).then(|| ValueColumn::with_capacity(len))).collect(),
            small_shares: None,
        }
    }
    #[inline(always)]
    pub(crate) fn count(&mut self, column: usize, v: u64) {
        if let Some(c) = &mut self.counts[column] {
            c.push(v as i64);
        }
    }
    /// Counts in columns `from`, `from + 1`, ...
    #[inline(always)]
    pub(crate) fn counts(&mut self, from: usize, values: impl IntoIterator<Item = u64>) {
        values.into_iter().enumerate().for_each(|(i, v)| self.count(from + i, v));
    }
    /// A value; `None` (or a non-finite value) becomes null.
    #[inline(always)]
    pub(crate) fn value(&mut self, column: usize, v: Option<f64>) {
        if let Some(c) = &mut self.values[column] {
            c.push(v);
        }
    }
    /// A point value and its interval: value columns `column..column + 3`.
    /// The interval is computed only when `columns=` builds one of its
    /// columns: with a cell per input row, intervals nobody reads were a
    /// good part of finalising.
    #[inline(always)]
    pub(crate) fn estimate(
        &mut self,
        column: usize,
        value: Option<f64>,
        interval: impl FnOnce() -> Option<(f64, f64)>,
    ) {
        self.value(column, value);
        if self.values[column + 1].is_some() || self.values[column + 2].is_some() {
            let interval = interval();
            self.value(column + 1, interval.map(|c| c.0));
            self.value(column + 2, interval.map(|c| c.1));
        }
    }
    /// A share in percent and its Wilson interval: value columns `column..column + 3`.
    #[inline(always)]
    pub(crate) fn share(&mut self, column: usize, share: Share, z: f64) {
        if self.len >= SMALL_SHARES_FROM_ROWS {
            let small = self.small_shares.get_or_insert_with(|| SmallShares::new(z));
            if let Some((pct, interval)) = small.get(share, z) {
                return self.estimate(column, pct, || interval);
            }
        }
        self.estimate(column, share.pct(), || share.interval(z));
    }
    /// The count columns, then the value columns; one left out is an
    /// all-null placeholder (no buffers), which the engine drops.
    pub(crate) fn finish(self) -> Vec<ArrayRef> {
        let len = self.len;
        let left_out = move || Arc::new(NullArray::new(len)) as ArrayRef;
        let counts = self
            .counts
            .into_iter()
            .map(move |c| c.map_or_else(left_out, |c| Arc::new(Int64Array::from(c)) as ArrayRef));
        counts
            .chain(self.values.into_iter().map(move |v| v.map_or_else(left_out, ValueColumn::finish)))
            .collect()
    }
}

/// The columns of a rate KPI in one pass: `N` counts, then the share and its
/// interval (`row` gives a state's counts and share).
pub(crate) fn counts_and_share<S, const N: usize>(
    states: &[&S],
    row: impl Fn(&S) -> ([u64; N], Share),
    ctx: &Ctx,
) -> Vec<ArrayRef> {
    let mut out = RowColumns::new(ctx, states.len(), N, 3);
    for s in states {
        let (counts, share) = row(s);
        out.counts(0, counts);
        out.share(0, share, ctx.z);
    }
    out.finish()
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
        (self.pct(), self.interval(z))
    }
    /// Percentage; `None` when n = 0.
    #[inline]
    pub fn pct(&self) -> Option<f64> {
        (self.n > 0).then(|| 100.0 * self.hits as f64 / self.n as f64)
    }
    /// Wilson interval in percent; `None` when n = 0.
    #[inline]
    pub fn interval(&self, z: f64) -> Option<(f64, f64)> {
        crate::stats::wilson(self.hits, self.n, z).map(|(a, b)| (100.0 * a, 100.0 * b))
    }
}

/// All observed values of a measure (for exact percentiles). Merging
/// concatenates; finalising sorts first, so the result never depends on chunking.
/// Up to two values live inline (no heap block): with many segments most
/// cells hold one or two. Encoded as a plain sequence, as a `Vec` is.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Samples {
    pub values: smallvec::SmallVec<[f64; 2]>,
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
        let v = crate::stats::sort_total(&self.values);
        let mut sum = crate::stats::NeumaierSum::default();
        v.iter().for_each(|&x| sum.add(x));
        let p50 = crate::stats::percentile_sorted(&v, 0.5)?;
        let p90 = crate::stats::percentile_sorted(&v, 0.9)?;
        Some((p50, p90, sum.value() / v.len() as f64))
    }

    /// [`Samples::summary`] of each state's samples, states in parallel (each sorts its own).
    pub fn summaries<S: Sync>(
        states: &[&S],
        samples: impl Fn(&S) -> &Samples + Sync,
    ) -> Vec<Option<(f64, f64, f64)>> {
        use rayon::prelude::*;
        if crate::engine::parallel() {
            states.par_iter().map(|s| samples(s).summary()).collect()
        } else {
            states.iter().map(|s| samples(s).summary()).collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::Array;

    #[test]
    fn samples_keep_two_values_inline() {
        assert_eq!(std::mem::size_of::<Samples>(), 24);
        let mut s = Samples::default();
        s.values.extend([2.0, 1.0]);
        assert!(!s.values.spilled());
        s.merge(&Samples { values: [3.0, 0.5].into_iter().collect() });
        assert!(s.values.spilled());
        assert_eq!(s.summary(), Some((1.5, 2.7, 1.625)));
        // Encoded as a Vec<f64> is, so partial results keep their format.
        let bytes = postcard::to_allocvec(&s).unwrap();
        assert_eq!(bytes, postcard::to_allocvec(&vec![2.0f64, 1.0, 3.0, 0.5]).unwrap());
        assert_eq!(postcard::from_bytes::<Samples>(&bytes).unwrap(), s);
    }

    #[test]
    fn value_columns_null_what_is_undefined() {
        // Across word boundaries: every third value missing, one infinite.
        let input: Vec<Option<f64>> = (0..200)
            .map(|i| if i == 130 { Some(f64::INFINITY) } else { (i % 3 != 0).then_some(i as f64) })
            .collect();
        let column = values(input.iter().copied());
        let column = column.as_any().downcast_ref::<Float64Array>().unwrap();
        let got: Vec<Option<f64>> = column.iter().collect();
        let want: Vec<Option<f64>> = input.iter().map(|v| v.filter(|x| x.is_finite())).collect();
        assert_eq!(got, want);
        assert_eq!(column.null_count(), 67 + 1);
        let full = values((0..64).map(|i| Some(i as f64)));
        assert!(full.nulls().is_none());
        assert_eq!(values(std::iter::empty()).len(), 0);
    }

    #[test]
    fn row_columns_build_only_the_kept_fields() {
        let ctx = |keep: Option<&[bool]>| Ctx {
            confidence: 0.95,
            z: 1.96,
            on_invalid: Default::default(),
            as_of: None,
            keep: keep.map(Into::into),
            segment_continues: None,
        };
        let fill = |ctx: &Ctx| {
            let mut out = RowColumns::new(ctx, 3, 2, 3);
            for i in 0..3u64 {
                out.counts(0, [i, 10 * i]);
                out.estimate(0, Some(i as f64), || (i > 0).then_some((0.0, 1.0)));
            }
            out.finish()
        };
        let all = fill(&ctx(None));
        let some = fill(&ctx(Some(&[false, true, true, false, true])));
        assert_eq!(some.len(), 5);
        for (i, kept) in [false, true, true, false, true].into_iter().enumerate() {
            if kept {
                assert_eq!(&some[i], &all[i], "column {i}");
            } else {
                // A placeholder without buffers, which the engine drops.
                assert_eq!(some[i].data_type(), &DataType::Null);
                assert_eq!(some[i].len(), 3);
            }
        }
    }

    #[test]
    fn small_shares_are_those_the_formulas_give() {
        // Every hits <= n up to past SMALL_N, then a share with another z
        // (computed, not looked up): bit for bit what each share gives alone.
        let mut shares: Vec<(Share, f64)> =
            (0..SMALL_N + 6).flat_map(|n| (0..=n).map(move |hits| (Share { hits, n }, 1.96))).collect();
        shares.push((Share { hits: 3, n: 7 }, 2.5));
        shares.push((Share { hits: 0, n: 0 }, 2.5));
        let rows = shares.len().max(SMALL_SHARES_FROM_ROWS);
        let ctx = Ctx {
            confidence: 0.95,
            z: 1.96,
            on_invalid: Default::default(),
            as_of: None,
            keep: None,
            segment_continues: None,
        };
        let mut out = RowColumns::new(&ctx, rows, 0, 3);
        (0..rows).for_each(|i| out.share(0, shares[i % shares.len()].0, shares[i % shares.len()].1));
        let got = out.finish();
        let want: Vec<Estimate> =
            (0..rows).map(|i| shares[i % shares.len()].0.estimate(shares[i % shares.len()].1)).collect();
        let bits = |column: &ArrayRef| -> Vec<Option<u64>> {
            let column = column.as_any().downcast_ref::<Float64Array>().unwrap();
            column.iter().map(|v| v.map(f64::to_bits)).collect()
        };
        let want_bits = |part: fn(&Estimate) -> Option<f64>| -> Vec<Option<u64>> {
            want.iter().map(|e| part(e).map(f64::to_bits)).collect()
        };
        assert_eq!(bits(&got[0]), want_bits(|e| e.0));
        assert_eq!(bits(&got[1]), want_bits(|e| e.1.map(|c| c.0)));
        assert_eq!(bits(&got[2]), want_bits(|e| e.1.map(|c| c.1)));
        assert_eq!(got[0].null_count(), want.iter().filter(|e| e.0.is_none()).count());
    }

    #[test]
    fn share_and_samples() {
        let mut s = Share::default();
        [true, false, true, true].into_iter().for_each(|h| s.add(h));
        assert_eq!(s.estimate(1.96).0, Some(75.0));
        assert_eq!(Share::default().estimate(1.96), (None, None));
        let mut a = Samples { values: smallvec::smallvec![3.0, 1.0] };
        a.merge(&Samples { values: smallvec::smallvec![2.0, 10.0] });
        let (p50, p90, mean) = a.summary().unwrap();
        assert_eq!((p50, mean), (2.5, 4.0));
        assert!((p90 - 7.9).abs() < 1e-12);
        assert!(Samples::default().summary().is_none());
    }
}
