//! Gamma-Gamma spend model (Fader & Hardie, "The Gamma-Gamma model of monetary
//! value", 2013): a customer's transactions are Gamma(p, ν) with ν ~ Gamma(q, γ)
//! across customers. Fitted on customers with x ≥ 1 repeat purchases and their
//! mean repeat spend m̄ > 0. Log-likelihood per customer (note eq. 1a):
//! `ln Γ(px+q) − ln Γ(px) − ln Γ(q) + q ln γ + (px−1) ln m̄ + px ln x − (px+q) ln(x m̄ + γ)`.

use rayon::prelude::*;

use super::optimize::{minimize, Options};
use super::special::{digamma, ln_gamma};
use super::{check_lengths, check_rows, chunked_sum, fit_failure, standard_errors, Fit};
use crate::error::{Error, Result};

/// Fitted Gamma-Gamma parameters (γ is lifetimes' `v`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Params {
    pub p: f64,
    pub q: f64,
    pub gamma: f64,
}

impl Params {
    pub fn from_slice(v: &[f64]) -> Result<Self> {
        match v {
            [p, q, gamma] if v.iter().all(|v| v.is_finite() && *v > 0.0) && *q > 1.0 => {
                Ok(Params { p: *p, q: *q, gamma: *gamma })
            }
            _ => Err(Error::param(format!(
                "Gamma-Gamma parameters must be three positive numbers (p, q, gamma) with q > 1, got {v:?}"
            ))),
        }
    }
}

struct Data {
    x_idx: Vec<u32>,
    xs: Vec<f64>,
    /// x·m̄ and ln m̄ per row.
    xm: Vec<f64>,
    ln_m: Vec<f64>,
    w: Vec<f64>,
    total_weight: f64,
}

/// Check repeat customers' (x, m̄): x ≥ 1 whole, m̄ > 0, finite.
fn validate(x: &[f64], m: &[f64], weights: Option<&[f64]>) -> Result<usize> {
    let mut lens = vec![("frequency", x.len()), ("monetary_value", m.len())];
    if let Some(w) = weights {
        lens.push(("weights", w.len()));
    }
    let n = check_lengths(&lens)?;
    check_rows(
        "frequency",
        x,
        |_, v| !(v.is_finite() && v >= 1.0 && v.fract() == 0.0),
        "are not whole numbers >= 1 (fit the spend model on customers with repeat purchases only)",
    )?;
    check_rows("monetary_value", m, |_, v| !(v.is_finite() && v > 0.0), "are not positive finite spends")?;
    if let Some(w) = weights {
        check_rows("weights", w, |_, v| !(v.is_finite() && v >= 0.0), "are negative or not finite")?;
    }
    Ok(n)
}

impl Data {
    fn new(x: &[f64], m: &[f64], weights: Option<&[f64]>) -> Result<Data> {
        let n = validate(x, m, weights)?;
        let weight = |i: usize| weights.map_or(1.0, |w| w[i]);
        let mut order: Vec<u32> = (0..n as u32).filter(|&i| weight(i as usize) > 0.0).collect();
        if order.is_empty() {
            return Err(Error::Fit(
                "Gamma-Gamma fit failed: no customer with a repeat purchase (frequency >= 1) to fit the \
                 spend model on; it needs customers who bought at least twice (use a longer observation \
                 period or more customers)"
                    .to_string(),
            ));
        }
        // Grouped by x so x-only terms are computed once per distinct x.
        order.par_sort_by(|&i, &j| x[i as usize].total_cmp(&x[j as usize]));
        let mut d =
            Data { x_idx: vec![], xs: vec![], xm: vec![], ln_m: vec![], w: vec![], total_weight: 0.0 };
        for &i in &order {
            let i = i as usize;
            if d.xs.last() != Some(&x[i]) {
                d.xs.push(x[i]);
            }
            d.x_idx.push((d.xs.len() - 1) as u32);
            d.xm.push(x[i] * m[i]);
            d.ln_m.push(m[i].ln());
            d.w.push(weight(i));
            d.total_weight += weight(i);
        }
        Ok(d)
    }

    fn objective(&self, theta: &[f64], grad: &mut [f64], penalizer: f64) -> f64 {
        let par: Vec<f64> = theta.iter().map(|v| v.exp()).collect();
        if par.iter().any(|v| !(v.is_finite() && *v > 0.0)) {
            return f64::NAN;
        }
        let (p, q, v) = (par[0], par[1], par[2]);
        let (lg_q, dg_q, ln_v) = (ln_gamma(q), digamma(q), v.ln());
        let per_x: Vec<[f64; 4]> = self
            .xs
            .iter()
            .map(|&x| {
                let px = p * x;
                let c = ln_gamma(px + q) - ln_gamma(px) - lg_q + px * x.ln();
                let dpq = digamma(px + q);
                [c, x * (dpq - digamma(px) + x.ln()), dpq - dg_q, x.ln()]
            })
            .collect();
        let sums = chunked_sum::<4>(self.w.len(), |i, acc| {
            let k = self.x_idx[i] as usize;
            let x = self.xs[k];
            let [c, dp, dq, _] = per_x[k];
            let px = p * x;
            let w = self.w[i];
            let xmv = self.xm[i] + v;
            let l_xmv = xmv.ln();
            let lm = self.ln_m[i];
            acc[0] += w * (c + q * ln_v + (px - 1.0) * lm - (px + q) * l_xmv);
            acc[1] += w * (dp + x * lm - x * l_xmv);
            acc[2] += w * (dq + ln_v - l_xmv);
            acc[3] += w * (q / v - (px + q) / xmv);
        });
        let tw = self.total_weight;
        for j in 0..3 {
            grad[j] = par[j] * (-sums[j + 1] / tw + 2.0 * penalizer * par[j]);
        }
        -sums[0] / tw + penalizer * par.iter().map(|v| v * v).sum::<f64>()
    }
}

/// Fit Gamma-Gamma by maximum likelihood on repeat customers (x ≥ 1, m̄ > 0).
/// A fit with q ≤ 1 is rejected: the population mean spend γp/(q−1) would not exist.
pub fn fit(x: &[f64], m: &[f64], weights: Option<&[f64]>, penalizer_coef: f64) -> Result<Fit> {
    if !(penalizer_coef.is_finite() && penalizer_coef >= 0.0) {
        return Err(Error::column(
            "penalizer_coef",
            format!("penalizer_coef must be >= 0, got {penalizer_coef}"),
        ));
    }
    let data = Data::new(x, m, weights)?;
    let objective = |theta: &[f64], grad: &mut [f64]| data.objective(theta, grad, penalizer_coef);
    // Start at p = q = 1 (as lifetimes, nearly) and γ at the mean spend's scale.
    let mean_m =
        (0..data.w.len()).map(|i| data.w[i] * data.xm[i] / data.xs[data.x_idx[i] as usize]).sum::<f64>()
            / data.total_weight;
    let start = [0.0, 0.0, mean_m.ln()];
    let min = minimize(&objective, &start, &Options::default()).map_err(|f| fit_failure("Gamma-Gamma", f))?;
    let params: Vec<f64> = min.x.iter().map(|v| v.exp()).collect();
    if params[1] <= 1.0 {
        return Err(Error::Fit(format!(
            "Gamma-Gamma fit failed: q = {:.4} <= 1, so the mean spend per transaction is infinite (very \
             heavy-tailed spends, or too few repeat customers); try penalizer_coef=, remove outlier \
             amounts, or use more customers",
            params[1]
        )));
    }
    let std_errors = standard_errors("Gamma-Gamma", &params, &min.hessian, data.total_weight)?;
    let mut g = [0.0; 3];
    let log_likelihood = -data.objective(&min.x, &mut g, 0.0) * data.total_weight;
    Ok(Fit { params, std_errors, log_likelihood, iterations: min.iterations, rows: data.w.len() })
}

/// E[M | x, m̄] = (1 − w)·γp/(q−1) + w·m̄ with w = px/(px+q−1): the customer's
/// expected spend per transaction, shrunk toward the population mean
/// (the population mean itself for x = 0).
pub fn expected_average_value(par: &Params, x: &[f64], m: &[f64]) -> Result<Vec<f64>> {
    check_lengths(&[("frequency", x.len()), ("monetary_value", m.len())])?;
    check_rows("frequency", x, |_, v| !(v.is_finite() && v >= 0.0), "are negative or not finite")?;
    check_rows("monetary_value", m, |_, v| !(v.is_finite() && v >= 0.0), "are negative or not finite")?;
    let mean = par.gamma * par.p / (par.q - 1.0);
    Ok((0..x.len())
        .into_par_iter()
        .map(|i| {
            let w = par.p * x[i] / (par.p * x[i] + par.q - 1.0);
            (1.0 - w) * mean + w * m[i]
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradient_matches_finite_differences() {
        let x = [1.0, 2.0, 2.0, 7.0];
        let m = [10.0, 25.5, 13.0, 40.0];
        let data = Data::new(&x, &m, Some(&[1.0, 2.0, 1.0, 1.0])).unwrap();
        let theta = [1.2, 0.9, 2.1];
        let mut g = [0.0; 3];
        data.objective(&theta, &mut g, 0.01);
        for j in 0..3 {
            let h = 1e-6;
            let (mut tp, mut tm) = (theta, theta);
            tp[j] += h;
            tm[j] -= h;
            let mut d = [0.0; 3];
            let num = (data.objective(&tp, &mut d, 0.01) - data.objective(&tm, &mut d, 0.01)) / (2.0 * h);
            assert!((num - g[j]).abs() < 1e-7, "component {j}: {num} vs {}", g[j]);
        }
    }

    #[test]
    fn shrinks_toward_population_mean() {
        let par = Params { p: 6.25, q: 3.74, gamma: 15.44 };
        let v = expected_average_value(&par, &[0.0, 1.0], &[0.0, 100.0]).unwrap();
        let mean = 15.44 * 6.25 / 2.74;
        assert!((v[0] - mean).abs() < 1e-12);
        let w = 6.25 / (6.25 + 2.74);
        assert!((v[1] - ((1.0 - w) * mean + w * 100.0)).abs() < 1e-12);
    }

    /// CDNOW repeat customers (946): Fader & Hardie report p = 6.25, q = 3.74, γ = 15.44.
    #[test]
    fn reproduces_cdnow_estimates() {
        let text = include_str!("../../tests/data/cdnow_customers_summary_with_transactions.csv");
        let (mut x, mut m) = (vec![], vec![]);
        for line in text.lines().skip(1) {
            let f: Vec<f64> = line.split(',').map(|v| v.parse().unwrap()).collect();
            if f[1] > 0.0 {
                x.push(f[1]);
                m.push(f[4]);
            }
        }
        assert_eq!(x.len(), 946);
        let fit = fit(&x, &m, None, 0.0).unwrap();
        // Equal to 3 significant digits (lifetimes' own fit gives 6.2488, 3.7446, 15.4477).
        for (got, want) in fit.params.iter().zip([6.25f64, 3.74, 15.4]) {
            let digits = 10f64.powf(2.0 - want.log10().floor());
            assert_eq!((got * digits).round() / digits, want, "{:?}", fit.params);
        }
        assert!((fit.params[2] - 15.4477).abs() < 1e-3, "{:?}", fit.params);
    }

    #[test]
    fn no_repeat_customers_is_a_fit_error() {
        assert!(matches!(fit(&[], &[], None, 0.0), Err(Error::Fit(_))));
        assert!(matches!(fit(&[0.0], &[1.0], None, 0.0), Err(Error::Input { .. })));
    }
}
