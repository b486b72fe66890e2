"""CLV model fits: kpiforge against lifetimes on the same simulated customers.

    python benchmarks/clv.py                       # 1,000,000 customers
    python benchmarks/clv.py --customers 20_000    # the quick run CI does

Simulates ``--customers`` customers from the BG/NBD process (seeded numpy:
purchase rate lambda ~ Gamma(r, alpha), drop-out probability p ~ Beta(a, b)
after each repeat purchase, ages T uniform over 1-39 weeks at day resolution,
times rounded to days as transaction data give them) and a Gamma-Gamma mean
spend per repeat customer, with the CDNOW parameters. Then times the BG/NBD fit
plus the Gamma-Gamma fit in kpiforge and in lifetimes (``BetaGeoFitter`` +
``GammaGammaFitter``, their defaults) on the same arrays, prints both times, the
ratio and the largest relative difference of the fitted parameters, and fails
(exit 1) if they differ in the third significant digit. Without lifetimes
installed only kpiforge runs (checked against the simulation's parameters).

``--continuous`` keeps recency and T as exact real numbers, so hardly any two
customers coincide (kpiforge merges identical (x, t_x, T) rows before fitting;
this shows the speed without that help).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import kpiforge as kf

BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}  # per week
GAMMA_GAMMA = {"p": 6.25, "q": 3.74, "gamma": 15.44}


def simulate(n: int, seed: int, continuous: bool) -> dict[str, np.ndarray]:
    """x, t_x, T (weeks) and mean repeat spend of ``n`` BG/NBD customers."""
    rng = np.random.default_rng(seed)
    t = rng.uniform(1.0, 39.0, n) if continuous else rng.integers(7, 274, n) / 7.0
    lam = rng.gamma(BGNBD["r"], 1.0 / BGNBD["alpha"], n)
    p = rng.beta(BGNBD["a"], BGNBD["b"], n)
    arrivals = rng.poisson(lam * t)  # repeat purchases if nobody dropped out
    lifetime = rng.geometric(p)  # drops out right after this repeat purchase
    x = np.minimum(arrivals, lifetime)
    # The x-th of `arrivals` uniform arrival times on [0, T].
    tx = np.zeros(n)
    has = x > 0
    tx[has] = t[has] * rng.beta(x[has], arrivals[has] - x[has] + 1)
    if not continuous:
        tx = np.minimum(np.round(tx * 7.0) / 7.0, t)
    nu = rng.gamma(GAMMA_GAMMA["q"], 1.0 / GAMMA_GAMMA["gamma"], n)
    spend = np.zeros(n)
    spend[has] = rng.gamma(GAMMA_GAMMA["p"] * x[has], 1.0 / (nu[has] * x[has]))
    return {"x": x.astype(np.float64), "tx": tx, "T": t, "m": spend}


def fit_kpiforge(d: dict[str, np.ndarray]) -> np.ndarray:
    bg = kf.fit_bgnbd(d["x"], d["tx"], d["T"])
    rep = d["x"] > 0
    gg = kf.fit_gamma_gamma(d["x"][rep], d["m"][rep])
    return np.concatenate([bg.params.to_numpy(), gg.params.to_numpy()])


def fit_lifetimes(d: dict[str, np.ndarray]) -> np.ndarray:
    import lifetimes

    bg = lifetimes.BetaGeoFitter().fit(d["x"], d["tx"], d["T"])
    rep = d["x"] > 0
    gg = lifetimes.GammaGammaFitter().fit(d["x"][rep], d["m"][rep])
    return np.concatenate([bg.params_.to_numpy(), gg.params_.to_numpy()])


def best_of(fn, data, repeat: int) -> tuple[float, np.ndarray]:  # noqa: ANN001
    best, params = float("inf"), np.array([])
    for _ in range(repeat):
        start = time.perf_counter()
        params = fn(data)
        best = min(best, time.perf_counter() - start)
    return best, params


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--customers", type=lambda s: int(s.replace("_", "")), default=1_000_000)
    ap.add_argument("--repeat", type=int, default=1, help="fits per library; the best is reported")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--continuous", action="store_true", help="no day rounding (no duplicates)")
    ap.add_argument("--skip-lifetimes", action="store_true")
    args = ap.parse_args()

    data = simulate(args.customers, args.seed, args.continuous)
    repeaters = int((data["x"] > 0).sum())
    print(
        f"{args.customers:,} customers ({repeaters:,} with repeat purchases), "
        f"{'continuous' if args.continuous else 'day-rounded'} times, best of {args.repeat}"
    )
    names = [*BGNBD, *GAMMA_GAMMA]
    t_kf, p_kf = best_of(fit_kpiforge, data, args.repeat)
    print(f"kpiforge  BG/NBD + Gamma-Gamma: {t_kf:8.2f} s")
    try:
        import lifetimes  # noqa: F401
    except ImportError:
        lifetimes_ok = False
    else:
        lifetimes_ok = not args.skip_lifetimes
    if not lifetimes_ok:
        truth = np.array([*BGNBD.values(), *GAMMA_GAMMA.values()])
        print("lifetimes not run; kpiforge vs simulated parameters:")
        for name, got, want in zip(names, p_kf, truth, strict=True):
            print(f"  {name:6s} {got:10.4f}  (simulated {want})")
        # Estimates are within sampling error of the truth only for large samples.
        return 0
    t_lt, p_lt = best_of(fit_lifetimes, data, args.repeat)
    print(f"lifetimes BG/NBD + Gamma-Gamma: {t_lt:8.2f} s")
    print(f"ratio (lifetimes / kpiforge): {t_lt / t_kf:8.1f}x")
    rel = np.abs(p_kf - p_lt) / np.abs(p_lt)
    for name, a, b, r in zip(names, p_kf, p_lt, rel, strict=True):
        print(f"  {name:6s} kpiforge {a:12.6f}  lifetimes {b:12.6f}  rel diff {r:.1e}")
    if rel.max() > 5e-4:
        print(f"FAIL: parameters differ by {rel.max():.1e} (more than the 3rd significant digit)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
