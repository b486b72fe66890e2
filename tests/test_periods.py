"""Period bucketing as users see it: labels, fiscal years, ISO weeks, zones, partial periods."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pyarrow as pa

import kpiforge as kf


def one(day: object, **kw: object) -> pd.DataFrame:
    return kf.nps(pd.DataFrame({"score": [10], "responded_at": [pd.Timestamp(day)]}), **kw)


def test_labels() -> None:
    assert one("2025-08-15", period="quarter")["period"][0] == "2025-Q3"
    assert one("2025-08-15", period="quarter", fiscal_year_start=7)["period"][0] == "FY2026-Q1"
    assert one("2026-01-15", period="quarter", fiscal_year_start=7)["period"][0] == "FY2026-Q3"
    assert one("2025-08-15", period="year", fiscal_year_start=4)["period"][0] == "FY2026"
    assert one("2025-08-15", period="month")["period"][0] == "2025-08"
    assert one("2021-01-03", period="week")["period"][0] == "2020-W53"
    assert one("2024-12-30", period="week")["period"][0] == "2025-W01"
    assert one("2024-02-29", period="day")["period"][0] == "2024-02-29"
    out = one("2025-08-15", period="quarter", fiscal_year_start=7)
    assert out["period_start"][0] == pd.Timestamp("2025-07-01")


def test_time_zones() -> None:
    # 23:30 UTC on 30 June is 1 July in Berlin: a different quarter.
    ts = pa.array([dt.datetime(2025, 6, 30, 23, 30)], pa.timestamp("us", tz="UTC"))
    t = pa.table({"score": [9], "responded_at": ts})
    assert kf.nps(t, period="quarter")["period"][0] == "2025-Q2"
    assert kf.nps(t, period="quarter", tz="Europe/Berlin")["period"][0] == "2025-Q3"
    berlin = t.set_column(1, "responded_at", ts.cast(pa.timestamp("us", tz="Europe/Berlin")))
    assert kf.nps(berlin, period="quarter")["period"][0] == "2025-Q3"


def test_partial_period_flag() -> None:
    df = pd.DataFrame(
        {
            "score": [9, 9, 9],
            "responded_at": pd.to_datetime(["2025-01-10", "2025-03-31", "2025-04-02"]),
        }
    )
    out = kf.nps(df, period="quarter")
    assert out["partial"].tolist() == [False, True]
    out = kf.nps(df, period="quarter", as_of="2025-06-30")
    assert out["partial"].tolist() == [False, False]


def test_demo_last_quarter_is_partial(demo: kf.demo.DemoData) -> None:
    out = kf.nps(demo.responses, period="quarter")
    assert out["partial"].tolist()[-1] is True
    assert not out["partial"].iloc[:-1].any()
    assert out["period"].iloc[-1] == "2026-Q4"


def test_period_none_has_no_period_columns() -> None:
    out = kf.nps(pd.DataFrame({"score": [1, 10]}))
    assert "period" not in out.columns and len(out) == 1
