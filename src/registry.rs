//! The one list of KPIs: how each is built from its parameters, and what the
//! docs, `kf.catalog()` and scorecards know about it (family, table, unit,
//! direction, default target).
use serde::Serialize;

use crate::engine::DynKpi;
use crate::error::{Error, Result};
use crate::kpi::survey::{SurveyKind, SurveyKpi, SurveyParams};

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

pub const CATALOG: &[KpiInfo] = &[
    KpiInfo {
        name: "nps",
        family: "survey",
        table: "responses",
        description:
            "Net Promoter Score: % promoters (9-10) minus % detractors (0-6), with an adjusted-Wald interval",
        value_column: "nps",
        unit: "points (-100..100)",
        direction: "higher",
        target: Some(50.0),
    },
    KpiInfo {
        name: "csat",
        family: "survey",
        table: "responses",
        description: "Customer satisfaction: mean score (t interval) and top-2-box share (Wilson interval)",
        value_column: "csat_mean",
        unit: "score",
        direction: "higher",
        target: Some(4.0),
    },
    KpiInfo {
        name: "ces",
        family: "survey",
        table: "responses",
        description: "Customer Effort Score (higher = easier): mean score and top-2-box 'easy' share",
        value_column: "ces_mean",
        unit: "score",
        direction: "higher",
        target: Some(4.0),
    },
];

fn params<T: serde::de::DeserializeOwned>(kind: &str, params: &serde_json::Value) -> Result<T> {
    let value = if params.is_null() { serde_json::json!({}) } else { params.clone() };
    serde_json::from_value(value).map_err(|e| Error::param(format!("{kind}: {e}")))
}

/// Build the KPI `kind` from its parameters.
pub fn build(kind: &str, p: &serde_json::Value) -> Result<Box<dyn DynKpi>> {
    let survey = |k: SurveyKind| -> Result<Box<dyn DynKpi>> {
        let mut sp: SurveyParams = params(kind, p)?;
        if p.get("survey_type").is_none() {
            sp.survey_type = Some(kind.to_string());
        }
        Ok(Box::new(SurveyKpi::new(k, sp)?))
    };
    match kind {
        "nps" => survey(SurveyKind::Nps),
        "csat" => survey(SurveyKind::Csat),
        "ces" => survey(SurveyKind::Ces),
        _ => {
            let names: Vec<&str> = CATALOG.iter().map(|k| k.name).collect();
            let hint = crate::ingest::closest_name(kind, &names)
                .map(|b| format!(" Did you mean '{b}'?"))
                .unwrap_or_default();
            Err(Error::param(format!("unknown KPI '{kind}'.{hint} Known KPIs: {}", names.join(", "))))
        }
    }
}
