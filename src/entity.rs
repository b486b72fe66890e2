//! The per-customer pass, written once for every KPI that needs a customer's
//! whole history (repeat purchase, retention, purchase frequency, cohorts):
//! the scan keeps one small visit per row (customer, segment, day, payload);
//! afterwards the visits are sorted by customer and day, each customer's
//! history is walked once, in parallel over customers, and the walk emits
//! contributions to (segment, period) states. Every customer is walked whole,
//! so the result is exact however the input was chunked, and the merge order
//! is fixed, so it does not depend on the thread count. A KPI may offer a
//! row KPI for calls by the customer column alone ([`EntityKpi::by_customer`]),
//! which the plan then uses instead of the walk.
use std::any::Any;

use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{Field, Schema};
use rayon::prelude::*;

use crate::engine::{Ctx, DynKpi, State, GATHER_AHEAD};
use crate::error::Result;
use crate::filter::Condition;
use crate::ingest::{find_column, prefetch, Diagnostics};
use crate::keys::{
    encode_distinct, fast_map, for_each_kept, tiny_key, tiny_value, Distinct, FastMap, KeyValue,
};
use crate::period::{format_day, in_year_range, DateReader, DayOrdinals, Periods, NULL_DAY};

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

    /// The first and last period ordinals of the visits' days (0 and 0 when
    /// no period was asked for; `None` when their days are not tabulated).
    pub fn ord_range(&self) -> Option<(i32, i32)> {
        match &self.ords {
            None => Some((0, 0)),
            Some(o) => o.range(),
        }
    }

    /// The period ordinal of a day (0 when no period was asked for).
    #[inline]
    pub fn ord(&self, day: i32) -> i32 {
        self.ords.as_ref().map_or(0, |o| o.get(day))
    }
}

/// A walk task's cells that lie in the grid of every segment by every period
/// of the visits' days are found by position, when that grid is small (a few
/// hundred reps by a few years of quarters); others through a map. A walk
/// looks a cell up per visit or per distinct cell, and hashing those pairs
/// was most of the walks' time.
#[derive(Clone, Copy, Debug)]
struct Grid {
    keys: u32,
    first_ord: i32,
    ords: u32,
}

/// Most cells a task's [`Grid`] holds: two u32 per cell, so 2 MiB a task.
const MAX_GRID_CELLS: u64 = 1 << 18;

impl Grid {
    fn new(keys: usize, ords: (i32, i32)) -> Option<Self> {
        let span = i64::from(ords.1) - i64::from(ords.0) + 1;
        let cells = (keys as u64).checked_mul(u64::try_from(span).ok()?)?;
        (span > 0 && cells > 0 && cells <= MAX_GRID_CELLS).then_some(Grid {
            keys: keys as u32,
            first_ord: ords.0,
            ords: span as u32,
        })
    }

    fn cells(&self) -> usize {
        self.keys as usize * self.ords as usize
    }

    #[inline]
    fn slot(&self, key: u32, ord: i32) -> Option<usize> {
        let o = ord.wrapping_sub(self.first_ord) as u32;
        (key < self.keys && o < self.ords).then(|| key as usize * self.ords as usize + o as usize)
    }
}

/// The (segment, period) states a walk writes to.
pub struct CellSink<S> {
    index: hashbrown::HashMap<(u32, i32), u32, foldhash::fast::FixedState>,
    grid: Option<Grid>,
    /// Per grid cell: its state's index + 1, or 0 before its first state.
    slots: Vec<u32>,
    /// Per grid cell: the last [`CellSink::distinct_cells`] call that saw it.
    seen: Vec<u32>,
    calls: u32,
    pub cells: Vec<(u32, i32)>,
    pub states: Vec<S>,
    /// Bad input only a whole history shows (e.g. an account's conflicting credit limits).
    pub diag: Diagnostics,
}

impl<S: State> CellSink<S> {
    pub fn new() -> Self {
        CellSink {
            index: fast_map(256),
            grid: None,
            slots: Vec::new(),
            seen: Vec::new(),
            calls: 0,
            cells: Vec::new(),
            states: Vec::new(),
            diag: Diagnostics::default(),
        }
    }

    /// A sink for walks over `keys` segment ids and the period ordinals in
    /// `ords` (inclusive), whose cells are found by position when they are few.
    fn for_grid(keys: usize, ords: Option<(i32, i32)>) -> Self {
        let grid = ords.and_then(|ords| Grid::new(keys, ords));
        let cells = grid.map_or(0, |g| g.cells());
        CellSink { grid, slots: vec![0; cells], seen: vec![0; cells], ..Self::new() }
    }

    fn push(&mut self, key: u32, ord: i32) -> u32 {
        self.cells.push((key, ord));
        self.states.push(S::default());
        self.cells.len() as u32 - 1
    }

    /// The state of segment `key` in period `ord`, created on first use.
    #[inline]
    pub fn at(&mut self, key: u32, ord: i32) -> &mut S {
        let i = match self.grid.and_then(|g| g.slot(key, ord)) {
            Some(slot) => self.in_slot(slot, key, ord),
            None => {
                let next = self.cells.len() as u32;
                let i = *self.index.entry((key, ord)).or_insert(next);
                if i == next {
                    self.push(key, ord);
                }
                i
            }
        };
        &mut self.states[i as usize]
    }

    /// The state of segment `key` in period `ord` for a walk that writes each
    /// of a customer's cells once (the cells [`CellSink::distinct_cells`]
    /// gives): off the grid a fresh state, which the engine merges with the
    /// cell's others when it places the walks' states. (Looking the cell up
    /// in a map of the whole task's cells was most of the walk at a million
    /// segments, where nearly every cell is new to the task.)
    #[inline]
    pub fn at_distinct(&mut self, key: u32, ord: i32) -> &mut S {
        let i = match self.grid.and_then(|g| g.slot(key, ord)) {
            Some(slot) => self.in_slot(slot, key, ord),
            None => self.push(key, ord),
        };
        &mut self.states[i as usize]
    }

    /// The index of the state in grid slot `slot` (the cell `key`, `ord`), created on first use.
    #[inline]
    fn in_slot(&mut self, slot: usize, key: u32, ord: i32) -> u32 {
        match self.slots[slot] {
            0 => {
                let i = self.push(key, ord);
                self.slots[slot] = i + 1;
                i
            }
            i => i - 1,
        }
    }

    /// Distinct (segment, period) cells of a history, in order of first
    /// appearance, each with the index of its first visit.
    pub fn distinct_cells<E>(&mut self, history: &[Visit<E>], ctx: &WalkCtx) -> Vec<(u32, i32, usize)> {
        self.calls = self.calls.wrapping_add(1);
        if self.calls == 0 {
            // Wrapped: stamps of 2^32 calls ago would read as this call's.
            self.seen.fill(0);
            self.calls = 1;
        }
        let mut cells: Vec<(u32, i32, usize)> = Vec::new();
        // Off the grid, a short history scans its few cells; a long one (a big
        // customer across many segments) needs a set, or the walk turns quadratic.
        let mut off_grid: Vec<(u32, i32)> = Vec::new();
        let mut set: Option<hashbrown::HashSet<(u32, i32), foldhash::fast::FixedState>> = None;
        for (i, v) in history.iter().enumerate() {
            let ord = ctx.ord(v.day);
            let new = match self.grid.and_then(|g| g.slot(v.key, ord)) {
                Some(slot) => std::mem::replace(&mut self.seen[slot], self.calls) != self.calls,
                None => match &mut set {
                    Some(set) => set.insert((v.key, ord)),
                    None if off_grid.len() < 16 => {
                        let new = !off_grid.contains(&(v.key, ord));
                        if new {
                            off_grid.push((v.key, ord));
                        }
                        new
                    }
                    None => {
                        let set = set.insert(off_grid.iter().copied().collect());
                        set.insert((v.key, ord))
                    }
                },
            };
            if new {
                cells.push((v.key, ord, i));
            }
        }
        cells
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
    /// Whether the walk sees one day's visits in segment rank order, because
    /// it reads which segment came first (a cohort's segment). Walks whose
    /// result does not depend on the order within a day say false, and
    /// histories are only put in day order for them: with a million segments
    /// most customers with two orders a day had theirs sorted.
    const SAME_DAY_BY_SEGMENT: bool = true;
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
    /// The KPI as a row KPI, for calls by the customer column alone: each
    /// customer is then a segment of their own, and a KPI whose walk reads
    /// little of a history may be a plain aggregate of each cell's rows,
    /// with no history kept or walked. `date`: the call's date column
    /// (index, name, reader; `None` in a plan that only finalises). `None`
    /// (the default) keeps the walk.
    fn by_customer(&self, _date: Option<&DateColumn>) -> Option<Box<dyn DynKpi>> {
        None
    }
}

/// Whether a row with date `day` (and a null customer or not) is a visit:
/// if not, why is recorded in `diag`. The one rule for the rows every
/// per-customer KPI leaves out, whether it walks histories or is a row KPI
/// by customer ([`EntityKpi::by_customer`]).
pub(crate) fn visit_kept(
    day: i32,
    null_customer: bool,
    date_name: &str,
    customer_name: &str,
    diag: &mut Diagnostics,
) -> bool {
    if day == NULL_DAY {
        diag.record_uncounted(date_name, "with a null date", || "null".to_string());
    } else if !in_year_range(day) {
        // A history spanning millions of days is garbage, and its day arithmetic overflows.
        diag.record_uncounted(date_name, "with a date outside the years 0001-9999", || format_day(day));
    } else if null_customer {
        diag.record_uncounted(customer_name, "with a null customer", || "null".to_string());
    } else {
        return true;
    }
    false
}

/// A call's date column: its index, its name and how its values read as days.
pub type DateColumn = (usize, String, DateReader);

/// A chunk's visits with chunk-local customer and key codes; also the form a
/// history travels in inside a partial result.
#[derive(serde::Serialize, serde::Deserialize)]
struct ChunkVisits<E> {
    customers: Distinct,
    visits: Vec<Visit<E>>,
}

/// All visits so far, with global customer and key ids: one block per chunk
/// (in chunk order), so that the history never moves as it grows; the visits
/// of small chunks wait in `pending` until they fill a block together.
struct History<E> {
    /// Global ids of the customers whose id is a short string (or null), by
    /// tiny key, and of all others, by value: a customer is always found in
    /// the same one (see [`History::customer_ids`]).
    tiny: FastMap<u64, u32>,
    index: FastMap<KeyValue, u32>,
    blocks: Vec<Block<E>>,
    pending: Vec<Visit<E>>,
}

impl<E: Copy> History<E> {
    /// Global ids of a chunk's customers (index = chunk code), new customers
    /// numbered in the order they come.
    fn customer_ids(&mut self, customers: Distinct) -> Vec<u32> {
        let (tiny, index) = (&mut self.tiny, &mut self.index);
        let id_of_tiny = |tiny: &mut FastMap<u64, u32>, key: u64, others: usize| {
            let next = (tiny.len() + others) as u32;
            *tiny.entry(key).or_insert(next)
        };
        match customers {
            Distinct::Tiny(keys) => keys.into_iter().map(|k| id_of_tiny(tiny, k, index.len())).collect(),
            Distinct::Values(values) => values
                .into_iter()
                .map(|v| match tiny_key(&v) {
                    Some(k) => id_of_tiny(tiny, k, index.len()),
                    None => {
                        let next = (tiny.len() + index.len()) as u32;
                        *index.entry(v).or_insert(next)
                    }
                })
                .collect(),
        }
    }

    /// Every customer, index = global id.
    fn customers(&self) -> Vec<KeyValue> {
        let mut customers = vec![KeyValue::Null; self.tiny.len() + self.index.len()];
        for (&key, &id) in &self.tiny {
            customers[id as usize] = tiny_value(key);
        }
        for (customer, &id) in &self.index {
            customers[id as usize] = customer.clone();
        }
        customers
    }

    /// The blocks, the pending visits as the last one.
    fn into_blocks(self) -> (Vec<Block<E>>, usize) {
        let History { tiny, index, mut blocks, pending } = self;
        if !pending.is_empty() {
            blocks.push(Block::new(&pending));
        }
        (blocks, tiny.len() + index.len())
    }
}

/// Visits a block holds at least (but the last): a block's bucket starts
/// take 8 KiB, which streamed batches of a few rows each would multiply.
const MIN_BLOCK_VISITS: usize = 8 * BUCKETS;

/// The chunks' visits (in order) cut into runs of at least
/// [`MIN_BLOCK_VISITS`], each to become one block: a big chunk after no
/// pending visits is a run as it is (`Run::Chunk`, by its index, still in
/// chunk-local ids); smaller ones join `pending`, renumbered by
/// `renumber(chunk index, visit)`, which keeps what is left over.
fn block_runs<E: Copy>(
    pending: &mut Vec<Visit<E>>,
    chunks: &[Vec<Visit<E>>],
    renumber: impl Fn(usize, Visit<E>) -> Visit<E>,
) -> Vec<Run<E>> {
    let mut runs = Vec::new();
    for (i, chunk) in chunks.iter().enumerate().filter(|(_, c)| !c.is_empty()) {
        if pending.is_empty() && chunk.len() >= MIN_BLOCK_VISITS {
            runs.push(Run::Chunk(i));
            continue;
        }
        pending.extend(chunk.iter().map(|&v| renumber(i, v)));
        if pending.len() >= MIN_BLOCK_VISITS {
            runs.push(Run::Pending(std::mem::take(pending)));
        }
    }
    runs
}

/// The visits of one block to be: a whole chunk's, or pending visits of several.
enum Run<E> {
    Chunk(usize),
    Pending(Vec<Visit<E>>),
}

/// The object-safe face of [`EntityKpi`], implemented once for all of them.
pub trait DynEntity: Send + Sync {
    fn default_date(&self) -> Option<&str>;
    fn row_filter(&self, schema: &Schema) -> Vec<Condition>;
    fn needs_period(&self) -> bool;
    fn observed_dates(&self) -> Vec<String>;
    fn bind(&mut self, schema: &Schema) -> Result<()>;
    /// The customer column's name.
    fn customer_column(&self) -> &str;
    /// Visits of one chunk; a cell of `crate::keys::SKIP` drops a row (filtered, or no period).
    /// `customers`: when the customer column is the only `by` column, its
    /// distinct values as the chunk's keys, whose codes are `key_codes`
    /// (the column is then not encoded a second time).
    #[allow(clippy::too_many_arguments)]
    fn extract(
        &self,
        batch: &RecordBatch,
        key_codes: &[u32],
        customers: Option<Distinct>,
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
    /// vector of `position.len()` states where cell c's state is at
    /// `position[c]` (its output row): placed in output order, the states
    /// need no second vector to be put in order.
    fn place(
        &self,
        parts: Vec<Box<dyn Any + Send>>,
        maps: &[Vec<u32>],
        position: &[u32],
    ) -> Box<dyn Any + Send>;
    fn fields(&self) -> Vec<Field>;
    /// Finalises the states [`DynEntity::place`] put in output order and frees them.
    fn finalize(&self, states: &mut dyn Any, ctx: &Ctx) -> Vec<ArrayRef>;
    /// Bytes of one state (the engine finalises the largest first).
    fn state_size(&self) -> usize;
    /// [`EntityKpi::by_customer`].
    fn by_customer(&self, date: Option<&DateColumn>) -> Option<Box<dyn DynKpi>>;
}

/// The cells one group of customers' walks wrote, and their states.
pub struct WalkPart {
    pub cells: Vec<(u32, i32)>,
    pub states: Box<dyn Any + Send>,
}

/// Customers are kept in 2^10 buckets by the low bits of their id (`customer
/// % BUCKETS`): each chunk's visits are partitioned as the chunk is absorbed,
/// while they are in cache, so that the walk finds a bucket's visits without
/// a pass over the whole history. (Partitioning the whole history at the
/// end wrote every visit once more, to fresh memory, at a tenth of a scan.)
const BUCKET_BITS: u32 = 10;
const BUCKETS: usize = 1 << BUCKET_BITS;

/// A walking task ends once it holds 1/TASKS_PER_WALK of all visits (and at
/// least MIN_TASK_VISITS): enough tasks to balance the threads, and few, as
/// each task's cells are mapped to global cells one by one on one thread
/// afterwards. (Tasks of at most 2048 customers made 1024 tasks of up to
/// 12,000 cells each at 100M streamed orders: 20.0 s against 16.4 s now.)
const TASKS_PER_WALK: usize = 32;
const MIN_TASK_VISITS: usize = 1 << 15;

/// One chunk's visits (global ids), stably partitioned by bucket: bucket b
/// is `visits[starts[b]..starts[b + 1]]`.
struct Block<E> {
    visits: Vec<Visit<E>>,
    starts: Vec<usize>,
}

impl<E: Copy> Block<E> {
    fn new(visits: &[Visit<E>]) -> Self {
        Block::renumbered(visits, |v| v)
    }

    /// A block of `renumber(v)` for each of `visits`: a chunk's visits are
    /// renumbered to global ids as they are partitioned (renumbering them
    /// where they lay first read and wrote every visit once more).
    fn renumbered(visits: &[Visit<E>], renumber: impl Fn(Visit<E>) -> Visit<E>) -> Self {
        let (mut sorted, mut starts) = (Vec::new(), Vec::new());
        let bucket = |v: &Visit<E>| v.customer as usize % BUCKETS;
        counting_sort(|| visits.iter().map(|&v| renumber(v)), BUCKETS, bucket, &mut sorted, &mut starts);
        Block { visits: sorted, starts }
    }

    fn bucket(&self, b: usize) -> &[Visit<E>] {
        &self.visits[self.starts[b]..self.starts[b + 1]]
    }
}

/// The blocks of a history seen bucket by bucket: bucket b's visits are
/// every block's bucket b, in chunk order, so in input order.
struct Buckets<'a, E> {
    blocks: &'a [Block<E>],
    /// Customers with the same bucket: ids b, b + BUCKETS, b + 2 BUCKETS, ...
    per_bucket: usize,
}

impl<'a, E: Copy + Send + Sync> Buckets<'a, E> {
    fn new(blocks: &'a [Block<E>], customers: usize) -> Self {
        Buckets { blocks, per_bucket: customers.div_ceil(BUCKETS) }
    }

    /// Groups of consecutive buckets, the units of parallel walking: a group
    /// ends once it holds a [`TASKS_PER_WALK`]th of the visits. They depend on
    /// the data only (not on the thread count), so the walks' states merge
    /// alike however many threads run.
    fn groups(&self) -> Vec<std::ops::Range<usize>> {
        let total: usize = self.blocks.iter().map(|b| b.visits.len()).sum();
        if total == 0 {
            return Vec::new();
        }
        let target = total.div_ceil(TASKS_PER_WALK).max(MIN_TASK_VISITS);
        let mut groups = Vec::new();
        let (mut start, mut visits) = (0, 0);
        for b in 0..BUCKETS {
            visits += self.blocks.iter().map(|block| block.bucket(b).len()).sum::<usize>();
            if visits >= target {
                groups.push(start..b + 1);
                (start, visits) = (b + 1, 0);
            }
        }
        if start < BUCKETS {
            groups.push(start..BUCKETS);
        }
        groups
    }

    /// Call `f` with each customer's visits (in input order) of the buckets
    /// in `range`, bucket by bucket, customers of a bucket in id order.
    /// `sorted` and `starts` are scratch.
    fn for_each_customer(
        &self,
        range: std::ops::Range<usize>,
        sorted: &mut Vec<Visit<E>>,
        starts: &mut Vec<usize>,
        mut f: impl FnMut(&[Visit<E>]),
    ) {
        let width = self.per_bucket;
        for b in range {
            // The next bucket's visits load while this one is counted: each
            // block holds a short run of them, too short for the hardware
            // prefetcher to pick up, so the count pass waited on memory.
            if b + 1 < BUCKETS {
                self.blocks.iter().for_each(|block| prefetch(block.bucket(b + 1)));
            }
            let parts = || self.blocks.iter().flat_map(move |block| block.bucket(b));
            // By customer within the bucket (small: it stays in cache).
            counting_sort(|| parts().copied(), width, |v| v.customer as usize / BUCKETS, sorted, starts);
            for c in 0..width {
                if starts[c] < starts[c + 1] {
                    f(&sorted[starts[c]..starts[c + 1]]);
                }
            }
        }
    }
}

/// A stable counting sort of the visits `visits()` yields (it is called
/// twice: to count, then to place) by `key(visit) < keys`, into `out`, with
/// where each key's run starts in `starts` (`keys + 1` offsets).
fn counting_sort<E: Copy, I: Iterator<Item = Visit<E>>>(
    visits: impl Fn() -> I,
    keys: usize,
    key: impl Fn(&Visit<E>) -> usize,
    out: &mut Vec<Visit<E>>,
    starts: &mut Vec<usize>,
) {
    starts.clear();
    starts.resize(keys + 1, 0);
    for v in visits() {
        starts[key(&v) + 1] += 1;
    }
    for k in 0..keys {
        starts[k + 1] += starts[k];
    }
    // Written straight into the spare capacity: filling `out` first (as
    // `resize` would) wrote every visit's bytes one more time.
    out.clear();
    let total = starts[keys];
    out.reserve(total);
    let dst = &mut out.spare_capacity_mut()[..total];
    let mut next = starts[..keys].to_vec();
    for v in visits() {
        let slot = &mut next[key(&v)];
        dst[*slot].write(v);
        *slot += 1;
    }
    // Key k's run is written from starts[k] up, one slot per visit: when it
    // ends at starts[k + 1] for every k, all `total` slots are written.
    assert!(
        next.iter().zip(&starts[1..]).all(|(n, s)| n == s),
        "counting sort: both passes saw the same visits"
    );
    // SAFETY: the first `total` slots are initialised (checked just above).
    unsafe { out.set_len(total) };
}

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
    fn customer_column(&self) -> &str {
        self.customer()
    }
    fn extract(
        &self,
        batch: &RecordBatch,
        key_codes: &[u32],
        customers: Option<Distinct>,
        days: &[i32],
        cells: &[u32],
        date_name: &str,
        diag: &mut Diagnostics,
    ) -> Box<dyn Any + Send> {
        let mut own_codes = Vec::new();
        let (customers, codes) = match customers {
            Some(customers) => (customers, key_codes),
            None => {
                let index = batch.schema().index_of(self.customer()).expect("customer column bound");
                (encode_distinct(batch.column(index).as_ref(), &mut own_codes), &own_codes[..])
            }
        };
        let mut events = Vec::new();
        self.events(batch, &mut events, diag);
        let mut visits = Vec::with_capacity(batch.num_rows());
        let null_customer = customers.null_code();
        for_each_kept(cells, |row, _| {
            let (day, customer) = (days[row], codes[row]);
            if !visit_kept(day, Some(customer) == null_customer, date_name, self.customer(), diag) {
                return;
            }
            if let Some(event) = events[row] {
                visits.push(Visit { customer, key: key_codes[row], day, event });
            }
        });
        Box::new(ChunkVisits { customers, visits })
    }
    fn new_history(&self) -> Box<dyn Any + Send> {
        Box::new(History::<K::Event> {
            tiny: fast_map(1024),
            index: fast_map(0),
            blocks: Vec::new(),
            pending: Vec::new(),
        })
    }
    fn encode_history(&self, history: &dyn Any) -> crate::Result<Vec<u8>> {
        let history = history.downcast_ref::<History<K::Event>>().expect("history of the KPI's own type");
        let customers = Distinct::Values(history.customers());
        let blocks = history.blocks.iter().flat_map(|block| block.visits.iter());
        let visits: Vec<Visit<K::Event>> = blocks.chain(&history.pending).copied().collect();
        let visits = ChunkVisits { customers, visits };
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
        // customer of a chunk, on this thread).
        let (customers, visits): (Vec<Distinct>, Vec<_>) = chunks
            .into_iter()
            .map(|c| {
                let c = c.downcast::<ChunkVisits<K::Event>>().expect("visits of the KPI's own type");
                (c.customers, c.visits)
            })
            .unzip();
        let customer_maps: Vec<Vec<u32>> = customers.into_iter().map(|c| history.customer_ids(c)).collect();
        // Each chunk's visits are renumbered to global ids as they are
        // partitioned by bucket (small chunks together), in parallel across chunks.
        let renumber = |chunk: usize, v: Visit<K::Event>| Visit {
            customer: customer_maps[chunk][v.customer as usize],
            key: key_maps[chunk][v.key as usize],
            ..v
        };
        let runs = block_runs(&mut history.pending, &visits, renumber);
        let block = |run: &Run<K::Event>| match run {
            Run::Chunk(i) => Block::renumbered(&visits[*i], |v| renumber(*i, v)),
            Run::Pending(pending) => Block::new(pending),
        };
        let blocks: Vec<Block<K::Event>> = if parallel && runs.len() > 1 {
            runs.par_iter().map(block).collect()
        } else {
            runs.iter().map(block).collect()
        };
        history.blocks.extend(blocks);
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
        let (blocks, customers) = history.into_blocks();
        let buckets = Buckets::new(&blocks, customers);
        let walk_group = |group: std::ops::Range<usize>| {
            let mut sink = CellSink::for_grid(key_rank.len(), ctx.ord_range());
            let (mut sorted, mut starts) = (Vec::new(), Vec::new());
            buckets.for_each_customer(group, &mut sorted, &mut starts, |visits| {
                // Sorted by day, then segment rank where the walk reads it (a
                // customer's first segment must not depend on row order; see
                // SAME_DAY_BY_SEGMENT); input sorted by time and
                // segment needs no copy. Same-day visits of one segment keep
                // input order: the walks treat them alike.
                let order = |v: &Visit<K::Event>| {
                    (v.day, if K::SAME_DAY_BY_SEGMENT { key_rank[v.key as usize] } else { 0 })
                };
                let mut history = std::borrow::Cow::Borrowed(visits);
                if !history.windows(2).all(|w| order(&w[0]) <= order(&w[1])) {
                    history.to_mut().sort_by_key(order);
                }
                // Orders after as_of have not happened yet as far as the KPIs are concerned.
                let seen = history.partition_point(|v| v.day <= ctx.as_of);
                if seen > 0 {
                    EntityKpi::walk(self, &history[..seen], &mut sink, ctx);
                }
            });
            sink
        };
        let groups = buckets.groups();
        let sinks: Vec<CellSink<K::State>> = if parallel {
            groups.into_par_iter().map(walk_group).collect()
        } else {
            groups.into_iter().map(walk_group).collect()
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
    fn place(
        &self,
        parts: Vec<Box<dyn Any + Send>>,
        maps: &[Vec<u32>],
        position: &[u32],
    ) -> Box<dyn Any + Send> {
        let len = position.len();
        let mut placed = vec![K::State::default(); len];
        // A cell's first state moves in; states of the same cell from later groups merge.
        let mut filled = vec![false; len];
        for (states, map) in parts.into_iter().zip(maps) {
            let states = states.downcast::<Vec<K::State>>().expect("walk states of the KPI's own type");
            for (k, (state, &m)) in states.into_iter().zip(map).enumerate() {
                // Output rows are asked for ahead: a group's customers write
                // all over the output, which with a million cells is more
                // memory than the cache holds (place was a tenth of the orders
                // call at 10^6 segments, waiting on one miss after another).
                if let Some(&ahead) = map.get(k + GATHER_AHEAD) {
                    let ahead = position[ahead as usize] as usize;
                    prefetch(std::slice::from_ref(&placed[ahead]));
                    prefetch(std::slice::from_ref(&filled[ahead]));
                }
                let m = position[m as usize] as usize;
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
    fn finalize(&self, states: &mut dyn Any, ctx: &Ctx) -> Vec<ArrayRef> {
        let all = states.downcast_mut::<Vec<K::State>>().expect("states of the KPI's own type");
        crate::engine::finalize_and_free(all, |refs| EntityKpi::finalize(self, refs, ctx))
    }
    fn state_size(&self) -> usize {
        std::mem::size_of::<K::State>()
    }
    fn by_customer(&self, date: Option<&DateColumn>) -> Option<Box<dyn DynKpi>> {
        EntityKpi::by_customer(self, date)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The blocks a history would hold: one per chunk.
    fn blocks<E: Copy>(chunks: &[&[Visit<E>]]) -> Vec<Block<E>> {
        chunks.iter().map(|c| Block::new(c)).collect()
    }

    #[test]
    fn customers_come_out_whole_in_bucket_order_and_input_order() {
        // Skewed customers (one big one), in a scrambled order.
        let mut seed = 7u64;
        let mut next = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) as u32
        };
        // Fewer customers than buckets, and more (several per bucket).
        for customers in [50u32, 5_000] {
            let visits: Vec<Visit<u32>> = (0..20_000)
                .map(|i| {
                    let customer = if i % 3 == 0 { 7 } else { next() % customers };
                    Visit { customer, key: next() % 4, day: (next() % 100) as i32, event: i }
                })
                .collect();
            // Bucket by bucket, customers of a bucket by id, each customer's visits in input order.
            let mut want = visits.clone();
            want.sort_by_key(|v| (v.customer as usize % BUCKETS, v.customer));
            let events = |v: &[Visit<u32>]| v.iter().map(|v| (v.customer, v.event)).collect::<Vec<_>>();
            // One block per chunk, of uneven sizes.
            let chunks: Vec<&[Visit<u32>]> =
                [0, 1, 700, 2_000, 19_999, 20_000].windows(2).map(|w| &visits[w[0]..w[1]]).collect();
            let blocks = blocks(&chunks);
            let buckets = Buckets::new(&blocks, customers as usize);
            let (mut sorted, mut starts, mut got) = (Vec::new(), Vec::new(), Vec::new());
            for group in buckets.groups() {
                buckets.for_each_customer(group, &mut sorted, &mut starts, |run| {
                    assert!(run.iter().all(|v| v.customer == run[0].customer));
                    got.extend(events(run));
                });
            }
            assert_eq!(got, events(&want), "{customers} customers");
        }
        let none = Buckets::<u32>::new(&[], 0);
        assert!(none.groups().is_empty());
        let empty = blocks::<u32>(&[&[]]);
        assert!(Buckets::new(&empty, 0).groups().is_empty());
    }

    #[test]
    fn small_chunks_share_blocks_in_order() {
        let visit = |i: u32| Visit { customer: i, key: 0, day: 0, event: i };
        let chunk = |from: u32, n: u32| (from..from + n).map(visit).collect::<Vec<_>>();
        let small = (MIN_BLOCK_VISITS / 3) as u32;
        let big = MIN_BLOCK_VISITS as u32;
        let mut pending = Vec::new();
        // Small chunks join until they fill a run; an empty chunk is skipped;
        // a big chunk with pending visits joins them too.
        let chunks = vec![chunk(0, small), chunk(small, 0), chunk(small, small), chunk(2 * small, big)];
        // Pending visits are renumbered as they join: here event += 1000 * chunk.
        let renumber = |i: usize, v: Visit<u32>| Visit { event: v.event + 1000 * i as u32, ..v };
        let runs = block_runs(&mut pending, &chunks, renumber);
        let events = |v: &[Visit<u32>]| v.iter().map(|v| v.event).collect::<Vec<_>>();
        assert_eq!(runs.len(), 1);
        let Run::Pending(run) = &runs[0] else { panic!("small chunks make a pending run") };
        let want: Vec<u32> = (0..small)
            .chain((small..2 * small).map(|e| e + 2000))
            .chain((2 * small..2 * small + big).map(|e| e + 3000))
            .collect();
        assert_eq!(events(run), want);
        assert!(pending.is_empty());
        // A big chunk alone is a run as it is (by index); what is left over waits.
        let chunks = vec![chunk(0, big), chunk(big, 5)];
        let runs = block_runs(&mut pending, &chunks, renumber);
        assert_eq!(runs.len(), 1);
        assert!(matches!(runs[0], Run::Chunk(0)));
        assert_eq!(events(&pending), (big + 1000..big + 1005).collect::<Vec<_>>());
        // A chunk's own block holds its visits renumbered, by bucket.
        let block = Block::renumbered(&chunks[0], |v| renumber(7, v));
        let mut got = events(&block.visits);
        got.sort_unstable();
        assert_eq!(got, (7000..7000 + big).collect::<Vec<_>>());
        let runs = [block];
        // Walked, the pending visits come last, as one more block.
        let history = History { tiny: fast_map(8), index: fast_map(8), blocks: runs.into(), pending };
        let (all, _) = history.into_blocks();
        assert_eq!(all.len(), 2);
        assert_eq!(all.iter().map(|b| b.visits.len()).sum::<usize>(), big as usize + 5);
    }

    #[test]
    fn groups_split_big_customers() {
        // Customers 0-9 (the first ids: first appearance gives big customers
        // the first ids) hold 200,000 of 300,000 visits.
        let visits: Vec<Visit<()>> = (0..300_000u32)
            .map(|i| {
                let customer = if i < 200_000 { i % 10 } else { 10 + i % 4_990 };
                Visit { customer, key: 0, day: 0, event: () }
            })
            .collect();
        let chunks: Vec<&[Visit<()>]> = visits.chunks(65_536).collect();
        let blocks = blocks(&chunks);
        let buckets = Buckets::new(&blocks, 5_000);
        let size = |r: std::ops::Range<usize>| -> usize {
            r.map(|b| blocks.iter().map(|block| block.bucket(b).len()).sum::<usize>()).sum()
        };
        let groups = buckets.groups();
        // Consecutive, covering every bucket, each visit once.
        assert_eq!(groups.first().unwrap().start, 0);
        assert!(groups.windows(2).all(|w| w[0].end == w[1].start));
        assert_eq!(groups.last().unwrap().end, BUCKETS);
        assert_eq!(groups.iter().map(|g| size(g.clone())).sum::<usize>(), 300_000);
        // No group goes on past the target visits: 20,000 visits of a big
        // customer and the next bucket's reach 32,768.
        for g in &groups {
            assert!(size(g.start..g.end - 1) < MIN_TASK_VISITS, "{g:?}");
        }
        assert!(groups.iter().all(|g| size(g.clone()) < 60_000), "{groups:?}");
        assert!(groups.len() >= 5, "{groups:?}");
    }

    #[test]
    fn a_customer_keeps_its_id_as_tiny_key_or_value() {
        let mut history =
            History::<()> { tiny: fast_map(0), index: fast_map(0), blocks: Vec::new(), pending: Vec::new() };
        let tiny = |s: &str| tiny_key(&KeyValue::Str(s.into())).expect("short");
        let first = history.customer_ids(Distinct::Tiny(vec![tiny("C1"), tiny("C2")]));
        assert_eq!(first, [0, 1]);
        // A chunk with a long id comes as plain values: its short ids are the same customers.
        let values = ["a customer id longer than 7", "C2", "C3", "C1"].map(|s| KeyValue::Str(s.into()));
        let second = history.customer_ids(Distinct::Values(values.to_vec()));
        assert_eq!(second, [2, 1, 3, 0]);
        let third = history.customer_ids(Distinct::Tiny(vec![tiny("C3"), tiny("C4")]));
        assert_eq!(third, [3, 4]);
        let customers: Vec<KeyValue> = ["C1", "C2", "a customer id longer than 7", "C3", "C4"]
            .iter()
            .map(|s| KeyValue::Str((*s).into()))
            .collect();
        assert_eq!(history.customers(), customers);
    }

    #[derive(Clone, Default, serde::Serialize, serde::Deserialize)]
    struct Tally(u64);
    impl State for Tally {
        fn merge(&mut self, other: &Self) {
            self.0 += other.0;
        }
    }

    /// Histories of customers 0, 1, 2, ... of up to 39 visits, in keys 0-7
    /// and on days -1 to 10, from a fixed-seed generator.
    fn random_customers(mut seed: u64) -> impl FnMut() -> Vec<Visit<()>> {
        let mut next = move || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) as u32
        };
        let mut customer = 0;
        move || {
            customer += 1;
            let len = (next() % 40) as usize;
            (0..len)
                .map(|_| Visit {
                    customer: customer - 1,
                    key: next() % 8,
                    day: (next() % 12) as i32 - 1,
                    event: (),
                })
                .collect()
        }
    }

    #[test]
    fn grid_cells_match_mapped_cells() {
        let mut customers = random_customers(11);
        // Days 0-99 by 10-day periods: ordinals 0-9, a 7 x 10 grid; cells
        // past either edge (key 7, ord -1 or 10) go through the map.
        let ctx =
            WalkCtx::new(Some(Periods::new(crate::period::PeriodUnit::Day, 1).unwrap()), 99, Some((0, 9)));
        assert_eq!(ctx.ord_range(), Some((0, 9)));
        let mut plain: CellSink<Tally> = CellSink::new();
        let mut grid: CellSink<Tally> = CellSink::for_grid(7, ctx.ord_range());
        assert!(grid.grid.is_some());
        for _ in 0..300 {
            let history = customers();
            let cells = plain.distinct_cells(&history, &ctx);
            assert_eq!(cells, grid.distinct_cells(&history, &ctx));
            for (key, ord, _) in cells {
                plain.at(key, ord).0 += 1;
                grid.at(key, ord).0 += 1;
                grid.at(key, ord + 1).0 += 2;
                plain.at(key, ord + 1).0 += 2;
            }
        }
        assert_eq!(plain.cells, grid.cells);
        assert!(plain.cells.iter().any(|&(k, o)| k == 7 || !(0..=9).contains(&o)));
        assert_eq!(
            plain.states.iter().map(|s| s.0).collect::<Vec<_>>(),
            grid.states.iter().map(|s| s.0).collect::<Vec<_>>()
        );
        // Too big a grid, or no tabulated days: the map alone.
        assert!(CellSink::<Tally>::for_grid(1 << 20, Some((0, 9))).grid.is_none());
        assert!(CellSink::<Tally>::for_grid(7, None).grid.is_none());
    }

    #[test]
    fn distinct_writes_merge_to_the_looked_up_states() {
        let mut customers = random_customers(5);
        let ctx =
            WalkCtx::new(Some(Periods::new(crate::period::PeriodUnit::Day, 1).unwrap()), 99, Some((0, 9)));
        // A 7 x 10 grid (cells past its edges off it), and the map alone.
        let sinks = || -> [CellSink<Tally>; 2] { [CellSink::for_grid(7, ctx.ord_range()), CellSink::new()] };
        let (mut looked_up, mut distinct) = (sinks(), sinks());
        for _ in 0..300 {
            let history = customers();
            for (a, b) in looked_up.iter_mut().zip(&mut distinct) {
                for (key, ord, i) in a.distinct_cells(&history, &ctx) {
                    a.at(key, ord).0 += 1 + i as u64;
                }
                for (key, ord, i) in b.distinct_cells(&history, &ctx) {
                    b.at_distinct(key, ord).0 += 1 + i as u64;
                }
            }
        }
        let merged = |sink: &CellSink<Tally>| {
            let mut by_cell = std::collections::BTreeMap::new();
            for (cell, state) in sink.cells.iter().zip(&sink.states) {
                *by_cell.entry(*cell).or_insert(0) += state.0;
            }
            by_cell
        };
        for (a, b) in looked_up.iter().zip(&distinct) {
            assert_eq!(merged(a), merged(b));
        }
        // On the grid a cell has one state either way; off it, one per customer.
        assert_eq!(looked_up[0].cells.len(), merged(&looked_up[0]).len());
        assert!(distinct[0].cells.len() > merged(&distinct[0]).len());
        assert_eq!(distinct[1].cells.len(), distinct[1].states.len());
        assert!(distinct[1].cells.len() > looked_up[1].cells.len());
    }
}
