"""churn_risk and health_score: pandas references on random data, rules, bad input."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import kpiforge as kf

AS_OF = dt.date(2025, 6, 30)  # a quarter end: last full quarter 2025-Q2, previous 2025-Q1
BASE = pd.Timestamp("2024-07-01")

ORDERS = st.lists(
    st.tuples(st.integers(0, 6), st.integers(0, 364), st.floats(1, 1000, allow_nan=False)),
    min_size=1,
    max_size=50,
)


def table(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [f"c{r[0]}" for r in rows],
            "ordered_at": [BASE + pd.Timedelta(days=r[1], hours=9) for r in rows],
            "amount": [r[2] for r in rows],
        }
    )


def gaps(days: pd.Series) -> list[float]:
    d = sorted(days.dt.normalize().unique())
    return [(b - a) / pd.Timedelta(days=1) for a, b in zip(d, d[1:], strict=False)]


def quarter_revenue(g: pd.DataFrame, label: str) -> float:
    q = g["ordered_at"].dt.to_period("Q").astype(str).str.replace("Q", "-Q")
    return float(g.loc[q == label, "amount"].sum())


def churn_reference(df: pd.DataFrame, k: float = 2.0) -> pd.DataFrame:
    as_of = pd.Timestamp(AS_OF)
    all_gaps = [x for _, g in df.groupby("customer_id") for x in gaps(g["ordered_at"])]
    segment_gap = float(np.median(all_gaps)) if all_gaps else math.nan
    rows = []
    for cust, g in df.groupby("customer_id"):
        own = gaps(g["ordered_at"])
        use_own = len(g) >= 3 and bool(own)
        usual = float(np.median(own)) if use_own else segment_gap
        since = float((as_of - g["ordered_at"].max().normalize()).days)
        last, prev = quarter_revenue(g, "2025-Q2"), quarter_revenue(g, "2025-Q1")
        change = 100 * (last - prev) / prev if prev > 0 else math.nan
        overdue = not math.isnan(usual) and since > k * usual
        drop = not math.isnan(change) and change < -30
        rows.append(
            (
                cust,
                len(g),
                since,
                usual,
                "own" if use_own else "segment",
                change,
                overdue,
                drop,
                overdue or drop,
            )
        )
    cols = [
        "customer_id",
        "orders",
        "days_since_last_order",
        "usual_gap_days",
        "gap_source",
        "revenue_change_pct",
        "overdue",
        "revenue_drop",
        "at_risk",
    ]
    return pd.DataFrame(rows, columns=cols)


@given(ORDERS)
def test_churn_risk_matches_pandas_reference(rows: list[tuple]) -> None:
    df = table(rows)
    got = kf.churn_risk(df, as_of=AS_OF)
    want = churn_reference(df)
    got = got[want.columns].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_dtype=False, rtol=1e-9)


@given(ORDERS, st.permutations(range(50)))
def test_churn_risk_ignores_row_order(rows: list[tuple], perm: list[int]) -> None:
    df = table(rows)
    order = [i for i in perm if i < len(df)]
    pd.testing.assert_frame_equal(
        kf.churn_risk(df, as_of=AS_OF), kf.churn_risk(df.iloc[order], as_of=AS_OF)
    )


def test_churn_reasons_and_segment_gap() -> None:
    # x orders weekly in segment s1 then stops; y orders twice (segment gap used).
    days = [0, 7, 14, 21, 28]
    df = pd.DataFrame(
        {
            "customer_id": ["x"] * 5 + ["y"] * 2,
            "seg": ["s1"] * 7,
            "ordered_at": [pd.Timestamp("2025-04-01") + pd.Timedelta(days=d) for d in days]
            + [pd.Timestamp("2025-04-01"), pd.Timestamp("2025-04-08")],
            "amount": 10.0,
        }
    )
    out = kf.churn_risk(df, by="seg", as_of=AS_OF).set_index("customer_id")
    assert out.loc["x", "usual_gap_days"] == 7 and out.loc["x", "gap_source"] == "own"
    assert out.loc["y", "gap_source"] == "segment" and out.loc["y", "usual_gap_days"] == 7
    assert (
        out.loc["x", "at_risk"]
        and "no order for 62 days (> 2 x usual gap of 7 days)" in (out.loc["x", "reasons"])
    )
    assert list(out["seg"]) == ["s1", "s1"]


def test_churn_revenue_drop_reason() -> None:
    df = pd.DataFrame(
        {
            "customer_id": ["a"] * 4,
            "ordered_at": pd.to_datetime(["2025-01-10", "2025-02-10", "2025-03-10", "2025-06-20"]),
            "amount": [100.0, 100.0, 100.0, 60.0],
        }
    )
    out = kf.churn_risk(df, as_of=AS_OF, k=10)
    assert out.loc[0, "revenue_change_pct"] == pytest.approx(-80.0)
    assert out.loc[0, "reasons"] == "revenue -80% in 2025-Q2 vs 2025-Q1"
    assert not out.loc[0, "overdue"]


def test_churn_bad_input() -> None:
    df = table([(0, 1, 5.0), (0, 40, 5.0)])
    with pytest.raises(kf.KpiInputError, match="k must be"):
        kf.churn_risk(df, k=0)
    with pytest.raises(kf.KpiInputError, match="ordred_at.*ordered_at|ordered_at"):
        kf.churn_risk(df, date="ordred_at")
    bad = df.assign(amount=[-5.0, 3.0])
    with pytest.raises(kf.KpiInputError, match="amount"):
        kf.churn_risk(bad)


def health_reference(df: pd.DataFrame, clip: float = 2.0) -> pd.Series:
    ref = churn_reference(df)
    as_of = pd.Timestamp(AS_OF)
    first = as_of - pd.Timedelta(days=364)
    raw = {
        "recency": ref.set_index("customer_id")["days_since_last_order"],
        "frequency": df[df["ordered_at"] >= first].groupby("customer_id").size(),
        "revenue_trend": ref.set_index("customer_id")["revenue_change_pct"],
    }
    weights = {"recency": 0.25, "frequency": 0.20, "revenue_trend": 0.15}
    direction = {"recency": -1, "frequency": 1, "revenue_trend": 1}
    customers = sorted(df["customer_id"].unique())
    points = pd.Series(0.0, index=customers)
    for name, w in weights.items():
        x = raw[name].reindex(customers)
        if name == "frequency":
            x = x.fillna(0)
        if name in ("recency", "frequency"):
            x = np.log1p(x)
        present = x.dropna()
        sd = present.std(ddof=0) if len(present) > 1 else 0.0
        # Equal up to rounding (the amounts summed in another order): no spread.
        if sd <= 1e-9 * max(1.0, present.abs().max()):
            sd = 0.0
        z = (direction[name] * (x - present.mean()) / sd).clip(-clip, clip).fillna(0) if sd else 0
        points += 50 * w * z / (clip * sum(weights.values()))
    return 50 + points


@given(ORDERS)
def test_health_score_matches_pandas_reference(rows: list[tuple]) -> None:
    df = table(rows)
    got = kf.health_score(df, as_of=AS_OF).set_index("customer_id")
    want = health_reference(df)
    np.testing.assert_allclose(got["score"].to_numpy(), want.to_numpy(), rtol=1e-9, atol=1e-9)
    points = got.filter(like="_points").sum(axis=1)
    np.testing.assert_allclose(points + 50, got["score"], atol=1e-9)
    assert got["score"].between(0, 100).all()


def test_health_score_on_demo_with_every_table() -> None:
    d = kf.demo.generate(n_orders=20_000, seed=3)
    out = kf.health_score(
        d.orders, responses=d.responses, tickets=d.tickets, by="partner_id", as_of="2026-09-30"
    )
    assert out["customer_id"].is_unique and out["score"].between(0, 100).all()
    expected = {"recency", "frequency", "revenue_trend", "nps", "csat", "open_issues"}
    assert {f"{n}_points" for n in expected} <= set(out.columns)
    np.testing.assert_allclose(out.filter(like="_points").sum(axis=1) + 50, out["score"])
    # Recency drives the score the right way: the most recent customers score higher.
    recent = out["recency"] <= out["recency"].quantile(0.25)
    stale = out["recency"] >= out["recency"].quantile(0.75)
    assert out.loc[recent, "score"].mean() > out.loc[stale, "score"].mean()


def test_health_score_weights() -> None:
    df = table([(0, 1, 5.0), (0, 200, 5.0), (1, 300, 9.0), (2, 10, 1.0)])
    only_recency = kf.health_score(df, as_of=AS_OF, weights={"recency": 1.0})
    assert [c for c in only_recency.columns if c.endswith("_points")] == ["recency_points"]
    # The most recent customer (c1, 300) has the best score.
    assert only_recency.set_index("customer_id")["score"].idxmax() == "c1"
    with pytest.raises(kf.KpiInputError, match="unknown health_score input"):
        kf.health_score(df, weights={"loyalty": 1.0})
    with pytest.raises(kf.KpiInputError, match="weights must be"):
        kf.health_score(df, weights={"recency": -1.0})
    with pytest.raises(kf.KpiInputError, match="no health_score input"):
        kf.health_score(df, weights={"nps": 1.0})  # no responses table given
