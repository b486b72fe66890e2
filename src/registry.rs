//! The one list of KPIs: how each is built from its parameters, and what the
//! docs, `kf.catalog()` and scorecards know about it (family, table, unit,
//! direction, default target).
use serde::Serialize;

use crate::engine::DynKpi;
use crate::entity::DynEntity;
use crate::error::{Error, Result};
use crate::kpi::{commercial, customers, feedback, finance, orders, service, survey};

/// What is known about a KPI besides its kernel.
#[derive(Clone, Debug, Serialize)]
pub struct KpiInfo {
    pub name: &'static str,
    pub family: &'static str,
    /// The demo table it reads.
    pub table: &'static str,
    pub description: &'static str,
    /// The headline output column.
    pub value_column: &'static str,
    pub unit: &'static str,
    /// `"higher"` or `"lower"` is better.
    pub direction: &'static str,
    /// Default target for the headline column (KPIS.md), if any.
    pub target: Option<f64>,
}

/// A KPI ready to bind: computed row by row, or from each customer's history.
pub enum Built {
    Row(Box<dyn DynKpi>),
    Entity(Box<dyn DynEntity>),
}

/// The per-customer families (see [`crate::entity`]).
const ENTITY_FAMILIES: &[(&[KpiInfo], EntityBuilder)] = &[
    (customers::CATALOG, customers::build),
    // The commercial family's catalogue is listed once, with its row KPIs.
    (&[], commercial::build_entity),
    (finance::CATALOG, finance::build),
];

/// A per-customer family's constructor: `None` when `kind` is not one of its KPIs.
pub type EntityBuilder = fn(&str, &serde_json::Value) -> Option<Result<Box<dyn DynEntity>>>;

/// Every row-wise KPI family: its catalogue entries and its constructor.
const FAMILIES: &[(&[KpiInfo], Builder)] = &[
    (survey::CATALOG, survey::build),
    (orders::CATALOG, orders::build),
    (service::CATALOG, service::build),
    (feedback::CATALOG, feedback::build),
    (commercial::CATALOG, commercial::build),
];

/// A family's constructor: `None` when `kind` is not one of its KPIs.
pub type Builder = fn(&str, &serde_json::Value) -> Option<Result<Box<dyn DynKpi>>>;

/// Every KPI kpiforge knows, in catalogue order.
pub fn catalog() -> Vec<&'static KpiInfo> {
    FAMILIES.iter().map(|(c, _)| *c).chain(ENTITY_FAMILIES.iter().map(|(c, _)| *c)).flatten().collect()
}

/// Deserialize a KPI's parameters; unknown parameters are an error naming the KPI.
pub fn params<T: serde::de::DeserializeOwned>(kind: &str, params: &serde_json::Value) -> Result<T> {
    let value = if params.is_null() { serde_json::json!({}) } else { params.clone() };
    serde_json::from_value(value).map_err(|e| Error::param(format!("{kind}: {e}")))
}

/// Build the KPI `kind` from its parameters.
pub fn build(kind: &str, p: &serde_json::Value) -> Result<Built> {
    if let Some(built) = FAMILIES.iter().find_map(|(_, build)| build(kind, p)) {
        return built.map(Built::Row);
    }
    if let Some(built) = ENTITY_FAMILIES.iter().find_map(|(_, build)| build(kind, p)) {
        return built.map(Built::Entity);
    }
    let names: Vec<&str> = catalog().iter().map(|k| k.name).collect();
    let hint = crate::ingest::closest_name(kind, &names)
        .map(|b| format!(" Did you mean '{b}'?"))
        .unwrap_or_default();
    Err(Error::param(format!("unknown KPI '{kind}'.{hint} Known KPIs: {}", names.join(", "))))
}
