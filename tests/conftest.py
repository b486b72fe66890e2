"""Shared fixtures and the plain pandas/numpy references the tests compare against."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, settings
from scipy import stats as sps

import kpiforge as kf

settings.register_profile(
    "ci", deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("ci")

Z95 = 1.959963984540054


@pytest.fixture(scope="session")
def demo() -> kf.demo.DemoData:
    return kf.demo.generate(n_orders=20_000, seed=11)


# ---- references: plain pandas/numpy, written from KPIS.md -------------------


def wilson(s: int, n: int, z: float = Z95) -> tuple[float, float]:
    p = s / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half) * 100, min(1.0, centre + half) * 100


def nps_interval(p: int, d: int, n: int, z: float = Z95) -> tuple[float, float]:
    n2 = n + 3
    pp, dd = (p + 0.75) / n2, (d + 0.75) / n2
    half = z * math.sqrt((pp + dd - (pp - dd) ** 2) / n2)
    return max(-100.0, (pp - dd - half) * 100), min(100.0, (pp - dd + half) * 100)


def ref_nps(scores: pd.Series) -> dict:
    s = scores.dropna()
    n = len(s)
    p, d = int((s >= 9).sum()), int((s <= 6).sum())
    out = {
        "n": n,
        "missing": int(scores.isna().sum()),
        "promoters": p,
        "detractors": d,
        "passives": n - p - d,
    }
    if n:
        out["nps"] = 100 * (p - d) / n
        out["nps_ci_low"], out["nps_ci_high"] = nps_interval(p, d, n)
    return out


def ref_mean_top(
    scores: pd.Series, top_min: int, conf: float = 0.95, lo: int = 1, hi: int = 5
) -> dict:
    s = scores.dropna().astype(float)
    n = len(s)
    out: dict = {"n": n, "missing": int(scores.isna().sum())}
    if n:
        m = s.mean()
        out["mean"] = m
        if n > 1:
            half = sps.t.ppf(1 - (1 - conf) / 2, n - 1) * s.std(ddof=1) / math.sqrt(n)
            # clipped to the scale: a mean of scores cannot leave it
            out["mean_ci_low"], out["mean_ci_high"] = max(m - half, lo), min(m + half, hi)
        top = int((s >= top_min).sum())
        out["top_pct"] = 100 * top / n
        out["top_ci_low"], out["top_ci_high"] = wilson(top, n, sps.norm.ppf(1 - (1 - conf) / 2))
    return out


def quarter_label(ts: pd.Timestamp, fiscal_start: int = 1) -> str:
    if fiscal_start == 1:
        return f"{ts.year}-Q{(ts.month - 1) // 3 + 1}"
    shifted = (ts.month - fiscal_start) % 12
    fy = ts.year + (1 if ts.month >= fiscal_start else 0)
    return f"FY{fy}-Q{shifted // 3 + 1}"


def close(a: float, b: float, tol: float = 1e-9) -> bool:
    if a is None or (isinstance(a, float) and np.isnan(a)):
        return b is None or (isinstance(b, float) and np.isnan(b))
    return abs(a - b) <= tol * max(1.0, abs(b))
