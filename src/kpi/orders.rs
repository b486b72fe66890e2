//! Order KPIs (table: one row per order; optional order-lines table):
//! `revenue`, `self_service_adoption`, `cross_sell`, `order_accuracy`, `otif`.
//!
//! All are row-wise: each order updates the state of its (segment, period)
//! cell. The states are counts, compensated sums and a Welford/Chan moment
//! pair, so merging chunk states in the engine's fixed order gives the same
//! result for any chunking (counts exactly, sums to the last bits).
use std::borrow::Cow;

use arrow_array::cast::AsArray;
use arrow_array::types::{Decimal128Type, Decimal32Type, Decimal64Type, Float64Type};
use arrow_array::{Array, ArrayRef, ArrowPrimitiveType, PrimitiveArray, RecordBatch};
use arrow_buffer::bit_iterator::BitIndexIterator;
use arrow_buffer::NullBuffer;
use arrow_schema::{DataType, Field, Schema};
use serde::{Deserialize, Serialize};

use super::counts::Counts;
use super::{count_field, counts_and_share, value_field, with_interval, RowColumns, Share};
use crate::engine::{Ctx, DynKpi, Kpi, State};
use crate::error::{Error, Result};
use crate::ingest::{
    all_nonnegative_finite, expect_bool, expect_instant, expect_numeric, find_column, is_string, is_whole,
    show_f64, Bools, Diagnostics, Numeric,
};
use crate::keys::{for_each_kept, KeyValue};
use crate::period::{format_day, DateReader, NULL_DAY};
use crate::registry::{params, KpiInfo};
use crate::stats::{self, NeumaierSum};

// ---------------------------------------------------------------------------
// Column readers shared by the order KPIs
// ---------------------------------------------------------------------------

fn is_decimal(dt: &DataType) -> bool {
    matches!(dt, DataType::Decimal32(..) | DataType::Decimal64(..) | DataType::Decimal128(..))
}

/// Check that a measure column is numeric or decimal (32/64/128 bit).
fn expect_measure(schema: &Schema, index: usize, role: &str) -> Result<()> {
    if is_decimal(schema.field(index).data_type()) {
        return Ok(());
    }
    expect_numeric(schema, index, role)
}

/// A decimal's value as the nearest f64: `v / 10^scale`, correctly rounded
/// whenever `v` and `10^scale` are exact in f64 (|v| < 2^53, scale <= 22),
/// which covers every realistic amount; otherwise within an ulp or two.
fn decimal_to_f64(v: i128, scale: i8) -> f64 {
    const EXACT: u128 = 1 << 53;
    if scale <= 0 {
        return v as f64 * 10f64.powi(-i32::from(scale));
    }
    let p = 10f64.powi(i32::from(scale));
    if v.unsigned_abs() < EXACT && scale <= 22 {
        return v as f64 / p;
    }
    match 10i128.checked_pow(u32::from(scale.unsigned_abs())) {
        // Split into whole and fractional parts, each nearly exact.
        Some(div) => (v / div) as f64 + (v % div) as f64 / p,
        None => v as f64 / p,
    }
}

fn decimals<T: ArrowPrimitiveType>(array: &dyn Array, scale: i8) -> Vec<f64>
where
    T::Native: Into<i128>,
{
    let a: &PrimitiveArray<T> = array.as_primitive();
    a.values().iter().map(|&x| decimal_to_f64(x.into(), scale)).collect()
}

/// A measure column (any Arrow number or decimal) read as f64: a float64
/// column is borrowed as it is, other types are converted once per chunk.
struct Measure<'a> {
    values: Cow<'a, [f64]>,
    nulls: Option<NullBuffer>,
}

impl<'a> Measure<'a> {
    fn new(array: &'a dyn Array) -> Self {
        let nulls = array.logical_nulls().filter(|n| n.null_count() > 0);
        let values = match array.data_type() {
            DataType::Float64 => Cow::Borrowed(array.as_primitive::<Float64Type>().values().as_ref()),
            DataType::Decimal32(_, s) => Cow::Owned(decimals::<Decimal32Type>(array, *s)),
            DataType::Decimal64(_, s) => Cow::Owned(decimals::<Decimal64Type>(array, *s)),
            DataType::Decimal128(_, s) => Cow::Owned(decimals::<Decimal128Type>(array, *s)),
            _ => {
                let mut values = Vec::with_capacity(array.len());
                match Numeric::new(array) {
                    // Nulls read as 0 here; `get` answers None for them.
                    Some(n) => n.for_each(|_, v| values.push(v.unwrap_or_default())),
                    None => values.resize(array.len(), 0.0),
                }
                Cow::Owned(values)
            }
        };
        Measure { values, nulls }
    }

    /// The value of `row`, `None` for a null.
    #[inline]
    fn get(&self, row: usize) -> Option<f64> {
        if self.nulls.as_ref().is_some_and(|n| n.is_null(row)) {
            None
        } else {
            Some(self.values[row])
        }
    }

    /// Whether every non-null value passes [`good_quantity`]: one pass that
    /// vectorises, and the null bits looked at only if some value fails (a
    /// NaN under a null, as pandas leaves them, is no problem).
    fn all_good(&self) -> bool {
        all_nonnegative_finite(&self.values)
            || self.values.iter().enumerate().all(|(row, &x)| good_quantity(x) || self.get(row).is_none())
    }
}

/// A measure that must be a finite number >= 0; the problem to record otherwise.
fn bad_quantity(v: f64, noun: &str) -> Option<String> {
    if !v.is_finite() {
        Some(format!("with a NaN or infinite {noun}"))
    } else if v < 0.0 {
        Some(format!("with a negative {noun}"))
    } else {
        None
    }
}

/// Whether every row of an OTIF chunk passes every rule of the row loop (a
/// promised date, no delivery before the order, valid quantities, and a
/// delivered quantity wherever a delivery date is set). Column by column,
/// without short cuts, so that the loops vectorise.
fn chunk_is_valid(
    promised: &[i32],
    delivered: &[i32],
    ordered: &[i32],
    qty: &Measure,
    dqty: &Measure,
) -> bool {
    let promised_ok = promised.iter().fold(true, |ok, &d| ok & (d != NULL_DAY));
    let order_ok = ordered.is_empty()
        || delivered
            .iter()
            .zip(ordered)
            .fold(true, |ok, (&d, &o)| ok & !((d != NULL_DAY) & (o != NULL_DAY) & (d < o)));
    let qty_ok = qty.nulls.is_none() && qty.all_good();
    // A null delivered quantity needs no delivery date: looked up only where
    // the nulls are.
    let nulls_ok = dqty.nulls.as_ref().is_none_or(|nulls| {
        let null_rows = !nulls.inner();
        BitIndexIterator::new(null_rows.values(), null_rows.offset(), null_rows.len())
            .all(|row| delivered[row] == NULL_DAY)
    });
    let dqty_ok = dqty.all_good() && nulls_ok;
    promised_ok & order_ok & qty_ok & dqty_ok
}

/// Whether [`bad_quantity`] passes `v`, without building its message.
#[inline]
fn good_quantity(v: f64) -> bool {
    v.is_finite() & (v >= 0.0)
}

/// Check that a text column holds strings (any flavour, or a dictionary of them).
fn expect_text(schema: &Schema, index: usize, role: &str) -> Result<()> {
    let field = schema.field(index);
    match field.data_type() {
        // All null (pandas gives a categorical without categories a Null dictionary).
        DataType::Null => Ok(()),
        DataType::Dictionary(_, v) if **v == DataType::Null => Ok(()),
        dt if is_string(dt) => Ok(()),
        dt => Err(Error::column(
            field.name(),
            format!(
                "column '{}' ({role}=) must hold strings (or a categorical of strings), but has type {dt}. \
                 Convert it first, e.g. df[col].astype(str).",
                field.name()
            ),
        )),
    }
}

/// The code [`classify_text`] gives null values.
const NULL_CODE: u8 = u8::MAX;

/// Map each row of a text column to `class(value)`, [`NULL_CODE`] for nulls.
/// The column is encoded as a key column first, so each distinct value is
/// classified once (not compared with the classes' strings on every row).
fn classify_text(array: &dyn Array, class: &impl Fn(&str) -> u8, out: &mut Vec<u8>) {
    out.clear();
    if crate::keys::key_out_type(array.data_type()).is_none() {
        // A type bind rejected: no row has a class.
        out.extend(std::iter::repeat_n(NULL_CODE, array.len()));
        return;
    }
    let mut codes = Vec::new();
    let distinct = crate::keys::encode_column(array, &mut codes);
    let classes: Vec<u8> =
        distinct.iter().map(|v| if let KeyValue::Str(s) = v { class(s) } else { NULL_CODE }).collect();
    out.extend(codes.iter().map(|&c| classes[c as usize]));
}

/// A date or timestamp column read as days since the epoch ([`NULL_DAY`] for nulls).
#[derive(Clone, Debug)]
struct DayColumn {
    index: usize,
    /// `None` for an all-null column (Arrow type Null).
    reader: Option<DateReader>,
}

impl DayColumn {
    fn bind(schema: &Schema, name: &str, role: &str) -> Result<DayColumn> {
        let index = find_column(schema, name, role)?;
        expect_instant(schema, index, role)?;
        let dt = schema.field(index).data_type();
        let reader = match dt {
            DataType::Null => None,
            _ => Some(DateReader::new(name, dt, None)?),
        };
        Ok(DayColumn { index, reader })
    }

    fn read(&self, batch: &RecordBatch, out: &mut Vec<i32>) {
        let column = batch.column(self.index);
        match &self.reader {
            Some(r) => r.days(column.as_ref(), out),
            None => {
                out.clear();
                out.resize(column.len(), NULL_DAY);
            }
        }
    }
}

fn default_date() -> String {
    "ordered_at".into()
}

// ---------------------------------------------------------------------------
// revenue
// ---------------------------------------------------------------------------

/// Revenue's volume total: a compensated sum when the KPI reads a volume
/// column, and nothing at all with `volume=None` ([`NoVolume`] takes no byte
/// in each state, where the sum took 16).
pub trait VolumeSum:
    Clone
    + std::fmt::Debug
    + Default
    + PartialEq
    + Send
    + Sync
    + Serialize
    + serde::de::DeserializeOwned
    + 'static
{
    fn add(&mut self, v: f64);
    fn merge(&mut self, other: &Self);
    /// The total; None without a volume column.
    fn total(&self) -> Option<f64>;
}

impl VolumeSum for NeumaierSum {
    #[inline]
    fn add(&mut self, v: f64) {
        NeumaierSum::add(self, v);
    }
    fn merge(&mut self, other: &Self) {
        NeumaierSum::merge(self, other);
    }
    fn total(&self) -> Option<f64> {
        Some(self.value())
    }
}

/// Revenue without a volume column (`volume=None`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NoVolume;

impl VolumeSum for NoVolume {
    #[inline]
    fn add(&mut self, _v: f64) {}
    fn merge(&mut self, _other: &Self) {}
    fn total(&self) -> Option<f64> {
        None
    }
}

/// Revenue, order count, volume and the average ticket with its spread: 40
/// bytes without a volume column and 56 with one, while the counts stay small
/// ([`Counts`]). The mean is the compensated revenue over the count, so only
/// the sum of squared deviations is kept beside them (it was 64 and 80 bytes
/// with the mean and a volume sum in every state).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RevenueState<V = NeumaierSum> {
    /// Orders with an amount, with a null amount, invalid orders, and valid
    /// orders with a volume.
    counts: Counts<4>,
    /// Sum of amounts, compensated.
    pub revenue: NeumaierSum,
    /// Sum of squared deviations of the amounts from their mean (Welford's
    /// update; merged with Chan's formula), for the average ticket's interval.
    pub m2: f64,
    /// Sum of the volume column over valid orders with a volume.
    pub volume: V,
}

const AMOUNTS: usize = 0;
const REVENUE_MISSING: usize = 1;
const REVENUE_INVALID: usize = 2;
const VOLUMES: usize = 3;

impl<V: VolumeSum> RevenueState<V> {
    /// Orders with an amount.
    pub fn n(&self) -> u64 {
        self.counts.get(AMOUNTS)
    }
    pub fn missing(&self) -> u64 {
        self.counts.get(REVENUE_MISSING)
    }
    pub fn invalid(&self) -> u64 {
        self.counts.get(REVENUE_INVALID)
    }
    /// Valid orders with a volume.
    pub fn volume_n(&self) -> u64 {
        self.counts.get(VOLUMES)
    }

    /// The mean amount (the average ticket); NaN without amounts.
    pub fn mean(&self) -> f64 {
        self.revenue.value() / self.n() as f64
    }

    #[inline]
    pub fn add_amount(&mut self, x: f64) {
        let n = self.n();
        if n > 0 {
            // Welford's m2 += (x - mean)^2 * n / (n + 1), with the mean of the
            // n amounts so far as revenue / n: (x n - revenue)^2 / (n (n + 1)),
            // one division.
            let nf = n as f64;
            let d = x * nf - self.revenue.value();
            self.m2 += d * d / (nf * (nf + 1.0));
        }
        self.counts.add(AMOUNTS);
        self.revenue.add(x);
    }

    #[inline]
    fn add_volume(&mut self, v: f64) {
        self.volume.add(v);
        self.counts.add(VOLUMES);
    }

    /// Sample standard deviation of the amounts; NaN below two orders.
    pub fn sd(&self) -> f64 {
        let n = self.n();
        if n > 1 {
            (self.m2.max(0.0) / (n - 1) as f64).sqrt()
        } else {
            f64::NAN
        }
    }
}

impl<V: VolumeSum> State for RevenueState<V> {
    fn merge(&mut self, other: &Self) {
        let (n_self, n_other) = (self.n(), other.n());
        if n_other > 0 {
            if n_self == 0 {
                self.m2 = other.m2;
            } else {
                let (na, nb) = (n_self as f64, n_other as f64);
                let delta = other.mean() - self.mean();
                self.m2 += other.m2 + delta * delta * (na * nb / (na + nb));
            }
        }
        self.counts.merge(&other.counts);
        self.revenue.merge(&other.revenue);
        self.volume.merge(&other.volume);
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevenueParams {
    /// Order value column.
    #[serde(default = "default_amount")]
    pub amount: String,
    /// Volume column (quantity, tonnes, ...); `null` skips volume.
    #[serde(default = "default_volume")]
    pub volume: Option<String>,
    #[serde(default = "default_date")]
    pub date: String,
}

fn default_amount() -> String {
    "amount".into()
}
fn default_volume() -> Option<String> {
    Some("quantity".into())
}

/// Revenue; `V` is [`NoVolume`] when `volume=None`, so that its states carry
/// no volume sum.
pub struct RevenueKpi<V> {
    params: RevenueParams,
    amount: usize,
    volume: Option<usize>,
    sum: std::marker::PhantomData<V>,
}

impl<V> RevenueKpi<V> {
    fn new(params: RevenueParams) -> Self {
        RevenueKpi { params, amount: usize::MAX, volume: None, sum: std::marker::PhantomData }
    }
}

impl<V: VolumeSum> Kpi for RevenueKpi<V> {
    type State = RevenueState<V>;

    fn default_date(&self) -> Option<&str> {
        Some(&self.params.date)
    }

    fn bind(&mut self, schema: &Schema) -> Result<()> {
        self.amount = find_column(schema, &self.params.amount, "amount")?;
        expect_measure(schema, self.amount, "amount")?;
        self.volume = match &self.params.volume {
            None => None,
            Some(name) => {
                let i = find_column(schema, name, "volume").map_err(|e| match e {
                    Error::Input { message, column, .. } => Error::Input {
                        message: format!("{message}. Pass volume=None to compute revenue without volume."),
                        column,
                        count: None,
                        example: None,
                    },
                    other => other,
                })?;
                expect_measure(schema, i, "volume")?;
                Some(i)
            }
        };
        Ok(())
    }

    fn update(
        &self,
        batch: &RecordBatch,
        cells: &[u32],
        states: &mut [RevenueState<V>],
        diag: &mut Diagnostics,
        _ctx: &Ctx,
    ) {
        let amounts = Measure::new(batch.column(self.amount).as_ref());
        let volumes = self.volume.map(|v| Measure::new(batch.column(v).as_ref()));
        let volume_name = self.params.volume.as_deref().unwrap_or_default();
        if states.len() <= cells.len() && amounts.all_good() && volumes.as_ref().is_none_or(|v| v.all_good())
        {
            // The usual chunk: nothing to diagnose, and fewer cells than rows.
            // Two passes: counts and sums, then squared deviations from each
            // cell's mean in this chunk (the exact two-pass variance, with no
            // division per row); the chunk's moments join the states by merge.
            let mut chunk = vec![RevenueState::<V>::default(); states.len()];
            for_each_kept(cells, |row, cell| {
                let c = &mut chunk[cell as usize];
                match amounts.get(row) {
                    Some(a) => {
                        c.counts.add(AMOUNTS);
                        c.revenue.add(a);
                    }
                    None => c.counts.add(REVENUE_MISSING),
                }
                if let Some(v) = volumes.as_ref().and_then(|v| v.get(row)) {
                    c.add_volume(v);
                }
            });
            // (NaN for a cell without amounts: never read, no row has one.)
            let means: Vec<f64> = chunk.iter().map(RevenueState::mean).collect();
            for_each_kept(cells, |row, cell| {
                if let Some(a) = amounts.get(row) {
                    let d = a - means[cell as usize];
                    chunk[cell as usize].m2 += d * d;
                }
            });
            for (state, c) in states.iter_mut().zip(&chunk) {
                state.merge(c);
            }
            return;
        }
        for_each_kept(cells, |row, cell| {
            let amount = amounts.get(row);
            let volume = volumes.as_ref().and_then(|v| v.get(row));
            let mut bad = false;
            if let Some(problem) = amount.and_then(|a| bad_quantity(a, "amount")) {
                diag.record(&self.params.amount, &problem, || show_f64(amount.unwrap_or_default()));
                bad = true;
            }
            if let Some(problem) = volume.and_then(|v| bad_quantity(v, "volume")) {
                diag.record(volume_name, &problem, || show_f64(volume.unwrap_or_default()));
                bad = true;
            }
            let state = &mut states[cell as usize];
            if bad {
                state.counts.add(REVENUE_INVALID);
                return;
            }
            match amount {
                Some(a) => state.add_amount(a),
                None => state.counts.add(REVENUE_MISSING),
            }
            if let Some(v) = volume {
                state.add_volume(v);
            }
        });
    }

    fn fields(&self) -> Vec<Field> {
        let mut fields = vec![count_field("n"), count_field("missing"), count_field("invalid")];
        fields.push(value_field("revenue"));
        fields.push(value_field("volume"));
        fields.extend(with_interval("average_ticket"));
        fields
    }

    fn finalize(&self, states: &[&RevenueState<V>], ctx: &Ctx) -> Vec<ArrayRef> {
        let mut out = RowColumns::new(ctx, states.len(), 3, 5);
        for s in states {
            let n = s.n();
            out.count(0, n);
            out.count(1, s.missing());
            out.count(2, s.invalid());
            out.value(0, (n > 0).then(|| s.revenue.value()));
            out.value(1, s.volume.total().filter(|_| s.volume_n() > 0));
            let ticket = (n > 0).then(|| s.mean());
            out.estimate(2, ticket, || {
                ticket.and_then(|mean| stats::t_interval(mean, s.sd(), n, ctx.confidence))
            });
        }
        out.finish()
    }
}

// ---------------------------------------------------------------------------
// self_service_adoption (share of orders)
// ---------------------------------------------------------------------------

/// Orders placed through a self-service channel, of orders with a channel:
/// counts of other channels, self-service and null channels ([`Counts`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChannelState(Counts<3>);

/// [`ChannelState`]'s slot of orders without a channel.
const CHANNEL_MISSING: usize = 2;

impl ChannelState {
    pub fn share(&self) -> Share {
        self.0.share(1, 0)
    }
    pub fn missing(&self) -> u64 {
        self.0.get(CHANNEL_MISSING)
    }
}

impl State for ChannelState {
    fn merge(&mut self, other: &Self) {
        self.0.merge(&other.0);
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelfServiceParams {
    #[serde(default = "default_channel")]
    pub channel: String,
    /// Channel values that count as self-service (exact, case-sensitive).
    #[serde(default = "default_channels")]
    pub channels: Vec<String>,
    #[serde(default = "default_date")]
    pub date: String,
}

fn default_channel() -> String {
    "channel".into()
}
fn default_channels() -> Vec<String> {
    ["portal", "app", "web", "edi"].map(String::from).to_vec()
}

pub struct SelfServiceKpi {
    params: SelfServiceParams,
    index: usize,
}

impl Kpi for SelfServiceKpi {
    type State = ChannelState;

    fn default_date(&self) -> Option<&str> {
        Some(&self.params.date)
    }

    fn bind(&mut self, schema: &Schema) -> Result<()> {
        self.index = find_column(schema, &self.params.channel, "channel")?;
        expect_text(schema, self.index, "channel")
    }

    fn update(
        &self,
        batch: &RecordBatch,
        cells: &[u32],
        states: &mut [ChannelState],
        _diag: &mut Diagnostics,
        _ctx: &Ctx,
    ) {
        let channels = &self.params.channels;
        let mut codes = Vec::new();
        classify_text(
            batch.column(self.index).as_ref(),
            &|s| u8::from(channels.iter().any(|c| c == s)),
            &mut codes,
        );
        // Codes 0 (another channel) and 1 (self-service) are their own slots.
        for_each_kept(cells, |row, cell| {
            let code = codes[row];
            states[cell as usize].0.add(if code == NULL_CODE { CHANNEL_MISSING } else { usize::from(code) });
        });
    }

    fn fields(&self) -> Vec<Field> {
        let mut fields = vec![count_field("n"), count_field("missing")];
        fields.extend(with_interval("self_service_pct"));
        fields
    }

    fn finalize(&self, states: &[&ChannelState], ctx: &Ctx) -> Vec<ArrayRef> {
        counts_and_share(
            states,
            |s| {
                let share = s.share();
                ([share.n, s.missing()], share)
            },
            ctx,
        )
    }
}

// ---------------------------------------------------------------------------
// cross_sell (from a flag column)
// ---------------------------------------------------------------------------

/// A share read from a flag column, with nulls and bad values counted aside.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FlagState {
    pub share: Share,
    pub missing: u64,
    pub invalid: u64,
}

impl State for FlagState {
    fn merge(&mut self, other: &Self) {
        self.share.merge(&other.share);
        self.missing += other.missing;
        self.invalid += other.invalid;
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrossSellParams {
    /// Bool (or 0/1) column: the order has an add-on or upgrade line.
    #[serde(default = "default_flag")]
    pub flag: String,
    #[serde(default = "default_date")]
    pub date: String,
}

fn default_flag() -> String {
    "has_addon".into()
}

pub struct CrossSellKpi {
    params: CrossSellParams,
    index: usize,
}

const NOT_A_FLAG: &str = "with a value that is not a boolean or 0/1";

impl Kpi for CrossSellKpi {
    type State = FlagState;

    fn default_date(&self) -> Option<&str> {
        Some(&self.params.date)
    }

    fn bind(&mut self, schema: &Schema) -> Result<()> {
        self.index = find_column(schema, &self.params.flag, "flag")?;
        expect_bool(schema, self.index, "flag")
    }

    fn update(
        &self,
        batch: &RecordBatch,
        cells: &[u32],
        states: &mut [FlagState],
        diag: &mut Diagnostics,
        _ctx: &Ctx,
    ) {
        let column = batch.column(self.index);
        let Some(flags) = Bools::new(column.as_ref()) else { return };
        flags.for_each_kept(cells, |_, cell, v| {
            let state = &mut states[cell as usize];
            match v {
                None => state.missing += 1,
                Some(Ok(b)) => state.share.add(b),
                Some(Err(x)) => {
                    state.invalid += 1;
                    diag.record(&self.params.flag, NOT_A_FLAG, || show_f64(x));
                }
            }
        });
    }

    fn fields(&self) -> Vec<Field> {
        let mut fields = vec![count_field("n"), count_field("missing"), count_field("invalid")];
        fields.extend(with_interval("cross_sell_pct"));
        fields
    }

    fn finalize(&self, states: &[&FlagState], ctx: &Ctx) -> Vec<ArrayRef> {
        counts_and_share(states, |s| ([s.share.n, s.missing, s.invalid], s.share), ctx)
    }
}

// ---------------------------------------------------------------------------
// order_accuracy
// ---------------------------------------------------------------------------

/// The error types with their own column; anything else is `other`.
pub const ERROR_TYPES: [&str; 3] = ["picking", "packing", "loading"];

/// Orders fulfilled correctly first time, and orders per error type, in 16
/// bytes while the counts stay small ([`Counts`]; eight `u64`s took 64).
/// Slots: accurate, inaccurate, missing, invalid, then the error types
/// picking, packing, loading and other (of the checked orders).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AccuracyState(Counts<8>);

const ACCURATE: usize = 0;
const INACCURATE: usize = 1;
const ACCURACY_MISSING: usize = 2;
const ACCURACY_INVALID: usize = 3;
const FIRST_ERROR_TYPE: usize = 4;

impl AccuracyState {
    /// Counts one checked order, and its error type's bucket if it has one.
    #[inline]
    fn add(&mut self, accurate: bool, error_type: Option<&u8>) {
        self.0.add(if accurate { ACCURATE } else { INACCURATE });
        match error_type {
            Some(&t) if t != NULL_CODE => self.0.add(FIRST_ERROR_TYPE + usize::from(t)),
            _ => {}
        }
    }

    /// Accurate orders of the checked ones.
    pub fn share(&self) -> Share {
        self.0.share(ACCURATE, INACCURATE)
    }
    pub fn missing(&self) -> u64 {
        self.0.get(ACCURACY_MISSING)
    }
    pub fn invalid(&self) -> u64 {
        self.0.get(ACCURACY_INVALID)
    }
    /// Checked orders per error type: picking, packing, loading, other.
    pub fn errors(&self) -> [u64; 4] {
        std::array::from_fn(|t| self.0.get(FIRST_ERROR_TYPE + t))
    }
}

impl State for AccuracyState {
    fn merge(&mut self, other: &Self) {
        self.0.merge(&other.0);
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccuracyParams {
    /// Bool (or 0/1) column: fulfilled correctly first time. Not read when `error_count` is given.
    #[serde(default = "default_accurate")]
    pub accurate: String,
    /// Error-count column: accurate when it is 0 (replaces `accurate`).
    #[serde(default)]
    pub error_count: Option<String>,
    /// Error-type column (`picking`, `packing`, `loading`, else other); `null` skips the counts.
    #[serde(default = "default_error_type")]
    pub error_type: Option<String>,
    #[serde(default = "default_date")]
    pub date: String,
}

fn default_accurate() -> String {
    "accurate".into()
}
fn default_error_type() -> Option<String> {
    Some("error_type".into())
}

pub struct AccuracyKpi {
    params: AccuracyParams,
    /// The `accurate` or `error_count` column.
    outcome: usize,
    error_type: Option<usize>,
}

const BAD_ERROR_COUNT: &str = "with an error count that is not a whole number >= 0";

/// The bucket of an error type: 0-2 for [`ERROR_TYPES`] (ASCII case-insensitive,
/// surrounding spaces ignored), 3 for anything else.
fn error_bucket(s: &str) -> u8 {
    let s = s.trim();
    ERROR_TYPES.iter().position(|t| t.eq_ignore_ascii_case(s)).unwrap_or(3) as u8
}

impl Kpi for AccuracyKpi {
    type State = AccuracyState;

    fn default_date(&self) -> Option<&str> {
        Some(&self.params.date)
    }

    fn bind(&mut self, schema: &Schema) -> Result<()> {
        self.outcome = match &self.params.error_count {
            Some(name) => {
                let i = find_column(schema, name, "error_count")?;
                expect_numeric(schema, i, "error_count")?;
                i
            }
            None => {
                let i = find_column(schema, &self.params.accurate, "accurate")?;
                expect_bool(schema, i, "accurate")?;
                i
            }
        };
        self.error_type = match &self.params.error_type {
            None => None,
            Some(name) => {
                let i = find_column(schema, name, "error_type")?;
                expect_text(schema, i, "error_type")?;
                Some(i)
            }
        };
        Ok(())
    }

    fn update(
        &self,
        batch: &RecordBatch,
        cells: &[u32],
        states: &mut [AccuracyState],
        diag: &mut Diagnostics,
        _ctx: &Ctx,
    ) {
        let mut types = Vec::new();
        if let Some(i) = self.error_type {
            classify_text(batch.column(i).as_ref(), &error_bucket, &mut types);
        }
        let column = batch.column(self.outcome);
        if let (None, Some(flags)) =
            (&self.params.error_count, column.as_boolean_opt().filter(|a| a.null_count() == 0))
        {
            // The usual flag column, boolean without nulls: nothing to
            // diagnose, so the flags are read in place.
            let values = flags.values();
            for_each_kept(cells, |row, cell| states[cell as usize].add(values.value(row), types.get(row)));
            return;
        }
        // Per row: Some(Ok(accurate)), None (null) or Some(Err(bad value)).
        let mut outcome: Vec<Option<std::result::Result<bool, f64>>> = Vec::with_capacity(cells.len());
        let (name, problem) = match &self.params.error_count {
            Some(name) => {
                if let Some(n) = Numeric::new(column.as_ref()) {
                    n.for_each(|_, v| {
                        outcome.push(v.map(|x| if x >= 0.0 && is_whole(x) { Ok(x == 0.0) } else { Err(x) }))
                    });
                }
                (name.as_str(), BAD_ERROR_COUNT)
            }
            None => {
                if let Some(b) = Bools::new(column.as_ref()) {
                    b.for_each(|_, v| outcome.push(v));
                }
                (self.params.accurate.as_str(), NOT_A_FLAG)
            }
        };
        outcome.resize(cells.len(), None);
        for_each_kept(cells, |row, cell| {
            let state = &mut states[cell as usize];
            match outcome[row] {
                None => state.0.add(ACCURACY_MISSING),
                Some(Err(x)) => {
                    state.0.add(ACCURACY_INVALID);
                    diag.record(name, problem, || show_f64(x));
                }
                Some(Ok(ok)) => state.add(ok, types.get(row)),
            }
        });
    }

    fn fields(&self) -> Vec<Field> {
        let mut fields = vec![count_field("n"), count_field("missing"), count_field("invalid")];
        fields.extend(with_interval("accuracy_pct"));
        for t in ERROR_TYPES.iter().chain(&["other"]) {
            fields.push(Field::new(format!("errors_{t}"), DataType::Int64, true));
        }
        fields
    }

    fn finalize(&self, states: &[&AccuracyState], ctx: &Ctx) -> Vec<ArrayRef> {
        // One pass over the states (each re-read from memory with a cell per
        // row): n, missing, invalid and the error counts, then the share.
        let with_types = self.params.error_type.is_some();
        // The fields put the share between the counts and the error counts:
        // `columns=` picks among them in field order (internal column i is field fields[i]).
        let fields: &[usize] = if with_types { &[0, 1, 2, 6, 7, 8, 9, 3, 4, 5] } else { &[0, 1, 2, 3, 4, 5] };
        let keep = ctx.keep.as_ref().map(|keep| fields.iter().map(|&f| keep[f]).collect());
        let mut out =
            RowColumns::new(&Ctx { keep, ..ctx.clone() }, states.len(), if with_types { 7 } else { 3 }, 3);
        for s in states {
            let share = s.share();
            out.count(0, share.n);
            out.count(1, s.missing());
            out.count(2, s.invalid());
            if with_types {
                out.counts(3, s.errors());
            }
            out.share(0, share, ctx.z);
        }
        let mut columns = out.finish();
        // Fields: the three counts, the share and its interval, the error counts.
        let share: Vec<ArrayRef> = columns.drain(columns.len() - 3..).collect();
        let errors: Vec<ArrayRef> = if with_types {
            columns.drain(3..).collect()
        } else {
            // Without an error-type column the counts are null: columns of
            // zeroed memory the pages of which are never written.
            (0..4).map(|_| arrow_array::new_null_array(&DataType::Int64, states.len())).collect()
        };
        columns.extend(share);
        columns.extend(errors);
        columns
    }
}

// ---------------------------------------------------------------------------
// otif
// ---------------------------------------------------------------------------

/// OTIF counts: valid orders by [`Outcome::code`], then invalid orders, in
/// 16 bytes while they stay small ([`Counts`]; seven `u64`s took 56). `due =
/// n - pending - invalid`; the three rates are over `due`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OtifState(Counts<{ Outcome::CODES + 1 }>);

/// The slot of invalid orders, after the outcome codes.
const OTIF_INVALID: usize = Outcome::CODES;

impl OtifState {
    /// Every order of the cell (valid or not).
    pub fn n(&self) -> u64 {
        self.0.total()
    }
    /// Valid orders whose promise deadline has not passed at `as_of`.
    pub fn pending(&self) -> u64 {
        self.0.get(0)
    }
    /// Due orders not delivered by `as_of`.
    pub fn undelivered(&self) -> u64 {
        self.0.get(1)
    }
    pub fn invalid(&self) -> u64 {
        self.0.get(OTIF_INVALID)
    }
    pub fn on_time(&self) -> u64 {
        self.0.get(3) + self.0.get(5)
    }
    pub fn in_full(&self) -> u64 {
        self.0.get(4) + self.0.get(5)
    }
    pub fn otif(&self) -> u64 {
        self.0.get(5)
    }
    pub fn due(&self) -> u64 {
        self.n() - self.pending() - self.invalid()
    }

    #[inline]
    fn add(&mut self, outcome: Outcome) {
        self.0.add(usize::from(outcome.code()));
    }

    #[inline]
    fn add_invalid(&mut self) {
        self.0.add(OTIF_INVALID);
    }

    /// Counts valid orders given as how many had each [`Outcome::code`].
    fn add_counts(&mut self, counts: &[u32; Outcome::CODES]) {
        for (code, &c) in counts.iter().enumerate() {
            if c > 0 {
                self.0.add_n(code, u64::from(c));
            }
        }
    }
}

impl State for OtifState {
    fn merge(&mut self, other: &Self) {
        self.0.merge(&other.0);
    }
}

/// One valid order as OTIF sees it (days since the epoch).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Delivery {
    pub promised: i32,
    /// `None` while undelivered.
    pub delivered: Option<i32>,
    pub quantity: f64,
    /// Read only when delivered.
    pub delivered_quantity: f64,
}

/// What OTIF makes of one valid order at `as_of`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The promise deadline has not passed: left out of every rate.
    Pending,
    Due {
        delivered: bool,
        on_time: bool,
        in_full: bool,
    },
}

impl Outcome {
    /// How many [`Outcome::code`]s there are.
    pub const CODES: usize = 6;

    /// A dense code per outcome: pending 0, undelivered 1, and delivered
    /// `2 + on_time + 2 * in_full` (2 to 5). Due and undelivered implies
    /// neither on time nor in full ([`judge`]).
    #[inline]
    pub fn code(self) -> u8 {
        match self {
            Outcome::Pending => 0,
            Outcome::Due { delivered, on_time, in_full } => {
                u8::from(!delivered) | (u8::from(delivered) * (2 + u8::from(on_time) + 2 * u8::from(in_full)))
            }
        }
    }
}

/// The censoring rule: an order is due when its deadline (promised +
/// `tolerance_days`) is before `as_of`; a due order delivered after `as_of`
/// (or not at all) is undelivered, hence late and not in full. No `as_of`
/// (no dates observed at all) leaves every order pending.
#[inline]
pub fn judge(d: Delivery, as_of: Option<i32>, tolerance_days: i32, tolerance: f64) -> Outcome {
    let deadline = d.promised.saturating_add(tolerance_days);
    let Some(as_of) = as_of else { return Outcome::Pending };
    if deadline > as_of {
        return Outcome::Pending;
    }
    // Flags combined with `&`, not `&&`: the outcome code loop need not branch on them.
    let day = d.delivered.unwrap_or(i32::MAX);
    let delivered = d.delivered.is_some() & (day <= as_of);
    Outcome::Due {
        delivered,
        on_time: delivered & (day <= deadline),
        in_full: delivered & (d.delivered_quantity >= d.quantity * (1.0 - tolerance)),
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtifParams {
    #[serde(default = "default_promised")]
    pub promised: String,
    #[serde(default = "default_delivered")]
    pub delivered: String,
    /// Order date, to catch deliveries before the order; `null` skips that check.
    #[serde(default = "default_ordered")]
    pub ordered: Option<String>,
    #[serde(default = "default_quantity")]
    pub quantity: String,
    #[serde(default = "default_delivered_quantity")]
    pub delivered_quantity: String,
    /// Days of grace after the promised date.
    #[serde(default)]
    pub tolerance_days: i32,
    /// Fraction of the ordered quantity that may be missing and still count in full.
    #[serde(default)]
    pub tolerance: f64,
    #[serde(default = "default_date")]
    pub date: String,
}

fn default_promised() -> String {
    "promised_date".into()
}
fn default_delivered() -> String {
    "delivered_date".into()
}
fn default_ordered() -> Option<String> {
    Some("ordered_at".into())
}
fn default_quantity() -> String {
    "quantity".into()
}
fn default_delivered_quantity() -> String {
    "quantity_delivered".into()
}

pub struct OtifKpi {
    params: OtifParams,
    promised: Option<DayColumn>,
    delivered: Option<DayColumn>,
    ordered: Option<DayColumn>,
    quantity: usize,
    delivered_quantity: usize,
}

impl OtifKpi {
    pub fn new(params: OtifParams) -> Result<Self> {
        if params.tolerance_days < 0 {
            return Err(Error::param(format!(
                "otif: tolerance_days must be 0 or more days of grace, got {}",
                params.tolerance_days
            )));
        }
        if !(0.0..1.0).contains(&params.tolerance) {
            return Err(Error::param(format!(
                "otif: tolerance must be a fraction in [0, 1), e.g. 0.02 for 2% short, got {}",
                params.tolerance
            )));
        }
        Ok(OtifKpi {
            params,
            promised: None,
            delivered: None,
            ordered: None,
            quantity: usize::MAX,
            delivered_quantity: usize::MAX,
        })
    }
}

const NULL_PROMISE: &str = "with a null promised date (no deadline to judge the delivery by)";
const NULL_QUANTITY: &str = "with a null ordered quantity (in full cannot be judged)";
const NULL_DELIVERED_QUANTITY: &str = "delivered (a delivery date is set) without a delivered quantity";
const BEFORE_ORDER: &str = "delivered before the order date";

impl Kpi for OtifKpi {
    type State = OtifState;

    fn default_date(&self) -> Option<&str> {
        Some(&self.params.date)
    }

    fn observed_dates(&self) -> Vec<String> {
        self.params.ordered.iter().chain([&self.params.delivered]).cloned().collect()
    }

    fn bind(&mut self, schema: &Schema) -> Result<()> {
        self.promised = Some(DayColumn::bind(schema, &self.params.promised, "promised")?);
        self.delivered = Some(DayColumn::bind(schema, &self.params.delivered, "delivered")?);
        self.ordered = match &self.params.ordered {
            Some(name) => Some(DayColumn::bind(schema, name, "ordered")?),
            None => None,
        };
        self.quantity = find_column(schema, &self.params.quantity, "quantity")?;
        expect_measure(schema, self.quantity, "quantity")?;
        self.delivered_quantity = find_column(schema, &self.params.delivered_quantity, "delivered_quantity")?;
        expect_measure(schema, self.delivered_quantity, "delivered_quantity")
    }

    fn update(
        &self,
        batch: &RecordBatch,
        cells: &[u32],
        states: &mut [OtifState],
        diag: &mut Diagnostics,
        ctx: &Ctx,
    ) {
        let p = &self.params;
        let (mut promised, mut delivered, mut ordered) = (Vec::new(), Vec::new(), Vec::new());
        self.promised.as_ref().expect("bound").read(batch, &mut promised);
        self.delivered.as_ref().expect("bound").read(batch, &mut delivered);
        if let Some(o) = &self.ordered {
            o.read(batch, &mut ordered);
        }
        let qty = Measure::new(batch.column(self.quantity).as_ref());
        let dqty = Measure::new(batch.column(self.delivered_quantity).as_ref());
        let ordered_name = p.ordered.as_deref().unwrap_or_default();

        if chunk_is_valid(&promised, &delivered, &ordered, &qty, &dqty) {
            // The usual case: no row to diagnose, so the loop holds the rule alone.
            // First every row's outcome code, in a loop without branches or
            // state, then one count per row into its cell's histogram.
            let rows = cells.len();
            let (promised, delivered) = (&promised[..rows], &delivered[..rows]);
            let (q, dq) = (&qty.values[..rows], &dqty.values[..rows]);
            let codes: Vec<u8> = (0..rows)
                .map(|row| {
                    let deliv = delivered[row];
                    let d = Delivery {
                        promised: promised[row],
                        delivered: (deliv != NULL_DAY).then_some(deliv),
                        quantity: q[row],
                        // Read only when delivered, and valid then (checked above).
                        delivered_quantity: dq[row],
                    };
                    judge(d, ctx.as_of, p.tolerance_days, p.tolerance).code()
                })
                .collect();
            if states.len() <= rows {
                let mut histogram = vec![[0u32; Outcome::CODES]; states.len()];
                for_each_kept(cells, |row, cell| histogram[cell as usize][usize::from(codes[row])] += 1);
                for (state, counts) in states.iter_mut().zip(&histogram) {
                    state.add_counts(counts);
                }
            } else {
                // More cells than rows (the scan's direct mode, global cells).
                for_each_kept(cells, |row, cell| states[cell as usize].0.add(usize::from(codes[row])));
            }
            return;
        }
        for_each_kept(cells, |row, cell| {
            let (prom, deliv) = (promised[row], delivered[row]);
            let order_day = ordered.get(row).copied().unwrap_or(NULL_DAY);
            let (q, dq) = (qty.get(row), dqty.get(row));
            let mut bad = false;
            if prom == NULL_DAY {
                diag.record(&p.promised, NULL_PROMISE, || "null".into());
                bad = true;
            }
            if deliv != NULL_DAY && order_day != NULL_DAY && deliv < order_day {
                diag.record(&p.delivered, BEFORE_ORDER, || {
                    format!("delivered {}, {ordered_name} {}", format_day(deliv), format_day(order_day))
                });
                bad = true;
            }
            match q {
                None => {
                    diag.record(&p.quantity, NULL_QUANTITY, || "null".into());
                    bad = true;
                }
                Some(x) => {
                    if let Some(problem) = bad_quantity(x, "quantity") {
                        diag.record(&p.quantity, &problem, || show_f64(x));
                        bad = true;
                    }
                }
            }
            match dq {
                None if deliv != NULL_DAY => {
                    diag.record(&p.delivered_quantity, NULL_DELIVERED_QUANTITY, || "null".into());
                    bad = true;
                }
                Some(x) => {
                    if let Some(problem) = bad_quantity(x, "delivered quantity") {
                        diag.record(&p.delivered_quantity, &problem, || show_f64(x));
                        bad = true;
                    }
                }
                None => {}
            }
            let state = &mut states[cell as usize];
            if bad {
                state.add_invalid();
                return;
            }
            let d = Delivery {
                promised: prom,
                delivered: (deliv != NULL_DAY).then_some(deliv),
                quantity: q.unwrap_or_default(),
                delivered_quantity: dq.unwrap_or_default(),
            };
            state.add(judge(d, ctx.as_of, p.tolerance_days, p.tolerance));
        });
    }

    fn fields(&self) -> Vec<Field> {
        let mut fields: Vec<Field> =
            ["n", "due", "pending", "undelivered", "invalid"].into_iter().map(count_field).collect();
        for name in ["on_time_pct", "in_full_pct", "otif_pct"] {
            fields.extend(with_interval(name));
        }
        fields
    }

    fn finalize(&self, states: &[&OtifState], ctx: &Ctx) -> Vec<ArrayRef> {
        let mut out = RowColumns::new(ctx, states.len(), 5, 9);
        for s in states {
            let due = s.due();
            out.counts(0, [s.n(), due, s.pending(), s.undelivered(), s.invalid()]);
            for (i, hits) in [s.on_time(), s.in_full(), s.otif()].into_iter().enumerate() {
                out.share(3 * i, Share { hits, n: due }, ctx.z);
            }
        }
        out.finish()
    }
}

// ---------------------------------------------------------------------------
// Catalogue and constructor
// ---------------------------------------------------------------------------

/// The orders KPIs in the catalogue.
pub const CATALOG: &[KpiInfo] = &[
    KpiInfo {
        name: "revenue",
        family: "orders",
        table: "orders",
        description: "Revenue (sum of amount), orders, volume and average ticket (t interval)",
        value_column: "revenue",
        unit: "currency",
        direction: "higher",
        target: None,
    },
    KpiInfo {
        name: "self_service_adoption",
        family: "orders",
        table: "orders",
        description: "Share of orders placed through a self-service channel (portal, app, web, edi)",
        value_column: "self_service_pct",
        unit: "%",
        direction: "higher",
        target: Some(80.0),
    },
    KpiInfo {
        name: "cross_sell",
        family: "orders",
        table: "orders",
        description: "Share of orders with at least one add-on or upgrade line",
        value_column: "cross_sell_pct",
        unit: "%",
        direction: "higher",
        target: Some(25.0),
    },
    KpiInfo {
        name: "order_accuracy",
        family: "orders",
        table: "orders",
        description: "Share of orders fulfilled correctly first time; orders per error type",
        value_column: "accuracy_pct",
        unit: "%",
        direction: "higher",
        target: Some(98.0),
    },
    KpiInfo {
        name: "otif",
        family: "orders",
        table: "orders",
        description: "On time, in full and OTIF shares of the orders whose promise deadline has passed",
        value_column: "otif_pct",
        unit: "%",
        direction: "higher",
        target: Some(95.0),
    },
];

/// Build one of this family's KPIs; `None` when `kind` is not one of them.
pub fn build(kind: &str, p: &serde_json::Value) -> Option<Result<Box<dyn DynKpi>>> {
    let built = match kind {
        "revenue" => params::<RevenueParams>(kind, p).map(|params| match params.volume {
            Some(_) => Box::new(RevenueKpi::<NeumaierSum>::new(params)) as Box<dyn DynKpi>,
            None => Box::new(RevenueKpi::<NoVolume>::new(params)) as Box<dyn DynKpi>,
        }),
        "self_service_adoption" => params::<SelfServiceParams>(kind, p).and_then(|params| {
            if params.channels.is_empty() {
                return Err(Error::param("self_service_adoption: channels= must list at least one channel"));
            }
            Ok(Box::new(SelfServiceKpi { params, index: usize::MAX }) as Box<dyn DynKpi>)
        }),
        "cross_sell" => params::<CrossSellParams>(kind, p)
            .map(|params| Box::new(CrossSellKpi { params, index: usize::MAX }) as Box<dyn DynKpi>),
        "order_accuracy" => params::<AccuracyParams>(kind, p).map(|params| {
            Box::new(AccuracyKpi { params, outcome: usize::MAX, error_type: None }) as Box<dyn DynKpi>
        }),
        "otif" => {
            params::<OtifParams>(kind, p).and_then(OtifKpi::new).map(|k| Box::new(k) as Box<dyn DynKpi>)
        }
        _ => return None,
    };
    Some(built)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, Int64Type};
    use arrow_array::{
        BooleanArray, Date32Array, Decimal128Array, DictionaryArray, Float64Array, Int64Array, StringArray,
    };
    use arrow_schema::ArrowError;

    use super::*;
    use crate::engine::{run, Request};

    fn go(request: &str, batches: Vec<RecordBatch>) -> Result<RecordBatch> {
        let schema = batches[0].schema();
        let req = Request::from_json(request).unwrap();
        run(&req, schema, batches.into_iter().map(Ok::<_, ArrowError>)).map(|o| o.batch)
    }

    fn table(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
        RecordBatch::try_from_iter(columns).unwrap()
    }

    fn f64s(b: &RecordBatch, name: &str) -> Vec<Option<f64>> {
        b.column_by_name(name).unwrap().as_primitive::<Float64Type>().iter().collect()
    }

    fn i64s(b: &RecordBatch, name: &str) -> Vec<i64> {
        b.column_by_name(name).unwrap().as_primitive::<Int64Type>().values().to_vec()
    }

    fn revenue_of(amounts: &[f64]) -> RevenueState {
        let mut s = RevenueState::default();
        amounts.iter().for_each(|&a| s.add_amount(a));
        s
    }

    #[test]
    fn revenue_merge_matches_one_pass() {
        let xs: Vec<f64> =
            (0..1000).map(|i| 1e6 + (i as f64 * 0.37).sin() * 100.0 + 0.01 * i as f64).collect();
        let whole = revenue_of(&xs);
        let mut merged = RevenueState::default();
        for chunk in xs.chunks(77) {
            merged.merge(&revenue_of(chunk));
        }
        assert_eq!(merged.n(), whole.n());
        let rel = |a: f64, b: f64| (a - b).abs() / b.abs();
        assert!(rel(merged.revenue.value(), whole.revenue.value()) < 1e-15);
        assert!(rel(merged.mean(), whole.mean()) < 1e-14);
        assert!(rel(merged.sd(), whole.sd()) < 1e-9, "{} vs {}", merged.sd(), whole.sd());
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (xs.len() - 1) as f64;
        assert!(rel(whole.sd(), var.sqrt()) < 1e-9);
        // Merging into and from an empty state is the identity.
        let mut e = RevenueState::default();
        e.merge(&whole);
        e.merge(&RevenueState::default());
        assert_eq!(
            (e.n(), e.mean(), e.m2, e.revenue.value()),
            (whole.n(), whole.mean(), whole.m2, whole.revenue.value())
        );
    }

    #[test]
    fn decimals_convert_exactly() {
        assert_eq!(decimal_to_f64(12345, 2), 123.45);
        assert_eq!(decimal_to_f64(-5, 1), -0.5);
        assert_eq!(decimal_to_f64(7, -2), 700.0);
        assert_eq!(
            decimal_to_f64(1_234_567_890_123_456_789_012, 4),
            "123456789012345678.9012".parse::<f64>().unwrap()
        );
        assert_eq!(decimal_to_f64(123_456_789_012_345, 6), "123456789.012345".parse::<f64>().unwrap());
    }

    #[test]
    fn revenue_end_to_end_with_decimals_and_bad_rows() {
        let amount = Decimal128Array::from(vec![Some(10050), Some(2000), None, Some(-100), Some(4950)])
            .with_precision_and_scale(12, 2)
            .unwrap();
        let b = table(vec![
            ("rep", Arc::new(StringArray::from(vec!["a", "a", "a", "a", "b"])) as ArrayRef),
            ("amount", Arc::new(amount) as ArrayRef),
            (
                "quantity",
                Arc::new(Float64Array::from(vec![Some(1.0), None, Some(2.0), Some(1.0), Some(3.0)])),
            ),
        ]);
        let err = go(r#"{"kpis":[{"kind":"revenue"}],"by":["rep"]}"#, vec![b.clone()]).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("column 'amount': 1 row with a negative amount (example: -1)"), "{msg}");
        let out =
            go(r#"{"kpis":[{"kind":"revenue"}],"by":["rep"],"on_invalid":"drop"}"#, vec![b.clone()]).unwrap();
        assert_eq!(i64s(&out, "n"), vec![2, 1]);
        assert_eq!(i64s(&out, "missing"), vec![1, 0]);
        assert_eq!(i64s(&out, "invalid"), vec![1, 0]);
        assert_eq!(f64s(&out, "revenue"), vec![Some(120.5), Some(49.5)]);
        assert_eq!(f64s(&out, "volume"), vec![Some(3.0), Some(3.0)]);
        assert_eq!(f64s(&out, "average_ticket"), vec![Some(60.25), Some(49.5)]);
        assert!(f64s(&out, "average_ticket_ci_low")[0].unwrap() < 60.25);
        assert_eq!(f64s(&out, "average_ticket_ci_low")[1], None);
        let out =
            go(r#"{"kpis":[{"kind":"revenue","params":{"volume":null}}],"on_invalid":"drop"}"#, vec![b])
                .unwrap();
        assert_eq!(f64s(&out, "volume"), vec![None]);
    }

    #[test]
    fn self_service_reads_strings_and_dictionaries() {
        let plain = StringArray::from(vec![Some("portal"), Some("phone"), None, Some("edi"), Some("Portal")]);
        let dict: DictionaryArray<arrow_array::types::Int8Type> =
            vec![Some("portal"), Some("phone"), None, Some("edi"), Some("Portal")].into_iter().collect();
        for channel in [Arc::new(plain) as ArrayRef, Arc::new(dict) as ArrayRef] {
            let out =
                go(r#"{"kpis":[{"kind":"self_service_adoption"}]}"#, vec![table(vec![("channel", channel)])])
                    .unwrap();
            assert_eq!(i64s(&out, "n"), vec![4]);
            assert_eq!(i64s(&out, "missing"), vec![1]);
            assert_eq!(f64s(&out, "self_service_pct"), vec![Some(50.0)]);
        }
    }

    #[test]
    fn accuracy_from_flag_or_error_count_with_error_types() {
        let b = table(vec![
            (
                "accurate",
                Arc::new(BooleanArray::from(vec![Some(true), Some(false), Some(false), None])) as ArrayRef,
            ),
            ("error_count", Arc::new(Int64Array::from(vec![Some(0), Some(2), Some(-1), Some(1)]))),
            (
                "error_type",
                Arc::new(StringArray::from(vec![None, Some("Picking"), Some("damaged"), Some("loading")])),
            ),
        ]);
        let out = go(r#"{"kpis":[{"kind":"order_accuracy"}]}"#, vec![b.clone()]).unwrap();
        assert_eq!((i64s(&out, "n"), i64s(&out, "missing")), (vec![3], vec![1]));
        assert!((f64s(&out, "accuracy_pct")[0].unwrap() - 100.0 / 3.0).abs() < 1e-12);
        let errors: Vec<i64> = ["picking", "packing", "loading", "other"]
            .iter()
            .map(|t| i64s(&out, &format!("errors_{t}"))[0])
            .collect();
        assert_eq!(errors, vec![1, 0, 0, 1]);
        let req = r#"{"kpis":[{"kind":"order_accuracy","params":{"error_count":"error_count"}}],"on_invalid":"drop"}"#;
        let out = go(req, vec![b]).unwrap();
        assert_eq!((i64s(&out, "n"), i64s(&out, "invalid")), (vec![3], vec![1]));
        assert_eq!(i64s(&out, "errors_loading"), vec![1]);
        assert!((f64s(&out, "accuracy_pct")[0].unwrap() - 100.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn accuracy_flags_read_in_place_count_as_the_general_path() {
        // A boolean flag column without nulls is read in place; the same
        // flags as 0/1 integers go through the general path. Two segments,
        // with error types and without.
        let flags: Vec<bool> = (0..300).map(|i| i % 7 != 3).collect();
        let types: Vec<Option<&str>> =
            (0..300).map(|i| [None, Some("picking"), Some("Loading"), Some("dented")][i % 4]).collect();
        let seg: Vec<i64> = (0..300).map(|i| i % 2).collect();
        let batch = |accurate: ArrayRef| {
            table(vec![
                ("seg", Arc::new(Int64Array::from(seg.clone())) as ArrayRef),
                ("accurate", accurate),
                ("error_type", Arc::new(StringArray::from(types.clone()))),
            ])
        };
        let as_bool = batch(Arc::new(BooleanArray::from(flags.clone())));
        let as_int =
            batch(Arc::new(Int64Array::from(flags.iter().map(|&f| i64::from(f)).collect::<Vec<_>>())));
        for params in [r#"{}"#, r#"{"error_type":null}"#] {
            let req = format!(r#"{{"kpis":[{{"kind":"order_accuracy","params":{params}}}],"by":["seg"]}}"#);
            let (a, b) = (go(&req, vec![as_bool.clone()]).unwrap(), go(&req, vec![as_int.clone()]).unwrap());
            assert_eq!(a, b, "{params}");
            assert_eq!(i64s(&a, "n"), vec![150, 150]);
            assert!(f64s(&a, "accuracy_pct")[0].unwrap() < 100.0);
            // error_type=None: null counts (a default column the table lacks counts none: zeros).
            let nulls = if params.contains("null") { a.num_rows() } else { 0 };
            for t in ["picking", "packing", "loading", "other"] {
                let column = a.column_by_name(&format!("errors_{t}")).unwrap();
                assert_eq!(column.null_count(), nulls, "errors_{t} with {params}");
            }
        }
    }

    fn delivery(promised: i32, delivered: Option<i32>, q: f64, dq: f64) -> Delivery {
        Delivery { promised, delivered, quantity: q, delivered_quantity: dq }
    }

    #[test]
    fn otif_censoring() {
        let due = |delivered, on_time, in_full| Outcome::Due { delivered, on_time, in_full };
        // Deadline 10 has not passed at as_of 9: pending, delivered or not. At as_of 10
        // (data through the end of day 10) it has: the one rule of every censoring KPI.
        assert_eq!(judge(delivery(10, Some(9), 1.0, 1.0), Some(9), 0, 0.0), Outcome::Pending);
        assert_eq!(judge(delivery(10, None, 1.0, 0.0), Some(9), 0, 0.0), Outcome::Pending);
        assert_eq!(judge(delivery(10, None, 1.0, 0.0), Some(10), 0, 0.0), due(false, false, false));
        // Passed: on time and in full, late, short, undelivered.
        assert_eq!(judge(delivery(10, Some(10), 1.0, 1.0), Some(11), 0, 0.0), due(true, true, true));
        assert_eq!(judge(delivery(10, Some(11), 1.0, 1.0), Some(11), 0, 0.0), due(true, false, true));
        assert_eq!(judge(delivery(10, Some(8), 1.0, 0.9), Some(11), 0, 0.0), due(true, true, false));
        assert_eq!(judge(delivery(10, None, 1.0, 0.0), Some(11), 0, 0.0), due(false, false, false));
        // A delivery after as_of is not yet known: undelivered at as_of.
        assert_eq!(judge(delivery(10, Some(12), 1.0, 1.0), Some(11), 0, 0.0), due(false, false, false));
        // Tolerances: two days of grace, 10% short still in full.
        assert_eq!(judge(delivery(10, Some(12), 1.0, 1.0), Some(11), 2, 0.0), Outcome::Pending);
        assert_eq!(judge(delivery(10, Some(12), 1.0, 0.9), Some(13), 2, 0.1), due(true, true, true));
        assert_eq!(judge(delivery(10, Some(13), 1.0, 0.89), Some(13), 2, 0.1), due(true, false, false));
        assert_eq!(judge(delivery(10, Some(1), 1.0, 1.0), None, 0, 0.0), Outcome::Pending);
    }

    #[test]
    fn otif_state_merge_and_due() {
        let mut a = OtifState::default();
        a.add(Outcome::Pending);
        a.add(Outcome::Due { delivered: true, on_time: true, in_full: true });
        let mut b = OtifState::default();
        b.add(Outcome::Due { delivered: false, on_time: false, in_full: false });
        b.add(Outcome::Due { delivered: true, on_time: true, in_full: false });
        b.add_invalid();
        a.merge(&b);
        assert_eq!((a.n(), a.due(), a.pending(), a.undelivered(), a.invalid()), (5, 3, 1, 1, 1));
        assert_eq!((a.on_time(), a.in_full(), a.otif()), (2, 1, 1));
    }

    #[test]
    fn order_states_stay_small() {
        // With a cell per order these sizes are most of a call's memory.
        assert_eq!(std::mem::size_of::<OtifState>(), 16);
        assert_eq!(std::mem::size_of::<AccuracyState>(), 16);
        assert_eq!(std::mem::size_of::<ChannelState>(), 16);
        assert_eq!(std::mem::size_of::<RevenueState>(), 56);
        assert_eq!(std::mem::size_of::<RevenueState<NoVolume>>(), 40);
    }

    /// Orders with a segment each of `segments`, in two batches, all valid;
    /// with `bad_row`, each batch also holds an order of segment -1 with a NaN
    /// quantity, which sends that batch down the row-by-row paths.
    fn mixed_orders(rows: usize, segments: i64, bad_row: bool) -> Vec<RecordBatch> {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |m: i64| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            ((seed >> 33) as i64).rem_euclid(m)
        };
        let mut batches = Vec::new();
        for b in 0..2 {
            let (mut seg, mut ordered, mut promised, mut delivered) = (vec![], vec![], vec![], vec![]);
            let (mut qty, mut dqty, mut amount) = (vec![], vec![], vec![]);
            for i in 0..rows {
                let day = 90 + next(10) as i32;
                let q = 1.0 + next(9) as f64;
                let deliv = (next(10) > 0).then(|| day + next(15) as i32);
                seg.push(if segments >= (2 * rows) as i64 { (b * rows + i) as i64 } else { next(segments) });
                ordered.push(day);
                promised.push(day + next(10) as i32);
                delivered.push(deliv);
                qty.push(q);
                // Short by 5% now and then; a NaN under the null, as pandas leaves it.
                dqty.push(deliv.map(|_| if next(4) == 0 { q * 0.95 } else { q }).or(Some(f64::NAN)));
                amount.push((next(20) > 0).then(|| 1e6 + next(1000) as f64 / 7.0));
            }
            if bad_row {
                seg.push(-1);
                ordered.push(95);
                promised.push(96);
                delivered.push(Some(97));
                qty.push(f64::NAN);
                dqty.push(Some(1.0));
                amount.push(Some(f64::NAN));
            }
            let dqty_valid: Vec<bool> = delivered.iter().map(Option::is_some).collect();
            let dqty = Float64Array::new(
                dqty.iter().map(|v| v.unwrap_or_default()).collect(),
                Some(arrow_buffer::NullBuffer::from(dqty_valid)),
            );
            batches.push(table(vec![
                ("seg", Arc::new(Int64Array::from(seg)) as ArrayRef),
                ("ordered_at", Arc::new(Date32Array::from(ordered))),
                ("promised_date", Arc::new(Date32Array::from(promised))),
                ("delivered_date", Arc::new(Date32Array::from(delivered))),
                ("quantity", Arc::new(Float64Array::from(qty))),
                ("quantity_delivered", Arc::new(dqty)),
                ("amount", Arc::new(Float64Array::from(amount))),
            ]));
        }
        batches
    }

    #[test]
    fn valid_chunks_match_the_row_by_row_paths() {
        // OTIF and revenue take a chunk at once when no row needs a diagnosis.
        // The same orders plus a bad row per batch (in a segment of its own)
        // take the row-by-row paths: every other segment must come out the
        // same. Few segments (chunk-local states) and one per order (states of
        // the whole scan, more of them than a batch has rows).
        let req = r#"{"kpis":[{"kind":"otif"},{"kind":"revenue"}],"by":["seg"],
                      "as_of":"1970-04-15","on_invalid":"drop"}"#;
        for segments in [7, 4000] {
            let chunked = go(req, mixed_orders(1000, segments, false)).unwrap();
            let by_row = go(req, mixed_orders(1000, segments, true)).unwrap();
            let keep: Vec<usize> =
                (0..by_row.num_rows()).filter(|&r| i64s(&by_row, "seg")[r] != -1).collect();
            assert_eq!(keep.len(), chunked.num_rows());
            // Every kind of order occurs: pending, due, undelivered, short, late, missing amounts.
            for name in ["otif_due", "otif_pending", "otif_undelivered", "revenue_missing"] {
                assert!(i64s(&chunked, name).iter().sum::<i64>() > 0, "{name}");
            }
            for field in chunked.schema().fields() {
                let name = field.name();
                match field.data_type() {
                    DataType::Int64 => {
                        let row = i64s(&by_row, name);
                        let want: Vec<i64> = keep.iter().map(|&r| row[r]).collect();
                        assert_eq!(i64s(&chunked, name), want, "{segments} segments, {name}");
                    }
                    DataType::Float64 => {
                        let row = f64s(&by_row, name);
                        for (got, &r) in f64s(&chunked, name).into_iter().zip(&keep) {
                            // The chunk path's variance is two-pass, the row path's Welford.
                            let close = match (got, row[r]) {
                                (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * b.abs().max(1.0),
                                (a, b) => a.is_none() && b.is_none(),
                            };
                            assert!(close, "{segments} segments, {name}: {got:?} vs {:?}", row[r]);
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    #[test]
    fn outcome_codes_count_as_the_outcomes() {
        let mut outcomes =
            vec![Outcome::Pending, Outcome::Due { delivered: false, on_time: false, in_full: false }];
        for (on_time, in_full) in [(false, false), (true, false), (false, true), (true, true)] {
            outcomes.push(Outcome::Due { delivered: true, on_time, in_full });
        }
        let mut codes: Vec<u8> = outcomes.iter().map(|o| o.code()).collect();
        codes.sort_unstable();
        assert_eq!(codes, (0..Outcome::CODES as u8).collect::<Vec<_>>());
        for o in outcomes {
            let (mut by_outcome, mut by_code) = (OtifState::default(), OtifState::default());
            by_outcome.add(o);
            let mut counts = [0u32; Outcome::CODES];
            counts[usize::from(o.code())] = 1;
            by_code.add_counts(&counts);
            assert_eq!(by_outcome, by_code, "{o:?}");
        }
    }

    #[test]
    fn otif_end_to_end() {
        // as_of 99: order 0 pending, 1 on time in full, 2 late, 3 undelivered, 4 delivered before ordered.
        let b = table(vec![
            ("ordered_at", Arc::new(Date32Array::from(vec![95, 90, 90, 90, 90])) as ArrayRef),
            ("promised_date", Arc::new(Date32Array::from(vec![100, 95, 95, 95, 95]))),
            (
                "delivered_date",
                Arc::new(Date32Array::from(vec![Some(99), Some(95), Some(97), None, Some(80)])),
            ),
            ("quantity", Arc::new(Float64Array::from(vec![1.0, 2.0, 2.0, 2.0, 2.0]))),
            (
                "quantity_delivered",
                Arc::new(Float64Array::from(vec![Some(1.0), Some(2.0), Some(2.0), None, Some(2.0)])),
            ),
        ]);
        let err = go(r#"{"kpis":[{"kind":"otif"}],"as_of":"1970-04-11"}"#, vec![b.clone()]).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("column 'delivered_date': 1 row delivered before the order date (example: delivered 1970-03-22, ordered_at 1970-04-01)"),
            "{msg}"
        );
        // 1970-04-10 is day 99.
        let out =
            go(r#"{"kpis":[{"kind":"otif"}],"as_of":"1970-04-10","on_invalid":"drop"}"#, vec![b.clone()])
                .unwrap();
        let got: Vec<i64> =
            ["n", "due", "pending", "undelivered", "invalid"].iter().map(|c| i64s(&out, c)[0]).collect();
        assert_eq!(got, vec![5, 3, 1, 1, 1]);
        assert!((f64s(&out, "on_time_pct")[0].unwrap() - 100.0 / 3.0).abs() < 1e-12);
        assert!((f64s(&out, "in_full_pct")[0].unwrap() - 200.0 / 3.0).abs() < 1e-12);
        assert!((f64s(&out, "otif_pct")[0].unwrap() - 100.0 / 3.0).abs() < 1e-12);
        // Default as_of: the latest ordered/delivered day (99), not the promise date (100).
        let out = go(r#"{"kpis":[{"kind":"otif"}],"on_invalid":"drop"}"#, vec![b]).unwrap();
        assert_eq!(i64s(&out, "pending"), vec![1]);
        assert_eq!(i64s(&out, "due"), vec![3]);
    }

    #[test]
    fn bad_params_are_rejected() {
        let build_err =
            |kind: &str, p: serde_json::Value| build(kind, &p).unwrap().err().unwrap().to_string();
        assert!(build_err("otif", serde_json::json!({"tolerance": 1.5})).contains("tolerance"));
        assert!(build_err("otif", serde_json::json!({"tolerance_days": -1})).contains("tolerance_days"));
        assert!(build_err("self_service_adoption", serde_json::json!({"channels": []})).contains("channels"));
        assert!(build_err("revenue", serde_json::json!({"amont": "x"})).contains("amont"));
        assert!(build("nps", &serde_json::json!({})).is_none());
    }
}
