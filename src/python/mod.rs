//! The pyo3 binding, kept thin: convert the inputs, run the core with the GIL
//! released and panics caught, convert the result. No KPI logic here.
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use pyo3_arrow::input::AnyRecordBatch;
use pyo3_arrow::PyRecordBatch;

use crate::error::Error;
use crate::{demo, engine, registry};

// Comment text: distinctive_terms, tokenize, default themes.
mod clv;
// The allocator; freed memory goes back once the core is idle.
pub(crate) mod memory;
mod text;

/// Run `f`, turning a panic into an internal error so it never aborts Python.
/// Every call into the core goes through here; its end may let freed memory go back (see [`memory`]).
pub(crate) fn guarded<T>(f: impl FnOnce() -> crate::Result<T>) -> crate::Result<T> {
    let _call = memory::Call::start();
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            Err(Error::Internal(message))
        }
    }
}

/// Raise the Python exception for a core error (classes live in `kpiforge.exceptions`).
pub(crate) fn to_py(py: Python<'_>, err: Error) -> PyErr {
    let exceptions = match py.import("kpiforge.exceptions") {
        Ok(m) => m,
        Err(e) => return e,
    };
    let build = || -> PyResult<PyErr> {
        match err {
            // A Ctrl-C that lands while Python code produces the input's batches
            // (a generator behind a RecordBatchReader) reaches the core as a read
            // error carrying the KeyboardInterrupt: it is still an interrupt.
            Error::Input { message, .. }
                if message.starts_with("could not read the input")
                    && message.contains("KeyboardInterrupt") =>
            {
                Ok(pyo3::exceptions::PyKeyboardInterrupt::new_err("kpiforge computation interrupted"))
            }
            Error::Input { message, column, count, example } => {
                let kwargs = PyDict::new(py);
                kwargs.set_item("column", column)?;
                kwargs.set_item("count", count)?;
                kwargs.set_item("example", example)?;
                let exc = exceptions.getattr("KpiInputError")?.call((message,), Some(&kwargs))?;
                Ok(PyErr::from_value(exc))
            }
            Error::Fit(message) => Ok(PyErr::from_value(exceptions.getattr("FitError")?.call1((message,))?)),
            Error::Interrupted => {
                Ok(pyo3::exceptions::PyKeyboardInterrupt::new_err("kpiforge computation interrupted"))
            }
            Error::Internal(message) => {
                let exc = exceptions
                    .getattr("KpiInternalError")?
                    .call1((format!("internal error in kpiforge (please report it): {message}"),))?;
                Ok(PyErr::from_value(exc))
            }
        }
    };
    build().unwrap_or_else(|e| e)
}

/// Run `f`, an engine call given a cancel flag to read between windows of
/// chunks, on a thread of its own (see [`guarded`]), while this thread waits
/// without the GIL and runs Python's signal handlers every 50 ms: an
/// exception from one (Ctrl-C's KeyboardInterrupt) stops the call and is
/// raised. Python runs signal handlers only on its main thread, and with
/// `threads=` the engine runs on a pool of its own: asked from there, a
/// Ctrl-C went unseen until the call had ended.
pub(crate) fn interruptible<T: Send>(
    py: Python<'_>,
    f: impl FnOnce(engine::Cancel) -> crate::Result<T> + Send,
) -> PyResult<T> {
    let stop = AtomicBool::new(false);
    let done = AtomicBool::new(false);
    let caller = std::thread::current();
    let mut signal: Option<PyErr> = None;
    let result = std::thread::scope(|scope| {
        let worker = scope.spawn(|| {
            let result = guarded(|| f(&|| stop.load(Ordering::Relaxed)));
            done.store(true, Ordering::Release);
            caller.unpark();
            result
        });
        while !done.load(Ordering::Acquire) {
            py.detach(|| std::thread::park_timeout(Duration::from_millis(50)));
            if signal.is_none() && !done.load(Ordering::Acquire) {
                if let Err(err) = py.check_signals() {
                    signal = Some(err);
                    stop.store(true, Ordering::Relaxed);
                }
            }
        }
        py.detach(|| worker.join())
            .unwrap_or_else(|_| Err(Error::Internal("the computation's thread panicked".into())))
    });
    // A signal's exception wins, even over a result that was finished before
    // the engine saw the flag: the user asked to stop.
    match signal {
        Some(err) => Err(err),
        None => result.map_err(|e| to_py(py, e)),
    }
}

/// Compute the KPIs of `request` (JSON, see `engine::Request`) over `data`
/// (`rows`: its row count when known, see `Request::rows_hint`).
/// Returns the result as a pyarrow RecordBatch and the dropped-row issues as JSON.
#[pyfunction]
#[pyo3(signature = (data, request, rows=None))]
fn compute(
    py: Python<'_>,
    data: AnyRecordBatch,
    request: &str,
    rows: Option<usize>,
) -> PyResult<(Py<PyAny>, String)> {
    let mut request = engine::Request::from_json(request).map_err(|e| to_py(py, e))?;
    request.rows_hint = rows;
    let reader = data.into_reader()?;
    let schema = reader.schema();
    let output = interruptible(py, |cancel| engine::run_with(&request, schema, reader, cancel))?;
    output_to_py(py, output)
}

fn output_to_py(py: Python<'_>, output: engine::Output) -> PyResult<(Py<PyAny>, String)> {
    let issues =
        serde_json::to_string(&output.issues).map_err(|e| to_py(py, Error::Internal(e.to_string())))?;
    let batch = PyRecordBatch::new(output.batch).into_pyarrow(py)?;
    Ok((batch.unbind(), issues))
}

/// Like `compute`, but return the partial result (bytes) to merge with others.
#[pyfunction]
fn compute_partial(py: Python<'_>, data: AnyRecordBatch, request: &str) -> PyResult<Py<PyBytes>> {
    let request = engine::Request::from_json(request).map_err(|e| to_py(py, e))?;
    let reader = data.into_reader()?;
    let schema = reader.schema();
    let bytes = interruptible(py, |cancel| engine::run_partial(&request, schema, reader, cancel))?;
    Ok(PyBytes::new(py, &bytes).unbind())
}

/// Merge partial results into one.
#[pyfunction]
fn merge_partials(py: Python<'_>, parts: Vec<Vec<u8>>) -> PyResult<Py<PyBytes>> {
    let refs: Vec<&[u8]> = parts.iter().map(|p| p.as_slice()).collect();
    let bytes = py.detach(|| guarded(|| engine::merge_partials(&refs))).map_err(|e| to_py(py, e))?;
    Ok(PyBytes::new(py, &bytes).unbind())
}

/// Merge partial results and finalise them into the KPI table.
#[pyfunction]
fn finalize_partials(py: Python<'_>, parts: Vec<Vec<u8>>) -> PyResult<(Py<PyAny>, String)> {
    let refs: Vec<&[u8]> = parts.iter().map(|p| p.as_slice()).collect();
    let output = py.detach(|| guarded(|| engine::finalize_partials(&refs))).map_err(|e| to_py(py, e))?;
    output_to_py(py, output)
}

/// Generate the demo tables; `config` is a JSON `demo::DemoConfig`.
#[pyfunction]
fn demo_tables(py: Python<'_>, config: &str) -> PyResult<Vec<(String, Py<PyAny>)>> {
    let config: demo::DemoConfig = serde_json::from_str(config)
        .map_err(|e| to_py(py, Error::param(format!("invalid demo configuration: {e}"))))?;
    let tables = py.detach(|| guarded(|| demo::generate(&config))).map_err(|e| to_py(py, e))?;
    tables
        .into_iter()
        .map(|(name, batch)| Ok((name, PyRecordBatch::new(batch).into_pyarrow(py)?.unbind())))
        .collect()
}

/// The date columns whose latest value is "now" for the request's censoring KPIs.
#[pyfunction]
fn observed_dates(py: Python<'_>, request: &str) -> PyResult<Vec<String>> {
    let request = engine::Request::from_json(request).map_err(|e| to_py(py, e))?;
    engine::observed_dates(&request).map_err(|e| to_py(py, e))
}

/// The KPI catalogue as JSON.
#[pyfunction]
fn catalog() -> String {
    serde_json::to_string(&registry::catalog()).expect("catalog serialises")
}

/// Called in a forked child: run single-threaded from now on.
#[pyfunction]
fn _mark_forked() {
    engine::mark_forked();
    memory::after_fork();
}

/// A deliberate internal failure, so tests can prove a panic becomes an exception.
#[pyfunction]
fn _panic_for_test(py: Python<'_>, in_thread_pool: bool) -> PyResult<()> {
    py.detach(|| {
        guarded(|| {
            if in_thread_pool {
                use rayon::prelude::*;
                (0..64).into_par_iter().for_each(|i| {
                    if i == 37 {
                        panic!("deliberate panic in a worker thread");
                    }
                });
            }
            panic!("deliberate panic for testing")
        })
    })
    .map_err(|e| to_py(py, e))
}

/// True when this extension was built without optimisations.
#[pyfunction]
fn _debug_build() -> bool {
    cfg!(debug_assertions)
}

/// mimalloc's purge delay in ms (tests only).
#[pyfunction]
fn _purge_delay() -> std::os::raw::c_long {
    memory::purge_delay()
}

/// Hold `n` `ReturnFreedAtOnce` guards from now on, starting or dropping the
/// newest ones (tests only: nesting, and a fork while one is held).
#[pyfunction]
fn _hold_purge_at_once(n: usize) {
    static HELD: std::sync::Mutex<Vec<memory::ReturnFreedAtOnce>> = std::sync::Mutex::new(Vec::new());
    let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
    held.truncate(n);
    while held.len() < n {
        held.push(memory::ReturnFreedAtOnce::start());
    }
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(compute, m)?)?;
    m.add_function(wrap_pyfunction!(compute_partial, m)?)?;
    m.add_function(wrap_pyfunction!(merge_partials, m)?)?;
    m.add_function(wrap_pyfunction!(finalize_partials, m)?)?;
    m.add("PARTIAL_VERSION", engine::PARTIAL_VERSION)?;
    m.add_function(wrap_pyfunction!(demo_tables, m)?)?;
    m.add_function(wrap_pyfunction!(catalog, m)?)?;
    m.add_function(wrap_pyfunction!(observed_dates, m)?)?;
    m.add_function(wrap_pyfunction!(_mark_forked, m)?)?;
    m.add_function(wrap_pyfunction!(_panic_for_test, m)?)?;
    m.add_function(wrap_pyfunction!(_debug_build, m)?)?;
    m.add_function(wrap_pyfunction!(_purge_delay, m)?)?;
    m.add_function(wrap_pyfunction!(_hold_purge_at_once, m)?)?;
    text::register(m)?;
    clv::register(m)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
