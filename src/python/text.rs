//! Bindings of the comment-text functions (kept thin like the rest of the binding).
use pyo3::prelude::*;
use pyo3_arrow::input::AnyRecordBatch;
use pyo3_arrow::PyRecordBatch;

use super::{interruptible, to_py};
use crate::{terms, text};

/// Rank each group's distinctive terms; `request` is a JSON `terms::TermsRequest`.
#[pyfunction]
fn distinctive_terms(py: Python<'_>, data: AnyRecordBatch, request: &str) -> PyResult<Py<PyAny>> {
    let request = terms::TermsRequest::from_json(request).map_err(|e| to_py(py, e))?;
    let reader = data.into_reader()?;
    let schema = reader.schema();
    let batch = interruptible(py, |cancel| terms::distinctive_terms(&request, schema, reader, cancel))?;
    Ok(PyRecordBatch::new(batch).into_pyarrow(py)?.unbind())
}

/// The tokens of a comment, as the feedback KPIs see them.
#[pyfunction]
fn tokenize(text: &str) -> Vec<String> {
    text::tokenize(text)
}

/// The default theme dictionary as JSON pairs `[[theme, [keywords]], ...]`.
#[pyfunction]
fn default_themes() -> String {
    serde_json::to_string(&text::default_themes()).expect("themes serialise")
}

/// The built-in stop words.
#[pyfunction]
fn default_stop_words() -> Vec<&'static str> {
    text::default_stop_words().collect()
}

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(distinctive_terms, m)?)?;
    m.add_function(wrap_pyfunction!(tokenize, m)?)?;
    m.add_function(wrap_pyfunction!(default_themes, m)?)?;
    m.add_function(wrap_pyfunction!(default_stop_words, m)?)?;
    m.add("DEFAULT_PRIOR", terms::DEFAULT_PRIOR)?;
    Ok(())
}
