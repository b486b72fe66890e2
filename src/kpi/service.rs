//! Service KPIs (table: one row per inquiry / ticket / quote).
use crate::engine::DynKpi;
use crate::error::Result;
use crate::registry::KpiInfo;

/// The service KPIs in the catalogue.
pub const CATALOG: &[KpiInfo] = &[];

/// Build one of this family's KPIs; `None` when `kind` is not one of them.
pub fn build(_kind: &str, _params: &serde_json::Value) -> Option<Result<Box<dyn DynKpi>>> {
    None
}
