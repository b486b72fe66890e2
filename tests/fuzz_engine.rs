//! Property-based fuzzing of the whole engine: arbitrary Arrow tables (every
//! common column type, nulls, extreme values, 0 rows, several batches) and
//! arbitrary requests (every KPI of the catalogue with random parameters,
//! segments, periods, filters, zones, as_of, confidence, threads).
//!
//! The contract checked: `run` (and the partial-result path) returns `Ok` or
//! `Err(Error::Input)`, never panics and never reports an internal error; an
//! `Ok` table has no NaN or infinite value, shares within 0-100, NPS within
//! ±100; merged per-batch partial results equal the one-scan result.
//!
//! CI runs 64 cases (`PROPTEST_CASES` overrides it): a long hunt is e.g.
//! `PROPTEST_CASES=200000 cargo test --test fuzz_engine -- --nocapture`
//! (200,000 cases: about 12 minutes on 2 cores). Two switches help a hunt:
//! `FUZZ_TRACE=1` prints each case's outcome (to see how many reach a result),
//! `FUZZ_COLLECT=1` prints the first failure in one line and exits without
//! shrinking (run it in a loop to list distinct failures quickly). Every failure
//! found becomes a plain regression test at the end of this file.
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::*;
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef, TimeUnit};
use kpiforge::{finalize_partials, merge_partials, run, run_partial, Error, KpiSpec, OnInvalid, Request};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use serde_json::{json, Value};

/// Every default column role of every KPI family, plus two segment columns.
const COLUMNS: &[(&str, Natural)] = &[
    ("score", Natural::Measure),
    ("responded_at", Natural::Instant),
    ("survey_type", Natural::Label),
    ("amount", Natural::Money),
    ("quantity", Natural::Measure),
    ("ordered_at", Natural::Instant),
    ("channel", Natural::Label),
    ("has_addon", Natural::Flag),
    ("accurate", Natural::Flag),
    ("error_count", Natural::Measure),
    ("error_type", Natural::Label),
    ("promised_date", Natural::Instant),
    ("delivered_date", Natural::Instant),
    ("quantity_delivered", Natural::Measure),
    ("customer_id", Natural::Label),
    ("first_contact_resolved", Natural::Flag),
    ("contacts", Natural::Measure),
    ("opened_at", Natural::Instant),
    ("resolved_at", Natural::Instant),
    ("priority", Natural::Label),
    ("won", Natural::Flag),
    ("requested_at", Natural::Instant),
    ("quoted_at", Natural::Instant),
    ("quote_type", Natural::Label),
    ("seg_a", Natural::Label),
    ("seg_b", Natural::Measure),
];

const KINDS: &[&str] = &[
    "nps",
    "csat",
    "ces",
    "revenue",
    "self_service_adoption",
    "cross_sell",
    "order_accuracy",
    "otif",
    "repeat_purchase_rate",
    "retention",
    "purchase_frequency",
    "cohort_retention",
    "self_service_customers",
    "first_contact_resolution",
    "quote_win_rate",
    "time_to_quote",
    "resolution_time",
];

const WORDS: &[&str] = &[
    "nps", "csat", "ces", "portal", "app", "web", "edi", "phone", "Portal", "picking", "packing", "loading",
    "Picking ", "damaged", "standard", "custom", "high", "low", "c1", "c2", "c3", "", "é", "🙂", "a\0b",
];

/// The kind of data a column usually holds in a real export.
#[derive(Clone, Copy, Debug)]
enum Natural {
    Measure,
    Money,
    Flag,
    Label,
    Instant,
}

/// One generated column (values before they become Arrow arrays).
#[derive(Clone, Debug)]
enum Col {
    I64(Vec<Option<i64>>),
    I32(Vec<Option<i32>>),
    U64(Vec<Option<u64>>),
    U8(Vec<Option<u8>>),
    F64(Vec<Option<f64>>),
    F32(Vec<Option<f32>>),
    Bool(Vec<Option<bool>>),
    Utf8(Vec<Option<String>>),
    LargeUtf8(Vec<Option<String>>),
    Utf8View(Vec<Option<String>>),
    /// Keys into WORDS; `Some(None)` points at a null dictionary value.
    Dict(Vec<Option<Option<u8>>>),
    Date32(Vec<Option<i32>>),
    Date64(Vec<Option<i64>>),
    Ts(TimeUnit, Option<&'static str>, Vec<Option<i64>>),
    Decimal(u8, i8, Vec<Option<i64>>),
    Binary(Vec<Option<Vec<u8>>>),
    List(Vec<Option<i64>>),
    Null(usize),
}

fn small_int() -> impl Strategy<Value = i64> {
    prop_oneof![
        8 => -2i64..13,
        1 => Just(i64::MIN),
        1 => Just(i64::MAX),
        1 => any::<i64>(),
        1 => -1_000_000i64..1_000_000,
    ]
}

fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        6 => (-2i64..13).prop_map(|v| v as f64),
        3 => -10.0f64..1e6,
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
        1 => Just(-0.0),
        1 => Just(1e300),
        1 => Just(-1e300),
        1 => Just(f64::MIN_POSITIVE),
        1 => Just(7.5),
        1 => Just(1e16),
    ]
}

fn day() -> impl Strategy<Value = i32> {
    prop_oneof![
        12 => 19_700i32..20_100,
        1 => Just(i32::MIN),
        1 => Just(i32::MIN + 1),
        1 => Just(i32::MAX),
        1 => Just(0),
        1 => -1_000_000i32..1_000_000,
        1 => any::<i32>(),
    ]
}

/// Microseconds around 2024-2025, plus extremes.
fn micros() -> impl Strategy<Value = i64> {
    prop_oneof![
        12 => 1_700_000_000_000_000i64..1_740_000_000_000_000,
        1 => Just(i64::MIN),
        1 => Just(i64::MAX),
        1 => Just(0),
        1 => any::<i64>(),
    ]
}

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        20 => proptest::sample::select(WORDS).prop_map(str::to_string),
        1 => Just("x".repeat(5_000)),
        1 => "[a-z]{0,6}",
    ]
}

fn opt<T: std::fmt::Debug>(s: impl Strategy<Value = T>) -> impl Strategy<Value = Option<T>> {
    option::weighted(0.85, s)
}

fn unit() -> impl Strategy<Value = TimeUnit> {
    prop_oneof![
        Just(TimeUnit::Second),
        Just(TimeUnit::Millisecond),
        Just(TimeUnit::Microsecond),
        Just(TimeUnit::Nanosecond)
    ]
}

fn zone() -> impl Strategy<Value = Option<&'static str>> {
    prop_oneof![
        3 => Just(None),
        1 => Just(Some("UTC")),
        1 => Just(Some("America/New_York")),
        1 => Just(Some("Asia/Kolkata")),
        1 => Just(Some("+05:45")),
    ]
}

/// A timestamp column: values in `unit`, scaled from microseconds (extremes kept).
fn timestamps(n: usize) -> impl Strategy<Value = Col> {
    (unit(), zone(), vec(opt(micros()), n)).prop_map(|(u, z, v)| {
        let scale = |us: i64| match u {
            TimeUnit::Second => us / 1_000_000,
            TimeUnit::Millisecond => us / 1_000,
            TimeUnit::Microsecond => us,
            TimeUnit::Nanosecond => us.saturating_mul(1_000),
        };
        Col::Ts(u, z, v.into_iter().map(|x| x.map(scale)).collect())
    })
}

/// Any column type at all.
fn any_col(n: usize) -> BoxedStrategy<Col> {
    prop_oneof![
        vec(opt(small_int()), n).prop_map(Col::I64),
        vec(opt(any::<i32>()), n).prop_map(Col::I32),
        vec(opt(prop_oneof![0u64..12, any::<u64>()]), n).prop_map(Col::U64),
        vec(opt(any::<u8>()), n).prop_map(Col::U8),
        vec(opt(float()), n).prop_map(Col::F64),
        vec(opt(float().prop_map(|f| f as f32)), n).prop_map(Col::F32),
        vec(opt(any::<bool>()), n).prop_map(Col::Bool),
        vec(opt(word()), n).prop_map(Col::Utf8),
        vec(opt(word()), n).prop_map(Col::LargeUtf8),
        vec(opt(word()), n).prop_map(Col::Utf8View),
        vec(opt(opt(0u8..WORDS.len() as u8)), n).prop_map(Col::Dict),
        vec(opt(day()), n).prop_map(Col::Date32),
        vec(opt(micros().prop_map(|us| us / 1_000)), n).prop_map(Col::Date64),
        timestamps(n),
        (
            prop_oneof![Just((38u8, 2i8)), Just((10, 0)), Just((5, 3)), Just((20, -2))],
            vec(opt(small_int()), n)
        )
            .prop_map(|((p, s), v)| Col::Decimal(p, s, v)),
        vec(opt(vec(any::<u8>(), 0..4)), n).prop_map(Col::Binary),
        vec(opt(small_int()), n).prop_map(Col::List),
        Just(Col::Null(n)),
    ]
    .boxed()
}

/// The column types a real export has for a role, most of the time.
fn natural_col(kind: Natural, n: usize) -> BoxedStrategy<Col> {
    match kind {
        Natural::Measure => {
            prop_oneof![vec(opt(small_int()), n).prop_map(Col::I64), vec(opt(float()), n).prop_map(Col::F64),]
                .boxed()
        }
        Natural::Money => prop_oneof![
            vec(opt(float()), n).prop_map(Col::F64),
            vec(opt(small_int()), n).prop_map(|v| Col::Decimal(38, 2, v)),
        ]
        .boxed(),
        Natural::Flag => prop_oneof![
            vec(opt(any::<bool>()), n).prop_map(Col::Bool),
            vec(opt(-1i64..3), n).prop_map(Col::I64),
        ]
        .boxed(),
        Natural::Label => prop_oneof![
            vec(opt(word()), n).prop_map(Col::Utf8),
            vec(opt(opt(0u8..WORDS.len() as u8)), n).prop_map(Col::Dict),
            vec(opt(word()), n).prop_map(Col::Utf8View),
        ]
        .boxed(),
        Natural::Instant => prop_oneof![vec(opt(day()), n).prop_map(Col::Date32), timestamps(n),].boxed(),
    }
}

fn column(kind: Natural, n: usize) -> BoxedStrategy<Col> {
    prop_oneof![9 => natural_col(kind, n), 1 => any_col(n)].boxed()
}

fn to_array(col: &Col) -> ArrayRef {
    match col {
        Col::I64(v) => Arc::new(Int64Array::from(v.clone())),
        Col::I32(v) => Arc::new(Int32Array::from(v.clone())),
        Col::U64(v) => Arc::new(UInt64Array::from(v.clone())),
        Col::U8(v) => Arc::new(UInt8Array::from(v.clone())),
        Col::F64(v) => Arc::new(Float64Array::from(v.clone())),
        Col::F32(v) => Arc::new(Float32Array::from(v.clone())),
        Col::Bool(v) => Arc::new(BooleanArray::from(v.clone())),
        Col::Utf8(v) => Arc::new(StringArray::from(v.clone())),
        Col::LargeUtf8(v) => Arc::new(LargeStringArray::from(v.clone())),
        Col::Utf8View(v) => Arc::new(StringViewArray::from(v.clone())),
        Col::Dict(v) => {
            // Dictionary values: every word, then a null value (unused entries too).
            let mut values: Vec<Option<&str>> = WORDS.iter().map(|w| Some(*w)).collect();
            values.push(None);
            let null_value = (values.len() - 1) as i32;
            let keys: Int32Array =
                v.iter().map(|k| k.map(|inner| inner.map_or(null_value, i32::from))).collect();
            Arc::new(
                DictionaryArray::<Int32Type>::try_new(keys, Arc::new(StringArray::from(values))).unwrap(),
            )
        }
        Col::Date32(v) => Arc::new(Date32Array::from(v.clone())),
        Col::Date64(v) => Arc::new(Date64Array::from(v.clone())),
        Col::Ts(unit, tz, v) => {
            let tz: Option<Arc<str>> = tz.map(Arc::from);
            match unit {
                TimeUnit::Second => Arc::new(TimestampSecondArray::from(v.clone()).with_timezone_opt(tz)),
                TimeUnit::Millisecond => {
                    Arc::new(TimestampMillisecondArray::from(v.clone()).with_timezone_opt(tz))
                }
                TimeUnit::Microsecond => {
                    Arc::new(TimestampMicrosecondArray::from(v.clone()).with_timezone_opt(tz))
                }
                TimeUnit::Nanosecond => {
                    Arc::new(TimestampNanosecondArray::from(v.clone()).with_timezone_opt(tz))
                }
            }
        }
        Col::Decimal(p, s, v) => Arc::new(
            v.iter()
                .map(|x| x.map(i128::from))
                .collect::<Decimal128Array>()
                .with_precision_and_scale(*p, *s)
                .unwrap(),
        ),
        Col::Binary(v) => Arc::new(BinaryArray::from(v.iter().map(|b| b.as_deref()).collect::<Vec<_>>())),
        Col::List(v) => Arc::new(ListArray::from_iter_primitive::<Int64Type, _, _>(
            v.iter().map(|x| x.map(|x| vec![Some(x)])),
        )),
        Col::Null(n) => Arc::new(NullArray::new(*n)),
    }
}

/// A table: its schema and its rows cut into 1-3 batches.
#[derive(Debug)]
struct Table {
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
}

fn table() -> impl Strategy<Value = Table> {
    prop_oneof![1 => Just(0usize), 1 => Just(1usize), 8 => 2usize..80]
        .prop_flat_map(|n| {
            let cols: Vec<BoxedStrategy<Col>> = COLUMNS.iter().map(|(_, k)| column(*k, n)).collect();
            (Just(n), cols, vec(0..=n, 0..3))
        })
        .prop_map(|(n, cols, mut cuts)| {
            let arrays: Vec<ArrayRef> = cols.iter().map(to_array).collect();
            let fields: Vec<Field> = COLUMNS
                .iter()
                .zip(&arrays)
                .map(|((name, _), a)| Field::new(*name, a.data_type().clone(), true))
                .collect();
            let schema = Arc::new(Schema::new(fields));
            let whole = RecordBatch::try_new(schema.clone(), arrays).unwrap();
            cuts.push(0);
            cuts.push(n);
            cuts.sort_unstable();
            cuts.dedup();
            let mut batches: Vec<RecordBatch> =
                cuts.windows(2).map(|w| whole.slice(w[0], w[1] - w[0])).collect();
            if batches.is_empty() {
                batches.push(whole);
            }
            Table { schema, batches }
        })
}

fn column_name() -> impl Strategy<Value = String> {
    prop_oneof![
        20 => proptest::sample::select(COLUMNS).prop_map(|(n, _)| n.to_string()),
        1 => Just("no_such_column".to_string()),
    ]
}

/// A column role parameter: usually left at its default, sometimes another column.
fn role(name: &'static str) -> BoxedStrategy<Option<(&'static str, Value)>> {
    prop_oneof![15 => Just(None), 1 => column_name().prop_map(move |c| Some((name, json!(c))))].boxed()
}

fn maybe(name: &'static str, values: Vec<Value>) -> BoxedStrategy<Option<(&'static str, Value)>> {
    prop_oneof![3 => Just(None), 1 => proptest::sample::select(values).prop_map(move |v| Some((name, v)))]
        .boxed()
}

fn nullable_role(name: &'static str, default: &'static str) -> BoxedStrategy<Option<(&'static str, Value)>> {
    maybe(name, vec![Value::Null, json!(default), json!("amount"), json!("channel"), json!("nope")])
}

fn sla_hours() -> BoxedStrategy<Value> {
    prop_oneof![
        Just(json!({"standard": 1, "custom": 24})),
        Just(json!({"high": 24, "standard": 72})),
        Just(json!({"high": 0, "low": 1e300, "standard": 2.5})),
        Just(json!({"standard": -1})),
        Just(json!({})),
        Just(json!({"": 1, "é": 3})),
        Just(json!({"standard": 1e308, "custom": 5e-324})),
    ]
    .boxed()
}

/// Parameters of a KPI kind: random values for the parameters it knows (and rarely one it does not).
fn params(kind: &'static str) -> BoxedStrategy<Value> {
    let date = || role("date");
    let roles: Vec<BoxedStrategy<Option<(&'static str, Value)>>> = match kind {
        "nps" | "csat" | "ces" => vec![
            role("score"),
            date(),
            maybe("survey_type", vec![Value::Null, json!("nps"), json!("csat"), json!("ces"), json!("x")]),
            role("type_column"),
            maybe(
                "scale",
                vec![
                    json!(5),
                    json!(7),
                    json!(11),
                    json!(1),
                    json!(0),
                    json!(-3),
                    json!(100),
                    json!([0, 10]),
                    json!([1, 2]),
                    json!([3, 1]),
                    json!([-5, 5]),
                    json!([0, 20]),
                    json!(i64::MAX),
                ],
            ),
            maybe(
                "top_box_min",
                vec![json!(-2), json!(0), json!(4), json!(5), json!(6), json!(12), json!(i64::MIN)],
            ),
        ],
        "revenue" => vec![role("amount"), nullable_role("volume", "quantity"), date()],
        "self_service_adoption" => vec![
            role("channel"),
            maybe(
                "channels",
                vec![json!([]), json!(["portal"]), json!(["phone", "", "é"]), json!(["Portal"])],
            ),
            date(),
        ],
        "cross_sell" => vec![role("flag"), date()],
        "order_accuracy" => vec![
            role("accurate"),
            nullable_role("error_count", "error_count"),
            nullable_role("error_type", "error_type"),
            date(),
        ],
        "otif" => vec![
            role("promised"),
            role("delivered"),
            nullable_role("ordered", "ordered_at"),
            role("quantity"),
            role("delivered_quantity"),
            maybe("tolerance_days", vec![json!(-1), json!(0), json!(3), json!(i32::MAX), json!(i32::MIN)]),
            maybe(
                "tolerance",
                vec![json!(-0.1), json!(0.0), json!(0.05), json!(0.999999), json!(1.0), json!(5)],
            ),
            date(),
        ],
        "repeat_purchase_rate"
        | "retention"
        | "purchase_frequency"
        | "cohort_retention"
        | "self_service_customers" => vec![
            role("customer"),
            date(),
            maybe(
                "window",
                vec![
                    json!(-5),
                    json!(0),
                    json!(1),
                    json!(90),
                    json!(100_000),
                    json!(i32::MAX),
                    json!(i32::MIN),
                ],
            ),
            maybe("method", vec![json!("simple"), json!("kaplan_meier"), json!("bogus"), Value::Null]),
            nullable_role("channel", "channel"),
            maybe("channels", vec![json!([]), json!(["portal", "app"]), Value::Null]),
        ],
        "first_contact_resolution" => vec![
            role("flag"),
            nullable_role("contacts", "contacts"),
            nullable_role("resolved", "resolved_at"),
            date(),
        ],
        "quote_win_rate" => vec![role("won"), date()],
        "time_to_quote" => vec![
            role("requested"),
            role("quoted"),
            role("quote_type"),
            prop_oneof![2 => Just(None), 1 => sla_hours().prop_map(|v| Some(("sla_hours", v)))].boxed(),
            nullable_role("date", "requested_at"),
        ],
        "resolution_time" => vec![
            role("opened"),
            role("resolved"),
            role("priority"),
            prop_oneof![2 => Just(None), 1 => sla_hours().prop_map(|v| Some(("sla_hours", v)))].boxed(),
            nullable_role("date", "opened_at"),
        ],
        _ => vec![],
    };
    let unknown = prop_oneof![30 => Just(None), 1 => Just(Some(("bogus_param", json!(1))))].boxed();
    (roles, unknown)
        .prop_map(move |(set, unknown)| {
            let map: serde_json::Map<String, Value> = set
                .into_iter()
                .chain([unknown])
                .flatten()
                // nps has a fixed scale (one refusal is enough of that path)
                .filter(|(k, _)| kind != "nps" || !["scale", "top_box_min"].contains(k))
                .map(|(k, v)| (k.to_string(), v))
                .collect();
            Value::Object(map)
        })
        .boxed()
}

fn filter_value() -> impl Strategy<Value = Value> {
    proptest::sample::select(vec![
        Value::Null,
        json!("nps"),
        json!("portal"),
        json!(""),
        json!(0),
        json!(1),
        json!(-1),
        json!(1.5),
        json!(-0.0),
        json!(true),
        json!(false),
        json!(19_800),
        json!(u64::MAX),
        json!(i64::MIN),
        json!([1]),
    ])
}

fn spec() -> impl Strategy<Value = KpiSpec> {
    proptest::sample::select(KINDS).prop_flat_map(|kind| {
        let conditions = vec(
            (column_name(), vec(filter_value(), 0..3))
                .prop_map(|(column, values)| kpiforge::filter::Condition { column, values }),
            0..2,
        );
        let conditions = prop_oneof![3 => Just(vec![]), 1 => conditions];
        (params(kind), conditions, prop_oneof![4 => Just(None), 1 => Just(Some(format!("{kind}_x")))])
            .prop_map(move |(params, filter, name)| KpiSpec { kind: kind.to_string(), name, filter, params })
    })
}

fn request() -> impl Strategy<Value = Request> {
    let by = prop_oneof![2 => Just(vec![]), 2 => vec(column_name(), 1..2), 1 => vec(column_name(), 2..4)];
    let period = prop_oneof![
        20 => proptest::sample::select(vec![None, Some("day"), Some("week"), Some("month"), Some("quarter"), Some("year")]),
        1 => Just(Some("fortnight")),
    ];
    let date = prop_oneof![15 => Just(None), 1 => column_name().prop_map(Some)];
    let fiscal = prop_oneof![20 => Just(1u32), 6 => proptest::sample::select(vec![7u32, 4, 12]), 1 => Just(0), 1 => Just(13)];
    let tz = prop_oneof![
        20 => Just(None),
        6 => proptest::sample::select(vec![Some("UTC"), Some("Europe/Berlin"), Some("+05:30")]),
        1 => Just(Some("Mars/Olympus")),
    ];
    let as_of = prop_oneof![
        10 => Just(None),
        10 => proptest::sample::select(vec![Some("2024-06-30"), Some("2025-03-31")]),
        3 => proptest::sample::select(vec![Some("1970-01-01"), Some("9999-12-31"), Some("+262142-12-31")]),
        1 => proptest::sample::select(vec![Some("2024-02-30"), Some("yesterday")]),
    ];
    let confidence = prop_oneof![
        20 => Just(0.95),
        5 => proptest::sample::select(vec![0.8, 0.5, 0.999_999_999, 1e-12]),
        1 => proptest::sample::select(vec![0.0, 1.0, -1.0, f64::NAN]),
    ];
    let threads = prop_oneof![10 => Just(None), 5 => Just(Some(1)), 5 => Just(Some(2)), 1 => Just(Some(0))];
    let on_invalid = prop_oneof![Just(OnInvalid::Raise), Just(OnInvalid::Drop), Just(OnInvalid::Drop)];
    // A row count hint sizes states; true, false or absent, it must never change anything.
    let rows_hint =
        prop_oneof![10 => Just(None), 3 => (0usize..5_000).prop_map(Some), 1 => Just(Some(usize::MAX))];
    let options = (confidence, threads, on_invalid, rows_hint);
    (vec(spec(), 1..4), by, period, date, fiscal, tz, as_of, options).prop_map(
        |(
            kpis,
            by,
            period,
            date,
            fiscal_year_start,
            tz,
            as_of,
            (confidence, threads, on_invalid, rows_hint),
        )| Request {
            kpis,
            by,
            date,
            period: period.map(str::to_string),
            fiscal_year_start,
            tz: tz.map(str::to_string),
            as_of: as_of.map(str::to_string),
            on_invalid,
            confidence,
            threads,
            columns: None,
            rows_hint,
        },
    )
}

/// Run `f`, turning a panic into its message.
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string())
    })
}

fn batches(t: &Table) -> impl Iterator<Item = Result<RecordBatch, ArrowError>> + Send {
    t.batches.clone().into_iter().map(Ok)
}

/// What a call may return: a value, or an input error. Anything else fails the case.
fn check_error(what: &str, err: &Error) -> Result<(), TestCaseError> {
    match err {
        Error::Input { .. } => Ok(()),
        other => Err(TestCaseError::fail(format!("{what}: not an input error: {other:?}"))),
    }
}

/// The invariants of every result table.
fn check_output(batch: &RecordBatch, req: &Request) -> Result<(), TestCaseError> {
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        // Segment columns are the input's values (a NaN key is a segment of its own).
        if field.data_type() != &DataType::Float64 || req.by.contains(field.name()) {
            continue;
        }
        let name = field.name();
        for v in column.as_primitive::<Float64Type>().iter().flatten() {
            prop_assert!(v.is_finite(), "column {name} holds {v}");
            if name.contains("_pct") {
                prop_assert!((-1e-9..=100.0 + 1e-9).contains(&v), "column {name} holds {v}");
            }
            if name == "nps" || name.starts_with("nps_ci") {
                prop_assert!((-100.0 - 1e-9..=100.0 + 1e-9).contains(&v), "column {name} holds {v}");
            }
        }
    }
    Ok(())
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64)
}

proptest! {
    // Failures become explicit regression tests below, not a seed file in the tree.
    #![proptest_config(ProptestConfig {
        cases: cases(),
        max_shrink_iters: 20_000,
        max_shrink_time: 120_000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn engine_never_panics(t in table(), req in request()) {
        let outcome = one_case(&t, &req);
        if let (Err(e), Ok(_)) = (&outcome, std::env::var("FUZZ_COLLECT")) {
            // Collecting distinct failures over many runs: report this one and stop quietly.
            eprintln!("COLLECT {}", e.to_string().chars().take(3000).collect::<String>().replace('\n', " "));
            std::process::exit(0);
        }
        outcome?;
    }
}

/// One fuzz case: the contract of the module documentation.
fn one_case(t: &Table, req: &Request) -> Result<(), TestCaseError> {
    let one = guarded(|| run(req, t.schema.clone(), batches(t)))
        .map_err(|m| TestCaseError::fail(format!("run panicked: {m}")))?;
    if std::env::var("FUZZ_TRACE").is_ok() {
        match &one {
            Ok(_) => eprintln!("TRACE OK"),
            Err(e) => eprintln!("TRACE ERR {}", e.to_string().chars().take(70).collect::<String>()),
        }
    }
    let mut refused = None;
    let one = match one {
        Ok(out) => {
            check_output(&out.batch, req)?;
            Some(out.batch)
        }
        Err(e) => {
            check_error("run", &e)?;
            refused = Some(e.to_string());
            None
        }
    };
    // The partial path: one partial per batch, merged in two steps, finalised.
    let parts = guarded(|| {
        t.batches
            .iter()
            .map(|b| run_partial(req, t.schema.clone(), std::iter::once(Ok(b.clone())), &|| false))
            .collect::<Result<Vec<_>, _>>()
    })
    .map_err(|m| TestCaseError::fail(format!("run_partial panicked: {m}")))?;
    let parts = match parts {
        Ok(parts) => parts,
        Err(e) => return check_error("run_partial", &e),
    };
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    let (head, tail) = refs.split_at(refs.len() / 2);
    let finalized = guarded(|| {
        let mut merged = Vec::new();
        for group in [head, tail] {
            if !group.is_empty() {
                merged.push(merge_partials(group)?);
            }
        }
        let merged: Vec<&[u8]> = merged.iter().map(Vec::as_slice).collect();
        finalize_partials(&merged)
    })
    .map_err(|m| TestCaseError::fail(format!("merge/finalize panicked: {m}")))?;
    match (finalized, one) {
        (Ok(out), Some(expected)) => {
            check_output(&out.batch, req)?;
            prop_assert_eq!(out.batch.schema(), expected.schema());
            for (i, field) in expected.schema().fields().iter().enumerate() {
                let (got, want) = (out.batch.column(i), expected.column(i));
                if field.data_type() == &DataType::Float64 && !req.by.contains(field.name()) {
                    // Compensated sums merged in another grouping may differ in the last bits.
                    let (got, want) = (got.as_primitive::<Float64Type>(), want.as_primitive::<Float64Type>());
                    for (a, b) in got.iter().zip(want.iter()) {
                        let same = match (a, b) {
                            (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0),
                            (a, b) => a.is_none() && b.is_none(),
                        };
                        prop_assert!(
                            same,
                            "partials differ in {}: {:?} vs {:?} ({:?})",
                            field.name(),
                            a,
                            b,
                            req
                        );
                    }
                } else {
                    prop_assert_eq!(got.to_data(), want.to_data(), "partials differ in {}", field.name());
                }
            }
        }
        (Ok(_), None) => {
            prop_assert!(false, "partials accepted what one scan refused: {:?} {:?}", refused, req)
        }
        (Err(e), _) => check_error("finalize", &e)?,
    }
    Ok(())
}

// ---- regressions: each failure the fuzzer found, as a plain test -------------------

fn table_of(columns: Vec<(&str, ArrayRef)>) -> (SchemaRef, RecordBatch) {
    let fields: Vec<Field> =
        columns.iter().map(|(n, a)| Field::new(*n, a.data_type().clone(), true)).collect();
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), columns.into_iter().map(|(_, a)| a).collect()).unwrap();
    (schema, batch)
}

fn request_json(json: &str) -> Request {
    Request::from_json(json).unwrap()
}

fn run_one(req: &Request, columns: Vec<(&str, ArrayRef)>) -> kpiforge::Result<RecordBatch> {
    let (schema, batch) = table_of(columns);
    run(req, schema, std::iter::once(Ok(batch))).map(|o| o.batch)
}

fn input_error(result: kpiforge::Result<RecordBatch>) -> (Option<String>, Option<u64>, String) {
    match result {
        Err(Error::Input { column, count, message, .. }) => (column, count, message),
        other => panic!("expected an input error, got {other:?}"),
    }
}

#[test]
fn dates_at_both_ends_of_i32_in_one_chunk_with_daily_periods() {
    // The span of period ordinals (2^32 - 2 days) overflowed i32.
    let req = request_json(r#"{"kpis":[{"kind":"nps"}],"period":"day","as_of":"2025-01-01"}"#);
    let days: ArrayRef = Arc::new(Date32Array::from(vec![i32::MIN + 1, 0, i32::MAX]));
    let scores: ArrayRef = Arc::new(Int64Array::from(vec![10, 9, 0]));
    let out = run_one(&req, vec![("score", scores), ("responded_at", days)]).unwrap();
    assert_eq!(out.num_rows(), 3);
}

#[test]
fn repeat_purchase_with_huge_windows_and_dates_near_the_limits() {
    // anchor + window and as_of - anchor overflowed i32; the Kaplan-Meier counts were
    // sized by the window (16 GB per cell for window = 2^31 - 1).
    let customers: ArrayRef = Arc::new(StringArray::from(vec!["a", "a", "b"]));
    let days: ArrayRef = Arc::new(Date32Array::from(vec![20_000, 20_005, 2_932_896]));
    for window in [1, 90, 1_000_000_000, i32::MAX] {
        let req = request_json(&format!(
            r#"{{"kpis":[{{"kind":"repeat_purchase_rate","params":{{"window":{window},"method":"kaplan_meier"}}}}]}}"#
        ));
        let out =
            run_one(&req, vec![("customer_id", customers.clone()), ("ordered_at", days.clone())]).unwrap();
        let customers_col = out.column_by_name("customers").unwrap().as_primitive::<Int64Type>();
        assert_eq!(customers_col.value(0), 2, "window {window}");
    }
}

#[test]
fn customer_dates_outside_years_1_to_9999_are_bad_rows() {
    // A cohort spanning 2^31 days allocated 16 GB; such a date is garbage, reported as one.
    let customers: ArrayRef = Arc::new(StringArray::from(vec!["a", "b", "c"]));
    let days: ArrayRef = Arc::new(Date32Array::from(vec![20_000, i32::MIN + 1, i32::MAX]));
    for kind in ["cohort_retention", "retention", "purchase_frequency", "repeat_purchase_rate"] {
        let req = request_json(&format!(r#"{{"kpis":[{{"kind":"{kind}"}}],"period":"day"}}"#));
        let cols = vec![("customer_id", customers.clone()), ("ordered_at", days.clone())];
        let (column, count, message) = input_error(run_one(&req, cols.clone()));
        assert_eq!((column.as_deref(), count), (Some("ordered_at"), Some(2)), "{kind}: {message}");
        assert!(message.contains("0001-9999"), "{message}");
        let mut drop = req.clone();
        drop.on_invalid = OnInvalid::Drop;
        run_one(&drop, cols).unwrap();
    }
    let req = request_json(r#"{"kpis":[{"kind":"retention"}],"period":"day","as_of":"+262142-01-01"}"#);
    let (column, _, _) = input_error(run_one(&req, vec![("customer_id", customers), ("ordered_at", days)]));
    assert_eq!(column.as_deref(), Some("as_of"));
}

#[test]
fn null_only_filter_on_a_column_that_cannot_be_a_key() {
    // where={"raw": None} reached the key encoder with a binary column: unreachable!().
    let scores: ArrayRef = Arc::new(Int64Array::from(vec![10, 3]));
    let raw: Vec<ArrayRef> = vec![
        Arc::new(BinaryArray::from(vec![Some(&b"\xff"[..]), None])),
        Arc::new(Decimal128Array::from(vec![Some(1), None])),
        Arc::new(ListArray::from_iter_primitive::<Int64Type, _, _>(vec![Some(vec![Some(1)]), None])),
    ];
    for col in raw {
        let req = request_json(r#"{"kpis":[{"kind":"nps","where":[{"column":"raw","values":[null]}]}]}"#);
        let (column, _, message) = input_error(run_one(&req, vec![("score", scores.clone()), ("raw", col)]));
        assert_eq!(column.as_deref(), Some("raw"), "{message}");
    }
}

#[test]
fn float_filters_match_negative_zero_and_float32_values() {
    let scores: ArrayRef = Arc::new(Int64Array::from(vec![10, 3, 9]));
    let w32: ArrayRef = Arc::new(Float32Array::from(vec![0.1, 0.2, 0.1]));
    let w64: ArrayRef = Arc::new(Float64Array::from(vec![0.0, 1.0, -0.0]));
    for (col, value) in [(w32, "0.1"), (w64, "-0.0")] {
        let req = request_json(&format!(
            r#"{{"kpis":[{{"kind":"nps","where":[{{"column":"w","values":[{value}]}}]}}]}}"#
        ));
        let out = run_one(&req, vec![("score", scores.clone()), ("w", col)]).unwrap();
        assert_eq!(out.column_by_name("n").unwrap().as_primitive::<Int64Type>().value(0), 2, "{value}");
    }
}

#[test]
fn durations_between_instants_at_opposite_ends_of_i64() {
    // end - start overflowed i64 (saturated timestamps in seconds).
    let req = request_json(
        r#"{"kpis":[{"kind":"time_to_quote","params":{"sla_hours":{"x":1}}}],"as_of":"2025-01-01"}"#,
    );
    let start: ArrayRef = Arc::new(TimestampSecondArray::from(vec![i64::MIN / 2]));
    let end: ArrayRef = Arc::new(TimestampSecondArray::from(vec![i64::MAX / 2]));
    let kind: ArrayRef = Arc::new(StringArray::from(vec!["x"]));
    let out = run_one(&req, vec![("requested_at", start), ("quoted_at", end), ("quote_type", kind)]).unwrap();
    let p50 = out.column_by_name("p50_hours").unwrap().as_primitive::<Float64Type>();
    assert!(p50.is_null(0) || p50.value(0) > 0.0);
}

#[test]
fn duration_between_a_zoned_and_a_naive_column_is_refused() {
    let req = request_json(r#"{"kpis":[{"kind":"resolution_time"}],"as_of":"2025-01-01"}"#);
    let opened: ArrayRef =
        Arc::new(TimestampMicrosecondArray::from(vec![1_700_000_000_000_000]).with_timezone("Asia/Tokyo"));
    let resolved: ArrayRef = Arc::new(TimestampMicrosecondArray::from(vec![1_700_000_300_000_000]));
    let priority: ArrayRef = Arc::new(StringArray::from(vec!["high"]));
    let cols = vec![("opened_at", opened.clone()), ("resolved_at", resolved), ("priority", priority.clone())];
    let (column, _, message) = input_error(run_one(&req, cols));
    assert_eq!(column.as_deref(), Some("resolved_at"), "{message}");
    // An all-null end column has no durations: no zone to disagree with.
    let empty: ArrayRef = Arc::new(NullArray::new(1));
    run_one(&req, vec![("opened_at", opened), ("resolved_at", empty), ("priority", priority)]).unwrap();
}

#[test]
fn all_null_end_and_delivery_columns_are_read_as_nulls() {
    // A column of type Null (an export where nothing was answered or delivered yet) was
    // refused as "needed to bucket periods" when the default as_of was looked for.
    let req = request_json(r#"{"kpis":[{"kind":"time_to_quote"}]}"#);
    let start: ArrayRef = Arc::new(TimestampMicrosecondArray::from(vec![1_700_000_000_000_000]));
    let kind: ArrayRef = Arc::new(StringArray::from(vec!["standard"]));
    let cols = vec![
        ("requested_at", start),
        ("quoted_at", Arc::new(NullArray::new(1)) as ArrayRef),
        ("quote_type", kind),
    ];
    let out = run_one(&req, cols).unwrap();
    assert_eq!(out.column_by_name("open").unwrap().as_primitive::<Int64Type>().value(0), 1);
    let req = request_json(r#"{"kpis":[{"kind":"otif"}],"as_of":"2025-01-01"}"#);
    let cols: Vec<(&str, ArrayRef)> = vec![
        ("ordered_at", Arc::new(Date32Array::from(vec![20_000]))),
        ("promised_date", Arc::new(Date32Array::from(vec![20_001]))),
        ("delivered_date", Arc::new(NullArray::new(1))),
        ("quantity", Arc::new(Float64Array::from(vec![1.0]))),
        ("quantity_delivered", Arc::new(NullArray::new(1))),
    ];
    let out = run_one(&req, cols).unwrap();
    assert_eq!(out.column_by_name("undelivered").unwrap().as_primitive::<Int64Type>().value(0), 1);
}

#[test]
fn partial_results_check_the_time_zone_as_one_scan_does() {
    let req = request_json(r#"{"kpis":[{"kind":"time_to_quote"}],"tz":"Mars/Olympus","as_of":"2025-01-01"}"#);
    let start: ArrayRef = Arc::new(TimestampMicrosecondArray::from(vec![1_700_000_000_000_000]));
    let kind: ArrayRef = Arc::new(StringArray::from(vec!["standard"]));
    let (schema, batch) =
        table_of(vec![("requested_at", start.clone()), ("quoted_at", start), ("quote_type", kind)]);
    assert!(matches!(
        run(&req, schema.clone(), std::iter::once(Ok(batch.clone()))),
        Err(Error::Input { .. })
    ));
    let partial = run_partial(&req, schema, std::iter::once(Ok(batch)), &|| false);
    assert!(matches!(partial, Err(Error::Input { .. })));
}
