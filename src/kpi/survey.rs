//! Survey KPIs (table: one row per survey response): `nps`, `csat`, `ces`.
//!
//! All three keep the same state, a histogram of whole-number scores: exact,
//! tiny, and merged by adding counts, so any chunking gives the same answer
//! bit for bit. Means, shares and intervals are computed from it at the end.
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{Field, Schema};
use serde::{Deserialize, Serialize};

use super::counts::Counts;
use super::{count_field, with_interval, RowColumns, Share};
use crate::engine::DynKpi;
use crate::engine::{Ctx, Kpi, State};
use crate::error::{Error, Result};
use crate::filter::Condition;
use crate::ingest::{expect_numeric, find_column, is_whole, show_f64, Diagnostics, Numeric};
use crate::registry::{params, KpiInfo};
use crate::stats;

/// Most points a scale may have (0-10 is 11).
const MAX_POINTS: usize = 11;

/// Slots of a [`ScoreHistogram`]: the scores, then null and invalid scores.
const SLOTS: usize = MAX_POINTS + 2;
const MISSING: usize = MAX_POINTS;
const INVALID: usize = MAX_POINTS + 1;

/// Counts of each score on the scale, plus null and invalid scores: 24
/// bytes a state while its counts stay below 256 (see [`Counts`]; plain
/// `u64` counts took 104).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ScoreHistogram(Counts<SLOTS>);

impl State for ScoreHistogram {
    fn merge(&mut self, other: &Self) {
        self.0.merge(&other.0);
    }
}

impl ScoreHistogram {
    /// Count one more in `slot`.
    #[inline]
    fn add(&mut self, slot: usize) {
        self.0.add(slot);
    }

    /// The count in `slot`: a score's offset from the scale's lowest, or
    /// [`MISSING`] or [`INVALID`].
    #[cfg(test)]
    fn count(&self, slot: usize) -> u64 {
        self.0.get(slot)
    }

    pub fn n(&self) -> u64 {
        self.tally().n()
    }

    /// Mean and sample standard deviation of the scores.
    #[cfg(test)]
    fn mean_sd(&self, lo: i64) -> Option<(f64, f64)> {
        self.tally().mean_sd(lo)
    }

    /// The counts, read out once for the several sums finalising takes of them.
    fn tally(&self) -> Tally {
        Tally(self.0.all())
    }
}

/// A [`ScoreHistogram`]'s counts as plain numbers.
struct Tally([u64; SLOTS]);

impl Tally {
    fn n(&self) -> u64 {
        self.0[..MAX_POINTS].iter().sum()
    }

    /// Responses whose score (scale offset `lo`) lies in `from..=to`.
    fn between(&self, lo: i64, from: i64, to: i64) -> u64 {
        self.0[(from - lo) as usize..=(to - lo) as usize].iter().sum()
    }

    /// Mean and sample standard deviation of the scores.
    fn mean_sd(&self, lo: i64) -> Option<(f64, f64)> {
        // Exact integer moments of the offsets from `lo`: no cancellation in
        // the variance, and no float work per bin. In u64 while n < 2^28 (so
        // s1 < 10 n and s2 < 100 n keep n * s2 and s1^2 below 2^64): the same
        // integers as u128 without its multiplications and conversions (with
        // a cell per input row they were a good part of finalising the survey
        // KPIs).
        let counts = &self.0[..MAX_POINTS];
        let n = counts.iter().try_fold(0u64, |n, &c| n.checked_add(c));
        if let Some(n) = n.filter(|&n| n < 1 << 28) {
            let (s1, s2) =
                (0u64..).zip(counts).fold((0, 0), |(s1, s2), (i, &c)| (s1 + c * i, s2 + c * i * i));
            return moments(n as f64, s1 as f64, s2 as f64, lo, Some((n * s2 - s1 * s1) as f64));
        }
        let (mut n, mut s1, mut s2) = (0u128, 0u128, 0u128);
        for (i, &c) in (0u128..).zip(counts) {
            let c = u128::from(c);
            n += c;
            s1 += c * i;
            s2 += c * i * i;
        }
        // n * s2 - s1^2 >= 0 (Cauchy-Schwarz); it fits u128 for any n below 2^60.
        let spread = match (n.checked_mul(s2), s1.checked_mul(s1)) {
            (Some(ns2), Some(s1s1)) => Some((ns2 - s1s1) as f64),
            _ => None,
        };
        moments(n as f64, s1 as f64, s2 as f64, lo, spread)
    }
}

/// Mean and sample standard deviation from the integer moments n, s1, s2 (as
/// floats; `spread` is n s2 - s1² when it was computed exactly).
fn moments(n: f64, s1: f64, s2: f64, lo: i64, spread: Option<f64>) -> Option<(f64, f64)> {
    if n == 0.0 {
        return None;
    }
    let mean = lo as f64 + s1 / n;
    let sd = if n > 1.0 {
        let spread = spread.unwrap_or_else(|| n * s2 - s1.powi(2));
        (spread.max(0.0) / (n * (n - 1.0))).sqrt()
    } else {
        f64::NAN
    };
    Some((mean, sd))
}

/// Which survey KPI a [`SurveyKpi`] computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SurveyKind {
    Nps,
    Csat,
    Ces,
}

impl SurveyKind {
    fn name(self) -> &'static str {
        match self {
            SurveyKind::Nps => "nps",
            SurveyKind::Csat => "csat",
            SurveyKind::Ces => "ces",
        }
    }
    /// The share column of the top-box KPIs.
    fn share_name(self) -> &'static str {
        match self {
            SurveyKind::Nps => "",
            SurveyKind::Csat => "csat_satisfied_pct",
            SurveyKind::Ces => "ces_easy_pct",
        }
    }
}

/// A scale: `5` means 1-5, `[0, 10]` means 0-10.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(untagged)]
pub enum Scale {
    Top(i64),
    Range([i64; 2]),
}

impl Scale {
    fn bounds(self) -> (i64, i64) {
        match self {
            Scale::Top(hi) => (1, hi),
            Scale::Range([lo, hi]) => (lo, hi),
        }
    }
}

/// Parameters of the survey KPIs, as sent by the Python layer.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SurveyParams {
    /// The score column.
    #[serde(default = "default_score")]
    pub score: String,
    /// Response date column (for periods).
    #[serde(default = "default_date")]
    pub date: String,
    /// Keep only rows whose `type_column` equals this, when the table has that column.
    #[serde(default)]
    pub survey_type: Option<String>,
    #[serde(default = "default_type_column")]
    pub type_column: String,
    /// csat/ces only: the scale (default 1-5).
    #[serde(default)]
    pub scale: Option<Scale>,
    /// csat/ces only: lowest score counted satisfied / easy (default: top two boxes).
    #[serde(default)]
    pub top_box_min: Option<i64>,
}

fn default_score() -> String {
    "score".into()
}
fn default_date() -> String {
    "responded_at".into()
}
fn default_type_column() -> String {
    "survey_type".into()
}

/// NPS, CSAT or CES over a score column.
pub struct SurveyKpi {
    kind: SurveyKind,
    params: SurveyParams,
    lo: i64,
    hi: i64,
    top_box_min: i64,
    index: usize,
    problem: String,
}

impl SurveyKpi {
    pub fn new(kind: SurveyKind, params: SurveyParams) -> Result<Self> {
        let (lo, hi) = match (kind, params.scale) {
            (SurveyKind::Nps, None) => (0, 10),
            (SurveyKind::Nps, Some(_)) => {
                return Err(Error::param("nps has a fixed 0-10 scale; scale= is not accepted"))
            }
            (_, None) => (1, 5),
            (_, Some(s)) => s.bounds(),
        };
        if hi <= lo || (hi - lo) as usize >= MAX_POINTS {
            return Err(Error::param(format!(
                "{} scale {lo}-{hi} is not valid: it needs 2 to {MAX_POINTS} points, e.g. scale=5 (1-5) or scale=7 (1-7)",
                kind.name()
            )));
        }
        if kind == SurveyKind::Nps && params.top_box_min.is_some() {
            return Err(Error::param(
                "nps has fixed promoter (9-10) and detractor (0-6) bands; top_box_min= is not accepted",
            ));
        }
        let top_box_min = params.top_box_min.unwrap_or(hi - 1);
        if !(lo..=hi).contains(&top_box_min) {
            return Err(Error::param(format!("top_box_min={top_box_min} is outside the scale {lo}-{hi}")));
        }
        let problem = format!("with a score that is not a whole number in {lo}-{hi}");
        Ok(SurveyKpi { kind, params, lo, hi, top_box_min, index: usize::MAX, problem })
    }

    /// The implicit filter on the survey type column, if the table has one.
    pub fn type_filter(&self, schema: &Schema) -> Option<Condition> {
        let wanted = self.params.survey_type.as_ref()?;
        schema.index_of(&self.params.type_column).ok()?;
        Some(Condition {
            column: self.params.type_column.clone(),
            values: vec![serde_json::Value::String(wanted.clone())],
        })
    }
}

impl SurveyKpi {
    #[cold]
    #[inline(never)]
    fn record_invalid(&self, diag: &mut Diagnostics, score: f64) {
        diag.record(&self.params.score, &self.problem, || show_f64(score));
    }
}

impl Kpi for SurveyKpi {
    type State = ScoreHistogram;

    fn default_date(&self) -> Option<&str> {
        Some(&self.params.date)
    }

    fn row_filter(&self, schema: &Schema) -> Vec<Condition> {
        self.type_filter(schema).into_iter().collect()
    }

    fn bind(&mut self, schema: &Schema) -> Result<()> {
        self.index = find_column(schema, &self.params.score, "score")?;
        expect_numeric(schema, self.index, "score")
    }

    fn update(
        &self,
        batch: &RecordBatch,
        cells: &[u32],
        states: &mut [ScoreHistogram],
        diag: &mut Diagnostics,
        _ctx: &Ctx,
    ) {
        let column = batch.column(self.index);
        let Some(scores) = Numeric::new(column.as_ref()) else { return };
        let (lo, hi) = (self.lo as f64, self.hi as f64);
        // The diagnosis lives out of line so that this closure stays small
        // enough to be inlined into the loop (it was a call per row).
        scores.for_each_kept(cells, |_, cell, score| {
            let slot = match score {
                None => MISSING,
                // Whole numbers on the scale only: 7.5 or 11 is a data error, not a score.
                Some(s) if s >= lo && s <= hi && is_whole(s) => (s - lo) as usize,
                Some(_) => INVALID,
            };
            states[cell as usize].add(slot);
            if slot == INVALID {
                self.record_invalid(diag, score.unwrap_or(f64::NAN));
            }
        });
    }

    fn fields(&self) -> Vec<Field> {
        let mut fields = vec![count_field("n"), count_field("missing"), count_field("invalid")];
        match self.kind {
            SurveyKind::Nps => {
                fields.extend(["promoters", "passives", "detractors"].map(count_field));
                fields.extend(with_interval("nps"));
            }
            kind => {
                fields.extend(with_interval(&format!("{}_mean", kind.name())));
                fields.extend(with_interval(kind.share_name()));
            }
        }
        fields
    }

    fn finalize(&self, states: &[&ScoreHistogram], ctx: &Ctx) -> Vec<ArrayRef> {
        let nps = self.kind == SurveyKind::Nps;
        // nps: n, missing, invalid, the three bands; nps and its interval.
        // csat/ces: n, missing, invalid; mean, share and their intervals.
        let mut out = RowColumns::new(ctx, states.len(), if nps { 6 } else { 3 }, if nps { 3 } else { 6 });
        let (lo, hi) = (self.lo as f64, self.hi as f64);
        for s in states {
            let s = s.tally();
            let n = s.n();
            out.count(0, n);
            out.count(1, s.0[MISSING]);
            out.count(2, s.0[INVALID]);
            if nps {
                let (p, d) = (s.between(0, 9, 10), s.between(0, 0, 6));
                out.count(3, p);
                out.count(4, s.between(0, 7, 8));
                out.count(5, d);
                let value = (n > 0).then(|| 100.0 * (p as f64 - d as f64) / n as f64);
                out.estimate(0, value, || stats::nps_interval(p, d, n, ctx.z));
            } else {
                let ms = s.mean_sd(self.lo);
                let interval = || {
                    ms.and_then(|(m, sd)| stats::t_interval(m, sd, n, ctx.confidence))
                        // A mean of scores cannot leave the scale.
                        .map(|(a, b)| (a.max(lo), b.min(hi)))
                };
                out.estimate(0, ms.map(|m| m.0), interval);
                let top = s.between(self.lo, self.top_box_min, self.hi);
                out.share(3, Share { hits: top, n }, ctx.z);
            }
        }
        out.finish()
    }
}

/// The survey KPIs in the catalogue.
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

/// Build a survey KPI; the default `survey_type` filter is the KPI's own kind.
pub fn build(kind: &str, p: &serde_json::Value) -> Option<Result<Box<dyn DynKpi>>> {
    let k = match kind {
        "nps" => SurveyKind::Nps,
        "csat" => SurveyKind::Csat,
        "ces" => SurveyKind::Ces,
        _ => return None,
    };
    Some((|| {
        let mut sp: SurveyParams = params(kind, p)?;
        if p.get("survey_type").is_none() {
            sp.survey_type = Some(kind.to_string());
        }
        Ok(Box::new(SurveyKpi::new(k, sp)?) as Box<dyn DynKpi>)
    })())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(pairs: &[(usize, u64)]) -> ScoreHistogram {
        let mut h = ScoreHistogram::default();
        for &(s, c) in pairs {
            h.0.add_n(s, c);
        }
        h
    }

    #[test]
    fn merge_adds_counts() {
        let mut a = hist(&[(10, 2), (0, 1)]);
        a.add(MISSING);
        let b = hist(&[(10, 1), (5, 4)]);
        a.merge(&b);
        assert_eq!(a.count(10), 3);
        assert_eq!(a.count(5), 4);
        assert_eq!(a.n(), 8);
        assert_eq!((a.count(MISSING), a.count(INVALID)), (1, 0));
    }

    #[test]
    fn counts_carry_past_u32() {
        // Adding one at a time across 2^32.
        let mut a = hist(&[(3, u64::from(u32::MAX) - 1)]);
        (0..3).for_each(|_| a.add(3));
        assert_eq!(a.count(3), (1 << 32) + 1);
        assert_eq!(a.n(), (1 << 32) + 1);
        // Merging: carries from the low counts and the other's high counts.
        let big = 5 * (1u64 << 32) + 7;
        let mut b = hist(&[(3, u64::from(u32::MAX)), (0, big)]);
        b.merge(&a);
        assert_eq!(b.count(3), u64::from(u32::MAX) + (1 << 32) + 1);
        assert_eq!(b.count(0), big);
        let mut c = ScoreHistogram::default();
        c.merge(&b);
        assert_eq!(c, b);
        // The same whatever the order of merging.
        let mut d = a.clone();
        d.merge(&hist(&[(3, u64::from(u32::MAX)), (0, big)]));
        assert_eq!(d.count(3), b.count(3));
        assert_eq!(d.mean_sd(0), b.mean_sd(0));
        // Small states stay small, and partial results round-trip.
        assert_eq!(std::mem::size_of::<ScoreHistogram>(), 24);
        let bytes = postcard::to_allocvec(&b).unwrap();
        assert_eq!(postcard::from_bytes::<ScoreHistogram>(&bytes).unwrap(), b);
    }

    #[test]
    fn mean_sd_in_u64_is_the_u128_result() {
        // The moments as they were computed before the u64 path (u128 always).
        fn reference(counts: &[u64], lo: i64) -> Option<(f64, f64)> {
            let (mut n, mut s1, mut s2) = (0u128, 0u128, 0u128);
            for (i, &c) in counts.iter().enumerate() {
                let (c, i) = (u128::from(c), i as u128);
                n += c;
                s1 += c * i;
                s2 += c * i * i;
            }
            if n == 0 {
                return None;
            }
            let nf = n as f64;
            let mean = lo as f64 + s1 as f64 / nf;
            let sd = if n > 1 {
                let spread = match (n.checked_mul(s2), s1.checked_mul(s1)) {
                    (Some(ns2), Some(s1s1)) => (ns2 - s1s1) as f64,
                    _ => nf * s2 as f64 - (s1 as f64).powi(2),
                };
                (spread.max(0.0) / (nf * (nf - 1.0))).sqrt()
            } else {
                f64::NAN
            };
            Some((mean, sd))
        }
        let bits = |v: Option<(f64, f64)>| v.map(|(m, sd)| (m.to_bits(), sd.to_bits()));
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        // Small counts (the u64 path), counts about 2^28 in all (either side
        // of its bound), and counts past 2^32 and 2^60 (the u128 path).
        for (case, most) in [4u64, 300, 1 << 25, 1 << 33, 1 << 60].into_iter().cycle().take(400).enumerate() {
            let mut counts = [0u64; SLOTS];
            for c in counts.iter_mut().take(MAX_POINTS) {
                *c = if next() % 3 == 0 { 0 } else { next() % (most + 1) };
            }
            let lo = (next() % 3) as i64 - 1;
            let want = reference(&counts[..MAX_POINTS], lo);
            assert_eq!(bits(Tally(counts).mean_sd(lo)), bits(want), "case {case}: {counts:?}");
        }
        // All at the top of a 0-10 scale, where n * s2 is largest: either
        // side of the u64 path's bound on n, and far past it.
        for n in [(1u64 << 28) - 1, 1 << 28, (1 << 29) - 1, (1 << 32) - 1] {
            let mut counts = [0u64; SLOTS];
            counts[10] = n;
            counts[0] = 1;
            assert_eq!(bits(Tally(counts).mean_sd(0)), bits(reference(&counts[..MAX_POINTS], 0)), "n {n}");
        }
    }

    #[test]
    fn mean_sd_from_histogram() {
        // scores 1, 2, 3 on a 1-5 scale (index 0 = score 1)
        let h = hist(&[(0, 1), (1, 1), (2, 1)]);
        let (m, sd) = h.mean_sd(1).unwrap();
        assert!((m - 2.0).abs() < 1e-12);
        assert!((sd - 1.0).abs() < 1e-12);
        assert!(ScoreHistogram::default().mean_sd(1).is_none());
        // One score only: sd exactly 0, not a rounding residue.
        let same = hist(&[(3, 1_000_001)]);
        assert_eq!(same.mean_sd(0), Some((3.0, 0.0)));
        // Large counts agree with a two-pass float reference.
        let big = hist(&[(0, 123_456_789), (4, 987_654_321), (10, 5)]);
        let (m, sd) = big.mean_sd(0).unwrap();
        let n = 123_456_789.0 + 987_654_321.0 + 5.0;
        let mean = (4.0 * 987_654_321.0 + 50.0) / n;
        let ss = 123_456_789.0 * mean * mean
            + 987_654_321.0 * (4.0 - mean) * (4.0 - mean)
            + 5.0 * (10.0 - mean) * (10.0 - mean);
        assert!((m - mean).abs() < 1e-12 && (sd - (ss / (n - 1.0)).sqrt()).abs() < 1e-9);
    }

    #[test]
    fn bad_scales_are_rejected() {
        let p = |scale| SurveyParams {
            score: "score".into(),
            date: "d".into(),
            survey_type: None,
            type_column: "t".into(),
            scale,
            top_box_min: None,
        };
        assert!(SurveyKpi::new(SurveyKind::Csat, p(Some(Scale::Top(1)))).is_err());
        assert!(SurveyKpi::new(SurveyKind::Csat, p(Some(Scale::Top(20)))).is_err());
        assert!(SurveyKpi::new(SurveyKind::Nps, p(Some(Scale::Top(5)))).is_err());
        let k = SurveyKpi::new(SurveyKind::Ces, p(Some(Scale::Top(7)))).unwrap();
        assert_eq!((k.lo, k.hi, k.top_box_min), (1, 7, 6));
    }
}
