//! Criterion benches of the Rust kernels, without Python: `cargo bench --bench kernels`.
//!
//! - `survey`: NPS + CSAT + CES per rep per quarter over demo responses;
//! - `orders`: OTIF + order accuracy per rep per quarter over demo orders;
//! - `keys`: segment-key encoding of one chunk (`keys::encode_keys`), and a whole
//!   `run` (revenue per segment) over a million rows, with 10, 666 and 100,000 segments.
//!
//! The data is generated once per bench, outside the timed loop. The side-by-side
//! comparison with polars, DuckDB and pandas is `benchmarks/run.py`.
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use kpiforge::demo::{generate, DemoConfig};
use kpiforge::engine::CHUNK_ROWS;
use kpiforge::keys::encode_keys;
use kpiforge::{run, Request};

const ROWS: usize = 500_000;
const KEY_ROWS: usize = 1 << 20;

/// One demo table of `rows` rows.
fn demo_table(table: &str, rows: usize) -> RecordBatch {
    let config = DemoConfig {
        n_orders: rows,
        n_responses: Some(rows),
        tables: Some(vec![table.to_string()]),
        ..DemoConfig::default()
    };
    let mut tables = generate(&config).expect("demo data");
    tables.pop().expect("one table").1
}

fn request(json: &str) -> Request {
    Request::from_json(json).expect("valid request")
}

fn run_once(request: &Request, batch: &RecordBatch) -> RecordBatch {
    let batches = std::iter::once(Ok(batch.clone()));
    run(request, batch.schema(), batches).expect("the run succeeds").batch
}

fn survey(c: &mut Criterion) {
    let responses = demo_table("responses", ROWS);
    let req = request(
        r#"{"kpis": [{"kind": "nps"}, {"kind": "csat"}, {"kind": "ces"}],
            "by": ["rep_id"], "period": "quarter", "as_of": "2026-11-14"}"#,
    );
    let mut group = c.benchmark_group("survey");
    group.throughput(Throughput::Elements(responses.num_rows() as u64));
    group.bench_function("nps_csat_ces_by_rep_quarter", |b| b.iter(|| run_once(&req, black_box(&responses))));
    group.finish();
}

fn orders(c: &mut Criterion) {
    let orders = demo_table("orders", ROWS);
    let req = request(
        r#"{"kpis": [{"kind": "otif"}, {"kind": "order_accuracy"}],
            "by": ["rep_id"], "period": "quarter", "as_of": "2026-11-14"}"#,
    );
    let mut group = c.benchmark_group("orders");
    group.throughput(Throughput::Elements(orders.num_rows() as u64));
    group.bench_function("otif_accuracy_by_rep_quarter", |b| b.iter(|| run_once(&req, black_box(&orders))));
    group.finish();
}

/// `rows` rows of a string `segment` column with `segments` distinct values in
/// scrambled order, and an `amount` column.
fn segmented(rows: usize, segments: usize) -> RecordBatch {
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (x >> 33) as usize
    };
    let keys: StringArray = (0..rows).map(|_| Some(format!("S{:06}", next() % segments))).collect();
    let amounts: Float64Array = (0..rows).map(|i| Some((i % 997) as f64 + 0.5)).collect();
    let schema = Schema::new(vec![
        Field::new("segment", DataType::Utf8, false),
        Field::new("amount", DataType::Float64, false),
    ]);
    RecordBatch::try_new(Arc::new(schema), vec![Arc::new(keys) as ArrayRef, Arc::new(amounts)])
        .expect("valid batch")
}

fn keys(c: &mut Criterion) {
    let req = request(r#"{"kpis": [{"kind": "revenue", "params": {"volume": null}}], "by": ["segment"]}"#);
    let mut group = c.benchmark_group("keys");
    for segments in [10, 666, 26_650, 100_000] {
        let batch = segmented(KEY_ROWS, segments);
        let chunk = batch.column(0).slice(0, CHUNK_ROWS);
        group.throughput(Throughput::Elements(CHUNK_ROWS as u64));
        group.bench_with_input(BenchmarkId::new("encode_chunk", segments), &chunk, |b, chunk| {
            let mut codes = Vec::new();
            b.iter(|| encode_keys(&[black_box(chunk.as_ref())], CHUNK_ROWS, &mut codes).len())
        });
        group.throughput(Throughput::Elements(KEY_ROWS as u64));
        group.bench_with_input(BenchmarkId::new("revenue_run", segments), &batch, |b, batch| {
            b.iter(|| run_once(&req, black_box(batch)))
        });
    }
    group.finish();
}

criterion_group! {
    name = kernels;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = survey, orders, keys
}
criterion_main!(kernels);
