//! kpiforge: sales and customer-experience KPIs per segment and period.
//!
//! Data flows one way: [`ingest`] validates the input columns, [`keys`] turns
//! segment columns into dense group ids and [`period`] buckets dates, the
//! [`engine`] scans record batches in parallel chunks and updates one fused
//! set of KPI states per chunk, merges them and finalises them into an Arrow
//! record batch. Every KPI lives in [`kpi`] as a state with update / merge /
//! finalize and is listed in [`registry`]; interval and test formulas live in
//! [`stats`]. The pyo3 binding ([`python`], behind the `python` feature) is a
//! thin layer over [`engine::run`].

pub(crate) mod cells;
pub mod clv;
pub mod demo;
pub mod engine;
pub mod entity;
pub mod error;
pub mod filter;
pub mod ingest;
pub mod keys;
pub mod kpi;
pub mod period;
pub mod registry;
pub mod stats;
// Free-text comments (qualitative feedback).
pub mod terms;
pub mod text;

#[cfg(feature = "python")]
mod python;

pub use engine::{
    finalize_partials, merge_partials, run, run_partial, run_with, KpiSpec, OnInvalid, Output, Request,
};
pub use error::{Error, Result};
