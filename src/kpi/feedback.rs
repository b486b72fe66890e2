//! Qualitative feedback (table: survey responses with a free-text comment):
//! `feedback_themes`, the share of comments that mention each theme of a
//! dictionary, overall and among NPS detractors and promoters.
//!
//! The state is a handful of counts per theme, merged by adding, so any
//! chunking gives the same answer. Tokenising and phrase matching live in
//! [`crate::text`]; `distinctive_terms` (not a per-cell KPI) in [`crate::terms`].
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{Field, Schema};
use serde::{Deserialize, Serialize};

use super::{count_field, with_interval, RowColumns, Share};
use crate::engine::{Ctx, DynKpi, Kpi, State};
use crate::error::{Error, Result};
use crate::ingest::{expect_numeric, find_column, is_whole, show_f64, Diagnostics, Numeric};
use crate::keys::for_each_kept;
use crate::registry::{params, KpiInfo};
use crate::text::{self, Matcher, Text, TextColumn, Tokens};

/// The bad-row problem of a score (shared with `distinctive_terms`).
pub(crate) const BAD_SCORE: &str =
    "with a score that is not finite, or an NPS score that is not a whole number in 0-10";

/// Parameters of `feedback_themes`, as sent by the Python layer.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThemeParams {
    /// Theme -> keywords: a list of `[name, [keywords]]` pairs (keeps the order)
    /// or an object. Default: [`text::DEFAULT_THEMES`].
    #[serde(default)]
    pub themes: Option<serde_json::Value>,
    #[serde(default = "default_comment")]
    pub comment: String,
    /// The score column for the promoter / detractor split; `None`: no split.
    #[serde(default = "default_score")]
    pub score: Option<String>,
    /// Rows whose `type_column` equals this are NPS responses (0-10). With no
    /// such column in the table, or `None`, every row is an NPS response.
    #[serde(default = "default_survey_type")]
    pub survey_type: Option<String>,
    #[serde(default = "default_type_column")]
    pub type_column: String,
    #[serde(default = "default_date")]
    pub date: String,
}

fn default_comment() -> String {
    "comment".into()
}
fn default_score() -> Option<String> {
    Some("score".into())
}
fn default_survey_type() -> Option<String> {
    Some("nps".into())
}
fn default_type_column() -> String {
    "survey_type".into()
}
fn default_date() -> String {
    "responded_at".into()
}

/// One theme: its name as given, its column stem and its keywords.
#[derive(Clone, Debug)]
pub struct Theme {
    pub name: String,
    pub column: String,
    pub keywords: Vec<String>,
}

/// Parse and check the `themes` parameter (see [`ThemeParams::themes`]).
pub fn parse_themes(value: Option<&serde_json::Value>) -> Result<Vec<Theme>> {
    use serde_json::Value;
    let bad = |m: String| Error::column("themes", m);
    let pairs: Vec<(String, Vec<String>)> = match value {
        None | Some(Value::Null) => text::default_themes(),
        Some(Value::Object(map)) => {
            map.iter().map(|(k, v)| Ok((k.clone(), keyword_list(k, v)?))).collect::<Result<_>>()?
        }
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item.as_array().map(|a| a.as_slice()) {
                Some([Value::String(name), v]) => Ok((name.clone(), keyword_list(name, v)?)),
                _ => Err(bad(format!("themes must map each theme name to a list of keywords, got {item}"))),
            })
            .collect::<Result<_>>()?,
        Some(other) => {
            return Err(bad(format!("themes must be a dict of theme name -> list of keywords, got {other}")))
        }
    };
    if pairs.is_empty() {
        return Err(bad("themes is empty: give at least one theme, e.g. {\"delivery\": [\"late\"]}".into()));
    }
    let mut themes: Vec<Theme> = Vec::with_capacity(pairs.len());
    for (name, keywords) in pairs {
        let column = text::snake_case(&name);
        if column.is_empty() {
            return Err(bad(format!(
                "theme name {name:?} has no letters or digits to name its columns with"
            )));
        }
        if let Some(other) = themes.iter().find(|t| t.column == column) {
            return Err(bad(format!(
                "themes {:?} and {name:?} would both be named '{column}' in the output: rename one",
                other.name
            )));
        }
        themes.push(Theme { name, column, keywords });
    }
    Ok(themes)
}

fn keyword_list(theme: &str, v: &serde_json::Value) -> Result<Vec<String>> {
    let bad = || {
        Error::column(
            "themes",
            format!("keywords of theme '{theme}' must be a list of strings (words or phrases), got {v}"),
        )
    };
    v.as_array().ok_or_else(bad)?.iter().map(|k| k.as_str().map(str::to_string).ok_or_else(bad)).collect()
}

/// Counts of one (segment, period).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ThemeState {
    /// Valid responses read (with or without a comment).
    pub n: u64,
    /// Of those, without a comment (null, empty, or no word at all).
    pub missing: u64,
    pub invalid: u64,
    /// Comments (with at least one word), and those of NPS detractors / promoters.
    pub comments: u64,
    pub detractors: u64,
    pub promoters: u64,
    /// Per theme: comments mentioning it (all, detractors', promoters').
    pub hits: Vec<[u64; 3]>,
}

impl State for ThemeState {
    fn merge(&mut self, other: &Self) {
        self.n += other.n;
        self.missing += other.missing;
        self.invalid += other.invalid;
        self.comments += other.comments;
        self.detractors += other.detractors;
        self.promoters += other.promoters;
        if self.hits.len() < other.hits.len() {
            self.hits.resize(other.hits.len(), [0; 3]);
        }
        for (a, b) in self.hits.iter_mut().zip(&other.hits) {
            for k in 0..3 {
                a[k] += b[k];
            }
        }
    }
}

/// `feedback_themes`.
pub struct FeedbackThemes {
    params: ThemeParams,
    themes: Vec<Theme>,
    matcher: Matcher,
    comment: usize,
    score: Option<usize>,
    type_column: Option<usize>,
}

/// Where a response stands in the NPS split.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Band {
    Detractor,
    Passive,
    Promoter,
    /// Not an NPS response, or no score.
    None,
}

impl FeedbackThemes {
    pub fn new(params: ThemeParams) -> Result<Self> {
        let themes = parse_themes(params.themes.as_ref())?;
        let pairs: Vec<(String, Vec<String>)> =
            themes.iter().map(|t| (t.name.clone(), t.keywords.clone())).collect();
        let matcher = Matcher::new(&pairs)?;
        let kpi = FeedbackThemes { params, themes, matcher, comment: 0, score: None, type_column: None };
        let mut seen = std::collections::HashSet::new();
        for f in Kpi::fields(&kpi) {
            if !seen.insert(f.name().clone()) {
                return Err(Error::column(
                    "themes",
                    format!("two output columns would be named '{}': rename a theme", f.name()),
                ));
            }
        }
        Ok(kpi)
    }

    fn split(&self) -> bool {
        self.params.score.is_some()
    }
}

impl Kpi for FeedbackThemes {
    type State = ThemeState;

    fn default_date(&self) -> Option<&str> {
        Some(&self.params.date)
    }

    fn bind(&mut self, schema: &Schema) -> Result<()> {
        self.comment = find_column(schema, &self.params.comment, "comment")?;
        let dt = schema.field(self.comment).data_type();
        if !text::is_text(dt) {
            return Err(text::not_text(&self.params.comment, "comment", dt));
        }
        self.score = match &self.params.score {
            None => None,
            Some(name) => {
                let i = find_column(schema, name, "score").map_err(|e| match e {
                    Error::Input { message, column, .. } => Error::Input {
                        message: format!(
                            "{message}. The score splits comments into NPS detractors and promoters; pass \
                             score=None for theme shares without the split."
                        ),
                        column,
                        count: None,
                        example: None,
                    },
                    other => other,
                })?;
                expect_numeric(schema, i, "score")?;
                Some(i)
            }
        };
        self.type_column = match (&self.params.survey_type, schema.index_of(&self.params.type_column)) {
            (Some(_), Ok(i)) if self.score.is_some() => {
                let dt = schema.field(i).data_type();
                if !text::is_text(dt) {
                    return Err(text::not_text(&self.params.type_column, "type_column", dt));
                }
                Some(i)
            }
            _ => None,
        };
        Ok(())
    }

    fn update(
        &self,
        batch: &RecordBatch,
        cells: &[u32],
        states: &mut [ThemeState],
        diag: &mut Diagnostics,
        _ctx: &Ctx,
    ) {
        let Some(comments) = TextColumn::new(batch.column(self.comment).as_ref()) else { return };
        let types = self.type_column.and_then(|i| TextColumn::new(batch.column(i).as_ref()));
        let mut scores: Vec<Option<f64>> = Vec::new();
        if let Some(i) = self.score {
            if let Some(s) = Numeric::new(batch.column(i).as_ref()) {
                scores.reserve(batch.num_rows());
                s.for_each(|_, v| scores.push(v));
            }
        }
        let wanted = self.params.survey_type.as_deref().unwrap_or_default();
        let score_name = self.params.score.as_deref().unwrap_or_default();
        let n_themes = self.themes.len();
        let mut tokens = Tokens::default();
        let mut hits = vec![false; n_themes];
        for_each_kept(cells, |row, cell| {
            let state = &mut states[cell as usize];
            let is_nps = types.as_ref().is_none_or(|t| t.get(row) == Text::Str(wanted));
            let mut bad = false;
            let band = match scores.get(row) {
                // NaN or infinity is no score on any scale; other surveys' scores are not read.
                Some(Some(s)) if is_nps || !s.is_finite() => {
                    let s = *s;
                    if (0.0..=10.0).contains(&s) && is_whole(s) {
                        if s >= 9.0 {
                            Band::Promoter
                        } else if s <= 6.0 {
                            Band::Detractor
                        } else {
                            Band::Passive
                        }
                    } else {
                        bad = true;
                        diag.record(score_name, BAD_SCORE, || show_f64(s));
                        Band::None
                    }
                }
                _ => Band::None,
            };
            let text = match comments.get(row) {
                Text::Null => None,
                Text::Str(s) => Some(s),
                Text::Bad(b) => {
                    bad = true;
                    diag.record(&self.params.comment, "that are not valid UTF-8 text", || {
                        text::show_bytes(b)
                    });
                    None
                }
            };
            if bad {
                state.invalid += 1;
                return;
            }
            state.n += 1;
            let Some(text) = text else {
                state.missing += 1;
                return;
            };
            tokens.fill(text);
            if tokens.is_empty() {
                state.missing += 1;
                return;
            }
            state.comments += 1;
            match band {
                Band::Detractor => state.detractors += 1,
                Band::Promoter => state.promoters += 1,
                Band::Passive | Band::None => {}
            }
            self.matcher.find(&tokens, &mut hits);
            if state.hits.len() < n_themes {
                state.hits.resize(n_themes, [0; 3]);
            }
            for (h, &hit) in state.hits.iter_mut().zip(&hits) {
                if hit {
                    h[0] += 1;
                    h[1] += u64::from(band == Band::Detractor);
                    h[2] += u64::from(band == Band::Promoter);
                }
            }
        });
    }

    fn fields(&self) -> Vec<Field> {
        let mut fields =
            vec![count_field("n"), count_field("n_comments"), count_field("missing"), count_field("invalid")];
        if self.split() {
            fields.push(count_field("detractor_comments"));
            fields.push(count_field("promoter_comments"));
        }
        for t in &self.themes {
            fields.extend(with_interval(&format!("{}_pct", t.column)));
            if self.split() {
                fields.extend(with_interval(&format!("{}_detractor_pct", t.column)));
                fields.extend(with_interval(&format!("{}_promoter_pct", t.column)));
            }
        }
        fields
    }

    fn finalize(&self, states: &[&ThemeState], ctx: &Ctx) -> Vec<ArrayRef> {
        let split = self.split();
        let themes = self.themes.len();
        let groups = if split { 3 } else { 1 };
        let mut out = RowColumns::new(ctx, states.len(), if split { 6 } else { 4 }, 3 * groups * themes);
        for s in states {
            out.counts(0, [s.n, s.comments, s.missing, s.invalid]);
            // Each theme's share among comments, then among detractors and promoters.
            let of = [s.comments, s.detractors, s.promoters];
            if split {
                out.count(4, s.detractors);
                out.count(5, s.promoters);
            }
            for t in 0..themes {
                for (k, &n) in of.iter().enumerate().take(groups) {
                    let hits = s.hits.get(t).map_or(0, |h| h[k]);
                    out.share(3 * (t * groups + k), Share { hits, n }, ctx.z);
                }
            }
        }
        out.finish()
    }
}

/// The feedback KPIs in the catalogue.
pub const CATALOG: &[KpiInfo] = &[KpiInfo {
    name: "feedback_themes",
    family: "feedback",
    table: "responses",
    description: "Share of comments mentioning each theme of a keyword dictionary (Wilson intervals), \
                  overall and among NPS detractors and promoters",
    value_column: "n_comments",
    unit: "comments",
    direction: "higher",
    target: None,
}];

/// Build a feedback KPI.
pub fn build(kind: &str, p: &serde_json::Value) -> Option<Result<Box<dyn DynKpi>>> {
    match kind {
        "feedback_themes" => Some((|| {
            let tp: ThemeParams = params(kind, p)?;
            Ok(Box::new(FeedbackThemes::new(tp)?) as Box<dyn DynKpi>)
        })()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{run, KpiSpec, Request};
    use arrow_array::{BinaryArray, Float64Array, Int64Array, RecordBatch, StringArray};
    use arrow_schema::{DataType, Field, Schema};
    use std::sync::Arc;

    fn request(params: serde_json::Value) -> Request {
        Request {
            kpis: vec![KpiSpec { kind: "feedback_themes".into(), name: None, filter: vec![], params }],
            by: vec![],
            date: None,
            period: None,
            fiscal_year_start: 1,
            tz: None,
            as_of: None,
            on_invalid: Default::default(),
            confidence: 0.95,
            threads: Some(1),
            columns: None,
            rows_hint: None,
        }
    }

    fn batch(comments: arrow_array::ArrayRef, scores: Vec<Option<i64>>, types: Vec<&str>) -> RecordBatch {
        let schema = Schema::new(vec![
            Field::new("comment", comments.data_type().clone(), true),
            Field::new("score", DataType::Int64, true),
            Field::new("survey_type", DataType::Utf8, true),
        ]);
        RecordBatch::try_new(
            Arc::new(schema),
            vec![comments, Arc::new(Int64Array::from(scores)), Arc::new(StringArray::from(types))],
        )
        .unwrap()
    }

    fn col(out: &RecordBatch, name: &str) -> Vec<Option<f64>> {
        let c = out.column_by_name(name).unwrap_or_else(|| panic!("no column {name}"));
        match c.data_type() {
            DataType::Int64 => {
                c.as_any().downcast_ref::<Int64Array>().unwrap().iter().map(|v| v.map(|x| x as f64)).collect()
            }
            _ => c.as_any().downcast_ref::<Float64Array>().unwrap().iter().collect(),
        }
    }

    #[test]
    fn shares_and_split() {
        let comments = Arc::new(StringArray::from(vec![
            Some("Delivery was LATE"),
            Some("prix trop élevés"),
            None,
            Some("  "),
            Some("great rep, on-time delivery"),
            Some("portal is slow"),
        ]));
        let b = batch(
            comments,
            vec![Some(2), Some(5), Some(10), Some(9), Some(10), Some(4)],
            vec!["nps", "nps", "nps", "nps", "nps", "csat"],
        );
        let out = run(&request(serde_json::Value::Null), b.schema(), std::iter::once(Ok(b))).unwrap().batch;
        assert_eq!(col(&out, "n"), [Some(6.0)]);
        assert_eq!(col(&out, "n_comments"), [Some(4.0)]);
        assert_eq!(col(&out, "missing"), [Some(2.0)]);
        assert_eq!(col(&out, "detractor_comments"), [Some(2.0)]);
        assert_eq!(col(&out, "promoter_comments"), [Some(1.0)]);
        assert_eq!(col(&out, "delivery_pct"), [Some(50.0)]);
        assert_eq!(col(&out, "delivery_detractor_pct"), [Some(50.0)]);
        assert_eq!(col(&out, "delivery_promoter_pct"), [Some(100.0)]);
        assert_eq!(col(&out, "pricing_detractor_pct"), [Some(50.0)]);
        // A csat comment counts in the shares, not in the split.
        assert_eq!(col(&out, "portal_pct"), [Some(25.0)]);
        assert_eq!(col(&out, "portal_detractor_pct"), [Some(0.0)]);
        assert_eq!(col(&out, "rep_promoter_pct"), [Some(100.0)]);
    }

    #[test]
    fn non_utf8_comments_are_bad_input() {
        let comments = Arc::new(BinaryArray::from(vec![
            Some(b"late delivery".as_ref()),
            Some(b"\xff\xfe bad".as_ref()),
            Some(b"\xc3".as_ref()),
        ]));
        let b = batch(comments, vec![Some(1); 3], vec!["nps"; 3]);
        let err = run(&request(serde_json::Value::Null), b.schema(), std::iter::once(Ok(b.clone())))
            .err()
            .expect("non-UTF-8 comments are refused");
        match err {
            Error::Input { column, count, example, .. } => {
                assert_eq!(column.as_deref(), Some("comment"));
                assert_eq!(count, Some(2));
                assert_eq!(example.as_deref(), Some("b\"\\xff\\xfe bad\""));
            }
            other => panic!("{other:?}"),
        }
        let mut r = request(serde_json::Value::Null);
        r.on_invalid = crate::engine::OnInvalid::Drop;
        let out = run(&r, b.schema(), std::iter::once(Ok(b))).unwrap().batch;
        assert_eq!(col(&out, "invalid"), [Some(2.0)]);
        assert_eq!(col(&out, "delivery_pct"), [Some(100.0)]);
    }

    #[test]
    fn bad_themes_and_columns() {
        let p = |v: serde_json::Value| FeedbackThemes::new(params("feedback_themes", &v).unwrap());
        assert!(
            p(serde_json::json!({"themes": {"Late delivery": ["late"], "late_delivery": ["x"]}})).is_err()
        );
        assert!(p(serde_json::json!({"themes": {}})).is_err());
        assert!(p(serde_json::json!({"themes": {"a": "late"}})).is_err());
        assert!(p(serde_json::json!({"themes": {"a": [1]}})).is_err());
        assert!(p(serde_json::json!({"themes": {"a": []}})).is_err());
        assert!(p(serde_json::json!({"themes": {"?!": ["x"]}})).is_err());
        assert!(p(serde_json::json!({"themes": [["a", ["x"]], ["a_detractor", ["y"]]]})).is_err());
        let k = p(serde_json::json!({"themes": [["Zeta", ["z"]], ["Alpha", ["a"]]], "score": null})).unwrap();
        let names: Vec<String> = Kpi::fields(&k).iter().map(|f| f.name().clone()).collect();
        assert_eq!(
            names[4..],
            [
                "zeta_pct",
                "zeta_pct_ci_low",
                "zeta_pct_ci_high",
                "alpha_pct",
                "alpha_pct_ci_low",
                "alpha_pct_ci_high"
            ]
        );
        let b = batch(Arc::new(Int64Array::from(vec![1])), vec![Some(1)], vec!["nps"]);
        let err = run(&request(serde_json::Value::Null), b.schema(), std::iter::once(Ok(b))).err().unwrap();
        assert!(err.to_string().contains("must hold text"), "{err}");
    }

    #[test]
    fn merge_adds_and_grows() {
        let mut a = ThemeState { n: 1, comments: 1, hits: vec![[1, 0, 0]], ..Default::default() };
        let b = ThemeState { n: 2, comments: 2, hits: vec![[1, 1, 0], [2, 0, 1]], ..Default::default() };
        a.merge(&b);
        assert_eq!(a.hits, vec![[2, 1, 0], [2, 0, 1]]);
        assert_eq!((a.n, a.comments), (3, 3));
    }
}
