//! BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way"):
//! while alive a customer buys at Poisson rate λ ~ Gamma(r, α) and after each
//! purchase drops out with probability p ~ Beta(a, b). Data per customer:
//! x repeat purchases, the last at age t_x, observed to age T.
//!
//! Log-likelihood per customer (their eq. 6, in the stable form lifetimes uses):
//! `ln Γ(r+x) − ln Γ(r) + r ln α + ln B(a, b+x) − ln B(a, b)
//!  + ln( (α+T)^−(r+x) + [x>0] a/(b+x−1) (α+t_x)^−(r+x) )`.

use rayon::prelude::*;

use super::optimize::{minimize, Options};
use super::special::{digamma, hyp2f1_euler_factor, ln_gamma};
use super::{check_lengths, check_rows, chunked_sum, fit_failure, standard_errors, Fit};
use crate::error::{Error, Result};

/// Distinct rows from which a subsample fit provides the starting point.
const SUBSAMPLE_FROM: usize = 200_000;

/// Fitted BG/NBD parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Params {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
}

impl Params {
    pub fn from_slice(p: &[f64]) -> Result<Self> {
        match p {
            [r, alpha, a, b] if p.iter().all(|v| v.is_finite() && *v > 0.0) => {
                Ok(Params { r: *r, alpha: *alpha, a: *a, b: *b })
            }
            _ => Err(Error::param(format!(
                "BG/NBD parameters must be four positive numbers (r, alpha, a, b), got {p:?}"
            ))),
        }
    }
}

/// Check (x, t_x, T) and optional weights: x a non-negative integer,
/// 0 ≤ t_x ≤ T, t_x = 0 when x = 0, all finite.
pub fn validate(x: &[f64], tx: &[f64], t: &[f64], weights: Option<&[f64]>) -> Result<usize> {
    let mut lens = vec![("frequency", x.len()), ("recency", tx.len()), ("T", t.len())];
    if let Some(w) = weights {
        lens.push(("weights", w.len()));
    }
    let n = check_lengths(&lens)?;
    check_rows(
        "frequency",
        x,
        |_, v| !(v.is_finite() && v >= 0.0 && v.fract() == 0.0),
        "are not non-negative whole numbers (repeat purchases)",
    )?;
    check_rows("T", t, |_, v| !(v.is_finite() && v >= 0.0), "are negative or not finite")?;
    check_rows("recency", tx, |_, v| !(v.is_finite() && v >= 0.0), "are negative or not finite")?;
    check_rows(
        "recency",
        tx,
        |i, v| v > t[i],
        "exceed T (the last purchase is after the end of observation)",
    )?;
    check_rows(
        "recency",
        tx,
        |i, v| x[i] == 0.0 && v != 0.0,
        "are non-zero for customers with frequency 0 (recency is the age at the last repeat purchase)",
    )?;
    if let Some(w) = weights {
        check_rows("weights", w, |_, v| !(v.is_finite() && v >= 0.0), "are negative or not finite")?;
    }
    Ok(n)
}

/// Customers compressed to distinct (x, t_x, T) with summed weights, in time
/// scaled so the largest T is 1 (as lifetimes does; only α's scale changes).
struct Data {
    /// Index into `xs` per row.
    x_idx: Vec<u32>,
    xs: Vec<f64>,
    tx: Vec<f64>,
    t: Vec<f64>,
    w: Vec<f64>,
    total_weight: f64,
    /// Σ w·x, to move the log-likelihood back to the data's time unit.
    weighted_x: f64,
    scale: f64,
}

impl Data {
    fn new(x: &[f64], tx: &[f64], t: &[f64], weights: Option<&[f64]>) -> Result<Data> {
        let n = validate(x, tx, t, weights)?;
        let weight = |i: usize| weights.map_or(1.0, |w| w[i]);
        // Sort contiguous keys (non-negative finite f64s order as their bits),
        // not indices into three arrays: far fewer cache misses.
        let mut keys: Vec<(u64, u64, u64, u32)> = (0..n)
            .filter(|&i| weight(i) > 0.0)
            .map(|i| (x[i].to_bits(), tx[i].to_bits(), t[i].to_bits(), i as u32))
            .collect();
        if keys.is_empty() {
            return Err(Error::param(
                "no customers to fit the BG/NBD model on (empty input or all weights 0)",
            ));
        }
        keys.par_sort_unstable();
        let order: Vec<u32> = keys.into_iter().map(|k| k.3).collect();
        let max_t = order.iter().map(|&i| t[i as usize]).fold(0.0f64, f64::max);
        if max_t <= 0.0 {
            return Err(Error::column(
                "T",
                "every customer has T = 0 (first purchase at the end of observation): nothing to fit on",
            ));
        }
        let scale = 1.0 / max_t;
        let mut d = Data {
            x_idx: Vec::new(),
            xs: Vec::new(),
            tx: Vec::new(),
            t: Vec::new(),
            w: Vec::new(),
            total_weight: 0.0,
            weighted_x: 0.0,
            scale,
        };
        let mut prev: Option<usize> = None;
        for &i in &order {
            let i = i as usize;
            let w = weight(i);
            d.total_weight += w;
            d.weighted_x += w * x[i];
            if let Some(p) = prev {
                if x[p] == x[i] && tx[p] == tx[i] && t[p] == t[i] {
                    *d.w.last_mut().expect("row pushed") += w;
                    continue;
                }
            }
            if d.xs.last() != Some(&x[i]) {
                d.xs.push(x[i]);
            }
            d.x_idx.push((d.xs.len() - 1) as u32);
            d.tx.push(tx[i] * scale);
            d.t.push(t[i] * scale);
            d.w.push(w);
            prev = Some(i);
        }
        Ok(d)
    }

    /// Every `step`-th row (a deterministic subsample with the same scale).
    fn subsample(&self, step: usize) -> Data {
        let step = step.max(1);
        let keep: Vec<usize> = (0..self.w.len()).step_by(step).collect();
        let mut d = Data {
            x_idx: keep.iter().map(|&i| self.x_idx[i]).collect(),
            xs: self.xs.clone(),
            tx: keep.iter().map(|&i| self.tx[i]).collect(),
            t: keep.iter().map(|&i| self.t[i]).collect(),
            w: keep.iter().map(|&i| self.w[i]).collect(),
            total_weight: 0.0,
            weighted_x: 0.0,
            scale: self.scale,
        };
        d.total_weight = d.w.iter().sum();
        d
    }

    /// Penalised mean negative log-likelihood and its gradient in log-parameters.
    fn objective(&self, theta: &[f64], grad: &mut [f64], penalizer: f64) -> f64 {
        let p: Vec<f64> = theta.iter().map(|v| v.exp()).collect();
        let (r, alpha, a, b) = (p[0], p[1], p[2], p[3]);
        if p.iter().any(|v| !(v.is_finite() && *v > 0.0)) {
            return f64::NAN;
        }
        // Terms that depend on x only, once per distinct x.
        let (lg_r, lg_b, lg_ab) = (ln_gamma(r), ln_gamma(b), ln_gamma(a + b));
        let (dg_r, dg_b, dg_ab) = (digamma(r), digamma(b), digamma(a + b));
        let per_x: Vec<[f64; 6]> = self
            .xs
            .iter()
            .map(|&x| {
                let c = ln_gamma(r + x) - lg_r + lg_ab + ln_gamma(b + x) - lg_b - ln_gamma(a + b + x);
                let dr = digamma(r + x) - dg_r;
                let dab = digamma(a + b + x);
                let da = dg_ab - dab;
                let db = dg_ab + digamma(b + x) - dg_b - dab;
                let (la4, db4) =
                    if x > 0.0 { (a.ln() - (b + x - 1.0).ln(), -1.0 / (b + x - 1.0)) } else { (0.0, 0.0) };
                [c, dr, da, db, la4, db4]
            })
            .collect();
        let ln_alpha = alpha.ln();
        let sums = chunked_sum::<5>(self.w.len(), |i, acc| {
            let k = self.x_idx[i] as usize;
            let x = self.xs[k];
            let [c, dr1, da2, db2, la4, db4] = per_x[k];
            let w = self.w[i];
            let rx = r + x;
            let at = alpha + self.t[i];
            let l_t = at.ln();
            let a3 = -rx * l_t;
            let (ll_tail, w3, w4, l_tx, atx) = if x > 0.0 {
                let atx = alpha + self.tx[i];
                let l_tx = atx.ln();
                let a4 = la4 - rx * l_tx;
                // ln(e^a3 + e^a4) with one exp: m + ln(1 + e^−|a3−a4|).
                let e = (-(a3 - a4).abs()).exp();
                let share = 1.0 / (1.0 + e);
                let (w3, w4) = if a3 >= a4 { (share, e * share) } else { (e * share, share) };
                (a3.max(a4) + e.ln_1p(), w3, w4, l_tx, atx)
            } else {
                (a3, 1.0, 0.0, 0.0, 1.0)
            };
            acc[0] += w * (c + r * ln_alpha + ll_tail);
            acc[1] += w * (dr1 + ln_alpha - w3 * l_t - w4 * l_tx);
            acc[2] += w * (r / alpha - w3 * rx / at - w4 * rx / atx);
            acc[3] += w * (da2 + w4 / a);
            acc[4] += w * (db2 + w4 * db4);
        });
        let tw = self.total_weight;
        for j in 0..4 {
            grad[j] = p[j] * (-sums[j + 1] / tw + 2.0 * penalizer * p[j]);
        }
        -sums[0] / tw + penalizer * p.iter().map(|v| v * v).sum::<f64>()
    }
}

/// Fit BG/NBD by maximum likelihood. `weights` counts identical customers
/// (rows are also compressed internally, so repeated rows cost nothing).
pub fn fit(x: &[f64], tx: &[f64], t: &[f64], weights: Option<&[f64]>, penalizer_coef: f64) -> Result<Fit> {
    if !(penalizer_coef.is_finite() && penalizer_coef >= 0.0) {
        return Err(Error::column(
            "penalizer_coef",
            format!("penalizer_coef must be >= 0, got {penalizer_coef}"),
        ));
    }
    let data = Data::new(x, tx, t, weights)?;
    if data.weighted_x == 0.0 {
        return Err(Error::Fit(
            "BG/NBD fit failed: no customer made a repeat purchase (every frequency is 0), so purchase \
             rates and drop-out cannot be estimated; use a longer observation period or more customers"
                .to_string(),
        ));
    }
    let objective = |theta: &[f64], grad: &mut [f64]| data.objective(theta, grad, penalizer_coef);
    // Large inputs: fit a fixed 1-in-k subsample first (cheap) and start Newton
    // from its optimum, which is within sampling error of the full one; this
    // cuts the full-data evaluations about threefold. Falls back to a cold start.
    let warm = (data.w.len() >= SUBSAMPLE_FROM)
        .then(|| {
            let sub = data.subsample(data.w.len() / (SUBSAMPLE_FROM / 8));
            let f = |theta: &[f64], grad: &mut [f64]| sub.objective(theta, grad, penalizer_coef);
            minimize(&f, &[0.0; 4], &Options::default()).ok()
        })
        .flatten();
    let min = match warm {
        Some(start) => {
            let options = Options { warm_start: true, ..Options::default() };
            minimize(&objective, &start.x, &options)
                .or_else(|_| minimize(&objective, &[0.0; 4], &Options::default()))
        }
        None => minimize(&objective, &[0.0; 4], &Options::default()),
    }
    .map_err(|f| fit_failure("BG/NBD", f))?;
    let mut params: Vec<f64> = min.x.iter().map(|v| v.exp()).collect();
    params[1] /= data.scale;
    let std_errors = standard_errors("BG/NBD", &params, &min.hessian, data.total_weight)?;
    // Unpenalised log-likelihood, from scaled time back to the data's unit:
    // each customer's density picks up scale^x.
    let mut g = [0.0; 4];
    let mean_nll = data.objective(&min.x, &mut g, 0.0);
    let log_likelihood = -mean_nll * data.total_weight + data.weighted_x * data.scale.ln();
    if !params.iter().chain(&std_errors).all(|v| v.is_finite()) || !log_likelihood.is_finite() {
        return Err(fit_failure("BG/NBD", super::optimize::Failure::NotPositiveDefinite));
    }
    Ok(Fit { params, std_errors, log_likelihood, iterations: min.iterations, rows: data.w.len() })
}

/// `a/(b+x−1) · ((α+T)/(α+t_x))^(r+x)`: the odds that a customer with x > 0 is dead.
fn death_odds(p: &Params, x: f64, tx: f64, t: f64) -> f64 {
    p.a / (p.b + x - 1.0) * ((p.r + x) * ((p.alpha + t) / (p.alpha + tx)).ln()).exp()
}

/// P(alive | x, t_x, T) = 1 / (1 + death odds), 1 for customers without repeat purchases.
pub fn p_alive_one(p: &Params, x: f64, tx: f64, t: f64) -> f64 {
    if x == 0.0 {
        1.0
    } else {
        1.0 / (1.0 + death_odds(p, x, tx, t))
    }
}

/// E[X(T, T+h) | x, t_x, T]: expected purchases in the next `h` time units
/// (FHL 2005 eq. 10). With z = h/(α+T+h) and the Euler transform
/// ((α+T)/(α+T+h))^(r+x) 2F1(r+x, b+x; a+b+x−1; z) = (1−z)^(a−1) 2F1(a+b−1−r, a−1; a+b+x−1; z),
/// whose parameters stay small however large x is.
pub fn expected_one(p: &Params, h: f64, x: f64, tx: f64, t: f64) -> Option<f64> {
    if h == 0.0 {
        return Some(0.0);
    }
    let z = h / (p.alpha + t + h);
    let c = p.a + p.b + x - 1.0;
    let f = hyp2f1_euler_factor(p.r + x, p.b + x, c, z)?;
    let ln_pow = (p.a - 1.0) * (-z).ln_1p();
    // 1 − (1−z)^(a−1)·F, without cancellation for short horizons where F > 0
    // (F can be negative when a + b + x − 1 < 0).
    let second = if f > 0.0 { -(ln_pow + f.ln()).exp_m1() } else { 1.0 - ln_pow.exp() * f };
    let first = c / (p.a - 1.0);
    let denom = if x > 0.0 { 1.0 + death_odds(p, x, tx, t) } else { 1.0 };
    let e = first * second / denom;
    e.is_finite().then_some(e)
}

fn not_finite(what: &str, i: usize, p: &Params) -> Error {
    Error::Fit(format!(
        "{what} is not finite for customer at position {i} with parameters {p:?}; the fitted \
         parameters are extreme (a close to 1?): try penalizer_coef="
    ))
}

/// P(alive) per customer.
pub fn p_alive(p: &Params, x: &[f64], tx: &[f64], t: &[f64]) -> Result<Vec<f64>> {
    validate(x, tx, t, None)?;
    Ok((0..x.len()).into_par_iter().map(|i| p_alive_one(p, x[i], tx[i], t[i])).collect())
}

/// Expected purchases in the next `h` time units per customer.
pub fn expected_purchases(p: &Params, h: f64, x: &[f64], tx: &[f64], t: &[f64]) -> Result<Vec<f64>> {
    if !(h.is_finite() && h >= 0.0) {
        return Err(Error::column("t", format!("the prediction horizon must be >= 0, got {h}")));
    }
    validate(x, tx, t, None)?;
    (0..x.len())
        .into_par_iter()
        .map(|i| expected_one(p, h, x[i], tx[i], t[i]).ok_or_else(|| not_finite("expected purchases", i, p)))
        .collect()
}

/// Discounted CLV per customer, as lifetimes computes it: for month
/// i = 1..=months, the expected purchases between months i−1 and i (time unit
/// = `periods_per_month` per month) times the customer's expected value per
/// purchase, discounted by (1 + discount_rate)^i.
#[allow(clippy::too_many_arguments)] // the customers' four columns plus three settings
pub fn clv(
    p: &Params,
    x: &[f64],
    tx: &[f64],
    t: &[f64],
    value: &[f64],
    months: u32,
    discount_rate: f64,
    periods_per_month: f64,
) -> Result<Vec<f64>> {
    validate(x, tx, t, None)?;
    check_lengths(&[("frequency", x.len()), ("expected value", value.len())])?;
    if !(discount_rate.is_finite() && discount_rate > -1.0) {
        return Err(Error::column(
            "discount_rate",
            format!("discount_rate must be > -1, got {discount_rate}"),
        ));
    }
    (0..x.len())
        .into_par_iter()
        .map(|i| {
            let mut total = 0.0;
            let mut before = 0.0;
            for month in 1..=months {
                let e = expected_one(p, month as f64 * periods_per_month, x[i], tx[i], t[i])
                    .ok_or_else(|| not_finite("expected purchases", i, p))?;
                total += value[i] * (e - before) / (1.0 + discount_rate).powi(month as i32);
                before = e;
            }
            Ok(total)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Finite-difference check of the analytic gradient.
    #[test]
    fn gradient_matches_finite_differences() {
        let x = [0.0, 1.0, 2.0, 5.0, 1.0, 0.0];
        let tx = [0.0, 10.0, 20.5, 30.0, 3.0, 0.0];
        let t = [38.0, 38.0, 30.0, 39.0, 12.0, 0.0];
        let w = [1.0, 2.0, 1.0, 3.0, 1.0, 1.0];
        let data = Data::new(&x, &tx, &t, Some(&w)).unwrap();
        let theta = [-1.2, 0.3, -0.2, 0.8];
        let mut g = [0.0; 4];
        data.objective(&theta, &mut g, 0.05);
        for j in 0..4 {
            let h = 1e-6;
            let (mut tp, mut tm) = (theta, theta);
            tp[j] += h;
            tm[j] -= h;
            let mut dummy = [0.0; 4];
            let num =
                (data.objective(&tp, &mut dummy, 0.05) - data.objective(&tm, &mut dummy, 0.05)) / (2.0 * h);
            assert!((num - g[j]).abs() < 1e-7, "component {j}: {num} vs {}", g[j]);
        }
    }

    #[test]
    fn compression_is_equivalent_to_weights() {
        let x = [1.0, 1.0, 0.0, 3.0, 1.0];
        let tx = [2.0, 2.0, 0.0, 7.0, 2.0];
        let t = [9.0, 9.0, 9.0, 8.0, 9.0];
        let d = Data::new(&x, &tx, &t, None).unwrap();
        assert_eq!(d.w, vec![1.0, 3.0, 1.0]);
        assert_eq!(d.xs, vec![0.0, 1.0, 3.0]);
    }

    #[test]
    fn p_alive_and_expected_closed_forms() {
        let p = Params { r: 0.243, alpha: 4.414, a: 0.793, b: 2.426 };
        assert_eq!(p_alive_one(&p, 0.0, 0.0, 38.86), 1.0);
        // x = 2, t_x = 30.43, T = 38.86 by hand.
        let odds = p.a / (p.b + 1.0) * ((p.alpha + 38.86) / (p.alpha + 30.43)).powf(p.r + 2.0);
        assert!((p_alive_one(&p, 2.0, 30.43, 38.86) - 1.0 / (1.0 + odds)).abs() < 1e-15);
        assert_eq!(expected_one(&p, 0.0, 2.0, 30.43, 38.86), Some(0.0));
        // E grows with the horizon and stays below the no-churn bound (r+x)/(α+T)·h.
        let e10 = expected_one(&p, 10.0, 2.0, 30.43, 38.86).unwrap();
        let e20 = expected_one(&p, 20.0, 2.0, 30.43, 38.86).unwrap();
        assert!(0.0 < e10 && e10 < e20 && e20 < (p.r + 2.0) / (p.alpha + 38.86) * 20.0);
    }

    /// The CDNOW calibration sample (2,357 customers, 39 weeks): FHL 2005 report
    /// r = 0.243, α = 4.414, a = 0.793, b = 2.426 and LL = −9582.4.
    #[test]
    fn reproduces_cdnow_estimates() {
        let text = include_str!("../../tests/data/cdnow_customers_summary.csv");
        let (mut x, mut tx, mut t) = (vec![], vec![], vec![]);
        for line in text.lines().skip(1) {
            let f: Vec<f64> = line.split(',').map(|v| v.parse().unwrap()).collect();
            x.push(f[1]);
            tx.push(f[2]);
            t.push(f[3]);
        }
        let fit = fit(&x, &tx, &t, None, 0.0).unwrap();
        let published = [0.243, 4.414, 0.793, 2.426];
        for (got, want) in fit.params.iter().zip(published) {
            // Equal at the published precision (3 decimals).
            assert!((got - want).abs() <= 0.0005, "{:?}", fit.params);
        }
        assert!((fit.log_likelihood - -9582.4).abs() < 0.05, "{}", fit.log_likelihood);
        // Same answer with the rows pre-compressed into weights.
        let w = vec![1.0; x.len()];
        let again = super::fit(&x, &tx, &t, Some(&w), 0.0).unwrap();
        assert_eq!(fit.params, again.params);
    }

    /// Fixed chunks reduced in order: the same bits for any number of threads.
    #[test]
    fn deterministic_across_thread_counts() {
        let n = 50_000;
        let x: Vec<f64> = (0..n).map(|i| ((i * 7919) % 13) as f64).collect();
        let t: Vec<f64> = (0..n).map(|i| 5.0 + (i % 997) as f64 * 0.031).collect();
        let tx: Vec<f64> =
            (0..n).map(|i| if x[i] > 0.0 { t[i] * ((i * 31) % 100) as f64 / 100.0 } else { 0.0 }).collect();
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| fit(&x, &tx, &t, None, 0.01).unwrap())
        };
        let (one, four) = (run(1), run(4));
        assert!(one.rows > 2 * crate::clv::CHUNK);
        assert_eq!(one.params, four.params);
        assert_eq!(one.std_errors, four.std_errors);
        assert_eq!(one.log_likelihood.to_bits(), four.log_likelihood.to_bits());
    }

    #[test]
    fn rejects_bad_rows() {
        let err = fit(&[1.5], &[1.0], &[2.0], None, 0.0).unwrap_err();
        assert!(matches!(err, Error::Input { column: Some(ref c), .. } if c == "frequency"));
        let err = fit(&[1.0], &[3.0], &[2.0], None, 0.0).unwrap_err();
        assert!(matches!(err, Error::Input { column: Some(ref c), .. } if c == "recency"));
        let err = fit(&[0.0, 0.0], &[0.0, 0.0], &[2.0, 3.0], None, 0.0).unwrap_err();
        assert!(matches!(err, Error::Fit(_)));
    }
}
