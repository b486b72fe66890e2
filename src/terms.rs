//! `distinctive_terms`: the words and two-word phrases that set one group of
//! comments apart from the rest, by the weighted log-odds ratio with an
//! informative Dirichlet prior (Monroe, Colaresi & Quinn 2008, "Fightin'
//! Words", eq. 16-22), one group against all the others.
//!
//! Counting is one parallel scan: each chunk tokenises its comments and counts
//! terms per group; chunks merge in chunk order by adding integer counts, so the
//! result never depends on chunking or threads. For group i and term w, with
//! `y` counts, `n` totals of all term occurrences, `j` = every other group, and
//! the prior `a_w = a_0 * y_w / n` (the term's corpus share of a prior mass `a_0`):
//!
//! ```text
//! delta = ln((y_iw + a_w) / (n_i + a_0 - y_iw - a_w)) - ln((y_jw + a_w) / (n_j + a_0 - y_jw - a_w))
//! var   = 1 / (y_iw + a_w) + 1 / (y_jw + a_w)
//! z     = delta / sqrt(var)
//! ```
use std::sync::Arc;

use arrow_array::builder::{Float64Builder, Int64Builder, StringBuilder};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef};
use rayon::prelude::*;
use serde::Deserialize;

use crate::engine::{for_each_window, parallel, with_threads, Cancel};
use crate::error::{Error, Result};
use crate::ingest::{expect_numeric, find_column, is_whole, show_f64, Diagnostics, Numeric};
use crate::keys::{self, fast_map, KeyColumn, KeyValue};
use crate::kpi::feedback::BAD_SCORE;
use crate::text::{self, for_each_term, StopWords, Text, TextColumn, Tokens};

/// The predefined splits `group=` accepts besides a column name.
const SPLITS: &[&str] = &["detractors", "promoters"];

/// A `distinctive_terms` call, as sent by the Python layer.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TermsRequest {
    /// A column, or `"detractors"` / `"promoters"` (against the other NPS responses).
    pub group: String,
    #[serde(default = "default_comment")]
    pub comment: String,
    #[serde(default = "default_score")]
    pub score: String,
    #[serde(default = "default_survey_type")]
    pub survey_type: Option<String>,
    #[serde(default = "default_type_column")]
    pub type_column: String,
    #[serde(default = "default_top_k")]
    pub top_k: usize,
    /// Total prior mass `a_0`.
    #[serde(default = "default_prior")]
    pub prior: f64,
    /// Report only terms seen at least this often in all comments.
    #[serde(default = "default_min_count")]
    pub min_count: u64,
    /// Replaces the built-in stop words ([`text::DEFAULT_STOP_WORDS`]).
    #[serde(default)]
    pub stop_words: Option<Vec<String>>,
    #[serde(default)]
    pub threads: Option<usize>,
}

fn default_comment() -> String {
    "comment".into()
}
fn default_score() -> String {
    "score".into()
}
fn default_survey_type() -> Option<String> {
    Some("nps".into())
}
fn default_type_column() -> String {
    "survey_type".into()
}
fn default_top_k() -> usize {
    20
}
/// A prior worth 500 term occurrences: firm enough to keep a term seen twice in
/// a small group from topping the list, small next to a few thousand comments.
pub const DEFAULT_PRIOR: f64 = 500.0;
fn default_prior() -> f64 {
    DEFAULT_PRIOR
}
fn default_min_count() -> u64 {
    2
}

impl TermsRequest {
    pub fn from_json(json: &str) -> Result<Self> {
        serde_json::from_str(json)
            .map_err(|e| Error::param(format!("invalid distinctive_terms request: {e}")))
    }

    fn check(&self) -> Result<()> {
        if self.top_k == 0 {
            return Err(Error::column("top_k", "top_k must be at least 1"));
        }
        if !(self.prior.is_finite() && self.prior > 0.0) {
            return Err(Error::column(
                "prior",
                format!("prior must be a positive number, got {}", self.prior),
            ));
        }
        if self.min_count == 0 {
            return Err(Error::column("min_count", "min_count must be at least 1"));
        }
        Ok(())
    }
}

/// How rows are put into groups.
enum Grouping {
    Column(KeyColumn),
    /// NPS detractors (or promoters) vs the other NPS responses.
    Split {
        promoters: bool,
        score: usize,
        types: Option<usize>,
    },
}

struct Plan<'a> {
    request: &'a TermsRequest,
    comment: usize,
    grouping: Grouping,
    stop: StopWords,
}

/// Term counts of a chunk (local group and term ids) or of the whole scan (global ids).
#[derive(Default)]
struct Counts {
    groups: Vec<KeyValue>,
    group_index: hashbrown::HashMap<KeyValue, u32, foldhash::fast::FixedState>,
    terms: Vec<Box<str>>,
    term_index: hashbrown::HashMap<Box<str>, u32, foldhash::fast::FixedState>,
    /// (group, term) -> occurrences.
    counts: hashbrown::HashMap<(u32, u32), u64, foldhash::fast::FixedState>,
    diag: Diagnostics,
}

impl Counts {
    fn new() -> Self {
        Counts {
            group_index: fast_map(16),
            term_index: fast_map(1024),
            counts: fast_map(1024),
            ..Default::default()
        }
    }

    fn group(&mut self, value: &KeyValue) -> u32 {
        if let Some(&g) = self.group_index.get(value) {
            return g;
        }
        let g = self.groups.len() as u32;
        self.groups.push(value.clone());
        self.group_index.insert(value.clone(), g);
        g
    }

    fn term(&mut self, term: &str) -> u32 {
        if let Some(&t) = self.term_index.get(term) {
            return t;
        }
        let t = self.terms.len() as u32;
        self.terms.push(term.into());
        self.term_index.insert(term.into(), t);
        t
    }

    /// Fold a chunk's counts in.
    fn absorb(&mut self, chunk: Counts) {
        let gmap: Vec<u32> = chunk.groups.iter().map(|g| self.group(g)).collect();
        let tmap: Vec<u32> = chunk.terms.iter().map(|t| self.term(t)).collect();
        for ((g, t), c) in chunk.counts {
            *self.counts.entry((gmap[g as usize], tmap[t as usize])).or_insert(0) += c;
        }
        self.diag.merge(chunk.diag);
    }
}

impl<'a> Plan<'a> {
    fn new(request: &'a TermsRequest, schema: &Schema) -> Result<Self> {
        request.check()?;
        let comment = find_column(schema, &request.comment, "comment")?;
        let dt = schema.field(comment).data_type();
        if !text::is_text(dt) {
            return Err(text::not_text(&request.comment, "comment", dt));
        }
        let split = SPLITS.iter().find(|s| **s == request.group);
        let grouping = match split {
            Some(name) if schema.index_of(name).is_ok() => {
                return Err(Error::column(
                    name,
                    format!(
                    "group=\"{name}\" is ambiguous: the table has a column '{name}', and \"{name}\" is also \
                         the predefined NPS split. Rename the column to group by it."
                ),
                ))
            }
            Some(name) => {
                let score = find_column(schema, &request.score, "score")?;
                expect_numeric(schema, score, "score")?;
                let types = match (&request.survey_type, schema.index_of(&request.type_column)) {
                    (Some(_), Ok(i)) => {
                        let dt = schema.field(i).data_type();
                        if !text::is_text(dt) {
                            return Err(text::not_text(&request.type_column, "type_column", dt));
                        }
                        Some(i)
                    }
                    _ => None,
                };
                Grouping::Split { promoters: *name == "promoters", score, types }
            }
            None => {
                let mut keys =
                    keys::resolve(schema, std::slice::from_ref(&request.group)).map_err(|e| match e {
                        Error::Input { message, column, count, example } => Error::Input {
                            message: format!(
                                "{message} (group= takes a column or \"detractors\" / \"promoters\")"
                            )
                            .replace("(by=)", "(group=)"),
                            column,
                            count,
                            example,
                        },
                        other => other,
                    })?;
                Grouping::Column(keys.remove(0))
            }
        };
        let stop = match &request.stop_words {
            None => StopWords::default_list(),
            Some(words) => StopWords::from_words(words.iter().map(String::as_str)),
        };
        Ok(Plan { request, comment, grouping, stop })
    }

    fn count_chunk(&self, batch: &RecordBatch) -> Counts {
        let mut out = Counts::new();
        let rows = batch.num_rows();
        let Some(comments) = TextColumn::new(batch.column(self.comment).as_ref()) else { return out };
        // Per row: the chunk-local group, or None when the row is in no group.
        let mut group_of: Vec<Option<u32>> = Vec::with_capacity(rows);
        match &self.grouping {
            Grouping::Column(key) => {
                let mut codes = Vec::new();
                let values = keys::encode_column(batch.column(key.index).as_ref(), &mut codes);
                let local: Vec<u32> = values.iter().map(|v| out.group(v)).collect();
                group_of.extend(codes.iter().map(|&c| Some(local[c as usize])));
            }
            Grouping::Split { promoters, score, types } => {
                let wanted = self.request.survey_type.as_deref().unwrap_or_default();
                let types = types.and_then(|i| TextColumn::new(batch.column(i).as_ref()));
                let (name, other) =
                    if *promoters { ("promoters", "others") } else { ("detractors", "others") };
                let inside = out.group(&KeyValue::Str(name.into()));
                let outside = out.group(&KeyValue::Str(other.into()));
                if let Some(scores) = Numeric::new(batch.column(*score).as_ref()) {
                    scores.for_each(|row, s| {
                        let nps = types.as_ref().is_none_or(|t| t.get(row) == Text::Str(wanted));
                        group_of.push(match s {
                            Some(s) if nps && (0.0..=10.0).contains(&s) && is_whole(s) => {
                                let hit = if *promoters { s >= 9.0 } else { s <= 6.0 };
                                Some(if hit { inside } else { outside })
                            }
                            // NaN or infinity is no score on any scale.
                            Some(s) if nps || !s.is_finite() => {
                                out.diag.record(&self.request.score, BAD_SCORE, || show_f64(s));
                                None
                            }
                            _ => None,
                        });
                    });
                }
                group_of.resize(rows, None);
            }
        }
        let mut tokens = Tokens::default();
        let mut buf = String::new();
        let mut terms: Vec<u32> = Vec::new();
        for (row, group) in group_of.into_iter().enumerate() {
            let text = match comments.get(row) {
                Text::Null => continue,
                Text::Str(s) => s,
                Text::Bad(b) => {
                    out.diag.record(&self.request.comment, "that are not valid UTF-8 text", || {
                        text::show_bytes(b)
                    });
                    continue;
                }
            };
            let Some(group) = group else { continue };
            tokens.fill(text);
            terms.clear();
            for_each_term(&tokens, &self.stop, &mut buf, |w| terms.push(out.term(w)));
            for &t in &terms {
                *out.counts.entry((group, t)).or_insert(0) += 1;
            }
        }
        out
    }
}

/// One reported term of a group.
#[derive(Clone, Debug, PartialEq)]
pub struct TermScore {
    pub term: String,
    pub count_in_group: u64,
    pub count_in_rest: u64,
    pub log_odds: f64,
    pub z: f64,
}

/// The weighted log-odds of one term in group i against the rest j (see the module docs).
pub fn log_odds(y_i: f64, n_i: f64, y_j: f64, n_j: f64, a_w: f64, a_0: f64) -> Option<(f64, f64)> {
    let l_i = ((y_i + a_w) / (n_i + a_0 - y_i - a_w)).ln();
    let l_j = ((y_j + a_w) / (n_j + a_0 - y_j - a_w)).ln();
    let delta = l_i - l_j;
    let z = delta / (1.0 / (y_i + a_w) + 1.0 / (y_j + a_w)).sqrt();
    (delta.is_finite() && z.is_finite()).then_some((delta, z))
}

/// Scan `batches` and rank each group's terms; one tidy record batch:
/// `group, term, count_in_group, count_in_rest, log_odds, z, rank`.
pub fn distinctive_terms(
    request: &TermsRequest,
    schema: SchemaRef,
    batches: impl Iterator<Item = std::result::Result<RecordBatch, ArrowError>> + Send,
    cancel: Cancel,
) -> Result<RecordBatch> {
    let plan = Plan::new(request, &schema)?;
    let counts = with_threads(request.threads, || {
        let mut acc = Counts::new();
        for_each_window(batches, cancel, |window| {
            let outs: Vec<Counts> = if parallel() {
                window.par_iter().map(|b| plan.count_chunk(b)).collect()
            } else {
                window.iter().map(|b| plan.count_chunk(b)).collect()
            };
            outs.into_iter().for_each(|c| acc.absorb(c));
        })?;
        Ok(acc)
    })?;
    if let Some(err) = counts.diag.to_error() {
        return Err(match err {
            // distinctive_terms has no on_invalid: drop the advice to pass it.
            Error::Input { message, column, count, example } => Error::Input {
                message: message.replace(
                    ". Fix the data, or pass on_invalid=\"drop\" to drop these rows and count them in 'invalid'.",
                    ". Fix the data, or filter these rows out first.",
                ),
                column,
                count,
                example,
            },
            other => other,
        });
    }
    let ranked = rank(&counts, request);
    let group_type = match &plan.grouping {
        Grouping::Column(key) => key.out_type.clone(),
        Grouping::Split { .. } => DataType::Utf8,
    };
    build_output(ranked, &group_type)
}

/// Every group's top terms, groups in key order.
fn rank(c: &Counts, request: &TermsRequest) -> Vec<(KeyValue, Vec<TermScore>)> {
    let (ng, nt) = (c.groups.len(), c.terms.len());
    let mut per_group: Vec<Vec<(u32, u64)>> = vec![Vec::new(); ng];
    let mut term_total = vec![0u64; nt];
    let mut group_total = vec![0u64; ng];
    for (&(g, t), &k) in &c.counts {
        per_group[g as usize].push((t, k));
        term_total[t as usize] += k;
        group_total[g as usize] += k;
    }
    let n: u64 = group_total.iter().sum();
    let a0 = request.prior;
    let mut order: Vec<usize> = (0..ng).collect();
    order.sort_by(|&a, &b| c.groups[a].cmp(&c.groups[b]));
    order
        .into_iter()
        .filter_map(|g| {
            let (n_i, n_j) = (group_total[g], n - group_total[g]);
            if n_i == 0 || n_j == 0 {
                return None;
            }
            let mut scores: Vec<TermScore> = per_group[g]
                .iter()
                .filter(|&&(t, _)| term_total[t as usize] >= request.min_count)
                .filter_map(|&(t, y_i)| {
                    let y = term_total[t as usize];
                    let a_w = a0 * y as f64 / n as f64;
                    let (delta, z) = log_odds(y_i as f64, n_i as f64, (y - y_i) as f64, n_j as f64, a_w, a0)?;
                    Some(TermScore {
                        term: c.terms[t as usize].to_string(),
                        count_in_group: y_i,
                        count_in_rest: y - y_i,
                        log_odds: delta,
                        z,
                    })
                })
                .collect();
            scores.sort_by(|a, b| b.z.total_cmp(&a.z).then_with(|| a.term.cmp(&b.term)));
            scores.truncate(request.top_k);
            (!scores.is_empty()).then(|| (c.groups[g].clone(), scores))
        })
        .collect()
}

fn build_output(ranked: Vec<(KeyValue, Vec<TermScore>)>, group_type: &DataType) -> Result<RecordBatch> {
    let rows: usize = ranked.iter().map(|(_, s)| s.len()).sum();
    let groups =
        keys::build_column(group_type, ranked.iter().flat_map(|(g, s)| std::iter::repeat_n(g, s.len())));
    let mut term = StringBuilder::with_capacity(rows, rows * 12);
    let (mut in_group, mut in_rest, mut rank) = (
        Int64Builder::with_capacity(rows),
        Int64Builder::with_capacity(rows),
        Int64Builder::with_capacity(rows),
    );
    let (mut lo, mut z) = (Float64Builder::with_capacity(rows), Float64Builder::with_capacity(rows));
    for (_, scores) in &ranked {
        for (r, s) in scores.iter().enumerate() {
            term.append_value(&s.term);
            in_group.append_value(s.count_in_group as i64);
            in_rest.append_value(s.count_in_rest as i64);
            lo.append_value(s.log_odds);
            z.append_value(s.z);
            rank.append_value(r as i64 + 1);
        }
    }
    let fields = vec![
        Field::new("group", group_type.clone(), true),
        Field::new("term", DataType::Utf8, false),
        Field::new("count_in_group", DataType::Int64, false),
        Field::new("count_in_rest", DataType::Int64, false),
        Field::new("log_odds", DataType::Float64, false),
        Field::new("z", DataType::Float64, false),
        Field::new("rank", DataType::Int64, false),
    ];
    let columns: Vec<ArrayRef> = vec![
        groups,
        Arc::new(term.finish()),
        Arc::new(in_group.finish()),
        Arc::new(in_rest.finish()),
        Arc::new(lo.finish()),
        Arc::new(z.finish()),
        Arc::new(rank.finish()),
    ];
    debug_assert!(columns.iter().all(|c| c.len() == rows));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .map_err(|e| Error::Internal(format!("assembling distinctive terms: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, Int64Type};
    use arrow_array::{Int64Array, StringArray};

    fn never() -> bool {
        false
    }

    fn table(groups: Vec<Option<&str>>, comments: Vec<Option<&str>>, scores: Vec<i64>) -> RecordBatch {
        let schema = Schema::new(vec![
            Field::new("rep_id", DataType::Utf8, true),
            Field::new("comment", DataType::Utf8, true),
            Field::new("score", DataType::Int64, true),
        ]);
        RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(StringArray::from(groups)),
                Arc::new(StringArray::from(comments)),
                Arc::new(Int64Array::from(scores)),
            ],
        )
        .unwrap()
    }

    fn req(group: &str) -> TermsRequest {
        TermsRequest::from_json(&format!("{{\"group\": \"{group}\", \"min_count\": 1, \"threads\": 1}}"))
            .unwrap()
    }

    fn run(r: &TermsRequest, b: RecordBatch) -> Result<RecordBatch> {
        distinctive_terms(r, b.schema(), std::iter::once(Ok(b)), &never)
    }

    #[test]
    fn formula_by_hand() {
        // y_i = 3, n_i = 10, y_j = 1, n_j = 20, a_0 = 500, y = 4, n = 30.
        let a_w = 500.0 * 4.0 / 30.0;
        let (d, z) = log_odds(3.0, 10.0, 1.0, 20.0, a_w, 500.0).unwrap();
        let want =
            ((3.0 + a_w) / (10.0 + 500.0 - 3.0 - a_w)).ln() - ((1.0 + a_w) / (20.0 + 500.0 - 1.0 - a_w)).ln();
        assert!((d - want).abs() < 1e-12);
        assert!((z - want / (1.0 / (3.0 + a_w) + 1.0 / (1.0 + a_w)).sqrt()).abs() < 1e-12);
    }

    #[test]
    fn groups_and_splits() {
        let b = table(
            vec![Some("a"), Some("a"), Some("b"), None, Some("b")],
            vec![Some("late delivery again"), Some("Late truck"), Some("great rep"), Some("great rep"), None],
            vec![2, 3, 10, 9, 0],
        );
        let out = run(&req("rep_id"), b.clone()).unwrap();
        let groups: Vec<Option<&str>> = out.column(0).as_string::<i32>().iter().collect();
        let terms: Vec<&str> = out.column(1).as_string::<i32>().iter().map(Option::unwrap).collect();
        assert_eq!(groups[0], Some("a"));
        assert_eq!(terms[0], "late");
        assert_eq!(*groups.last().unwrap(), None, "null is its own group, last");
        let ranks: Vec<i64> = out.column(6).as_primitive::<Int64Type>().values().to_vec();
        assert_eq!(ranks[0], 1);
        let z = out.column(5).as_primitive::<Float64Type>().values();
        assert!(z[0] > 0.0);

        let split = run(&req("detractors"), b.clone()).unwrap();
        let g: Vec<&str> = split.column(0).as_string::<i32>().iter().map(Option::unwrap).collect();
        assert!(g.contains(&"detractors") && g.contains(&"others"));

        let mut bad = req("detractors");
        bad.top_k = 0;
        assert!(run(&bad, b.clone()).is_err());
        let err = run(&req("nope"), b).unwrap_err().to_string();
        assert!(err.contains("(group=)"), "{err}");
    }

    #[test]
    fn bad_scores_and_one_group() {
        let b = table(vec![Some("a"); 2], vec![Some("late"), Some("late truck")], vec![11, 3]);
        let err = run(&req("detractors"), b.clone()).unwrap_err();
        assert!(matches!(err, Error::Input { count: Some(1), .. }), "{err}");
        assert!(!err.to_string().contains("on_invalid"));
        // One group has no rest to stand apart from: no rows.
        assert_eq!(run(&req("rep_id"), b).unwrap().num_rows(), 0);
    }
}
