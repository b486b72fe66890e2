//! Input: find columns by role, check their types, read them without copying,
//! and collect bad rows into errors that name the column, the count and an example.
use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, ArrowPrimitiveType, PrimitiveArray};
use arrow_buffer::NullBuffer;
use arrow_schema::{DataType, Schema};

use crate::error::{Error, Result};
use crate::keys::{for_each_kept, for_each_kept_ahead};

/// Find `name` in `schema`; the error names the role and suggests the closest column.
pub fn find_column(schema: &Schema, name: &str, role: &str) -> Result<usize> {
    if let Ok(i) = schema.index_of(name) {
        // Arrow allows repeated names; which one was meant cannot be guessed.
        let same = schema.fields().iter().filter(|f| f.name() == name).count();
        if same > 1 {
            return Err(Error::column(
                name,
                format!("the table has {same} columns named '{name}' ({role}=): rename or drop all but one"),
            ));
        }
        return Ok(i);
    }
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let hint = match closest_name(name, &names) {
        // where= is a mapping of columns: `where="x"` would be no fix.
        Some(best) if role == "where" => format!(" Did you mean '{best}'?"),
        Some(best) => format!(" Did you mean '{best}'? Pass {role}=\"{best}\" to use it."),
        None => String::new(),
    };
    let shown: Vec<&str> = names.iter().take(20).copied().collect();
    let more = if names.len() > 20 { ", ..." } else { "" };
    Err(Error::Input {
        message: format!(
            "column '{name}' ({role}=) not found in the table.{hint} Columns: {}{more}",
            shown.join(", ")
        ),
        column: Some(name.to_string()),
        count: None,
        example: None,
    })
}

/// The candidate with the smallest edit distance (case-insensitive), if it is close enough.
pub fn closest_name<'a>(name: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let target = name.to_lowercase();
    candidates
        .iter()
        .map(|c| (edit_distance(&target, &c.to_lowercase()), *c))
        .filter(|(d, c)| *d <= 2.max(c.chars().count() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// True for the Arrow types a numeric measure may have.
pub fn is_numeric(dt: &DataType) -> bool {
    matches!(
        dt,
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
            // An all-null column (pandas/pyarrow infer it for all-missing data).
            | DataType::Null
    )
}

/// Check that column `index` of `schema` is numeric; the error says how to fix it.
pub fn expect_numeric(schema: &Schema, index: usize, role: &str) -> Result<()> {
    let field = schema.field(index);
    if is_numeric(field.data_type()) {
        return Ok(());
    }
    let hint = if is_string(field.data_type()) {
        " It holds strings; convert it to numbers first (pandas: pd.to_numeric(df[col]); polars: pl.col(col).cast(pl.Float64))."
    } else if matches!(field.data_type(), DataType::Float16 | DataType::Decimal256(..)) {
        " Cast it to float64 first (pyarrow: column.cast(pyarrow.float64()); polars: pl.col(col).cast(pl.Float64))."
    } else {
        ""
    };
    Err(Error::column(
        field.name(),
        format!(
            "column '{}' ({role}=) must be numeric, but has type {}.{hint}",
            field.name(),
            field.data_type()
        ),
    ))
}

/// True for the three string flavours (and dictionaries of them).
pub fn is_string(dt: &DataType) -> bool {
    match dt {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, v) => is_string(v),
        _ => false,
    }
}

/// A numeric column read in place: one variant per Arrow primitive type.
pub enum Numeric<'a> {
    I8(&'a PrimitiveArray<Int8Type>),
    I16(&'a PrimitiveArray<Int16Type>),
    I32(&'a PrimitiveArray<Int32Type>),
    I64(&'a PrimitiveArray<Int64Type>),
    U8(&'a PrimitiveArray<UInt8Type>),
    U16(&'a PrimitiveArray<UInt16Type>),
    U32(&'a PrimitiveArray<UInt32Type>),
    U64(&'a PrimitiveArray<UInt64Type>),
    F32(&'a PrimitiveArray<Float32Type>),
    F64(&'a PrimitiveArray<Float64Type>),
    /// An all-null column of this length.
    Null(usize),
}

/// `$typed` with `$a` bound to the typed array of whichever numeric type
/// `$n` holds (monomorphised per type), or `$null` with `$len` rows.
macro_rules! numeric_match {
    ($n:expr, $a:ident => $typed:expr, $len:ident => $null:expr) => {
        match $n {
            Numeric::I8($a) => $typed,
            Numeric::I16($a) => $typed,
            Numeric::I32($a) => $typed,
            Numeric::I64($a) => $typed,
            Numeric::U8($a) => $typed,
            Numeric::U16($a) => $typed,
            Numeric::U32($a) => $typed,
            Numeric::U64($a) => $typed,
            Numeric::F32($a) => $typed,
            Numeric::F64($a) => $typed,
            Numeric::Null($len) => {
                let $len = *$len;
                $null
            }
        }
    };
}

/// Numeric element types seen as f64.
pub trait AsF64: Copy {
    fn as_f64(self) -> f64;
}
macro_rules! as_f64 {
    ($($t:ty),*) => {$(impl AsF64 for $t { #[inline(always)] fn as_f64(self) -> f64 { self as f64 } })*};
}
as_f64!(i8, i16, i32, i64, u8, u16, u32, u64, f32, f64);

impl<'a> Numeric<'a> {
    /// View `array` as numeric; `None` when its type is not numeric (checked earlier by [`expect_numeric`]).
    pub fn new(array: &'a dyn Array) -> Option<Self> {
        Some(match array.data_type() {
            DataType::Int8 => Numeric::I8(array.as_primitive()),
            DataType::Int16 => Numeric::I16(array.as_primitive()),
            DataType::Int32 => Numeric::I32(array.as_primitive()),
            DataType::Int64 => Numeric::I64(array.as_primitive()),
            DataType::UInt8 => Numeric::U8(array.as_primitive()),
            DataType::UInt16 => Numeric::U16(array.as_primitive()),
            DataType::UInt32 => Numeric::U32(array.as_primitive()),
            DataType::UInt64 => Numeric::U64(array.as_primitive()),
            DataType::Float32 => Numeric::F32(array.as_primitive()),
            DataType::Float64 => Numeric::F64(array.as_primitive()),
            DataType::Null => Numeric::Null(array.len()),
            _ => return None,
        })
    }

    /// Call `f(row, value)` for every row, `None` for nulls. Monomorphised per
    /// element type so the loop has no per-row dispatch.
    #[inline]
    pub fn for_each(&self, mut f: impl FnMut(usize, Option<f64>)) {
        fn go<T: ArrowPrimitiveType>(a: &PrimitiveArray<T>, f: &mut impl FnMut(usize, Option<f64>))
        where
            T::Native: AsF64,
        {
            let values = a.values();
            match a.nulls().filter(|n| n.null_count() > 0) {
                None => values.iter().enumerate().for_each(|(i, v)| f(i, Some(v.as_f64()))),
                Some(nulls) => values
                    .iter()
                    .enumerate()
                    .for_each(|(i, v)| f(i, if nulls.is_valid(i) { Some(v.as_f64()) } else { None })),
            }
        }
        numeric_match!(self, a => go(a, &mut f), len => (0..len).for_each(|i| f(i, None)))
    }

    /// Call `f(row, cell, value)` for the rows whose cell (`cells[row]`) is not
    /// [`SKIP`](crate::keys::SKIP), `None` for nulls: a KPI's update loop.
    #[inline]
    pub fn for_each_kept(&self, cells: &[u32], mut f: impl FnMut(usize, u32, Option<f64>)) {
        fn go<T: ArrowPrimitiveType>(
            a: &PrimitiveArray<T>,
            cells: &[u32],
            f: &mut impl FnMut(usize, u32, Option<f64>),
        ) where
            T::Native: AsF64,
        {
            let values = &a.values()[..cells.len()];
            let ahead = |rows| prefetch_rows(values, rows);
            match a.nulls().filter(|n| n.null_count() > 0) {
                None => {
                    for_each_kept_ahead(cells, ahead, |row, cell| f(row, cell, Some(values[row].as_f64())))
                }
                Some(nulls) => for_each_kept_ahead(cells, ahead, |row, cell| {
                    f(row, cell, if nulls.is_valid(row) { Some(values[row].as_f64()) } else { None })
                }),
            }
        }
        numeric_match!(self, a => go(a, cells, &mut f), _len => for_each_kept(cells, |row, cell| f(row, cell, None)))
    }
}

/// A string column read in place, whatever its flavour.
pub enum Strings<'a> {
    Utf8(&'a arrow_array::StringArray),
    Large(&'a arrow_array::LargeStringArray),
    View(&'a arrow_array::StringViewArray),
}

impl<'a> Strings<'a> {
    pub fn new(array: &'a dyn Array) -> Option<Self> {
        Some(match array.data_type() {
            DataType::Utf8 => Strings::Utf8(array.as_string()),
            DataType::LargeUtf8 => Strings::Large(array.as_string()),
            DataType::Utf8View => Strings::View(array.as_string_view()),
            _ => return None,
        })
    }
    #[inline]
    pub fn value(&self, i: usize) -> &'a str {
        match self {
            Strings::Utf8(a) => (*a).value(i),
            Strings::Large(a) => (*a).value(i),
            Strings::View(a) => (*a).value(i),
        }
    }
    pub fn nulls(&self) -> Option<&'a NullBuffer> {
        match self {
            Strings::Utf8(a) => Array::nulls(*a),
            Strings::Large(a) => Array::nulls(*a),
            Strings::View(a) => Array::nulls(*a),
        }
    }
    pub fn len(&self) -> usize {
        match self {
            Strings::Utf8(a) => a.len(),
            Strings::Large(a) => a.len(),
            Strings::View(a) => a.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// True when `x` is a whole number (false for NaN and infinities), as
/// `x.fract() == 0.0`, which on baseline x86-64 (no SSE4.1, as wheels are
/// built) calls libm's `trunc` for every row; a round trip through i64 is two
/// instructions. Every finite f64 of magnitude 2^52 or more is whole.
#[inline]
pub fn is_whole(x: f64) -> bool {
    if x.abs() < 4_503_599_627_370_496.0 {
        (x as i64) as f64 == x
    } else {
        x.is_finite()
    }
}

/// True when every value is a finite number >= 0 (`-0.0` included, NaN not).
///
/// Written as a running minimum and a running sum of `x * 0.0` in eight
/// lanes: NaN and infinities make the sum NaN, negatives pull the minimum
/// below zero. The plain `x.is_finite() && x >= 0.0` fold is rewritten by
/// LLVM into 64-bit integer class tests that baseline x86-64 (SSE2, as wheels
/// are built) emulates in about twenty instructions a value: 7x slower than
/// this, which reads memory as fast as it comes (10M values: 47 -> 6 ms).
pub fn all_nonnegative_finite(values: &[f64]) -> bool {
    const LANES: usize = 8;
    let (mut low, mut zero) = ([0.0f64; LANES], [0.0f64; LANES]);
    let mut blocks = values.chunks_exact(LANES);
    for block in &mut blocks {
        for i in 0..LANES {
            let x = block[i];
            // A compare-and-select (one `minpd`): NaN is left to the sum.
            low[i] = if x < low[i] { x } else { low[i] };
            zero[i] += x * 0.0;
        }
    }
    low.iter().all(|&l| l >= 0.0)
        && zero.iter().all(|&z| z == 0.0)
        && blocks.remainder().iter().all(|&x| x.is_finite() && x >= 0.0)
}

/// Rows a row loop asks the CPU to fetch at a time, a block ahead of the
/// one it reads (see [`prefetch_bytes`]): 2 KiB of an 8-byte column.
pub const AHEAD_ROWS: usize = 256;

/// Asks the CPU to bring `bytes` into cache, one request per 64-byte line,
/// without waiting for them. A row loop that reads a column straight from
/// memory otherwise waits on nearly every line where the hardware prefetcher
/// does not run ahead of it, as on the 2-core virtual machines the benchmarks
/// run on: there, converting 10M timestamps to days took 38 ms read cold and
/// 10 ms with the next 2 KiB asked for ahead (7.5 ms from cache).
#[inline]
pub fn prefetch_bytes(bytes: &[u8]) {
    prefetch_span(bytes.as_ptr(), bytes.len());
}

/// [`prefetch_bytes`] over the memory of a slice.
#[inline]
pub fn prefetch<T>(items: &[T]) {
    prefetch_span(items.as_ptr().cast(), std::mem::size_of_val(items));
}

/// The lines of the `len` bytes at `start` (by address: no bytes are read, so
/// any value's memory qualifies, padding included).
#[inline]
fn prefetch_span(start: *const u8, len: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        for offset in (0..len).step_by(64) {
            // SAFETY: a prefetch never faults, and the address is inside the span.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(start.add(offset).cast()) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (start, len);
}

/// [`prefetch`] of `rows` of `values`, clipped to its length.
#[inline]
pub fn prefetch_rows<T>(values: &[T], rows: std::ops::Range<usize>) {
    let end = rows.end.min(values.len());
    prefetch(&values[rows.start.min(end)..end]);
}

/// [`prefetch`] of `rows` of a string column: their offsets and bytes.
#[inline]
pub fn prefetch_string_rows<O: arrow_array::OffsetSizeTrait>(
    offsets: &[O],
    data: &[u8],
    rows: std::ops::Range<usize>,
) {
    // offsets[i..=j] bound rows i..j.
    let last = offsets.len().saturating_sub(1);
    let (first, end) = (rows.start.min(last), rows.end.min(last));
    prefetch(&offsets[first..=end]);
    let (lo, hi) = (offsets[first].as_usize().min(data.len()), offsets[end].as_usize().min(data.len()));
    prefetch_bytes(&data[lo..hi.max(lo)]);
}

/// The rows a loop over `len` rows prefetches when it reaches `row`: at row
/// 0 the first two blocks of [`AHEAD_ROWS`], at every later block start the
/// block after the one starting there (so a block is asked for a whole block
/// before it is read); `None` elsewhere and past the end.
#[inline]
pub fn rows_ahead(row: usize, len: usize) -> Option<std::ops::Range<usize>> {
    if row % AHEAD_ROWS != 0 {
        return None;
    }
    let start = if row == 0 { 0 } else { row + AHEAD_ROWS };
    let end = (row + 2 * AHEAD_ROWS).min(len);
    (start < end).then_some(start..end)
}

/// A loop over `len` rows in blocks of [`AHEAD_ROWS`] (`f(rows)` per block),
/// calling `ahead` with each block's [`rows_ahead`] before reading it.
#[inline]
pub fn for_each_block_ahead(
    len: usize,
    mut ahead: impl FnMut(std::ops::Range<usize>),
    mut f: impl FnMut(std::ops::Range<usize>),
) {
    for start in (0..len).step_by(AHEAD_ROWS) {
        if let Some(rows) = rows_ahead(start, len) {
            ahead(rows);
        }
        f(start..(start + AHEAD_ROWS).min(len));
    }
}

/// A short, printable rendering of one value for error messages.
pub fn show_f64(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// One kind of bad row: which column, what is wrong, how many rows, one example.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Issue {
    pub column: String,
    pub problem: String,
    pub count: u64,
    pub example: String,
    /// Rows that, dropped, no KPI column counts (they reach no cell: a null
    /// date with periods, a null customer): the caller warns about them.
    #[serde(default)]
    pub uncounted: bool,
}

/// Bad rows found while scanning, merged across chunks in chunk order so the
/// example is deterministic (the first bad row of the earliest chunk).
#[derive(Clone, Debug, Default)]
pub struct Diagnostics {
    pub issues: Vec<Issue>,
}

impl Diagnostics {
    /// Count one bad row; `example` is only rendered for the first of its kind.
    #[inline]
    pub fn record(&mut self, column: &str, problem: &str, example: impl FnOnce() -> String) {
        self.add(column, problem, example, false);
    }

    /// Count one bad row that, dropped, no KPI column counts (see [`Issue::uncounted`]).
    #[inline]
    pub fn record_uncounted(&mut self, column: &str, problem: &str, example: impl FnOnce() -> String) {
        self.add(column, problem, example, true);
    }

    #[inline]
    fn add(&mut self, column: &str, problem: &str, example: impl FnOnce() -> String, uncounted: bool) {
        if let Some(issue) = self.issues.iter_mut().find(|i| i.problem == problem && i.column == column) {
            issue.count += 1;
        } else {
            self.issues.push(Issue {
                column: column.to_string(),
                problem: problem.to_string(),
                count: 1,
                example: example(),
                uncounted,
            });
        }
    }

    pub fn merge(&mut self, other: Diagnostics) {
        for issue in other.issues {
            match self.issues.iter_mut().find(|i| i.problem == issue.problem && i.column == issue.column) {
                Some(mine) => mine.count += issue.count,
                None => self.issues.push(issue),
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.issues.is_empty()
    }

    /// The error raised with `on_invalid="raise"`: the first issue in full, the others listed.
    pub fn to_error(&self) -> Option<Error> {
        let first = self.issues.first()?;
        let mut message = describe(first);
        for other in &self.issues[1..] {
            message.push_str("; ");
            message.push_str(&describe(other));
        }
        message.push_str(if self.issues.iter().any(|i| i.uncounted) {
            ". Fix the data, or pass on_invalid=\"drop\" to drop these rows: those a KPI reads are \
             counted in its 'invalid' column, the others (in no cell) reported in a warning."
        } else {
            ". Fix the data, or pass on_invalid=\"drop\" to drop these rows and count them in 'invalid'."
        });
        Some(Error::Input {
            message,
            column: Some(first.column.clone()),
            count: Some(first.count),
            example: Some(first.example.clone()),
        })
    }
}

fn describe(issue: &Issue) -> String {
    let rows = if issue.count == 1 { "row" } else { "rows" };
    format!(
        "column '{}': {} {rows} {} (example: {})",
        issue.column, issue.count, issue.problem, issue.example
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_schema::Field;

    #[test]
    fn whole_numbers_as_fract_says() {
        let big = 4_503_599_627_370_496.0; // 2^52
        for x in [
            0.0,
            -0.0,
            1.0,
            -3.0,
            7.5,
            -7.5,
            0.1,
            1e-300,
            big,
            -big,
            big - 0.5,
            big + 2.0,
            1e300,
            -1e300,
            9.2e18,
            -9.3e18,
            f64::MAX,
            f64::MIN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
        ] {
            assert_eq!(is_whole(x), x.fract() == 0.0, "{x}");
        }
    }

    #[test]
    fn blocks_ahead_cover_every_row_once_and_are_asked_for_first() {
        for len in [0, 1, 255, 256, 257, 511, 512, 513, 1000, 70_000] {
            let asked = std::cell::RefCell::new(vec![false; len]);
            let mut read = Vec::new();
            for_each_block_ahead(
                len,
                |rows| rows.for_each(|r| asked.borrow_mut()[r] = true),
                |rows| {
                    assert!(
                        rows.clone().all(|r| asked.borrow()[r]),
                        "block {rows:?} of {len} read before it was asked for"
                    );
                    read.extend(rows);
                },
            );
            assert_eq!(read, (0..len).collect::<Vec<_>>(), "{len} rows");
            // The same rows through the cells loop, SKIP dropping every third.
            let cells: Vec<u32> =
                (0..len as u32).map(|i| if i % 3 == 0 { crate::keys::SKIP } else { i }).collect();
            let asked = std::cell::RefCell::new(vec![false; len]);
            let mut kept = Vec::new();
            crate::keys::for_each_kept_ahead(
                &cells,
                |rows| rows.for_each(|r| asked.borrow_mut()[r] = true),
                |row, cell| {
                    assert!(asked.borrow()[row], "row {row} of {len} read before it was asked for");
                    kept.push((row, cell));
                },
            );
            let want: Vec<(usize, u32)> = (0..len).filter(|i| i % 3 != 0).map(|i| (i, i as u32)).collect();
            assert_eq!(kept, want);
        }
        // Prefetching rows past the end (or of an empty column) is harmless.
        let strings = arrow_array::StringArray::from(vec!["a", "bc", "def"]);
        let sliced = strings.slice(1, 2);
        prefetch_string_rows(sliced.value_offsets(), sliced.value_data(), 0..512);
        prefetch_string_rows(sliced.value_offsets(), sliced.value_data(), 700..900);
        prefetch_rows(&[1u64, 2, 3], 2..10);
        prefetch_rows::<u64>(&[], 0..10);
    }

    #[test]
    fn nonnegative_finite_as_the_plain_rule_says() {
        let plain = |v: &[f64]| v.iter().all(|&x| x.is_finite() && x >= 0.0);
        let specials =
            [-1.0, -5e-324, f64::NAN, -f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0, 0.0, 5e-324, 1e308];
        // Every special value at every position of slices of every length up
        // to three blocks of lanes, so both the lanes and the tail see each.
        for &special in &specials {
            for len in 0..=25 {
                for at in 0..len {
                    let mut v: Vec<f64> = (0..len).map(|i| i as f64 * 1.5).collect();
                    v[at] = special;
                    assert_eq!(all_nonnegative_finite(&v), plain(&v), "{special} at {at} of {len}");
                }
            }
        }
        assert!(all_nonnegative_finite(&[]));
        assert!(all_nonnegative_finite(&vec![f64::MAX; 100]));
    }

    #[test]
    fn missing_column_suggests_closest() {
        let schema = Schema::new(vec![
            Field::new("score", DataType::Int64, true),
            Field::new("rep_id", DataType::Utf8, true),
        ]);
        let err = find_column(&schema, "scor", "score").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("Did you mean 'score'"), "{msg}");
        assert!(find_column(&schema, "zzzzzzzz", "score")
            .unwrap_err()
            .to_string()
            .contains("Columns: score, rep_id"));
        assert_eq!(find_column(&schema, "rep_id", "by").unwrap(), 1);
        assert_eq!(closest_name("REP_ID", &["rep_id", "region"]), Some("rep_id"));
    }

    #[test]
    fn a_repeated_column_name_is_an_error_only_when_it_is_used() {
        let schema = Schema::new(vec![
            Field::new("score", DataType::Int64, true),
            Field::new("score", DataType::Int64, true),
            Field::new("rep_id", DataType::Utf8, true),
        ]);
        let msg = find_column(&schema, "score", "score").unwrap_err().to_string();
        assert!(msg.contains("2 columns named 'score' (score=)"), "{msg}");
        assert_eq!(find_column(&schema, "rep_id", "by").unwrap(), 2);
    }

    #[test]
    fn diagnostics_count_and_keep_first_example() {
        let mut a = Diagnostics::default();
        a.record("score", "outside 0-10", || "11".into());
        a.record("score", "outside 0-10", || "12".into());
        let mut b = Diagnostics::default();
        b.record("score", "outside 0-10", || "13".into());
        b.record("date", "null", || "null".into());
        a.merge(b);
        assert_eq!(a.issues[0].count, 3);
        assert_eq!(a.issues[0].example, "11");
        let err = a.to_error().unwrap();
        match err {
            Error::Input { column, count, example, message } => {
                assert_eq!(column.as_deref(), Some("score"));
                assert_eq!(count, Some(3));
                assert_eq!(example.as_deref(), Some("11"));
                assert!(message.contains("column 'date': 1 row null"), "{message}");
            }
            _ => panic!("wrong error kind"),
        }
    }

    #[test]
    fn numeric_views_all_types() {
        let a = arrow_array::Int8Array::from(vec![Some(1), None, Some(3)]);
        let mut seen = vec![];
        Numeric::new(&a).unwrap().for_each(|i, v| seen.push((i, v)));
        assert_eq!(seen, vec![(0, Some(1.0)), (1, None), (2, Some(3.0))]);
        let f = arrow_array::Float32Array::from(vec![0.5]);
        let mut s = 0.0;
        Numeric::new(&f).unwrap().for_each(|_, v| s += v.unwrap());
        assert_eq!(s, 0.5);
        assert!(Numeric::new(&arrow_array::StringArray::from(vec!["x"])).is_none());
    }
}

/// Check that column `index` is boolean (or 0/1 integers); the error says how to fix it.
pub fn expect_bool(schema: &Schema, index: usize, role: &str) -> Result<()> {
    let field = schema.field(index);
    match field.data_type() {
        DataType::Boolean | DataType::Null => Ok(()),
        dt if is_numeric(dt) => Ok(()),
        dt => Err(Error::column(
            field.name(),
            format!(
                "column '{}' ({role}=) must be boolean (or 0/1), but has type {dt}. Convert it first, \
                 e.g. df[col] == \"yes\".",
                field.name()
            ),
        )),
    }
}

/// A boolean column read in place; 0/1 integers are accepted as booleans.
pub enum Bools<'a> {
    Bool(&'a arrow_array::BooleanArray),
    Num(Numeric<'a>),
}

impl<'a> Bools<'a> {
    pub fn new(array: &'a dyn Array) -> Option<Self> {
        match array.data_type() {
            DataType::Boolean => Some(Bools::Bool(array.as_boolean())),
            _ => Numeric::new(array).map(Bools::Num),
        }
    }

    /// Call `f(row, value)` for every row: `Some(bool)`, `None` for nulls, and
    /// `Err(value)` for a number other than 0 or 1.
    #[inline]
    pub fn for_each(&self, mut f: impl FnMut(usize, Option<std::result::Result<bool, f64>>)) {
        match self {
            Bools::Bool(a) => {
                let (values, nulls) = (a.values(), a.nulls().filter(|n| n.null_count() > 0));
                for i in 0..a.len() {
                    f(i, if nulls.is_some_and(|n| n.is_null(i)) { None } else { Some(Ok(values.value(i))) });
                }
            }
            Bools::Num(n) => n.for_each(|i, v| f(i, v.map(number_as_bool))),
        }
    }

    /// [`Bools::for_each`] for the rows whose cell is not [`SKIP`](crate::keys::SKIP):
    /// `f(row, cell, value)`, as [`Numeric::for_each_kept`].
    #[inline]
    pub fn for_each_kept(
        &self,
        cells: &[u32],
        mut f: impl FnMut(usize, u32, Option<std::result::Result<bool, f64>>),
    ) {
        match self {
            Bools::Bool(a) => {
                let values = a.values();
                debug_assert_eq!(values.len(), cells.len());
                match a.nulls().filter(|n| n.null_count() > 0) {
                    None => for_each_kept(cells, |row, cell| f(row, cell, Some(Ok(values.value(row))))),
                    Some(nulls) => for_each_kept(cells, |row, cell| {
                        f(row, cell, if nulls.is_valid(row) { Some(Ok(values.value(row))) } else { None })
                    }),
                }
            }
            Bools::Num(n) => n.for_each_kept(cells, |row, cell, v| f(row, cell, v.map(number_as_bool))),
        }
    }
}

/// A number read as a flag: 0 and 1 are false and true, anything else is `Err(value)`.
#[inline]
fn number_as_bool(x: f64) -> std::result::Result<bool, f64> {
    if x == 0.0 {
        Ok(false)
    } else if x == 1.0 {
        Ok(true)
    } else {
        Err(x)
    }
}

/// Microseconds per unit of each timestamp resolution, and per day.
const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Check that column `index` holds instants (timestamp or date); the error says how to fix it.
pub fn expect_instant(schema: &Schema, index: usize, role: &str) -> Result<()> {
    let field = schema.field(index);
    match field.data_type() {
        DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64 | DataType::Null => Ok(()),
        dt => Err(Error::column(
            field.name(),
            format!(
                "column '{}' ({role}=) must be a timestamp or date, but has type {dt}. Parse it first \
                 (pandas: pd.to_datetime; polars: pl.col(c).str.to_datetime()).",
                field.name()
            ),
        )),
    }
}

/// `end - start` in microseconds, as a float: i64 arithmetic and a hardware
/// conversion when the difference fits in i64, i128 (a conversion in
/// software, a call per row) only for instants at opposite ends of i64. Both
/// round the exact difference to the nearest float: the same result.
#[inline]
pub fn micros_between(start: i64, end: i64) -> f64 {
    match end.checked_sub(start) {
        Some(d) => d as f64,
        None => (i128::from(end) - i128::from(start)) as f64,
    }
}

/// Read a timestamp or date column as microseconds since the epoch (a date is
/// its midnight), for durations between two columns. `None` for nulls.
/// Zoned timestamps are UTC instants; naive ones are wall time: differences of
/// two columns of the same kind are exact either way.
pub fn instants(array: &dyn Array, out: &mut Vec<Option<i64>>) {
    use arrow_schema::TimeUnit;
    out.clear();
    fn push<T: ArrowPrimitiveType<Native = N>, N: Copy + Into<i64>>(
        array: &dyn Array,
        scale: i64,
        div: i64,
        out: &mut Vec<Option<i64>>,
    ) {
        let a = array.as_primitive::<T>();
        out.extend(a.iter().map(|v| {
            v.map(|x| {
                let x: i64 = x.into();
                if div > 1 {
                    x.div_euclid(div)
                } else {
                    x.saturating_mul(scale)
                }
            })
        }));
    }
    match array.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => {
            push::<TimestampSecondType, i64>(array, 1_000_000, 1, out)
        }
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            push::<TimestampMillisecondType, i64>(array, 1_000, 1, out)
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            push::<TimestampMicrosecondType, i64>(array, 1, 1, out)
        }
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            push::<TimestampNanosecondType, i64>(array, 1, 1_000, out)
        }
        DataType::Date32 => push::<Date32Type, i32>(array, MICROS_PER_DAY, 1, out),
        DataType::Date64 => push::<Date64Type, i64>(array, 1_000, 1, out),
        _ => out.extend(std::iter::repeat_n(None, array.len())),
    }
}

/// The day (days since epoch, floor) of an instant in microseconds.
pub fn day_of_micros(us: i64) -> i32 {
    us.div_euclid(MICROS_PER_DAY) as i32
}

#[cfg(test)]
mod time_tests {
    use super::*;
    use arrow_array::{Date32Array, TimestampSecondArray};

    #[test]
    fn micros_between_rounds_as_the_exact_difference() {
        let cases = [
            (0, 1),
            (5, 3),
            (1_700_000_000_000_000, 1_700_000_123_456_789),
            // Differences above 2^53 round; beyond i64 they take the i128 path.
            (-(1 << 60), (1 << 60) + 3),
            (i64::MIN, i64::MAX),
            (i64::MAX, i64::MIN),
            (i64::MIN + 7, 12_345),
        ];
        for (start, end) in cases {
            assert_eq!(
                micros_between(start, end).to_bits(),
                ((i128::from(end) - i128::from(start)) as f64).to_bits()
            );
        }
    }

    #[test]
    fn instants_of_dates_and_timestamps() {
        let mut out = vec![];
        instants(&Date32Array::from(vec![Some(1), None]), &mut out);
        assert_eq!(out, vec![Some(MICROS_PER_DAY), None]);
        instants(&TimestampSecondArray::from(vec![-1]), &mut out);
        assert_eq!(out, vec![Some(-1_000_000)]);
        assert_eq!(day_of_micros(-1), -1);
    }

    #[test]
    fn bools_from_ints() {
        let a = arrow_array::Int64Array::from(vec![Some(0), Some(1), Some(2), None]);
        let mut seen = vec![];
        Bools::new(&a).unwrap().for_each(|_, v| seen.push(v));
        assert_eq!(seen, vec![Some(Ok(false)), Some(Ok(true)), Some(Err(2.0)), None]);
    }
}
