//! The per-customer pass, written once for every KPI that needs a customer's
//! whole history (repeat purchase, retention, purchase frequency, cohorts):
//! the scan keeps one small visit per row (customer, segment, day, payload);
//! afterwards the visits are sorted by customer and day, each customer's
//! history is walked once, in parallel over customers, and the walk emits
//! contributions to (segment, period) states. Every customer is walked whole,
//! so the result is exact however the input was chunked, and the merge order
//! is fixed, so it does not depend on the thread count.
use std::any::Any;

use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{Field, Schema};
use rayon::prelude::*;

use crate::engine::{Ctx, State};
use crate::error::Result;
use crate::filter::Condition;
use crate::ingest::{find_column, Diagnostics};
use crate::keys::{encode_column, fast_map, KeyValue, SKIP};
use crate::period::{format_day, in_year_range, DayOrdinals, Periods, NULL_DAY};

/// One row of a customer's history.
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
pub struct Visit<E> {
    pub customer: u32,
    /// Global segment key id.
    pub key: u32,
    pub day: i32,
    pub event: E,
}

/// What a walk needs to know about the call.
#[derive(Clone, Debug)]
pub struct WalkCtx {
    pub periods: Option<Periods>,
    /// "Now": outcomes that need time are censored at this day.
    pub as_of: i32,
    /// Ordinals of the visits' days, as walks ask for one per visit.
    ords: Option<DayOrdinals>,
}

impl WalkCtx {
    /// A walk's context; `days` is the range of the visits' days.
    pub fn new(periods: Option<Periods>, as_of: i32, days: Option<(i32, i32)>) -> Self {
        WalkCtx { periods, as_of, ords: periods.map(|p| DayOrdinals::new(p, days)) }
    }

    /// The period ordinal of a day (0 when no period was asked for).
    #[inline]
    pub fn ord(&self, day: i32) -> i32 {
        self.ords.as_ref().map_or(0, |o| o.get(day))
    }
}

/// The (segment, period) states a walk writes to.
pub struct CellSink<S> {
    index: hashbrown::HashMap<(u32, i32), u32, foldhash::fast::FixedState>,
    pub cells: Vec<(u32, i32)>,
    pub states: Vec<S>,
    /// Bad input only a whole history shows (e.g. an account's conflicting credit limits).
    pub diag: Diagnostics,
}

impl<S: State> CellSink<S> {
    pub fn new() -> Self {
        CellSink { index: fast_map(256), cells: Vec::new(), states: Vec::new(), diag: Diagnostics::default() }
    }

    /// The state of segment `key` in period `ord`, created on first use.
    #[inline]
    pub fn at(&mut self, key: u32, ord: i32) -> &mut S {
        let next = self.cells.len() as u32;
        let i = *self.index.entry((key, ord)).or_insert(next);
        if i == next {
            self.cells.push((key, ord));
            self.states.push(S::default());
        }
        &mut self.states[i as usize]
    }
}

impl<S: State> Default for CellSink<S> {
    fn default() -> Self {
        Self::new()
    }
}

/// A KPI computed from each customer's whole history.
pub trait EntityKpi: Send + Sync + 'static {
    type State: State;
    /// What the walk needs of each row besides customer, segment and day.
    type Event: Copy + Send + Sync + serde::Serialize + serde::de::DeserializeOwned + 'static;
    fn default_date(&self) -> Option<&str>;
    /// The customer column.
    fn customer(&self) -> &str;
    fn row_filter(&self, _schema: &Schema) -> Vec<Condition> {
        Vec::new()
    }
    /// True when the KPI is only defined per period (e.g. retention between periods).
    fn needs_period(&self) -> bool {
        false
    }
    /// Date columns whose latest value is "now" when `as_of` is not given (see
    /// [`crate::engine::Kpi::observed_dates`]); empty: the date column's latest day.
    fn observed_dates(&self) -> Vec<String> {
        Vec::new()
    }
    fn bind(&mut self, schema: &Schema) -> Result<()>;
    /// The payload of every row of a chunk (`None`: skip the row, after recording why in `diag`).
    fn events(&self, batch: &RecordBatch, out: &mut Vec<Option<Self::Event>>, diag: &mut Diagnostics);
    /// Walk one customer's history, sorted by day (ties in input order).
    fn walk(&self, history: &[Visit<Self::Event>], sink: &mut CellSink<Self::State>, ctx: &WalkCtx);
    fn fields(&self) -> Vec<Field>;
    fn finalize(&self, states: &[&Self::State], ctx: &Ctx) -> Vec<ArrayRef>;
}

/// A chunk's visits with chunk-local customer and key codes; also the form a
/// history travels in inside a partial result.
#[derive(serde::Serialize, serde::Deserialize)]
struct ChunkVisits<E> {
    customers: Vec<KeyValue>,
    visits: Vec<Visit<E>>,
}

/// All visits so far, with global customer and key ids: each chunk's visits
/// stay in the vector the chunk made them in (in chunk order), so that the
/// history never moves as it grows; the walk groups them by customer anyway.
struct History<E> {
    index: hashbrown::HashMap<KeyValue, u32, foldhash::fast::FixedState>,
    blocks: Vec<Vec<Visit<E>>>,
}

/// The object-safe face of [`EntityKpi`], implemented once for all of them.
pub trait DynEntity: Send + Sync {
    fn default_date(&self) -> Option<&str>;
    fn row_filter(&self, schema: &Schema) -> Vec<Condition>;
    fn needs_period(&self) -> bool;
    fn observed_dates(&self) -> Vec<String>;
    fn bind(&mut self, schema: &Schema) -> Result<()>;
    /// Visits of one chunk; `cells[row] == SKIP` drops a row (filtered, or no period).
    fn extract(
        &self,
        batch: &RecordBatch,
        key_codes: &[u32],
        days: &[i32],
        cells: &[u32],
        date_name: &str,
        diag: &mut Diagnostics,
    ) -> Box<dyn Any + Send>;
    fn new_history(&self) -> Box<dyn Any + Send>;
    /// A history as bytes, in the form of a chunk's visits (for partial results).
    fn encode_history(&self, history: &dyn Any) -> crate::Result<Vec<u8>>;
    /// Bytes back into visits that [`DynEntity::absorb`] takes.
    fn decode_history(&self, bytes: &[u8]) -> crate::Result<Box<dyn Any + Send>>;
    /// Append chunks' visits in order, mapping chunk i's key codes through
    /// `key_maps[i]` (in parallel across chunks when `parallel`).
    fn absorb(
        &self,
        history: &mut dyn Any,
        chunks: Vec<Box<dyn Any + Send>>,
        key_maps: &[Vec<u32>],
        parallel: bool,
    );
    /// Walk every customer; returns, per group of customers walked together,
    /// the cells written and their states, and the bad input the walks found.
    /// A cell may appear in several groups.
    fn walk_all(
        &self,
        history: Box<dyn Any + Send>,
        ctx: &WalkCtx,
        key_rank: &[u32],
        parallel: bool,
    ) -> (Vec<WalkPart>, Diagnostics);
    /// Merge the groups' states into global cells (`maps[i]` for group i), in a
    /// vector of `len` states.
    fn place(&self, parts: Vec<Box<dyn Any + Send>>, maps: &[Vec<u32>], len: usize) -> Box<dyn Any + Send>;
    fn fields(&self) -> Vec<Field>;
    /// Puts the states in output order (see `engine::put_in_order`; `order` covers them all) and finalises them.
    fn finalize(&self, states: &mut dyn Any, order: &[u32], ctx: &Ctx) -> Vec<ArrayRef>;
}

/// The cells one group of customers' walks wrote, and their states.
pub struct WalkPart {
    pub cells: Vec<(u32, i32)>,
    pub states: Box<dyn Any + Send>,
}

/// `slice` cut into consecutive regions of the given lengths (for tasks that
/// each fill their own part of one output).
fn split_regions<T>(mut rest: &mut [T], lens: impl Iterator<Item = usize>) -> Vec<&mut [T]> {
    lens.map(|n| {
        let (region, tail) = std::mem::take(&mut rest).split_at_mut(n);
        rest = tail;
        region
    })
    .collect()
}

/// Visits grouped by customer (ids are dense, `0..customers`) by a counting
/// sort, stable: each customer's visits keep input order (the walk sorts them
/// by day if needed); and where each customer's run starts (`customers + 1`
/// offsets). In parallel, the customers are cut into ranges of about equal
/// visits: each task reads every visit, keeps its own range's and fills its own
/// part of the output.
fn group_by_customer<E: Copy + Send + Sync>(
    blocks: &[Vec<Visit<E>>],
    customers: usize,
    parallel: bool,
) -> (Vec<Visit<E>>, Vec<usize>) {
    let visits = || blocks.iter().flatten();
    let mut starts = vec![0usize; customers + 1];
    for v in visits() {
        starts[v.customer as usize + 1] += 1;
    }
    for c in 0..customers {
        starts[c + 1] += starts[c];
    }
    let total = starts[customers];
    let Some(&first) = visits().next() else { return (Vec::new(), starts) };
    let tasks = if parallel { rayon::current_num_threads().clamp(1, 64) } else { 1 };
    let mut bounds: Vec<usize> =
        (0..tasks).map(|t| starts.partition_point(|&s| s < total * t / tasks).min(customers)).collect();
    bounds.push(customers);
    bounds.dedup();
    let mut out = vec![first; total];
    let ranges: Vec<std::ops::Range<usize>> = bounds.windows(2).map(|w| w[0]..w[1]).collect();
    let lens = ranges.iter().map(|r| starts[r.end] - starts[r.start]);
    let regions: Vec<_> = ranges.iter().cloned().zip(split_regions(&mut out, lens)).collect();
    let fill = |(range, region): (std::ops::Range<usize>, &mut [Visit<E>])| {
        let base = starts[range.start];
        let mut next: Vec<usize> = starts[range.clone()].iter().map(|s| s - base).collect();
        for v in visits() {
            let c = v.customer as usize;
            if range.contains(&c) {
                let slot = &mut next[c - range.start];
                region[*slot] = *v;
                *slot += 1;
            }
        }
    };
    if regions.len() > 1 {
        regions.into_par_iter().for_each(fill);
    } else {
        regions.into_iter().for_each(fill);
    }
    (out, starts)
}

/// Customers walked per parallel task.
const CUSTOMERS_PER_TASK: usize = 2048;

impl<K: EntityKpi> DynEntity for K {
    fn default_date(&self) -> Option<&str> {
        EntityKpi::default_date(self)
    }
    fn row_filter(&self, schema: &Schema) -> Vec<Condition> {
        EntityKpi::row_filter(self, schema)
    }
    fn needs_period(&self) -> bool {
        EntityKpi::needs_period(self)
    }
    fn observed_dates(&self) -> Vec<String> {
        EntityKpi::observed_dates(self)
    }
    fn bind(&mut self, schema: &Schema) -> Result<()> {
        let index = find_column(schema, self.customer(), "customer")?;
        crate::keys::resolve(schema, &[schema.field(index).name().clone()]).map_err(|_| {
            crate::error::Error::column(
                self.customer(),
                format!(
                    "column '{}' (customer=) has type {}, which cannot identify a customer",
                    self.customer(),
                    schema.field(index).data_type()
                ),
            )
        })?;
        EntityKpi::bind(self, schema)
    }
    fn extract(
        &self,
        batch: &RecordBatch,
        key_codes: &[u32],
        days: &[i32],
        cells: &[u32],
        date_name: &str,
        diag: &mut Diagnostics,
    ) -> Box<dyn Any + Send> {
        let index = batch.schema().index_of(self.customer()).expect("customer column bound");
        let mut codes = Vec::new();
        let customers = encode_column(batch.column(index).as_ref(), &mut codes);
        let mut events = Vec::new();
        self.events(batch, &mut events, diag);
        let mut visits = Vec::with_capacity(batch.num_rows());
        for row in 0..batch.num_rows() {
            if cells[row] == SKIP {
                continue;
            }
            let day = days[row];
            if day == NULL_DAY {
                diag.record(date_name, "with a null date", || "null".to_string());
                continue;
            }
            if !in_year_range(day) {
                // A history spanning millions of days is garbage, and its day arithmetic overflows.
                diag.record(date_name, "with a date outside the years 0001-9999", || format_day(day));
                continue;
            }
            if matches!(customers[codes[row] as usize], KeyValue::Null) {
                diag.record(self.customer(), "with a null customer", || "null".to_string());
                continue;
            }
            if let Some(event) = events[row] {
                visits.push(Visit { customer: codes[row], key: key_codes[row], day, event });
            }
        }
        Box::new(ChunkVisits { customers, visits })
    }
    fn new_history(&self) -> Box<dyn Any + Send> {
        Box::new(History::<K::Event> { index: fast_map(1024), blocks: Vec::new() })
    }
    fn encode_history(&self, history: &dyn Any) -> crate::Result<Vec<u8>> {
        let history = history.downcast_ref::<History<K::Event>>().expect("history of the KPI's own type");
        let mut customers = vec![KeyValue::Null; history.index.len()];
        for (customer, &id) in &history.index {
            customers[id as usize] = customer.clone();
        }
        let visits = ChunkVisits { customers, visits: history.blocks.concat() };
        postcard::to_allocvec(&visits)
            .map_err(|e| crate::error::Error::Internal(format!("encoding customer histories: {e}")))
    }
    fn decode_history(&self, bytes: &[u8]) -> crate::Result<Box<dyn Any + Send>> {
        let visits: ChunkVisits<K::Event> = postcard::from_bytes(bytes).map_err(|e| {
            crate::error::Error::param(format!(
                "a partial result does not decode ({e}): is it from this version?"
            ))
        })?;
        Ok(Box::new(visits))
    }
    fn absorb(
        &self,
        history: &mut dyn Any,
        chunks: Vec<Box<dyn Any + Send>>,
        key_maps: &[Vec<u32>],
        parallel: bool,
    ) {
        let history = history.downcast_mut::<History<K::Event>>().expect("history of the KPI's own type");
        // Customers get global ids in chunk order (one lookup per distinct
        // customer of a chunk, on this thread); the visits are then
        // renumbered where they lie, in parallel across chunks.
        let (customers, visits): (Vec<Vec<KeyValue>>, Vec<_>) = chunks
            .into_iter()
            .map(|c| {
                let c = c.downcast::<ChunkVisits<K::Event>>().expect("visits of the KPI's own type");
                (c.customers, c.visits)
            })
            .unzip();
        let customer_maps: Vec<Vec<u32>> = customers
            .into_iter()
            .map(|chunk| {
                chunk
                    .into_iter()
                    .map(|c| {
                        let next = history.index.len() as u32;
                        *history.index.entry(c).or_insert(next)
                    })
                    .collect()
            })
            .collect();
        // Each chunk's visits are renumbered where they lie, and kept.
        type Job<'a, E> = ((&'a mut Vec<Visit<E>>, &'a Vec<u32>), &'a Vec<u32>);
        let renumber = |((chunk, customer_map), key_map): Job<K::Event>| {
            for v in chunk.iter_mut() {
                v.customer = customer_map[v.customer as usize];
                v.key = key_map[v.key as usize];
            }
        };
        let mut visits = visits;
        if parallel && visits.len() > 1 {
            visits.par_iter_mut().zip(customer_maps.par_iter()).zip(key_maps.par_iter()).for_each(renumber);
        } else {
            visits.iter_mut().zip(customer_maps.iter()).zip(key_maps.iter()).for_each(renumber);
        }
        history.blocks.extend(visits.into_iter().filter(|v| !v.is_empty()));
    }
    fn walk_all(
        &self,
        history: Box<dyn Any + Send>,
        ctx: &WalkCtx,
        key_rank: &[u32],
        parallel: bool,
    ) -> (Vec<WalkPart>, Diagnostics) {
        let mut trace = crate::engine::Trace::start();
        let history = history.downcast::<History<K::Event>>().expect("history of the KPI's own type");
        let customers = history.index.len();
        let (visits, starts) = group_by_customer(&history.blocks, customers, parallel);
        drop(history);
        let runs: Vec<std::ops::Range<usize>> =
            (0..customers).map(|c| starts[c]..starts[c + 1]).filter(|r| !r.is_empty()).collect();
        let walk_group = |group: &[std::ops::Range<usize>]| {
            let mut sink = CellSink::new();
            for run in group {
                // Sorted by day, then segment rank (a customer's first segment
                // must not depend on row order); input sorted by time and
                // segment needs no copy. Same-day visits of one segment keep
                // input order: the walks treat them alike.
                let order = |v: &Visit<K::Event>| (v.day, key_rank[v.key as usize]);
                let mut history = std::borrow::Cow::Borrowed(&visits[run.clone()]);
                if !history.windows(2).all(|w| order(&w[0]) <= order(&w[1])) {
                    history.to_mut().sort_by_key(order);
                }
                // Orders after as_of have not happened yet as far as the KPIs are concerned.
                let seen = history.partition_point(|v| v.day <= ctx.as_of);
                if seen > 0 {
                    EntityKpi::walk(self, &history[..seen], &mut sink, ctx);
                }
            }
            sink
        };
        trace.lap("  group by customer");
        let sinks: Vec<CellSink<K::State>> = if parallel {
            runs.par_chunks(CUSTOMERS_PER_TASK).map(walk_group).collect()
        } else {
            runs.chunks(CUSTOMERS_PER_TASK).map(walk_group).collect()
        };
        trace.lap("  walks");
        // The groups go to the engine as they are: it maps each group's cells
        // to global ones once, with no second table of all the walks' cells.
        let mut diag = Diagnostics::default();
        let parts = sinks
            .into_iter()
            .map(|sink| {
                diag.merge(sink.diag);
                WalkPart { cells: sink.cells, states: Box::new(sink.states) }
            })
            .collect();
        (parts, diag)
    }
    fn place(&self, parts: Vec<Box<dyn Any + Send>>, maps: &[Vec<u32>], len: usize) -> Box<dyn Any + Send> {
        let mut placed = vec![K::State::default(); len];
        // A cell's first state moves in; states of the same cell from later groups merge.
        let mut filled = vec![false; len];
        for (states, map) in parts.into_iter().zip(maps) {
            let states = states.downcast::<Vec<K::State>>().expect("walk states of the KPI's own type");
            for (state, &m) in states.into_iter().zip(map) {
                let m = m as usize;
                if std::mem::replace(&mut filled[m], true) {
                    placed[m].merge(&state);
                } else {
                    placed[m] = state;
                }
            }
        }
        Box::new(placed)
    }
    fn fields(&self) -> Vec<Field> {
        EntityKpi::fields(self)
    }
    fn finalize(&self, states: &mut dyn Any, order: &[u32], ctx: &Ctx) -> Vec<ArrayRef> {
        let all = states.downcast_mut::<Vec<K::State>>().expect("states of the KPI's own type");
        crate::engine::put_in_order(all, order);
        let refs: Vec<&K::State> = all.iter().collect();
        EntityKpi::finalize(self, &refs, ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grouping_by_customer_is_a_stable_counting_sort() {
        // Skewed customers (one big one), in a scrambled order.
        let mut seed = 7u64;
        let mut next = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) as u32
        };
        let customers = 50;
        let visits: Vec<Visit<u32>> = (0..5_000)
            .map(|i| {
                let customer = if i % 3 == 0 { 7 } else { next() % customers };
                Visit { customer, key: next() % 4, day: (next() % 100) as i32, event: i }
            })
            .collect();
        let mut want = visits.clone();
        want.sort_by_key(|v| v.customer);
        // The history's blocks: one chunk's visits each, of uneven sizes.
        let blocks: Vec<Vec<Visit<u32>>> =
            [0, 1, 700, 2_000, 4_999, 5_000].windows(2).map(|w| visits[w[0]..w[1]].to_vec()).collect();
        for parallel in [false, true] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(5).build().unwrap();
            let (got, starts) = pool.install(|| group_by_customer(&blocks, customers as usize, parallel));
            let events = |v: &[Visit<u32>]| v.iter().map(|v| (v.customer, v.event)).collect::<Vec<_>>();
            assert_eq!(events(&got), events(&want));
            for c in 0..customers as usize {
                assert!(got[starts[c]..starts[c + 1]].iter().all(|v| v.customer as usize == c));
            }
        }
        assert!(group_by_customer::<u32>(&[], 3, true).0.is_empty());
    }
}
