"""Survey KPIs per rep per quarter: kpiforge against polars and pandas, same data, same run.

    python benchmarks/survey.py --responses 10_000_000

Computes NPS (with promoters/detractors and the adjusted-Wald interval), CSAT and
CES (mean with t interval, top-2-box share with Wilson interval) per rep_id and
quarter. kpiforge does it in one ``kf.compute`` call; polars and pandas as an
analyst fluent in each would write it (one group-by with conditional
aggregations), with the same interval formulas applied to the aggregates. Checks
that all engines agree, then prints the best time of ``--repeat`` runs of each
and its ratio to kpiforge. Speed is never asserted; this script only reports.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
from scipy import stats

import kpiforge as kf

Z = stats.norm.ppf(0.975)


def finalize(agg: pd.DataFrame) -> pd.DataFrame:
    """Point values and intervals from the per-group aggregates (shared by the peers)."""
    out = agg.copy()
    n = out["nps_n"].astype(float)
    p, d = out["promoters"] / n, out["detractors"] / n
    out["nps"] = 100 * (p - d)
    n2 = n + 3
    pp, dd = (out["promoters"] + 0.75) / n2, (out["detractors"] + 0.75) / n2
    half = Z * np.sqrt((pp + dd - (pp - dd) ** 2) / n2)
    out["nps_ci_low"] = np.clip(100 * (pp - dd - half), -100, 100)
    out["nps_ci_high"] = np.clip(100 * (pp - dd + half), -100, 100)
    for k, top in (("csat", "csat_satisfied_pct"), ("ces", "ces_easy_pct")):
        m = out[f"{k}_n"].astype(float)
        t = stats.t.ppf(0.975, np.maximum(m - 1, 1))
        se = out[f"{k}_sd"] / np.sqrt(m)
        out[f"{k}_mean_ci_low"] = out[f"{k}_mean"] - t * se
        out[f"{k}_mean_ci_high"] = out[f"{k}_mean"] + t * se
        share = out[f"{k}_top"] / m
        denom = 1 + Z**2 / m
        centre = (share + Z**2 / (2 * m)) / denom
        w = Z / denom * np.sqrt(share * (1 - share) / m + Z**2 / (4 * m**2))
        out[top] = 100 * share
        out[f"{top}_ci_low"] = 100 * np.clip(centre - w, 0, 1)
        out[f"{top}_ci_high"] = 100 * np.clip(centre + w, 0, 1)
    return out


def run_kpiforge(table: pa.Table) -> pd.DataFrame:
    return kf.compute(table, ["nps", "csat", "ces"], by="rep_id", period="quarter")


def run_polars(df: pl.DataFrame) -> pd.DataFrame:
    t, s = pl.col("survey_type"), pl.col("score")
    valid = s.is_not_null()
    aggs = [
        (valid & (t == "nps")).sum().alias("nps_n"),
        ((t == "nps") & (s >= 9)).sum().alias("promoters"),
        ((t == "nps") & (s <= 6)).sum().alias("detractors"),
    ]
    for k in ("csat", "ces"):
        sel = s.filter(t == k)
        aggs += [
            sel.count().alias(f"{k}_n"),
            sel.mean().alias(f"{k}_mean"),
            sel.std().alias(f"{k}_sd"),
            (sel >= 4).sum().alias(f"{k}_top"),
        ]
    agg = (
        df.lazy()
        .with_columns(pl.col("responded_at").dt.truncate("1q").alias("period_start"))
        .group_by("rep_id", "period_start")
        .agg(aggs)
        .sort("rep_id", "period_start")
        .collect()
    )
    return finalize(agg.to_pandas())


def run_pandas(df: pd.DataFrame) -> pd.DataFrame:
    df = df.assign(period_start=df["responded_at"].dt.to_period("Q").dt.start_time)
    keys = ["rep_id", "period_start"]
    nps = df[df["survey_type"] == "nps"]
    parts = [
        nps.assign(promoters=nps["score"] >= 9, detractors=nps["score"] <= 6)
        .groupby(keys)
        .agg(
            nps_n=("score", "count"),
            promoters=("promoters", "sum"),
            detractors=("detractors", "sum"),
        )
    ]
    for k in ("csat", "ces"):
        sub = df[df["survey_type"] == k]
        parts.append(
            sub.assign(top=sub["score"] >= 4)
            .groupby(keys)
            .agg(
                **{
                    f"{k}_n": ("score", "count"),
                    f"{k}_mean": ("score", "mean"),
                    f"{k}_sd": ("score", "std"),
                    f"{k}_top": ("top", "sum"),
                }
            )
        )
    agg = pd.concat(parts, axis=1).reset_index().sort_values(keys)
    return finalize(agg)


def best_of(repeat: int, fn: Callable[[], pd.DataFrame]) -> tuple[float, pd.DataFrame]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    assert out is not None
    return min(times), out


def check_agree(name: str, ours: pd.DataFrame, theirs: pd.DataFrame) -> None:
    theirs = theirs.assign(
        period_start=pd.to_datetime(theirs["period_start"]).astype(ours["period_start"].dtype)
    )
    merged = ours.merge(theirs, on=["rep_id", "period_start"], suffixes=("", "_peer"))
    assert len(merged) == len(ours), f"{name}: {len(merged)} groups match of {len(ours)}"
    for col in (
        "nps",
        "nps_ci_low",
        "csat_mean",
        "csat_mean_ci_high",
        "ces_mean",
        "ces_easy_pct",
        "csat_satisfied_pct_ci_low",
    ):
        a, b = merged[col].to_numpy(float), merged[f"{col}_peer"].to_numpy(float)
        ok = np.isclose(a, b, rtol=1e-9, atol=1e-9, equal_nan=True)
        assert ok.all(), f"{name} disagrees on {col}: {a[~ok][:3]} vs {b[~ok][:3]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--responses", type=lambda s: int(s.replace("_", "")), default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    t0 = time.perf_counter()
    data = kf.demo.generate(
        n_orders=max(args.responses // 10, 1000),
        seed=args.seed,
        n_responses=args.responses,
        tables=["responses"],
    )
    table = data.responses.combine_chunks()
    gen = time.perf_counter() - t0
    pl_df = pl.from_arrow(table)
    pd_df = table.to_pandas()
    print(
        f"{table.num_rows:,} survey responses (generated in {gen:.2f} s); "
        f"NPS + CSAT + CES per rep_id per quarter; best of {args.repeat}"
    )

    t_kf, ours = best_of(args.repeat, lambda: run_kpiforge(table))
    t_pl, theirs_pl = best_of(args.repeat, lambda: run_polars(pl_df))
    t_pd, theirs_pd = best_of(args.repeat, lambda: run_pandas(pd_df))
    check_agree("polars", ours, theirs_pl)
    check_agree("pandas", ours, theirs_pd)

    print(f"{'engine':<10}{'seconds':>10}{'x kpiforge':>12}")
    for name, t in (("kpiforge", t_kf), ("polars", t_pl), ("pandas", t_pd)):
        print(f"{name:<10}{t:>10.3f}{t / t_kf:>12.2f}")
    print(
        f"kpiforge is {t_pl / t_kf:.2f}x polars and {t_pd / t_kf:.2f}x pandas "
        f"({len(ours):,} groups; all engines agree)"
    )


if __name__ == "__main__":
    main()
