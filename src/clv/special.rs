//! Special functions the CLV models need: digamma and the Gauss
//! hypergeometric function 2F1 on `0 <= z < 1` (`ln Γ` lives in [`crate::stats`]).

pub(crate) use crate::stats::ln_gamma;

/// ψ(x) = d/dx ln Γ(x) for `x > 0`: the recurrence ψ(x) = ψ(x + 1) − 1/x up
/// to x ≥ 10, then the asymptotic series (error below 1e-15 there).
pub fn digamma(mut x: f64) -> f64 {
    let mut shift = 0.0;
    while x < 10.0 {
        shift -= 1.0 / x;
        x += 1.0;
    }
    let f = 1.0 / (x * x);
    let tail = f
        * (1.0 / 12.0
            - f * (1.0 / 120.0
                - f * (1.0 / 252.0 - f * (1.0 / 240.0 - f * (1.0 / 132.0 - f * (691.0 / 32_760.0))))));
    shift + x.ln() - 0.5 / x - tail
}

/// Most series terms summed before giving up (reached only for `z` within
/// about 1e-4 of 1 with unfavourable parameters).
const MAX_TERMS: usize = 1_000_000;

/// The plain series Σ (a)ₙ(b)ₙ / ((c)ₙ n!) zⁿ for `0 <= z < 1`, summed until
/// a term no longer changes the sum. `None` when it does not converge within
/// [`MAX_TERMS`], hits a pole (c a non-positive integer) or overflows.
fn series(a: f64, b: f64, c: f64, z: f64) -> Option<f64> {
    let mut term = 1.0f64;
    let mut sum = 1.0f64;
    for n in 0..MAX_TERMS {
        let nf = n as f64;
        let den = (c + nf) * (nf + 1.0);
        if den == 0.0 {
            return None;
        }
        term *= (a + nf) * (b + nf) / den * z;
        if term == 0.0 {
            return Some(sum); // a or b a non-positive integer: a polynomial
        }
        sum += term;
        if !sum.is_finite() {
            return None;
        }
        // Past the largest term the ratio tends to z < 1: stop when negligible.
        if term.abs() <= 1e-17 * sum.abs() && nf + 1.0 > (a.abs() + b.abs()) * z {
            return Some(sum);
        }
    }
    None
}

/// 2F1(a, b; c; z) for `0 <= z < 1`. Sums whichever of the series and its
/// Euler transform (1−z)^(c−a−b) 2F1(c−a, c−b; c; z) has the smaller
/// parameters, the one with the fewer and tamer terms. `None` where neither
/// converges to a finite value.
pub fn hyp2f1(a: f64, b: f64, c: f64, z: f64) -> Option<f64> {
    if !(0.0..1.0).contains(&z) {
        return None;
    }
    if z == 0.0 {
        return Some(1.0);
    }
    let direct = (a * b).abs();
    let euler = ((c - a) * (c - b)).abs();
    if euler < direct {
        let s = series(c - a, c - b, c, z)?;
        let v = s * ((c - a - b) * (-z).ln_1p()).exp();
        v.is_finite().then_some(v)
    } else {
        series(a, b, c, z)
    }
}

/// The Euler-transformed series alone: 2F1(a, b; c; z) / (1−z)^(c−a−b).
/// BG/NBD's expected purchases need exactly this factor (its parameters stay
/// small however many purchases a customer made, so it converges fast).
pub fn hyp2f1_euler_factor(a: f64, b: f64, c: f64, z: f64) -> Option<f64> {
    if !(0.0..1.0).contains(&z) {
        return None;
    }
    series(c - a, c - b, c, z)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs().max(1e-300)
    }

    #[test]
    fn digamma_matches_reference_values() {
        // scipy.special.digamma
        let cases = [
            (1.0, -0.5772156649015329),
            (0.5, -1.9635100260214235),
            (0.001, -1000.5755719318103),
            (2.5, 0.7031566406452432),
            (7.3, 1.917820335637986),
            (123.4, 4.8113737751162775),
        ];
        for (x, want) in cases {
            assert!(close(digamma(x), want, 1e-13), "digamma({x}) = {} vs {want}", digamma(x));
        }
    }

    #[test]
    fn digamma_is_the_derivative_of_ln_gamma() {
        for x in [0.05, 0.3, 1.7, 9.9, 10.1, 55.0] {
            let h = 1e-5 * x;
            let numeric = (ln_gamma(x + h) - ln_gamma(x - h)) / (2.0 * h);
            assert!(close(digamma(x), numeric, 1e-7), "x = {x}");
        }
    }

    #[test]
    fn hyp2f1_matches_scipy() {
        // scipy.special.hyp2f1(a, b, c, z)
        let cases = [
            (0.5, 1.5, 2.5, 0.3, 1.1080625510569324),
            (0.243, 2.426, 2.219, 0.5, 1.2070970070440417),
            (3.243, 5.426, 5.219, 0.9, 2568.134952755923),
            (10.243, 12.426, 12.219, 0.6, 14097.063734220736),
            (1.0, 1.0, 2.0, 0.75, 1.8483924814931862),
            (-2.0, 3.0, 4.0, 0.4, 0.49599999999999994),
            (0.793, -0.207, 4.0, 0.99, 0.9508719144631118),
            (50.0, 52.0, 52.0, 0.2, 70064.92321624066),
        ];
        for (a, b, c, z, want) in cases {
            let got = hyp2f1(a, b, c, z).unwrap();
            assert!(close(got, want, 1e-12), "2F1({a}, {b}; {c}; {z}) = {got} vs {want}");
        }
        assert_eq!(hyp2f1(1.0, 2.0, 3.0, 0.0), Some(1.0));
        assert_eq!(hyp2f1(1.0, 2.0, 3.0, 1.0), None);
    }

    #[test]
    fn euler_factor_is_consistent() {
        let (a, b, c, z) = (3.243f64, 5.426f64, 5.219f64, 0.9f64);
        let f = hyp2f1_euler_factor(a, b, c, z).unwrap();
        let whole = hyp2f1(a, b, c, z).unwrap();
        assert!(close(f * (1.0 - z).powf(c - a - b), whole, 1e-12));
    }
}
