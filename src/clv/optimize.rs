//! A small, careful minimiser for smooth objectives of a few parameters:
//! BFGS with a backtracking (Armijo) line search, then Newton steps on a
//! numerical Hessian (central differences of the analytic gradient) to polish
//! the optimum to near machine precision. The Hessian at the end doubles as
//! the curvature check (positive definite, or the fit is rejected) and gives
//! the standard errors.

// Small dense matrices: index loops read like the formulas.
#![allow(clippy::needless_range_loop)]

/// An objective: value at `x`, gradient written into `grad`. Returns a
/// non-finite value where the objective is undefined (the line search backs off).
pub trait Objective {
    fn eval(&self, x: &[f64], grad: &mut [f64]) -> f64;
}

impl<F: Fn(&[f64], &mut [f64]) -> f64> Objective for F {
    fn eval(&self, x: &[f64], grad: &mut [f64]) -> f64 {
        self(x, grad)
    }
}

/// Where the minimiser stopped.
#[derive(Clone, Debug)]
pub struct Minimum {
    pub x: Vec<f64>,
    pub value: f64,
    pub gradient: Vec<f64>,
    /// Hessian of the objective at `x` (numerical, symmetrised).
    pub hessian: Vec<Vec<f64>>,
    /// BFGS plus Newton iterations.
    pub iterations: usize,
}

/// Why the minimiser gave up.
#[derive(Clone, Debug, PartialEq)]
pub enum Failure {
    /// The objective or its gradient is not finite at the start.
    NonFiniteStart,
    /// The line search found no decrease from a non-stationary point.
    LineSearch { gradient_norm: f64 },
    /// The iteration limit was reached before the gradient vanished.
    IterationLimit { gradient_norm: f64 },
    /// The Hessian at the optimum is not positive definite (a saddle or a
    /// flat direction: some parameter is not identified by the data).
    NotPositiveDefinite,
}

pub struct Options {
    pub max_iterations: usize,
    /// Converged when the largest gradient component is below this.
    pub gradient_tolerance: f64,
    /// The start is already near the optimum (e.g. the fit on a subsample):
    /// go straight to Newton steps, BFGS only if they do not converge.
    pub warm_start: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options { max_iterations: 1000, gradient_tolerance: 1e-8, warm_start: false }
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn max_abs(a: &[f64]) -> f64 {
    a.iter().fold(0.0f64, |m, v| m.max(v.abs()))
}

/// Largest step (in the parameters' own units, here log-parameters) per
/// iteration: keeps a bad quasi-Newton direction from jumping to exp(±700).
const MAX_STEP: f64 = 3.0;

pub fn minimize(f: &impl Objective, x0: &[f64], options: &Options) -> Result<Minimum, Failure> {
    let mut g0 = vec![0.0; x0.len()];
    let f0 = f.eval(x0, &mut g0);
    if !f0.is_finite() || g0.iter().any(|v| !v.is_finite()) {
        return Err(Failure::NonFiniteStart);
    }
    // BFGS to a moderate tolerance, then Newton steps with one numerical
    // Hessian (chord method: each step costs one evaluation, the Hessian 2n);
    // near the optimum they converge much faster than more BFGS iterations.
    let coarse = options.gradient_tolerance.max(1e-6);
    let (mut x, mut fx, mut g, mut iterations) = if options.warm_start {
        (x0.to_vec(), f0, g0, 0)
    } else {
        bfgs(f, x0.to_vec(), coarse, options.max_iterations)?
    };
    let mut hess = numerical_hessian(f, &x);
    let n = x.len();
    for _ in 0..12 {
        if max_abs(&g) < 1e-3 * options.gradient_tolerance {
            break;
        }
        let Some(step) = cholesky_solve(&hess, &g) else { break };
        let x_try: Vec<f64> = (0..n).map(|i| x[i] - step[i]).collect();
        let mut g_try = vec![0.0; n];
        let f_try = f.eval(&x_try, &mut g_try);
        if !(f_try.is_finite() && f_try <= fx + 1e-12 * fx.abs().max(1.0) && max_abs(&g_try) < max_abs(&g)) {
            break;
        }
        iterations += 1;
        x = x_try;
        g = g_try;
        fx = f_try;
    }
    if max_abs(&g) > options.gradient_tolerance {
        // Newton did not get there (a poorly conditioned optimum): finish with BFGS.
        let (x2, f2, g2, it2) = bfgs(f, x, options.gradient_tolerance, options.max_iterations)?;
        (x, fx, g, iterations) = (x2, f2, g2, iterations + it2);
        hess = numerical_hessian(f, &x);
        if max_abs(&g) > options.gradient_tolerance {
            return Err(Failure::LineSearch { gradient_norm: max_abs(&g) });
        }
    }
    if cholesky(&hess).is_none() {
        return Err(Failure::NotPositiveDefinite);
    }
    Ok(Minimum { x, value: fx, gradient: g, hessian: hess, iterations })
}

type BfgsEnd = (Vec<f64>, f64, Vec<f64>, usize);

/// BFGS with a backtracking Armijo line search until the largest gradient
/// component is below `tolerance`.
fn bfgs(
    f: &impl Objective,
    mut x: Vec<f64>,
    tolerance: f64,
    max_iterations: usize,
) -> Result<BfgsEnd, Failure> {
    let n = x.len();
    let mut g = vec![0.0; n];
    let mut fx = f.eval(&x, &mut g);
    // Inverse Hessian approximation.
    let mut h = identity(n);
    let mut iterations = 0;
    let mut fresh = true;
    let (mut x_new, mut g_new, mut d) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    while max_abs(&g) > tolerance {
        if iterations >= max_iterations {
            return Err(Failure::IterationLimit { gradient_norm: max_abs(&g) });
        }
        iterations += 1;
        for i in 0..n {
            d[i] = -dot(&h[i], &g);
        }
        let mut slope = dot(&g, &d);
        if slope >= 0.0 || !slope.is_finite() {
            // Not a descent direction: restart from steepest descent.
            h = identity(n);
            d.iter_mut().zip(&g).for_each(|(d, g)| *d = -g);
            slope = dot(&g, &d);
            fresh = true;
        }
        let longest = max_abs(&d);
        let mut step = if longest > MAX_STEP { MAX_STEP / longest } else { 1.0 };
        let mut accepted = None;
        for _ in 0..60 {
            for i in 0..n {
                x_new[i] = x[i] + step * d[i];
            }
            let f_new = f.eval(&x_new, &mut g_new);
            if f_new.is_finite() && g_new.iter().all(|v| v.is_finite()) && f_new <= fx + 1e-4 * step * slope {
                accepted = Some(f_new);
                break;
            }
            // Quadratic interpolation of the backtrack, kept within [0.1, 0.5].
            step = if f_new.is_finite() {
                let q = -slope * step * step / (2.0 * (f_new - fx - slope * step));
                q.clamp(0.1 * step, 0.5 * step)
            } else {
                0.1 * step
            };
        }
        let Some(f_new) = accepted else {
            if fresh {
                if max_abs(&g) < 1e-3 {
                    // Near the optimum the decrease drowns in the rounding of a
                    // sum over many rows; Newton steps (judged by the gradient) finish.
                    break;
                }
                return Err(Failure::LineSearch { gradient_norm: max_abs(&g) });
            }
            // The BFGS model went stale: retry from steepest descent.
            h = identity(n);
            fresh = true;
            continue;
        };
        let s: Vec<f64> = (0..n).map(|i| x_new[i] - x[i]).collect();
        let y: Vec<f64> = (0..n).map(|i| g_new[i] - g[i]).collect();
        let sy = dot(&s, &y);
        if sy > 1e-12 * dot(&s, &s).sqrt() * dot(&y, &y).sqrt() {
            if fresh {
                // Scale the first approximation to the observed curvature.
                let scale = sy / dot(&y, &y);
                h = identity(n);
                h.iter_mut().enumerate().for_each(|(i, row)| row[i] = scale);
            }
            bfgs_update(&mut h, &s, &y, sy);
            fresh = false;
        }
        let stalled = (fx - f_new).abs() <= 1e-16 * fx.abs().max(1.0) && max_abs(&s) < 1e-12;
        x.copy_from_slice(&x_new);
        g.copy_from_slice(&g_new);
        fx = f_new;
        if stalled {
            break; // no more progress to make; the caller checks the gradient
        }
    }
    Ok((x, fx, g, iterations))
}

fn identity(n: usize) -> Vec<Vec<f64>> {
    (0..n).map(|i| (0..n).map(|j| if i == j { 1.0 } else { 0.0 }).collect()).collect()
}

/// H ← (I − ρ s yᵀ) H (I − ρ y sᵀ) + ρ s sᵀ with ρ = 1 / (yᵀ s).
fn bfgs_update(h: &mut [Vec<f64>], s: &[f64], y: &[f64], sy: f64) {
    let n = s.len();
    let rho = 1.0 / sy;
    let hy: Vec<f64> = (0..n).map(|i| dot(&h[i], y)).collect();
    let yhy = dot(y, &hy);
    for i in 0..n {
        for j in 0..n {
            h[i][j] += -rho * (hy[i] * s[j] + s[i] * hy[j]) + (rho * rho * yhy + rho) * s[i] * s[j];
        }
    }
}

/// Central differences of the analytic gradient, symmetrised.
pub fn numerical_hessian(f: &impl Objective, x: &[f64]) -> Vec<Vec<f64>> {
    let n = x.len();
    let mut hess = vec![vec![0.0; n]; n];
    let (mut gp, mut gm) = (vec![0.0; n], vec![0.0; n]);
    let mut xp = x.to_vec();
    for j in 0..n {
        let h = 1e-5 * x[j].abs().max(1.0);
        xp[j] = x[j] + h;
        f.eval(&xp, &mut gp);
        xp[j] = x[j] - h;
        f.eval(&xp, &mut gm);
        xp[j] = x[j];
        for i in 0..n {
            hess[i][j] = (gp[i] - gm[i]) / (2.0 * h);
        }
    }
    for i in 0..n {
        for j in 0..i {
            let m = 0.5 * (hess[i][j] + hess[j][i]);
            hess[i][j] = m;
            hess[j][i] = m;
        }
    }
    hess
}

/// Lower Cholesky factor, `None` unless the matrix is (numerically) positive definite.
pub fn cholesky(a: &[Vec<f64>]) -> Option<Vec<Vec<f64>>> {
    let n = a.len();
    let mut l = vec![vec![0.0; n]; n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i][k] * l[j][k]).sum();
            if i == j {
                let d = a[i][i] - s;
                if !d.is_finite() || d <= 1e-14 * a[i][i].abs() {
                    return None;
                }
                l[i][j] = d.sqrt();
            } else {
                l[i][j] = (a[i][j] - s) / l[j][j];
            }
        }
    }
    Some(l)
}

/// Solve `a x = b` for a positive definite `a`.
pub fn cholesky_solve(a: &[Vec<f64>], b: &[f64]) -> Option<Vec<f64>> {
    let l = cholesky(a)?;
    let n = b.len();
    let mut y = vec![0.0; n];
    for i in 0..n {
        y[i] = (b[i] - (0..i).map(|k| l[i][k] * y[k]).sum::<f64>()) / l[i][i];
    }
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        x[i] = (y[i] - (i + 1..n).map(|k| l[k][i] * x[k]).sum::<f64>()) / l[i][i];
    }
    Some(x)
}

/// Inverse of a positive definite matrix.
pub fn inverse_pd(a: &[Vec<f64>]) -> Option<Vec<Vec<f64>>> {
    let n = a.len();
    let mut inv = vec![vec![0.0; n]; n];
    for j in 0..n {
        let e: Vec<f64> = (0..n).map(|i| if i == j { 1.0 } else { 0.0 }).collect();
        let col = cholesky_solve(a, &e)?;
        for i in 0..n {
            inv[i][j] = col[i];
        }
    }
    Some(inv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimises_rosenbrock() {
        let f = |x: &[f64], g: &mut [f64]| {
            let (a, b) = (x[0], x[1]);
            g[0] = -2.0 * (1.0 - a) - 400.0 * a * (b - a * a);
            g[1] = 200.0 * (b - a * a);
            (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2)
        };
        let m = minimize(&f, &[-1.2, 1.0], &Options::default()).unwrap();
        assert!((m.x[0] - 1.0).abs() < 1e-9 && (m.x[1] - 1.0).abs() < 1e-9, "{:?}", m.x);
        // Hessian at (1, 1): [[802, -400], [-400, 200]].
        assert!((m.hessian[0][0] - 802.0).abs() < 1e-4 && (m.hessian[0][1] + 400.0).abs() < 1e-4);
    }

    #[test]
    fn reports_a_saddle_or_unbounded_objective() {
        // Unbounded below along x: the line search keeps finding decrease until
        // the iteration limit.
        let f = |x: &[f64], g: &mut [f64]| {
            g[0] = -1.0;
            -x[0]
        };
        let opts = Options { max_iterations: 50, ..Options::default() };
        assert!(matches!(minimize(&f, &[0.0], &opts), Err(Failure::IterationLimit { .. })));
        // Flat direction: minimum in x, nothing in y.
        let flat = |x: &[f64], g: &mut [f64]| {
            g[0] = 2.0 * x[0];
            g[1] = 0.0;
            x[0] * x[0]
        };
        assert_eq!(minimize(&flat, &[1.0, 0.0], &opts).unwrap_err(), Failure::NotPositiveDefinite);
    }

    #[test]
    fn inverse_of_pd_matrix() {
        let a = vec![vec![4.0, 1.0], vec![1.0, 3.0]];
        let inv = inverse_pd(&a).unwrap();
        assert!((inv[0][0] - 3.0 / 11.0).abs() < 1e-15 && (inv[0][1] + 1.0 / 11.0).abs() < 1e-15);
        assert!(inverse_pd(&[vec![1.0, 2.0], vec![2.0, 1.0]]).is_none());
    }
}
