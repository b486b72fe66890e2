//! Segment keys: one or several `by` columns of any common type turned into
//! dense, chunk-local group ids, and back into output columns.
//!
//! Each chunk encodes its own rows (hashing borrowed values, no allocation per
//! row); only its distinct keys are materialised as [`KeyValue`]s, which the
//! engine maps to global ids when it merges chunk states.
use std::cmp::Ordering;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, StringBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, ArrayRef, ArrowPrimitiveType};
use arrow_schema::{DataType, Schema, TimeUnit};
use hashbrown::HashMap;

use crate::error::{Error, Result};
use crate::ingest::{self, find_column, prefetch_rows, prefetch_string_rows, rows_ahead, AHEAD_ROWS};

pub(crate) type FastMap<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

pub(crate) fn fast_map<K, V>(capacity: usize) -> FastMap<K, V> {
    HashMap::with_capacity_and_hasher(capacity, foldhash::fast::FixedState::with_seed(0x6b70_6966))
}

/// A chunk's map that reaches `PROBE_ROWS / 2` values within its first
/// `PROBE_ROWS` rows is judged to gain a value on most rows (see [`presize`]).
const PROBE_ROWS: usize = 4096;

/// Called once, with the map of a chunk's first `probe` rows (of `rows`):
/// a map that holds `PROBE_ROWS / 2` values or more by then (a key per
/// customer, 10⁵ segments) is sized at once for the values the rest of the
/// chunk will add at that rate, instead of doubling and rehashing five more
/// times; a map of a few hundred reps stays small, and in cache.
fn presize<K: Eq + std::hash::Hash, V>(map: &mut FastMap<K, V>, probe: usize, rows: usize) {
    if map.len() >= PROBE_ROWS / 2 && probe > 0 {
        map.reserve((rows - probe) * map.len() / probe);
    }
}

/// Ids of integer keys (one integer `by` column's values). Keys in a range,
/// as customer and rep numbers mostly are, are found in a table by their
/// offset from the least, with no hashing and no probing: with a key per
/// customer the hash map's lookups and its rehashing as it grew were most of
/// mapping the keys. Keys spread wider than a few slots per key move to a map.
#[derive(Default)]
pub(crate) struct IntIndex {
    /// The least key the table covers, and the id of key `lo + i` (or [`ABSENT_ID`]).
    lo: i64,
    slots: Vec<u32>,
    /// The keys, once they are too spread out for the table.
    map: Option<FastMap<i64, u32>>,
    len: usize,
}

const ABSENT_ID: u32 = u32::MAX;

/// The table gives way to the map when it would need more slots than this
/// many per key (and more than [`DENSE_FLOOR`] in all).
const SLOTS_PER_KEY: usize = 4;
const DENSE_FLOOR: usize = 1 << 16;

impl IntIndex {
    /// The id of `key`; a new key gets `next()`.
    #[inline]
    pub(crate) fn id(&mut self, key: i64, next: impl FnOnce() -> u32) -> u32 {
        if let Some(map) = &mut self.map {
            let len = &mut self.len;
            return *map.entry(key).or_insert_with(|| {
                *len += 1;
                next()
            });
        }
        // A key below `lo` wraps to an offset far past any table.
        if key.wrapping_sub(self.lo) as u64 >= self.slots.len() as u64 && !self.cover(key, 0) {
            return self.id(key, next);
        }
        let slot = &mut self.slots[key.wrapping_sub(self.lo) as u64 as usize];
        if *slot == ABSENT_ID {
            *slot = next();
            self.len += 1;
        }
        *slot
    }

    /// Up to `more` keys in `lo..=hi` are about to come: cover them at once
    /// (or move to the map if they are too spread out). Keys that arrive in
    /// no particular order span their whole range from the first few, so
    /// judging the table by the keys seen so far would give it up at once.
    pub(crate) fn prepare(&mut self, lo: i64, hi: i64, more: usize) {
        if self.map.is_some() || lo > hi {
            return;
        }
        for key in [lo, hi] {
            if key.wrapping_sub(self.lo) as u64 >= self.slots.len() as u64 && !self.cover(key, more) {
                break;
            }
        }
    }

    /// Grow the table to cover `key` (at least doubling, so growing stays
    /// linear), or move to the map if that makes it too sparse for the keys
    /// it holds and the `more` announced. `true` when the table covers `key`.
    #[cold]
    fn cover(&mut self, key: i64, more: usize) -> bool {
        if self.slots.is_empty() {
            self.lo = key;
        }
        let hi =
            if self.slots.is_empty() { key } else { self.lo.saturating_add(self.slots.len() as i64 - 1) };
        let (lo, hi) = (self.lo.min(key), hi.max(key));
        let span = i128::from(hi) - i128::from(lo) + 1;
        let limit = ((self.len + more + 1) * SLOTS_PER_KEY).max(DENSE_FLOOR);
        if span > limit as i128 {
            let mut map = fast_map(self.len.max(1024) * 2);
            for (i, &id) in self.slots.iter().enumerate() {
                if id != ABSENT_ID {
                    map.insert(self.lo + i as i64, id);
                }
            }
            self.map = Some(map);
            self.slots = Vec::new();
            return false;
        }
        let span = span as usize;
        let len = span.max(2 * self.slots.len()).min(limit.max(span));
        // Room on the side the new key is on; the other side stays put.
        let new_lo = if key < self.lo { hi.saturating_sub(len as i64 - 1) } else { lo };
        let mut slots = vec![ABSENT_ID; len];
        if !self.slots.is_empty() {
            let at = (self.lo - new_lo) as usize;
            slots[at..at + self.slots.len()].copy_from_slice(&self.slots);
        }
        self.lo = new_lo;
        self.slots = slots;
        true
    }
}

/// A string of at most 16 bytes as plain integers, for hashing and comparing
/// without touching the bytes again: with its length known, two overlapping
/// little-endian words (or half-words, or three bytes) cover it exactly, so
/// equal keys mean equal strings. Ids, codes and names are mostly this short,
/// and with one lookup per row the byte comparison (a `memcmp` call) cost as
/// much as the hashing. `None` for longer strings.
#[inline]
fn short_key(s: &str) -> Option<(u64, u64, u32)> {
    let b = s.as_bytes();
    let n = b.len();
    let word = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"));
    let half = |at: usize| u64::from(u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes")));
    let (lo, hi) = match n {
        0 => (0, 0),
        1..=3 => (u64::from(b[0]) | u64::from(b[n / 2]) << 8 | u64::from(b[n - 1]) << 16, 0),
        4..=7 => (half(0), half(n - 4)),
        8..=16 => (word(0), word(n - 8)),
        _ => return None,
    };
    Some((lo, hi, n as u32))
}

/// Marks a row that belongs to no cell (filtered out, or invalid date).
/// All ones, so that `cell | SKIP == SKIP` (filters mark rows without a branch).
pub const SKIP: u32 = u32::MAX;

/// Call `f(row, cell)` for every row whose cell is not [`SKIP`], in row order.
/// Each block's kept rows are listed first, without a branch per row: a
/// filter that keeps one row in three made a test-and-skip per row
/// mispredict about as often as it ran.
#[inline]
pub fn for_each_kept(cells: &[u32], f: impl FnMut(usize, u32)) {
    for_each_kept_ahead(cells, |_| {}, f);
}

/// [`for_each_kept`], calling `ahead(rows)` with the rows of the next block
/// before each block is read, to prefetch the columns `f` reads (see
/// [`crate::ingest::for_each_block_ahead`]).
#[inline]
pub fn for_each_kept_ahead(
    cells: &[u32],
    mut ahead: impl FnMut(std::ops::Range<usize>),
    mut f: impl FnMut(usize, u32),
) {
    const BLOCK: usize = AHEAD_ROWS;
    let mut kept = [0u8; BLOCK];
    for (b, block) in cells.chunks(BLOCK).enumerate() {
        if let Some(rows) = rows_ahead(b * BLOCK, cells.len()) {
            ahead(rows);
        }
        let mut n = 0;
        for (i, &cell) in block.iter().enumerate() {
            // n <= i < BLOCK: the write is always in bounds.
            kept[n] = i as u8;
            n += usize::from(cell != SKIP);
        }
        for &i in &kept[..n] {
            let i = usize::from(i);
            f(b * BLOCK + i, block[i]);
        }
    }
}

/// One segment value. Within a column all values share a variant (or are Null).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum KeyValue {
    Int(i64),
    UInt(u64),
    Float(f64),
    Bool(bool),
    Str(Box<str>),
    Null,
}

impl KeyValue {
    fn rank(&self) -> u8 {
        match self {
            KeyValue::Int(_) => 0,
            KeyValue::UInt(_) => 1,
            KeyValue::Float(_) => 2,
            KeyValue::Bool(_) => 3,
            KeyValue::Str(_) => 4,
            KeyValue::Null => 5,
        }
    }
}

impl PartialEq for KeyValue {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for KeyValue {}
impl PartialOrd for KeyValue {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
/// Sort order of the output: values ascending, null last.
impl Ord for KeyValue {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (KeyValue::Int(a), KeyValue::Int(b)) => a.cmp(b),
            (KeyValue::UInt(a), KeyValue::UInt(b)) => a.cmp(b),
            (KeyValue::Float(a), KeyValue::Float(b)) => a.total_cmp(b),
            (KeyValue::Bool(a), KeyValue::Bool(b)) => a.cmp(b),
            (KeyValue::Str(a), KeyValue::Str(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}
impl Hash for KeyValue {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.rank().hash(state);
        match self {
            KeyValue::Int(v) => v.hash(state),
            KeyValue::UInt(v) => v.hash(state),
            KeyValue::Float(v) => v.to_bits().hash(state),
            KeyValue::Bool(v) => v.hash(state),
            KeyValue::Str(v) => v.hash(state),
            KeyValue::Null => {}
        }
    }
}

/// A `by` column resolved against the schema.
#[derive(Clone, Debug)]
pub struct KeyColumn {
    pub name: String,
    pub index: usize,
    /// The type of the output column (dictionaries come out as their values' type).
    pub out_type: DataType,
}

/// Resolve the `by` columns, checking that each has a type we can segment on.
pub fn resolve(schema: &Schema, by: &[String]) -> Result<Vec<KeyColumn>> {
    let mut seen = std::collections::HashSet::new();
    by.iter()
        .map(|name| {
            if !seen.insert(name) {
                return Err(Error::param(format!("by= lists column '{name}' twice")));
            }
            let index = find_column(schema, name, "by")?;
            let dt = schema.field(index).data_type();
            let out_type = key_out_type(dt).ok_or_else(|| {
                Error::column(
                    name,
                    format!(
                        "column '{name}' (by=) has type {dt}, which cannot be a segment key; \
                         use strings, integers, booleans, dates or a dictionary/categorical column"
                    ),
                )
            })?;
            Ok(KeyColumn { name: name.clone(), index, out_type })
        })
        .collect()
}

pub(crate) fn key_out_type(dt: &DataType) -> Option<DataType> {
    Some(match dt {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => DataType::Utf8,
        DataType::Dictionary(_, v) => return key_out_type(v),
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64
        | DataType::Float32
        | DataType::Float64
        | DataType::Boolean
        | DataType::Date32
        | DataType::Date64
        | DataType::Timestamp(_, _)
        | DataType::Null => dt.clone(),
        _ => return None,
    })
}

/// Distinct keys in a chunk's first [`PROBE_ROWS`] rows from which
/// [`encode_tiny_strings`] takes the chunk for a key per row.
const NEW_KEY_ROWS: usize = PROBE_ROWS * 7 / 8;

/// Longest string [`encode_tiny_strings`] takes: its bytes and its length fit one u64.
const TINY_MAX: usize = 7;
/// A null row's tiny key, and an empty slot of [`TinyTable`]: no string has
/// them (a tiny key's top byte is its length, at most 7).
const TINY_NULL: u64 = u64::MAX;
const TINY_EMPTY: u64 = u64::MAX - 1;

/// Open-addressing table of tiny keys (linear probing, at most a quarter
/// full): one multiply, one load and one compare per row when the key is
/// there. Keys and codes lie apart, so that the probed keys are 8 bytes a
/// slot: with a few hundred reps, half-full slots of (key, code) made one
/// lookup in four probe again (a mispredicted branch), and a quarter-full
/// one of those left the table twice the size.
struct TinyTable {
    /// Per slot: its key, or [`TINY_EMPTY`].
    keys: Vec<u64>,
    /// Per slot: its key's code.
    codes: Vec<u32>,
    shift: u32,
    len: usize,
}

impl TinyTable {
    fn new(bits: u32) -> Self {
        TinyTable { keys: vec![TINY_EMPTY; 1 << bits], codes: vec![0; 1 << bits], shift: 64 - bits, len: 0 }
    }

    #[inline(always)]
    fn home(&self, key: u64) -> usize {
        // Folded 128-bit product: every key byte reaches the top bits.
        let p = u128::from(key) * 0x9E37_79B9_7F4A_7C15;
        (((p >> 64) as u64 ^ p as u64) >> self.shift) as usize
    }

    /// The key's code, or the empty slot where it goes.
    #[inline(always)]
    fn find(&self, key: u64) -> Result<u32, usize> {
        let mask = self.keys.len() - 1;
        let mut at = self.home(key);
        loop {
            let k = self.keys[at];
            if k == key {
                return Ok(self.codes[at]);
            }
            if k == TINY_EMPTY {
                return Err(at);
            }
            at = (at + 1) & mask;
        }
    }

    /// Puts a new key in the empty slot `at` that [`TinyTable::find`] gave.
    #[inline(never)]
    fn insert(&mut self, at: usize, key: u64, code: u32) {
        (self.keys[at], self.codes[at]) = (key, code);
        self.len += 1;
        if self.len * 4 > self.keys.len() {
            self.reserve(self.len);
        }
    }

    /// Room for `keys` keys in all, at most a quarter full (one rehash).
    #[cold]
    fn reserve(&mut self, keys: usize) {
        let bits = (4 * keys + 1).next_power_of_two().trailing_zeros();
        if bits <= 64 - self.shift {
            return;
        }
        let old = std::mem::replace(self, TinyTable::new(bits));
        self.len = old.len;
        for (&key, &code) in old.keys.iter().zip(&old.codes).filter(|&(&k, _)| k != TINY_EMPTY) {
            if let Err(at) = self.find(key) {
                (self.keys[at], self.codes[at]) = (key, code);
            }
        }
    }
}

/// A short string's tiny key (see [`encode_tiny_strings`]), and a null's;
/// `None` for any other value.
pub(crate) fn tiny_key(value: &KeyValue) -> Option<u64> {
    match value {
        KeyValue::Null => Some(TINY_NULL),
        KeyValue::Str(s) if s.len() <= TINY_MAX => {
            let mut bytes = [0u8; 8];
            bytes[..s.len()].copy_from_slice(s.as_bytes());
            Some(u64::from_le_bytes(bytes) | ((s.len() as u64) << 56))
        }
        _ => None,
    }
}

/// The value a tiny key stands for: its low `length` bytes, read back as the
/// string they were taken from.
pub(crate) fn tiny_value(key: u64) -> KeyValue {
    if key == TINY_NULL {
        return KeyValue::Null;
    }
    let n = (key >> 56) as usize;
    let bytes = key.to_le_bytes();
    let s = std::str::from_utf8(&bytes[..n]).expect("a tiny key holds the bytes of a string");
    KeyValue::Str(s.into())
}

/// A chunk's distinct values of one column, index = code. Short strings
/// stay tiny keys (a u64 each, no allocation): a key per customer made one
/// string allocation per customer per chunk, and hashing it again where the
/// chunks are merged.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum Distinct {
    /// Every value a string of at most [`TINY_MAX`] bytes, or null.
    Tiny(Vec<u64>),
    Values(Vec<KeyValue>),
}

impl Distinct {
    /// The code of the null value, if the chunk has one.
    pub fn null_code(&self) -> Option<u32> {
        let at = match self {
            Distinct::Tiny(keys) => keys.iter().position(|&k| k == TINY_NULL),
            Distinct::Values(values) => values.iter().position(|v| matches!(v, KeyValue::Null)),
        };
        at.map(|p| p as u32)
    }

    pub fn into_values(self) -> Vec<KeyValue> {
        match self {
            Distinct::Tiny(keys) => keys.into_iter().map(tiny_value).collect(),
            Distinct::Values(values) => values,
        }
    }
}

/// [`encode_column`] for a `Utf8`/`LargeUtf8` column whose values (null
/// slots included) are all at most [`TINY_MAX`] bytes, as ids and codes
/// mostly are ("R001", "C000101", "portal"); `None` for any other, left to
/// [`encode_strings`]. Each value is read as one unaligned word masked to its
/// length, with the length in the top byte: equal keys mean equal strings,
/// without hashing or comparing bytes.
fn encode_tiny_strings<O: arrow_array::OffsetSizeTrait>(
    a: &arrow_array::GenericStringArray<O>,
    codes: &mut Vec<u32>,
) -> Option<Vec<u64>> {
    let offsets = a.value_offsets();
    let data: &[u8] = a.value_data();
    let nulls = a.nulls().filter(|n| n.null_count() > 0);
    let mut values = Vec::new();
    let mut table = TinyTable::new(11);
    // Codes are written in place (a push kept the vector's length in memory,
    // stored on every row), rows in runs of PROBE_ROWS so that the table can
    // be sized after the first.
    codes.clear();
    codes.resize(a.len(), 0);
    let mut row = 0;
    for run in codes.chunks_mut(PROBE_ROWS) {
        let bounds = offsets[row..=row + run.len()].windows(2);
        for (out, (w, i)) in run.iter_mut().zip(bounds.zip(row..)) {
            if let Some(rows) = rows_ahead(i, a.len()) {
                // The column comes from memory: offsets and bytes asked for ahead.
                prefetch_string_rows(offsets, data, rows);
            }
            let (start, end) = (w[0].as_usize(), w[1].as_usize());
            let n = end - start;
            if n > TINY_MAX {
                // A longer value: the caller starts again with encode_strings,
                // so a chunk of tiny values with one long one late is encoded twice.
                codes.clear();
                return None;
            }
            let word = match data.get(start..start + 8) {
                Some(bytes) => u64::from_le_bytes(bytes.try_into().expect("8 bytes")),
                None => {
                    // The last values of the buffer: fewer than 8 bytes follow them.
                    let mut bytes = [0u8; 8];
                    bytes[..n].copy_from_slice(&data[start..end]);
                    u64::from_le_bytes(bytes)
                }
            };
            let key = if nulls.is_some_and(|nb| nb.is_null(i)) {
                TINY_NULL
            } else {
                (word & ((1u64 << (8 * n)) - 1)) | ((n as u64) << 56)
            };
            *out = match table.find(key) {
                Ok(code) => code,
                Err(at) => {
                    let code = values.len() as u32;
                    values.push(key);
                    table.insert(at, key, code);
                    code
                }
            };
        }
        if row == 0 && table.len >= NEW_KEY_ROWS {
            // A new key on nearly every row so far (a key per row, 10^5
            // segments and more): size the table once for the rest of the
            // chunk (see presize).
            table.reserve(table.len * a.len() / run.len());
        } else if row == 0 && table.len >= PROBE_ROWS / 4 {
            // Keys that repeat, many of them (customers: in chunks of orders
            // 1,764-1,910 in the first 4,096 rows and 4,921-6,260 in 65,536;
            // of responses 2,587-2,908 and 6,454-11,931): room for four times
            // as many, instead of four doublings. Sized for the whole chunk at
            // the first rows' rate, the table was 3 MiB where 0.4-0.8 MiB
            // held the chunk's keys, and filling it and missing the cache in
            // it was a third of encoding responses by customer.
            table.reserve(4 * table.len);
        }
        row += run.len();
    }
    Some(values)
}

/// Slots of [`encode_strings`]' cache of recent short keys (2^bits): enough
/// for a chunk's reps or partners to mostly hit (64 KiB, set once per chunk).
const CACHE_BITS: u32 = 11;
const CACHE_SLOTS: usize = 1 << CACHE_BITS;

/// [`encode_column`] for a string column (one loop per Arrow flavour, so
/// reading a value is not a dispatch per row). Short values go through
/// [`short_key`]: first a small direct-mapped cache (key columns have few
/// distinct values in a chunk, and a hit costs a multiply and a compare),
/// then the chunk's map; long ones are hashed as strings.
fn encode_strings<'a>(
    len: usize,
    nulls: Option<&arrow_buffer::NullBuffer>,
    value: impl Fn(usize) -> &'a str,
    mut ahead: impl FnMut(std::ops::Range<usize>),
    codes: &mut Vec<u32>,
) -> Vec<KeyValue> {
    let mut short: FastMap<(u64, u64, u32), u32> = fast_map(64);
    let mut long: FastMap<&str, u32> = fast_map(0);
    // (key, code) per slot; the length u32::MAX marks an empty slot (no short key has it).
    let mut cache = vec![((0u64, 0u64, u32::MAX), 0u32); CACHE_SLOTS];
    let mut values = Vec::new();
    let mut null_code = None;
    let nulls = nulls.filter(|n| n.null_count() > 0);
    for i in 0..len {
        if let Some(rows) = rows_ahead(i, len) {
            // The column comes from memory: asked for ahead.
            ahead(rows);
        }
        if nulls.is_some_and(|n| n.is_null(i)) {
            let code = *null_code.get_or_insert_with(|| {
                values.push(KeyValue::Null);
                values.len() as u32 - 1
            });
            codes.push(code);
            continue;
        }
        let v = value(i);
        let next = values.len() as u32;
        let new = || {
            values.push(KeyValue::Str(v.into()));
            next
        };
        let code = match short_key(v) {
            Some(key) => {
                let (lo, hi, n) = key;
                let mixed = (lo ^ hi.rotate_left(29) ^ u64::from(n)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                let slot = &mut cache[(mixed >> (64 - CACHE_BITS)) as usize];
                if slot.0 == key {
                    slot.1
                } else {
                    let code = *short.entry(key).or_insert_with(new);
                    *slot = (key, code);
                    code
                }
            }
            None => *long.entry(v).or_insert_with(new),
        };
        codes.push(code);
    }
    values
}

/// Encode one column of a chunk: per-row codes into `codes`, and the distinct
/// values (index = code) returned.
pub fn encode_column(array: &dyn Array, codes: &mut Vec<u32>) -> Vec<KeyValue> {
    encode_distinct(array, codes).into_values()
}

/// [`encode_column`], with a column of short strings left as tiny keys.
pub fn encode_distinct(array: &dyn Array, codes: &mut Vec<u32>) -> Distinct {
    let tiny = match array.data_type() {
        DataType::Utf8 => encode_tiny_strings(array.as_string::<i32>(), codes),
        DataType::LargeUtf8 => encode_tiny_strings(array.as_string::<i64>(), codes),
        _ => None,
    };
    match tiny {
        Some(keys) => Distinct::Tiny(keys),
        None => Distinct::Values(encode_values(array, codes)),
    }
}

fn encode_values(array: &dyn Array, codes: &mut Vec<u32>) -> Vec<KeyValue> {
    codes.clear();
    codes.reserve(array.len());
    match array.data_type() {
        DataType::Utf8 => {
            let a = array.as_string::<i32>();
            let ahead = |rows| prefetch_string_rows(a.value_offsets(), a.value_data(), rows);
            encode_strings(a.len(), a.nulls(), |i| a.value(i), ahead, codes)
        }
        DataType::LargeUtf8 => {
            let a = array.as_string::<i64>();
            let ahead = |rows| prefetch_string_rows(a.value_offsets(), a.value_data(), rows);
            encode_strings(a.len(), a.nulls(), |i| a.value(i), ahead, codes)
        }
        DataType::Utf8View => {
            let a = array.as_string_view();
            let ahead = |rows| prefetch_rows(a.views(), rows);
            encode_strings(a.len(), a.nulls(), |i| a.value(i), ahead, codes)
        }
        DataType::Dictionary(kt, _) => {
            let dict = array.as_any_dictionary();
            // Encode the (small) dictionary once, then map each row's key through it.
            let mut dict_codes = Vec::new();
            let mut values = encode_column(dict.values().as_ref(), &mut dict_codes);
            let null_code = |values: &mut Vec<KeyValue>| -> u32 {
                match values.iter().position(|v| matches!(v, KeyValue::Null)) {
                    Some(p) => p as u32,
                    None => {
                        values.push(KeyValue::Null);
                        (values.len() - 1) as u32
                    }
                }
            };
            if dict.values().is_empty() {
                // No dictionary values (an all-null categorical): every row is null.
                codes.resize(array.len(), 0);
                return vec![KeyValue::Null];
            }
            let keys = dict.normalized_keys();
            let nulls = array.logical_nulls();
            let mut null_id = None;
            let _ = kt;
            for (i, &k) in keys.iter().enumerate() {
                if nulls.as_ref().is_some_and(|n| n.is_null(i)) {
                    let id = *null_id.get_or_insert_with(|| null_code(&mut values));
                    codes.push(id);
                } else {
                    codes.push(dict_codes[k]);
                }
            }
            values
        }
        DataType::Null => {
            codes.resize(array.len(), 0);
            vec![KeyValue::Null]
        }
        DataType::Boolean => {
            let a = array.as_boolean();
            let mut values = Vec::new();
            let mut ids: [u32; 3] = [SKIP; 3];
            for i in 0..a.len() {
                let (slot, v) = if a.is_null(i) {
                    (2, KeyValue::Null)
                } else {
                    let b = a.value(i);
                    (usize::from(b), KeyValue::Bool(b))
                };
                if ids[slot] == SKIP {
                    ids[slot] = values.len() as u32;
                    values.push(v);
                }
                codes.push(ids[slot]);
            }
            values
        }
        DataType::Int8 => encode_int::<Int8Type>(array, codes, |v| KeyValue::Int(v as i64)),
        DataType::Int16 => encode_int::<Int16Type>(array, codes, |v| KeyValue::Int(v as i64)),
        DataType::Int32 => encode_int::<Int32Type>(array, codes, |v| KeyValue::Int(v as i64)),
        DataType::Int64 => encode_int::<Int64Type>(array, codes, KeyValue::Int),
        DataType::UInt8 => encode_int::<UInt8Type>(array, codes, |v| KeyValue::UInt(v as u64)),
        DataType::UInt16 => encode_int::<UInt16Type>(array, codes, |v| KeyValue::UInt(v as u64)),
        DataType::UInt32 => encode_int::<UInt32Type>(array, codes, |v| KeyValue::UInt(v as u64)),
        DataType::UInt64 => encode_int::<UInt64Type>(array, codes, KeyValue::UInt),
        DataType::Date32 => encode_int::<Date32Type>(array, codes, |v| KeyValue::Int(v as i64)),
        DataType::Date64 => encode_int::<Date64Type>(array, codes, KeyValue::Int),
        DataType::Timestamp(TimeUnit::Second, _) => {
            encode_int::<TimestampSecondType>(array, codes, KeyValue::Int)
        }
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            encode_int::<TimestampMillisecondType>(array, codes, KeyValue::Int)
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            encode_int::<TimestampMicrosecondType>(array, codes, KeyValue::Int)
        }
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            encode_int::<TimestampNanosecondType>(array, codes, KeyValue::Int)
        }
        DataType::Float32 => {
            encode_int::<Float32Type>(array, codes, |v| KeyValue::Float(canonical(v as f64)))
        }
        DataType::Float64 => encode_int::<Float64Type>(array, codes, |v| KeyValue::Float(canonical(v))),
        other => unreachable!("key type {other} was rejected by keys::resolve"),
    }
}

/// One NaN and one zero, so equal-looking keys group together.
pub(crate) fn canonical(v: f64) -> f64 {
    if v.is_nan() {
        f64::NAN
    } else if v == 0.0 {
        0.0
    } else {
        v
    }
}

/// Primitive values hashed through their bits (a float key uses its canonical bits).
trait Bits: Copy {
    fn bits(self) -> u64;
    /// The value as an i64 of the same order, for integers that have one.
    fn ordinal(self) -> Option<i64> {
        None
    }
}
macro_rules! bits_int {
    ($($t:ty),*) => {$(impl Bits for $t {
        #[inline(always)]
        fn bits(self) -> u64 { self as u64 }
        #[inline(always)]
        fn ordinal(self) -> Option<i64> { i64::try_from(self).ok() }
    })*};
}
bits_int!(i8, i16, i32, i64, u8, u16, u32, u64);
impl Bits for f32 {
    fn bits(self) -> u64 {
        canonical(self as f64).to_bits()
    }
}
impl Bits for f64 {
    fn bits(self) -> u64 {
        canonical(self).to_bits()
    }
}

/// Slots a row the direct table of [`encode_int_dense`] may take.
const ENCODE_SLOTS_PER_ROW: usize = 16;

/// [`encode_int`] for integers within a range of at most
/// [`ENCODE_SLOTS_PER_ROW`] slots a row (or 2^12 slots: a stream of small
/// batches must not fill a big table per batch): each value's code is
/// found in a table at its offset from the least, with no hashing. With a key
/// per customer a chunk's keys are mostly distinct and spread over the
/// range of ids; hashing each row was most of encoding them. `None` (nothing
/// written) for floats, wider ranges and u64 values past i64.
fn encode_int_dense<T: ArrowPrimitiveType>(
    a: &arrow_array::PrimitiveArray<T>,
    codes: &mut Vec<u32>,
    to_key: &impl Fn(T::Native) -> KeyValue,
) -> Option<Vec<KeyValue>>
where
    T::Native: Bits,
{
    let vals = a.values();
    vals.first()?.ordinal()?;
    // Over every slot, nulls' too: what lies under a null only widens the range.
    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
    for &v in vals.iter() {
        let x = v.ordinal()?;
        (lo, hi) = (lo.min(x), hi.max(x));
    }
    let span = i128::from(hi) - i128::from(lo) + 1;
    if span > (1i128 << 12).max((vals.len() * ENCODE_SLOTS_PER_ROW) as i128) {
        return None;
    }
    const ABSENT: u32 = u32::MAX;
    let mut table = vec![ABSENT; span as usize];
    let mut values = Vec::new();
    let mut code_of = |values: &mut Vec<KeyValue>, v: T::Native| {
        // In range: every value was read above.
        let slot = &mut table[(v.ordinal().unwrap_or(lo) - lo) as usize];
        if *slot == ABSENT {
            *slot = values.len() as u32;
            values.push(to_key(v));
        }
        *slot
    };
    match a.nulls().filter(|n| n.null_count() > 0) {
        None => codes.extend(vals.iter().map(|&v| code_of(&mut values, v))),
        Some(nulls) => {
            let mut null_code = None;
            for (i, &v) in vals.iter().enumerate() {
                let code = if nulls.is_null(i) {
                    *null_code.get_or_insert_with(|| {
                        values.push(KeyValue::Null);
                        values.len() as u32 - 1
                    })
                } else {
                    code_of(&mut values, v)
                };
                codes.push(code);
            }
        }
    }
    Some(values)
}

fn encode_int<T: ArrowPrimitiveType>(
    array: &dyn Array,
    codes: &mut Vec<u32>,
    to_key: impl Fn(T::Native) -> KeyValue,
) -> Vec<KeyValue>
where
    T::Native: Bits,
{
    let a = array.as_primitive::<T>();
    if let Some(values) = encode_int_dense(a, codes, &to_key) {
        return values;
    }
    let mut map: FastMap<Option<u64>, u32> = fast_map(64);
    let mut values = Vec::new();
    let nulls = a.nulls().filter(|n| n.null_count() > 0);
    let mut encode = |map: &mut FastMap<Option<u64>, u32>, i: usize, v: T::Native| {
        let k = if nulls.is_some_and(|n| n.is_null(i)) { None } else { Some(v.bits()) };
        let next = values.len() as u32;
        let code = *map.entry(k).or_insert_with(|| {
            values.push(k.map_or(KeyValue::Null, |_| to_key(v)));
            next
        });
        codes.push(code);
    };
    // Two loops, so that the rows after the probe pay no test for it.
    let probe = PROBE_ROWS.min(a.len());
    for (i, &v) in a.values()[..probe].iter().enumerate() {
        encode(&mut map, i, v);
    }
    presize(&mut map, probe, a.len());
    for (i, &v) in a.values().iter().enumerate().skip(probe) {
        encode(&mut map, i, v);
    }
    values
}

/// Slots a row the direct table of [`combine`] may take before it hashes instead.
const COMBINE_SLOTS_PER_ROW: usize = 16;

/// Combine two code vectors into dense codes of the pair, keeping [`SKIP`].
/// Returns the pairs (a, b) in order of first appearance (index = new code).
pub fn combine(a: &[u32], b: &[u32], card_b: usize, out: &mut Vec<u32>) -> Vec<(u32, u32)> {
    let rows = a.len().min(b.len());
    // Written in place (a push kept the vector's length in memory, stored on every row).
    out.clear();
    out.resize(rows, SKIP);
    let (a, b) = (&a[..rows], &b[..rows]);
    if card_b == 1 && b.iter().all(|&y| y == 0) {
        // One value of `b` (a chunk within one period, every row dated):
        // when `a`'s codes already come in order of first appearance, they
        // are the pairs' codes. Checked without a branch per row: a chunk
        // with a key per customer had a mispredicted one on each new key.
        let (mut next, mut out_of_order) = (0u32, false);
        for &x in a {
            out_of_order |= x > next;
            next += u32::from(x == next);
        }
        if !out_of_order {
            out.copy_from_slice(a);
            return (0..next).map(|x| (x, 0)).collect();
        }
    }
    let mut pairs = Vec::new();
    let card_a = a.iter().filter(|&&x| x != SKIP).max().map_or(0, |&m| m as usize + 1);
    let product = card_a.saturating_mul(card_b);
    if product <= (1 << 16).max(rows * COMBINE_SLOTS_PER_ROW) {
        // Small product: a direct table, no hashing. With a key per row (10⁶
        // segments) a chunk's keys times a few years of quarters is about ten
        // slots a row: the table (4 MB at most for a chunk) is still faster
        // than hashing every row.
        let mut table = vec![SKIP; product];
        for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
            if x == SKIP || y == SKIP {
                continue;
            }
            let slot = &mut table[x as usize * card_b + y as usize];
            if *slot == SKIP {
                *slot = pairs.len() as u32;
                pairs.push((x, y));
            }
            *o = *slot;
        }
    } else {
        let mut map: FastMap<u64, u32> = fast_map(1024);
        let mut pair = |map: &mut FastMap<u64, u32>, o: &mut u32, x: u32, y: u32| {
            if x == SKIP || y == SKIP {
                return;
            }
            let next = pairs.len() as u32;
            *o = *map.entry(((x as u64) << 32) | y as u64).or_insert_with(|| {
                pairs.push((x, y));
                next
            });
        };
        // Two loops, so that the rows after the probe pay no test for it.
        let probe = PROBE_ROWS.min(rows);
        let (head, tail) = out.split_at_mut(probe);
        head.iter_mut().zip(a).zip(b).for_each(|((o, &x), &y)| pair(&mut map, o, x, y));
        presize(&mut map, probe, rows);
        tail.iter_mut().zip(&a[probe..]).zip(&b[probe..]).for_each(|((o, &x), &y)| pair(&mut map, o, x, y));
    }
    pairs
}

/// Distinct key tuples of `width` values each, stored flat (tuple i is
/// `values[i * width..(i + 1) * width]`): no allocation per tuple, and a single
/// `by` column is just its values.
#[derive(Clone, Debug, Default)]
pub struct KeyTuples {
    width: usize,
    len: usize,
    values: Vec<KeyValue>,
}

impl KeyTuples {
    pub fn new(width: usize) -> Self {
        KeyTuples { width, len: 0, values: Vec::new() }
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn get(&self, i: usize) -> &[KeyValue] {
        &self.values[i * self.width..(i + 1) * self.width]
    }
    pub fn reserve(&mut self, tuples: usize) {
        self.values.reserve(tuples * self.width);
    }
    /// Append a tuple, moving its values out of `tuple` (left as nulls).
    pub fn push_taken(&mut self, tuple: &mut [KeyValue]) {
        debug_assert_eq!(tuple.len(), self.width);
        self.values.extend(tuple.iter_mut().map(|v| std::mem::replace(v, KeyValue::Null)));
        self.len += 1;
    }
    /// Tuple i, mutable (to move its values out with [`KeyTuples::push_taken`]).
    pub fn get_mut(&mut self, i: usize) -> &mut [KeyValue] {
        &mut self.values[i * self.width..(i + 1) * self.width]
    }
    /// The tuples as boxed slices (the partial-result encoding), and back.
    pub fn to_boxed(&self) -> Vec<Box<[KeyValue]>> {
        (0..self.len).map(|i| self.get(i).to_vec().into_boxed_slice()).collect()
    }
    pub fn from_boxed(width: usize, tuples: &[Box<[KeyValue]>]) -> Self {
        let mut out = KeyTuples::new(width);
        for t in tuples {
            out.push_taken(&mut t.to_vec());
        }
        out
    }
}

/// A chunk's distinct keys (index = code): one `by` column of short strings
/// stays tiny keys ([`Distinct::Tiny`]), so that a key per customer costs no
/// string per chunk; any other as key tuples.
pub enum ChunkKeys {
    Tiny(Vec<u64>),
    Tuples(KeyTuples),
}

impl ChunkKeys {
    pub fn len(&self) -> usize {
        match self {
            ChunkKeys::Tiny(keys) => keys.len(),
            ChunkKeys::Tuples(tuples) => tuples.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The distinct values of a single `by` column, as [`encode_distinct`]
    /// gives them for that column (with the same codes); `None` for several columns.
    pub fn single_column(&self) -> Option<Distinct> {
        match self {
            ChunkKeys::Tiny(keys) => Some(Distinct::Tiny(keys.clone())),
            ChunkKeys::Tuples(tuples) if tuples.width == 1 => Some(Distinct::Values(tuples.values.clone())),
            ChunkKeys::Tuples(_) => None,
        }
    }
}

/// [`encode_keys`], with one column of short strings left as tiny keys.
pub fn encode_chunk_keys(columns: &[&dyn Array], rows: usize, codes: &mut Vec<u32>) -> ChunkKeys {
    if let [one] = columns {
        return match encode_distinct(*one, codes) {
            Distinct::Tiny(keys) => ChunkKeys::Tiny(keys),
            Distinct::Values(values) => ChunkKeys::Tuples(KeyTuples { width: 1, len: values.len(), values }),
        };
    }
    ChunkKeys::Tuples(encode_keys(columns, rows, codes))
}

/// Encode all `by` columns of a chunk into one code per row and the distinct
/// key tuples (index = code). With no `by` columns every row has code 0.
pub fn encode_keys(columns: &[&dyn Array], rows: usize, codes: &mut Vec<u32>) -> KeyTuples {
    match columns {
        [] => {
            codes.clear();
            codes.resize(rows, 0);
            KeyTuples { width: 0, len: 1, values: Vec::new() }
        }
        [one] => {
            let values = encode_column(*one, codes);
            KeyTuples { width: 1, len: values.len(), values }
        }
        [first, rest @ ..] => {
            let mut values: Vec<Vec<KeyValue>> =
                encode_column(*first, codes).into_iter().map(|v| vec![v]).collect();
            let mut col_codes = Vec::new();
            let mut combined = Vec::new();
            for column in rest {
                let distinct = encode_column(*column, &mut col_codes);
                let pairs = combine(codes, &col_codes, distinct.len(), &mut combined);
                values = pairs
                    .into_iter()
                    .map(|(a, b)| {
                        let mut tuple = values[a as usize].clone();
                        tuple.push(distinct[b as usize].clone());
                        tuple
                    })
                    .collect();
                std::mem::swap(codes, &mut combined);
            }
            KeyTuples {
                width: columns.len(),
                len: values.len(),
                values: values.into_iter().flatten().collect(),
            }
        }
    }
}

/// Each key's rank in output order (values ascending, null last). Keys are
/// distinct, so an unstable sort is exact; a single integer or string column
/// (the usual `by=`) is sorted by its values without the enum in the way.
pub fn rank(keys: &KeyTuples) -> Vec<u32> {
    fn ranks(order: impl Iterator<Item = u32>, n: usize) -> Vec<u32> {
        let mut rank = vec![0u32; n];
        for (r, k) in order.enumerate() {
            rank[k as usize] = r as u32;
        }
        rank
    }
    let n = keys.len();
    let single = |i: usize| match keys.get(i) {
        [one] => Some(one),
        _ => None,
    };
    if keys.width == 1 && n > 1 {
        // One read (ahead of use: with a key per row, 10⁶ segments, this is a
        // phase of its own) tells whether the keys are integers or null, and
        // their range. Nulls rank last, in id order.
        let values = &keys.values[..n];
        let (mut ints, mut lo, mut hi) = (true, i64::MAX, i64::MIN);
        ingest::for_each_block_ahead(
            n,
            |rows| prefetch_rows(values, rows),
            |rows| {
                for v in &values[rows] {
                    match v {
                        KeyValue::Int(x) => (lo, hi) = (lo.min(*x), hi.max(*x)),
                        KeyValue::Null => {}
                        _ => ints = false,
                    }
                }
            },
        );
        if ints {
            // Integer ids packed in a range (the usual case) are placed by
            // value; others are sorted.
            if let Some(rank) = rank_dense_ints(values, lo, hi) {
                return rank;
            }
            // Each i64 as a u64 of the same order (sign bit flipped).
            let mut nulls = Vec::new();
            let mut pairs: Vec<(u64, u32)> = Vec::with_capacity(n);
            for (i, v) in values.iter().enumerate() {
                match v {
                    KeyValue::Int(v) => pairs.push(((*v as u64) ^ (1 << 63), i as u32)),
                    _ => nulls.push(i as u32),
                }
            }
            radix_sort_by_key(&mut pairs);
            return ranks(pairs.into_iter().map(|(_, i)| i).chain(nulls), n);
        }
    }
    let single_str = (0..n).all(|i| matches!(single(i), Some(KeyValue::Str(_) | KeyValue::Null)));
    if single_str && n > 1 {
        let mut pairs: Vec<(Option<&str>, u32)> = (0..n)
            .map(|i| match single(i) {
                Some(KeyValue::Str(v)) => (Some(&**v), i as u32),
                _ => (None, i as u32),
            })
            .collect();
        // Null last.
        pairs.sort_unstable_by(|a, b| match (a.0, b.0) {
            (Some(x), Some(y)) => x.cmp(y),
            (x, y) => y.is_some().cmp(&x.is_some()),
        });
        return ranks(pairs.into_iter().map(|(_, i)| i), n);
    }
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.sort_unstable_by(|&a, &b| keys.get(a as usize).cmp(keys.get(b as usize)));
    ranks(order.into_iter(), n)
}

/// The ranks of distinct integer (or null) keys whose values lie in
/// `lo..=hi`, when that range is at most four times their number: each id is
/// put in a table at its value's offset and read back in value order, with
/// no sort; nulls last, in id order. `None` when the range is wider (or, which
/// distinct keys never do, two share a value).
fn rank_dense_ints(values: &[KeyValue], lo: i64, hi: i64) -> Option<Vec<u32>> {
    let n = values.len();
    let span = if lo <= hi { (i128::from(hi) - i128::from(lo)) as u128 + 1 } else { 0 };
    if span > 4 * n as u128 || span >= u128::from(u32::MAX) {
        return None;
    }
    let mut slot = vec![u32::MAX; span as usize];
    let mut nulls = Vec::new();
    for (i, v) in values.iter().enumerate() {
        if let Some(rows) = rows_ahead(i, n) {
            prefetch_rows(values, rows);
        }
        match v {
            KeyValue::Int(v) => {
                let s = slot.get_mut(v.wrapping_sub(lo) as u64 as usize)?;
                if *s != u32::MAX {
                    return None;
                }
                *s = i as u32;
            }
            _ => nulls.push(i as u32),
        }
    }
    let mut rank = vec![0u32; n];
    let in_order = slot.into_iter().filter(|&i| i != u32::MAX).chain(nulls);
    for (r, i) in in_order.enumerate() {
        rank[i as usize] = r as u32;
    }
    Some(rank)
}

/// Sort `(key, id)` pairs by key (ties keep their order): a least-significant
/// digit radix sort, a byte a pass, skipping the bytes every key shares, so a
/// million ids within 2^24 of each other take three linear passes. On the
/// 2-core VM the comparison sort of a million keys took 44 ms on one thread.
fn radix_sort_by_key(pairs: &mut Vec<(u64, u32)>) {
    if pairs.len() < 1 << 12 {
        pairs.sort_by_key(|p| p.0);
        return;
    }
    let first = pairs[0].0;
    let varying = pairs.iter().fold(0u64, |v, &(k, _)| v | (k ^ first));
    let shifts: Vec<u32> = (0..8).map(|b| 8 * b).filter(|&s| (varying >> s) & 0xff != 0).collect();
    // Every pass's histogram in one read of the keys.
    let mut counts = vec![[0usize; 256]; shifts.len()];
    for &(k, _) in pairs.iter() {
        for (c, &shift) in counts.iter_mut().zip(&shifts) {
            c[((k >> shift) & 0xff) as usize] += 1;
        }
    }
    let mut other = vec![(0u64, 0u32); pairs.len()];
    for (count, &shift) in counts.iter().zip(&shifts) {
        let mut next = [0usize; 256];
        let mut sum = 0;
        for (n, c) in next.iter_mut().zip(count) {
            *n = sum;
            sum += c;
        }
        for &pair in pairs.iter() {
            let slot = &mut next[((pair.0 >> shift) & 0xff) as usize];
            other[*slot] = pair;
            *slot += 1;
        }
        std::mem::swap(pairs, &mut other);
    }
}

/// Build an output column of type `dt` from the key values of one `by` column.
pub fn build_column<'a>(dt: &DataType, values: impl Iterator<Item = &'a KeyValue>) -> ArrayRef {
    fn prim<'a, T: ArrowPrimitiveType>(
        values: impl Iterator<Item = &'a KeyValue>,
        dt: &DataType,
        f: impl Fn(&KeyValue) -> Option<T::Native>,
    ) -> ArrayRef {
        // The values straight into a vector and the few nulls noted aside: no
        // builder call per row (a million keys is a million rows).
        let mut nulls = Vec::new();
        let data: Vec<T::Native> = values
            .enumerate()
            .map(|(j, v)| {
                f(v).unwrap_or_else(|| {
                    nulls.push(j);
                    T::Native::default()
                })
            })
            .collect();
        let validity = (!nulls.is_empty()).then(|| {
            let mut valid = arrow_buffer::BooleanBufferBuilder::new(data.len());
            valid.append_n(data.len(), true);
            nulls.iter().for_each(|&j| valid.set_bit(j, false));
            arrow_buffer::NullBuffer::new(valid.finish())
        });
        Arc::new(arrow_array::PrimitiveArray::<T>::new(data.into(), validity).with_data_type(dt.clone()))
    }
    let int = |v: &KeyValue| match v {
        KeyValue::Int(i) => Some(*i),
        _ => None,
    };
    let uint = |v: &KeyValue| match v {
        KeyValue::UInt(i) => Some(*i),
        _ => None,
    };
    let float = |v: &KeyValue| match v {
        KeyValue::Float(f) => Some(*f),
        _ => None,
    };
    match dt {
        DataType::Null => Arc::new(arrow_array::NullArray::new(values.count())),
        DataType::Utf8 => {
            let mut b = StringBuilder::new();
            values.for_each(|v| match v {
                KeyValue::Str(s) => b.append_value(&**s),
                _ => b.append_null(),
            });
            Arc::new(b.finish())
        }
        DataType::Boolean => {
            let mut b = BooleanBuilder::new();
            values.for_each(|v| match v {
                KeyValue::Bool(x) => b.append_value(*x),
                _ => b.append_null(),
            });
            Arc::new(b.finish())
        }
        DataType::Int8 => prim::<Int8Type>(values, dt, |v| int(v).map(|x| x as i8)),
        DataType::Int16 => prim::<Int16Type>(values, dt, |v| int(v).map(|x| x as i16)),
        DataType::Int32 => prim::<Int32Type>(values, dt, |v| int(v).map(|x| x as i32)),
        DataType::Int64 => prim::<Int64Type>(values, dt, int),
        DataType::UInt8 => prim::<UInt8Type>(values, dt, |v| uint(v).map(|x| x as u8)),
        DataType::UInt16 => prim::<UInt16Type>(values, dt, |v| uint(v).map(|x| x as u16)),
        DataType::UInt32 => prim::<UInt32Type>(values, dt, |v| uint(v).map(|x| x as u32)),
        DataType::UInt64 => prim::<UInt64Type>(values, dt, uint),
        DataType::Float32 => prim::<Float32Type>(values, dt, |v| float(v).map(|x| x as f32)),
        DataType::Float64 => prim::<Float64Type>(values, dt, float),
        DataType::Date32 => prim::<Date32Type>(values, dt, |v| int(v).map(|x| x as i32)),
        DataType::Date64 => prim::<Date64Type>(values, dt, int),
        DataType::Timestamp(TimeUnit::Second, _) => prim::<TimestampSecondType>(values, dt, int),
        DataType::Timestamp(TimeUnit::Millisecond, _) => prim::<TimestampMillisecondType>(values, dt, int),
        DataType::Timestamp(TimeUnit::Microsecond, _) => prim::<TimestampMicrosecondType>(values, dt, int),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => prim::<TimestampNanosecondType>(values, dt, int),
        other => unreachable!("output key type {other} not produced by keys::resolve"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiny_keys_round_trip_and_match_the_encoder() {
        let strings = ["", "a", "a\0", "R001", "C000101", "\u{e9}t\u{e9}", "1234567"];
        let array = StringArray::from(strings.iter().map(|s| Some(*s)).chain([None]).collect::<Vec<_>>());
        let mut codes = Vec::new();
        let Distinct::Tiny(keys) = encode_distinct(&array, &mut codes) else {
            panic!("short strings give tiny keys")
        };
        for (row, s) in strings.iter().enumerate() {
            let key = keys[codes[row] as usize];
            assert_eq!(Some(key), tiny_key(&KeyValue::Str((*s).into())), "{s:?}");
            assert_eq!(tiny_value(key), KeyValue::Str((*s).into()));
        }
        assert_eq!(tiny_value(keys[codes[strings.len()] as usize]), KeyValue::Null);
        assert_eq!(tiny_key(&KeyValue::Str("12345678".into())), None);
        assert_eq!(tiny_key(&KeyValue::Int(1)), None);
        // A longer value anywhere: plain values, the same as encode_column's.
        let long = StringArray::from(vec!["R001", "a much longer id", "R001"]);
        let distinct = encode_distinct(&long, &mut codes);
        assert!(matches!(distinct, Distinct::Values(_)));
        assert_eq!(distinct.into_values(), encode_column(&long, &mut codes));
    }

    #[test]
    fn for_each_kept_visits_the_kept_rows_in_order() {
        // Lengths around the block size, with every row kept, none, and a pattern.
        for len in [0, 1, 255, 256, 257, 1000] {
            for pattern in [|_: usize| true, |_: usize| false, |i: usize| (i * 7919) % 3 == 1] {
                let cells: Vec<u32> =
                    (0..len).map(|i| if pattern(i) { i as u32 * 2 } else { SKIP }).collect();
                let mut seen = Vec::new();
                for_each_kept(&cells, |row, cell| seen.push((row, cell)));
                let expected: Vec<(usize, u32)> =
                    cells.iter().enumerate().filter(|(_, &c)| c != SKIP).map(|(r, &c)| (r, c)).collect();
                assert_eq!(seen, expected, "len {len}");
            }
        }
    }

    #[test]
    fn short_keys_tell_strings_apart() {
        // Every length up to past the short limit, each string against the
        // same string with one byte changed, and against a longer neighbour.
        for n in 0..20 {
            let a: String = (0..n).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
            assert_eq!(short_key(&a), short_key(&a.clone()));
            assert_eq!(short_key(&a).is_some(), n <= 16);
            if n > 16 {
                continue;
            }
            for at in 0..n {
                let mut b = a.clone().into_bytes();
                b[at] = b'Z';
                assert_ne!(short_key(&a), short_key(std::str::from_utf8(&b).unwrap()), "{a}, byte {at}");
            }
            assert_ne!(short_key(&a), short_key(&format!("{a}a")));
            assert_ne!(short_key(&format!("{a}\0")), short_key(&a), "a trailing NUL is a byte");
        }
    }

    /// Codes from `encode_column` against a plain first-appearance map.
    fn check_codes(rows: &[Option<String>], array: &dyn Array) {
        let mut codes = Vec::new();
        let values = encode_column(array, &mut codes);
        let mut seen: std::collections::HashMap<Option<&str>, u32> = std::collections::HashMap::new();
        assert_eq!(codes.len(), rows.len());
        for (row, &code) in rows.iter().zip(&codes) {
            let next = seen.len() as u32;
            assert_eq!(code, *seen.entry(row.as_deref()).or_insert(next), "{row:?}");
            match (row, &values[code as usize]) {
                (None, KeyValue::Null) => {}
                (Some(s), KeyValue::Str(v)) => assert_eq!(s.as_str(), v.as_ref()),
                (r, v) => panic!("row {r:?} got {v:?}"),
            }
        }
        assert_eq!(values.len(), seen.len());
    }

    #[test]
    fn tiny_string_keys_match_a_plain_map() {
        // Values of 0 to 7 bytes (trailing NULs, a multibyte char), nulls,
        // thousands of distinct values (the table grows and is presized), the
        // buffer's last values (fewer than 8 bytes after them), a slice whose
        // offsets do not start at 0, LargeUtf8, and a longer value late in
        // the chunk (the encoder starts again on the general path).
        let mut x = 7u64;
        let mut next = move || {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (x >> 33) as usize
        };
        let pool = ["", "a", "a\0", "\0a", "ab", "é", "R001", "R0010", "C000101", "portal\0", "1234567"];
        for distinct in [3, 600, 20_000] {
            let rows: Vec<Option<String>> = (0..30_000)
                .map(|_| match next() % 50 {
                    0 => None,
                    1..=5 => Some(pool[next() % pool.len()].to_string()),
                    _ => Some(format!("k{}", next() % distinct)),
                })
                .collect();
            let utf8 = arrow_array::StringArray::from(rows.clone());
            check_codes(&rows, &utf8);
            check_codes(&rows[1_000..], &utf8.slice(1_000, rows.len() - 1_000));
            check_codes(&rows, &arrow_array::LargeStringArray::from(rows.clone()));
            let mut long = rows.clone();
            long[25_000] = Some("a value longer than seven bytes".to_string());
            check_codes(&long, &arrow_array::StringArray::from(long.clone()));
        }
    }

    #[test]
    fn string_codes_survive_cache_collisions() {
        // Thousands of distinct short and long values, repeated in a scrambled
        // order: every row's code must name its own value (slots collide).
        let distinct: Vec<String> = (0..3_000)
            .map(|i| {
                if i % 7 == 0 {
                    format!("a much longer value than sixteen bytes {i}")
                } else {
                    format!("v{i}")
                }
            })
            .collect();
        let rows: Vec<Option<&str>> = (0..20_000usize)
            .map(|r| if r % 97 == 0 { None } else { Some(distinct[(r * 7919) % distinct.len()].as_str()) })
            .collect();
        let array = arrow_array::StringArray::from(rows.clone());
        let mut codes = Vec::new();
        let values = encode_column(&array, &mut codes);
        for (row, &code) in rows.iter().zip(&codes) {
            match (row, &values[code as usize]) {
                (None, KeyValue::Null) => {}
                (Some(s), KeyValue::Str(v)) => assert_eq!(*s, &**v),
                (row, value) => panic!("{row:?} coded as {value:?}"),
            }
        }
        assert_eq!(values.len(), distinct.len() + 1, "each value once, and null");
    }
    use arrow_array::{DictionaryArray, Int32Array, LargeStringArray, StringArray, StringViewArray};

    fn strs(v: &[KeyValue]) -> Vec<String> {
        v.iter().map(|k| format!("{k:?}")).collect()
    }

    #[test]
    fn string_flavours_encode_alike() {
        let data = vec![Some("b"), Some("a"), None, Some("b")];
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(data.clone())),
            Arc::new(LargeStringArray::from(data.clone())),
            Arc::new(StringViewArray::from(data.clone())),
            Arc::new(data.iter().copied().collect::<DictionaryArray<Int8Type>>()),
        ];
        for a in arrays {
            let mut codes = vec![];
            let values = encode_column(a.as_ref(), &mut codes);
            assert_eq!(codes[0], codes[3]);
            assert_ne!(codes[0], codes[1]);
            assert_eq!(values[codes[2] as usize], KeyValue::Null);
            assert_eq!(values[codes[1] as usize], KeyValue::Str("a".into()), "{:?}", strs(&values));
        }
    }

    #[test]
    fn empty_dictionary_is_all_null() {
        let keys = arrow_array::Int8Array::from(vec![None, None]);
        let values = Arc::new(StringArray::from(Vec::<&str>::new()));
        let dict = DictionaryArray::<Int8Type>::try_new(keys, values).unwrap();
        let mut codes = vec![];
        assert_eq!(encode_column(&dict, &mut codes), vec![KeyValue::Null]);
        assert_eq!(codes, vec![0, 0]);
    }

    #[test]
    fn multi_column_keys_and_null_segment() {
        let a = StringArray::from(vec![Some("x"), Some("x"), None, Some("y"), Some("x")]);
        let b = Int32Array::from(vec![Some(1), Some(2), Some(1), Some(1), Some(1)]);
        let mut codes = vec![];
        let tuples = encode_keys(&[&a, &b], 5, &mut codes);
        assert_eq!(codes[0], codes[4]);
        assert_eq!(tuples.len(), 4);
        assert_eq!(tuples.get(codes[2] as usize), &[KeyValue::Null, KeyValue::Int(1)]);
        assert_eq!(KeyTuples::from_boxed(2, &tuples.to_boxed()).get(3), tuples.get(3));
    }

    #[test]
    fn many_distinct_integers_encode_like_a_plain_map() {
        // Mostly new values (the map is sized up after the probe rows), with
        // nulls and repeats; packed (the direct table), spread out and past
        // i64 (the map), in three integer types. Codes in order of first
        // appearance either way.
        fn check(array: &dyn Array, values: &[Option<KeyValue>], dense: bool) {
            let mut codes = Vec::new();
            let distinct = encode_column(array, &mut codes);
            let mut plain = std::collections::HashMap::new();
            for (v, &code) in values.iter().zip(&codes) {
                let next = plain.len() as u32;
                assert_eq!(*plain.entry(v.clone()).or_insert(next), code);
                assert_eq!(distinct[code as usize], v.clone().unwrap_or(KeyValue::Null));
            }
            assert_eq!(distinct.len(), plain.len());
            let mut again = Vec::new();
            let took_table = match array.data_type() {
                DataType::Int64 => {
                    encode_int_dense(array.as_primitive::<Int64Type>(), &mut again, &KeyValue::Int)
                }
                DataType::UInt64 => {
                    encode_int_dense(array.as_primitive::<UInt64Type>(), &mut again, &KeyValue::UInt)
                }
                _ => encode_int_dense(array.as_primitive::<Int8Type>(), &mut again, &|v| {
                    KeyValue::Int(v as i64)
                }),
            };
            assert_eq!(took_table.is_some(), dense, "{:?}", array.data_type());
        }
        let pattern = |i: i64| if i % 97 == 0 { None } else { Some((i * 7919) % 15_000) };
        for (scale, dense) in [(1, true), (1_000_000_000, false)] {
            let raw: Vec<Option<i64>> =
                (0..20_000i64).map(|i| pattern(i).map(|v| v * scale - 7_000)).collect();
            let keys: Vec<Option<KeyValue>> = raw.iter().map(|v| v.map(KeyValue::Int)).collect();
            check(&arrow_array::Int64Array::from(raw), &keys, dense);
        }
        for (base, dense) in [(5u64, true), (u64::MAX - 20_000, false)] {
            let raw: Vec<Option<u64>> =
                (0..20_000i64).map(|i| pattern(i).map(|v| base + v as u64 % 20_000)).collect();
            let keys: Vec<Option<KeyValue>> = raw.iter().map(|v| v.map(KeyValue::UInt)).collect();
            check(&arrow_array::UInt64Array::from(raw), &keys, dense);
        }
        let raw: Vec<Option<i8>> = (0..2_000i64).map(|i| pattern(i).map(|v| (v % 256 - 128) as i8)).collect();
        let keys: Vec<Option<KeyValue>> = raw.iter().map(|v| v.map(|x| KeyValue::Int(x as i64))).collect();
        check(&arrow_array::Int8Array::from(raw), &keys, true);
    }

    #[test]
    fn combine_gives_the_same_codes_through_the_table_and_the_hash() {
        // The same pairs, with b's cardinality declared small (a direct
        // table) and huge (the hash path): same codes, same pairs, in order
        // of first appearance; SKIP on either side stays SKIP.
        let a: Vec<u32> =
            (0..20_000u32).map(|i| if i % 101 == 7 { SKIP } else { (i * 7919) % 5000 }).collect();
        let b: Vec<u32> = (0..20_000u32).map(|i| if i % 89 == 3 { SKIP } else { i % 13 }).collect();
        let (mut table, mut hashed) = (vec![], vec![]);
        let small = combine(&a, &b, 13, &mut table);
        let huge = combine(&a, &b, 1 << 30, &mut hashed);
        assert_eq!((&small, &table), (&huge, &hashed));
        let mut seen = std::collections::HashMap::new();
        for ((&x, &y), &code) in a.iter().zip(&b).zip(&table) {
            if x == SKIP || y == SKIP {
                assert_eq!(code, SKIP);
            } else {
                let next = seen.len() as u32;
                assert_eq!(*seen.entry((x, y)).or_insert(next), code);
                assert_eq!(small[code as usize], (x, y));
            }
        }
    }

    #[test]
    fn combine_with_one_period_matches_a_plain_map() {
        // With one value of b, codes of a in order of first appearance are
        // taken as they are; any other a (out of order as a dictionary's
        // codes, SKIP, a SKIP in b) goes the general way. Same result as a
        // plain map of the pairs in every case.
        let plain = |a: &[u32], b: &[u32]| {
            let (mut seen, mut pairs) = (std::collections::HashMap::new(), vec![]);
            let codes: Vec<u32> = a
                .iter()
                .zip(b)
                .map(|(&x, &y)| {
                    if x == SKIP || y == SKIP {
                        return SKIP;
                    }
                    *seen.entry((x, y)).or_insert_with(|| {
                        pairs.push((x, y));
                        pairs.len() as u32 - 1
                    })
                })
                .collect();
            (pairs, codes)
        };
        let in_order: Vec<u32> =
            (0..3000u32).map(|i| if i % 3 == 0 { i / 3 } else { (i * 7) % (i / 3 + 1) }).collect();
        let mut dictionary = in_order.clone();
        dictionary.swap(0, 3);
        let mut skip_a = in_order.clone();
        skip_a[10] = SKIP;
        let zeros = vec![0u32; 3000];
        let mut skip_b = zeros.clone();
        skip_b[0] = SKIP;
        for (a, b) in [(&in_order, &zeros), (&dictionary, &zeros), (&skip_a, &zeros), (&in_order, &skip_b)] {
            let mut out = vec![];
            let pairs = combine(a, b, 1, &mut out);
            assert_eq!((pairs, out), plain(a, b));
        }
    }

    #[test]
    fn combine_large_product_uses_hash_path() {
        let a: Vec<u32> = (0..100_000).collect();
        let b: Vec<u32> = (0..100_000).map(|i| i % 7).collect();
        let mut out = vec![];
        let pairs = combine(&a, &b, 100_000, &mut out);
        assert_eq!(pairs.len(), 100_000);
        let mut skip_a = a.clone();
        skip_a[5] = SKIP;
        combine(&skip_a, &b, 7, &mut out);
        assert_eq!(out[5], SKIP);
    }

    #[test]
    fn rank_of_many_integers_matches_a_plain_sort() {
        // Above the parallel-sort threshold: with the extremes of i64,
        // non-negative ids only, negatives only, each with nulls.
        let spread = |i: i64| (i * 2_654_435_761) % 1_000_003;
        let kinds: [&dyn Fn(i64) -> KeyValue; 3] = [
            &|i| match i % 1000 {
                1 => KeyValue::Int(i64::MIN + i),
                2 => KeyValue::Int(i64::MAX - i),
                _ => KeyValue::Int(spread(i) - 500_000),
            },
            &|i| KeyValue::Int(spread(i)),
            &|i| KeyValue::Int(-1 - spread(i)),
        ];
        for kind in kinds {
            let values: Vec<KeyValue> =
                (0..100_000i64).map(|i| if i % 1000 == 0 { KeyValue::Null } else { kind(i) }).collect();
            let keys = KeyTuples { width: 1, len: values.len(), values: values.clone() };
            let mut want: Vec<u32> = (0..values.len() as u32).collect();
            want.sort_by(|&a, &b| values[a as usize].cmp(&values[b as usize]).then(a.cmp(&b)));
            let rank = rank(&keys);
            for (r, &id) in want.iter().enumerate() {
                assert_eq!(rank[id as usize] as usize, r);
            }
        }
    }

    #[test]
    fn dense_integer_ranks_match_a_sort_and_step_aside_otherwise() {
        let sorted = |vals: &[Option<i64>]| {
            let mut ids: Vec<usize> = (0..vals.len()).collect();
            // Values ascending, nulls last in id order.
            ids.sort_by_key(|&i| (vals[i].is_none(), vals[i].unwrap_or(0), i));
            let mut rank = vec![0u32; vals.len()];
            ids.iter().enumerate().for_each(|(r, &i)| rank[i] = r as u32);
            rank
        };
        let shuffled: Vec<Option<i64>> = (0..1000i64)
            .map(|i| if i % 97 == 3 { None } else { Some((i * 7919) % 1000 * 3 - 1500) })
            .collect();
        let extremes = vec![Some(i64::MAX), None, Some(i64::MAX - 2), Some(i64::MAX - 1)];
        let low = vec![Some(i64::MIN + 1), Some(i64::MIN), None];
        let dense = |vals: &[Option<i64>]| {
            let keys: Vec<KeyValue> = vals.iter().map(|v| v.map_or(KeyValue::Null, KeyValue::Int)).collect();
            let (lo, hi) =
                vals.iter().flatten().fold((i64::MAX, i64::MIN), |(l, h), &v| (l.min(v), h.max(v)));
            rank_dense_ints(&keys, lo, hi)
        };
        for vals in [shuffled, extremes, low, vec![None, None], vec![Some(5)]] {
            assert_eq!(dense(&vals).expect("packed keys are dense"), sorted(&vals));
            // Through rank() too.
            let keys = KeyTuples {
                width: 1,
                len: vals.len(),
                values: vals.iter().map(|v| v.map_or(KeyValue::Null, KeyValue::Int)).collect(),
            };
            assert_eq!(rank(&keys), sorted(&vals));
        }
        // Too spread out, or repeated: the sort takes them.
        assert!(dense(&[Some(0), Some(100), Some(-5)]).is_none());
        assert!(dense(&[Some(i64::MIN), Some(i64::MAX), None]).is_none());
        assert!(dense(&[Some(4), Some(4)]).is_none());
    }

    #[test]
    fn int_index_gives_the_ids_a_map_gives() {
        // Ids in order of first appearance, whatever the table does: packed
        // keys ascending and descending, keys far below and above, the
        // extremes of i64, and keys spread out enough to move to the map.
        let mix = |i: i64| i.wrapping_mul(0x9E37_79B9_7F4A_7C15u64 as i64);
        let runs: Vec<Vec<i64>> = vec![
            (0..200_000).map(|i| (i * 7919) % 150_000).collect(),
            (0..100_000).rev().chain(0..100_000).collect(),
            vec![5, 4, 3, 1_000, -1_000, 70_000, -70_000, 5, 1_000],
            vec![i64::MAX, i64::MAX - 3, i64::MIN, i64::MIN + 1, 0, i64::MAX],
            vec![i64::MIN, i64::MIN + 5, i64::MIN, i64::MIN + 70_000],
            (0..50_000).map(|i| if i % 2 == 0 { i % 900 } else { mix(i) }).collect(),
            (0..100_000).map(|i| 10_000_000 + i % 40_000 - (i / 40_000) * 100_000).collect(),
        ];
        for (run, keys) in runs.iter().enumerate() {
            for window in [usize::MAX, 50_000] {
                let mut index = IntIndex::default();
                let mut plain: FastMap<i64, u32> = fast_map(0);
                for (i, &k) in keys.iter().enumerate() {
                    // Told of each window's range first, as the accumulator does.
                    if window != usize::MAX && i % window == 0 {
                        let part = &keys[i..(i + window).min(keys.len())];
                        let (lo, hi) =
                            part.iter().fold((i64::MAX, i64::MIN), |(l, h), &v| (l.min(v), h.max(v)));
                        index.prepare(lo, hi, part.len());
                    }
                    let want = {
                        let next = plain.len() as u32;
                        *plain.entry(k).or_insert(next)
                    };
                    let next = index.len as u32;
                    assert_eq!(index.id(k, || next), want, "key {k}");
                    assert_eq!(index.len, plain.len());
                }
                // Packed keys stay in the table once told of their range; spread
                // ones moved to the map.
                if window != usize::MAX {
                    assert_eq!(index.map.is_some(), matches!(run, 2..=5), "run {run}");
                }
            }
        }
    }

    #[test]
    fn radix_sort_matches_a_stable_sort() {
        // Keys varying in one byte, in scattered bytes, in all of them, and
        // with repeats; below and above the size that switches to radix.
        let mix = |i: u64| i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let kinds: [&dyn Fn(u64) -> u64; 5] = [
            &|i| (1 << 63) + (i * 7919) % 251,
            &|i| mix(i) & 0x00ff_0000_ff00_00ff,
            &mix,
            &|i| mix(i % 97),
            &|i| u64::MAX - (i % 3),
        ];
        for kind in kinds {
            for n in [0, 1, 5, 4095, 4096, 70_001] {
                let mut pairs: Vec<(u64, u32)> = (0..n as u64).map(|i| (kind(i), i as u32)).collect();
                let mut want = pairs.clone();
                want.sort_by_key(|p| p.0);
                radix_sort_by_key(&mut pairs);
                assert_eq!(pairs, want);
            }
        }
    }

    #[test]
    fn rank_orders_values_with_null_last() {
        let tuples = |width: usize, v: Vec<KeyValue>| KeyTuples { width, len: v.len() / width, values: v };
        let ints = tuples(1, vec![KeyValue::Int(5), KeyValue::Null, KeyValue::Int(-3), KeyValue::Int(0)]);
        assert_eq!(rank(&ints), vec![2, 3, 0, 1]);
        let strs = tuples(1, vec![KeyValue::Null, KeyValue::Str("b".into()), KeyValue::Str("a".into())]);
        assert_eq!(rank(&strs), vec![2, 1, 0]);
        let pairs = tuples(
            2,
            vec![
                KeyValue::Str("a".into()),
                KeyValue::Int(2),
                KeyValue::Str("a".into()),
                KeyValue::Null,
                KeyValue::Str("a".into()),
                KeyValue::Int(1),
            ],
        );
        assert_eq!(rank(&pairs), vec![1, 2, 0]);
        // The fast paths agree with the general order.
        for keys in [&ints, &strs, &pairs] {
            let mut order: Vec<usize> = (0..keys.len()).collect();
            order.sort_by(|&a, &b| keys.get(a).cmp(keys.get(b)));
            let r = rank(keys);
            assert!(order.windows(2).all(|w| r[w[0]] < r[w[1]]));
        }
    }

    #[test]
    fn null_sorts_last_and_build_roundtrip() {
        let mut v = vec![KeyValue::Null, KeyValue::Int(3), KeyValue::Int(-1)];
        v.sort();
        assert_eq!(v, vec![KeyValue::Int(-1), KeyValue::Int(3), KeyValue::Null]);
        let col = build_column(&DataType::Date32, v.iter());
        assert_eq!(col.null_count(), 1);
        assert_eq!(col.as_primitive::<Date32Type>().value(0), -1);
    }
}
