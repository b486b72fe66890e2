//! Service KPIs (table: one row per inquiry / ticket / quote):
//! `first_contact_resolution`, `quote_win_rate`, `time_to_quote`, `resolution_time`.
//!
//! The two rates keep a [`Share`] plus null and bad-row counts. The two
//! durations share one kernel, [`SlaDuration`], parameterised by its column
//! roles and SLA mapping: every duration is kept (exact numpy-linear
//! percentiles via [`Samples`]) and the SLA share follows the censoring rule
//! of KPIS.md: only items whose deadline has passed at `as_of` are counted,
//! an unanswered one among them is a miss, the rest are `pending`.
use std::collections::BTreeMap;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_buffer::NullBuffer;
use arrow_schema::{DataType, Field, Schema};
use serde::{Deserialize, Serialize};

use super::{count_field, counts_and_share, value_field, with_interval, RowColumns, Samples, Share};
use crate::engine::{Ctx, DynKpi, Kpi, State};
use crate::error::{Error, Result};
use crate::ingest::{
    day_of_micros, expect_bool, expect_instant, expect_numeric, find_column, instants, is_string, is_whole,
    micros_between, show_f64, Bools, Diagnostics, Numeric, Strings,
};
use crate::keys::for_each_kept;
use crate::registry::{params, KpiInfo};

const MICROS_PER_HOUR: f64 = 3_600_000_000.0;

// ---------------------------------------------------------------------------
// Small readers

/// A string (or dictionary-of-strings) column read in place: each row's label.
pub(crate) enum Labels<'a> {
    Plain(Strings<'a>),
    Dict { keys: Vec<usize>, nulls: Option<NullBuffer>, values: Strings<'a> },
    AllNull,
}

impl<'a> Labels<'a> {
    /// `None` for a type [`expect_labels`] rejects.
    pub(crate) fn new(array: &'a dyn Array) -> Option<Self> {
        match array.data_type() {
            DataType::Null => Some(Labels::AllNull),
            DataType::Dictionary(_, _) => {
                let dict = array.as_any_dictionary();
                let values = Strings::new(dict.values().as_ref())?;
                // No dictionary values (an all-null categorical): every row is
                // null, and arrow cannot normalise keys into nothing.
                if dict.values().is_empty() {
                    return Some(Labels::AllNull);
                }
                Some(Labels::Dict { keys: dict.normalized_keys(), nulls: array.logical_nulls(), values })
            }
            _ => Strings::new(array).map(Labels::Plain),
        }
    }

    #[inline]
    pub(crate) fn get(&self, row: usize) -> Option<&'a str> {
        match self {
            Labels::Plain(s) => (!s.nulls().is_some_and(|n| n.is_null(row))).then(|| s.value(row)),
            Labels::Dict { keys, nulls, values } => {
                (!nulls.as_ref().is_some_and(|n| n.is_null(row))).then(|| values.value(keys[row]))
            }
            Labels::AllNull => None,
        }
    }
}

/// Check that column `index` holds strings (any flavour, or a dictionary of them).
pub(crate) fn expect_labels(schema: &Schema, index: usize, role: &str) -> Result<()> {
    let field = schema.field(index);
    if is_string(field.data_type()) || field.data_type() == &DataType::Null {
        return Ok(());
    }
    Err(Error::column(
        field.name(),
        format!(
            "column '{}' ({role}=) must hold strings (category names), but has type {}. Convert it first, \
             e.g. df[col].astype(str).",
            field.name(),
            field.data_type()
        ),
    ))
}

/// An instant (microseconds since the epoch, UTC for zoned columns) as text for error examples.
pub(crate) fn show_instant(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .map(|d| d.naive_utc().format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| us.to_string())
}

/// The calendar day of an instant: naive timestamps and dates are wall time
/// already; zoned timestamps are taken in the column's own zone.
#[derive(Clone, Debug)]
pub(crate) enum DayOf {
    Wall,
    Zoned(arrow_array::timezone::Tz),
}

/// A duration between a zoned column (UTC instants) and a naive one (wall
/// time) is off by the zone's UTC offset: refuse the pair, naming the naive column.
pub(crate) fn check_same_zoning(schema: &Schema, [a, b]: [(usize, &str); 2]) -> Result<()> {
    // Some(zone) for timestamps and dates; None for an all-null column (no durations).
    let zone = |i: usize| match schema.field(i).data_type() {
        DataType::Null => None,
        DataType::Timestamp(_, tz) => Some(tz.clone()),
        _ => Some(None),
    };
    let ((naive, naive_role), (zoned, zoned_role), tz) = match (zone(a.0), zone(b.0)) {
        (Some(None), Some(Some(tz))) => (a, b, tz),
        (Some(Some(tz)), Some(None)) => (b, a, tz),
        _ => return Ok(()),
    };
    let (naive, zoned) = (schema.field(naive).name(), schema.field(zoned).name());
    Err(Error::column(
        naive,
        format!(
            "column '{naive}' ({naive_role}=) has no time zone but column '{zoned}' ({zoned_role}=) is in \
             time zone {tz}: a duration between them would be off by the zone's UTC offset. Give both \
             columns a time zone (pandas: df[col].dt.tz_localize(\"{tz}\")) or neither \
             (df[col].dt.tz_localize(None))"
        ),
    ))
}

impl DayOf {
    pub(crate) fn for_column(schema: &Schema, index: usize) -> Result<Self> {
        let field = schema.field(index);
        match field.data_type() {
            DataType::Timestamp(_, Some(tz)) => tz.parse().map(DayOf::Zoned).map_err(|_| {
                Error::column(
                    field.name(),
                    format!("column '{}' has an unknown time zone {tz:?}", field.name()),
                )
            }),
            _ => Ok(DayOf::Wall),
        }
    }

    #[inline]
    pub(crate) fn day(&self, us: i64) -> i32 {
        use chrono::{Offset, TimeZone};
        match self {
            DayOf::Wall => day_of_micros(us),
            DayOf::Zoned(tz) => {
                let Some(utc) = chrono::DateTime::from_timestamp_micros(us) else { return day_of_micros(us) };
                let offset = tz.offset_from_utc_datetime(&utc.naive_utc()).fix().local_minus_utc();
                day_of_micros(us.saturating_add(i64::from(offset) * 1_000_000))
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Rates: first_contact_resolution, quote_win_rate

/// A share with its null (`missing` / `undecided`) and bad rows counted aside.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RateState {
    pub share: Share,
    pub missing: u64,
    pub invalid: u64,
}

impl State for RateState {
    fn merge(&mut self, other: &Self) {
        self.share.merge(&other.share);
        self.missing += other.missing;
        self.invalid += other.invalid;
    }
}

/// Parameters of `first_contact_resolution`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FcrParams {
    /// Bool (or 0/1) column: resolved on the first contact. Not read when `contacts` is given.
    #[serde(default = "default_fcr_flag")]
    pub flag: String,
    /// Contacts-to-resolve column; when given, FCR means exactly 1 contact.
    #[serde(default)]
    pub contacts: Option<String>,
    /// Resolution time column: a null one (unresolved) is not FCR. `None`: no such column.
    #[serde(default = "default_resolved_at")]
    pub resolved: Option<String>,
    #[serde(default = "default_opened_at")]
    pub date: String,
}

fn default_fcr_flag() -> String {
    "first_contact_resolved".into()
}
fn default_resolved_at() -> Option<String> {
    Some("resolved_at".into())
}
fn default_opened_at() -> String {
    "opened_at".into()
}

/// Where the first-contact outcome is read from.
#[derive(Clone, Copy, Debug)]
enum FcrSource {
    Flag(usize),
    Contacts(usize),
}

/// `first_contact_resolution`: share of inquiries resolved on the first contact.
pub struct FirstContactResolution {
    params: FcrParams,
    source: FcrSource,
    resolved: Option<usize>,
}

impl Kpi for FirstContactResolution {
    type State = RateState;

    fn default_date(&self) -> Option<&str> {
        Some(&self.params.date)
    }

    fn bind(&mut self, schema: &Schema) -> Result<()> {
        self.source = match &self.params.contacts {
            Some(c) => {
                let i = find_column(schema, c, "contacts")?;
                expect_numeric(schema, i, "contacts")?;
                FcrSource::Contacts(i)
            }
            None => {
                let i = find_column(schema, &self.params.flag, "flag")?;
                expect_bool(schema, i, "flag")?;
                FcrSource::Flag(i)
            }
        };
        self.resolved = match &self.params.resolved {
            None => None,
            Some(r) => {
                let i = find_column(schema, r, "resolved").map_err(|e| match e {
                    Error::Input { message, column, .. } => Error::Input {
                        message: format!(
                            "{message}. An unresolved inquiry (null resolution time) counts as not \
                             first-contact-resolved; pass resolved=None if the table has no such column."
                        ),
                        column,
                        count: None,
                        example: None,
                    },
                    other => other,
                })?;
                expect_instant(schema, i, "resolved")?;
                Some(i)
            }
        };
        Ok(())
    }

    fn update(
        &self,
        batch: &RecordBatch,
        cells: &[u32],
        states: &mut [RateState],
        diag: &mut Diagnostics,
        _ctx: &Ctx,
    ) {
        let resolved_nulls = self.resolved.and_then(|i| batch.column(i).logical_nulls());
        let unresolved = |row: usize| resolved_nulls.as_ref().is_some_and(|n| n.is_null(row));
        match self.source {
            FcrSource::Flag(i) => {
                let Some(flags) = Bools::new(batch.column(i).as_ref()) else { return };
                flags.for_each_kept(cells, |row, cell, v| {
                    let state = &mut states[cell as usize];
                    match v {
                        Some(Err(x)) => {
                            state.invalid += 1;
                            diag.record(&self.params.flag, "that are neither true/false nor 0/1", || {
                                show_f64(x)
                            });
                        }
                        _ if unresolved(row) => state.share.add(false),
                        None => state.missing += 1,
                        Some(Ok(b)) => state.share.add(b),
                    }
                });
            }
            FcrSource::Contacts(i) => {
                let Some(contacts) = Numeric::new(batch.column(i).as_ref()) else { return };
                let name = self.params.contacts.as_deref().unwrap_or_default();
                contacts.for_each_kept(cells, |row, cell, v| {
                    let state = &mut states[cell as usize];
                    match v {
                        Some(x) if !(x >= 1.0 && is_whole(x)) => {
                            state.invalid += 1;
                            diag.record(name, "with a contact count that is not a whole number >= 1", || {
                                show_f64(x)
                            });
                        }
                        _ if unresolved(row) => state.share.add(false),
                        None => state.missing += 1,
                        Some(x) => state.share.add(x == 1.0),
                    }
                });
            }
        }
    }

    fn fields(&self) -> Vec<Field> {
        let mut fields = vec![count_field("n"), count_field("missing"), count_field("invalid")];
        fields.extend(with_interval("fcr_pct"));
        fields
    }

    fn finalize(&self, states: &[&RateState], ctx: &Ctx) -> Vec<ArrayRef> {
        counts_and_share(states, |s| ([s.share.n, s.missing, s.invalid], s.share), ctx)
    }
}

/// Parameters of `quote_win_rate`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WinRateParams {
    /// Bool (or 0/1) column: won; null while undecided.
    #[serde(default = "default_won")]
    pub won: String,
    #[serde(default = "default_requested_at")]
    pub date: String,
}

fn default_won() -> String {
    "won".into()
}
fn default_requested_at() -> String {
    "requested_at".into()
}

/// `quote_win_rate`: quotes won / quotes decided.
pub struct QuoteWinRate {
    params: WinRateParams,
    index: usize,
}

impl Kpi for QuoteWinRate {
    type State = RateState;

    fn default_date(&self) -> Option<&str> {
        Some(&self.params.date)
    }

    fn bind(&mut self, schema: &Schema) -> Result<()> {
        self.index = find_column(schema, &self.params.won, "won")?;
        expect_bool(schema, self.index, "won")
    }

    fn update(
        &self,
        batch: &RecordBatch,
        cells: &[u32],
        states: &mut [RateState],
        diag: &mut Diagnostics,
        _ctx: &Ctx,
    ) {
        let Some(won) = Bools::new(batch.column(self.index).as_ref()) else { return };
        won.for_each_kept(cells, |_, cell, v| {
            let state = &mut states[cell as usize];
            match v {
                None => state.missing += 1,
                Some(Ok(b)) => state.share.add(b),
                Some(Err(x)) => {
                    state.invalid += 1;
                    diag.record(&self.params.won, "that are neither true/false nor 0/1", || show_f64(x));
                }
            }
        });
    }

    fn fields(&self) -> Vec<Field> {
        let mut fields = vec![count_field("n"), count_field("undecided"), count_field("invalid")];
        fields.extend(with_interval("win_rate_pct"));
        fields
    }

    fn finalize(&self, states: &[&RateState], ctx: &Ctx) -> Vec<ArrayRef> {
        counts_and_share(states, |s| ([s.share.n, s.missing, s.invalid], s.share), ctx)
    }
}

// ---------------------------------------------------------------------------
// Durations with an SLA: time_to_quote, resolution_time

/// Per (segment, period): every valid item, its duration when it has ended,
/// and the SLA share over the items whose deadline has passed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SlaState {
    /// Valid items (requests / issues).
    pub n: u64,
    /// Items with an end time (quoted / resolved); `n - answered` are open.
    pub answered: u64,
    /// Items whose deadline is still ahead at `as_of`.
    pub pending: u64,
    pub invalid: u64,
    /// Within SLA among the items whose deadline has passed.
    pub sla: Share,
    /// Durations in hours of the answered items.
    pub hours: Samples,
}

impl State for SlaState {
    fn merge(&mut self, other: &Self) {
        self.n += other.n;
        self.answered += other.answered;
        self.pending += other.pending;
        self.invalid += other.invalid;
        self.sla.merge(&other.sla);
        self.hours.merge(&other.hours);
    }
}

/// What differs between the duration KPIs: names, roles and the default SLAs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlaKind {
    TimeToQuote,
    ResolutionTime,
}

impl SlaKind {
    fn name(self) -> &'static str {
        match self {
            SlaKind::TimeToQuote => "time_to_quote",
            SlaKind::ResolutionTime => "resolution_time",
        }
    }
    /// Parameter names (roles) of the start, end and class columns.
    fn roles(self) -> [&'static str; 3] {
        match self {
            SlaKind::TimeToQuote => ["requested", "quoted", "quote_type"],
            SlaKind::ResolutionTime => ["opened", "resolved", "priority"],
        }
    }
    /// The SLA per class in hours (KPIS.md).
    fn default_sla(self) -> BTreeMap<String, f64> {
        let pairs: [(&str, f64); 2] = match self {
            SlaKind::TimeToQuote => [("standard", 1.0), ("custom", 24.0)],
            SlaKind::ResolutionTime => [("high", 24.0), ("standard", 72.0)],
        };
        pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }
}

/// Columns and SLA mapping of a duration KPI, whatever its kind.
#[derive(Clone, Debug)]
pub struct SlaColumns {
    pub start: String,
    pub end: String,
    pub class: String,
    /// Hours per class; `None` for the kind's default.
    pub sla_hours: Option<BTreeMap<String, f64>>,
    /// Period date column; `None` for `start`.
    pub date: Option<String>,
}

/// Parameters of `time_to_quote`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeToQuoteParams {
    #[serde(default = "default_requested_at")]
    pub requested: String,
    #[serde(default = "default_quoted_at")]
    pub quoted: String,
    #[serde(default = "default_quote_type")]
    pub quote_type: String,
    #[serde(default)]
    pub sla_hours: Option<BTreeMap<String, f64>>,
    #[serde(default)]
    pub date: Option<String>,
}

fn default_quoted_at() -> String {
    "quoted_at".into()
}
fn default_quote_type() -> String {
    "quote_type".into()
}

impl From<TimeToQuoteParams> for SlaColumns {
    fn from(p: TimeToQuoteParams) -> Self {
        SlaColumns {
            start: p.requested,
            end: p.quoted,
            class: p.quote_type,
            sla_hours: p.sla_hours,
            date: p.date,
        }
    }
}

/// Parameters of `resolution_time`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolutionTimeParams {
    #[serde(default = "default_opened_at")]
    pub opened: String,
    #[serde(default = "default_resolved")]
    pub resolved: String,
    #[serde(default = "default_priority")]
    pub priority: String,
    #[serde(default)]
    pub sla_hours: Option<BTreeMap<String, f64>>,
    #[serde(default)]
    pub date: Option<String>,
}

fn default_resolved() -> String {
    "resolved_at".into()
}
fn default_priority() -> String {
    "priority".into()
}

impl From<ResolutionTimeParams> for SlaColumns {
    fn from(p: ResolutionTimeParams) -> Self {
        SlaColumns {
            start: p.opened,
            end: p.resolved,
            class: p.priority,
            sla_hours: p.sla_hours,
            date: p.date,
        }
    }
}

/// A duration from a start to an (optional) end column, with an SLA per class:
/// `time_to_quote` and `resolution_time`.
pub struct SlaDuration {
    kind: SlaKind,
    cols: SlaColumns,
    date: String,
    /// (class, SLA in microseconds), sorted by class.
    sla: Vec<(String, i64)>,
    index: [usize; 3],
    day_of: DayOf,
    problem_null_start: String,
    problem_unknown_class: String,
    problem_negative: String,
}

impl SlaDuration {
    pub fn new(kind: SlaKind, cols: SlaColumns) -> Result<Self> {
        let hours = cols.sla_hours.clone().unwrap_or_else(|| kind.default_sla());
        if hours.is_empty() {
            return Err(Error::param(format!(
                "{}: sla_hours is empty; give the SLA in hours of each {}, e.g. {:?}",
                kind.name(),
                kind.roles()[2],
                kind.default_sla()
            )));
        }
        let sla = hours
            .iter()
            .map(|(class, &h)| {
                if h.is_finite() && h >= 0.0 && h * MICROS_PER_HOUR < i64::MAX as f64 {
                    Ok((class.clone(), (h * MICROS_PER_HOUR).round() as i64))
                } else {
                    Err(Error::param(format!(
                        "{}: sla_hours[{class:?}] = {h} is not a number of hours >= 0",
                        kind.name()
                    )))
                }
            })
            .collect::<Result<Vec<_>>>()?;
        let [start_role, _, class_role] = kind.roles();
        let known: Vec<&str> = sla.iter().map(|(c, _)| c.as_str()).collect();
        Ok(SlaDuration {
            kind,
            date: cols.date.clone().unwrap_or_else(|| cols.start.clone()),
            problem_null_start: format!("with no {start_role} time (null)"),
            problem_unknown_class: format!(
                "with a {class_role} that has no SLA in sla_hours (known: {})",
                known.join(", ")
            ),
            problem_negative: format!("earlier than {} (a negative duration)", cols.start),
            cols,
            sla,
            index: [usize::MAX; 3],
            day_of: DayOf::Wall,
        })
    }

    /// The SLA of a class, in microseconds.
    #[inline]
    fn sla_of(&self, class: &str) -> Option<i64> {
        self.sla.iter().find(|(c, _)| c == class).map(|&(_, us)| us)
    }
}

impl Kpi for SlaDuration {
    type State = SlaState;

    fn default_date(&self) -> Option<&str> {
        Some(&self.date)
    }

    /// Requests and answers happened; a deadline is a promise and never "now".
    fn observed_dates(&self) -> Vec<String> {
        vec![self.cols.start.clone(), self.cols.end.clone()]
    }

    fn bind(&mut self, schema: &Schema) -> Result<()> {
        let [start_role, end_role, class_role] = self.kind.roles();
        let start = find_column(schema, &self.cols.start, start_role)?;
        expect_instant(schema, start, start_role)?;
        let end = find_column(schema, &self.cols.end, end_role)?;
        expect_instant(schema, end, end_role)?;
        check_same_zoning(schema, [(start, start_role), (end, end_role)])?;
        let class = find_column(schema, &self.cols.class, class_role)?;
        expect_labels(schema, class, class_role)?;
        self.index = [start, end, class];
        self.day_of = DayOf::for_column(schema, start)?;
        Ok(())
    }

    fn update(
        &self,
        batch: &RecordBatch,
        cells: &[u32],
        states: &mut [SlaState],
        diag: &mut Diagnostics,
        ctx: &Ctx,
    ) {
        let [si, ei, ci] = self.index;
        let (mut starts, mut ends) = (Vec::new(), Vec::new());
        instants(batch.column(si).as_ref(), &mut starts);
        instants(batch.column(ei).as_ref(), &mut ends);
        let Some(classes) = Labels::new(batch.column(ci).as_ref()) else { return };
        for_each_kept(cells, |row, cell| {
            let state = &mut states[cell as usize];
            let Some(start) = starts[row] else {
                state.invalid += 1;
                diag.record(&self.cols.start, &self.problem_null_start, || "null".to_string());
                return;
            };
            let class = classes.get(row);
            let Some(sla) = class.and_then(|c| self.sla_of(c)) else {
                state.invalid += 1;
                diag.record(&self.cols.class, &self.problem_unknown_class, || {
                    class.map_or_else(|| "null".to_string(), |c| format!("{c:?}"))
                });
                return;
            };
            let end = ends[row];
            if let Some(e) = end.filter(|&e| e < start) {
                state.invalid += 1;
                diag.record(&self.cols.end, &self.problem_negative, || {
                    format!("{} < {} {}", show_instant(e), self.cols.start, show_instant(start))
                });
                return;
            }
            state.n += 1;
            if let Some(e) = end {
                state.answered += 1;
                // i128: two instants at opposite ends of i64 (saturated garbage) must not overflow.
                state.hours.values.push(micros_between(start, e) / MICROS_PER_HOUR);
            }
            // Censoring: only deadlines that have passed by the end of the as_of day count.
            let deadline = start.saturating_add(sla);
            if ctx.as_of.is_some_and(|as_of| self.day_of.day(deadline) <= as_of) {
                state.sla.add(end.is_some_and(|e| e <= deadline));
            } else {
                state.pending += 1;
            }
        });
    }

    fn fields(&self) -> Vec<Field> {
        let mut fields: Vec<Field> =
            ["n", "answered", "open", "pending", "sla_n", "invalid"].map(count_field).into();
        fields.extend(["p50_hours", "p90_hours", "mean_hours"].map(value_field));
        fields.extend(with_interval("sla_pct"));
        fields
    }

    fn finalize(&self, states: &[&SlaState], ctx: &Ctx) -> Vec<ArrayRef> {
        let summaries = Samples::summaries(states, |s| &s.hours);
        let mut out = RowColumns::new(ctx, states.len(), 6, 6);
        for (s, summary) in states.iter().zip(&summaries) {
            out.counts(0, [s.n, s.answered, s.n - s.answered, s.pending, s.sla.n, s.invalid]);
            out.value(0, summary.map(|x| x.0));
            out.value(1, summary.map(|x| x.1));
            out.value(2, summary.map(|x| x.2));
            out.share(3, s.sla, ctx.z);
        }
        out.finish()
    }
}

// ---------------------------------------------------------------------------
// Catalogue

/// The service KPIs in the catalogue.
pub const CATALOG: &[KpiInfo] = &[
    KpiInfo {
        name: "first_contact_resolution",
        family: "service",
        table: "tickets",
        description: "Share of inquiries resolved on the first contact (unresolved ones count as not), \
                      with a Wilson interval",
        value_column: "fcr_pct",
        unit: "%",
        direction: "higher",
        target: Some(70.0),
    },
    KpiInfo {
        name: "time_to_quote",
        family: "service",
        table: "quotes",
        description:
            "Hours from quote request to quote (p50, p90, mean) and the share quoted within the SLA \
                      of its type among requests whose deadline has passed",
        value_column: "sla_pct",
        unit: "%",
        direction: "higher",
        target: Some(90.0),
    },
    KpiInfo {
        name: "resolution_time",
        family: "service",
        table: "tickets",
        description:
            "Hours from ticket opened to resolved (p50, p90, mean) and the share resolved within the \
                      SLA of its priority among tickets whose deadline has passed",
        value_column: "sla_pct",
        unit: "%",
        direction: "higher",
        target: Some(90.0),
    },
    KpiInfo {
        name: "quote_win_rate",
        family: "service",
        table: "quotes",
        description: "Quotes won / quotes decided (undecided ones left out), with a Wilson interval",
        value_column: "win_rate_pct",
        unit: "%",
        direction: "higher",
        target: None,
    },
];

/// Build one of this family's KPIs; `None` when `kind` is not one of them.
pub fn build(kind: &str, p: &serde_json::Value) -> Option<Result<Box<dyn DynKpi>>> {
    let built = match kind {
        "first_contact_resolution" => params::<FcrParams>(kind, p).map(|params| {
            Box::new(FirstContactResolution { params, source: FcrSource::Flag(usize::MAX), resolved: None })
                as Box<dyn DynKpi>
        }),
        "quote_win_rate" => params::<WinRateParams>(kind, p)
            .map(|params| Box::new(QuoteWinRate { params, index: usize::MAX }) as Box<dyn DynKpi>),
        "time_to_quote" => params::<TimeToQuoteParams>(kind, p)
            .and_then(|params| SlaDuration::new(SlaKind::TimeToQuote, params.into()))
            .map(|k| Box::new(k) as Box<dyn DynKpi>),
        "resolution_time" => params::<ResolutionTimeParams>(kind, p)
            .and_then(|params| SlaDuration::new(SlaKind::ResolutionTime, params.into()))
            .map(|k| Box::new(k) as Box<dyn DynKpi>),
        _ => return None,
    };
    Some(built)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::types::{Float64Type, Int64Type};
    use arrow_array::{BooleanArray, DictionaryArray, Int64Array, StringArray, TimestampMicrosecondArray};
    use arrow_schema::ArrowError;

    use super::*;
    use crate::engine::{run, Request};

    const H: i64 = 3_600_000_000;
    /// 2025-01-10T00:00 in microseconds.
    const T0: i64 = 20_098 * 24 * H;

    fn go(json: &str, columns: Vec<(&str, ArrayRef)>) -> Result<RecordBatch> {
        let batch = RecordBatch::try_from_iter(columns).unwrap();
        let request = Request::from_json(json).unwrap();
        run(&request, batch.schema(), std::iter::once(Ok::<_, ArrowError>(batch))).map(|o| o.batch)
    }

    fn int(b: &RecordBatch, name: &str) -> Vec<i64> {
        b.column_by_name(name).unwrap().as_primitive::<Int64Type>().values().to_vec()
    }

    fn float(b: &RecordBatch, name: &str) -> Vec<Option<f64>> {
        b.column_by_name(name).unwrap().as_primitive::<Float64Type>().iter().collect()
    }

    fn ts(values: Vec<Option<i64>>) -> ArrayRef {
        Arc::new(TimestampMicrosecondArray::from(values))
    }

    fn strs(values: Vec<Option<&str>>) -> ArrayRef {
        Arc::new(StringArray::from(values))
    }

    /// Quote requests on 2025-01-10 around an as_of of the same day.
    fn quotes() -> Vec<(&'static str, ArrayRef)> {
        vec![
            (
                "requested_at",
                ts(vec![
                    Some(T0 + 8 * H),  // standard, quoted in 30 min: hit
                    Some(T0 + 9 * H),  // standard, quoted in 2 h: miss
                    Some(T0 + 10 * H), // standard, unanswered, deadline passed: miss, open
                    Some(T0 + 23 * H), // standard, deadline 2025-01-11 00:00: pending, open
                    Some(T0 + 12 * H), // custom, quoted in 1 h but deadline ahead: pending
                    Some(T0 + 13 * H), // custom, unanswered: pending, open
                    Some(T0 + 14 * H), // standard, quoted at exactly the deadline: hit
                ]),
            ),
            (
                "quoted_at",
                ts(vec![
                    Some(T0 + 8 * H + H / 2),
                    Some(T0 + 11 * H),
                    None,
                    None,
                    Some(T0 + 13 * H),
                    None,
                    Some(T0 + 15 * H),
                ]),
            ),
            (
                "quote_type",
                strs(vec![
                    Some("standard"),
                    Some("standard"),
                    Some("standard"),
                    Some("standard"),
                    Some("custom"),
                    Some("custom"),
                    Some("standard"),
                ]),
            ),
        ]
    }

    #[test]
    fn censoring_counts_pending_open_and_misses() {
        let out = go(r#"{"kpis":[{"kind":"time_to_quote"}],"as_of":"2025-01-10"}"#, quotes()).unwrap();
        assert_eq!(int(&out, "n"), [7]);
        assert_eq!(int(&out, "answered"), [4]);
        assert_eq!(int(&out, "open"), [3]);
        assert_eq!(int(&out, "pending"), [3]);
        assert_eq!(int(&out, "sla_n"), [4]);
        assert_eq!(int(&out, "invalid"), [0]);
        assert_eq!(float(&out, "sla_pct"), [Some(50.0)]);
        // Durations of all answered requests, pending or not: 0.5, 2, 1, 1.
        assert_eq!(float(&out, "p50_hours"), [Some(1.0)]);
        assert_eq!(float(&out, "mean_hours"), [Some(1.125)]);
        let p90 = float(&out, "p90_hours")[0].unwrap();
        assert!((p90 - 1.7).abs() < 1e-12, "{p90}");
        // A day later every deadline has passed: the custom ones are a hit and a miss.
        let later = go(r#"{"kpis":[{"kind":"time_to_quote"}],"as_of":"2025-01-11"}"#, quotes()).unwrap();
        assert_eq!(int(&later, "pending"), [0]);
        assert_eq!(int(&later, "sla_n"), [7]);
        assert_eq!(float(&later, "sla_pct"), [Some(300.0 / 7.0)]);
        // Without as_of, "now" is the latest request or quote: 2025-01-10.
        let default = go(r#"{"kpis":[{"kind":"time_to_quote"}]}"#, quotes()).unwrap();
        assert_eq!(int(&default, "pending"), [3]);
    }

    #[test]
    fn sla_mapping_is_a_parameter() {
        let json = r#"{"kpis":[{"kind":"time_to_quote","params":{"sla_hours":{"standard":2,"custom":0.5}}}],
                       "as_of":"2025-01-10"}"#;
        let out = go(json, quotes()).unwrap();
        // Deadlines passed: standard 8h, 9h, 10h, 14h (the 23h one ends 01:00 next day), custom 12h, 13h.
        assert_eq!(int(&out, "sla_n"), [6]);
        assert_eq!(int(&out, "pending"), [1]);
        assert_eq!(float(&out, "sla_pct"), [Some(50.0)]); // 8h, 9h, 14h hit; 10h, both custom miss
        let bad = r#"{"kpis":[{"kind":"time_to_quote","params":{"sla_hours":{"standard":-1}}}]}"#;
        assert!(go(bad, quotes()).unwrap_err().to_string().contains("sla_hours"));
        let empty = r#"{"kpis":[{"kind":"time_to_quote","params":{"sla_hours":{}}}]}"#;
        assert!(go(empty, quotes()).is_err());
    }

    #[test]
    fn bad_rows_are_named_and_counted() {
        let cols = || {
            vec![
                ("requested_at", ts(vec![Some(T0), Some(T0), Some(T0), None, Some(T0 + H)])),
                ("quoted_at", ts(vec![Some(T0 + H), Some(T0 - H), Some(T0 - 2 * H), None, None])),
                (
                    "quote_type",
                    strs(vec![Some("standard"), Some("standard"), Some("standard"), Some("x"), None]),
                ),
            ]
        };
        let err = go(r#"{"kpis":[{"kind":"time_to_quote"}]}"#, cols()).unwrap_err();
        match err {
            Error::Input { column, count, example, message } => {
                assert_eq!(column.as_deref(), Some("quoted_at"));
                assert_eq!(count, Some(2));
                assert_eq!(
                    example.as_deref(),
                    Some("2025-01-09 23:00:00 < requested_at 2025-01-10 00:00:00")
                );
                assert!(message.contains("column 'requested_at': 1 row with no requested time"), "{message}");
                assert!(message.contains("column 'quote_type': 1 row with a quote_type"), "{message}");
                assert!(message.contains("known: custom, standard"), "{message}");
            }
            other => panic!("{other}"),
        }
        let out = go(r#"{"kpis":[{"kind":"time_to_quote"}],"on_invalid":"drop"}"#, cols()).unwrap();
        assert_eq!((int(&out, "n"), int(&out, "invalid")), (vec![1], vec![4]));
    }

    #[test]
    fn dictionary_classes_and_resolution_time() {
        let priority: DictionaryArray<arrow_array::types::Int8Type> =
            vec![Some("high"), Some("standard"), None, Some("high")].into_iter().collect();
        let cols = vec![
            ("opened_at", ts(vec![Some(T0), Some(T0), Some(T0), Some(T0)])),
            ("resolved_at", ts(vec![Some(T0 + 30 * H), Some(T0 + 30 * H), Some(T0), None])),
            ("priority", Arc::new(priority) as ArrayRef),
        ];
        let json = r#"{"kpis":[{"kind":"resolution_time"}],"as_of":"2025-01-20","on_invalid":"drop"}"#;
        let out = go(json, cols).unwrap();
        assert_eq!(int(&out, "n"), [3]);
        assert_eq!(int(&out, "invalid"), [1]); // null priority
        assert_eq!(int(&out, "open"), [1]);
        assert_eq!(int(&out, "sla_n"), [3]);
        // high in 30 h: miss; standard in 30 h: hit; high unresolved: miss.
        assert_eq!(float(&out, "sla_pct")[0], Some(100.0 / 3.0));
        assert_eq!(float(&out, "p50_hours"), [Some(30.0)]);
    }

    #[test]
    fn zoned_deadlines_end_with_the_local_day() {
        // 2025-01-10 23:30 in Berlin is 22:30 UTC; a 1 h SLA ends 00:30 local on the 11th.
        let requested =
            TimestampMicrosecondArray::from(vec![T0 + 22 * H + H / 2]).with_timezone("Europe/Berlin");
        let quoted = TimestampMicrosecondArray::from(vec![None::<i64>]).with_timezone("Europe/Berlin");
        let cols = vec![
            ("requested_at", Arc::new(requested) as ArrayRef),
            ("quoted_at", Arc::new(quoted) as ArrayRef),
            ("quote_type", strs(vec![Some("standard")])),
        ];
        let out = go(r#"{"kpis":[{"kind":"time_to_quote"}],"as_of":"2025-01-10"}"#, cols.clone()).unwrap();
        assert_eq!(int(&out, "pending"), [1]); // in UTC the deadline (23:30) would have passed
        let out = go(r#"{"kpis":[{"kind":"time_to_quote"}],"as_of":"2025-01-11"}"#, cols).unwrap();
        assert_eq!((int(&out, "sla_n"), float(&out, "sla_pct")), (vec![1], vec![Some(0.0)]));
    }

    #[test]
    fn first_contact_resolution_from_flag_or_contacts() {
        let cols = || {
            vec![
                (
                    "first_contact_resolved",
                    Arc::new(BooleanArray::from(vec![Some(true), Some(true), Some(false), None])) as ArrayRef,
                ),
                ("contacts", Arc::new(Int64Array::from(vec![Some(1), Some(1), Some(3), None])) as ArrayRef),
                ("resolved_at", ts(vec![Some(T0), None, Some(T0), Some(T0)])),
            ]
        };
        // The second is flagged but unresolved: not FCR. The null flag is missing.
        let out = go(r#"{"kpis":[{"kind":"first_contact_resolution"}]}"#, cols()).unwrap();
        assert_eq!((int(&out, "n"), int(&out, "missing")), (vec![3], vec![1]));
        assert_eq!(float(&out, "fcr_pct")[0], Some(100.0 / 3.0));
        let json = r#"{"kpis":[{"kind":"first_contact_resolution","params":{"contacts":"contacts"}}]}"#;
        let out = go(json, cols()).unwrap();
        assert_eq!((int(&out, "n"), int(&out, "missing")), (vec![3], vec![1]));
        assert_eq!(float(&out, "fcr_pct")[0], Some(100.0 / 3.0));
        let json = r#"{"kpis":[{"kind":"first_contact_resolution","params":{"resolved":null}}]}"#;
        assert_eq!(float(&go(json, cols()).unwrap(), "fcr_pct")[0], Some(200.0 / 3.0));
        let zero = vec![
            ("contacts", Arc::new(Int64Array::from(vec![0, 1])) as ArrayRef),
            ("resolved_at", ts(vec![Some(T0), Some(T0)])),
        ];
        let json = r#"{"kpis":[{"kind":"first_contact_resolution","params":{"contacts":"contacts"}}]}"#;
        let err = go(json, zero).unwrap_err().to_string();
        assert!(err.contains("column 'contacts': 1 row with a contact count"), "{err}");
    }

    #[test]
    fn win_rate_leaves_undecided_out() {
        let cols = vec![(
            "won",
            Arc::new(BooleanArray::from(vec![Some(true), None, Some(false), Some(false)])) as ArrayRef,
        )];
        let out = go(r#"{"kpis":[{"kind":"quote_win_rate"}]}"#, cols).unwrap();
        assert_eq!((int(&out, "n"), int(&out, "undecided")), (vec![3], vec![1]));
        assert_eq!(float(&out, "win_rate_pct")[0], Some(100.0 / 3.0));
        let ints = vec![("won", Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef)];
        let out = go(r#"{"kpis":[{"kind":"quote_win_rate"}],"on_invalid":"drop"}"#, ints).unwrap();
        assert_eq!((int(&out, "n"), int(&out, "invalid")), (vec![1], vec![1]));
    }

    #[test]
    fn states_merge_by_adding() {
        let mut a = SlaState { n: 2, answered: 1, pending: 1, invalid: 0, ..Default::default() };
        a.sla.add(true);
        a.hours.values.push(1.0);
        let mut b = a.clone();
        b.sla.add(false);
        a.merge(&b);
        assert_eq!((a.n, a.answered, a.pending, a.sla.n, a.sla.hits), (4, 2, 2, 3, 2));
        assert_eq!(a.hours.values.len(), 2);
    }
}
