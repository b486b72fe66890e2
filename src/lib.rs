//! kpiforge: sales and customer-experience KPIs per segment and period.
//!
//! Data flows one way: [`ingest`] validates the input columns, [`keys`] turns
//! segment columns into dense group ids and [`period`] buckets dates, the
//! [`engine`] scans record batches in parallel chunks and updates one fused
//! set of KPI states per chunk, merges them and finalises them into an Arrow
//! record batch. Every KPI lives in [`kpi`] as a state with update / merge /
//! finalize; interval and test formulas live in [`stats`].

pub mod error;
pub mod stats;
pub mod period;
pub mod demo;

pub use error::{Error, Result};
