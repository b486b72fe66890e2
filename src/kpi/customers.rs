//! Per-customer order KPIs (table: one row per order): `repeat_purchase_rate`,
//! `retention`, `purchase_frequency`, `cohort_retention` and
//! `self_service_customers`. Each needs a customer's whole history, so each is
//! an [`EntityKpi`] walked once per customer by [`crate::entity`]. By the
//! customer column alone, repeat purchase needs only a few days of each
//! (customer, period) cell and is a plain row KPI instead ([`RepeatByCustomer`]).
//!
//! One rule for segments: a customer is counted in the segment of the order
//! that puts them in a cell (their anchor order, their orders in the period);
//! the outcome (a repeat, a return next period) is the customer's, whichever
//! segment it happens in.
use std::sync::Arc;

use arrow_array::builder::{Int64Builder, ListBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use serde::{Deserialize, Serialize};

use super::counts::Counts;
use super::{
    count_field, counts, counts_and_share, value_field, values, with_interval, RowColumns, Samples, Share,
};
use crate::engine::{Ctx, DynKpi, Kpi, State};
use crate::entity::{visit_kept, CellSink, DateColumn, DynEntity, EntityKpi, Visit, WalkCtx};
use crate::error::{Error, Result};
use crate::ingest::{find_column, is_string, Diagnostics};
use crate::keys::{encode_column, for_each_kept, KeyValue};
use crate::registry::{params, KpiInfo};

/// The per-customer KPIs in the catalogue.
pub const CATALOG: &[KpiInfo] = &[
    KpiInfo {
        name: "repeat_purchase_rate",
        family: "orders",
        table: "orders",
        description: "Share of a period's customers who order again on a later day within `window` days \
                      (default 90), looking past the period end; customers whose window is not complete at \
                      as_of are censored (left out); method=\"kaplan_meier\" also uses them",
        value_column: "repeat_rate_pct",
        unit: "%",
        direction: "higher",
        target: Some(60.0),
    },
    KpiInfo {
        name: "retention",
        family: "orders",
        table: "orders",
        description: "Customers active in the previous period who are active again in this one, over those \
                      active in the previous period; churn_pct = 100 - retention_pct",
        value_column: "retention_pct",
        unit: "%",
        direction: "higher",
        target: None,
    },
    KpiInfo {
        name: "purchase_frequency",
        family: "orders",
        table: "orders",
        description: "Orders per active customer; median days between consecutive order days; median days \
                      since a customer's last order at the period end",
        value_column: "orders_per_customer",
        unit: "orders",
        direction: "higher",
        target: None,
    },
    KpiInfo {
        name: "cohort_retention",
        family: "orders",
        table: "orders",
        description: "Acquisition cohort (period of the first order) x periods since: customers active",
        value_column: "cohort_size",
        unit: "customers",
        direction: "higher",
        target: None,
    },
    KpiInfo {
        name: "self_service_customers",
        family: "orders",
        table: "orders",
        description: "Share of a period's customers with at least one self-service order",
        value_column: "self_service_customers_pct",
        unit: "%",
        direction: "higher",
        target: None,
    },
];

fn default_customer() -> String {
    "customer_id".into()
}
fn default_date() -> String {
    "ordered_at".into()
}
fn default_window() -> i32 {
    90
}

/// Parameters shared by the per-customer KPIs.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerParams {
    #[serde(default = "default_customer")]
    pub customer: String,
    #[serde(default = "default_date")]
    pub date: String,
    /// repeat_purchase_rate: days after the anchor order a repeat may come.
    #[serde(default = "default_window")]
    pub window: i32,
    /// repeat_purchase_rate: "simple" (default) or "kaplan_meier".
    #[serde(default)]
    pub method: Option<String>,
    /// self_service_customers: the channel column and the self-service channels.
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub channels: Option<Vec<String>>,
}

/// Build one of the per-customer KPIs.
pub fn build(kind: &str, p: &serde_json::Value) -> Option<Result<Box<dyn DynEntity>>> {
    let make = |kind: &str| -> Result<Box<dyn DynEntity>> {
        let cp: CustomerParams = params(kind, p)?;
        Ok(match kind {
            "repeat_purchase_rate" => Box::new(RepeatPurchase::new(cp)?),
            "retention" => Box::new(Retention { params: cp }),
            "purchase_frequency" => Box::new(PurchaseFrequency { params: cp }),
            "cohort_retention" => Box::new(Cohorts { params: cp }),
            "self_service_customers" => Box::new(SelfServiceCustomers::new(cp)),
            _ => unreachable!("kinds checked below"),
        })
    };
    matches!(
        kind,
        "repeat_purchase_rate"
            | "retention"
            | "purchase_frequency"
            | "cohort_retention"
            | "self_service_customers"
    )
    .then(|| make(kind))
}

// ---- repeat purchase -----------------------------------------------------

/// Repeat purchase within a window, with right-censoring at as_of: the
/// customers by outcome in [`Counts`], and with the Kaplan-Meier method the
/// counts by day, boxed (24 bytes a state while counts are small; with a cell
/// per order the states are much of a call's memory).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RepeatState {
    /// Customers whose window is not complete at as_of (censored), and the
    /// eligible ones without and with a repeat within the window.
    outcomes: Counts<3>,
    pub km: Option<Box<KmCounts>>,
}

/// Up to this many cells, a walk finds a cell's visits by scanning the history.
const FEW_CELLS: usize = 8;

/// `items` sorted, for a walk to bisect, when a customer has more than
/// [`FEW_CELLS`] cells (a scan of the history per cell would be cells x
/// orders, e.g. a big account by day); `None` when a scan is quicker.
fn sorted_when_many<T: Ord>(cells: usize, items: impl Iterator<Item = T>) -> Option<Vec<T>> {
    (cells > FEW_CELLS).then(|| {
        let mut sorted: Vec<T> = items.collect();
        sorted.sort_unstable();
        sorted
    })
}

const CENSORED: usize = 0;
const NO_REPEAT: usize = 1;
const REPEATED: usize = 2;

/// Kaplan-Meier inputs: repeats at day t after the anchor (index t), and
/// customers observed without a repeat up to day c (index c).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KmCounts {
    pub events: Vec<u64>,
    pub censored: Vec<u64>,
}

fn add_vec(a: &mut Vec<u64>, b: &[u64]) {
    if a.len() < b.len() {
        a.resize(b.len(), 0);
    }
    a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
}

impl State for RepeatState {
    fn merge(&mut self, other: &Self) {
        self.outcomes.merge(&other.outcomes);
        if let Some(theirs) = &other.km {
            let ours = self.km.get_or_insert_with(Box::default);
            add_vec(&mut ours.events, &theirs.events);
            add_vec(&mut ours.censored, &theirs.censored);
        }
    }
}

impl RepeatState {
    pub fn customers(&self) -> u64 {
        self.outcomes.total()
    }
    pub fn censored(&self) -> u64 {
        self.outcomes.get(CENSORED)
    }
    /// Among the eligible (window complete): repeaters / eligible.
    pub fn eligible(&self) -> Share {
        self.outcomes.share(REPEATED, NO_REPEAT)
    }

    /// Kaplan-Meier probability (%) of a repeat within the window.
    pub fn kaplan_meier(&self) -> Option<f64> {
        let km = self.km.as_deref()?;
        let total: u64 = km.events.iter().sum::<u64>() + km.censored.iter().sum::<u64>();
        if total == 0 {
            return None;
        }
        let mut at_risk = total as f64;
        let mut survival = 1.0;
        let len = km.events.len().max(km.censored.len());
        for t in 0..len {
            let d = km.events.get(t).copied().unwrap_or(0) as f64;
            if d > 0.0 {
                survival *= 1.0 - d / at_risk;
            }
            // Censored at t were still at risk at t (events before censoring).
            at_risk -= d + km.censored.get(t).copied().unwrap_or(0) as f64;
        }
        Some(100.0 * (1.0 - survival))
    }
}

#[derive(Clone)]
pub struct RepeatPurchase {
    params: CustomerParams,
    kaplan_meier: bool,
}

impl RepeatPurchase {
    fn new(params: CustomerParams) -> Result<Self> {
        if params.window < 1 {
            return Err(Error::param(format!("window must be at least 1 day, got {}", params.window)));
        }
        let kaplan_meier = match params.method.as_deref() {
            None | Some("simple") => false,
            Some("kaplan_meier") => true,
            Some(m) => {
                return Err(Error::param(format!(
                    "method must be \"simple\" or \"kaplan_meier\", got \"{m}\""
                )))
            }
        };
        Ok(RepeatPurchase { params, kaplan_meier })
    }

    /// Count a customer's anchor order (on day `anchor`, at or before
    /// `as_of`) in `state`; `next`: the day of their first order after it.
    /// (An order after as_of changes no outcome: its gap is past both the
    /// window of an uncensored anchor and the days a censored one was observed.)
    fn count(&self, state: &mut RepeatState, anchor: i32, next: Option<i32>, as_of: i32) {
        // Day arithmetic in i64: a window may reach past the last day an i32 holds.
        let (anchor, window, as_of) = (i64::from(anchor), i64::from(self.params.window), i64::from(as_of));
        let gap = next.map(|day| i64::from(day) - anchor);
        state.outcomes.add(if anchor + window > as_of {
            CENSORED
        } else if gap.is_some_and(|g| g <= window) {
            REPEATED
        } else {
            NO_REPEAT
        });
        if !self.kaplan_meier {
            return;
        }
        // Anchors are at or before as_of, so 0 <= observed <= window. The
        // Kaplan-Meier counts need indices up to `observed` only (not the
        // whole window, which may be huge): absent entries count as 0.
        let observed = (as_of - anchor).min(window) as usize;
        let km = state.km.get_or_insert_with(Box::default);
        if km.events.len() <= observed {
            km.events.resize(observed + 1, 0);
            km.censored.resize(observed + 1, 0);
        }
        match gap {
            Some(g) if g <= window && g as usize <= observed => km.events[g as usize] += 1,
            _ => km.censored[observed] += 1,
        }
    }
}

// ---- repeat purchase by customer -------------------------------------------

/// No order day (an empty [`FirstDays`]): past every day a date can hold.
const NO_DAY: i32 = i32::MAX;

/// A cell's first order day and its first later day (`NO_DAY` for none).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirstDays {
    first: i32,
    second: i32,
}

impl Default for FirstDays {
    fn default() -> Self {
        FirstDays { first: NO_DAY, second: NO_DAY }
    }
}

impl FirstDays {
    #[inline]
    fn add(&mut self, day: i32) {
        if day < self.first {
            self.second = self.first;
            self.first = day;
        } else if day > self.first && day < self.second {
            self.second = day;
        }
    }
}

impl State for FirstDays {
    fn merge(&mut self, other: &Self) {
        // Days past `other.second` are not among the two least.
        self.add(other.first);
        self.add(other.second);
    }
}

/// `repeat_purchase_rate` by the customer column alone (what
/// [`EntityKpi::by_customer`] gives): a cell is one customer in one period,
/// and all the walk reads of their history is the cell's first order day
/// (the anchor), the cell's next later day, and else the first day of the
/// customer's next period with orders, found when finalising by reading the
/// segment's cells in period order ([`Ctx::segment_continues`]). Same
/// result as the walk, with no history kept, sorted or walked.
pub struct RepeatByCustomer {
    kpi: RepeatPurchase,
    date: Option<DateColumn>,
    /// The customer column's index (bound).
    customer: usize,
}

impl Kpi for RepeatByCustomer {
    type State = FirstDays;
    const LINKS_PERIODS: bool = true;

    fn default_date(&self) -> Option<&str> {
        Some(&self.kpi.params.date)
    }
    fn bind(&mut self, schema: &Schema) -> Result<()> {
        self.customer = find_column(schema, &self.kpi.params.customer, "customer")?;
        Ok(())
    }
    fn update(
        &self,
        batch: &RecordBatch,
        cells: &[u32],
        states: &mut [FirstDays],
        diag: &mut Diagnostics,
        _ctx: &Ctx,
    ) {
        let (index, date_name, reader) = self.date.as_ref().expect("a call by customer resolves its date");
        let mut days = Vec::new();
        reader.days(batch.column(*index).as_ref(), &mut days);
        let nulls = batch.column(self.customer).logical_nulls().filter(|n| n.null_count() > 0);
        // The rows the walk's visits leave out, recorded alike.
        let customer = &self.kpi.params.customer;
        for_each_kept(cells, |row, cell| {
            let (day, null_customer) = (days[row], nulls.as_ref().is_some_and(|n| n.is_null(row)));
            if visit_kept(day, null_customer, date_name, customer, diag) {
                states[cell as usize].add(day);
            }
        });
    }
    fn fields(&self) -> Vec<Field> {
        EntityKpi::fields(&self.kpi)
    }
    fn finalize(&self, states: &[&FirstDays], ctx: &Ctx) -> Vec<ArrayRef> {
        let continues =
            ctx.segment_continues.as_deref().expect("the engine links the periods of KPIs that ask");
        let mut outcomes = vec![RepeatState::default(); states.len()];
        if let Some(as_of) = ctx.as_of {
            // Each customer's cells backwards: `following` is the first order
            // day of the customer's next period with orders.
            let mut following = None;
            for (i, s) in states.iter().enumerate().rev() {
                if !continues[i] {
                    following = None;
                }
                if s.first == NO_DAY {
                    continue;
                }
                if s.first <= as_of {
                    let next = if s.second == NO_DAY { following } else { Some(s.second) };
                    self.kpi.count(&mut outcomes[i], s.first, next, as_of);
                }
                following = Some(s.first);
            }
        }
        EntityKpi::finalize(&self.kpi, &outcomes.iter().collect::<Vec<_>>(), ctx)
    }
}

impl EntityKpi for RepeatPurchase {
    type State = RepeatState;
    type Event = ();
    // A cell's anchor is its first order day, whatever the order within a day.
    const SAME_DAY_BY_SEGMENT: bool = false;

    fn default_date(&self) -> Option<&str> {
        Some(&self.params.date)
    }
    fn customer(&self) -> &str {
        &self.params.customer
    }
    fn bind(&mut self, _schema: &Schema) -> Result<()> {
        Ok(())
    }
    fn events(&self, batch: &RecordBatch, out: &mut Vec<Option<()>>, _diag: &mut Diagnostics) {
        out.clear();
        out.resize(batch.num_rows(), Some(()));
    }
    fn walk(&self, history: &[Visit<()>], sink: &mut CellSink<RepeatState>, ctx: &WalkCtx) {
        for (key, ord, i) in sink.distinct_cells(history, ctx) {
            let anchor = history[i].day;
            // The first order on a later day, found by bisection: the history
            // is sorted by day (and may hold thousands of orders a day).
            let later = i + history[i..].partition_point(|w| w.day <= anchor);
            self.count(sink.at_distinct(key, ord), anchor, history.get(later).map(|w| w.day), ctx.as_of);
        }
    }
    fn by_customer(&self, date: Option<&DateColumn>) -> Option<Box<dyn DynKpi>> {
        Some(Box::new(RepeatByCustomer { kpi: self.clone(), date: date.cloned(), customer: usize::MAX }))
    }
    fn fields(&self) -> Vec<Field> {
        let mut f = vec![count_field("customers"), count_field("censored"), count_field("eligible")];
        f.push(count_field("repeaters"));
        f.extend(with_interval("repeat_rate_pct"));
        if self.kaplan_meier {
            f.push(value_field("repeat_rate_km_pct"));
        }
        f
    }
    fn finalize(&self, states: &[&RepeatState], ctx: &Ctx) -> Vec<ArrayRef> {
        let mut out = RowColumns::new(ctx, states.len(), 4, if self.kaplan_meier { 4 } else { 3 });
        for s in states {
            let eligible = s.eligible();
            out.counts(0, [s.customers(), s.censored(), eligible.n, eligible.hits]);
            out.share(0, eligible, ctx.z);
            if self.kaplan_meier {
                out.value(3, s.kaplan_meier());
            }
        }
        out.finish()
    }
}

// ---- retention ------------------------------------------------------------

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RetentionState {
    pub active: u64,
    /// Customers active in this segment in the previous period (`n`), and
    /// how many of them are active again in this period (`hits`).
    pub previous: Share,
}

impl State for RetentionState {
    fn merge(&mut self, other: &Self) {
        self.active += other.active;
        self.previous.merge(&other.previous);
    }
}

pub struct Retention {
    params: CustomerParams,
}

impl EntityKpi for Retention {
    type State = RetentionState;
    type Event = ();

    fn default_date(&self) -> Option<&str> {
        Some(&self.params.date)
    }
    fn customer(&self) -> &str {
        &self.params.customer
    }
    fn needs_period(&self) -> bool {
        true
    }
    fn bind(&mut self, _schema: &Schema) -> Result<()> {
        Ok(())
    }
    fn events(&self, batch: &RecordBatch, out: &mut Vec<Option<()>>, _diag: &mut Diagnostics) {
        out.clear();
        out.resize(batch.num_rows(), Some(()));
    }
    fn walk(&self, history: &[Visit<()>], sink: &mut CellSink<RetentionState>, ctx: &WalkCtx) {
        let periods = ctx.periods.expect("retention needs periods (checked when planning)");
        let cells = sink.distinct_cells(history, ctx);
        for &(key, ord, _) in &cells {
            sink.at(key, ord).active += 1;
            // Next period: only once it has started by as_of.
            if ord < i32::MAX && periods.start(ord + 1) <= ctx.as_of {
                let back = cells.iter().any(|&(_, o, _)| o == ord + 1);
                sink.at(key, ord + 1).previous.add(back);
            }
        }
    }
    fn fields(&self) -> Vec<Field> {
        let mut f =
            vec![count_field("active_customers"), count_field("previous_customers"), count_field("retained")];
        f.extend(with_interval("retention_pct"));
        f.extend(with_interval("churn_pct"));
        f
    }
    fn finalize(&self, states: &[&RetentionState], ctx: &Ctx) -> Vec<ArrayRef> {
        let mut out = RowColumns::new(ctx, states.len(), 3, 6);
        for s in states {
            out.counts(0, [s.active, s.previous.n, s.previous.hits]);
            let (v, ci) = s.previous.estimate(ctx.z);
            out.estimate(0, v, || ci);
            // Churn is the complement of retention, its interval mirrored.
            out.estimate(3, v.map(|x| 100.0 - x), || ci.map(|(lo, hi)| (100.0 - hi, 100.0 - lo)));
        }
        out.finish()
    }
}

// ---- purchase frequency ---------------------------------------------------

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FrequencyState {
    pub orders: u64,
    pub customers: u64,
    /// Days between consecutive order days (counted in the later order's cell).
    pub gaps: Samples,
    /// Days from each customer's last order in the period to the period end (or as_of).
    pub recency: Samples,
}

impl State for FrequencyState {
    fn merge(&mut self, other: &Self) {
        self.orders += other.orders;
        self.customers += other.customers;
        self.gaps.merge(&other.gaps);
        self.recency.merge(&other.recency);
    }
}

pub struct PurchaseFrequency {
    params: CustomerParams,
}

impl EntityKpi for PurchaseFrequency {
    type State = FrequencyState;
    type Event = ();

    fn default_date(&self) -> Option<&str> {
        Some(&self.params.date)
    }
    fn customer(&self) -> &str {
        &self.params.customer
    }
    fn bind(&mut self, _schema: &Schema) -> Result<()> {
        Ok(())
    }
    fn events(&self, batch: &RecordBatch, out: &mut Vec<Option<()>>, _diag: &mut Diagnostics) {
        out.clear();
        out.resize(batch.num_rows(), Some(()));
    }
    fn walk(&self, history: &[Visit<()>], sink: &mut CellSink<FrequencyState>, ctx: &WalkCtx) {
        // The gap before an order day is counted once in each segment that has an
        // order that day, so the result does not depend on the row order of ties.
        let mut previous_day: Option<i32> = None;
        let mut day: Option<i32> = None;
        let mut credited: Vec<u32> = Vec::new();
        for v in history {
            let state = sink.at(v.key, ctx.ord(v.day));
            state.orders += 1;
            if day != Some(v.day) {
                previous_day = day;
                day = Some(v.day);
                credited.clear();
            }
            if let Some(prev) = previous_day {
                if !credited.contains(&v.key) {
                    credited.push(v.key);
                    state.gaps.values.push((i64::from(v.day) - i64::from(prev)) as f64);
                }
            }
        }
        let cells = sink.distinct_cells(history, ctx);
        // Each cell's last order day.
        let pairs = sorted_when_many(cells.len(), history.iter().map(|v| ((v.key, ctx.ord(v.day)), v.day)));
        for (key, ord, _) in cells {
            let last = match &pairs {
                None => {
                    history.iter().rev().find(|v| v.key == key && ctx.ord(v.day) == ord).map_or(0, |v| v.day)
                }
                // The cell has a visit, so the pair before the next cell's first is its last.
                Some(pairs) => pairs[pairs.partition_point(|p| p.0 <= (key, ord)) - 1].1,
            };
            let end = ctx.periods.map_or(ctx.as_of, |p| p.end(ord)).min(ctx.as_of);
            let state = sink.at(key, ord);
            state.customers += 1;
            state.recency.values.push((i64::from(end) - i64::from(last)) as f64);
        }
    }
    fn fields(&self) -> Vec<Field> {
        vec![
            count_field("orders"),
            count_field("customers"),
            value_field("orders_per_customer"),
            value_field("days_between_orders_p50"),
            value_field("days_since_last_order_p50"),
        ]
    }
    fn finalize(&self, states: &[&FrequencyState], _ctx: &Ctx) -> Vec<ArrayRef> {
        vec![
            counts(states.iter().map(|s| s.orders)),
            counts(states.iter().map(|s| s.customers)),
            values(states.iter().map(|s| (s.customers > 0).then(|| s.orders as f64 / s.customers as f64))),
            values(Samples::summaries(states, |s| &s.gaps).into_iter().map(|s| s.map(|x| x.0))),
            values(Samples::summaries(states, |s| &s.recency).into_iter().map(|s| s.map(|x| x.0))),
        ]
    }
}

// ---- cohorts ----------------------------------------------------------------

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CohortState {
    /// Customers of the cohort active k periods after their first (index k).
    pub active: Vec<u64>,
}

impl State for CohortState {
    fn merge(&mut self, other: &Self) {
        add_vec(&mut self.active, &other.active);
    }
}

pub struct Cohorts {
    params: CustomerParams,
}

impl EntityKpi for Cohorts {
    type State = CohortState;
    type Event = ();

    fn default_date(&self) -> Option<&str> {
        Some(&self.params.date)
    }
    fn customer(&self) -> &str {
        &self.params.customer
    }
    fn needs_period(&self) -> bool {
        true
    }
    fn bind(&mut self, _schema: &Schema) -> Result<()> {
        Ok(())
    }
    fn events(&self, batch: &RecordBatch, out: &mut Vec<Option<()>>, _diag: &mut Diagnostics) {
        out.clear();
        out.resize(batch.num_rows(), Some(()));
    }
    fn walk(&self, history: &[Visit<()>], sink: &mut CellSink<CohortState>, ctx: &WalkCtx) {
        let first = &history[0];
        let cohort = ctx.ord(first.day);
        let mut seen: Vec<i32> = history.iter().map(|v| ctx.ord(v.day)).collect();
        seen.dedup();
        let state = sink.at(first.key, cohort);
        // Every period up to as_of has a count, zero when nobody came back.
        let offsets = (i64::from(ctx.ord(ctx.as_of)) - i64::from(cohort)) as usize + 1;
        if state.active.len() < offsets {
            state.active.resize(offsets, 0);
        }
        for ord in seen {
            let k = (i64::from(ord) - i64::from(cohort)) as usize;
            if state.active.len() <= k {
                state.active.resize(k + 1, 0);
            }
            state.active[k] += 1;
        }
    }
    fn fields(&self) -> Vec<Field> {
        vec![
            count_field("cohort_size"),
            Field::new(
                "active_by_offset",
                DataType::List(Arc::new(Field::new("item", DataType::Int64, true))),
                false,
            ),
        ]
    }
    fn finalize(&self, states: &[&CohortState], _ctx: &Ctx) -> Vec<ArrayRef> {
        let mut list = ListBuilder::new(Int64Builder::new());
        for s in states {
            list.values().append_slice(&s.active.iter().map(|&c| c as i64).collect::<Vec<_>>());
            list.append(true);
        }
        vec![counts(states.iter().map(|s| s.active.first().copied().unwrap_or(0))), Arc::new(list.finish())]
    }
}

// ---- self-service customers -------------------------------------------------

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SelfServiceState {
    pub customers: Share,
}

impl State for SelfServiceState {
    fn merge(&mut self, other: &Self) {
        self.customers.merge(&other.customers);
    }
}

pub struct SelfServiceCustomers {
    params: CustomerParams,
    channel: String,
    channels: Vec<String>,
    index: usize,
}

/// Self-service channels unless `channels=` says otherwise.
pub const SELF_SERVICE_CHANNELS: [&str; 4] = ["portal", "app", "web", "edi"];

impl SelfServiceCustomers {
    fn new(params: CustomerParams) -> Self {
        let channel = params.channel.clone().unwrap_or_else(|| "channel".into());
        let channels = params
            .channels
            .clone()
            .unwrap_or_else(|| SELF_SERVICE_CHANNELS.iter().map(|s| s.to_string()).collect());
        SelfServiceCustomers { params, channel, channels, index: usize::MAX }
    }
}

impl EntityKpi for SelfServiceCustomers {
    type State = SelfServiceState;
    /// The order was placed through a self-service channel.
    type Event = bool;
    // Whether a cell has a self-service order, whatever the order within a day.
    const SAME_DAY_BY_SEGMENT: bool = false;

    fn default_date(&self) -> Option<&str> {
        Some(&self.params.date)
    }
    fn customer(&self) -> &str {
        &self.params.customer
    }
    fn bind(&mut self, schema: &Schema) -> Result<()> {
        self.index = find_column(schema, &self.channel, "channel")?;
        let dt = schema.field(self.index).data_type();
        if !is_string(dt) {
            return Err(Error::column(
                &self.channel,
                format!("column '{}' (channel=) must hold strings, but has type {dt}", self.channel),
            ));
        }
        Ok(())
    }
    fn events(&self, batch: &RecordBatch, out: &mut Vec<Option<bool>>, _diag: &mut Diagnostics) {
        let mut codes = Vec::new();
        let distinct = encode_column(batch.column(self.index).as_ref(), &mut codes);
        // A null channel is not a self-service order.
        let is_self: Vec<bool> = distinct
            .iter()
            .map(|v| matches!(v, KeyValue::Str(s) if self.channels.iter().any(|c| c == &**s)))
            .collect();
        out.clear();
        out.extend(codes.iter().map(|&c| Some(is_self[c as usize])));
    }
    fn walk(&self, history: &[Visit<bool>], sink: &mut CellSink<SelfServiceState>, ctx: &WalkCtx) {
        let cells = sink.distinct_cells(history, ctx);
        // The cells with a self-service order.
        let marked = sorted_when_many(
            cells.len(),
            history.iter().filter(|v| v.event).map(|v| (v.key, ctx.ord(v.day))),
        );
        for (key, ord, _) in cells {
            let any = match &marked {
                None => history.iter().any(|v| v.event && v.key == key && ctx.ord(v.day) == ord),
                Some(marked) => marked.binary_search(&(key, ord)).is_ok(),
            };
            sink.at_distinct(key, ord).customers.add(any);
        }
    }
    fn fields(&self) -> Vec<Field> {
        let mut f = vec![count_field("customers"), count_field("self_service_customers")];
        f.extend(with_interval("self_service_customers_pct"));
        f
    }
    fn finalize(&self, states: &[&SelfServiceState], ctx: &Ctx) -> Vec<ArrayRef> {
        counts_and_share(states, |s| ([s.customers.n, s.customers.hits], s.customers), ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// A cell's two least distinct days, however its days are split into
        /// merged parts (empty parts included), and in any order.
        #[test]
        fn first_days_merge_to_the_two_least(parts in proptest::collection::vec(
            proptest::collection::vec(-5i32..40, 0..6), 1..6)) {
            let mut all: Vec<i32> = parts.iter().flatten().copied().collect();
            all.sort_unstable();
            all.dedup();
            let want = (all.first().copied().unwrap_or(NO_DAY), all.get(1).copied().unwrap_or(NO_DAY));
            let part = |days: &[i32]| {
                let mut s = FirstDays::default();
                days.iter().for_each(|&d| s.add(d));
                s
            };
            let mut merged = FirstDays::default();
            for days in parts.iter().rev() {
                merged.merge(&part(days));
            }
            proptest::prop_assert_eq!((merged.first, merged.second), want);
        }
    }

    #[test]
    fn kaplan_meier_by_hand() {
        // 4 customers: repeats at day 2 and 5, one censored at day 3, one survives to 10.
        let mut km = KmCounts { events: vec![0; 11], censored: vec![0; 11] };
        km.events[2] = 1;
        km.events[5] = 1;
        km.censored[3] = 1;
        km.censored[10] = 1;
        let s = RepeatState { km: Some(Box::new(km)), ..Default::default() };
        // S = (1 - 1/4) * (1 - 1/2) = 0.375
        assert!((s.kaplan_meier().unwrap() - 62.5).abs() < 1e-12);
        assert!(RepeatState::default().kaplan_meier().is_none());
    }

    #[test]
    fn repeat_walk_censors_unfinished_windows() {
        let kpi = RepeatPurchase::new(CustomerParams {
            customer: "c".into(),
            date: "d".into(),
            window: 10,
            method: Some("kaplan_meier".into()),
            channel: None,
            channels: None,
        })
        .unwrap();
        let v = |day| Visit { customer: 0, key: 0, day, event: () };
        let mut sink = CellSink::new();
        let ctx = WalkCtx::new(None, 100, Some((0, 95)));
        kpi.walk(&[v(0), v(0), v(5)], &mut sink, &ctx); // repeat after 5 days
        kpi.walk(&[v(50), v(70)], &mut sink, &ctx); // no repeat within 10 days
        kpi.walk(&[v(95)], &mut sink, &ctx); // window ends at 105 > 100: censored

        // Off a grid, each customer's walk writes a state of its own, merged later.
        assert_eq!(sink.cells, [(0, 0); 3]);
        let mut s = RepeatState::default();
        sink.states.iter().for_each(|state| s.merge(state));
        assert_eq!((s.customers(), s.censored(), s.eligible().n, s.eligible().hits), (3, 1, 2, 1));
        let km = s.km.as_deref().unwrap();
        assert_eq!(km.events[5], 1);
        assert_eq!(km.censored[5], 1);
        assert_eq!(km.censored[10], 1);
        assert_eq!(std::mem::size_of::<RepeatState>(), 24);
    }
}
