//! Finance KPIs (table: one row per invoice): `dso` with its companions
//! (average days to pay, overdue receivables, credit utilisation).
//!
//! Receivables are a balance: each (segment, period) row is the snapshot at
//! the period end (at `as_of` for the period that contains it), never a sum
//! over time. One invoice is open at many period ends, so `dso` is an
//! [`EntityKpi`] walked per account (default `partner_id`): the walk writes
//! every period from the account's first invoice to `as_of`, so a period with
//! no invoicing but open receivables still has its row, and an account's
//! credit limit (one per account) is counted once per snapshot.
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use serde::{Deserialize, Serialize};

use super::{count_field, counts, value_field, values};
use crate::engine::{Ctx, State};
use crate::entity::{CellSink, DynEntity, EntityKpi, Visit, WalkCtx};
use crate::error::{Error, Result};
use crate::ingest::{expect_numeric, find_column, show_f64, Diagnostics, Numeric};
use crate::period::{format_day, in_year_range, DateReader, NULL_DAY};
use crate::registry::{params, KpiInfo};
use crate::stats::NeumaierSum;

/// The finance KPIs in the catalogue.
pub const CATALOG: &[KpiInfo] = &[KpiInfo {
    name: "dso",
    family: "finance",
    table: "invoices",
    description: "Days sales outstanding at each period end: receivables open at the period end / credit \
                  sales in the period x days in the period (method=\"countback\": walk back through \
                  earlier periods' sales); also amount-weighted days to pay, overdue receivables and \
                  credit utilisation (open receivables / credit limit) flagged over a threshold",
    value_column: "dso_days",
    unit: "days",
    direction: "lower",
    target: None,
}];

fn default_account() -> String {
    "partner_id".into()
}
fn default_invoice_date() -> String {
    "invoice_date".into()
}
fn default_due() -> String {
    "due_date".into()
}
fn default_paid() -> String {
    "paid_date".into()
}
fn default_amount() -> String {
    "amount".into()
}
fn default_credit_limit() -> Option<String> {
    Some("credit_limit".into())
}
fn default_threshold() -> f64 {
    90.0
}

/// Parameters of `dso`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DsoParams {
    /// The account that holds a credit limit (the walk's entity).
    #[serde(default = "default_account")]
    pub account: String,
    /// Invoice date: the period date and the start of every invoice.
    #[serde(default = "default_invoice_date")]
    pub date: String,
    #[serde(default = "default_due")]
    pub due: String,
    /// Payment date, null while open.
    #[serde(default = "default_paid")]
    pub paid: String,
    #[serde(default = "default_amount")]
    pub amount: String,
    /// The account's credit limit (same on each of its rows); `None`: no utilisation columns values.
    #[serde(default = "default_credit_limit")]
    pub credit_limit: Option<String>,
    /// Credit utilisation (%) above which an account / segment is flagged.
    #[serde(default = "default_threshold")]
    pub threshold: f64,
    /// "standard" (default) or "countback".
    #[serde(default)]
    pub method: Option<String>,
}

/// One invoice as the walk sees it (its day is the visit's day).
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct Invoice {
    pub due: i32,
    /// [`NULL_DAY`] while open.
    pub paid: i32,
    /// NaN when the amount is null (counted in `missing`).
    pub amount: f64,
    /// NaN when the row gives no limit.
    pub limit: f64,
    /// A bad row (already recorded): counted in `invalid`, otherwise ignored.
    pub bad: bool,
}

/// One (segment, period) snapshot.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DsoState {
    /// Set by the walk (cells only other KPIs of the call have stay unset).
    pub set: bool,
    pub key: u32,
    pub ord: i32,
    /// Days the period covers up to the snapshot (with a period); without one,
    /// the span is taken from `first_day` to as_of.
    pub days: Option<i32>,
    pub first_day: Option<i32>,
    /// Invoices issued in the period, and their amount (credit sales).
    pub invoices: u64,
    pub sales: NeumaierSum,
    pub missing: u64,
    pub invalid: u64,
    /// Accounts with an invoice in this segment on or before the snapshot.
    pub accounts: u64,
    pub open_invoices: u64,
    pub receivables: NeumaierSum,
    pub overdue: NeumaierSum,
    /// Invoices paid in the period: count, amount and amount x days to pay.
    pub paid: u64,
    pub paid_amount: NeumaierSum,
    pub paid_weighted_days: NeumaierSum,
    /// Accounts with a credit limit: their limits, their open receivables,
    /// and how many are over the threshold.
    pub limited_accounts: u64,
    pub credit_limit: NeumaierSum,
    pub limited_receivables: NeumaierSum,
    pub accounts_over_limit: u64,
}

fn min_opt(a: Option<i32>, b: Option<i32>) -> Option<i32> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) | (None, x) => x,
    }
}

impl State for DsoState {
    fn merge(&mut self, o: &Self) {
        if !self.set && o.set {
            (self.set, self.key, self.ord, self.days) = (true, o.key, o.ord, o.days);
        }
        self.first_day = min_opt(self.first_day, o.first_day);
        self.invoices += o.invoices;
        self.sales.merge(&o.sales);
        self.missing += o.missing;
        self.invalid += o.invalid;
        self.accounts += o.accounts;
        self.open_invoices += o.open_invoices;
        self.receivables.merge(&o.receivables);
        self.overdue.merge(&o.overdue);
        self.paid += o.paid;
        self.paid_amount.merge(&o.paid_amount);
        self.paid_weighted_days.merge(&o.paid_weighted_days);
        self.limited_accounts += o.limited_accounts;
        self.credit_limit.merge(&o.credit_limit);
        self.limited_receivables.merge(&o.limited_receivables);
        self.accounts_over_limit += o.accounts_over_limit;
    }
}

pub struct Dso {
    params: DsoParams,
    countback: bool,
    /// Column indices: due, paid, amount, credit limit.
    index: [usize; 4],
    readers: Option<(DateReader, DateReader)>,
}

impl Dso {
    fn new(params: DsoParams) -> Result<Self> {
        let countback = match params.method.as_deref() {
            None | Some("standard") => false,
            Some("countback") => true,
            Some(m) => {
                return Err(Error::param(format!(
                    "dso: method must be \"standard\" or \"countback\", got \"{m}\""
                )))
            }
        };
        if !(params.threshold.is_finite() && params.threshold >= 0.0) {
            return Err(Error::param(format!(
                "dso: threshold is a credit utilisation in percent >= 0, got {}",
                params.threshold
            )));
        }
        Ok(Dso { params, countback, index: [usize::MAX; 4], readers: None })
    }
}

fn is_date(dt: &DataType) -> bool {
    matches!(dt, DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _) | DataType::Null)
}

/// Numbers of a column, NaN for nulls.
fn floats(array: &dyn Array, out: &mut Vec<f64>) {
    out.clear();
    out.resize(array.len(), f64::NAN);
    if let Some(n) = Numeric::new(array) {
        n.for_each(|i, v| out[i] = v.unwrap_or(f64::NAN));
    }
}

/// Snapshot sums of one (account, segment) over the periods it covers.
struct Sweep {
    open: NeumaierSum,
    open_n: i64,
    overdue: NeumaierSum,
    overdue_n: i64,
}

impl Sweep {
    /// Zero exactly when nothing is open: a compensated sum of +a, -a pairs
    /// may keep a last-bit residue.
    fn open(&self) -> f64 {
        if self.open_n == 0 {
            0.0
        } else {
            self.open.value()
        }
    }
    fn overdue(&self) -> f64 {
        if self.overdue_n == 0 {
            0.0
        } else {
            self.overdue.value()
        }
    }
}

impl EntityKpi for Dso {
    type State = DsoState;
    type Event = Invoice;

    fn default_date(&self) -> Option<&str> {
        Some(&self.params.date)
    }
    fn customer(&self) -> &str {
        &self.params.account
    }
    /// Invoicing and payments happened; a due date is a promise, never "now".
    fn observed_dates(&self) -> Vec<String> {
        vec![self.params.date.clone(), self.params.paid.clone()]
    }
    fn bind(&mut self, schema: &Schema) -> Result<()> {
        let mut dates = Vec::new();
        for (name, role) in [(&self.params.due, "due"), (&self.params.paid, "paid")] {
            let i = find_column(schema, name, role)?;
            let dt = schema.field(i).data_type();
            if !is_date(dt) {
                return Err(Error::column(
                    name,
                    format!(
                        "column '{name}' ({role}=) must be a date or timestamp, but has type {dt}. Parse it \
                         first (pandas: pd.to_datetime; polars: pl.col(c).str.to_date())."
                    ),
                ));
            }
            dates.push((i, DateReader::new(name, dt, None)?));
        }
        let amount = find_column(schema, &self.params.amount, "amount")?;
        expect_numeric(schema, amount, "amount")?;
        let limit = match &self.params.credit_limit {
            Some(c) => {
                let i = find_column(schema, c, "credit_limit")?;
                expect_numeric(schema, i, "credit_limit")?;
                i
            }
            None => usize::MAX,
        };
        let (paid, due) = (dates.pop().expect("two dates"), dates.pop().expect("two dates"));
        self.index = [due.0, paid.0, amount, limit];
        self.readers = Some((due.1, paid.1));
        Ok(())
    }
    fn events(&self, batch: &RecordBatch, out: &mut Vec<Option<Invoice>>, diag: &mut Diagnostics) {
        let (due_reader, paid_reader) = self.readers.as_ref().expect("bound");
        let [di, pi, ai, li] = self.index;
        let (mut due, mut paid, mut amount, mut limit) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        due_reader.days(batch.column(di).as_ref(), &mut due);
        paid_reader.days(batch.column(pi).as_ref(), &mut paid);
        floats(batch.column(ai).as_ref(), &mut amount);
        if li == usize::MAX {
            limit.resize(batch.num_rows(), f64::NAN);
        } else {
            floats(batch.column(li).as_ref(), &mut limit);
        }
        // The invoice date, to check the order of the dates.
        let date_index = batch.schema().index_of(&self.params.date).ok();
        let mut invoiced = Vec::new();
        if let Some(i) = date_index {
            if let Ok(r) = DateReader::new(&self.params.date, batch.column(i).data_type(), None) {
                r.days(batch.column(i).as_ref(), &mut invoiced);
            }
        }
        out.clear();
        let p = &self.params;
        for row in 0..batch.num_rows() {
            let day = invoiced.get(row).copied().unwrap_or(NULL_DAY);
            let (d, pd, a, l) = (due[row], paid[row], amount[row], limit[row]);
            let mut bad = true;
            if d == NULL_DAY {
                diag.record(&p.due, "with no due date (null)", || "null".into());
            } else if !in_year_range(d) {
                diag.record(&p.due, "with a date outside the years 0001-9999", || format_day(d));
            } else if pd != NULL_DAY && !in_year_range(pd) {
                diag.record(&p.paid, "with a date outside the years 0001-9999", || format_day(pd));
            } else if day != NULL_DAY && d < day {
                diag.record(&p.due, "before the invoice date", || {
                    format!("{} < {} {}", format_day(d), p.date, format_day(day))
                });
            } else if day != NULL_DAY && pd != NULL_DAY && pd < day {
                diag.record(&p.paid, "before the invoice date", || {
                    format!("{} < {} {}", format_day(pd), p.date, format_day(day))
                });
            } else if a.is_infinite() || a < 0.0 {
                diag.record(&p.amount, "that are negative or not finite", || show_f64(a));
            } else if l.is_infinite() || l <= 0.0 {
                let name = p.credit_limit.as_deref().unwrap_or_default();
                diag.record(name, "that are zero, negative or not finite", || show_f64(l));
            } else {
                bad = false;
            }
            out.push(Some(Invoice { due: d, paid: pd, amount: a, limit: l, bad }));
        }
    }
    fn walk(&self, history: &[Visit<Invoice>], sink: &mut CellSink<DsoState>, ctx: &WalkCtx) {
        let as_of = ctx.as_of;
        // The account's credit limit: its first valid one; a different one later is bad input.
        let mut limit: Option<f64> = None;
        let mut conflicts: Vec<usize> = Vec::new();
        for (i, v) in history.iter().enumerate() {
            let l = v.event.limit;
            if v.event.bad || l.is_nan() {
                continue;
            }
            match limit {
                None => limit = Some(l),
                Some(first) if first != l => {
                    let name = self.params.credit_limit.as_deref().unwrap_or_default();
                    let problem = format!(
                        "with a credit limit that differs from another row of the same {}",
                        self.params.account
                    );
                    sink.diag.record(name, &problem, || {
                        format!("{} (the account's first limit is {})", show_f64(l), show_f64(first))
                    });
                    conflicts.push(i);
                }
                Some(_) => {}
            }
        }
        let last_ord = ctx.ord(as_of);
        let days_of = |ord: i32| ctx.periods.map(|p| p.end(ord).min(as_of) - p.start(ord) + 1);
        // Segments in order of first appearance (an account usually has one).
        let mut keys: Vec<u32> = Vec::new();
        for v in history {
            if !keys.contains(&v.key) {
                keys.push(v.key);
            }
        }
        for key in keys {
            let mut first_ord = None;
            // (ord, +-amount, +-1) changes of the open and overdue balances.
            let mut open_changes: Vec<(i32, f64, i64)> = Vec::new();
            let mut overdue_changes: Vec<(i32, f64, i64)> = Vec::new();
            for (i, v) in history.iter().enumerate().filter(|(_, v)| v.key == key) {
                let ord = ctx.ord(v.day);
                first_ord.get_or_insert(ord);
                let state = sink.at(key, ord);
                state.first_day = min_opt(state.first_day, Some(v.day));
                let inv = v.event;
                if inv.bad || conflicts.contains(&i) {
                    state.invalid += 1;
                    continue;
                }
                if inv.amount.is_nan() {
                    state.missing += 1;
                    continue;
                }
                state.invoices += 1;
                state.sales.add(inv.amount);
                // A payment after as_of has not happened yet.
                let paid = (inv.paid != NULL_DAY && inv.paid <= as_of).then_some(inv.paid);
                if let Some(p) = paid {
                    let s = sink.at(key, ctx.ord(p));
                    s.paid += 1;
                    s.paid_amount.add(inv.amount);
                    s.paid_weighted_days.add(inv.amount * (f64::from(p) - f64::from(v.day)));
                }
                // Open at snapshot S (the period end, or as_of) when invoiced <= S < paid:
                // from the invoice's period to the period before the payment's.
                let close = paid.map(|p| ctx.ord(p));
                if close != Some(ord) {
                    open_changes.push((ord, inv.amount, 1));
                    if let Some(c) = close {
                        open_changes.push((c, -inv.amount, -1));
                    }
                }
                // Overdue at S when due < S < paid: from the period of the day after the due date.
                if inv.due < as_of {
                    let from = ctx.ord(inv.due + 1);
                    if close.is_none_or(|c| from < c) {
                        overdue_changes.push((from, inv.amount, 1));
                        if let Some(c) = close {
                            overdue_changes.push((c, -inv.amount, -1));
                        }
                    }
                }
            }
            let Some(first_ord) = first_ord else { continue };
            open_changes.sort_by_key(|c| c.0);
            overdue_changes.sort_by_key(|c| c.0);
            let mut sweep = Sweep {
                open: NeumaierSum::default(),
                open_n: 0,
                overdue: NeumaierSum::default(),
                overdue_n: 0,
            };
            let (mut oi, mut di) = (0, 0);
            for ord in first_ord..=last_ord {
                while oi < open_changes.len() && open_changes[oi].0 <= ord {
                    sweep.open.add(open_changes[oi].1);
                    sweep.open_n += open_changes[oi].2;
                    oi += 1;
                }
                while di < overdue_changes.len() && overdue_changes[di].0 <= ord {
                    sweep.overdue.add(overdue_changes[di].1);
                    sweep.overdue_n += overdue_changes[di].2;
                    di += 1;
                }
                let state = sink.at(key, ord);
                if !state.set {
                    (state.set, state.key, state.ord, state.days) = (true, key, ord, days_of(ord));
                }
                let open = sweep.open();
                state.accounts += 1;
                state.open_invoices += sweep.open_n as u64;
                state.receivables.add(open);
                state.overdue.add(sweep.overdue());
                if let Some(l) = limit {
                    state.limited_accounts += 1;
                    state.credit_limit.add(l);
                    state.limited_receivables.add(open);
                    state.accounts_over_limit += u64::from(100.0 * open / l > self.params.threshold);
                }
            }
        }
    }
    fn fields(&self) -> Vec<Field> {
        let mut f: Vec<Field> =
            ["n", "missing", "invalid", "accounts", "open_invoices"].map(count_field).into();
        f.extend(["credit_sales", "receivables_open", "period_days", "dso_days"].map(value_field));
        f.push(count_field("paid_invoices"));
        f.extend(
            ["avg_days_to_pay", "overdue_amount", "overdue_pct", "credit_limit", "credit_utilization_pct"]
                .map(value_field),
        );
        f.push(Field::new("over_limit", DataType::Boolean, true));
        f.push(count_field("accounts_over_limit"));
        f
    }
    fn finalize(&self, states: &[&DsoState], ctx: &Ctx) -> Vec<ArrayRef> {
        let days: Vec<Option<f64>> = states
            .iter()
            .map(|s| match (s.days, s.first_day, ctx.as_of) {
                (Some(d), _, _) => Some(f64::from(d)),
                // No period: from the segment's first invoice to as_of.
                (None, Some(first), Some(as_of)) if s.set => Some(f64::from(as_of) - f64::from(first) + 1.0),
                _ => None,
            })
            .collect();
        let dso: Vec<Option<f64>> = if self.countback {
            countback(states, &days)
        } else {
            states
                .iter()
                .zip(&days)
                .map(|(s, d)| {
                    let sales = s.sales.value();
                    (s.set && sales > 0.0).then(|| s.receivables.value() / sales * d.unwrap_or(f64::NAN))
                })
                .collect()
        };
        let utilization: Vec<Option<f64>> = states
            .iter()
            .map(|s| {
                (s.limited_accounts > 0)
                    .then(|| 100.0 * s.limited_receivables.value() / s.credit_limit.value())
            })
            .collect();
        let over: BooleanArray = utilization.iter().map(|u| u.map(|u| u > self.params.threshold)).collect();
        vec![
            counts(states.iter().map(|s| s.invoices)),
            counts(states.iter().map(|s| s.missing)),
            counts(states.iter().map(|s| s.invalid)),
            counts(states.iter().map(|s| s.accounts)),
            counts(states.iter().map(|s| s.open_invoices)),
            values(states.iter().map(|s| s.set.then(|| s.sales.value()))),
            values(states.iter().map(|s| s.set.then(|| s.receivables.value()))),
            values(days.iter().copied()),
            values(dso.into_iter()),
            counts(states.iter().map(|s| s.paid)),
            values(states.iter().map(|s| {
                let w = s.paid_amount.value();
                (w > 0.0).then(|| s.paid_weighted_days.value() / w)
            })),
            values(states.iter().map(|s| s.set.then(|| s.overdue.value()))),
            values(states.iter().map(|s| {
                let r = s.receivables.value();
                (r > 0.0).then(|| 100.0 * s.overdue.value() / r)
            })),
            values(states.iter().map(|s| (s.limited_accounts > 0).then(|| s.credit_limit.value()))),
            values(utilization.into_iter()),
            Arc::new(over),
            counts(states.iter().map(|s| s.accounts_over_limit)),
        ]
    }
}

/// Countback DSO: the receivables at a period end are matched against that
/// period's credit sales, then the previous period's, and so on: each period
/// used up whole adds its days, the last one the fraction of its days that the
/// remaining receivables are of its sales. Uneven sales (a big last month) do
/// not inflate it as the standard formula does. States arrive sorted by
/// (segment, period) and each segment's periods are consecutive (the walk
/// writes every period from the first invoice to as_of).
fn countback(states: &[&DsoState], days: &[Option<f64>]) -> Vec<Option<f64>> {
    let mut out = Vec::with_capacity(states.len());
    let mut start = 0;
    for i in 0..states.len() {
        let s = states[i];
        if !s.set {
            out.push(None);
            continue;
        }
        if i == 0 || !states[i - 1].set || states[i - 1].key != s.key || states[i - 1].ord + 1 != s.ord {
            start = i;
        }
        let mut left = s.receivables.value();
        if left <= 0.0 {
            out.push(Some(0.0));
            continue;
        }
        let mut total = 0.0;
        let mut j = i + 1;
        while j > start && left > 0.0 {
            j -= 1;
            let sales = states[j].sales.value();
            let d = days[j].unwrap_or(0.0);
            if sales >= left {
                total += d * left / sales;
                left = 0.0;
            } else {
                total += d;
                left -= sales;
            }
        }
        out.push(Some(total));
    }
    out
}

/// Build one of this family's KPIs; `None` when `kind` is not one of them.
pub fn build(kind: &str, p: &serde_json::Value) -> Option<Result<Box<dyn DynEntity>>> {
    (kind == "dso")
        .then(|| params::<DsoParams>(kind, p).and_then(Dso::new).map(|k| Box::new(k) as Box<dyn DynEntity>))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(key: u32, ord: i32, sales: f64, receivables: f64) -> DsoState {
        let mut s = DsoState { set: true, key, ord, days: Some(30), ..Default::default() };
        s.sales.add(sales);
        s.receivables.add(receivables);
        s
    }

    #[test]
    fn countback_walks_back_through_sales() {
        // Receivables 150 at the end of period 2: 100 of period 2's sales (30 days),
        // then 50 of period 1's 200 (a quarter of its 30 days).
        let a = [state(0, 0, 50.0, 40.0), state(0, 1, 200.0, 90.0), state(0, 2, 100.0, 150.0)];
        let b = state(1, 2, 0.0, 0.0);
        let refs: Vec<&DsoState> = vec![&a[0], &a[1], &a[2], &b];
        let days = vec![Some(30.0); 4];
        let got = countback(&refs, &days);
        assert_eq!(got[2], Some(37.5));
        assert_eq!(got[0], Some(24.0));
        assert_eq!(got[3], Some(0.0));
    }
}

#[cfg(test)]
mod walk_tests {
    use super::*;
    use crate::period::{PeriodUnit, Periods};

    fn visit(day: i32, due: i32, paid: i32, amount: f64) -> Visit<Invoice> {
        Visit { customer: 0, key: 0, day, event: Invoice { due, paid, amount, limit: 100.0, bad: false } }
    }

    #[test]
    fn walk_writes_every_period_to_as_of_and_flags_conflicting_limits() {
        let kpi = Dso::new(params("dso", &serde_json::json!({})).unwrap()).unwrap();
        let periods = Periods::new(PeriodUnit::Month, 1).unwrap();
        // 2025-01-10 (day 20098), due 30 days later, paid 2025-03-05 (day 20152); as_of 2025-04-15.
        let ctx = WalkCtx::new(Some(periods), 20193, Some((20098, 20110)));
        let mut sink = CellSink::new();
        let mut second = visit(20099, 20129, NULL_DAY, 10.0);
        second.event.limit = 200.0;
        kpi.walk(&[visit(20098, 20128, 20152, 50.0), second], &mut sink, &ctx);
        assert_eq!(sink.cells.len(), 4); // January to April
        let at = |day: i32| {
            let cell = (0, periods.ordinal(day));
            &sink.states[sink.cells.iter().position(|&c| c == cell).expect("cell written")]
        };
        let jan = at(20098);
        assert_eq!((jan.invoices, jan.invalid, jan.receivables.value()), (1, 1, 50.0));
        let feb = at(20130);
        assert_eq!((feb.receivables.value(), feb.overdue.value()), (50.0, 50.0));
        let mar = at(20160);
        assert_eq!((mar.receivables.value(), mar.paid, mar.days), (0.0, 1, Some(31)));
        assert_eq!(at(20193).days, Some(15));
        assert_eq!(sink.diag.issues.len(), 1);
        assert_eq!(sink.diag.issues[0].column, "credit_limit");
    }
}
