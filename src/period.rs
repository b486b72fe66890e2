//! Period bucketing: days, ISO weeks, months, (fiscal) quarters and (fiscal) years.
//!
//! A day is an `i32` count of days since 1970-01-01 (the Arrow `Date32`
//! convention); [`NULL_DAY`] stands for a null date. [`Periods`] maps a day to
//! a period *ordinal* (consecutive periods have consecutive ordinals, so
//! ordinals can be used as dense keys and sorted), and an ordinal back to its
//! first and last day and its label. [`DateReader`] turns an Arrow date or
//! timestamp column into local days, bucketing zoned timestamps in a time zone.
//!
//! All calendar arithmetic is proleptic Gregorian and branch-light: days are
//! converted to civil dates with Howard Hinnant's `civil_from_days`, never by
//! looping over years, so it runs per row and works for any day an `i32` can
//! hold. (Outside roughly ±5.8 million years of 1970 the results saturate; they
//! never panic.)

use arrow_array::cast::AsArray;
use arrow_array::types::{
    ArrowPrimitiveType, Date32Type, Date64Type, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};
use arrow_array::{Array, PrimitiveArray};
use arrow_buffer::bit_iterator::BitIndexIterator;
use arrow_schema::{DataType, TimeUnit};
use chrono::{Offset, TimeZone};

use crate::ingest::{for_each_block_ahead, prefetch_rows};
use crate::{Error, Result};

/// The day value that stands for a null date in a `Vec<i32>` of days.
pub const NULL_DAY: i32 = i32::MIN;

/// 0001-01-01 and 9999-12-31: the dates that may anchor censoring (`as_of`)
/// and customer histories. Days outside are garbage (a sentinel, a unit
/// mix-up) that would make day arithmetic overflow or span millions of periods.
pub const MIN_DAY: i32 = -719_162;
pub const MAX_DAY: i32 = 2_932_896;

/// True for a day within years 0001-9999 (see [`MIN_DAY`]).
#[inline]
pub fn in_year_range(day: i32) -> bool {
    (MIN_DAY..=MAX_DAY).contains(&day)
}

const SECS_PER_DAY: i64 = 86_400;

/// Width of the UTC buckets in which [`DateReader`] caches a zone's UTC offset.
const OFFSET_BUCKET_SECS: i64 = 900;

/// Narrows an `i64` day (or ordinal) to `i32`, saturating, and never to
/// [`NULL_DAY`].
#[inline]
fn sat_i32(v: i64) -> i32 {
    v.clamp(i64::from(i32::MIN) + 1, i64::from(i32::MAX)) as i32
}

/// Civil date `(year, month 1-12, day 1-31)` of a day count since 1970-01-01
/// (proleptic Gregorian; Howard Hinnant's `civil_from_days`).
#[inline]
pub fn civil_from_days(day: i64) -> (i64, u32, u32) {
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March = 0
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Day count since 1970-01-01 of a civil date (proleptic Gregorian; Howard
/// Hinnant's `days_from_civil`). `month` is 1-12, `day` 1-31 (not checked
/// against the month's length: day 0 or 32 simply count on from the 1st).
#[inline]
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = year - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400); // [0, 399]
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 }; // March = 0
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// Months since year 0, January: `year * 12 + month - 1`.
#[inline]
fn month_index(day: i32) -> i64 {
    let (y, m, _) = civil_from_days(i64::from(day));
    y * 12 + i64::from(m) - 1
}

/// First day of the month with index `mi` (see [`month_index`]).
#[inline]
fn month_index_start(mi: i64) -> i64 {
    days_from_civil(mi.div_euclid(12), (mi.rem_euclid(12) + 1) as u32, 1)
}

/// A year as ISO 8601 (and chrono) write it: four digits for 0..=9999,
/// otherwise signed (`+10000`, `-0001`).
fn fmt_year(y: i64) -> String {
    if (0..=9999).contains(&y) {
        format!("{y:04}")
    } else {
        format!("{y:+05}")
    }
}

/// The ISO date `YYYY-MM-DD` of a day count since 1970-01-01.
pub fn format_day(day: i32) -> String {
    let (y, m, d) = civil_from_days(i64::from(day));
    format!("{}-{m:02}-{d:02}", fmt_year(y))
}

/// The length of the periods to bucket dates into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PeriodUnit {
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

impl PeriodUnit {
    /// All units, shortest first.
    pub const ALL: [PeriodUnit; 5] =
        [PeriodUnit::Day, PeriodUnit::Week, PeriodUnit::Month, PeriodUnit::Quarter, PeriodUnit::Year];

    /// Parses `"day"`, `"week"`, `"month"`, `"quarter"` or `"year"`, ignoring
    /// ASCII case.
    pub fn parse(s: &str) -> Result<Self> {
        Self::ALL.into_iter().find(|u| u.as_str().eq_ignore_ascii_case(s)).ok_or_else(|| {
            Error::param(format!(
                "period must be one of \"day\", \"week\", \"month\", \"quarter\", \"year\" \
                     (or None for no period), got {s:?}"
            ))
        })
    }

    /// The lowercase name, as [`PeriodUnit::parse`] accepts it.
    pub fn as_str(self) -> &'static str {
        match self {
            PeriodUnit::Day => "day",
            PeriodUnit::Week => "week",
            PeriodUnit::Month => "month",
            PeriodUnit::Quarter => "quarter",
            PeriodUnit::Year => "year",
        }
    }
}

impl std::fmt::Display for PeriodUnit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Most days a [`DayOrdinals`] tabulates (about 180 years).
const MAX_TABULATED_DAYS: i64 = 1 << 16;

/// The period ordinals of a range of days, worked out once: callers that
/// ask for one per row (a chunk's dates, the walks' visits) look them up
/// instead of redoing the civil-date arithmetic. Days outside the range, or
/// every day when the range is too wide to tabulate, are computed.
#[derive(Clone, Debug)]
pub struct DayOrdinals {
    periods: Periods,
    first_day: i32,
    ords: Vec<i32>,
}

impl DayOrdinals {
    pub fn new(periods: Periods, days: Option<(i32, i32)>) -> Self {
        let (first_day, ords) = match days {
            Some((lo, hi)) if hi >= lo && i64::from(hi) - i64::from(lo) < MAX_TABULATED_DAYS => {
                (lo, (lo..=hi).map(|d| periods.ordinal(d)).collect())
            }
            _ => (0, Vec::new()),
        };
        DayOrdinals { periods, first_day, ords }
    }

    /// The first and last ordinals of the tabulated days, if any are.
    pub fn range(&self) -> Option<(i32, i32)> {
        Some((*self.ords.first()?, *self.ords.last()?))
    }

    /// The period ordinal of `day`.
    #[inline]
    pub fn get(&self, day: i32) -> i32 {
        // Days before `first_day` wrap to large offsets and miss the table.
        match self.ords.get(day.wrapping_sub(self.first_day) as u32 as usize) {
            Some(&ord) => ord,
            None => self.periods.ordinal(day),
        }
    }
}

/// A period scheme: a unit plus the first month of the fiscal year.
///
/// * `Day`: the ordinal is the day itself; label `2025-07-01`.
/// * `Week`: ISO weeks, Monday to Sunday; label is the ISO week-year and week,
///   `2025-W01` (2024-12-30 is in `2025-W01`, 2021-01-03 in `2020-W53`).
/// * `Month`: calendar months; label `2025-07`.
/// * `Quarter`: with `fiscal_year_start == 1` calendar quarters, label
///   `2025-Q3`. Otherwise fiscal quarters of a fiscal year that starts on the
///   1st of month `fiscal_year_start` and is named after the calendar year in
///   which it *ends*: with `fiscal_year_start = 7`, 2025-07-01..2026-06-30 is
///   FY2026, so 2025-07-15 is `FY2026-Q1` and 2026-01-15 is `FY2026-Q3`.
/// * `Year`: `2025`, or the fiscal year `FY2026`.
///
/// `fiscal_year_start` only matters for quarters and years.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Periods {
    pub unit: PeriodUnit,
    pub fiscal_year_start: u32,
}

impl Periods {
    /// A period scheme; `fiscal_year_start` is a month number 1-12.
    pub fn new(unit: PeriodUnit, fiscal_year_start: u32) -> Result<Self> {
        if !(1..=12).contains(&fiscal_year_start) {
            return Err(Error::param(format!(
                "fiscal_year_start must be a month number 1-12 (1 = calendar year), \
                 got {fiscal_year_start}"
            )));
        }
        Ok(Periods { unit, fiscal_year_start })
    }

    /// Months between January and the first month of the fiscal year (0-11).
    #[inline]
    fn shift(&self) -> i64 {
        i64::from(self.fiscal_year_start.clamp(1, 12)) - 1
    }

    #[inline]
    fn is_fiscal(&self) -> bool {
        self.shift() != 0
    }

    /// The ordinal of the period that contains `day`. Monotone non-decreasing
    /// in `day`; consecutive periods have consecutive ordinals. For `Day` it is
    /// the day itself; for `Week` weeks since the Monday 1969-12-29; for the
    /// others months / quarters / years since year 0 (so ordinals of different
    /// units are not comparable). [`NULL_DAY`] is not a day: filter nulls first.
    #[inline]
    pub fn ordinal(&self, day: i32) -> i32 {
        match self.unit {
            PeriodUnit::Day => day,
            // Day 0 (1970-01-01) is a Thursday; day -3 the Monday of week 0.
            PeriodUnit::Week => sat_i32((i64::from(day) + 3).div_euclid(7)),
            PeriodUnit::Month => sat_i32(month_index(day)),
            PeriodUnit::Quarter => sat_i32((month_index(day) - self.shift()).div_euclid(3)),
            PeriodUnit::Year => sat_i32((month_index(day) - self.shift()).div_euclid(12)),
        }
    }

    #[inline]
    fn start_i64(&self, ord: i64) -> i64 {
        match self.unit {
            PeriodUnit::Day => ord,
            PeriodUnit::Week => ord * 7 - 3,
            PeriodUnit::Month => month_index_start(ord),
            PeriodUnit::Quarter => month_index_start(ord * 3 + self.shift()),
            PeriodUnit::Year => month_index_start(ord * 12 + self.shift()),
        }
    }

    /// The first day of period `ord`.
    #[inline]
    pub fn start(&self, ord: i32) -> i32 {
        sat_i32(self.start_i64(i64::from(ord)))
    }

    /// The last day (inclusive) of period `ord`.
    #[inline]
    pub fn end(&self, ord: i32) -> i32 {
        sat_i32(self.start_i64(i64::from(ord) + 1) - 1)
    }

    /// The label of period `ord`: `2025-07-01`, `2025-W27`, `2025-07`,
    /// `2025-Q3` / `FY2026-Q1`, `2025` / `FY2026`.
    pub fn label(&self, ord: i32) -> String {
        let ord = i64::from(ord);
        match self.unit {
            PeriodUnit::Day => format_day(sat_i32(ord)),
            PeriodUnit::Week => {
                // The ISO week-year is the year of the week's Thursday.
                let thursday = ord * 7;
                let (y, _, _) = civil_from_days(thursday);
                let week = (thursday - days_from_civil(y, 1, 1)) / 7 + 1;
                format!("{}-W{week:02}", fmt_year(y))
            }
            PeriodUnit::Month => format!("{}-{:02}", fmt_year(ord.div_euclid(12)), ord.rem_euclid(12) + 1),
            PeriodUnit::Quarter => {
                // ord = 4 * (calendar year in which the (fiscal) year starts) + quarter - 1
                let (y, q) = (ord.div_euclid(4), ord.rem_euclid(4) + 1);
                if self.is_fiscal() {
                    format!("FY{}-Q{q}", fmt_year(y + 1))
                } else {
                    format!("{}-Q{q}", fmt_year(y))
                }
            }
            PeriodUnit::Year => {
                if self.is_fiscal() {
                    format!("FY{}", fmt_year(ord + 1))
                } else {
                    fmt_year(ord)
                }
            }
        }
    }
}

/// A time zone a zoned timestamp column is bucketed in.
#[derive(Clone, Copy, Debug)]
enum Zone {
    /// A fixed offset east of UTC, in seconds.
    Fixed(i64),
    Named(chrono_tz::Tz),
}

impl Zone {
    /// Parses an IANA name (`Europe/Berlin`, `UTC`) or a fixed offset
    /// (`+01:00`, `-0530`, `+05`).
    fn parse(name: &str) -> Option<Zone> {
        if let Ok(tz) = name.parse::<chrono_tz::Tz>() {
            // UTC under its many names needs no lookups at all.
            let utc = matches!(
                tz.name().strip_prefix("Etc/").unwrap_or(tz.name()),
                "UTC" | "UCT" | "GMT" | "GMT0" | "GMT+0" | "GMT-0" | "Universal" | "Zulu" | "Greenwich"
            );
            return Some(if utc { Zone::Fixed(0) } else { Zone::Named(tz) });
        }
        let tz: arrow_array::timezone::Tz = name.parse().ok()?;
        let epoch = chrono::DateTime::UNIX_EPOCH.naive_utc();
        Some(Zone::Fixed(i64::from(tz.offset_from_utc_datetime(&epoch).fix().local_minus_utc())))
    }
}

/// UTC offset of a named zone at an instant, by chrono-tz (a binary search
/// over the zone's transitions).
fn tz_offset(tz: chrono_tz::Tz, utc_secs: i64) -> i64 {
    // chrono covers about ±262,000 years; the offset there is the zone's first
    // or last one anyway.
    const LIMIT: i64 = 8_000_000_000_000;
    let secs = utc_secs.clamp(-LIMIT, LIMIT);
    let utc = chrono::DateTime::from_timestamp(secs, 0).unwrap_or(chrono::DateTime::UNIX_EPOCH).naive_utc();
    i64::from(tz.offset_from_utc_datetime(&utc).fix().local_minus_utc())
}

/// Caches a zone's UTC offset for the 15-minute UTC bucket of the last
/// instant seen. Real zones change offset on 15-minute boundaries nowadays,
/// but not historically (local mean time ended at odd seconds), so a bucket is
/// only cached when the offset at its first and at its last second agree;
/// a bucket with a transition inside is looked up per row.
struct OffsetCache {
    tz: chrono_tz::Tz,
    bucket: i64,
    /// Offset for the whole bucket, or `None` when it changes inside it.
    offset: Option<i64>,
}

impl OffsetCache {
    fn new(tz: chrono_tz::Tz) -> Self {
        OffsetCache { tz, bucket: i64::MIN, offset: None }
    }

    /// Local wall-clock seconds of a UTC instant.
    #[inline]
    fn local_secs(&mut self, utc_secs: i64) -> i64 {
        let bucket = utc_secs.div_euclid(OFFSET_BUCKET_SECS);
        if bucket != self.bucket {
            self.refill(bucket);
        }
        let offset = match self.offset {
            Some(o) => o,
            None => tz_offset(self.tz, utc_secs),
        };
        utc_secs.saturating_add(offset)
    }

    #[cold]
    fn refill(&mut self, bucket: i64) {
        let first = bucket.saturating_mul(OFFSET_BUCKET_SECS);
        let last = first.saturating_add(OFFSET_BUCKET_SECS - 1);
        let a = tz_offset(self.tz, first);
        let b = tz_offset(self.tz, last);
        self.bucket = bucket;
        self.offset = (a == b).then_some(a);
    }
}

#[derive(Clone, Debug)]
enum DateKind {
    Date32,
    Date64,
    /// A timestamp without time zone: local wall time, never shifted.
    Naive(TimeUnit),
    Zoned(TimeUnit, Zone),
    /// An all-null column (pandas and pyarrow infer type null for an all-missing column).
    Null,
}

/// Reads an Arrow date or timestamp column as local days since 1970-01-01.
///
/// `Date32` is taken as is, `Date64` and naive timestamps (no time zone) are
/// floored to their day, zoned timestamps are converted to wall time in the
/// bucketing zone first, then floored. Flooring is toward negative infinity,
/// so 1969-12-31T23:00 belongs to 1969-12-31. Days beyond the `i32` range
/// (only reachable with second-resolution timestamps millions of years away)
/// saturate.
#[derive(Clone, Debug)]
pub struct DateReader {
    data_type: DataType,
    kind: DateKind,
    zone_name: Option<String>,
}

/// Units of a timestamp per second.
const fn units_per_sec(unit: TimeUnit) -> i64 {
    match unit {
        TimeUnit::Second => 1,
        TimeUnit::Millisecond => 1_000,
        TimeUnit::Microsecond => 1_000_000,
        TimeUnit::Nanosecond => 1_000_000_000,
    }
}

/// What to tell a user whose date column has the wrong type.
fn wrong_type_message(column: &str, data_type: &DataType) -> String {
    let head = format!(
        "column {column:?} has type {data_type}, but a date or timestamp \
         (Date32, Date64 or Timestamp) is needed to bucket periods"
    );
    let value_type = match data_type {
        DataType::Dictionary(_, v) => v.as_ref(),
        other => other,
    };
    let hint = match value_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => format!(
            "it holds strings: parse them first, e.g. \
             df[{column:?}] = pandas.to_datetime(df[{column:?}]) or \
             pl.col({column:?}).str.to_datetime() (str.to_date() for dates) in polars"
        ),
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64
        | DataType::Float16
        | DataType::Float32
        | DataType::Float64 => format!(
            "it holds numbers: convert them first, e.g. \
             pandas.to_datetime(df[{column:?}], unit=\"s\") for epoch seconds, or \
             pl.from_epoch({column:?}, time_unit=\"s\") in polars"
        ),
        DataType::Time32(_) | DataType::Time64(_) => {
            "it holds times of day without a date; pass a date or timestamp column".to_string()
        }
        DataType::Duration(_) | DataType::Interval(_) => {
            "it holds durations, not points in time; pass a date or timestamp column".to_string()
        }
        _ => "cast it to a date or timestamp first \
              (pandas.to_datetime, or str.to_datetime / cast in polars)"
            .to_string(),
    };
    format!("{head}; {hint}")
}

impl DateReader {
    /// A reader for a column of type `data_type`.
    ///
    /// Accepts `Date32`, `Date64` and `Timestamp` of any unit, with or without
    /// a time zone, and an all-null column of type `Null` (every day null). `tz` is the zone to bucket zoned timestamps in: an IANA
    /// name such as `"Europe/Berlin"` (case-sensitive) or a fixed offset such
    /// as `"+01:00"`; `None` buckets a zoned column in its own zone. Naive
    /// timestamps are local wall time already and dates have no time, so
    /// neither is ever shifted (a given `tz` is still validated).
    ///
    /// Errors ([`Error::column`]): any other column type (the message names
    /// the column and its type and says how to convert it), an unknown `tz`
    /// (reported against the parameter `tz`) or an unknown time zone in the
    /// column's own type.
    pub fn new(column: &str, data_type: &DataType, tz: Option<&str>) -> Result<Self> {
        let requested = match tz {
            Some(name) => Some((
                name,
                Zone::parse(name).ok_or_else(|| {
                    Error::column(
                        "tz",
                        format!(
                            "unknown time zone {name:?} (tz=, for column {column:?}): use an \
                             IANA name such as \"Europe/Berlin\" or \"UTC\" (names are \
                             case-sensitive), or a fixed offset such as \"+01:00\""
                        ),
                    )
                })?,
            )),
            None => None,
        };
        let (kind, zone_name) = match data_type {
            DataType::Date32 => (DateKind::Date32, None),
            DataType::Date64 => (DateKind::Date64, None),
            DataType::Timestamp(unit, None) => (DateKind::Naive(*unit), None),
            DataType::Null => (DateKind::Null, None),
            DataType::Timestamp(unit, Some(own)) => match requested {
                Some((name, zone)) => (DateKind::Zoned(*unit, zone), Some(name.to_string())),
                None => {
                    let zone = Zone::parse(own).ok_or_else(|| {
                        Error::column(
                            column,
                            format!(
                                "column {column:?} has type {data_type} with an unknown time \
                                 zone {own:?}; pass tz= with an IANA name such as \
                                 \"Europe/Berlin\" to choose the zone to bucket in"
                            ),
                        )
                    })?;
                    (DateKind::Zoned(*unit, zone), Some(own.to_string()))
                }
            },
            other => return Err(Error::column(column, wrong_type_message(column, other))),
        };
        Ok(DateReader { data_type: data_type.clone(), kind, zone_name })
    }

    /// The zone zoned timestamps are bucketed in; `None` for dates and naive
    /// timestamps.
    pub fn zone_name(&self) -> Option<&str> {
        self.zone_name.as_deref()
    }

    /// Appends one local day per row of `array` to `out` (cleared first),
    /// [`NULL_DAY`] for nulls.
    ///
    /// # Panics
    /// If `array` is not of the type the reader was made for (a bug in the
    /// caller, not bad input).
    pub fn days(&self, array: &dyn Array, out: &mut Vec<i32>) {
        assert_eq!(
            array.data_type(),
            &self.data_type,
            "DateReader::days: array type differs from the reader's"
        );
        out.clear();
        out.reserve(array.len());
        match &self.kind {
            DateKind::Null => out.resize(array.len(), NULL_DAY),
            DateKind::Date32 => map_days(array.as_primitive::<Date32Type>(), out, false, |d| d),
            DateKind::Date64 => map_days(array.as_primitive::<Date64Type>(), out, false, |ms| {
                sat_i32(ms.div_euclid(SECS_PER_DAY * 1_000))
            }),
            DateKind::Naive(unit) => {
                map_timestamps(array, *unit, out, false, |t, per_sec| {
                    sat_i32(t.div_euclid(per_sec * SECS_PER_DAY))
                });
            }
            DateKind::Zoned(unit, Zone::Fixed(offset)) => {
                let offset = *offset;
                map_timestamps(array, *unit, out, false, |t, per_sec| {
                    let local = t.div_euclid(per_sec).saturating_add(offset);
                    sat_i32(local.div_euclid(SECS_PER_DAY))
                });
            }
            DateKind::Zoned(unit, Zone::Named(tz)) => {
                let mut cache = OffsetCache::new(*tz);
                // Skip the values under nulls: each could send the offset cache to 1970.
                map_timestamps(array, *unit, out, true, |t, per_sec| {
                    let local = cache.local_secs(t.div_euclid(per_sec));
                    sat_i32(local.div_euclid(SECS_PER_DAY))
                });
            }
        }
    }
}

/// Dispatches a timestamp array of `unit` to [`map_days`], calling
/// `f(value, units per second)` with the units per second a constant in each
/// arm, so that the divisions by it compile to multiplications rather than a
/// 64-bit divide per row. (Measured at 10M rows, reading the days is bound by
/// the first load of the input column either way; the divide was not its cost.)
#[inline]
fn map_timestamps(
    array: &dyn Array,
    unit: TimeUnit,
    out: &mut Vec<i32>,
    skip_nulls: bool,
    mut f: impl FnMut(i64, i64) -> i32,
) {
    const S: i64 = units_per_sec(TimeUnit::Second);
    const MS: i64 = units_per_sec(TimeUnit::Millisecond);
    const US: i64 = units_per_sec(TimeUnit::Microsecond);
    const NS: i64 = units_per_sec(TimeUnit::Nanosecond);
    match unit {
        TimeUnit::Second => {
            map_days(array.as_primitive::<TimestampSecondType>(), out, skip_nulls, |t| f(t, S))
        }
        TimeUnit::Millisecond => {
            map_days(array.as_primitive::<TimestampMillisecondType>(), out, skip_nulls, |t| f(t, MS))
        }
        TimeUnit::Microsecond => {
            map_days(array.as_primitive::<TimestampMicrosecondType>(), out, skip_nulls, |t| f(t, US))
        }
        TimeUnit::Nanosecond => {
            map_days(array.as_primitive::<TimestampNanosecondType>(), out, skip_nulls, |t| f(t, NS))
        }
    }
}

/// Pushes `f(value)` for valid slots and [`NULL_DAY`] for null ones. With
/// `skip_nulls`, `f` is not called on the values behind nulls (for an `f`
/// whose cost depends on the value); otherwise it is, and must be cheap and
/// total on any value.
#[inline]
fn map_days<T: ArrowPrimitiveType>(
    array: &PrimitiveArray<T>,
    out: &mut Vec<i32>,
    skip_nulls: bool,
    mut f: impl FnMut(T::Native) -> i32,
) {
    let values: &[T::Native] = array.values();
    // In blocks, the next one prefetched: the column comes from memory.
    let ahead = |rows| prefetch_rows(values, rows);
    match array.nulls().filter(|n| n.null_count() > 0) {
        None => {
            for_each_block_ahead(values.len(), ahead, |rows| out.extend(values[rows].iter().map(|&v| f(v))))
        }
        Some(nulls) if skip_nulls => {
            let mut valid = nulls.iter();
            for_each_block_ahead(values.len(), ahead, |rows| {
                let block = values[rows].iter().zip(&mut valid);
                out.extend(block.map(|(&v, valid)| if valid { f(v) } else { NULL_DAY }));
            });
        }
        Some(nulls) => {
            // Every value read (what lies under a null is some number too, so
            // `f` is safe on it), then the nulls overwritten: two tight loops
            // instead of one that tests a bit per row.
            let start = out.len();
            for_each_block_ahead(values.len(), ahead, |rows| out.extend(values[rows].iter().map(|&v| f(v))));
            let null_rows = !nulls.inner();
            for row in BitIndexIterator::new(null_rows.values(), null_rows.offset(), null_rows.len()) {
                out[start + row] = NULL_DAY;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{
        Date32Array, Date64Array, TimestampMicrosecondArray, TimestampMillisecondArray,
        TimestampNanosecondArray, TimestampSecondArray,
    };
    use chrono::{Datelike, NaiveDate};

    fn day(s: &str) -> i32 {
        let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        (d - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()).num_days() as i32
    }

    fn p(unit: PeriodUnit, fy: u32) -> Periods {
        Periods::new(unit, fy).unwrap()
    }

    fn label_of(unit: PeriodUnit, fy: u32, d: &str) -> String {
        let ps = p(unit, fy);
        ps.label(ps.ordinal(day(d)))
    }

    fn bounds_of(unit: PeriodUnit, fy: u32, d: &str) -> (String, String) {
        let ps = p(unit, fy);
        let o = ps.ordinal(day(d));
        (format_day(ps.start(o)), format_day(ps.end(o)))
    }

    /// SplitMix64, enough for test data.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        fn range(&mut self, lo: i64, hi: i64) -> i64 {
            lo + (self.next() % (hi - lo) as u64) as i64
        }
    }

    #[test]
    fn tabulated_ordinals_match_the_calendar() {
        let periods = Periods::new(PeriodUnit::Quarter, 4).unwrap();
        let table = DayOrdinals::new(periods, Some((-400, 800)));
        let untabulated = DayOrdinals::new(periods, Some((i32::MIN, i32::MAX)));
        // Inside the table, on both sides of it, and at the ends of i32.
        for day in (-1_000..2_000).chain([i32::MIN, i32::MIN + 1, i32::MAX]) {
            assert_eq!(table.get(day), periods.ordinal(day), "day {day}");
            assert_eq!(untabulated.get(day), periods.ordinal(day), "day {day}");
        }
        assert_eq!(crate::entity::WalkCtx::new(None, 0, Some((0, 10))).ord(5), 0);
    }

    #[test]
    fn civil_roundtrip_matches_chrono() {
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        // Every day from year 1 to 9999, and a band around day 0.
        let lo = day("0001-01-01");
        let hi = day("9999-12-31");
        for d in lo..=hi {
            let (y, m, dd) = civil_from_days(i64::from(d));
            assert_eq!(days_from_civil(y, m, dd), i64::from(d));
            if d % 97 == 0 || (-1000..1000).contains(&d) {
                let c = epoch + chrono::Duration::days(i64::from(d));
                assert_eq!((y, m, dd), (i64::from(c.year()), c.month(), c.day()));
            }
        }
        // Proleptic Gregorian before year 1 and far out.
        assert_eq!(civil_from_days(i64::from(day("0001-01-01")) - 1), (0, 12, 31));
        for &d in &[i32::MIN + 1, -1_000_000_000, 1_000_000_000, i32::MAX] {
            let (y, m, dd) = civil_from_days(i64::from(d));
            assert_eq!(days_from_civil(y, m, dd), i64::from(d));
        }
    }

    #[test]
    fn parse_units() {
        assert_eq!(PeriodUnit::parse("day").unwrap(), PeriodUnit::Day);
        assert_eq!(PeriodUnit::parse("Week").unwrap(), PeriodUnit::Week);
        assert_eq!(PeriodUnit::parse("MONTH").unwrap(), PeriodUnit::Month);
        assert_eq!(PeriodUnit::parse("quarter").unwrap(), PeriodUnit::Quarter);
        assert_eq!(PeriodUnit::parse("yEaR").unwrap(), PeriodUnit::Year);
        for u in PeriodUnit::ALL {
            assert_eq!(PeriodUnit::parse(u.as_str()).unwrap(), u);
            assert_eq!(u.to_string(), u.as_str());
        }
        let err = PeriodUnit::parse("fortnight").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("fortnight"), "{msg}");
        for allowed in ["day", "week", "month", "quarter", "year"] {
            assert!(msg.contains(allowed), "{msg}");
        }
        assert!(matches!(err, Error::Input { column: None, .. }));
        assert!(PeriodUnit::parse("").is_err());
        assert!(PeriodUnit::parse("months").is_err());
    }

    #[test]
    fn serde_lowercase() {
        let ps = p(PeriodUnit::Quarter, 7);
        let json = serde_json::to_string(&ps).unwrap();
        assert_eq!(json, r#"{"unit":"quarter","fiscal_year_start":7}"#);
        assert_eq!(serde_json::from_str::<Periods>(&json).unwrap(), ps);
    }

    #[test]
    fn fiscal_year_start_is_validated() {
        for m in 1..=12 {
            assert!(Periods::new(PeriodUnit::Quarter, m).is_ok());
        }
        for m in [0, 13, 100] {
            let err = Periods::new(PeriodUnit::Year, m).unwrap_err();
            assert!(err.to_string().contains("fiscal_year_start"), "{err}");
            assert!(matches!(err, Error::Input { column: None, .. }));
        }
    }

    #[test]
    fn day_labels() {
        let ps = p(PeriodUnit::Day, 1);
        assert_eq!(ps.ordinal(day("2025-07-01")), day("2025-07-01"));
        assert_eq!(label_of(PeriodUnit::Day, 1, "2025-07-01"), "2025-07-01");
        assert_eq!(label_of(PeriodUnit::Day, 7, "1969-12-31"), "1969-12-31");
        assert_eq!(ps.label(0), "1970-01-01");
        assert_eq!(ps.start(5), 5);
        assert_eq!(ps.end(5), 5);
    }

    #[test]
    fn iso_weeks_around_new_year() {
        let w = |d| label_of(PeriodUnit::Week, 1, d);
        assert_eq!(w("2020-12-31"), "2020-W53");
        assert_eq!(w("2021-01-01"), "2020-W53");
        assert_eq!(w("2021-01-03"), "2020-W53");
        assert_eq!(w("2021-01-04"), "2021-W01");
        assert_eq!(w("2024-12-29"), "2024-W52");
        assert_eq!(w("2024-12-30"), "2025-W01");
        assert_eq!(w("2025-01-01"), "2025-W01");
        assert_eq!(w("2025-01-05"), "2025-W01");
        assert_eq!(w("2025-01-06"), "2025-W02");
        assert_eq!(w("2025-07-01"), "2025-W27");
        assert_eq!(w("2015-12-31"), "2015-W53");
        assert_eq!(w("2016-01-03"), "2015-W53");
        assert_eq!(w("2008-12-29"), "2009-W01");
        assert_eq!(w("1970-01-01"), "1970-W01");
        assert_eq!(w("1969-12-29"), "1970-W01");
        assert_eq!(w("1969-12-28"), "1969-W52");
        // The fiscal year start does not affect weeks.
        assert_eq!(label_of(PeriodUnit::Week, 7, "2021-01-03"), "2020-W53");
        assert_eq!(bounds_of(PeriodUnit::Week, 1, "2021-01-01"), ("2020-12-28".into(), "2021-01-03".into()));
        assert_eq!(bounds_of(PeriodUnit::Week, 1, "1970-01-01"), ("1969-12-29".into(), "1970-01-04".into()));
        let ps = p(PeriodUnit::Week, 1);
        assert_eq!(ps.ordinal(day("1969-12-29")), 0);
        assert_eq!(ps.ordinal(day("1969-12-28")), -1);
    }

    #[test]
    fn iso_weeks_match_chrono() {
        let ps = p(PeriodUnit::Week, 1);
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        for d in (day("1600-01-01")..day("2400-01-01")).step_by(3) {
            let c = epoch + chrono::Duration::days(i64::from(d));
            let iw = c.iso_week();
            let expected = format!("{:04}-W{:02}", iw.year(), iw.week());
            let o = ps.ordinal(d);
            assert_eq!(ps.label(o), expected, "day {c}");
            assert_eq!(ps.start(o), d - c.weekday().num_days_from_monday() as i32);
        }
    }

    #[test]
    fn months() {
        assert_eq!(label_of(PeriodUnit::Month, 1, "2025-07-15"), "2025-07");
        // fiscal_year_start is ignored for months
        assert_eq!(label_of(PeriodUnit::Month, 4, "2025-07-15"), "2025-07");
        assert_eq!(label_of(PeriodUnit::Month, 1, "1969-12-31"), "1969-12");
        assert_eq!(bounds_of(PeriodUnit::Month, 1, "2024-02-29"), ("2024-02-01".into(), "2024-02-29".into()));
        assert_eq!(bounds_of(PeriodUnit::Month, 1, "2023-02-10"), ("2023-02-01".into(), "2023-02-28".into()));
        assert_eq!(bounds_of(PeriodUnit::Month, 1, "1900-02-10"), ("1900-02-01".into(), "1900-02-28".into()));
        assert_eq!(bounds_of(PeriodUnit::Month, 1, "2000-02-10"), ("2000-02-01".into(), "2000-02-29".into()));
        let ps = p(PeriodUnit::Month, 1);
        assert_eq!(ps.ordinal(day("2025-12-31")) + 1, ps.ordinal(day("2026-01-01")));
    }

    #[test]
    fn calendar_quarters_and_years() {
        let q = |d| label_of(PeriodUnit::Quarter, 1, d);
        assert_eq!(q("2025-01-01"), "2025-Q1");
        assert_eq!(q("2025-03-31"), "2025-Q1");
        assert_eq!(q("2025-04-01"), "2025-Q2");
        assert_eq!(q("2025-07-15"), "2025-Q3");
        assert_eq!(q("2025-12-31"), "2025-Q4");
        assert_eq!(q("2024-02-29"), "2024-Q1");
        assert_eq!(
            bounds_of(PeriodUnit::Quarter, 1, "2024-02-29"),
            ("2024-01-01".into(), "2024-03-31".into())
        );
        assert_eq!(
            bounds_of(PeriodUnit::Quarter, 1, "2025-08-20"),
            ("2025-07-01".into(), "2025-09-30".into())
        );
        assert_eq!(label_of(PeriodUnit::Year, 1, "2025-07-15"), "2025");
        assert_eq!(label_of(PeriodUnit::Year, 1, "1969-07-15"), "1969");
        assert_eq!(bounds_of(PeriodUnit::Year, 1, "2024-02-29"), ("2024-01-01".into(), "2024-12-31".into()));
        let ps = p(PeriodUnit::Year, 1);
        assert_eq!(ps.ordinal(day("2025-05-05")), 2025);
        let qs = p(PeriodUnit::Quarter, 1);
        assert_eq!(qs.ordinal(day("2025-12-31")) + 1, qs.ordinal(day("2026-01-01")));
    }

    #[test]
    fn fiscal_july() {
        let q = |d| label_of(PeriodUnit::Quarter, 7, d);
        let y = |d| label_of(PeriodUnit::Year, 7, d);
        assert_eq!(q("2025-07-15"), "FY2026-Q1");
        assert_eq!(q("2025-07-01"), "FY2026-Q1");
        assert_eq!(q("2025-06-30"), "FY2025-Q4");
        assert_eq!(q("2025-10-01"), "FY2026-Q2");
        assert_eq!(q("2025-12-31"), "FY2026-Q2");
        assert_eq!(q("2026-01-15"), "FY2026-Q3");
        assert_eq!(q("2026-04-01"), "FY2026-Q4");
        assert_eq!(q("2026-06-30"), "FY2026-Q4");
        assert_eq!(q("2026-07-01"), "FY2027-Q1");
        assert_eq!(y("2025-07-01"), "FY2026");
        assert_eq!(y("2026-06-30"), "FY2026");
        assert_eq!(y("2025-06-30"), "FY2025");
        assert_eq!(bounds_of(PeriodUnit::Year, 7, "2025-07-15"), ("2025-07-01".into(), "2026-06-30".into()));
        assert_eq!(
            bounds_of(PeriodUnit::Quarter, 7, "2026-01-15"),
            ("2026-01-01".into(), "2026-03-31".into())
        );
        assert_eq!(
            bounds_of(PeriodUnit::Quarter, 7, "2024-02-29"),
            ("2024-01-01".into(), "2024-03-31".into())
        );
        assert_eq!(q("2024-02-29"), "FY2024-Q3");
        let ps = p(PeriodUnit::Quarter, 7);
        assert_eq!(ps.ordinal(day("2026-06-30")) + 1, ps.ordinal(day("2026-07-01")));
        assert_eq!(ps.ordinal(day("2025-12-31")) + 1, ps.ordinal(day("2026-01-01")));
    }

    #[test]
    fn fiscal_april_and_october() {
        let q4 = |d| label_of(PeriodUnit::Quarter, 4, d);
        assert_eq!(q4("2025-04-01"), "FY2026-Q1");
        assert_eq!(q4("2025-03-31"), "FY2025-Q4");
        assert_eq!(q4("2025-07-01"), "FY2026-Q2");
        assert_eq!(q4("2025-12-31"), "FY2026-Q3");
        assert_eq!(q4("2026-01-01"), "FY2026-Q4");
        assert_eq!(q4("2024-02-29"), "FY2024-Q4");
        assert_eq!(label_of(PeriodUnit::Year, 4, "2025-04-01"), "FY2026");
        assert_eq!(label_of(PeriodUnit::Year, 4, "2025-03-31"), "FY2025");
        assert_eq!(
            bounds_of(PeriodUnit::Quarter, 4, "2024-02-29"),
            ("2024-01-01".into(), "2024-03-31".into())
        );
        assert_eq!(bounds_of(PeriodUnit::Year, 4, "2024-02-29"), ("2023-04-01".into(), "2024-03-31".into()));

        // US federal fiscal year: FY2026 = 2025-10-01..2026-09-30.
        let q10 = |d| label_of(PeriodUnit::Quarter, 10, d);
        assert_eq!(q10("2025-10-01"), "FY2026-Q1");
        assert_eq!(q10("2025-09-30"), "FY2025-Q4");
        assert_eq!(q10("2026-01-01"), "FY2026-Q2");
        assert_eq!(q10("2026-04-01"), "FY2026-Q3");
        assert_eq!(q10("2026-07-01"), "FY2026-Q4");
        assert_eq!(label_of(PeriodUnit::Year, 10, "2025-10-01"), "FY2026");
        assert_eq!(bounds_of(PeriodUnit::Year, 10, "2026-02-01"), ("2025-10-01".into(), "2026-09-30".into()));
        // Non-quarter-aligned fiscal start (February).
        assert_eq!(label_of(PeriodUnit::Quarter, 2, "2025-01-31"), "FY2025-Q4");
        assert_eq!(label_of(PeriodUnit::Quarter, 2, "2025-02-01"), "FY2026-Q1");
        assert_eq!(
            bounds_of(PeriodUnit::Quarter, 2, "2024-03-15"),
            ("2024-02-01".into(), "2024-04-30".into())
        );
        assert_eq!(
            bounds_of(PeriodUnit::Quarter, 2, "2024-12-15"),
            ("2024-11-01".into(), "2025-01-31".into())
        );
        // December start.
        assert_eq!(label_of(PeriodUnit::Year, 12, "2025-12-01"), "FY2026");
        assert_eq!(label_of(PeriodUnit::Year, 12, "2025-11-30"), "FY2025");
        assert_eq!(label_of(PeriodUnit::Quarter, 12, "2026-02-28"), "FY2026-Q1");
    }

    /// A straightforward reference implementation via chrono.
    fn reference_label(unit: PeriodUnit, fy: u32, d: i32) -> String {
        let c = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap() + chrono::Duration::days(i64::from(d));
        let (y, m) = (c.year(), c.month());
        let fiscal_year = if m >= fy { y + 1 } else { y };
        let months_in = (m + 12 - fy) % 12;
        match unit {
            PeriodUnit::Day => c.format("%Y-%m-%d").to_string(),
            PeriodUnit::Week => {
                format!("{:04}-W{:02}", c.iso_week().year(), c.iso_week().week())
            }
            PeriodUnit::Month => format!("{y:04}-{m:02}"),
            PeriodUnit::Quarter if fy == 1 => format!("{y:04}-Q{}", (m - 1) / 3 + 1),
            PeriodUnit::Quarter => format!("FY{fiscal_year:04}-Q{}", months_in / 3 + 1),
            PeriodUnit::Year if fy == 1 => format!("{y:04}"),
            PeriodUnit::Year => format!("FY{fiscal_year:04}"),
        }
    }

    #[test]
    fn every_day_1900_to_2100_all_units() {
        let lo = day("1900-01-01");
        let hi = day("2100-12-31");
        for unit in PeriodUnit::ALL {
            for fy in [1, 2, 4, 7, 10, 12] {
                let ps = p(unit, fy);
                let mut prev_ord = ps.ordinal(lo - 1);
                for d in lo..=hi {
                    let o = ps.ordinal(d);
                    assert!(
                        o == prev_ord || o == prev_ord + 1,
                        "{unit} fy{fy} not consecutive at {}",
                        format_day(d)
                    );
                    let (s, e) = (ps.start(o), ps.end(o));
                    assert!(s <= d && d <= e, "{unit} fy{fy} day {}", format_day(d));
                    assert_eq!(ps.ordinal(s), o);
                    assert_eq!(ps.ordinal(e), o);
                    assert_eq!(ps.start(o + 1), e + 1);
                    if o != prev_ord {
                        assert_eq!(s, d, "a new period starts on its first day");
                    }
                    prev_ord = o;
                    if d % 7 == 0 || s == d {
                        assert_eq!(ps.label(o), reference_label(unit, fy, d));
                    }
                }
            }
        }
    }

    #[test]
    fn year_range_bounds() {
        assert_eq!(format_day(MIN_DAY), "0001-01-01");
        assert_eq!(format_day(MAX_DAY), "9999-12-31");
        assert!(in_year_range(0) && !in_year_range(MIN_DAY - 1) && !in_year_range(MAX_DAY + 1));
        assert!(!in_year_range(NULL_DAY));
    }

    #[test]
    fn far_past_and_future() {
        for unit in PeriodUnit::ALL {
            for fy in [1, 7] {
                let ps = p(unit, fy);
                for d in [
                    day("0001-01-01"),
                    day("0001-03-01"),
                    day("9999-12-31"),
                    day("9999-06-15"),
                    -1_000_000,
                    1_000_000,
                    -719_468 - 1, // 0000-02-29 area
                ] {
                    let o = ps.ordinal(d);
                    assert!(ps.start(o) <= d && d <= ps.end(o));
                    assert_eq!(ps.start(o + 1), ps.end(o) + 1);
                    assert_eq!(ps.ordinal(ps.start(o)), o);
                    assert_eq!(ps.ordinal(ps.end(o)), o);
                }
            }
        }
        assert_eq!(label_of(PeriodUnit::Year, 1, "0001-05-05"), "0001");
        assert_eq!(label_of(PeriodUnit::Quarter, 1, "9999-12-31"), "9999-Q4");
        assert_eq!(label_of(PeriodUnit::Year, 7, "9999-12-31"), "FY+10000");
        assert_eq!(label_of(PeriodUnit::Week, 1, "0001-01-01"), "0001-W01");
        assert_eq!(format_day(day("0001-01-01") - 1), "0000-12-31");
        assert_eq!(format_day(day("0001-01-01") - 367), "-0001-12-31");
        // Extremes never panic.
        for unit in PeriodUnit::ALL {
            let ps = p(unit, 7);
            for d in [i32::MIN + 1, i32::MAX, NULL_DAY] {
                let o = ps.ordinal(d);
                let _ = (ps.start(o), ps.end(o), ps.label(o));
            }
        }
    }

    // ---- DateReader -------------------------------------------------------

    fn read(dt: &DataType, tz: Option<&str>, array: &dyn Array) -> Vec<i32> {
        let r = DateReader::new("date", dt, tz).unwrap();
        let mut out = vec![42; 3]; // cleared by days()
        r.days(array, &mut out);
        out
    }

    #[test]
    fn date32_and_nulls() {
        let a = Date32Array::from(vec![Some(0), None, Some(-1), Some(20_000), None]);
        let out = read(&DataType::Date32, None, &a);
        assert_eq!(out, vec![0, NULL_DAY, -1, 20_000, NULL_DAY]);
        // A tz is validated but does not shift dates.
        let out = read(&DataType::Date32, Some("Pacific/Chatham"), &a);
        assert_eq!(out, vec![0, NULL_DAY, -1, 20_000, NULL_DAY]);
        // Sliced arrays respect the offset.
        let sliced = a.slice(1, 3);
        assert_eq!(read(&DataType::Date32, None, &sliced), vec![NULL_DAY, -1, 20_000]);
    }

    #[test]
    fn values_under_nulls_are_never_read_as_days() {
        // Whatever lies under a null (here the extremes of i64, and a valid
        // day's worth of microseconds), it reads as NULL_DAY.
        let nulls = arrow_buffer::NullBuffer::from(vec![true, false, false, true, false]);
        let values = vec![86_400_000_000, i64::MIN, i64::MAX, -1, 86_400_000_000 * 3];
        let a = TimestampMicrosecondArray::new(values.into(), Some(nulls));
        let out = read(a.data_type(), None, &a);
        assert_eq!(out, vec![1, NULL_DAY, NULL_DAY, -1, NULL_DAY]);
        // The same through a fixed offset and a named zone, and sliced.
        let zoned = a.clone().with_timezone("+01:00");
        assert_eq!(read(zoned.data_type(), None, &zoned), vec![1, NULL_DAY, NULL_DAY, 0, NULL_DAY]);
        let named = a.clone().with_timezone("Europe/Paris");
        assert_eq!(read(named.data_type(), None, &named), vec![1, NULL_DAY, NULL_DAY, 0, NULL_DAY]);
        let sliced = a.slice(2, 3);
        assert_eq!(read(sliced.data_type(), None, &sliced), vec![NULL_DAY, -1, NULL_DAY]);
    }

    #[test]
    fn date64_floors() {
        let ms_day = 86_400_000i64;
        let a = Date64Array::from(vec![
            Some(0),
            Some(ms_day - 1),
            Some(ms_day),
            Some(-1),
            Some(-ms_day),
            Some(-ms_day - 1),
            None,
            Some(i64::from(day("2024-02-29")) * ms_day),
        ]);
        let out = read(&DataType::Date64, None, &a);
        assert_eq!(out, vec![0, 0, 1, -1, -1, -2, NULL_DAY, day("2024-02-29")]);
    }

    #[test]
    fn naive_timestamps_every_unit() {
        // 2025-07-01T23:59:59.5 and 1969-12-31T23:00 (negative: floors to its own day)
        let secs = [i64::from(day("2025-07-01")) * 86_400 + 86_399, -3_600, 0, -1, -86_400, -86_401];
        let want = vec![day("2025-07-01"), -1, 0, -1, -1, -2, NULL_DAY];
        let with_null = |scale: i64| -> Vec<Option<i64>> {
            secs.iter().map(|s| Some(s * scale)).chain(std::iter::once(None)).collect()
        };
        let a = TimestampSecondArray::from(with_null(1));
        assert_eq!(read(a.data_type(), None, &a), want);
        let a = TimestampMillisecondArray::from(with_null(1_000));
        assert_eq!(read(a.data_type(), None, &a), want);
        let a = TimestampMicrosecondArray::from(with_null(1_000_000));
        assert_eq!(read(a.data_type(), None, &a), want);
        let a = TimestampNanosecondArray::from(with_null(1_000_000_000));
        assert_eq!(read(a.data_type(), None, &a), want);
        // Sub-second negative values floor too.
        let a = TimestampNanosecondArray::from(vec![-1, 1, 86_400_000_000_000 - 1]);
        assert_eq!(read(a.data_type(), None, &a), vec![-1, 0, 0]);
        let a = TimestampMillisecondArray::from(vec![-1]);
        assert_eq!(read(a.data_type(), None, &a), vec![-1]);
        // A naive column is never shifted, whatever tz says.
        let a = TimestampSecondArray::from(vec![i64::from(day("2025-03-30")) * 86_400 + 23 * 3600]);
        assert_eq!(read(a.data_type(), Some("Asia/Kolkata"), &a), vec![day("2025-03-30")]);
    }

    fn ts(s: &str) -> i64 {
        chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap().and_utc().timestamp()
    }

    #[test]
    fn zoned_timestamps_and_dst() {
        let berlin = |secs: Vec<i64>| TimestampSecondArray::from(secs).with_timezone("Europe/Berlin");
        // Spring forward in Berlin: 2025-03-30 01:00 UTC (02:00 CET -> 03:00 CEST).
        let a = berlin(vec![
            ts("2025-03-30 23:30:00"), // 01:30 CEST next day
            ts("2025-03-30 21:59:59"), // 23:59:59 CEST
            ts("2025-03-30 22:00:00"), // 00:00 CEST
            ts("2025-03-29 22:59:59"), // 23:59:59 CET
            ts("2025-03-29 23:00:00"), // 00:00 CET
            ts("2025-10-26 22:59:59"), // after fall back: 23:59:59 CET
            ts("2025-10-26 23:00:00"),
            ts("1969-12-31 23:30:00"), // 00:30 local on 1970-01-01
        ]);
        assert_eq!(
            read(a.data_type(), None, &a),
            vec![
                day("2025-03-31"),
                day("2025-03-30"),
                day("2025-03-31"),
                day("2025-03-29"),
                day("2025-03-30"),
                day("2025-10-26"),
                day("2025-10-27"),
                0,
            ]
        );
        // Bucketing in UTC instead of the column's own zone.
        assert_eq!(read(a.data_type(), Some("UTC"), &a)[0], day("2025-03-30"));
        // A UTC column bucketed in New York (EDT, -4h in July).
        let a = TimestampMillisecondArray::from(vec![
            ts("2025-07-01 02:00:00") * 1000,
            ts("2025-07-01 04:00:00") * 1000,
            ts("2025-01-01 04:59:59") * 1000, // EST, -5h
            ts("2025-01-01 05:00:00") * 1000,
        ])
        .with_timezone("UTC");
        assert_eq!(
            read(a.data_type(), None, &a),
            vec![day("2025-07-01"), day("2025-07-01"), day("2025-01-01"), day("2025-01-01")]
        );
        assert_eq!(
            read(a.data_type(), Some("America/New_York"), &a),
            vec![day("2025-06-30"), day("2025-07-01"), day("2024-12-31"), day("2025-01-01")]
        );
        // Fixed offsets, in the column type and as tz=.
        let a = TimestampSecondArray::from(vec![ts("2025-07-01 20:00:00"), -1]).with_timezone("+05:30");
        assert_eq!(read(a.data_type(), None, &a), vec![day("2025-07-02"), 0]);
        assert_eq!(read(a.data_type(), Some("-0800"), &a), vec![day("2025-07-01"), -1]);
        // Nulls in a zoned column.
        let a = TimestampMicrosecondArray::from(vec![None, Some(0), None]).with_timezone("Asia/Kolkata");
        assert_eq!(read(a.data_type(), None, &a), vec![NULL_DAY, 0, NULL_DAY]);
        let r = DateReader::new("date", a.data_type(), None).unwrap();
        assert_eq!(r.zone_name(), Some("Asia/Kolkata"));
        let r = DateReader::new("date", a.data_type(), Some("UTC")).unwrap();
        assert_eq!(r.zone_name(), Some("UTC"));
        assert_eq!(DateReader::new("d", &DataType::Date32, None).unwrap().zone_name(), None);
    }

    /// The day of a UTC instant in `tz`, converted per row with chrono-tz.
    fn chrono_day(tz: chrono_tz::Tz, secs: i64) -> i32 {
        let local = tz.timestamp_opt(secs, 0).unwrap().naive_local().date();
        (local - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()).num_days() as i32
    }

    #[test]
    fn zoned_matches_chrono_tz_per_row() {
        let zones = [
            "America/New_York",
            "Europe/Berlin",
            "Australia/Lord_Howe",
            "Asia/Kolkata",
            "Pacific/Chatham",
            "America/St_Johns",
            "Europe/Amsterdam",
        ];
        let mut rng = Rng(7);
        let (lo, hi) = (ts("1850-01-01 00:00:00"), ts("2200-01-01 00:00:00"));
        for name in zones {
            let tz: chrono_tz::Tz = name.parse().unwrap();
            let mut secs: Vec<i64> = Vec::new();
            // Random instants over 350 years, in random order ...
            secs.extend((0..3000).map(|_| rng.range(lo, hi)));
            // ... sorted runs across the DST seasons of a few years (cache hits)
            let mut run: Vec<i64> =
                (0..3000).map(|_| rng.range(ts("2023-01-01 00:00:00"), ts("2026-01-01 00:00:00"))).collect();
            run.sort_unstable();
            secs.extend(run);
            // ... and every minute around each offset change in 1880..2040,
            // including the odd-second ends of local mean time.
            let mut t = ts("1880-01-01 00:00:00");
            let mut prev = tz_offset(tz, t);
            while t < ts("2040-01-01 00:00:00") {
                let next = t + 6 * 3600;
                let off = tz_offset(tz, next);
                if off != prev {
                    // bisect to the transition second
                    let (mut a, mut b) = (t, next);
                    while b - a > 1 {
                        let m = a + (b - a) / 2;
                        if tz_offset(tz, m) == prev {
                            a = m
                        } else {
                            b = m
                        }
                    }
                    secs.extend((-3..=3).map(|k| b + k));
                    secs.extend((-30..=30).map(|k| b + 60 * k));
                    prev = off;
                }
                t = next;
            }
            for unit in [TimeUnit::Second, TimeUnit::Millisecond, TimeUnit::Nanosecond] {
                let scale = units_per_sec(unit);
                let scaled: Vec<i64> = secs
                    .iter()
                    .filter(|s| unit != TimeUnit::Nanosecond || s.abs() < 9_000_000_000)
                    .map(|s| s * scale + (scale - 1) * i64::from(s % 2 == 0))
                    .collect();
                let array: Box<dyn Array> = match unit {
                    TimeUnit::Second => {
                        Box::new(TimestampSecondArray::from(scaled.clone()).with_timezone(name))
                    }
                    TimeUnit::Millisecond => {
                        Box::new(TimestampMillisecondArray::from(scaled.clone()).with_timezone(name))
                    }
                    _ => Box::new(TimestampNanosecondArray::from(scaled.clone()).with_timezone(name)),
                };
                let got = read(array.data_type(), None, array.as_ref());
                for (i, &v) in scaled.iter().enumerate() {
                    let want = chrono_day(tz, v.div_euclid(scale));
                    assert_eq!(got[i], want, "{name} {unit:?} instant {v}");
                }
                // The same instants bucketed via tz= on a UTC column.
                let utc = TimestampSecondArray::from(
                    scaled.iter().map(|v| v.div_euclid(scale)).collect::<Vec<_>>(),
                )
                .with_timezone("UTC");
                assert_eq!(read(utc.data_type(), Some(name), &utc), got);
            }
        }
    }

    #[test]
    fn utc_aliases_are_fixed() {
        for name in ["UTC", "Etc/UTC", "GMT", "Etc/GMT", "Zulu", "Universal"] {
            assert!(matches!(Zone::parse(name), Some(Zone::Fixed(0))), "{name}");
        }
        assert!(matches!(Zone::parse("Europe/London"), Some(Zone::Named(_))));
        assert!(matches!(Zone::parse("Etc/GMT+5"), Some(Zone::Named(_))));
        assert!(matches!(Zone::parse("+05:30"), Some(Zone::Fixed(19_800))));
        assert!(matches!(Zone::parse("-08"), Some(Zone::Fixed(-28_800))));
        assert!(Zone::parse("utc").is_none());
    }

    #[test]
    fn lmt_transition_inside_a_bucket() {
        // Berlin left local mean time (+0:53:28) on 1893-04-01 00:00 local,
        // i.e. 1893-03-31 23:06:32 UTC: not on a 15-minute boundary.
        let tz = chrono_tz::Europe::Berlin;
        let t0 = ts("1893-03-31 22:55:00");
        let secs: Vec<i64> = (0..900).map(|k| t0 + k).collect();
        let a = TimestampSecondArray::from(secs.clone()).with_timezone("Europe/Berlin");
        let got = read(a.data_type(), None, &a);
        for (i, &s) in secs.iter().enumerate() {
            assert_eq!(got[i], chrono_day(tz, s), "at {s}");
        }
        assert!(got.contains(&day("1893-03-31")) && got.contains(&day("1893-04-01")));
    }

    #[test]
    fn extreme_timestamps_do_not_panic() {
        let a = TimestampSecondArray::from(vec![i64::MIN, i64::MAX, 0]).with_timezone("Europe/Berlin");
        let out = read(a.data_type(), None, &a);
        assert_eq!(out, vec![i32::MIN + 1, i32::MAX, 0]);
        let a = TimestampSecondArray::from(vec![i64::MIN, i64::MAX]);
        assert_eq!(read(a.data_type(), None, &a), vec![i32::MIN + 1, i32::MAX]);
        let a = TimestampSecondArray::from(vec![i64::MIN, i64::MAX]).with_timezone("+01:00");
        assert_eq!(read(a.data_type(), None, &a), vec![i32::MIN + 1, i32::MAX]);
        let a = Date64Array::from(vec![i64::MIN, i64::MAX]);
        let out = read(a.data_type(), None, &a);
        assert!(out[0] < -100_000_000 && out[1] > 100_000_000);
    }

    #[test]
    fn wrong_types_are_explained() {
        let err = DateReader::new("order_date", &DataType::Utf8, None).unwrap_err();
        let Error::Input { column, message, .. } = &err else { panic!("{err:?}") };
        assert_eq!(column.as_deref(), Some("order_date"));
        assert!(message.contains("order_date") && message.contains("Utf8"), "{message}");
        assert!(message.contains("to_datetime"), "{message}");
        for dt in [
            DataType::LargeUtf8,
            DataType::Utf8View,
            DataType::Dictionary(Box::new(DataType::Int8), Box::new(DataType::LargeUtf8)),
        ] {
            let msg = DateReader::new("d", &dt, None).unwrap_err().to_string();
            assert!(msg.contains("to_datetime") && msg.contains(&dt.to_string()), "{msg}");
        }
        for dt in [
            DataType::Int64,
            DataType::Float64,
            DataType::Boolean,
            DataType::Time64(TimeUnit::Microsecond),
            DataType::Duration(TimeUnit::Second),
        ] {
            let err = DateReader::new("d", &dt, None).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains(&dt.to_string()) && msg.contains("\"d\""), "{msg}");
            assert!(matches!(err, Error::Input { column: Some(ref c), .. } if c == "d"));
        }
    }

    #[test]
    fn unknown_time_zones() {
        let dt = DataType::Timestamp(TimeUnit::Second, Some("UTC".into()));
        let err = DateReader::new("date", &dt, Some("Mars/Olympus_Mons")).unwrap_err();
        let Error::Input { column, message, .. } = &err else { panic!("{err:?}") };
        assert_eq!(column.as_deref(), Some("tz"));
        assert!(message.contains("Mars/Olympus_Mons") && message.contains("date"), "{message}");
        // Validated even where it would not be used.
        assert!(DateReader::new("date", &DataType::Date32, Some("Nowhere")).is_err());
        // Case matters for IANA names.
        assert!(DateReader::new("date", &dt, Some("europe/berlin")).is_err());
        // The column's own zone.
        let bad = DataType::Timestamp(TimeUnit::Second, Some("Atlantis/Capital".into()));
        let err = DateReader::new("date", &bad, None).unwrap_err();
        assert!(matches!(err, Error::Input { column: Some(ref c), .. } if c == "date"));
        assert!(err.to_string().contains("Atlantis/Capital"));
        // ... which a valid tz= overrides.
        assert!(DateReader::new("date", &bad, Some("Europe/Berlin")).is_ok());
    }

    #[test]
    #[should_panic(expected = "array type differs")]
    fn days_checks_the_array_type() {
        let r = DateReader::new("d", &DataType::Date32, None).unwrap();
        r.days(&Date64Array::from(vec![0]), &mut Vec::new());
    }
}
