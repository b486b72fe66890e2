//! Customer lifetime value: the BG/NBD purchase model (Fader, Hardie & Lee
//! 2005), the Gamma-Gamma spend model (Fader & Hardie 2013 note), their
//! predictions and CLV, and the RFM summary they are fitted on. Independent
//! of the Python layer.
//!
//! Both models are fitted by maximum likelihood over log-parameters with
//! [`optimize::minimize`] (BFGS, then Newton on a numerical Hessian). The
//! objective is the weighted mean negative log-likelihood plus
//! `penalizer_coef · Σ param²`, as in the lifetimes package, so fits and
//! penalised fits agree with it. Standard errors come from the inverse of
//! that objective's Hessian in log-parameters divided by the total weight,
//! mapped to natural parameters by the delta method (σᵢ = θᵢ·√(H⁻¹ᵢᵢ / W)),
//! again as lifetimes computes them.

pub mod bgnbd;
pub mod gamma_gamma;
pub mod optimize;
pub mod rfm;
pub mod special;

use rayon::prelude::*;

use crate::error::Error;
use crate::ingest::show_f64;

/// Result of a model fit.
#[derive(Clone, Debug)]
pub struct Fit {
    /// Natural parameters, in the model's order (BG/NBD: r, α, a, b;
    /// Gamma-Gamma: p, q, γ).
    pub params: Vec<f64>,
    pub std_errors: Vec<f64>,
    /// Total weighted log-likelihood (without the penalty) in the data's units.
    pub log_likelihood: f64,
    pub iterations: usize,
    /// Distinct rows the likelihood was summed over (after compression).
    pub rows: usize,
}

/// Rows per parallel task: fixed, so partial sums and their (in-order)
/// reduction are the same for any number of threads.
pub(crate) const CHUNK: usize = 8192;

/// Sum per-row contributions `f(i, acc)` over `0..n` in fixed chunks, in parallel,
/// reducing the chunk sums in order (deterministic).
pub(crate) fn chunked_sum<const K: usize>(n: usize, f: impl Fn(usize, &mut [f64; K]) + Sync) -> [f64; K] {
    let starts: Vec<usize> = (0..n).step_by(CHUNK).collect();
    let parts: Vec<[f64; K]> = starts
        .par_iter()
        .map(|&s| {
            let mut acc = [0.0; K];
            for i in s..(s + CHUNK).min(n) {
                f(i, &mut acc);
            }
            acc
        })
        .collect();
    let mut total = [0.0; K];
    for p in parts {
        for k in 0..K {
            total[k] += p[k];
        }
    }
    total
}

/// Map an optimiser failure to a fit error with what to try.
pub(crate) fn fit_failure(model: &str, failure: optimize::Failure) -> Error {
    use optimize::Failure::*;
    let what = match failure {
        NonFiniteStart => "the log-likelihood is not finite at the starting point".to_string(),
        LineSearch { gradient_norm } => {
            format!("the optimiser stalled (gradient {gradient_norm:.1e}) before reaching an optimum")
        }
        IterationLimit { gradient_norm } => format!(
            "the optimiser did not converge (gradient {gradient_norm:.1e} at the iteration limit); a \
             parameter is probably drifting to 0 or infinity"
        ),
        NotPositiveDefinite => "the Hessian at the optimum is not positive definite, so some parameter \
                                is not identified by the data"
            .to_string(),
    };
    Error::Fit(format!(
        "{model} fit failed: {what}. Try penalizer_coef= (e.g. 0.001 to 0.1), more customers or a longer \
         observation period, or check that the data have repeat purchases"
    ))
}

/// Validation helper: count rows failing `bad`, with the first example, as a
/// column error.
pub(crate) fn check_rows(
    column: &str,
    values: &[f64],
    bad: impl Fn(usize, f64) -> bool + Sync,
    problem: &str,
) -> crate::Result<()> {
    let count = values.par_iter().enumerate().filter(|(i, v)| bad(*i, **v)).count();
    if count == 0 {
        return Ok(());
    }
    let first = values.iter().enumerate().position(|(i, v)| bad(i, *v)).expect("counted");
    let example = show_f64(values[first]);
    Err(Error::Input {
        message: format!("{column}: {count} rows {problem} (first at position {first}, value {example})"),
        column: Some(column.to_string()),
        count: Some(count as u64),
        example: Some(example),
    })
}

/// All inputs of one model have the same length.
pub(crate) fn check_lengths(columns: &[(&str, usize)]) -> crate::Result<usize> {
    let n = columns[0].1;
    for (name, len) in columns {
        if *len != n {
            return Err(Error::param(format!(
                "{name} has {len} values but {} has {n}: pass one value per customer",
                columns[0].0
            )));
        }
    }
    Ok(n)
}

/// Standard errors of natural parameters θ = exp(log θ) from the Hessian of
/// the mean objective in log-parameters (delta method).
pub(crate) fn standard_errors(
    model: &str,
    natural: &[f64],
    hessian: &[Vec<f64>],
    total_weight: f64,
) -> crate::Result<Vec<f64>> {
    let inv = optimize::inverse_pd(hessian)
        .ok_or_else(|| fit_failure(model, optimize::Failure::NotPositiveDefinite))?;
    Ok(natural.iter().enumerate().map(|(i, p)| p * (inv[i][i] / total_weight).sqrt()).collect())
}
