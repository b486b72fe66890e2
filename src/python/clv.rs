//! Bindings of the CLV models (`crate::clv`): numpy arrays in and out, the
//! GIL released during the work. No model logic here.
use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3_arrow::input::AnyRecordBatch;
use pyo3_arrow::PyRecordBatch;

use super::{guarded, to_py};
use crate::clv::{bgnbd, gamma_gamma, rfm, Fit};
use crate::error::Error;

type FitTuple = (Vec<f64>, Vec<f64>, f64, usize, usize);

fn slice<'a>(py: Python<'_>, a: &'a PyReadonlyArray1<'_, f64>, name: &str) -> PyResult<&'a [f64]> {
    a.as_slice().map_err(|_| to_py(py, Error::param(format!("{name} must be a contiguous float64 array"))))
}

fn fit_tuple(fit: Fit) -> FitTuple {
    (fit.params, fit.std_errors, fit.log_likelihood, fit.iterations, fit.rows)
}

/// Fit BG/NBD: (params [r, alpha, a, b], std errors, log-likelihood, iterations, distinct rows).
#[pyfunction]
#[pyo3(signature = (frequency, recency, t, weights=None, penalizer_coef=0.0))]
fn clv_fit_bgnbd(
    py: Python<'_>,
    frequency: PyReadonlyArray1<'_, f64>,
    recency: PyReadonlyArray1<'_, f64>,
    t: PyReadonlyArray1<'_, f64>,
    weights: Option<PyReadonlyArray1<'_, f64>>,
    penalizer_coef: f64,
) -> PyResult<FitTuple> {
    let (x, tx, tt) =
        (slice(py, &frequency, "frequency")?, slice(py, &recency, "recency")?, slice(py, &t, "T")?);
    let w = weights.as_ref().map(|w| slice(py, w, "weights")).transpose()?;
    py.detach(|| guarded(|| bgnbd::fit(x, tx, tt, w, penalizer_coef)))
        .map(fit_tuple)
        .map_err(|e| to_py(py, e))
}

/// Fit Gamma-Gamma on repeat customers: (params [p, q, gamma], std errors, log-likelihood, iterations, rows).
#[pyfunction]
#[pyo3(signature = (frequency, monetary_value, weights=None, penalizer_coef=0.0))]
fn clv_fit_gamma_gamma(
    py: Python<'_>,
    frequency: PyReadonlyArray1<'_, f64>,
    monetary_value: PyReadonlyArray1<'_, f64>,
    weights: Option<PyReadonlyArray1<'_, f64>>,
    penalizer_coef: f64,
) -> PyResult<FitTuple> {
    let (x, m) = (slice(py, &frequency, "frequency")?, slice(py, &monetary_value, "monetary_value")?);
    let w = weights.as_ref().map(|w| slice(py, w, "weights")).transpose()?;
    py.detach(|| guarded(|| gamma_gamma::fit(x, m, w, penalizer_coef)))
        .map(fit_tuple)
        .map_err(|e| to_py(py, e))
}

/// BG/NBD predictions: P(alive) when `t` is None, else expected purchases in the next `t`.
#[pyfunction]
#[pyo3(signature = (params, frequency, recency, t_age, t=None))]
fn clv_bgnbd_predict<'py>(
    py: Python<'py>,
    params: Vec<f64>,
    frequency: PyReadonlyArray1<'_, f64>,
    recency: PyReadonlyArray1<'_, f64>,
    t_age: PyReadonlyArray1<'_, f64>,
    t: Option<f64>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let p = bgnbd::Params::from_slice(&params).map_err(|e| to_py(py, e))?;
    let (x, tx, tt) =
        (slice(py, &frequency, "frequency")?, slice(py, &recency, "recency")?, slice(py, &t_age, "T")?);
    let out = py
        .detach(|| {
            guarded(|| match t {
                None => bgnbd::p_alive(&p, x, tx, tt),
                Some(h) => bgnbd::expected_purchases(&p, h, x, tx, tt),
            })
        })
        .map_err(|e| to_py(py, e))?;
    Ok(out.into_pyarray(py))
}

/// Gamma-Gamma expected average value per transaction.
#[pyfunction]
fn clv_gamma_gamma_value<'py>(
    py: Python<'py>,
    params: Vec<f64>,
    frequency: PyReadonlyArray1<'_, f64>,
    monetary_value: PyReadonlyArray1<'_, f64>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let p = gamma_gamma::Params::from_slice(&params).map_err(|e| to_py(py, e))?;
    let (x, m) = (slice(py, &frequency, "frequency")?, slice(py, &monetary_value, "monetary_value")?);
    let out =
        py.detach(|| guarded(|| gamma_gamma::expected_average_value(&p, x, m))).map_err(|e| to_py(py, e))?;
    Ok(out.into_pyarray(py))
}

/// Discounted CLV per customer from BG/NBD params and expected values per purchase.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn clv_value<'py>(
    py: Python<'py>,
    params: Vec<f64>,
    frequency: PyReadonlyArray1<'_, f64>,
    recency: PyReadonlyArray1<'_, f64>,
    t_age: PyReadonlyArray1<'_, f64>,
    value: PyReadonlyArray1<'_, f64>,
    months: u32,
    discount_rate: f64,
    periods_per_month: f64,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let p = bgnbd::Params::from_slice(&params).map_err(|e| to_py(py, e))?;
    let (x, tx, tt) =
        (slice(py, &frequency, "frequency")?, slice(py, &recency, "recency")?, slice(py, &t_age, "T")?);
    let v = slice(py, &value, "value")?;
    let out = py
        .detach(|| guarded(|| bgnbd::clv(&p, x, tx, tt, v, months, discount_rate, periods_per_month)))
        .map_err(|e| to_py(py, e))?;
    Ok(out.into_pyarray(py))
}

/// RFM summary of a transactions table: (batch, transactions dropped after as_of).
/// `as_of` is a day number (days since 1970-01-01).
#[pyfunction]
#[pyo3(signature = (data, customer, date, amount, as_of=None, freq="D"))]
fn clv_rfm(
    py: Python<'_>,
    data: AnyRecordBatch,
    customer: &str,
    date: &str,
    amount: &str,
    as_of: Option<i32>,
    freq: &str,
) -> PyResult<(Py<PyAny>, u64)> {
    let freq = rfm::Freq::parse(freq).map_err(|e| to_py(py, e))?;
    let reader = data.into_reader()?;
    let schema = reader.schema();
    let batches =
        reader.collect::<Result<Vec<_>, _>>().map_err(|e| to_py(py, Error::param(e.to_string())))?;
    let (batch, dropped) = py
        .detach(|| {
            guarded(|| rfm::summarize_batches(&schema, &batches, (customer, date, amount), as_of, freq))
        })
        .map_err(|e| to_py(py, e))?;
    Ok((PyRecordBatch::new(batch).into_pyarrow(py)?.unbind(), dropped))
}

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(clv_fit_bgnbd, m)?)?;
    m.add_function(wrap_pyfunction!(clv_fit_gamma_gamma, m)?)?;
    m.add_function(wrap_pyfunction!(clv_bgnbd_predict, m)?)?;
    m.add_function(wrap_pyfunction!(clv_gamma_gamma_value, m)?)?;
    m.add_function(wrap_pyfunction!(clv_value, m)?)?;
    m.add_function(wrap_pyfunction!(clv_rfm, m)?)?;
    Ok(())
}
