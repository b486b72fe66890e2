//! The engine, written once for every KPI: resolve a [`Request`] against the
//! input schema, scan record batches in fixed-size chunks (in parallel with
//! rayon), update one fused set of KPI states per chunk, merge chunk states in
//! chunk order (so the result does not depend on the thread count), and
//! finalise them into one sorted Arrow record batch. A chunk with about one
//! (segment, period) cell per row skips its own states: once its cells have
//! global ids, its rows update the global states directly, still in chunk
//! order (see [`ChunkStates`]).
use std::any::Any;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, BooleanArray, Date32Array, RecordBatch, StringArray};
use arrow_buffer::{BooleanBuffer, Buffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef};
use rayon::prelude::*;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::cells::CellIndex;
use crate::entity::{DynEntity, WalkCtx};
use crate::error::{Error, Result};
use crate::filter::Filter;
use crate::ingest::{find_column, Diagnostics, Issue};
use crate::keys::{self, ChunkKeys, KeyColumn, KeyTuples, KeyValue, SKIP};
use crate::period::{in_year_range, DateReader, PeriodUnit, Periods, MAX_DAY, MIN_DAY, NULL_DAY};
use crate::registry::{self, Built};

/// Rows per chunk. Fixed (not derived from the thread count) so that chunk
/// boundaries, and with them every floating-point merge, are the same however
/// many threads run.
pub const CHUNK_ROWS: usize = 1 << 16;
/// Chunks processed in parallel before their states are merged (bounds memory
/// on streamed input to a window, not the whole input): two per thread, at
/// least 8 and at most 32. A window is absorbed while the next one is
/// scanned, so the last one's absorbing is left alone on one thread: with 2
/// threads, windows of 32 chunks left all of it so at a million rows (one
/// window; 8 chunks: the scan phase 220/204/172 -> 183/172/155 ms at 10^5
/// segments). Results do not depend on it: chunks are absorbed in order,
/// whatever windows hold them.
fn window_chunks() -> usize {
    (2 * rayon::current_num_threads()).clamp(8, 32)
}

/// Set in a forked child process (see the Python package): rayon's pool does
/// not survive `fork`, so the child runs single-threaded.
static FORKED: AtomicBool = AtomicBool::new(false);

pub fn mark_forked() {
    FORKED.store(true, AtomicOrdering::SeqCst);
}

/// False in a forked child process (see [`mark_forked`]): scan on this thread only.
pub(crate) fn parallel() -> bool {
    !FORKED.load(AtomicOrdering::Relaxed)
}

/// What to do with bad rows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnInvalid {
    /// Raise a `KpiInputError` naming the column, the count and an example.
    #[default]
    Raise,
    /// Drop the rows and count them in the KPI's `invalid` column.
    Drop,
}

/// One KPI of a call: its kind (`"nps"`), output name, row filter and parameters.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KpiSpec {
    pub kind: String,
    #[serde(default)]
    pub name: Option<String>,
    /// Rows this KPI reads: every condition must hold (column value in the list).
    #[serde(default, rename = "where")]
    pub filter: Vec<crate::filter::Condition>,
    #[serde(default)]
    pub params: serde_json::Value,
}

/// A call: which KPIs, by which segments and periods.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    pub kpis: Vec<KpiSpec>,
    #[serde(default)]
    pub by: Vec<String>,
    /// The date column; defaults to the first KPI's default date column.
    #[serde(default)]
    pub date: Option<String>,
    #[serde(default)]
    pub period: Option<String>,
    #[serde(default = "default_fiscal_year_start")]
    pub fiscal_year_start: u32,
    #[serde(default)]
    pub tz: Option<String>,
    /// ISO date; defaults to the latest date in the data.
    #[serde(default)]
    pub as_of: Option<String>,
    #[serde(default)]
    pub on_invalid: OnInvalid,
    #[serde(default = "default_confidence")]
    pub confidence: f64,
    #[serde(default)]
    pub threads: Option<usize>,
    /// The KPI columns to build (names as in the full output); the `by` and
    /// period columns are always there. None builds every column. Columns
    /// not asked for are never built: with one segment per few rows the
    /// output is most of a call's memory.
    #[serde(default)]
    pub columns: Option<Vec<String>>,
    /// How many rows the input holds, when the caller knows (a table does, a
    /// stream does not): the KPI states are then sized once, from the cells
    /// the first rows made, instead of grown and copied window by window.
    /// Not part of the request (never serialised), so partial results of
    /// inputs of any size still merge.
    #[serde(skip)]
    pub rows_hint: Option<usize>,
}

fn default_fiscal_year_start() -> u32 {
    1
}
fn default_confidence() -> f64 {
    0.95
}

impl Request {
    pub fn from_json(json: &str) -> Result<Self> {
        serde_json::from_str(json).map_err(|e| Error::param(format!("invalid KPI request: {e}")))
    }
}

/// A KPI's per-(segment, period) state: mergeable and serialisable.
pub trait State: Default + Clone + Send + Sync + Serialize + DeserializeOwned + 'static {
    /// Fold `other` into `self`; must be associative so chunking never changes a result.
    fn merge(&mut self, other: &Self);
}

/// Call-wide values a KPI needs to finalise.
#[derive(Clone, Debug)]
pub struct Ctx {
    pub confidence: f64,
    /// Two-sided normal quantile for `confidence`.
    pub z: f64,
    pub on_invalid: OnInvalid,
    /// The reference date (days since epoch) for censoring; None when no date is known.
    pub as_of: Option<i32>,
    /// Which of the finalising KPI's columns (its fields, in order) to build;
    /// None builds them all. Set per KPI from [`Request::columns`].
    pub keep: Option<Arc<[bool]>>,
    /// Per output row, whether the next row is the same segment (a later
    /// period): set when finalising, for the KPIs that link a segment's
    /// periods ([`Kpi::LINKS_PERIODS`]).
    pub segment_continues: Option<Arc<[bool]>>,
}

/// One KPI: how it reads its columns, updates its state and finalises it.
pub trait Kpi: Send + Sync + 'static {
    type State: State;
    /// The date column this KPI's table is bucketed by, unless `date=` says otherwise.
    fn default_date(&self) -> Option<&str>;
    /// Rows this KPI always keeps (e.g. a survey KPI's own survey type), on
    /// top of the spec's `where=`.
    fn row_filter(&self, _schema: &Schema) -> Vec<crate::filter::Condition> {
        Vec::new()
    }
    /// Date columns whose latest value is "now" for this KPI's censoring when
    /// `as_of` is not given (events that happened: ordered, delivered; never a
    /// promise date, which lies in the future).
    fn observed_dates(&self) -> Vec<String> {
        Vec::new()
    }
    /// Resolve column roles against the schema and check their types.
    fn bind(&mut self, schema: &Schema) -> Result<()>;
    /// Fold one chunk's rows into the states; `cells[row]` is the row's state
    /// index or [`SKIP`]. Bad rows are counted in the state and in `diag`.
    fn update(
        &self,
        batch: &RecordBatch,
        cells: &[u32],
        states: &mut [Self::State],
        diag: &mut Diagnostics,
        ctx: &Ctx,
    );
    /// Whether `finalize` reads [`Ctx::segment_continues`]: a state's
    /// result depends on the same segment's later periods (repeat purchase
    /// by customer looks for the next order past the period end).
    const LINKS_PERIODS: bool = false;
    /// Output columns, named after the KPI kind (`nps`, `nps_ci_low`, `n`, ...).
    /// Like `finalize`, it may depend on the parameters and the states only,
    /// never on what `bind` found: partial results are finalised without a schema.
    fn fields(&self) -> Vec<Field>;
    /// One array per field, one row per state, in the given order.
    fn finalize(&self, states: &[&Self::State], ctx: &Ctx) -> Vec<ArrayRef>;
}

/// The object-safe face of [`Kpi`] the engine works with; implemented once for every `Kpi`.
pub trait DynKpi: Send + Sync {
    fn default_date(&self) -> Option<&str>;
    fn row_filter(&self, schema: &Schema) -> Vec<crate::filter::Condition>;
    fn observed_dates(&self) -> Vec<String>;
    fn bind(&mut self, schema: &Schema) -> Result<()>;
    fn new_states(&self, n: usize) -> Box<dyn Any + Send>;
    fn update(
        &self,
        batch: &RecordBatch,
        cells: &[u32],
        states: &mut dyn Any,
        diag: &mut Diagnostics,
        ctx: &Ctx,
    );
    /// Merge `src[i]` into `dst[map[i]]`, growing `dst` to `len`.
    fn merge(&self, dst: &mut dyn Any, src: &dyn Any, map: &[u32], len: usize);
    /// Grow the state vector to `len` (cells only other KPIs of the call have);
    /// when it must grow, make room for `room` at once.
    fn resize(&self, states: &mut dyn Any, len: usize, room: usize);
    /// The state vector as bytes (for partial results), and back.
    fn encode_states(&self, states: &dyn Any) -> Result<Vec<u8>>;
    fn decode_states(&self, bytes: &[u8]) -> Result<Box<dyn Any + Send>>;
    fn fields(&self) -> Vec<Field>;
    /// [`Kpi::LINKS_PERIODS`].
    fn links_periods(&self) -> bool;
    /// Puts the states in output order (see `engine::put_in_order`; `order` covers them all),
    /// finalises them and frees them (`states` is left empty).
    fn finalize(&self, states: &mut dyn Any, order: &[u32], ctx: &Ctx) -> Vec<ArrayRef>;
    /// Bytes of one state (see [`finalize_all`]'s order).
    fn state_size(&self) -> usize;
}

/// How many reads ahead [`read_ahead`] asks the cache for: enough to cover
/// one miss's latency with the work in between.
pub(crate) const GATHER_AHEAD: usize = 16;

/// `at(0), at(1), ..., at(n - 1)`, asking the cache for `at(k + GATHER_AHEAD)`
/// as `at(k)` is taken: reads scattered over more memory than the cache holds
/// (states, cells or keys in output order, a million of them) otherwise wait
/// for one miss after another.
fn read_ahead<'a, T: 'a>(n: usize, at: impl Fn(usize) -> &'a T) -> impl Iterator<Item = &'a T> {
    (0..n).map(move |k| {
        if k + GATHER_AHEAD < n {
            crate::ingest::prefetch(std::slice::from_ref(at(k + GATHER_AHEAD)));
        }
        at(k)
    })
}

/// Put the states in output order (`all[i]` becomes the old `all[order[i]]`),
/// so that finalising (several passes, one per output column) reads memory
/// in sequence. The states are moved into a new vector in output order: its
/// reads are independent of each other, so the CPU overlaps their cache
/// misses, where following the permutation's cycles in place waits for one
/// miss after another (three times slower with a million cells).
/// `order` must be a permutation of `0..all.len()` (checked).
pub(crate) fn put_in_order<S>(all: &mut Vec<S>, order: &[u32]) {
    let n = all.len();
    assert_eq!(n, order.len(), "one output row per state");
    let mut seen = vec![0u64; n.div_ceil(64)];
    for &i in order {
        let (word, bit) = (i as usize / 64, 1u64 << (i % 64));
        assert!(i < n as u32 && seen[word] & bit == 0, "the output order is a permutation");
        seen[word] |= bit;
    }
    let mut ordered = Vec::with_capacity(n);
    let src = all.as_ptr();
    // SAFETY: `order` is a permutation of 0..n (checked above), so each state
    // is read exactly once, and `all` forgets them all before it is dropped.
    unsafe {
        all.set_len(0);
        let states = read_ahead(n, |k| &*src.add(order[k] as usize));
        ordered.extend(states.map(|state| std::ptr::read(state)));
    }
    *all = ordered;
}

/// `finalize` over the states (in their order), which are then freed: now,
/// not when the call ends, so that the call's peak holds only the states
/// still to finalise beside the finished columns.
pub(crate) fn finalize_and_free<S>(
    all: &mut Vec<S>,
    finalize: impl FnOnce(&[&S]) -> Vec<ArrayRef>,
) -> Vec<ArrayRef> {
    let arrays = finalize(&all.iter().collect::<Vec<_>>());
    *all = Vec::new();
    arrays
}

fn downcast<S: 'static>(states: &dyn Any) -> &Vec<S> {
    states.downcast_ref::<Vec<S>>().expect("state vector of the KPI's own type")
}

impl<K: Kpi> DynKpi for K {
    fn default_date(&self) -> Option<&str> {
        Kpi::default_date(self)
    }
    fn row_filter(&self, schema: &Schema) -> Vec<crate::filter::Condition> {
        Kpi::row_filter(self, schema)
    }
    fn observed_dates(&self) -> Vec<String> {
        Kpi::observed_dates(self)
    }
    fn bind(&mut self, schema: &Schema) -> Result<()> {
        Kpi::bind(self, schema)
    }
    fn new_states(&self, n: usize) -> Box<dyn Any + Send> {
        Box::new(vec![K::State::default(); n])
    }
    fn update(
        &self,
        batch: &RecordBatch,
        cells: &[u32],
        states: &mut dyn Any,
        diag: &mut Diagnostics,
        ctx: &Ctx,
    ) {
        let states = states.downcast_mut::<Vec<K::State>>().expect("state vector of the KPI's own type");
        Kpi::update(self, batch, cells, states, diag, ctx)
    }
    fn merge(&self, dst: &mut dyn Any, src: &dyn Any, map: &[u32], len: usize) {
        let dst = dst.downcast_mut::<Vec<K::State>>().expect("state vector of the KPI's own type");
        if dst.len() < len {
            dst.resize(len, K::State::default());
        }
        // The destination states are asked for ahead: with a key per
        // customer they lie scattered over more memory than the cache holds.
        let src = downcast::<K::State>(src);
        for (k, (s, &m)) in src.iter().zip(map).enumerate() {
            if let Some(&ahead) = map.get(k + GATHER_AHEAD) {
                crate::ingest::prefetch(std::slice::from_ref(&dst[ahead as usize]));
            }
            dst[m as usize].merge(s);
        }
    }
    fn encode_states(&self, states: &dyn Any) -> Result<Vec<u8>> {
        postcard::to_allocvec(downcast::<K::State>(states))
            .map_err(|e| Error::Internal(format!("encoding partial states: {e}")))
    }
    fn decode_states(&self, bytes: &[u8]) -> Result<Box<dyn Any + Send>> {
        let states: Vec<K::State> = postcard::from_bytes(bytes).map_err(|e| {
            Error::param(format!("a partial result does not decode ({e}): is it from this version?"))
        })?;
        Ok(Box::new(states))
    }
    fn resize(&self, states: &mut dyn Any, len: usize, room: usize) {
        let states = states.downcast_mut::<Vec<K::State>>().expect("state vector of the KPI's own type");
        // (Without a projection, room is len: the vector grows by doubling.)
        if states.capacity() < len && room > len {
            states.reserve_exact(room - states.len());
        }
        if states.len() < len {
            states.resize(len, K::State::default());
        }
    }
    fn fields(&self) -> Vec<Field> {
        Kpi::fields(self)
    }
    fn links_periods(&self) -> bool {
        K::LINKS_PERIODS
    }
    fn state_size(&self) -> usize {
        std::mem::size_of::<K::State>()
    }
    fn finalize(&self, states: &mut dyn Any, order: &[u32], ctx: &Ctx) -> Vec<ArrayRef> {
        let all = states.downcast_mut::<Vec<K::State>>().expect("states of the KPI's own type");
        let mut trace = Trace::start();
        put_in_order(all, order);
        // The KPI's type without its path or generic arguments.
        let full = std::any::type_name::<K>();
        let kpi = full.split('<').next().unwrap_or(full).rsplit("::").next().unwrap_or_default();
        trace.lap(&format!("    put in order {kpi}"));
        let arrays = finalize_and_free(all, |refs| Kpi::finalize(self, refs, ctx));
        trace.lap(&format!("    finalize, free {kpi}"));
        arrays
    }
}

/// A KPI of the call, bound to the schema.
struct Bound {
    kind: String,
    name: String,
    kpi: Box<dyn DynKpi>,
    filter: Option<Filter>,
}

/// A per-customer KPI of the call (see [`crate::entity`]).
struct BoundEntity {
    kind: String,
    name: String,
    kpi: Box<dyn DynEntity>,
    filter: Option<Filter>,
}

/// The request resolved against a schema.
struct Plan {
    keys: Vec<KeyColumn>,
    date: Option<(usize, String, DateReader)>,
    periods: Option<Periods>,
    kpis: Vec<Bound>,
    entities: Vec<BoundEntity>,
    /// Output order of the specs: (is an entity KPI, index in its list).
    outputs: Vec<(bool, usize)>,
    ctx: Ctx,
    as_of: Option<i32>,
    rows_hint: Option<usize>,
    /// Per output (in `outputs` order), the columns `columns=` keeps; empty
    /// when every column is built.
    keep: Vec<Arc<[bool]>>,
}

impl Plan {
    fn new(request: &Request, schema: &Schema) -> Result<Plan> {
        Plan::build(request, Some(schema), &[])
    }

    /// A plan that only finalises merged partial states: nothing is bound to a schema.
    fn for_finalize(request: &Request, key_fields: &[Field]) -> Result<Plan> {
        Plan::build(request, None, key_fields)
    }

    fn build(request: &Request, schema: Option<&Schema>, key_fields: &[Field]) -> Result<Plan> {
        if request.kpis.is_empty() {
            return Err(Error::param("no KPIs requested: pass kpis=[...]"));
        }
        crate::stats::check_confidence(request.confidence)?;
        let mut kpis = Vec::new();
        let mut entities = Vec::new();
        let mut outputs = Vec::new();
        let filter_for = |own: Vec<crate::filter::Condition>, spec: &KpiSpec| -> Result<Option<Filter>> {
            let Some(schema) = schema else { return Ok(None) };
            let mut conditions = own;
            conditions.extend(spec.filter.iter().cloned());
            Filter::bind(&conditions, schema)
        };
        for spec in &request.kpis {
            let name = spec.name.clone().unwrap_or_else(|| spec.kind.clone());
            match registry::build(&spec.kind, &spec.params)? {
                Built::Row(mut kpi) => {
                    let filter = match schema {
                        Some(schema) => {
                            kpi.bind(schema)?;
                            filter_for(kpi.row_filter(schema), spec)?
                        }
                        None => None,
                    };
                    outputs.push((false, kpis.len()));
                    kpis.push(Bound { kind: spec.kind.clone(), name, kpi, filter });
                }
                Built::Entity(mut kpi) => {
                    if kpi.needs_period() && request.period.is_none() {
                        return Err(Error::param(format!(
                            "{} compares consecutive periods: pass period=\"month\", \"quarter\", ...",
                            spec.kind
                        )));
                    }
                    let filter = match schema {
                        Some(schema) => {
                            kpi.bind(schema)?;
                            filter_for(kpi.row_filter(schema), spec)?
                        }
                        None => None,
                    };
                    outputs.push((true, entities.len()));
                    entities.push(BoundEntity { kind: spec.kind.clone(), name, kpi, filter });
                }
            }
        }
        let keys = match schema {
            Some(schema) => keys::resolve(schema, &request.by)?,
            None => key_fields
                .iter()
                .map(|f| KeyColumn {
                    name: f.name().clone(),
                    index: usize::MAX,
                    out_type: f.data_type().clone(),
                })
                .collect(),
        };
        let periods = match &request.period {
            None => None,
            Some(p) => Some(Periods::new(PeriodUnit::parse(p)?, request.fiscal_year_start)?),
        };
        if request.fiscal_year_start != 1 && !(1..=12).contains(&request.fiscal_year_start) {
            return Err(Error::param(format!(
                "fiscal_year_start must be a month 1-12, got {}",
                request.fiscal_year_start
            )));
        }
        let date_name: Option<String> = request
            .date
            .clone()
            .or_else(|| kpis.iter().find_map(|b| b.kpi.default_date().map(|d| d.to_string())))
            .or_else(|| entities.iter().find_map(|b| b.kpi.default_date().map(|d| d.to_string())));
        // Per-customer KPIs always need the date (a history is ordered by it).
        let needs_date = periods.is_some() || request.date.is_some() || !entities.is_empty();
        let date = match (&periods, date_name, schema) {
            (Some(_), None, _) => {
                return Err(Error::param("period= needs a date column: pass date=\"<column>\""))
            }
            (_, Some(name), Some(schema)) if needs_date => {
                let index = find_column(schema, &name, "date")?;
                let reader = DateReader::new(&name, schema.field(index).data_type(), request.tz.as_deref())?;
                Some((index, name, reader))
            }
            _ => None,
        };
        let as_of = request.as_of.as_deref().map(parse_iso_date).transpose()?;
        let ctx = Ctx {
            confidence: request.confidence,
            z: crate::stats::z_for(request.confidence),
            on_invalid: request.on_invalid,
            as_of,
            keep: None,
            segment_continues: None,
        };
        let (kpis, entities, outputs) =
            by_customer_as_rows(request, schema, date.as_ref(), (kpis, entities, outputs))?;
        let mut plan = Plan {
            keys,
            date,
            periods,
            kpis,
            entities,
            outputs,
            ctx,
            as_of,
            rows_hint: request.rows_hint,
            keep: Vec::new(),
        };
        if let Some(columns) = &request.columns {
            plan.keep = plan.select(columns)?;
        }
        Ok(plan)
    }

    /// Each output's fields (in `outputs` order), named as in the result: with
    /// several KPIs (or a renamed one), every column carries the KPI's name.
    fn output_fields(&self) -> Vec<Vec<Field>> {
        let renamed =
            self.kpis.iter().any(|b| b.name != b.kind) || self.entities.iter().any(|b| b.name != b.kind);
        let rename = self.outputs.len() > 1 || renamed;
        self.outputs
            .iter()
            .map(|&(is_entity, i)| {
                let (kind, name, fields) = if is_entity {
                    let b = &self.entities[i];
                    (&b.kind, &b.name, b.kpi.fields())
                } else {
                    let b = &self.kpis[i];
                    (&b.kind, &b.name, b.kpi.fields())
                };
                fields
                    .into_iter()
                    .map(|f| {
                        let column =
                            if rename { output_name(kind, name, f.name()) } else { f.name().clone() };
                        f.with_name(column)
                    })
                    .collect()
            })
            .collect()
    }

    /// Each output's columns to build for `columns=`: every name must be an
    /// output column (the `by` and period columns are always built).
    fn select(&self, columns: &[String]) -> Result<Vec<Arc<[bool]>>> {
        let outputs = self.output_fields();
        let wanted: std::collections::HashSet<&str> = columns.iter().map(String::as_str).collect();
        let names: Vec<&str> = outputs.iter().flatten().map(|f| f.name().as_str()).collect();
        let mut known: std::collections::HashSet<&str> = self.keys.iter().map(|k| k.name.as_str()).collect();
        if self.periods.is_some() {
            known.extend(["period", "period_start", "partial"]);
        }
        known.extend(&names);
        if let Some(unknown) = columns.iter().find(|c| !known.contains(c.as_str())) {
            let shown = names.iter().take(30).copied().collect::<Vec<_>>().join(", ");
            let more =
                if names.len() > 30 { format!(", ... ({} in all)", names.len()) } else { String::new() };
            return Err(Error::param(format!(
                "columns: the output has no column '{unknown}'; its KPI columns are {shown}{more}"
            )));
        }
        Ok(outputs
            .iter()
            .map(|fields| fields.iter().map(|f| wanted.contains(f.name().as_str())).collect())
            .collect())
    }

    /// The output fields of the `by` columns.
    fn key_fields(&self) -> Vec<Field> {
        self.keys.iter().map(|k| Field::new(&k.name, k.out_type.clone(), true)).collect()
    }

    /// The observed-date columns of every KPI, resolved (see [`Kpi::observed_dates`]).
    fn observed_dates(&self, schema: &Schema, tz: Option<&str>) -> Result<Vec<(usize, DateReader)>> {
        let mut names: Vec<String> = self.kpis.iter().flat_map(|b| b.kpi.observed_dates()).collect();
        names.extend(self.entities.iter().flat_map(|b| b.kpi.observed_dates()));
        names.sort();
        names.dedup();
        names
            .iter()
            .map(|name| {
                let index = find_column(schema, name, "date")?;
                Ok((index, DateReader::new(name, schema.field(index).data_type(), tz)?))
            })
            .collect()
    }
}

/// A call's row KPIs, per-customer KPIs and outputs (as in [`Plan`]).
type Kpis = (Vec<Bound>, Vec<BoundEntity>, Vec<(bool, usize)>);

/// The call's KPIs, per-customer ones that are a plain aggregate when the
/// customer is the segment (`by=` the customer column alone) turned into row
/// KPIs: no histories to keep and walk (see
/// [`crate::entity::EntityKpi::by_customer`]); `outputs` follows them.
/// Decided on names, so that a plan that finalises partial results (with no
/// schema) agrees with the plans that scanned them.
fn by_customer_as_rows(
    request: &Request,
    schema: Option<&Schema>,
    date: Option<&crate::entity::DateColumn>,
    (mut kpis, entities, outputs): Kpis,
) -> Result<Kpis> {
    let mut walked = Vec::new();
    // Where each entity KPI went: (still an entity KPI, index in its list).
    let mut moved = Vec::with_capacity(entities.len());
    for b in entities {
        let by_customer = matches!(request.by.as_slice(), [only] if only == b.kpi.customer_column());
        match by_customer.then(|| b.kpi.by_customer(date)).flatten() {
            Some(mut kpi) => {
                if let Some(schema) = schema {
                    kpi.bind(schema)?;
                }
                moved.push((false, kpis.len()));
                kpis.push(Bound { kind: b.kind, name: b.name, kpi, filter: b.filter });
            }
            None => {
                moved.push((true, walked.len()));
                walked.push(b);
            }
        }
    }
    let outputs = outputs.into_iter().map(|(entity, i)| if entity { moved[i] } else { (false, i) }).collect();
    Ok((kpis, walked, outputs))
}

/// Parse `YYYY-MM-DD` (years 0001-9999) into days since 1970-01-01.
pub fn parse_iso_date(s: &str) -> Result<i32> {
    let bad = || {
        Error::column("as_of", format!("as_of must be a date like 2025-09-30 (years 0001-9999), got '{s}'"))
    };
    let d = chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| bad())?;
    let day = (d - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days();
    if !(i64::from(MIN_DAY)..=i64::from(MAX_DAY)).contains(&day) {
        return Err(bad());
    }
    Ok(day as i32)
}

/// A chunk whose distinct cells are at least this share of its rows
/// (1/`DIRECT_ROWS_PER_CELL`) updates the accumulator's states directly: with
/// about one cell per row, chunk-local states would be as large as the rows
/// themselves, and allocating, zeroing and merging them cost more than the
/// updates.
const DIRECT_ROWS_PER_CELL: usize = 4;

/// How a chunk's rows reach the accumulator's states.
enum ChunkStates {
    /// One state vector per KPI over the chunk's own cells, merged by cell.
    Local(Vec<Box<dyn Any + Send>>),
    /// Each row's local cell, for every KPI (`all`), or for the KPIs with a
    /// filter, their own (SKIP where it drops the row): the rows are folded
    /// straight into the accumulator's states once the cells have global ids.
    Direct { all: Vec<u32>, filtered: Vec<Option<Vec<u32>>> },
}

/// A chunk's contribution: its distinct cells and one state vector per KPI.
struct ChunkOut {
    keys: ChunkKeys,
    /// (key code, period ordinal) per local cell.
    cells: Vec<(u32, i32)>,
    states: ChunkStates,
    /// Visits of each per-customer KPI.
    visits: Vec<Box<dyn Any + Send>>,
    diag: Diagnostics,
    day_range: Option<(i32, i32)>,
}

fn process_chunk(plan: &Plan, ctx: &Ctx, batch: &RecordBatch) -> ChunkOut {
    let rows = batch.num_rows();
    let mut diag = Diagnostics::default();
    let key_arrays: Vec<&dyn Array> = plan.keys.iter().map(|k| batch.column(k.index).as_ref()).collect();
    let mut key_codes = Vec::new();
    let keys = keys::encode_chunk_keys(&key_arrays, rows, &mut key_codes);

    let days: Option<Vec<i32>> = plan.date.as_ref().map(|(index, _, reader)| {
        let mut days = Vec::new();
        reader.days(batch.column(*index).as_ref(), &mut days);
        days
    });
    let range_of = |keep: fn(i32) -> bool| {
        days.as_ref().and_then(|days| {
            let (lo, hi) = days
                .iter()
                .filter(|&&d| keep(d))
                .fold((i32::MAX, i32::MIN), |(lo, hi), &d| (lo.min(d), hi.max(d)));
            (lo <= hi).then_some((lo, hi))
        })
    };
    // Every date, for bucketing; the dates within years 0001-9999, for the default as_of.
    let all_days = range_of(|d| d != NULL_DAY);
    let day_range = range_of(in_year_range);
    let mut cell_codes = Vec::new();
    let cells: Vec<(u32, i32)> = match (&days, &plan.periods, &plan.date) {
        (Some(days), Some(periods), Some((_, name, _))) => {
            // Ordinals span up to 2^32 - 1 (dates at both ends of i32): differences in i64.
            let (base, span) = match all_days {
                Some((lo, hi)) => (
                    periods.ordinal(lo),
                    (i64::from(periods.ordinal(hi)) - i64::from(periods.ordinal(lo))) as usize + 1,
                ),
                None => (0, 1),
            };
            // A chunk spans few days: their ordinals are worked out once.
            let ordinals = crate::period::DayOrdinals::new(*periods, all_days);
            let ords: Vec<u32> = days
                .iter()
                .map(|&d| {
                    if d == NULL_DAY {
                        diag.record_uncounted(name, "with a null date (a period was asked for)", || {
                            "null".to_string()
                        });
                        SKIP
                    } else {
                        (i64::from(ordinals.get(d)) - i64::from(base)) as u32
                    }
                })
                .collect();
            keys::combine(&key_codes, &ords, span, &mut cell_codes)
                .into_iter()
                .map(|(k, p)| (k, (i64::from(base) + i64::from(p)) as i32))
                .collect()
        }
        _ => {
            cell_codes.clone_from(&key_codes);
            (0..keys.len() as u32).map(|k| (k, 0)).collect()
        }
    };

    let mut filtered = Vec::new();
    let mut column_codes = crate::filter::ColumnCodes::default();
    let direct = !plan.kpis.is_empty() && cells.len() * DIRECT_ROWS_PER_CELL >= rows;
    let mut states = if direct {
        let filtered = plan
            .kpis
            .iter()
            .map(|bound| {
                bound.filter.as_ref().map(|filter| {
                    let mut out = Vec::new();
                    filter.apply(batch, &cell_codes, &mut out, &mut column_codes);
                    out
                })
            })
            .collect();
        // `all` takes the chunk's cell codes once the visits below are read.
        ChunkStates::Direct { all: Vec::new(), filtered }
    } else {
        ChunkStates::Local(
            plan.kpis
                .iter()
                .map(|bound| {
                    let mut states = bound.kpi.new_states(cells.len());
                    let cells_for_kpi: &[u32] = match &bound.filter {
                        None => &cell_codes,
                        Some(filter) => {
                            filter.apply(batch, &cell_codes, &mut filtered, &mut column_codes);
                            &filtered
                        }
                    };
                    bound.kpi.update(batch, cells_for_kpi, states.as_mut(), &mut diag, ctx);
                    states
                })
                .collect(),
        )
    };
    let visits = plan
        .entities
        .iter()
        .map(|bound| {
            let (_, date_name, _) = plan.date.as_ref().expect("per-customer KPIs resolve a date");
            let days = days.as_deref().expect("per-customer KPIs read the date");
            let cells_for_kpi: &[u32] = match &bound.filter {
                None => &cell_codes,
                Some(filter) => {
                    filter.apply(batch, &cell_codes, &mut filtered, &mut column_codes);
                    &filtered
                }
            };
            // By customer (the customer column is the one `by` column): its codes are the keys'.
            let customers = match plan.keys.as_slice() {
                [key] if batch.schema().index_of(bound.kpi.customer_column()).ok() == Some(key.index) => {
                    keys.single_column()
                }
                _ => None,
            };
            bound.kpi.extract(batch, &key_codes, customers, days, cells_for_kpi, date_name, &mut diag)
        })
        .collect();
    if let ChunkStates::Direct { all, .. } = &mut states {
        *all = cell_codes;
    }
    ChunkOut { keys, cells, states, visits, diag, day_range }
}

/// Merged states of all chunks so far, indexed by global cell.
struct Accumulator {
    /// (hash, global key id) of every key; ids index `keys`, where each key
    /// is stored once. The hash is kept so that growing the table never
    /// reads the keys again.
    key_index: hashbrown::HashTable<(u64, u32)>,
    key_hasher: foldhash::fast::FixedState,
    /// Global ids of the keys of one short-string `by` column (and null),
    /// by tiny key: such a key is always found here, never in `key_index`,
    /// whether its chunk came as tiny keys or as tuples.
    tiny_index: keys::FastMap<u64, u32>,
    /// The same for the integer keys of one `by` column: held by value, so a
    /// lookup reads no stored key (with a key per row, each such read was a
    /// cache miss of its own).
    int_index: keys::IntIndex,
    keys: KeyTuples,
    cells: CellIndex,
    states: Vec<Box<dyn Any + Send>>,
    /// Customer histories of each per-customer KPI.
    histories: Vec<Box<dyn Any + Send>>,
    diag: Diagnostics,
    day_range: Option<(i32, i32)>,
    /// The as_of the scan ran with (given, or found by the pre-pass).
    as_of: Option<i32>,
    /// Rows absorbed so far, and the input's rows when known (see [`Request::rows_hint`]).
    rows_seen: usize,
    rows_hint: Option<usize>,
}

impl Accumulator {
    fn new(plan: &Plan) -> Self {
        Accumulator {
            key_index: hashbrown::HashTable::with_capacity(1024),
            key_hasher: foldhash::fast::FixedState::with_seed(0x6b70_6966),
            tiny_index: keys::fast_map(0),
            int_index: keys::IntIndex::default(),
            keys: KeyTuples::new(plan.keys.len()),
            cells: CellIndex::new(),
            states: plan.kpis.iter().map(|b| b.kpi.new_states(0)).collect(),
            histories: plan.entities.iter().map(|b| b.kpi.new_history()).collect(),
            diag: Diagnostics::default(),
            day_range: None,
            as_of: None,
            rows_seen: 0,
            rows_hint: plan.rows_hint,
        }
    }

    /// Map a chunk's keys to global ids (new ones appended): the chunk's key map.
    fn map_keys(&mut self, keys: ChunkKeys) -> Vec<u32> {
        let mut keys = match keys {
            ChunkKeys::Tiny(tiny) => return tiny.into_iter().map(|k| self.tiny_id(k)).collect(),
            ChunkKeys::Tuples(keys) => keys,
        };
        (0..keys.len())
            .map(|i| {
                if let [one] = keys.get(i) {
                    if let Some(k) = keys::tiny_key(one) {
                        return self.tiny_id(k);
                    }
                    if let KeyValue::Int(v) = *one {
                        return self.int_id(v);
                    }
                }
                let hash = self.key_hasher.hash_one(keys.get(i));
                let stored = &self.keys;
                match self.key_index.find(hash, |&(h, g)| h == hash && stored.get(g as usize) == keys.get(i))
                {
                    Some(&(_, g)) => g,
                    None => {
                        let g = stored.len() as u32;
                        self.keys.push_taken(keys.get_mut(i));
                        self.key_index.insert_unique(hash, (hash, g), |&(h, _)| h);
                        g
                    }
                }
            })
            .collect()
    }

    /// The global id of a single-column key given as its tiny key.
    fn tiny_id(&mut self, key: u64) -> u32 {
        id_by_value(&mut self.tiny_index, &mut self.keys, key, keys::tiny_value)
    }

    /// The global id of a single-column integer key.
    fn int_id(&mut self, v: i64) -> u32 {
        let keys = &mut self.keys;
        self.int_index.id(v, || {
            keys.push_taken(&mut [KeyValue::Int(v)]);
            keys.len() as u32 - 1
        })
    }

    /// Fold a window of chunks, in order, into the accumulator. `batches[i]` is
    /// chunk i's rows, needed when it is [`ChunkStates::Direct`] (chunks of a
    /// scan; decoded partial results are `Local` and come without rows).
    fn absorb(&mut self, plan: &Plan, ctx: &Ctx, chunks: Vec<ChunkOut>, batches: &[RecordBatch]) {
        /// One chunk's share of one KPI.
        enum Part {
            Merge(Box<dyn Any + Send>),
            /// The KPI's own filtered cells, or None for the chunk's cells.
            Rows(Option<Vec<u32>>),
        }
        type States = Box<dyn Any + Send>;
        let n_chunks = chunks.len();
        let mut trace = Trace::start();
        let mut key_maps = Vec::with_capacity(n_chunks);
        let mut chunk_cells = Vec::with_capacity(n_chunks);
        let mut visits = Vec::with_capacity(n_chunks);
        let mut all_cells: Vec<Option<Vec<u32>>> = Vec::with_capacity(n_chunks);
        let mut chunk_diags = Vec::with_capacity(n_chunks);
        let mut parts: Vec<Vec<Part>> = plan.kpis.iter().map(|_| Vec::with_capacity(n_chunks)).collect();
        // Room for every key and cell the window may add, so the tables grow once.
        let new_keys: usize = chunks.iter().map(|c| c.keys.len()).sum();
        let new_cells: usize = chunks.iter().map(|c| c.cells.len()).sum();
        // (Not the key index: chunks mostly repeat keys, and a table sized for
        // every chunk key is many times too big to stay in cache.)
        // With the input's row count, room for as many as the rows so far
        // project (tables grown window by window were copied each time).
        let more = |len: usize, new: usize| new.max(projected(len, self.rows_seen, self.rows_hint) - len);
        self.keys.reserve(more(self.keys.len(), new_keys));
        self.cells.reserve(more(self.cells.len(), new_cells));
        // The range of the window's integer keys (of one `by` column), so
        // that their index makes room for them once.
        let mut range: Option<(i64, i64)> = None;
        for chunk in &chunks {
            if let ChunkKeys::Tuples(tuples) = &chunk.keys {
                for i in 0..tuples.len() {
                    if let [KeyValue::Int(v)] = tuples.get(i) {
                        range = Some(range.map_or((*v, *v), |(lo, hi)| (lo.min(*v), hi.max(*v))));
                    }
                }
            }
        }
        if let Some((lo, hi)) = range {
            self.int_index.prepare(lo, hi, new_keys);
        }
        for chunk in chunks {
            key_maps.push(self.map_keys(chunk.keys));
            chunk_cells.push(chunk.cells);
            visits.push(chunk.visits);
            match chunk.states {
                ChunkStates::Local(states) => {
                    all_cells.push(None);
                    parts.iter_mut().zip(states).for_each(|(p, s)| p.push(Part::Merge(s)));
                }
                ChunkStates::Direct { all, filtered } => {
                    all_cells.push(Some(all));
                    parts.iter_mut().zip(filtered).for_each(|(p, f)| p.push(Part::Rows(f)));
                }
            }
            chunk_diags.push(chunk.diag);
            self.day_range = match (self.day_range, chunk.day_range) {
                (Some((a, b)), Some((c, d))) => Some((a.min(c), b.max(d))),
                (x, None) | (None, x) => x,
            };
        }
        trace.lap("  map keys");
        let parallel = parallel();
        self.rows_seen += batches.iter().map(RecordBatch::num_rows).sum::<usize>();
        let (seen, total) = (self.rows_seen, self.rows_hint);
        let Accumulator { cells, states, histories, .. } = self;
        // The customer histories take the window's visits while the cells get
        // global ids and the KPIs' states take the window: they share nothing.
        let take_visits = || {
            // visits[chunk][entity KPI] -> each KPI's visits of every chunk.
            let mut per_kpi: Vec<Vec<Box<dyn Any + Send>>> =
                plan.entities.iter().map(|_| Vec::with_capacity(n_chunks)).collect();
            for chunk_visits in visits {
                per_kpi.iter_mut().zip(chunk_visits).for_each(|(k, v)| k.push(v));
            }
            for ((bound, history), chunks) in plan.entities.iter().zip(histories.iter_mut()).zip(per_kpi) {
                bound.kpi.absorb(history.as_mut(), chunks, &key_maps, parallel);
            }
        };
        let cells_and_states = || {
            let maps: Vec<Vec<u32>> = chunk_cells
                .iter()
                .zip(&key_maps)
                .map(|(local, key_map)| {
                    local.iter().map(|&(k, p)| cells.id((key_map[k as usize], p))).collect()
                })
                .collect();
            // Each KPI takes the window on its own, in chunk order (so the
            // result does not depend on the thread count): in parallel when
            // there are several.
            let len = cells.len();
            let room = projected(len, seen, total);
            // A direct chunk's cells in global ids, once for all the KPIs
            // without a filter (those with one map their own).
            let to_global = |local: &[u32], map: &[u32]| -> Vec<u32> {
                local.iter().map(|&c| if c == SKIP { SKIP } else { map[c as usize] }).collect()
            };
            let unfiltered = plan.kpis.iter().any(|b| b.filter.is_none());
            let shared: Vec<Option<Vec<u32>>> = all_cells
                .iter()
                .zip(&maps)
                .map(|(all, map)| all.as_deref().filter(|_| unfiltered).map(|a| to_global(a, map)))
                .collect();
            let fold =
                |((bound, dst), parts): ((&Bound, &mut States), Vec<Part>)| -> Vec<Option<Diagnostics>> {
                    bound.kpi.resize(dst.as_mut(), len, room);
                    parts
                        .into_iter()
                        .enumerate()
                        .map(|(i, part)| match part {
                            Part::Merge(src) => {
                                bound.kpi.merge(dst.as_mut(), src.as_ref(), &maps[i], len);
                                None
                            }
                            Part::Rows(own) => {
                                let own = own.map(|local| to_global(&local, &maps[i]));
                                let global =
                                    own.as_deref().or(shared[i].as_deref()).expect("a direct chunk's cells");
                                let mut diag = Diagnostics::default();
                                let batch = batches.get(i).expect("a direct chunk comes with its rows");
                                bound.kpi.update(batch, global, dst.as_mut(), &mut diag, ctx);
                                Some(diag)
                            }
                        })
                        .collect()
                };
            if parallel && plan.kpis.len() > 1 {
                plan.kpis.par_iter().zip(states.par_iter_mut()).zip(parts.into_par_iter()).map(fold).collect()
            } else {
                plan.kpis.iter().zip(states.iter_mut()).zip(parts).map(fold).collect::<Vec<_>>()
            }
        };
        let kpi_diags: Vec<Vec<Option<Diagnostics>>> = if parallel && !plan.entities.is_empty() {
            rayon::join(take_visits, cells_and_states).1
        } else {
            take_visits();
            cells_and_states()
        };
        trace.lap("  cells, states, visits");
        // Issues in the order a chunk records them: its own (dates), then its KPIs'.
        let mut kpi_diags: Vec<_> = kpi_diags.into_iter().map(Vec::into_iter).collect();
        for diag in chunk_diags {
            self.diag.merge(diag);
            for d in kpi_diags.iter_mut().filter_map(|k| k.next().flatten()) {
                self.diag.merge(d);
            }
        }
    }
}

/// How many of something (keys, cells) the whole input of `total` rows will
/// make if it goes on at the rate `count` of the first `seen` rows did (at
/// most one per row, and at most [`MAX_PROJECTION`] times `count`): room to
/// make once. Without a row count, or before any row, just `count`.
fn projected(count: usize, seen: usize, total: Option<usize>) -> usize {
    match total {
        Some(total) if seen > 0 && total > seen => {
            let rate = count as f64 / seen as f64;
            let at_rate = (rate * total as f64).ceil().min(total as f64) as usize;
            at_rate.clamp(count, count.saturating_mul(MAX_PROJECTION))
        }
        _ => count,
    }
}

/// Keys usually stop being new long before the input ends (a key per row is
/// the exception): a projection never reserves more than this many times
/// what the rows so far made.
const MAX_PROJECTION: usize = 8;

/// The global id of a single-column key looked up by value in `index`; a new
/// key is stored in `keys` as `value(key)`.
fn id_by_value<K: std::hash::Hash + Eq + Copy>(
    index: &mut keys::FastMap<K, u32>,
    keys: &mut KeyTuples,
    key: K,
    value: impl FnOnce(K) -> KeyValue,
) -> u32 {
    let next = keys.len() as u32;
    *index.entry(key).or_insert_with(|| {
        keys.push_taken(&mut [value(key)]);
        next
    })
}

/// The result of a call: the KPI table and the bad-row issues that were dropped.
pub struct Output {
    pub batch: RecordBatch,
    pub issues: Vec<Issue>,
}

/// Asked between windows of chunks: `true` stops the scan with [`Error::Interrupted`].
pub type Cancel<'a> = &'a (dyn Fn() -> bool + Sync);

fn never() -> bool {
    false
}

/// Run `request` over `batches` (all of one `schema`).
pub fn run(
    request: &Request,
    schema: SchemaRef,
    batches: impl Iterator<Item = std::result::Result<RecordBatch, ArrowError>> + Send,
) -> Result<Output> {
    run_with(request, schema, batches, &never)
}

/// [`run`], asking `cancel` between windows of chunks (the binding checks for Ctrl-C).
pub fn run_with(
    request: &Request,
    schema: SchemaRef,
    batches: impl Iterator<Item = std::result::Result<RecordBatch, ArrowError>> + Send,
    cancel: Cancel,
) -> Result<Output> {
    let plan = Plan::new(request, &schema)?;
    // The whole call runs on the request's threads: the walks and finalising too, not only the scan.
    with_threads(request.threads, || {
        let acc = scan_all(&plan, request, schema, batches, cancel)?;
        finish(&plan, request, acc)
    })
}

/// [`scan`] with `as_of` resolved: given, or the latest observed date (which needs the data first).
fn scan_all(
    plan: &Plan,
    request: &Request,
    schema: SchemaRef,
    batches: impl Iterator<Item = std::result::Result<RecordBatch, ArrowError>> + Send,
    cancel: Cancel,
) -> Result<Accumulator> {
    let observed = plan.observed_dates(&schema, request.tz.as_deref())?;
    if plan.as_of.is_some() || observed.is_empty() {
        let ctx = plan.ctx.clone();
        return scan(plan, &ctx, batches, cancel);
    }
    // A KPI censors at "now": find the latest observed date first. The
    // batches are kept (Arc'd buffers, no copy for in-memory input).
    let mut kept: Vec<RecordBatch> = Vec::new();
    for batch in batches {
        kept.push(batch.map_err(|e| Error::param(format!("could not read the input: {e}")))?);
        // A long stream is read whole before the scan: Ctrl-C must not wait for it.
        if cancel() {
            return Err(Error::Interrupted);
        }
    }
    let as_of = latest_day(&kept, &observed);
    let ctx = Ctx { as_of, ..plan.ctx.clone() };
    scan(plan, &ctx, kept.into_iter().map(Ok), cancel)
}

/// The most worker threads a call may ask for: far above any core count a
/// call could use, and low enough that a typo (`threads=10**6`) is an error
/// rather than minutes spent starting threads and gigabytes of their stacks.
pub const MAX_THREADS: usize = 1024;

/// Run `f` on `threads` worker threads (default: rayon's global pool).
pub(crate) fn with_threads<T: Send>(
    threads: Option<usize>,
    f: impl FnOnce() -> Result<T> + Send,
) -> Result<T> {
    match threads {
        Some(n) if n == 0 || n > MAX_THREADS => {
            Err(Error::param(format!("threads must be between 1 and {MAX_THREADS}, got {n}")))
        }
        Some(n) => rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .map_err(|e| Error::Internal(format!("could not start {n} threads: {e}")))?
            .install(f),
        None => f(),
    }
}

// ---- partial results ------------------------------------------------------
//
// A partial result is the accumulator of a scan as bytes: the request it
// answers, the key columns, the cells, every KPI's states and every
// per-customer KPI's histories (customer histories travel whole, so a customer
// split across parts is still walked as one). Parts of the same request merge
// in any grouping into the result one scan gives.

const PARTIAL_MAGIC: &[u8; 4] = b"KPFP";
/// Bumped whenever the encoding of a partial result changes (3: a history's
/// customers travel as [`keys::Distinct`]; 4: an issue says whether dropped
/// rows are counted, and the request has `columns`; 5: states built on
/// [`crate::kpi::counts::Counts`] travel as their plain counts; 6: revenue's
/// states hold no running mean, nor a volume sum with `volume=None`).
pub const PARTIAL_VERSION: u16 = 6;

#[derive(Serialize, Deserialize)]
struct PartialData {
    /// The request (JSON, `threads` cleared) and key fields (JSON): parts merge only when both agree.
    request: String,
    key_fields: String,
    keys: Vec<Box<[KeyValue]>>,
    cells: Vec<(u32, i32)>,
    states: Vec<Vec<u8>>,
    histories: Vec<Vec<u8>>,
    issues: Vec<Issue>,
    day_range: Option<(i32, i32)>,
}

/// The observed-date columns of a request's KPIs (see [`Kpi::observed_dates`]), without a schema.
pub fn observed_dates(request: &Request) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for spec in &request.kpis {
        match registry::build(&spec.kind, &spec.params)? {
            Built::Row(kpi) => names.extend(kpi.observed_dates()),
            Built::Entity(kpi) => names.extend(kpi.observed_dates()),
        }
    }
    names.sort();
    names.dedup();
    Ok(names)
}

/// Scan `batches` into a partial result (see [`merge_partials`], [`finalize_partials`]).
pub fn run_partial(
    request: &Request,
    schema: SchemaRef,
    batches: impl Iterator<Item = std::result::Result<RecordBatch, ArrowError>> + Send,
    cancel: Cancel,
) -> Result<Vec<u8>> {
    let plan = Plan::new(request, &schema)?;
    // Resolved even with an explicit as_of, as `run` does: a bad column or tz fails alike.
    let observed = plan.observed_dates(&schema, request.tz.as_deref())?;
    if plan.as_of.is_none() && !observed.is_empty() {
        return Err(Error::param(
            "partial results of KPIs that censor or take snapshots at as_of (otif, time_to_quote, resolution_time, \
             dso, cart_abandonment, lead_conversion) need an \
             explicit as_of=, so that every part censors alike",
        ));
    }
    let acc = with_threads(request.threads, || scan(&plan, &plan.ctx.clone(), batches, cancel))?;
    encode_partial(&plan, request, &acc)
}

fn encode_partial(plan: &Plan, request: &Request, acc: &Accumulator) -> Result<Vec<u8>> {
    let internal = |e: &dyn std::fmt::Display| Error::Internal(format!("encoding a partial result: {e}"));
    let mut request = request.clone();
    request.threads = None;
    let data = PartialData {
        request: serde_json::to_string(&request).map_err(|e| internal(&e))?,
        key_fields: serde_json::to_string(&plan.key_fields()).map_err(|e| internal(&e))?,
        keys: acc.keys.to_boxed(),
        cells: acc.cells.cells().to_vec(),
        states: plan
            .kpis
            .iter()
            .zip(&acc.states)
            .map(|(b, s)| b.kpi.encode_states(s.as_ref()))
            .collect::<Result<_>>()?,
        histories: plan
            .entities
            .iter()
            .zip(&acc.histories)
            .map(|(b, h)| b.kpi.encode_history(h.as_ref()))
            .collect::<Result<_>>()?,
        issues: acc.diag.issues.clone(),
        day_range: acc.day_range,
    };
    let mut out = PARTIAL_MAGIC.to_vec();
    out.extend_from_slice(&PARTIAL_VERSION.to_le_bytes());
    out.extend(postcard::to_allocvec(&data).map_err(|e| internal(&e))?);
    Ok(out)
}

fn decode_partial(bytes: &[u8]) -> Result<PartialData> {
    if bytes.len() < 6 || &bytes[..4] != PARTIAL_MAGIC {
        return Err(Error::param("not a kpiforge partial result"));
    }
    let version = u16::from_le_bytes([bytes[4], bytes[5]]);
    if version != PARTIAL_VERSION {
        return Err(Error::param(format!(
            "this partial result was written by a kpiforge with partial-result format {version}; this one \
             reads format {PARTIAL_VERSION}: compute all parts with the same kpiforge version"
        )));
    }
    postcard::from_bytes(&bytes[6..])
        .map_err(|e| Error::param(format!("a partial result does not decode: {e}")))
}

/// Merge the parts into one accumulator (in order), with the plan to finish it.
fn absorb_partials(parts: &[&[u8]]) -> Result<(Request, Plan, Accumulator)> {
    let Some(first) = parts.first() else {
        return Err(Error::param("no partial results to merge"));
    };
    let first = decode_partial(first)?;
    let request = Request::from_json(&first.request)?;
    let key_fields: Vec<Field> = serde_json::from_str(&first.key_fields)
        .map_err(|e| Error::param(format!("a partial result does not decode: {e}")))?;
    let plan = Plan::for_finalize(&request, &key_fields)?;
    let mut acc = Accumulator::new(&plan);
    acc.as_of = plan.as_of;
    let (request_json, fields_json) = (first.request.clone(), first.key_fields.clone());
    for (i, bytes) in parts.iter().enumerate() {
        let part = if i == 0 { None } else { Some(decode_partial(bytes)?) };
        let part = part.as_ref().unwrap_or(&first);
        if part.request != request_json || part.key_fields != fields_json {
            return Err(Error::param(format!(
                "partial result {i} answers a different request (KPIs, segments, periods or column types \
                 differ) and cannot be merged with the first"
            )));
        }
        let chunk = ChunkOut {
            keys: ChunkKeys::Tuples(KeyTuples::from_boxed(plan.keys.len(), &part.keys)),
            cells: part.cells.clone(),
            states: ChunkStates::Local(
                plan.kpis
                    .iter()
                    .zip(&part.states)
                    .map(|(b, s)| b.kpi.decode_states(s))
                    .collect::<Result<_>>()?,
            ),
            visits: plan
                .entities
                .iter()
                .zip(&part.histories)
                .map(|(b, h)| b.kpi.decode_history(h))
                .collect::<Result<_>>()?,
            diag: Diagnostics { issues: part.issues.clone() },
            day_range: part.day_range,
        };
        acc.absorb(&plan, &plan.ctx, vec![chunk], &[]);
    }
    Ok((request, plan, acc))
}

/// Merge partial results of one request into one partial result.
pub fn merge_partials(parts: &[&[u8]]) -> Result<Vec<u8>> {
    let (request, plan, acc) = absorb_partials(parts)?;
    encode_partial(&plan, &request, &acc)
}

/// Merge partial results and finalise them: the result one scan over all the data gives.
pub fn finalize_partials(parts: &[&[u8]]) -> Result<Output> {
    let (request, plan, acc) = absorb_partials(parts)?;
    finish(&plan, &request, acc)
}

/// The latest non-null day over the given date columns of all batches.
fn latest_day(batches: &[RecordBatch], columns: &[(usize, DateReader)]) -> Option<i32> {
    batches
        .par_iter()
        .flat_map_iter(|b| {
            columns.iter().filter_map(move |(index, reader)| {
                let mut days = Vec::new();
                reader.days(b.column(*index).as_ref(), &mut days);
                days.into_iter().filter(|&d| in_year_range(d)).max()
            })
        })
        .max()
}

/// Phase timings on stderr when `KPIFORGE_TRACE` is set: where a call spends its time.
pub(crate) struct Trace(Option<std::time::Instant>);

impl Trace {
    pub(crate) fn start() -> Self {
        static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        let on = *ON.get_or_init(|| std::env::var_os("KPIFORGE_TRACE").is_some());
        Trace(on.then(std::time::Instant::now))
    }
    pub(crate) fn lap(&mut self, what: &str) {
        if let Some(t) = self.0 {
            let ms = t.elapsed().as_secs_f64() * 1e3;
            // Resident memory at the lap (Linux), for finding where a call's peak is.
            let rss = std::fs::read_to_string("/proc/self/status")
                .ok()
                .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(str::to_owned))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
                .map_or(String::new(), |kib| format!(" {:>7.0} MiB resident", kib / 1024.0));
            eprintln!("kpiforge trace: {what:<24} {ms:>9.3} ms{rss}");
            self.0 = Some(std::time::Instant::now());
        }
    }
}

fn scan(
    plan: &Plan,
    ctx: &Ctx,
    batches: impl Iterator<Item = std::result::Result<RecordBatch, ArrowError>>,
    cancel: Cancel,
) -> Result<Accumulator> {
    let mut acc = Accumulator::new(plan);
    acc.as_of = ctx.as_of;
    let parallel = !FORKED.load(AtomicOrdering::Relaxed);
    let mut trace = Trace::start();
    // The previous window, scanned and not yet absorbed: it is absorbed while
    // this one is scanned, so that neither waits for the other's slowest
    // task (windows are still absorbed one after another, in order).
    let mut scanned: Option<(Vec<ChunkOut>, Vec<RecordBatch>)> = None;
    for_each_window(batches, cancel, |window| {
        let scan = || -> Vec<ChunkOut> {
            if parallel {
                window.par_iter().map(|b| process_chunk(plan, ctx, b)).collect()
            } else {
                window.iter().map(|b| process_chunk(plan, ctx, b)).collect()
            }
        };
        let previous = scanned.take();
        let acc = &mut acc;
        let absorb = move || {
            if let Some((outs, rows)) = previous {
                acc.absorb(plan, ctx, outs, &rows);
            }
        };
        let outs = if parallel { rayon::join(scan, absorb).0 } else { (absorb(), scan()).1 };
        trace.lap("scan chunks, absorb the previous");
        scanned = Some((outs, window.clone()));
    })?;
    if let Some((outs, rows)) = scanned {
        acc.absorb(plan, ctx, outs, &rows);
        trace.lap("absorb the last chunks");
    }
    Ok(acc)
}

/// Cut `batches` into fixed [`CHUNK_ROWS`]-row chunks and hand them to `flush`
/// in windows of [`window_chunks`] (the unit of parallel work; emptied after
/// each call), asking `cancel` between windows. The chunk boundaries depend
/// only on the input, so results never depend on the thread count.
pub(crate) fn for_each_window(
    batches: impl Iterator<Item = std::result::Result<RecordBatch, ArrowError>>,
    cancel: Cancel,
    mut flush: impl FnMut(&mut Vec<RecordBatch>),
) -> Result<()> {
    let window_chunks = window_chunks();
    let mut window: Vec<RecordBatch> = Vec::with_capacity(window_chunks);
    for batch in batches {
        let batch = batch.map_err(|e| Error::param(format!("could not read the input: {e}")))?;
        let mut offset = 0;
        while offset < batch.num_rows() {
            let len = CHUNK_ROWS.min(batch.num_rows() - offset);
            window.push(batch.slice(offset, len));
            offset += len;
            if window.len() == window_chunks {
                flush(&mut window);
                window.clear();
                if cancel() {
                    return Err(Error::Interrupted);
                }
            }
        }
    }
    flush(&mut window);
    Ok(())
}

/// The pool size each `finish` ran with (tests only: `threads=` must cover it).
#[cfg(test)]
static FINISH_THREADS: std::sync::Mutex<Vec<usize>> = std::sync::Mutex::new(Vec::new());

fn finish(plan: &Plan, request: &Request, mut acc: Accumulator) -> Result<Output> {
    #[cfg(test)]
    FINISH_THREADS.lock().unwrap().push(rayon::current_num_threads());
    // A call of millions of cells hands what it frees from here on straight
    // back, making room for its output (see the allocator's notes).
    #[cfg(feature = "python")]
    let _return_freed = crate::python::memory::while_finishing(acc.cells.len());
    if request.on_invalid == OnInvalid::Raise {
        if let Some(err) = acc.diag.to_error() {
            return Err(err);
        }
    }
    let mut trace = Trace::start();
    let as_of = acc.as_of.or(acc.day_range.map(|(_, hi)| hi));
    let ctx = Ctx { as_of, ..plan.ctx.clone() };

    // Rank the distinct keys once: the output is sorted by (rank, period), and
    // the walks break same-day ties by rank, so input order never matters.
    let rank = keys::rank(&acc.keys);

    trace.lap("rank keys");
    // Walk the customer histories; their cells join the row KPIs' cells.
    let histories = std::mem::take(&mut acc.histories);
    let mut walked = Vec::with_capacity(histories.len());
    let parallel = !FORKED.load(AtomicOrdering::Relaxed);
    for (bound, history) in plan.entities.iter().zip(histories) {
        let Some(as_of) = as_of else {
            walked.push(Walked::default());
            continue;
        };
        let wctx = WalkCtx::new(plan.periods, as_of, acc.day_range);
        let (parts, diag) = bound.kpi.walk_all(history, &wctx, &rank, parallel);
        acc.diag.merge(diag);
        let (states, maps): (Vec<_>, Vec<Vec<u32>>) = parts
            .into_iter()
            .map(|part| {
                let map = part.cells.into_iter().map(|cell| acc.cells.id(cell)).collect();
                (part.states, map)
            })
            .unzip();
        walked.push((states, maps));
        trace.lap("  map walked cells");
    }
    // Bad input that only whole histories show (found by the walks).
    if request.on_invalid == OnInvalid::Raise {
        if let Some(err) = acc.diag.to_error() {
            return Err(err);
        }
    }
    let n_cells = acc.cells.len();
    let order = output_order(acc.cells.cells(), &rank);
    let segment_continues = plan.kpis.iter().any(|b| b.kpi.links_periods()).then(|| {
        let cells = acc.cells.cells();
        let key = |j: usize| cells[order[j] as usize].0;
        (0..order.len()).map(|j| j + 1 < order.len() && key(j) == key(j + 1)).collect()
    });
    let ctx = Ctx { segment_continues, ..ctx };
    // The per-customer KPIs' states go straight to their output rows: cell c's is row position[c].
    let position = if plan.entities.is_empty() { Vec::new() } else { inverse(&order) };
    for (bound, states) in plan.kpis.iter().zip(acc.states.iter_mut()) {
        bound.kpi.resize(states.as_mut(), n_cells, n_cells);
    }

    trace.lap("walk histories, order");
    // The key and period columns are built while the KPIs finalise.
    // (Each timed on its own: they overlap.)
    let columns = || {
        let mut trace = Trace::start();
        let columns = key_and_period_columns(plan, &acc.keys, acc.cells.cells(), &order, as_of);
        trace.lap("  key, period columns");
        columns
    };
    let placing = Placing { walked, position: &position };
    let finals = || {
        let mut trace = Trace::start();
        let arrays = finalize_all(plan, &mut acc.states, placing, &order, &ctx, parallel);
        trace.lap("  finalize");
        arrays
    };
    let (keys_periods, all_arrays) =
        if parallel { rayon::join(columns, finals) } else { (columns(), finals()) };
    let (mut fields, mut columns) = keys_periods;
    trace.lap("key, period columns; finalize");
    // Names are checked over every column, built or not: `columns=` never
    // decides whether a call is valid.
    let outputs = plan.output_fields();
    let mut seen = std::collections::HashSet::new();
    for f in fields.iter().chain(outputs.iter().flatten()) {
        if !seen.insert(f.name().clone()) {
            return Err(Error::param(format!(
                "two output columns would be named '{}': give the KPIs distinct names (name=...)",
                f.name()
            )));
        }
    }
    for (k, (kpi_fields, arrays)) in outputs.into_iter().zip(all_arrays).enumerate() {
        let keep = plan.keep.get(k);
        for (j, (field, array)) in kpi_fields.into_iter().zip(arrays).enumerate() {
            if keep.is_none_or(|keep| keep[j]) {
                fields.push(field);
                columns.push(array);
            }
        }
    }
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .map_err(|e| Error::Internal(format!("assembling the output: {e}")))?;
    Ok(Output { batch, issues: acc.diag.issues })
}

type States = Box<dyn Any + Send>;
/// One per-customer KPI's walk: its states by task, and each task's map to global cells.
type Walked = (Vec<States>, Vec<Vec<u32>>);

/// What the per-customer KPIs' finalising starts from: their walks, and the
/// output row of each global cell.
struct Placing<'a> {
    walked: Vec<Walked>,
    position: &'a [u32],
}

/// Every KPI's output arrays, in `plan.outputs` order (each consumes its own states).
fn finalize_all(
    plan: &Plan,
    row_states: &mut [States],
    placing: Placing,
    order: &[u32],
    ctx: &Ctx,
    parallel: bool,
) -> Vec<Vec<ArrayRef>> {
    // The KPIs finalise independently (each consumes its own states): in
    // parallel. A per-customer KPI first places its walked states in output
    // order inside its own job, beside the other KPIs' work (a pass of
    // scattered writes that took a tenth of a call with a million cells).
    enum Job<'a> {
        Row(usize, &'a mut States),
        Entity(usize, Walked),
    }
    let mut row_refs: Vec<Option<&mut States>> = row_states.iter_mut().map(Some).collect();
    let mut walked = placing.walked;
    let mut jobs: Vec<(usize, Job)> = plan
        .outputs
        .iter()
        .enumerate()
        .map(|(k, &(is_entity, i))| {
            let job = if is_entity {
                Job::Entity(i, std::mem::take(&mut walked[i]))
            } else {
                Job::Row(i, row_refs[i].take().expect("one output per KPI"))
            };
            (k, job)
        })
        .collect();
    // The KPIs with the largest states go first: a KPI's finalising holds its
    // states twice (see `put_in_order`) beside every column built so far,
    // and with a cell per row the states are as big as the columns (at 10M
    // orders and 10^6 segments, revenue's were 613 MB; finishing with them
    // set the call's peak).
    let size = |job: &Job| match *job {
        Job::Row(i, _) => plan.kpis[i].kpi.state_size(),
        Job::Entity(i, _) => plan.entities[i].kpi.state_size(),
    };
    jobs.sort_by_key(|(_, job)| std::cmp::Reverse(size(job)));
    let position = placing.position;
    let finalize = |(k, job): (usize, Job)| {
        // The output's own columns to build (`columns=`).
        let ctx = &Ctx { keep: plan.keep.get(k).cloned(), ..ctx.clone() };
        let arrays = match job {
            Job::Row(i, states) => plan.kpis[i].kpi.finalize(states.as_mut(), order, ctx),
            Job::Entity(i, (states, maps)) => {
                let kpi = &plan.entities[i].kpi;
                kpi.finalize(kpi.place(states, &maps, position).as_mut(), ctx)
            }
        };
        (k, arrays)
    };
    let mut arrays: Vec<(usize, Vec<ArrayRef>)> = if parallel && jobs.len() > 1 {
        jobs.into_par_iter().map(finalize).collect()
    } else {
        jobs.into_iter().map(finalize).collect()
    };
    // Back in `plan.outputs` order.
    arrays.sort_by_key(|&(k, _)| k);
    arrays.into_iter().map(|(_, a)| a).collect()
}

/// The `by` columns and, with periods, `period`, `period_start` and `partial`, in output order.
fn key_and_period_columns(
    plan: &Plan,
    keys: &KeyTuples,
    cells: &[(u32, i32)],
    order: &[u32],
    as_of: Option<i32>,
) -> (Vec<Field>, Vec<ArrayRef>) {
    let mut fields: Vec<Field> = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    // The cells in output order, gathered once (ahead of use: with a million
    // cells each read misses the cache) and then read in sequence by every
    // column below.
    let ordered: Vec<(u32, i32)> = read_ahead(order.len(), |k| &cells[order[k] as usize]).copied().collect();
    for (i, key) in plan.keys.iter().enumerate() {
        let values = read_ahead(ordered.len(), |j| &keys.get(ordered[j].0 as usize)[i]);
        columns.push(keys::build_column(&key.out_type, values));
        fields.push(Field::new(&key.name, key.out_type.clone(), true));
    }
    let Some(periods) = &plan.periods else { return (fields, columns) };
    // Few distinct periods, many rows: label, start and partial flag once per
    // period, looked up by ordinal (a table when the ordinals span little).
    let (lo, hi) = cells.iter().fold((i32::MAX, i32::MIN), |(lo, hi), &(_, p)| (lo.min(p), hi.max(p)));
    let describe =
        |ord: i32| (periods.label(ord), periods.start(ord), as_of.is_some_and(|d| periods.end(ord) > d));
    let table: Vec<Option<(String, i32, bool)>> = if hi >= lo && i64::from(hi) - i64::from(lo) < 1 << 16 {
        let mut table = vec![None; (i64::from(hi) - i64::from(lo)) as usize + 1];
        for &(_, ord) in cells {
            table[(ord - lo) as usize].get_or_insert_with(|| describe(ord));
        }
        table
    } else {
        Vec::new()
    };
    let mut known: hashbrown::HashMap<i32, (String, i32, bool)> = hashbrown::HashMap::new();
    if table.is_empty() {
        for &(_, ord) in cells {
            known.entry(ord).or_insert_with(|| describe(ord));
        }
    }
    let describe_cell = |j: usize| {
        let ord = ordered[j].1;
        if table.is_empty() {
            &known[&ord]
        } else {
            table[(ord - lo) as usize].as_ref().expect("every cell's period is described")
        }
    };
    // Each column written whole (no builder call per row): the labels' bytes
    // and offsets, the start days, the partial flags packed 64 at a time.
    let n = ordered.len();
    let mut offsets: Vec<i32> = Vec::with_capacity(n + 1);
    let mut bytes: Vec<u8> = Vec::with_capacity(n * 8);
    offsets.push(0);
    for j in 0..n {
        bytes.extend_from_slice(describe_cell(j).0.as_bytes());
        offsets.push(i32::try_from(bytes.len()).expect("period labels fit an i32-offset string column"));
    }
    let label =
        StringArray::new(OffsetBuffer::new(ScalarBuffer::from(offsets)), Buffer::from_vec(bytes), None);
    let start: Vec<i32> = (0..n).map(|j| describe_cell(j).1).collect();
    let partial = BooleanBuffer::collect_bool(n, |j| describe_cell(j).2);
    fields.push(Field::new("period", DataType::Utf8, false));
    fields.push(Field::new("period_start", DataType::Date32, false));
    fields.push(Field::new("partial", DataType::Boolean, false));
    columns.push(Arc::new(label));
    columns.push(Arc::new(Date32Array::from(start)));
    columns.push(Arc::new(BooleanArray::new(partial, None)));
    (fields, columns)
}

/// The inverse of a permutation: `inverse(order)[order[i]] == i`.
fn inverse(order: &[u32]) -> Vec<u32> {
    let mut position = vec![0u32; order.len()];
    order.iter().enumerate().for_each(|(row, &cell)| position[cell as usize] = row as u32);
    position
}

/// Cells in output order, by (key rank, period): a counting sort by rank
/// (ranks are dense), then each key's few periods sorted in place.
fn output_order(cells: &[(u32, i32)], rank: &[u32]) -> Vec<u32> {
    let mut starts = vec![0u32; rank.len() + 1];
    for &(k, _) in cells {
        starts[rank[k as usize] as usize + 1] += 1;
    }
    for r in 0..rank.len() {
        starts[r + 1] += starts[r];
    }
    let mut next = starts.clone();
    let mut order = vec![0u32; cells.len()];
    for (c, &(k, _)) in cells.iter().enumerate() {
        let slot = &mut next[rank[k as usize] as usize];
        order[*slot as usize] = c as u32;
        *slot += 1;
    }
    for w in starts.windows(2) {
        let group = &mut order[w[0] as usize..w[1] as usize];
        if group.len() > 1 {
            group.sort_unstable_by_key(|&c| cells[c as usize].1);
        }
    }
    order
}

/// Column names when a call has several KPIs (or a renamed one): a column
/// named after the kind takes the KPI's name (`nps_ci_low` -> `nps_portal_ci_low`),
/// the shared ones are prefixed (`n` -> `nps_n`).
fn output_name(kind: &str, name: &str, column: &str) -> String {
    match column.strip_prefix(kind) {
        Some(rest) if rest.is_empty() || rest.starts_with('_') => format!("{name}{rest}"),
        _ => format!("{name}_{column}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_names() {
        assert_eq!(output_name("nps", "nps", "nps_ci_low"), "nps_ci_low");
        assert_eq!(output_name("nps", "nps", "n"), "nps_n");
        assert_eq!(output_name("nps", "nps_portal", "nps"), "nps_portal");
        assert_eq!(output_name("csat", "csat", "csat_mean"), "csat_mean");
        assert_eq!(output_name("ces", "ces", "cesx"), "ces_cesx");
    }

    #[test]
    fn states_put_in_output_order() {
        let orders: [&[u32]; 4] = [&[], &[0], &[2, 0, 1, 4, 3], &[1, 2, 3, 4, 0]];
        for order in orders {
            let mut states: Vec<u32> = (0..order.len() as u32).map(|i| i * 10).collect();
            put_in_order(&mut states, order);
            let want: Vec<u32> = order.iter().map(|&i| i * 10).collect();
            assert_eq!(states, want);
            // States that own memory move too (each dropped once, at the end).
            let mut owned: Vec<String> = (0..order.len()).map(|i| i.to_string()).collect();
            put_in_order(&mut owned, order);
            assert_eq!(owned, order.iter().map(|i| i.to_string()).collect::<Vec<_>>());
        }
    }

    #[test]
    fn cancel_stops_the_reading_before_the_scan() {
        // Resolution time without as_of reads every batch to find the latest
        // observed date before it scans: a cancel must stop that reading too.
        let schema = Arc::new(Schema::new(vec![
            arrow_schema::Field::new("opened_at", DataType::Date32, false),
            arrow_schema::Field::new("resolved_at", DataType::Date32, true),
            arrow_schema::Field::new("priority", DataType::Utf8, false),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(arrow_array::Date32Array::from(vec![19_000, 19_001, 19_010])),
                Arc::new(arrow_array::Date32Array::from(vec![Some(19_002), None, Some(19_011)])),
                Arc::new(arrow_array::StringArray::from(vec!["high", "standard", "high"])),
            ],
        )
        .unwrap();
        let request = Request::from_json(r#"{"kpis":[{"kind":"resolution_time"}]}"#).unwrap();
        // The same request with all its batches: the input is valid.
        assert!(run(&request, schema.clone(), (0..3).map(|_| Ok(batch.clone()))).is_ok());
        let pulled = std::sync::atomic::AtomicUsize::new(0);
        let batches = std::iter::repeat_with(|| {
            pulled.fetch_add(1, AtomicOrdering::Relaxed);
            Ok(batch.clone())
        })
        .take(1000);
        let result = run_with(&request, schema, batches, &|| pulled.load(AtomicOrdering::Relaxed) >= 3);
        assert!(matches!(result, Err(Error::Interrupted)));
        assert_eq!(pulled.load(AtomicOrdering::Relaxed), 3);
    }

    #[test]
    fn projections_of_keys_and_cells() {
        // No row count, or no rows yet: no projection.
        assert_eq!(projected(100, 1_000, None), 100);
        assert_eq!(projected(100, 0, Some(10_000)), 100);
        // At the rate so far, within 8 times what there is and the rows left.
        assert_eq!(projected(100, 1_000, Some(5_000)), 500);
        assert_eq!(projected(1_000, 1_000, Some(5_000)), 5_000);
        assert_eq!(projected(1_000, 1_000, Some(1_000_000)), 8_000);
        assert_eq!(projected(10, 1_000, Some(usize::MAX)), 80);
        // All rows seen (or a hint below them): what there is.
        assert_eq!(projected(100, 1_000, Some(1_000)), 100);
        assert_eq!(projected(100, 1_000, Some(10)), 100);
    }

    #[test]
    fn finalize_frees_the_states_it_finalised() {
        // Freed as each KPI finishes, not when the call ends: a call's peak
        // memory then never holds every KPI's states beside every output.
        let crate::registry::Built::Row(kpi) = crate::registry::build("nps", &serde_json::json!({})).unwrap()
        else {
            panic!("nps is a row KPI")
        };
        let ctx = Ctx {
            confidence: 0.95,
            z: crate::stats::z_for(0.95),
            on_invalid: OnInvalid::Raise,
            as_of: None,
            keep: None,
            segment_continues: None,
        };
        let mut states = kpi.new_states(3);
        let arrays = kpi.finalize(states.as_mut(), &[2, 0, 1], &ctx);
        assert!(arrays.iter().all(|a| a.len() == 3));
        let left = states.downcast_ref::<Vec<crate::kpi::survey::ScoreHistogram>>().unwrap();
        assert!(left.is_empty() && left.capacity() == 0);
    }

    #[test]
    #[should_panic(expected = "permutation")]
    fn put_in_order_refuses_a_repeated_index() {
        put_in_order(&mut vec![String::from("a"), String::from("b")], &[1, 1]);
    }

    #[test]
    fn threads_cover_the_walks_and_finalising() {
        // Seven threads: a pool size no other test asks for, and not this machine's core count
        // (the global pool's), which is what finishing used to run on.
        let schema = Arc::new(Schema::new(vec![
            arrow_schema::Field::new("customer_id", DataType::Int64, false),
            arrow_schema::Field::new("ordered_at", DataType::Date32, false),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(arrow_array::Int64Array::from(vec![1, 2, 1])),
                Arc::new(arrow_array::Date32Array::from(vec![19_000, 19_001, 19_010])),
            ],
        )
        .unwrap();
        let mut request = Request::from_json(
            r#"{"kpis":[{"kind":"repeat_purchase_rate","params":{"customer":"customer_id"}}],"as_of":"2026-01-01"}"#,
        )
        .unwrap();
        request.threads = Some(7);
        let out = run(&request, schema, std::iter::once(Ok(batch))).unwrap();
        assert_eq!(out.batch.num_rows(), 1);
        assert!(FINISH_THREADS.lock().unwrap().contains(&7));
    }

    #[test]
    fn thread_counts_out_of_bounds_are_errors_before_any_thread_starts() {
        for n in [0, MAX_THREADS + 1, usize::MAX] {
            let err = with_threads(Some(n), || Ok(())).unwrap_err();
            assert!(matches!(err, Error::Input { .. }), "{n}: {err}");
            assert!(err.to_string().contains(&format!("between 1 and {MAX_THREADS}, got {n}")), "{err}");
        }
        assert_eq!(with_threads(Some(3), || Ok(rayon::current_num_threads())).unwrap(), 3);
    }

    #[test]
    fn iso_dates() {
        assert_eq!(parse_iso_date("1970-01-02").unwrap(), 1);
        assert!(parse_iso_date("2025/01/02").is_err());
    }
}
