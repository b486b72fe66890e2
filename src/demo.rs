//! Deterministic, parallel generator of demo tables for a building-materials
//! distributor (schema: docs/demo-data.md).
//!
//! Every table is generated in fixed-size chunks of [`CHUNK_ROWS`] rows, each
//! from its own random stream seeded by (seed, table, chunk), in parallel with
//! rayon; the output is therefore byte-identical for a given configuration
//! whatever the number of threads. A hidden "world" (reps with a latent
//! quality, Pareto-sized partners, their customer accounts with lifecycles,
//! a seasonal calendar) is built first from the seed and `n_orders`, so all
//! tables tell one consistent story.

mod columns;
mod rng;
mod tables;
mod text;
mod world;

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, Int64Array, RecordBatch};
use arrow_schema::SchemaRef;
use chrono::NaiveDate;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};
use rng::Rng;
use tables::{schema, OrdersChunk, TABLE_NAMES};
use world::World;

/// Rows per generation chunk. Part of the output's definition: changing it
/// changes the data for a given seed.
pub const CHUNK_ROWS: usize = 65_536;

/// Sizes, seed and date range of a demo data set.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct DemoConfig {
    /// Number of orders; drives the number of partners and the default size of
    /// every other table.
    pub n_orders: usize,
    pub seed: u64,
    /// Survey responses (default `n_orders / 2`).
    pub n_responses: Option<usize>,
    /// Support tickets (default `n_orders / 10`).
    pub n_tickets: Option<usize>,
    /// Quote requests (default `n_orders / 5`).
    pub n_quotes: Option<usize>,
    /// Leads (default `n_orders / 50`).
    pub n_leads: Option<usize>,
    /// Online carts (default `n_orders / 4`).
    pub n_carts: Option<usize>,
    /// Engagement events (default `n_orders`).
    pub n_events: Option<usize>,
    /// Sales interactions (default `n_orders / 4`).
    pub n_interactions: Option<usize>,
    /// First day of data (default 2024-01-01).
    #[serde(with = "iso_date")]
    pub start: NaiveDate,
    /// The observation horizon (default 2026-11-15): data runs up to the day
    /// before; later deliveries, resolutions, answers and payments are null.
    #[serde(with = "iso_date")]
    pub end: NaiveDate,
    /// Tables to generate (`None` = all), returned in the canonical order.
    pub tables: Option<Vec<String>>,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            n_orders: 100_000,
            seed: 0,
            n_responses: None,
            n_tickets: None,
            n_quotes: None,
            n_leads: None,
            n_carts: None,
            n_events: None,
            n_interactions: None,
            start: NaiveDate::from_ymd_opt(2024, 1, 1).expect("valid date"),
            end: NaiveDate::from_ymd_opt(2026, 11, 15).expect("valid date"),
            tables: None,
        }
    }
}

/// `NaiveDate` as an ISO `YYYY-MM-DD` string (chrono's serde feature is off).
mod iso_date {
    use chrono::NaiveDate;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &NaiveDate, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&d.format("%Y-%m-%d"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDate, D::Error> {
        let s = String::deserialize(d)?;
        s.parse::<NaiveDate>().map_err(serde::de::Error::custom)
    }
}

/// The names of the demo tables, in output order.
pub fn table_names() -> &'static [&'static str] {
    &TABLE_NAMES
}

/// Stream tags: one per table (orders, lines and invoices share one).
const TAG_RESPONSES: u64 = 1;
const TAG_ORDERS: u64 = 2;
const TAG_TICKETS: u64 = 4;
const TAG_QUOTES: u64 = 5;
const TAG_LEADS: u64 = 7;
const TAG_CARTS: u64 = 8;
const TAG_EVENTS: u64 = 9;
const TAG_INTERACTIONS: u64 = 10;
const TAG_SPEND: u64 = 11;

fn internal(e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("demo data: {e}"))
}

/// Runs `f` on every chunk of `0..n` in parallel, in chunk order.
fn run_chunks<T: Send>(
    n: usize,
    seed: u64,
    tag: u64,
    f: impl Fn(&mut Rng, std::ops::Range<usize>) -> T + Sync,
) -> Vec<T> {
    (0..n.div_ceil(CHUNK_ROWS))
        .into_par_iter()
        .map(|k| {
            let mut rng = Rng::derive(seed, tag, k as u64);
            let lo = k * CHUNK_ROWS;
            f(&mut rng, lo..(lo + CHUNK_ROWS).min(n))
        })
        .collect()
}

/// Concatenates chunk columns into one batch (columns in parallel; each
/// column's chunks are freed as soon as it is built).
fn assemble(schema: SchemaRef, mut chunks: Vec<Vec<ArrayRef>>) -> Result<RecordBatch> {
    match chunks.len() {
        0 => return Ok(RecordBatch::new_empty(schema)),
        1 => return RecordBatch::try_new(schema, chunks.pop().expect("one chunk")).map_err(internal),
        _ => {}
    }
    let n_cols = schema.fields().len();
    let mut per_col: Vec<Vec<ArrayRef>> = (0..n_cols).map(|_| Vec::with_capacity(chunks.len())).collect();
    for chunk in chunks {
        for (j, a) in chunk.into_iter().enumerate() {
            per_col[j].push(a);
        }
    }
    let cols = per_col
        .into_par_iter()
        .map(|parts| {
            let refs: Vec<&dyn Array> = parts.iter().map(|a| a.as_ref()).collect();
            arrow_select::concat::concat(&refs).map_err(internal)
        })
        .collect::<Result<Vec<_>>>()?;
    RecordBatch::try_new(schema, cols).map_err(internal)
}

/// Generates the demo tables, as `(name, batch)` pairs in the order
/// responses, orders, order_lines, tickets, quotes, invoices, leads, carts,
/// events, interactions, spend (or only those named in `cfg.tables`).
pub fn generate(cfg: &DemoConfig) -> Result<Vec<(String, RecordBatch)>> {
    if cfg.end <= cfg.start {
        return Err(Error::param(format!(
            "demo data: end ({}) must be after start ({})",
            cfg.end, cfg.start
        )));
    }
    if (cfg.end - cfg.start).num_days() > 200 * 366 {
        return Err(Error::param("demo data: the date range may span at most 200 years"));
    }
    let mut wanted = [cfg.tables.is_none(); TABLE_NAMES.len()];
    if let Some(list) = &cfg.tables {
        for name in list {
            match TABLE_NAMES.iter().position(|t| t == name) {
                Some(k) => wanted[k] = true,
                None => {
                    return Err(Error::param(format!(
                        "demo data: unknown table '{name}'; expected one of {}",
                        TABLE_NAMES.join(", ")
                    )))
                }
            }
        }
    }
    let is = |name: &str| wanted[TABLE_NAMES.iter().position(|t| *t == name).expect("known table")];

    let n = cfg.n_orders;
    let seed = cfg.seed;
    let world = World::new(seed, n, cfg.start, cfg.end);
    let w = &world;

    let need_orders = is("orders") || is("order_lines") || is("invoices");
    let simple: Vec<usize> = (0..TABLE_NAMES.len())
        .filter(|&k| wanted[k] && !matches!(TABLE_NAMES[k], "orders" | "order_lines" | "invoices"))
        .collect();

    let (orders, others) = rayon::join(
        || need_orders.then(|| run_chunks(n, seed, TAG_ORDERS, |rng, rows| tables::orders(w, rng, rows, n))),
        || {
            simple
                .par_iter()
                .map(|&k| {
                    let name = TABLE_NAMES[k];
                    let chunks = match name {
                        "responses" => {
                            let m = cfg.n_responses.unwrap_or(n / 2);
                            run_chunks(m, seed, TAG_RESPONSES, |rng, rows| tables::responses(w, rng, rows, m))
                        }
                        "tickets" => {
                            let m = cfg.n_tickets.unwrap_or(n / 10);
                            run_chunks(m, seed, TAG_TICKETS, |rng, rows| tables::tickets(w, rng, rows, m))
                        }
                        "quotes" => {
                            let m = cfg.n_quotes.unwrap_or(n / 5);
                            run_chunks(m, seed, TAG_QUOTES, |rng, rows| tables::quotes(w, rng, rows, m))
                        }
                        "leads" => {
                            let m = cfg.n_leads.unwrap_or(n / 50);
                            run_chunks(m, seed, TAG_LEADS, |rng, rows| tables::leads(w, rng, rows, m))
                        }
                        "carts" => {
                            let m = cfg.n_carts.unwrap_or(n / 4);
                            run_chunks(m, seed, TAG_CARTS, |rng, rows| tables::carts(w, rng, rows, m))
                        }
                        "events" => {
                            let m = cfg.n_events.unwrap_or(n);
                            run_chunks(m, seed, TAG_EVENTS, |rng, rows| tables::events(w, rng, rows, m))
                        }
                        "interactions" => {
                            let m = cfg.n_interactions.unwrap_or(n / 4);
                            run_chunks(m, seed, TAG_INTERACTIONS, |rng, rows| {
                                tables::interactions(w, rng, rows, m)
                            })
                        }
                        "spend" => {
                            let mut rng = Rng::derive(seed, TAG_SPEND, 0);
                            vec![tables::spend(w, &mut rng, cfg.start, cfg.end, n)]
                        }
                        other => unreachable!("unexpected table {other}"),
                    };
                    (k, assemble(schema(name), chunks))
                })
                .collect::<Vec<_>>()
        },
    );

    let mut out: Vec<Option<RecordBatch>> = vec![None; TABLE_NAMES.len()];
    for (k, batch) in others {
        out[k] = Some(batch?);
    }
    if let Some(chunks) = orders {
        let mut order_cols = Vec::with_capacity(chunks.len());
        let mut line_cols = Vec::with_capacity(chunks.len());
        let mut invoice_cols = Vec::with_capacity(chunks.len());
        let mut next_invoice = 1i64;
        for OrdersChunk { orders, lines, mut invoices, n_invoices } in chunks {
            order_cols.push(orders);
            line_cols.push(lines);
            let ids = Int64Array::from_iter_values(next_invoice..next_invoice + n_invoices as i64);
            next_invoice += n_invoices as i64;
            invoices.insert(0, Arc::new(ids) as ArrayRef);
            invoice_cols.push(invoices);
        }
        for (name, cols) in [("orders", order_cols), ("order_lines", line_cols), ("invoices", invoice_cols)] {
            if is(name) {
                let k = TABLE_NAMES.iter().position(|t| *t == name).expect("known table");
                out[k] = Some(assemble(schema(name), cols)?);
            }
        }
    }
    Ok(TABLE_NAMES.iter().zip(out).filter_map(|(name, batch)| batch.map(|b| (name.to_string(), b))).collect())
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use arrow_array::cast::AsArray;
    use arrow_array::types::{Date32Type, Float64Type, Int32Type, Int64Type, TimestampMicrosecondType};
    use arrow_array::{
        BooleanArray, Date32Array, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray,
    };
    use arrow_schema::{DataType, TimeUnit};

    use super::*;

    const DAY_US: i64 = 86_400_000_000;

    fn cfg(n_orders: usize, seed: u64) -> DemoConfig {
        DemoConfig { n_orders, seed, ..Default::default() }
    }

    fn table<'a>(t: &'a [(String, RecordBatch)], name: &str) -> &'a RecordBatch {
        &t.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no table {name}")).1
    }
    fn i64c<'a>(b: &'a RecordBatch, c: &str) -> &'a Int64Array {
        b.column_by_name(c).unwrap().as_primitive::<Int64Type>()
    }
    fn f64c<'a>(b: &'a RecordBatch, c: &str) -> &'a Float64Array {
        b.column_by_name(c).unwrap().as_primitive::<Float64Type>()
    }
    fn tsc<'a>(b: &'a RecordBatch, c: &str) -> &'a TimestampMicrosecondArray {
        b.column_by_name(c).unwrap().as_primitive::<TimestampMicrosecondType>()
    }
    fn datec<'a>(b: &'a RecordBatch, c: &str) -> &'a Date32Array {
        b.column_by_name(c).unwrap().as_primitive::<Date32Type>()
    }
    fn strc<'a>(b: &'a RecordBatch, c: &str) -> &'a StringArray {
        b.column_by_name(c).unwrap().as_string::<i32>()
    }
    fn boolc<'a>(b: &'a RecordBatch, c: &str) -> &'a BooleanArray {
        b.column_by_name(c).unwrap().as_boolean()
    }

    /// (column, type, nullable).
    type Column = (String, DataType, bool);

    /// The tables documented in docs/demo-data.md, in order, with their columns.
    fn documented() -> Vec<(String, Vec<Column>)> {
        let doc = include_str!("../docs/demo-data.md");
        let mut out: Vec<(String, Vec<Column>)> = Vec::new();
        let mut current = false;
        for line in doc.lines() {
            if let Some(rest) = line.strip_prefix("## ") {
                current = rest.starts_with('`');
                if current {
                    out.push((rest.split('`').nth(1).unwrap().to_string(), Vec::new()));
                }
                continue;
            }
            if !current || !line.starts_with("| `") {
                continue;
            }
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let (names, ty) = (cells[1], cells[2]);
            let nullable = ty.contains("nullable");
            let dt = match ty.split(',').next().unwrap().trim() {
                "int64" => DataType::Int64,
                "int32" => DataType::Int32,
                "float64" => DataType::Float64,
                "bool" => DataType::Boolean,
                "string" => DataType::Utf8,
                "date32" => DataType::Date32,
                "timestamp[us]" => DataType::Timestamp(TimeUnit::Microsecond, None),
                other => panic!("unknown doc type {other}"),
            };
            for name in names.split(',') {
                let name = name.trim().trim_matches('`').to_string();
                out.last_mut().unwrap().1.push((name, dt.clone(), nullable));
            }
        }
        out
    }

    #[test]
    fn demo_schema_matches_doc() {
        let doc = documented();
        let names: Vec<&str> = doc.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, TABLE_NAMES.to_vec());
        for (c, tables) in
            [(cfg(3_000, 3), generate(&cfg(3_000, 3)).unwrap()), (cfg(0, 3), generate(&cfg(0, 3)).unwrap())]
        {
            let got: Vec<&str> = tables.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(got, TABLE_NAMES.to_vec(), "{c:?}");
            for ((name, batch), (_, cols)) in tables.iter().zip(&doc) {
                let fields = batch.schema();
                let fields = fields.fields();
                assert_eq!(fields.len(), cols.len(), "{name}: column count");
                for (f, (col, dt, nullable)) in fields.iter().zip(cols) {
                    assert_eq!(f.name(), col, "{name}");
                    assert_eq!(f.data_type(), dt, "{name}.{col}");
                    assert_eq!(f.is_nullable(), *nullable, "{name}.{col} nullability");
                    if !nullable {
                        assert_eq!(batch.column_by_name(col).unwrap().null_count(), 0, "{name}.{col}");
                    }
                }
            }
        }
    }

    #[test]
    fn demo_deterministic_across_threads_and_chunks() {
        // Several chunks for responses and events.
        let c = DemoConfig {
            n_orders: 3_000,
            seed: 11,
            n_responses: Some(CHUNK_ROWS + 4_000),
            n_events: Some(CHUNK_ROWS * 2 + 7),
            ..Default::default()
        };
        let a = generate(&c).unwrap();
        let b = generate(&c).unwrap();
        assert_eq!(a, b);
        for threads in [1, 3] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let d = pool.install(|| generate(&c).unwrap());
            assert_eq!(a, d, "{threads} threads");
        }
        assert_eq!(table(&a, "responses").num_rows(), CHUNK_ROWS + 4_000);
        assert_eq!(table(&a, "events").num_rows(), CHUNK_ROWS * 2 + 7);
        // Ids continue across chunks.
        let ids = i64c(table(&a, "events"), "event_id");
        assert!(ids.values().iter().enumerate().all(|(i, &v)| v == i as i64 + 1));
        // A table does not depend on which other tables are asked for.
        let only =
            generate(&DemoConfig { tables: Some(vec!["invoices".into(), "events".into()]), ..c.clone() })
                .unwrap();
        assert_eq!(only.len(), 2);
        assert_eq!(only[0].0, "invoices");
        assert_eq!(&only[0].1, table(&a, "invoices"));
        assert_eq!(&only[1].1, table(&a, "events"));
        // Another seed gives other data.
        let e = generate(&DemoConfig { seed: 12, tables: Some(vec!["orders".into()]), ..c }).unwrap();
        assert_ne!(&e[0].1, table(&a, "orders"));
    }

    #[test]
    fn demo_config_errors_and_empty() {
        let bad = DemoConfig { end: NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(), ..cfg(10, 0) };
        assert!(matches!(generate(&bad), Err(Error::Input { .. })));
        let bad = DemoConfig { tables: Some(vec!["orders".into(), "nope".into()]), ..cfg(10, 0) };
        let err = generate(&bad).unwrap_err().to_string();
        assert!(err.contains("nope"), "{err}");
        let empty = generate(&cfg(0, 0)).unwrap();
        assert_eq!(empty.len(), TABLE_NAMES.len());
        assert!(empty.iter().all(|(_, b)| b.num_rows() == 0));
        // Explicit sizes still apply with no orders.
        let t = generate(&DemoConfig {
            n_responses: Some(50),
            tables: Some(vec!["responses".into()]),
            ..cfg(0, 0)
        })
        .unwrap();
        assert_eq!(t[0].1.num_rows(), 50);
        // Config round-trips through serde, with defaults for missing keys.
        let c: DemoConfig = serde_json::from_str(r#"{"n_orders": 7, "end": "2025-02-03"}"#).unwrap();
        assert_eq!(c.n_orders, 7);
        assert_eq!(c.start, NaiveDate::from_ymd_opt(2024, 1, 1).unwrap());
        assert_eq!(c.end, NaiveDate::from_ymd_opt(2025, 2, 3).unwrap());
        let back: DemoConfig = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back.end, c.end);
    }

    #[test]
    fn demo_invariants() {
        let c = DemoConfig { n_orders: 20_000, seed: 5, ..Default::default() };
        let t = generate(&c).unwrap();
        let end_us = world::epoch_days(c.end) as i64 * DAY_US;
        let start_us = world::epoch_days(c.start) as i64 * DAY_US;
        let regions: HashSet<&str> = world::REGIONS.iter().copied().collect();

        // Dimension ids: formats and a consistent hierarchy in every table.
        let mut cust_partner: HashMap<String, String> = HashMap::new();
        let mut partner_rep: HashMap<String, String> = HashMap::new();
        let mut rep_region: HashMap<String, String> = HashMap::new();
        let fmt = |s: &str, p: char, digits: usize| {
            s.len() == digits + 1 && s.starts_with(p) && s[1..].bytes().all(|b| b.is_ascii_digit())
        };
        for (name, b) in &t {
            if let Some(cust) = b.column_by_name("customer_id") {
                let (cu, pa, re, rg) =
                    (cust.as_string::<i32>(), strc(b, "partner_id"), strc(b, "rep_id"), strc(b, "region"));
                for i in 0..b.num_rows() {
                    let (cu, pa, re, rg) = (cu.value(i), pa.value(i), re.value(i), rg.value(i));
                    assert!(fmt(cu, 'C', 6) && fmt(pa, 'P', 4) && fmt(re, 'R', 3), "{name}: {cu} {pa} {re}");
                    assert!(regions.contains(rg));
                    assert_eq!(cust_partner.entry(cu.into()).or_insert_with(|| pa.into()), pa);
                    assert_eq!(partner_rep.entry(pa.into()).or_insert_with(|| re.into()), re);
                    assert_eq!(rep_region.entry(re.into()).or_insert_with(|| rg.into()), rg);
                }
            }
            // Ids unique (1..=n) and timestamps within [start, end), sorted.
            let id = b.schema().field(0).name().clone();
            if id.ends_with("_id") && name != "order_lines" {
                let ids = i64c(b, &id);
                assert!(ids.values().iter().enumerate().all(|(i, &v)| v == i as i64 + 1), "{name}.{id}");
            }
            for f in b.schema().fields() {
                if matches!(f.data_type(), DataType::Timestamp(..)) {
                    let ts = tsc(b, f.name());
                    assert!(
                        ts.iter().flatten().all(|v| (start_us..end_us).contains(&v)),
                        "{name}.{}",
                        f.name()
                    );
                }
            }
            if let Some(ts) =
                b.schema().fields().iter().find(|f| matches!(f.data_type(), DataType::Timestamp(..)))
            {
                let v = tsc(b, ts.name()).values();
                assert!(v.windows(2).all(|w| w[0] <= w[1]), "{name} sorted by {}", ts.name());
            }
        }
        let lead_reps = strc(table(&t, "leads"), "rep_id");
        let lead_regions = strc(table(&t, "leads"), "region");
        for i in 0..lead_reps.len() {
            if let Some(r) = rep_region.get(lead_reps.value(i)) {
                assert_eq!(r, lead_regions.value(i));
            }
        }

        // Orders.
        let o = table(&t, "orders");
        let n = o.num_rows();
        assert_eq!(n, c.n_orders);
        let (at, prom, deliv) = (tsc(o, "ordered_at"), datec(o, "promised_date"), datec(o, "delivered_date"));
        let (qty, qd, amt) = (f64c(o, "quantity"), f64c(o, "quantity_delivered"), f64c(o, "amount"));
        let (acc, errs, etype, addon) =
            (boolc(o, "accurate"), i64c(o, "error_count"), strc(o, "error_type"), boolc(o, "has_addon"));
        let channels: HashSet<&str> = ["portal", "app", "web", "edi", "phone", "branch", "rep"].into();
        let mut open_old = 0;
        for i in 0..n {
            let day = at.value(i).div_euclid(DAY_US) as i32;
            let lead = prom.value(i) - day;
            assert!((1..=10).contains(&lead), "promised lead {lead}");
            assert_eq!(deliv.is_null(i), qd.is_null(i));
            if deliv.is_valid(i) {
                assert!(deliv.value(i) >= day);
                assert!(deliv.value(i) < world::epoch_days(c.end));
                assert!(qd.value(i) > 0.0 && qd.value(i) <= qty.value(i));
            } else if day + 60 < world::epoch_days(c.end) {
                open_old += 1;
            }
            assert!(amt.value(i) > 0.0 && qty.value(i) > 0.0);
            assert_eq!(acc.value(i), errs.value(i) == 0);
            assert_eq!(acc.value(i), etype.is_null(i));
            if !acc.value(i) {
                assert!(["picking", "packing", "loading"].contains(&etype.value(i)));
            }
            assert!(channels.contains(strc(o, "channel").value(i)));
        }
        assert!(open_old > 0 && open_old < n / 100, "old open orders: {open_old}");
        let recent_open = (0..n).filter(|&i| deliv.is_null(i)).count() - open_old;
        assert!(recent_open > 0);

        // Order lines agree with their orders.
        let l = table(&t, "order_lines");
        let (lo, ln, lp, lq, la, lu) = (
            i64c(l, "order_id"),
            l.column(1).as_primitive::<Int32Type>(),
            strc(l, "product_line"),
            f64c(l, "quantity"),
            f64c(l, "amount"),
            boolc(l, "upgrade"),
        );
        let products: HashSet<&str> =
            ["lumber", "roofing", "insulation", "drywall", "concrete", "fasteners", "tools"].into();
        let mut i = 0;
        for order in 0..n {
            let start = i;
            let mut kinds = HashSet::new();
            let (mut up, mut sum_a, mut sum_q) = (false, 0.0, 0.0);
            while i < l.num_rows() && lo.value(i) == order as i64 + 1 {
                assert_eq!(ln.value(i) as usize, i - start + 1);
                assert!(products.contains(lp.value(i)));
                assert!(la.value(i) > 0.0 && lq.value(i) > 0.0);
                kinds.insert(lp.value(i));
                up |= lu.value(i);
                sum_a += la.value(i);
                sum_q += lq.value(i);
                i += 1;
            }
            let k = i - start;
            assert!((1..=6).contains(&k), "order {} has {k} lines", order + 1);
            assert_eq!(addon.value(order), kinds.len() > 1 || up, "has_addon of order {}", order + 1);
            assert!((sum_a - amt.value(order)).abs() < 0.011 * k as f64);
            assert!((sum_q - qty.value(order)).abs() < 0.0011 * k as f64);
        }
        assert_eq!(i, l.num_rows());
        let addon_share = addon.true_count() as f64 / n as f64;
        assert!((0.1..0.6).contains(&addon_share), "add-on share {addon_share}");

        // Invoices: one per delivered order.
        let inv = table(&t, "invoices");
        assert_eq!(inv.num_rows(), n - deliv.null_count());
        let (io, idate, idue, ipaid, icl, ipart) = (
            i64c(inv, "order_id"),
            datec(inv, "invoice_date"),
            datec(inv, "due_date"),
            datec(inv, "paid_date"),
            f64c(inv, "credit_limit"),
            strc(inv, "partner_id"),
        );
        let mut terms: HashMap<&str, (i32, f64)> = HashMap::new();
        let mut prev = 0;
        for j in 0..inv.num_rows() {
            let oid = io.value(j);
            assert!(oid > prev);
            prev = oid;
            let k = oid as usize - 1;
            assert!(deliv.is_valid(k));
            assert_eq!(idate.value(j), deliv.value(k));
            assert_eq!(strc(o, "customer_id").value(k), strc(inv, "customer_id").value(j));
            let term = idue.value(j) - idate.value(j);
            assert!(term == 30 || term == 60);
            let e = terms.entry(ipart.value(j)).or_insert((term, icl.value(j)));
            assert_eq!(*e, (term, icl.value(j)));
            if ipaid.is_valid(j) {
                assert!(ipaid.value(j) >= idate.value(j) && ipaid.value(j) < world::epoch_days(c.end));
            }
            assert!(f64c(inv, "amount").value(j) > 0.0);
        }
        assert!(ipaid.null_count() > 0);

        // Responses.
        let r = table(&t, "responses");
        let (st, sc, cm) = (strc(r, "survey_type"), i64c(r, "score"), strc(r, "comment"));
        for i in 0..r.num_rows() {
            if sc.is_valid(i) {
                let range = if st.value(i) == "nps" { 0..=10 } else { 1..=5 };
                assert!(range.contains(&sc.value(i)), "{} {}", st.value(i), sc.value(i));
            }
            if cm.is_valid(i) {
                assert!(!cm.value(i).is_empty());
            }
            assert!(["email", "sms", "portal"].contains(&strc(r, "channel").value(i)));
        }
        let nulls = sc.null_count() as f64 / r.num_rows() as f64;
        assert!((0.003..0.02).contains(&nulls), "null scores {nulls}");
        let comments = cm.len() - cm.null_count();
        let share = comments as f64 / r.num_rows() as f64;
        assert!((0.25..0.36).contains(&share), "comment share {share}");
        assert!(cm.iter().flatten().any(|s| !s.is_ascii()), "some comments are non-ASCII");

        // Tickets, quotes, leads, carts: later events after earlier ones.
        let tk = table(&t, "tickets");
        let (op, rs, ct, fc) = (
            tsc(tk, "opened_at"),
            tsc(tk, "resolved_at"),
            i64c(tk, "contacts"),
            boolc(tk, "first_contact_resolved"),
        );
        for i in 0..tk.num_rows() {
            assert!(ct.value(i) >= 1);
            if rs.is_valid(i) {
                assert!(rs.value(i) >= op.value(i));
            }
            if fc.value(i) {
                assert!(rs.is_valid(i) && ct.value(i) == 1);
            }
        }
        for (name, a, b) in [
            ("quotes", "requested_at", "quoted_at"),
            ("leads", "created_at", "converted_at"),
            ("carts", "created_at", "checked_out_at"),
        ] {
            let tb = table(&t, name);
            let (x, y) = (tsc(tb, a), tsc(tb, b));
            assert!(y.null_count() > 0 && y.null_count() < tb.num_rows(), "{name}");
            for i in 0..tb.num_rows() {
                if y.is_valid(i) {
                    assert!(y.value(i) >= x.value(i), "{name}");
                }
            }
        }
        let q = table(&t, "quotes");
        let (qa, won) = (tsc(q, "quoted_at"), boolc(q, "won"));
        for i in 0..q.num_rows() {
            if qa.is_null(i) && won.is_valid(i) {
                assert!(!won.value(i));
            }
        }

        // Spend: one row per month and region.
        let s = table(&t, "spend");
        assert_eq!(s.num_rows(), 35 * 5);
        let months = datec(s, "month");
        assert_eq!(months.value(0), world::epoch_days(c.start));
        assert_eq!(
            months.value(s.num_rows() - 1),
            world::epoch_days(NaiveDate::from_ymd_opt(2026, 11, 1).unwrap())
        );
        assert!(f64c(s, "amount").values().iter().all(|&a| a > 0.0));
    }

    /// Headline KPIs of the generated data, for the realism checks.
    #[derive(Debug)]
    struct Kpis {
        nps: f64,
        promoters: f64,
        detractors: f64,
        csat: f64,
        on_time: f64,
        in_full: f64,
        accuracy: f64,
        fcr: f64,
        quote_std_median_h: f64,
        quote_custom_median_h: f64,
        ticket_high_median_h: f64,
        ticket_std_median_h: f64,
        repeat_90d: f64,
        top10_partner_share: f64,
        summer_winter_ratio: f64,
        weekday_share: f64,
        n_partners: usize,
        n_customers: usize,
    }

    fn median(mut v: Vec<f64>) -> f64 {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[v.len() / 2]
    }

    fn kpis(t: &[(String, RecordBatch)], end: NaiveDate) -> Kpis {
        let end_day = world::epoch_days(end);
        let r = table(t, "responses");
        let (st, sc) = (strc(r, "survey_type"), i64c(r, "score"));
        let (mut n_nps, mut pro, mut det, mut n_csat, mut csat) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for i in 0..r.num_rows() {
            if sc.is_null(i) {
                continue;
            }
            match st.value(i) {
                "nps" => {
                    n_nps += 1.0;
                    pro += (sc.value(i) >= 9) as u8 as f64;
                    det += (sc.value(i) <= 6) as u8 as f64;
                }
                "csat" => {
                    n_csat += 1.0;
                    csat += sc.value(i) as f64;
                }
                _ => {}
            }
        }
        let o = table(t, "orders");
        let (prom, deliv, qty, qd, acc, at) = (
            datec(o, "promised_date"),
            datec(o, "delivered_date"),
            f64c(o, "quantity"),
            f64c(o, "quantity_delivered"),
            boolc(o, "accurate"),
            tsc(o, "ordered_at"),
        );
        let (mut n_del, mut ot, mut inf) = (0.0, 0.0, 0.0);
        for i in 0..o.num_rows() {
            if deliv.is_valid(i) {
                n_del += 1.0;
                ot += (deliv.value(i) <= prom.value(i)) as u8 as f64;
                inf += (qd.value(i) >= qty.value(i)) as u8 as f64;
            }
        }
        // Repeat purchase: customers whose first order is followed by another
        // within 90 days (first orders at least 90 days before the end).
        let cust = strc(o, "customer_id");
        let mut orders_of: HashMap<&str, Vec<i32>> = HashMap::new();
        let mut by_partner: HashMap<&str, usize> = HashMap::new();
        let (mut summer, mut winter, mut weekday) = (0.0, 0.0, 0.0);
        for i in 0..o.num_rows() {
            let day = at.value(i).div_euclid(DAY_US) as i32;
            orders_of.entry(cust.value(i)).or_default().push(day);
            *by_partner.entry(strc(o, "partner_id").value(i)).or_default() += 1;
            let date = NaiveDate::from_num_days_from_ce_opt(day + 719_163).unwrap();
            use chrono::Datelike;
            match date.month() {
                6..=8 => summer += 1.0,
                1 | 2 | 12 => winter += 1.0,
                _ => {}
            }
            weekday += (date.weekday().num_days_from_monday() < 5) as u8 as f64;
        }
        let (mut eligible, mut repeat) = (0.0, 0.0);
        for days in orders_of.values() {
            if days[0] + 90 <= end_day {
                eligible += 1.0;
                repeat += (days.len() > 1 && days[1] <= days[0] + 90) as u8 as f64;
            }
        }
        let mut sizes: Vec<usize> = by_partner.values().copied().collect();
        sizes.sort_unstable_by(|a, b| b.cmp(a));
        let top = sizes.len().div_ceil(10);
        let tk = table(t, "tickets");
        let (op, rs, pr, fc) = (
            tsc(tk, "opened_at"),
            tsc(tk, "resolved_at"),
            strc(tk, "priority"),
            boolc(tk, "first_contact_resolved"),
        );
        let (mut hi, mut std_, mut n_res, mut n_fcr) = (Vec::new(), Vec::new(), 0.0, 0.0);
        for i in 0..tk.num_rows() {
            if rs.is_valid(i) {
                let h = (rs.value(i) - op.value(i)) as f64 / 3.6e9;
                if pr.value(i) == "high" {
                    hi.push(h)
                } else {
                    std_.push(h)
                }
                n_res += 1.0;
                n_fcr += fc.value(i) as u8 as f64;
            }
        }
        let q = table(t, "quotes");
        let (rq, qa, qt) = (tsc(q, "requested_at"), tsc(q, "quoted_at"), strc(q, "quote_type"));
        let (mut qs, mut qc) = (Vec::new(), Vec::new());
        for i in 0..q.num_rows() {
            if qa.is_valid(i) {
                let h = (qa.value(i) - rq.value(i)) as f64 / 3.6e9;
                if qt.value(i) == "standard" {
                    qs.push(h)
                } else {
                    qc.push(h)
                }
            }
        }
        Kpis {
            nps: 100.0 * (pro - det) / n_nps,
            promoters: pro / n_nps,
            detractors: det / n_nps,
            csat: csat / n_csat,
            on_time: ot / n_del,
            in_full: inf / n_del,
            accuracy: acc.true_count() as f64 / o.num_rows() as f64,
            fcr: n_fcr / n_res,
            quote_std_median_h: median(qs),
            quote_custom_median_h: median(qc),
            ticket_high_median_h: median(hi),
            ticket_std_median_h: median(std_),
            repeat_90d: repeat / eligible,
            top10_partner_share: sizes[..top].iter().sum::<usize>() as f64 / o.num_rows() as f64,
            summer_winter_ratio: summer / winter,
            weekday_share: weekday / o.num_rows() as f64,
            n_partners: by_partner.len(),
            n_customers: orders_of.len(),
        }
    }

    #[test]
    fn demo_realism_200k() {
        let c = DemoConfig {
            n_orders: 200_000,
            seed: 0,
            tables: Some(["responses", "orders", "tickets", "quotes"].map(String::from).to_vec()),
            ..Default::default()
        };
        let t = generate(&c).unwrap();
        let k = kpis(&t, c.end);
        eprintln!("{k:#?}");
        assert!((20.0..55.0).contains(&k.nps), "{k:?}");
        assert!((0.40..0.60).contains(&k.promoters) && (0.07..0.18).contains(&k.detractors), "{k:?}");
        assert!((3.9..4.3).contains(&k.csat), "{k:?}");
        assert!((0.80..0.97).contains(&k.on_time), "{k:?}");
        assert!((0.93..0.99).contains(&k.in_full), "{k:?}");
        assert!((0.95..0.99).contains(&k.accuracy), "{k:?}");
        assert!((0.62..0.78).contains(&k.fcr), "{k:?}");
        assert!((0.4..1.1).contains(&k.quote_std_median_h), "{k:?}");
        assert!((8.0..17.0).contains(&k.quote_custom_median_h), "{k:?}");
        assert!((14.0..28.0).contains(&k.ticket_high_median_h), "{k:?}");
        assert!((28.0..55.0).contains(&k.ticket_std_median_h), "{k:?}");
        assert!((0.40..0.70).contains(&k.repeat_90d), "{k:?}");
        assert!(k.top10_partner_share > 0.4, "{k:?}");
        assert!(k.summer_winter_ratio > 1.4, "{k:?}");
        assert!(k.weekday_share > 0.85, "{k:?}");
        assert!(k.n_partners <= 200_000 / 150 && k.n_partners > 200_000 / 150 * 3 / 4, "{k:?}");
        assert!(k.n_customers > 2 * k.n_partners, "{k:?}");
    }

    /// Timing of a large run: `cargo test --release --lib demo -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn demo_bench_10m_responses() {
        let c = DemoConfig {
            n_orders: 1_000_000,
            n_responses: Some(10_000_000),
            tables: Some(vec!["responses".into()]),
            ..Default::default()
        };
        // Process CPU seconds (user + system), to see through a busy machine.
        let cpu = || -> f64 {
            let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
            let f: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
            let ticks = |k: usize| f.get(k).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
            (ticks(11) + ticks(12)) / 100.0
        };
        let (t0, c0) = (std::time::Instant::now(), cpu());
        let t = generate(&c).unwrap();
        eprintln!(
            "10M responses: {:.2} s wall, {:.2} s CPU ({} threads, {} rows, {} MiB)",
            t0.elapsed().as_secs_f64(),
            cpu() - c0,
            rayon::current_num_threads(),
            t[0].1.num_rows(),
            t[0].1.get_array_memory_size() >> 20
        );
        drop(t);
        let t0 = std::time::Instant::now();
        let t = generate(&cfg(1_000_000, 0)).unwrap();
        let rows: usize = t.iter().map(|(_, b)| b.num_rows()).sum();
        eprintln!("all tables, 1M orders: {:.2} s ({rows} rows)", t0.elapsed().as_secs_f64());
    }
}
