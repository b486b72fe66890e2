//! The engine end to end, without Python: chunking, threads and batch
//! boundaries never change a result; periods, segments and errors behave.
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, ArrayRef, Date32Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{ArrowError, DataType, Field, Schema};
use kpiforge::{run, Error, Request};

fn batch(n: usize, seed: u64) -> RecordBatch {
    let mut x = seed;
    let mut next = || {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (x >> 33) as usize
    };
    let reps: Vec<Option<String>> = (0..n)
        .map(|_| {
            let r = next() % 7;
            (r != 0).then(|| format!("r{r}"))
        })
        .collect();
    let scores: Vec<Option<i64>> = (0..n)
        .map(|_| {
            let s = next() % 13;
            (s != 12).then_some(s as i64)
        })
        .collect();
    let days: Vec<i32> = (0..n).map(|_| 19_000 + (next() % 800) as i32).collect();
    let schema = Schema::new(vec![
        Field::new("rep_id", DataType::Utf8, true),
        Field::new("score", DataType::Int64, true),
        Field::new("responded_at", DataType::Date32, false),
    ]);
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(reps)),
        Arc::new(Int64Array::from(scores)),
        Arc::new(Date32Array::from(days)),
    ];
    RecordBatch::try_new(Arc::new(schema), cols).unwrap()
}

fn request(json: &str) -> Request {
    Request::from_json(json).unwrap()
}

fn go(req: &Request, batches: Vec<RecordBatch>) -> kpiforge::Result<RecordBatch> {
    let schema = batches[0].schema();
    let it = batches.into_iter().map(Ok::<_, ArrowError>);
    run(req, schema, it).map(|o| o.batch)
}

#[test]
fn chunking_and_threads_do_not_change_results() {
    let req = request(
        r#"{"kpis":[{"kind":"nps"},{"kind":"csat","params":{"scale":[0,10]}}],
            "by":["rep_id"],"period":"quarter","on_invalid":"drop"}"#,
    );
    let whole = batch(300_000, 1);
    let expected = go(&req, vec![whole.clone()]).unwrap();
    let pieces: Vec<RecordBatch> = (0..30).map(|i| whole.slice(i * 10_000, 10_000)).collect();
    assert_eq!(go(&req, pieces).unwrap(), expected);
    for threads in [1, 3] {
        let mut r = req.clone();
        r.threads = Some(threads);
        assert_eq!(go(&r, vec![whole.clone()]).unwrap(), expected);
    }
    // totals add up: every valid score is in exactly one (rep, quarter) cell
    let n: i64 = expected.column_by_name("nps_n").unwrap().as_primitive::<Int64Type>().values().iter().sum();
    let invalid: i64 =
        expected.column_by_name("nps_invalid").unwrap().as_primitive::<Int64Type>().values().iter().sum();
    let missing: i64 =
        expected.column_by_name("nps_missing").unwrap().as_primitive::<Int64Type>().values().iter().sum();
    assert_eq!((n + invalid + missing) as usize, 300_000);
    // sorted by rep then period, null rep last
    let reps = expected.column(0).as_string::<i32>();
    assert!(reps.is_null(reps.len() - 1));
}

#[test]
fn a_row_count_hint_never_changes_results() {
    // A key per row over more than one window of chunks, so the states grow
    // after the first window: sized from the hint, whatever it says.
    let n = 700_000;
    let schema = Arc::new(Schema::new(vec![
        Field::new("rep_id", DataType::Int64, false),
        Field::new("score", DataType::Int64, false),
        Field::new("responded_at", DataType::Date32, false),
    ]));
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values((0..n as i64).map(|i| i * 7 % 1_000_003))),
        Arc::new(Int64Array::from_iter_values((0..n as i64).map(|i| i % 11))),
        Arc::new(Date32Array::from_iter_values((0..n as i32).map(|i| 19_000 + i % 500))),
    ];
    let whole = RecordBatch::try_new(schema, cols).unwrap();
    let mut req = request(
        r#"{"kpis":[{"kind":"nps"},{"kind":"csat","params":{"scale":[0,10]}}],"by":["rep_id"],"period":"quarter"}"#,
    );
    req.threads = Some(1);
    let expected = go(&req, vec![whole.clone()]).unwrap();
    assert_eq!(expected.num_rows(), n);
    for hint in [0, 1, n / 3, n, 100 * n, usize::MAX] {
        req.rows_hint = Some(hint);
        assert_eq!(go(&req, vec![whole.clone()]).unwrap(), expected, "rows_hint {hint}");
    }
}

#[test]
fn out_of_scale_scores_raise_with_count_and_example() {
    let req = request(r#"{"kpis":[{"kind":"nps"}]}"#);
    let err = go(&req, vec![batch(10_000, 2)]).unwrap_err();
    match err {
        Error::Input { column, count, example, .. } => {
            assert_eq!(column.as_deref(), Some("score"));
            assert!(count.unwrap() > 500);
            assert_eq!(example.as_deref(), Some("11"));
        }
        other => panic!("expected an input error, got {other:?}"),
    }
}

#[test]
fn nps_values_by_hand() {
    let schema = Arc::new(Schema::new(vec![Field::new("score", DataType::Int64, true)]));
    let b = RecordBatch::try_new(
        schema,
        vec![Arc::new(Int64Array::from(vec![Some(10), Some(9), Some(8), Some(0), None]))],
    )
    .unwrap();
    let out = go(&request(r#"{"kpis":[{"kind":"nps"}]}"#), vec![b]).unwrap();
    let nps = out.column_by_name("nps").unwrap().as_primitive::<Float64Type>().value(0);
    assert!((nps - 25.0).abs() < 1e-12);
    let missing = out.column_by_name("missing").unwrap().as_primitive::<Int64Type>().value(0);
    assert_eq!(missing, 1);
}

#[test]
fn unknown_kpi_and_missing_column_are_input_errors() {
    let b = batch(10, 3);
    let e = go(&request(r#"{"kpis":[{"kind":"npss"}]}"#), vec![b.clone()]).unwrap_err();
    assert!(e.to_string().contains("Did you mean 'nps'"), "{e}");
    let e = go(&request(r#"{"kpis":[{"kind":"nps","params":{"score":"scores"}}]}"#), vec![b]).unwrap_err();
    assert!(e.to_string().contains("Did you mean 'score'"), "{e}");
}

#[test]
fn integer_keys_across_chunks_count_as_a_plain_map() {
    // One integer `by` column over many chunks (a key on most rows, as with a
    // segment per customer), with a null, negatives and the extremes of i64;
    // and a two-column key with the same integers (the general key path).
    let n = 200_000usize;
    let key = |i: usize| -> Option<i64> {
        match i % 9973 {
            0 => None,
            1 => Some(i64::MIN),
            2 => Some(i64::MAX),
            _ => Some((i as i64 * 2_654_435_761) % 150_001 - 75_000),
        }
    };
    let keys: Vec<Option<i64>> = (0..n).map(key).collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("seg", DataType::Int64, true),
        Field::new("other", DataType::Utf8, false),
        Field::new("score", DataType::Int64, false),
    ]));
    let whole = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(keys.clone())),
            Arc::new(StringArray::from(vec!["x"; n])),
            Arc::new(Int64Array::from((0..n).map(|i| (i % 11) as i64).collect::<Vec<_>>())),
        ],
    )
    .unwrap();
    let pieces: Vec<RecordBatch> =
        (0..n.div_ceil(30_000)).map(|i| whole.slice(i * 30_000, (n - i * 30_000).min(30_000))).collect();
    let mut want: std::collections::BTreeMap<(bool, i64), i64> = std::collections::BTreeMap::new();
    for k in &keys {
        // Output order: values ascending, null last.
        *want.entry((k.is_none(), k.unwrap_or(0))).or_default() += 1;
    }
    for by in [r#"["seg"]"#, r#"["seg","other"]"#] {
        let req = request(&format!(r#"{{"kpis":[{{"kind":"nps"}}],"by":{by}}}"#));
        let out = go(&req, pieces.clone()).unwrap();
        let seg = out.column_by_name("seg").unwrap().as_primitive::<Int64Type>();
        let got: Vec<((bool, i64), i64)> = (0..out.num_rows())
            .map(|r| {
                let k = (seg.is_null(r), if seg.is_null(r) { 0 } else { seg.value(r) });
                (k, out.column_by_name("n").unwrap().as_primitive::<Int64Type>().value(r))
            })
            .collect();
        assert_eq!(got, want.iter().map(|(&k, &v)| (k, v)).collect::<Vec<_>>(), "by {by}");
    }
}
