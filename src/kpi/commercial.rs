//! Commercial KPIs: `cart_abandonment` (carts), `lead_conversion` (leads),
//! `engagement` (events) and `interaction_frequency` (interactions).
//!
//! The two conversions share one row kernel, [`Conversion`]: an item starts
//! (cart created, lead created) and may convert (checked out, converted);
//! with a window, only items whose window has passed at `as_of` are counted
//! (the censoring rule of KPIS.md), the rest are `pending`. The two activity
//! KPIs share one per-account kernel, [`Activity`]: they count distinct
//! accounts and days, which needs each account's whole history.
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{Field, Schema};
use serde::{Deserialize, Serialize};

use super::service::{check_same_zoning, expect_labels, show_instant, DayOf, Labels};
use super::{count_field, value_field, with_interval, RowColumns, Samples, Share};
use crate::engine::{Ctx, DynKpi, Kpi, State};
use crate::entity::{CellSink, DynEntity, EntityKpi, Visit, WalkCtx};
use crate::error::{Error, Result};
use crate::ingest::{expect_instant, find_column, instants, micros_between, Diagnostics};
use crate::keys::for_each_kept;
use crate::registry::{params, KpiInfo};

const MICROS_PER_HOUR: f64 = 3_600_000_000.0;
const MICROS_PER_DAY: f64 = 86_400_000_000.0;

/// The commercial KPIs in the catalogue.
pub const CATALOG: &[KpiInfo] = &[
    KpiInfo {
        name: "cart_abandonment",
        family: "commercial",
        table: "carts",
        description: "1 - carts checked out within `window_hours` (default 24) / carts created, over carts \
                      whose window has passed at as_of (younger ones are pending), with a Wilson interval",
        value_column: "abandonment_pct",
        unit: "%",
        direction: "lower",
        target: None,
    },
    KpiInfo {
        name: "lead_conversion",
        family: "commercial",
        table: "leads",
        description:
            "New leads per creation cohort, the share converted (by as_of, or within `window_days` \
                      with censoring) with a Wilson interval, and the median days from creation to conversion",
        value_column: "conversion_pct",
        unit: "%",
        direction: "higher",
        target: None,
    },
    KpiInfo {
        name: "engagement",
        family: "commercial",
        table: "events",
        description: "Events per type, active accounts, active days, and the share of the segment's known \
                      accounts (seen on or before the period end) active in the period",
        value_column: "active_pct",
        unit: "%",
        direction: "higher",
        target: None,
    },
    KpiInfo {
        name: "interaction_frequency",
        family: "commercial",
        table: "interactions",
        description:
            "Sales contacts per type and per active customer (customers with a contact in the period)",
        value_column: "contacts_per_customer",
        unit: "contacts",
        direction: "higher",
        target: None,
    },
];

// ---------------------------------------------------------------------------
// Conversions: cart_abandonment, lead_conversion

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ConversionState {
    /// Valid items started in the period.
    pub n: u64,
    pub invalid: u64,
    /// Window still open at as_of.
    pub pending: u64,
    /// Among the decided items: converted (within the window).
    pub decided: Share,
    /// Decided items that converted only after their window (carts: recovered later).
    pub late: u64,
    /// Days from start to conversion of the converted items.
    pub days: Samples,
}

impl State for ConversionState {
    fn merge(&mut self, o: &Self) {
        self.n += o.n;
        self.invalid += o.invalid;
        self.pending += o.pending;
        self.decided.merge(&o.decided);
        self.late += o.late;
        self.days.merge(&o.days);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConversionKind {
    Cart,
    Lead,
}

fn default_created() -> String {
    "created_at".into()
}
fn default_checked_out() -> String {
    "checked_out_at".into()
}
fn default_converted() -> String {
    "converted_at".into()
}
fn default_cart_window() -> f64 {
    24.0
}

/// Parameters of `cart_abandonment`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CartParams {
    #[serde(default = "default_created")]
    pub created: String,
    #[serde(default = "default_checked_out")]
    pub checked_out: String,
    /// Hours after creation a checkout counts; younger carts are pending.
    #[serde(default = "default_cart_window")]
    pub window_hours: f64,
    #[serde(default)]
    pub date: Option<String>,
}

/// Parameters of `lead_conversion`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeadParams {
    #[serde(default = "default_created")]
    pub created: String,
    #[serde(default = "default_converted")]
    pub converted: String,
    /// Days after creation a conversion counts; `None`: any conversion by as_of, no censoring
    /// (leads created after as_of are still pending).
    #[serde(default)]
    pub window_days: Option<f64>,
    #[serde(default)]
    pub date: Option<String>,
}

/// A start column, an optional end column, an optional window.
pub struct Conversion {
    kind: ConversionKind,
    start: String,
    end: String,
    date: String,
    /// The window in microseconds.
    window: Option<i64>,
    index: [usize; 2],
    day_of: DayOf,
}

impl Conversion {
    fn new(
        kind: ConversionKind,
        start: String,
        end: String,
        date: Option<String>,
        window: Option<(f64, f64, &str)>,
    ) -> Result<Self> {
        let window = match window {
            None => None,
            Some((w, unit, name)) => {
                if !(w.is_finite() && w >= 0.0 && w * unit < 1e17) {
                    return Err(Error::param(format!("{name} must be a number >= 0, got {w}")));
                }
                Some((w * unit).round() as i64)
            }
        };
        Ok(Conversion {
            kind,
            date: date.unwrap_or_else(|| start.clone()),
            start,
            end,
            window,
            index: [usize::MAX; 2],
            day_of: DayOf::Wall,
        })
    }

    fn roles(&self) -> [&'static str; 2] {
        match self.kind {
            ConversionKind::Cart => ["created", "checked_out"],
            ConversionKind::Lead => ["created", "converted"],
        }
    }
}

impl Kpi for Conversion {
    type State = ConversionState;

    fn default_date(&self) -> Option<&str> {
        Some(&self.date)
    }
    fn observed_dates(&self) -> Vec<String> {
        vec![self.start.clone(), self.end.clone()]
    }
    fn bind(&mut self, schema: &Schema) -> Result<()> {
        let [sr, er] = self.roles();
        let s = find_column(schema, &self.start, sr)?;
        expect_instant(schema, s, sr)?;
        let e = find_column(schema, &self.end, er)?;
        expect_instant(schema, e, er)?;
        check_same_zoning(schema, [(s, sr), (e, er)])?;
        self.index = [s, e];
        self.day_of = DayOf::for_column(schema, s)?;
        Ok(())
    }
    fn update(
        &self,
        batch: &RecordBatch,
        cells: &[u32],
        states: &mut [ConversionState],
        diag: &mut Diagnostics,
        ctx: &Ctx,
    ) {
        let (mut starts, mut ends) = (Vec::new(), Vec::new());
        instants(batch.column(self.index[0]).as_ref(), &mut starts);
        instants(batch.column(self.index[1]).as_ref(), &mut ends);
        let problem_negative = format!("earlier than {} (a negative duration)", self.start);
        for_each_kept(cells, |row, cell| {
            let state = &mut states[cell as usize];
            let Some(start) = starts[row] else {
                state.invalid += 1;
                diag.record(&self.start, "with no start time (null)", || "null".to_string());
                return;
            };
            if let Some(e) = ends[row].filter(|&e| e < start) {
                state.invalid += 1;
                diag.record(&self.end, &problem_negative, || {
                    format!("{} < {} {}", show_instant(e), self.start, show_instant(start))
                });
                return;
            }
            state.n += 1;
            // A conversion after as_of has not happened yet.
            let end = ends[row].filter(|&e| ctx.as_of.is_none_or(|a| self.day_of.day(e) <= a));
            let converted = match self.window {
                None => {
                    // A lead created after as_of has not happened yet either:
                    // pending, as it is with a window (whose deadline is later still).
                    if ctx.as_of.is_some_and(|a| self.day_of.day(start) > a) {
                        state.pending += 1;
                        return;
                    }
                    end.is_some()
                }
                Some(w) => {
                    let deadline = start.saturating_add(w);
                    if ctx.as_of.is_none_or(|a| self.day_of.day(deadline) > a) {
                        state.pending += 1;
                        return;
                    }
                    let within = end.is_some_and(|e| e <= deadline);
                    state.late += u64::from(end.is_some() && !within);
                    within
                }
            };
            state.decided.add(converted);
            if let (true, Some(e)) = (converted, end) {
                state.days.values.push(micros_between(start, e) / MICROS_PER_DAY);
            }
        });
    }
    fn fields(&self) -> Vec<Field> {
        match self.kind {
            ConversionKind::Cart => {
                let mut f: Vec<Field> =
                    ["n", "pending", "invalid", "eligible", "checked_out", "abandoned", "recovered"]
                        .map(count_field)
                        .into();
                f.extend(with_interval("abandonment_pct"));
                f
            }
            ConversionKind::Lead => {
                let mut f: Vec<Field> =
                    ["n", "pending", "invalid", "eligible", "converted"].map(count_field).into();
                f.extend(with_interval("conversion_pct"));
                f.extend(["lead_time_days_p50", "lead_time_days_mean"].map(value_field));
                f
            }
        }
    }
    fn finalize(&self, states: &[&ConversionState], ctx: &Ctx) -> Vec<ArrayRef> {
        // One pass over the states (see RowColumns); lead days' percentiles sort
        // each state's samples, in parallel, first.
        let cart = self.kind == ConversionKind::Cart;
        let summaries = if cart { Vec::new() } else { Samples::summaries(states, |s| &s.days) };
        let mut out = RowColumns::new(ctx, states.len(), if cart { 7 } else { 5 }, if cart { 3 } else { 5 });
        for (i, s) in states.iter().enumerate() {
            out.counts(0, [s.n, s.pending, s.invalid, s.decided.n, s.decided.hits]);
            if cart {
                let lost = s.decided.n - s.decided.hits;
                out.count(5, lost);
                out.count(6, s.late);
                out.share(0, Share { hits: lost, n: s.decided.n }, ctx.z);
            } else {
                out.share(0, s.decided, ctx.z);
                out.value(3, summaries[i].map(|x| x.0));
                out.value(4, summaries[i].map(|x| x.2));
            }
        }
        out.finish()
    }
}

// ---------------------------------------------------------------------------
// Activity: engagement, interaction_frequency

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActivityKind {
    Engagement,
    Interactions,
}

/// The demo's event types (engagement's default `event_types`).
pub const EVENT_TYPES: [&str; 4] =
    ["portal_login", "training_attended", "early_buy_enrolment", "catalog_download"];
/// The demo's interaction types (interaction_frequency's default `interaction_types`).
pub const INTERACTION_TYPES: [&str; 3] = ["call", "email", "meeting"];

fn default_customer() -> String {
    "customer_id".into()
}
fn default_occurred() -> String {
    "occurred_at".into()
}

/// Parameters of `engagement`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngagementParams {
    #[serde(default = "default_customer")]
    pub customer: String,
    #[serde(default = "default_occurred")]
    pub date: String,
    #[serde(default = "default_event_type")]
    pub event_type: String,
    #[serde(default)]
    pub event_types: Option<Vec<String>>,
}

fn default_event_type() -> String {
    "event_type".into()
}

/// Parameters of `interaction_frequency`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InteractionParams {
    #[serde(default = "default_customer")]
    pub customer: String,
    #[serde(default = "default_occurred")]
    pub date: String,
    #[serde(default = "default_interaction_type")]
    pub interaction_type: String,
    #[serde(default)]
    pub interaction_types: Option<Vec<String>>,
}

fn default_interaction_type() -> String {
    "interaction_type".into()
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ActivityState {
    /// Events of each listed type, then of other types, then with a null type.
    pub by_type: Vec<u64>,
    /// Accounts with an event in the cell, and their distinct (account, day) pairs.
    pub active: u64,
    pub active_days: u64,
    /// Engagement: accounts seen in the segment on or before the period end.
    pub known: u64,
}

impl State for ActivityState {
    fn merge(&mut self, o: &Self) {
        if self.by_type.len() < o.by_type.len() {
            self.by_type.resize(o.by_type.len(), 0);
        }
        self.by_type.iter_mut().zip(&o.by_type).for_each(|(a, b)| *a += b);
        self.active += o.active;
        self.active_days += o.active_days;
        self.known += o.known;
    }
}

pub struct Activity {
    kind: ActivityKind,
    customer: String,
    date: String,
    type_column: String,
    types: Vec<String>,
    index: usize,
}

/// Event type codes beyond the listed types.
const OTHER: u8 = 254;
const NULL_TYPE: u8 = 255;

impl Activity {
    fn new(
        kind: ActivityKind,
        customer: String,
        date: String,
        type_column: String,
        types: Vec<String>,
    ) -> Result<Self> {
        let role = match kind {
            ActivityKind::Engagement => "event_types",
            ActivityKind::Interactions => "interaction_types",
        };
        if types.is_empty() || types.len() >= usize::from(OTHER) {
            return Err(Error::param(format!("{role} must list 1 to 253 types, got {}", types.len())));
        }
        let mut sorted = types.clone();
        sorted.sort();
        sorted.dedup();
        if sorted.len() != types.len() {
            return Err(Error::param(format!("{role} lists a type twice: {types:?}")));
        }
        Ok(Activity { kind, customer, date, type_column, types, index: usize::MAX })
    }
}

impl EntityKpi for Activity {
    type State = ActivityState;
    /// The event's type: its index in the listed types, [`OTHER`] or [`NULL_TYPE`].
    type Event = u8;

    fn default_date(&self) -> Option<&str> {
        Some(&self.date)
    }
    fn customer(&self) -> &str {
        &self.customer
    }
    fn bind(&mut self, schema: &Schema) -> Result<()> {
        let role = match self.kind {
            ActivityKind::Engagement => "event_type",
            ActivityKind::Interactions => "interaction_type",
        };
        self.index = find_column(schema, &self.type_column, role)?;
        expect_labels(schema, self.index, role)
    }
    fn events(&self, batch: &RecordBatch, out: &mut Vec<Option<u8>>, _diag: &mut Diagnostics) {
        out.clear();
        let Some(labels) = Labels::new(batch.column(self.index).as_ref()) else {
            out.resize(batch.num_rows(), Some(NULL_TYPE));
            return;
        };
        out.extend((0..batch.num_rows()).map(|row| {
            Some(match labels.get(row) {
                None => NULL_TYPE,
                Some(t) => self.types.iter().position(|x| x == t).map_or(OTHER, |i| i as u8),
            })
        }));
    }
    fn walk(&self, history: &[Visit<u8>], sink: &mut CellSink<ActivityState>, ctx: &WalkCtx) {
        let width = self.types.len() + 2;
        // Distinct (segment, period) cells and (segment, day) pairs: the history is
        // sorted by day, so only the segments of the current period / day are remembered.
        let (mut ord_now, mut day_now) = (None, None);
        let (mut keys_in_ord, mut keys_on_day): (Vec<u32>, Vec<u32>) = (Vec::new(), Vec::new());
        for v in history {
            let ord = ctx.ord(v.day);
            if ord_now != Some(ord) {
                ord_now = Some(ord);
                keys_in_ord.clear();
            }
            if day_now != Some(v.day) {
                day_now = Some(v.day);
                keys_on_day.clear();
            }
            let state = sink.at(v.key, ord);
            if state.by_type.len() < width {
                state.by_type.resize(width, 0);
            }
            let slot = match v.event {
                NULL_TYPE => width - 1,
                OTHER => width - 2,
                i => usize::from(i),
            };
            state.by_type[slot] += 1;
            if !keys_in_ord.contains(&v.key) {
                keys_in_ord.push(v.key);
                state.active += 1;
            }
            if !keys_on_day.contains(&v.key) {
                keys_on_day.push(v.key);
                state.active_days += 1;
            }
        }
        if self.kind == ActivityKind::Engagement {
            // Known from the first event in the segment until as_of: every period has a row.
            let last = ctx.ord(ctx.as_of);
            let mut firsts: Vec<(u32, i32)> = Vec::new();
            for v in history {
                if !firsts.iter().any(|f| f.0 == v.key) {
                    firsts.push((v.key, ctx.ord(v.day)));
                }
            }
            for (key, first) in firsts {
                for ord in first..=last {
                    sink.at(key, ord).known += 1;
                }
            }
        }
    }
    fn fields(&self) -> Vec<Field> {
        let (prefix, base) = match self.kind {
            ActivityKind::Engagement => ("events", "n"),
            ActivityKind::Interactions => ("contacts", "n"),
        };
        let mut f = vec![count_field(base)];
        f.extend(self.types.iter().map(|t| count_field(&format!("{prefix}_{t}"))));
        f.push(count_field(&format!("{prefix}_other")));
        f.push(count_field("missing"));
        match self.kind {
            ActivityKind::Engagement => {
                f.extend(["active_accounts", "accounts", "active_days"].map(count_field));
                f.extend(with_interval("active_pct"));
                f.push(value_field("active_days_per_account"));
            }
            ActivityKind::Interactions => {
                f.push(count_field("active_customers"));
                f.push(value_field("contacts_per_customer"));
                f.extend(self.types.iter().map(|t| value_field(&format!("{t}_per_customer"))));
            }
        }
        f
    }
    fn finalize(&self, states: &[&ActivityState], ctx: &Ctx) -> Vec<ArrayRef> {
        let types = self.types.len();
        let width = types + 2;
        let engagement = self.kind == ActivityKind::Engagement;
        let (counts, values) = if engagement { (width + 4, 4) } else { (width + 2, types + 1) };
        let mut out = RowColumns::new(ctx, states.len(), counts, values);
        for s in states {
            let at = |i: usize| s.by_type.get(i).copied().unwrap_or(0);
            // Events with a null type are `missing`: left out of `n` and the rates,
            // though they still make their account active.
            let total = s.by_type.iter().take(width - 1).sum::<u64>();
            let per = |x: u64| (s.active > 0).then(|| x as f64 / s.active as f64);
            out.count(0, total);
            (0..width).for_each(|i| out.count(1 + i, at(i)));
            out.count(width + 1, s.active);
            if engagement {
                out.count(width + 2, s.known);
                out.count(width + 3, s.active_days);
                // Active accounts are always among the known ones.
                out.share(0, Share { hits: s.active, n: s.known.max(s.active) }, ctx.z);
                out.value(3, per(s.active_days));
            } else {
                out.value(0, per(total));
                (0..types).for_each(|i| out.value(1 + i, per(at(i))));
            }
        }
        out.finish()
    }
}

/// Build one of the row-wise commercial KPIs; `None` when `kind` is not one of them.
pub fn build(kind: &str, p: &serde_json::Value) -> Option<Result<Box<dyn DynKpi>>> {
    let built = match kind {
        "cart_abandonment" => params::<CartParams>(kind, p).and_then(|c| {
            Conversion::new(
                ConversionKind::Cart,
                c.created,
                c.checked_out,
                c.date,
                Some((c.window_hours, MICROS_PER_HOUR, "cart_abandonment: window_hours")),
            )
        }),
        "lead_conversion" => params::<LeadParams>(kind, p).and_then(|c| {
            Conversion::new(
                ConversionKind::Lead,
                c.created,
                c.converted,
                c.date,
                c.window_days.map(|w| (w, MICROS_PER_DAY, "lead_conversion: window_days")),
            )
        }),
        _ => return None,
    };
    Some(built.map(|k| Box::new(k) as Box<dyn DynKpi>))
}

/// Build one of the per-account commercial KPIs; `None` when `kind` is not one of them.
pub fn build_entity(kind: &str, p: &serde_json::Value) -> Option<Result<Box<dyn DynEntity>>> {
    let owned = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let built = match kind {
        "engagement" => params::<EngagementParams>(kind, p).and_then(|e| {
            let types = e.event_types.unwrap_or_else(|| owned(&EVENT_TYPES));
            Activity::new(ActivityKind::Engagement, e.customer, e.date, e.event_type, types)
        }),
        "interaction_frequency" => params::<InteractionParams>(kind, p).and_then(|e| {
            let types = e.interaction_types.unwrap_or_else(|| owned(&INTERACTION_TYPES));
            Activity::new(ActivityKind::Interactions, e.customer, e.date, e.interaction_type, types)
        }),
        _ => return None,
    };
    Some(built.map(|k| Box::new(k) as Box<dyn DynEntity>))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;
    use arrow_array::{StringArray, TimestampMicrosecondArray};
    use arrow_schema::ArrowError;

    use super::*;
    use crate::engine::{run, Request};

    const H: i64 = 3_600_000_000;
    /// 2025-01-10T00:00 in microseconds.
    const T0: i64 = 20_098 * 24 * H;

    fn go(json: &str, columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
        let batch = RecordBatch::try_from_iter(columns).unwrap();
        let request = Request::from_json(json).unwrap();
        run(&request, batch.schema(), std::iter::once(Ok::<_, ArrowError>(batch))).unwrap().batch
    }

    fn int(b: &RecordBatch, name: &str) -> Vec<i64> {
        b.column_by_name(name).unwrap().as_primitive::<Int64Type>().values().to_vec()
    }

    #[test]
    fn carts_younger_than_the_window_are_pending() {
        let created = TimestampMicrosecondArray::from(vec![T0, T0, T0 + 30 * H, T0 + 40 * H]);
        let done =
            TimestampMicrosecondArray::from(vec![Some(T0 + H), Some(T0 + 30 * H), Some(T0 + 31 * H), None]);
        let out = go(
            r#"{"kpis": [{"kind": "cart_abandonment"}], "as_of": "2025-01-11"}"#,
            vec![("created_at", Arc::new(created) as ArrayRef), ("checked_out_at", Arc::new(done))],
        );
        // Windows ending 01-11 00:00 (twice), 01-12 06:00 and 01-12 16:00: two pending.
        assert_eq!(int(&out, "pending"), vec![2]);
        assert_eq!(int(&out, "checked_out"), vec![1]);
        assert_eq!(int(&out, "recovered"), vec![1]);
    }

    #[test]
    fn leads_created_after_as_of_are_pending_without_a_window_too() {
        let created = TimestampMicrosecondArray::from(vec![T0, T0 + 24 * H, T0 + 48 * H]);
        let done = TimestampMicrosecondArray::from(vec![Some(T0 + H), None, Some(T0 + 49 * H)]);
        let out = go(
            r#"{"kpis": [{"kind": "lead_conversion"}], "as_of": "2025-01-11"}"#,
            vec![("created_at", Arc::new(created) as ArrayRef), ("converted_at", Arc::new(done))],
        );
        // The lead of 01-12 has not happened yet: pending, not an unconverted lead.
        assert_eq!(int(&out, "n"), vec![3]);
        assert_eq!(int(&out, "pending"), vec![1]);
        assert_eq!(int(&out, "eligible"), vec![2]);
        assert_eq!(int(&out, "converted"), vec![1]);
    }

    #[test]
    fn activity_counts_distinct_accounts_and_days() {
        let at = TimestampMicrosecondArray::from(vec![T0, T0 + H, T0 + 24 * H, T0]);
        let customer = StringArray::from(vec!["a", "a", "a", "b"]);
        let kind = StringArray::from(vec![Some("call"), Some("zoom"), None, Some("email")]);
        let out = go(
            r#"{"kpis": [{"kind": "interaction_frequency"}]}"#,
            vec![
                ("occurred_at", Arc::new(at) as ArrayRef),
                ("customer_id", Arc::new(customer)),
                ("interaction_type", Arc::new(kind)),
            ],
        );
        assert_eq!(int(&out, "n"), vec![3]);
        assert_eq!(int(&out, "contacts_other"), vec![1]);
        assert_eq!(int(&out, "missing"), vec![1]);
        assert_eq!(int(&out, "active_customers"), vec![2]);
    }
}
