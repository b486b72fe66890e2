"""Scorecards: targets and status, trends with significance, shrinkage and ranks, flags."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import kpiforge as kf

COLUMNS = [
    "region",
    "period",
    "period_start",
    "partial",
    "kpi",
    "label",
    "unit",
    "direction",
    "value",
    "n",
    "ci_low",
    "ci_high",
    "shrunk",
    "target",
    "status",
    "qoq",
    "qoq_pct",
    "yoy",
    "yoy_pct",
    "significant",
    "rank",
    "peers",
    "percentile",
    "flags",
]


@pytest.fixture(scope="module")
def card(demo: kf.demo.DemoData) -> pd.DataFrame:
    return kf.scorecard(
        responses=demo.responses,
        orders=demo.orders,
        tickets=demo.tickets,
        quotes=demo.quotes,
        by="region",
        period="2026-Q2",
    )


@pytest.fixture(scope="session")
def demo() -> kf.demo.DemoData:
    return kf.demo.generate(n_orders=20_000, seed=11)


def test_shape(card: pd.DataFrame) -> None:
    assert list(card.columns) == COLUMNS
    assert card.attrs["period"] == "2026-Q2"
    assert sorted(card["period"].unique()) == [
        "2025-Q2",
        "2025-Q3",
        "2025-Q4",
        "2026-Q1",
        "2026-Q2",
    ]
    assert {
        "nps",
        "csat_mean",
        "otif_pct",
        "revenue",
        "fcr_pct",
        "repeat_rate_pct",
        "time_to_quote_sla_pct",
        "resolution_sla_pct",
    } <= set(card["kpi"])
    assert not card.duplicated(["region", "period", "kpi"]).any()


def test_values_equal_the_kpi_functions(card: pd.DataFrame, demo: kf.demo.DemoData) -> None:
    nps = kf.nps(demo.responses, by="region", period="quarter")
    rows = card[card.kpi == "nps"].merge(nps, on=["region", "period"])
    np.testing.assert_allclose(rows["value"], rows["nps_y"] if "nps_y" in rows else rows["nps"])
    np.testing.assert_array_equal(rows["n_x"], rows["n_y"])


def test_trends(card: pd.DataFrame, demo: kf.demo.DemoData) -> None:
    nps = kf.nps(demo.responses, by="region", period="quarter").set_index(["region", "period"])
    for row in card[(card.kpi == "nps") & (card.period == "2026-Q2")].itertuples():
        cur = nps.loc[(row.region, "2026-Q2"), "nps"]
        prev = nps.loc[(row.region, "2026-Q1"), "nps"]
        year = nps.loc[(row.region, "2025-Q2"), "nps"]
        assert row.qoq == pytest.approx(cur - prev)
        if prev == 0:
            assert math.isnan(row.qoq_pct)  # no relative change from a zero base, never inf
        else:
            assert row.qoq_pct == pytest.approx(100 * (cur - prev) / abs(prev))
        assert row.yoy == pytest.approx(cur - year)
    assert np.isfinite(card["qoq_pct"].dropna()).all()
    # the oldest period has no base in the card's window but does in the data
    assert card.loc[card.period == "2025-Q2", "qoq"].notna().any()


def test_significance_of_a_share_matches_a_z_test(card: pd.DataFrame) -> None:
    otif = card[card.kpi == "otif_pct"].set_index(["region", "period"])
    for region in otif.index.get_level_values(0).unique():
        cur, base = otif.loc[(region, "2026-Q2")], otif.loc[(region, "2026-Q1")]
        p1, p2, n1, n2 = cur.value / 100, base.value / 100, cur.n, base.n
        pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
        z = (p1 - p2) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        p = math.erfc(abs(z) / math.sqrt(2))
        assert bool(cur.significant) == (p < 0.05)


def test_status_against_targets(card: pd.DataFrame) -> None:
    t = kf.Targets.building_materials()
    for row in card.itertuples():
        expected = t.status(row.kpi, row.value)
        assert (pd.isna(row.status) and expected is None) or row.status == expected
        if row.kpi == "otif_pct":
            assert row.target == 95.0


def test_segment_targets() -> None:
    goals = pd.DataFrame({"region": ["North"], "kpi": ["nps"], "target": [10.0]})
    t = kf.Targets.building_materials().with_segment_targets(goals, segment="region")
    assert t.status("nps", 12.0, segment=("North",)) == "green"
    assert t.status("nps", 12.0, segment=("South",)) == "red"
    assert kf.Target(95).status(86) == "amber" and kf.Target(95).status(85) == "red"
    assert kf.Target(24, direction="lower").status(25) == "amber"
    assert kf.Target(50).status(float("nan")) is None
    with pytest.raises(kf.KpiInputError):
        kf.Target(1, direction="sideways")  # type: ignore[arg-type]


def test_targets_must_be_finite_targets() -> None:
    for value in (float("nan"), float("inf"), "50", None):
        with pytest.raises(kf.KpiInputError, match="finite number"):
            kf.Target(value)  # type: ignore[arg-type]
    assert kf.Target(np.int64(50)).status(np.float64(55.0)) == "green"
    with pytest.raises(kf.KpiInputError, match=r"must be a kf.Target.*with_targets\(nps=50\)"):
        kf.Targets(default={"nps": 50})  # type: ignore[dict-item]
    with pytest.raises(kf.KpiInputError, match="'otif_pct' must be a kf.Target"):
        kf.Targets(by_segment={("North",): {"otif_pct": 90.0}})  # type: ignore[dict-item]
    # A goal left blank keeps the segment on the default target (not a NaN target,
    # against which every value would be red).
    goals = pd.DataFrame(
        {"region": ["North", "South"], "kpi": ["nps", "nps"], "target": [10.0, np.nan]}
    )
    t = kf.Targets.building_materials().with_segment_targets(goals, segment="region")
    assert t.get("nps", ("South",)) == kf.Target(50.0)
    assert t.status("nps", 55.0, segment=("South",)) == "green"
    assert t.get("nps", ("North",)) == kf.Target(10.0)


def test_scorecard_options_are_checked(demo: kf.demo.DemoData) -> None:
    from kpiforge.scorecard import METRICS

    cases: list[tuple[str, dict[str, object]]] = [
        ("targets", {"targets": {"nps": 50}}),
        ("metrics", {"metrics": "nps"}),
        ("metrics", {"metrics": METRICS[0]}),
        ("periods_back", {"periods_back": -1}),
        ("periods_back", {"periods_back": "4"}),
        ("significance", {"significance": 2}),
        ("significance", {"significance": float("nan")}),
        ("credit_threshold", {"credit_threshold": -5}),
    ]
    for option, kwargs in cases:
        with pytest.raises(kf.KpiInputError, match=option) as err:
            kf.scorecard(responses=demo.responses, by="region", **kwargs)  # type: ignore[arg-type]
        assert err.value.column == option, kwargs
    # No periods back is only the scorecard period, and numpy integers are whole numbers.
    card = kf.scorecard(responses=demo.responses, by="region", period="2026-Q2", periods_back=0)
    assert set(card["period"]) == {"2026-Q2"}
    two = kf.scorecard(
        responses=demo.responses, by="region", period="2026-Q2", periods_back=np.int64(1)
    )
    assert set(two["period"]) == {"2026-Q1", "2026-Q2"}
    # Metrics from a generator are read as often as needed; one KPI of a table
    # (whose columns compute() leaves unprefixed) and a table no metric reads.
    full = kf.scorecard(responses=demo.responses, by="region", period="2026-Q2")
    nps_only = kf.scorecard(
        responses=demo.responses,
        orders=demo.orders,
        by="region",
        period="2026-Q2",
        metrics=(m for m in METRICS if m.id == "nps"),
    )
    assert set(nps_only["kpi"]) == {"nps"} and len(nps_only) > 0
    same = full[full.kpi == "nps"].reset_index(drop=True)
    pd.testing.assert_series_equal(nps_only["value"], same["value"])
    pd.testing.assert_series_equal(nps_only["n"], same["n"])
    with pytest.raises(kf.KpiInputError, match="none of the metrics reads a given table"):
        kf.scorecard(responses=demo.responses, metrics=[m for m in METRICS if m.table == "quotes"])


def test_shrinkage_and_ranks(card: pd.DataFrame) -> None:
    for (kpi, _), g in card.groupby(["kpi", "period"]):
        g = g.dropna(subset=["value"])
        if kpi == "revenue" or len(g) < 2:
            continue
        lo, hi = g.value.min(), g.value.max()
        assert g.shrunk.between(lo - 1e-9, hi + 1e-9).all(), kpi  # pulled inside the spread
        best = g.loc[g["rank"] == 1]
        assert (best.percentile == 100).all()
        assert g["rank"].max() <= g.peers.iloc[0]


def test_small_segments_shrink_more() -> None:
    # Ten regions of 100 responses around NPS +20, and one of 4 promoters (+100).
    rng = np.random.default_rng(0)
    frames = [
        pd.DataFrame({"region": f"m{i}", "score": rng.choice([10, 8, 3], 100, p=[0.4, 0.4, 0.2])})
        for i in range(10)
    ]
    frames.append(pd.DataFrame({"region": "small", "score": [10] * 4}))
    df = pd.concat(frames).assign(survey_type="nps", responded_at=pd.Timestamp("2025-05-01"))
    card = kf.scorecard(responses=df, by="region", period="2025-Q2", periods_back=0)
    nps = card[card.kpi == "nps"].set_index("region")
    assert nps.loc["small", "value"] == 100
    pulled = nps.value - nps.shrunk
    assert pulled["small"] > 3 * pulled.drop("small").abs().max()  # 4 responses: pulled most
    # +100 on 4 responses is no longer far ahead of +29 on 100 responses
    assert nps.loc["small", "shrunk"] < nps.drop("small").value.max()
    raw = kf.scorecard(responses=df, by="region", period="2025-Q2", periods_back=0, shrink=False)
    assert raw.set_index(["region", "kpi"]).loc[("small", "nps"), "rank"] == 1


def test_flags() -> None:
    df = pd.DataFrame(
        {"region": ["r"] * 10, "score": [0] * 10, "responded_at": pd.Timestamp("2025-05-01")}
    )
    df2 = df.assign(score=1, survey_type="csat")
    card = kf.scorecard(
        responses=pd.concat([df.assign(survey_type="nps"), df2]), by="region", period="2025-Q2"
    )
    flag = card["flags"].iloc[0][0]
    assert flag.startswith("at risk: 2 KPIs clearly off target (nps, csat_mean)")


def test_default_period_is_latest_complete(demo: kf.demo.DemoData) -> None:
    card = kf.scorecard(responses=demo.responses, by="region")
    assert card.attrs["period"] == "2026-Q3"
    with pytest.raises(kf.KpiInputError, match="not in the data"):
        kf.scorecard(responses=demo.responses, by="region", period="1999-Q1")
    with pytest.raises(kf.KpiInputError, match="period label"):
        kf.scorecard(responses=demo.responses, by="region", period="Q3 2025")
    with pytest.raises(kf.KpiInputError, match="at least one table"):
        kf.scorecard(by="region")
