//! Order KPIs (table: one row per order; optional order-lines table).
use crate::engine::DynKpi;
use crate::error::Result;
use crate::registry::KpiInfo;

/// The orders KPIs in the catalogue.
pub const CATALOG: &[KpiInfo] = &[];

/// Build one of this family's KPIs; `None` when `kind` is not one of them.
pub fn build(_kind: &str, _params: &serde_json::Value) -> Option<Result<Box<dyn DynKpi>>> {
    None
}
