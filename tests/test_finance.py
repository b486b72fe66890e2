"""Finance KPIs by hand: dso (snapshots, countback, overdue, credit utilisation,
bad input) and cac."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import kpiforge as kf


def invoices(**over: list) -> pd.DataFrame:
    base = {
        "partner_id": ["p1", "p1", "p2", "p2"],
        "region": ["N", "N", "S", "S"],
        "invoice_date": pd.to_datetime(["2025-01-10", "2025-02-15", "2025-01-20", "2025-03-01"]),
        "due_date": pd.to_datetime(["2025-02-09", "2025-03-17", "2025-02-19", "2025-03-31"]),
        "paid_date": pd.to_datetime(["2025-03-05", None, "2025-02-10", None]),
        "amount": [100.0, 300.0, 40.0, 60.0],
        "credit_limit": [400.0, 400.0, 50.0, 50.0],
    }
    base.update(over)
    return pd.DataFrame(base)


def row(df: pd.DataFrame, **keys: str) -> pd.Series:
    mask = pd.Series(True, index=df.index)
    for k, v in keys.items():
        mask &= df[k] == v
    assert mask.sum() == 1, df
    return df[mask].iloc[0]


def test_month_end_snapshots_by_hand() -> None:
    out = kf.dso(invoices(), by="region", period="month", as_of="2025-04-15")
    # Every month from the first invoice to as_of, invoicing or not.
    assert list(out.loc[out["region"] == "N", "period"]) == [
        "2025-01",
        "2025-02",
        "2025-03",
        "2025-04",
    ]
    jan = row(out, region="N", period="2025-01")
    assert (jan["credit_sales"], jan["receivables_open"], jan["period_days"]) == (
        100.0,
        100.0,
        31.0,
    )
    assert jan["dso_days"] == pytest.approx(31.0)
    feb = row(out, region="N", period="2025-02")
    # 100 due 02-09 is overdue at 02-28; 300 is not yet due.
    assert (feb["receivables_open"], feb["overdue_amount"]) == (400.0, 100.0)
    assert feb["overdue_pct"] == pytest.approx(25.0)
    assert feb["dso_days"] == pytest.approx(400 / 300 * 28)
    assert feb["credit_utilization_pct"] == pytest.approx(100.0)
    assert bool(feb["over_limit"]) and feb["accounts_over_limit"] == 1
    mar = row(out, region="N", period="2025-03")
    # No invoicing in March: the row is there, DSO is null, the balance is the snapshot.
    assert mar["n"] == 0 and mar["credit_sales"] == 0.0 and pd.isna(mar["dso_days"])
    # 300 was due 03-17: overdue at the March end.
    assert mar["receivables_open"] == 300.0 and mar["overdue_amount"] == 300.0
    # 100 paid 03-05, 54 days after 01-10.
    assert mar["paid_invoices"] == 1 and mar["avg_days_to_pay"] == pytest.approx(54.0)
    apr = row(out, region="N", period="2025-04")
    # The last period is the snapshot at as_of (15 days in).
    assert bool(apr["partial"]) and apr["period_days"] == 15.0 and apr["overdue_amount"] == 300.0
    s_feb = row(out, region="S", period="2025-02")
    assert s_feb["receivables_open"] == 0.0 and pd.isna(s_feb["overdue_pct"])
    assert s_feb["avg_days_to_pay"] == pytest.approx(21.0)


def test_balances_are_snapshots_not_sums() -> None:
    monthly = kf.dso(invoices(), period="month", as_of="2025-03-31")
    quarterly = kf.dso(invoices(), period="quarter", as_of="2025-03-31")
    # The quarter's balance is the March-end balance, its sales the sum of the months.
    assert quarterly["receivables_open"].iloc[0] == monthly["receivables_open"].iloc[-1]
    assert quarterly["credit_sales"].iloc[0] == pytest.approx(monthly["credit_sales"].sum())
    assert quarterly["period_days"].iloc[0] == 90.0


def test_countback_by_hand() -> None:
    df = pd.DataFrame(
        {
            "partner_id": ["p"] * 3,
            "invoice_date": pd.to_datetime(["2025-01-15", "2025-02-15", "2025-03-15"]),
            "due_date": pd.to_datetime(["2025-02-14", "2025-03-17", "2025-04-14"]),
            "paid_date": pd.to_datetime([None, None, None]),
            "amount": [100.0, 200.0, 50.0],
            "credit_limit": 1000.0,
        }
    )
    out = kf.dso(df, period="month", method="countback", as_of="2025-03-31")
    # March end: 350 open; March sales 50 (31 days), February 200 (28 days), then
    # 100 of January's 100 (31 days).
    assert out["dso_days"].tolist() == pytest.approx([31.0, 28 + 31.0, 31 + 28 + 31.0])
    standard = kf.dso(df, period="month", as_of="2025-03-31")
    assert standard["dso_days"].iloc[-1] == pytest.approx(350 / 50 * 31)


def test_without_period_it_is_the_snapshot_at_as_of() -> None:
    out = kf.dso(invoices(), as_of="2025-03-31")
    assert len(out) == 1
    r = out.iloc[0]
    assert r["receivables_open"] == 360.0  # 300 + 60 open at 03-31
    assert r["credit_sales"] == 500.0
    assert r["period_days"] == 81.0  # 2025-01-10 .. 2025-03-31
    assert r["dso_days"] == pytest.approx(360 / 500 * 81)
    assert r["credit_limit"] == 450.0  # one limit per account, summed over accounts


def test_as_of_defaults_to_latest_invoice_or_payment_never_due_date() -> None:
    df = invoices(paid_date=pd.to_datetime(["2025-03-05", None, "2025-02-10", "2025-03-20"]))
    out = kf.dso(df, period="month")
    assert out["period"].iloc[-1] == "2025-03"
    assert (
        out["period_days"].iloc[-1] == 20.0
    )  # as_of 2025-03-20 (a payment), not 03-31 (a due date)


def test_payment_after_as_of_has_not_happened() -> None:
    out = kf.dso(invoices(), as_of="2025-03-01")
    # 100 paid 03-05 is still open at 03-01; 40 paid 02-10 is not.
    assert out["receivables_open"].iloc[0] == 100.0 + 300.0 + 60.0


@pytest.mark.parametrize(
    ("column", "values", "count", "example"),
    [
        ("paid_date", pd.to_datetime(["2025-01-01", None, None, None]), 1, "2025-01-01"),
        (
            "due_date",
            pd.to_datetime(["2025-01-01", "2025-01-02", "2025-02-19", "2025-03-31"]),
            2,
            "2025-01-01",
        ),
        ("amount", [-1.0, 300.0, -5.0, 60.0], 2, "-1"),
        ("credit_limit", [400.0, 400.0, 0.0, 0.0], 2, "0"),
    ],
)
def test_bad_rows_raise_or_drop(column: str, values: list, count: int, example: str) -> None:
    df = invoices(**{column: values})
    with pytest.raises(kf.KpiInputError) as err:
        kf.dso(df, period="month")
    assert err.value.column == column and err.value.count == count
    assert example in str(err.value.example)
    out = kf.dso(df, period="month", on_invalid="drop")
    assert out["invalid"].sum() == count


def test_conflicting_credit_limits_in_one_account() -> None:
    df = invoices(credit_limit=[400.0, 500.0, 50.0, 50.0])
    with pytest.raises(
        kf.KpiInputError, match="differs from another row of the same partner_id"
    ) as err:
        kf.dso(df)
    assert err.value.column == "credit_limit" and err.value.count == 1
    out = kf.dso(df, on_invalid="drop", as_of="2025-03-31")
    assert out["invalid"].iloc[0] == 1
    assert out["credit_limit"].iloc[0] == 450.0  # the account's first limit


def test_null_amount_is_missing_and_no_limit_column() -> None:
    out = kf.dso(invoices(amount=[100.0, None, 40.0, 60.0]), as_of="2025-03-31")
    assert out["missing"].iloc[0] == 1 and out["n"].iloc[0] == 3
    bare = invoices().drop(columns=["credit_limit"])
    with pytest.raises(kf.KpiInputError, match="credit_limit"):
        kf.dso(bare)
    out = kf.dso(bare, credit_limit=None, as_of="2025-03-31")
    assert (
        pd.isna(out["credit_utilization_pct"].iloc[0]) and out["receivables_open"].iloc[0] == 360.0
    )


def test_parameters_are_checked() -> None:
    with pytest.raises(ValueError, match="countback"):
        kf.dso(invoices(), method="average")
    with pytest.raises(ValueError, match="threshold"):
        kf.dso(invoices(), threshold=-1)


def test_partial_results_need_as_of_and_merge_exactly(demo: kf.demo.DemoData) -> None:
    t = demo.invoices
    with pytest.raises(ValueError, match="as_of"):
        kf.compute(t, ["dso"], partial=True)
    whole = kf.dso(t, by="region", period="quarter", as_of="2026-06-30")
    half = t.num_rows // 2
    parts = [
        kf.compute(p, ["dso"], by="region", period="quarter", as_of="2026-06-30", partial=True)
        for p in (t.slice(0, half), t.slice(half))
    ]
    pd.testing.assert_frame_equal(kf.finalize(parts), whole, check_exact=False, rtol=1e-12)


def test_demo_is_plausible(demo: kf.demo.DemoData) -> None:
    out = kf.dso(demo.invoices, by="region", period="quarter")
    full = out[~out["partial"]]
    # (The first quarter starts with nothing open: its DSO is low.)
    assert full["dso_days"].between(5, 150).all()
    assert full["avg_days_to_pay"].between(10, 90).all()
    assert (out["overdue_amount"] <= out["receivables_open"] + 1e-6).all()
    cb = kf.dso(demo.invoices, by="region", period="quarter", method="countback")
    assert cb["dso_days"].notna().all()


# ---- cac ----------------------------------------------------------------------------------


def test_cac_by_hand() -> None:
    spend = pd.DataFrame(
        {
            "month": pd.to_datetime(["2025-01-01", "2025-02-01", "2025-03-01", "2025-01-01"]),
            "region": ["N", "N", "N", "S"],
            "amount": [900.0, 300.0, 0.0, 100.0],
        }
    )
    orders = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "a", "d"],
            "region": ["N", "N", "N", "N", "S"],
            "ordered_at": pd.to_datetime(
                ["2025-01-05", "2025-01-09", "2025-02-02", "2025-03-01", "2025-03-10"]
            ),
        }
    )
    out = kf.cac(spend, orders, period="quarter")
    n = row(out, region="N")
    assert (n["spend"], n["new_customers"], n["cac"]) == (1200.0, 3, 400.0)
    s = row(out, region="S")
    assert (s["spend"], s["new_customers"], s["cac"]) == (100.0, 1, 100.0)
    monthly = kf.cac(spend, orders, period="month")
    assert pd.isna(row(monthly, region="N", period="2025-03")["cac"])  # no new customers
    total = kf.cac(spend, orders, period=None, by=None)
    assert (total["spend"].iloc[0], total["new_customers"].iloc[0]) == (1300.0, 4)
    with pytest.raises(kf.KpiInputError, match="monthly"):
        kf.cac(spend, orders, period="week")


def test_cac_on_demo_joins_on_segment_and_period(demo: kf.demo.DemoData) -> None:
    out = kf.cac(demo.spend, demo.orders, period="quarter", output="arrow")
    assert isinstance(out, pa.Table)
    df = out.to_pandas()
    assert set(df["region"]) == {"North", "South", "East", "West", "Central"}
    ok = df[df["new_customers"] > 0]
    assert (ok["cac"] == ok["spend"] / ok["new_customers"]).all()
    assert df.duplicated(["region", "period"]).sum() == 0
    assert isinstance(df["period_start"].iloc[0], pd.Timestamp | dt.date)


def test_snapshot_day_boundaries() -> None:
    df = pd.DataFrame(
        {
            "partner_id": ["p", "p"],
            "invoice_date": pd.to_datetime(["2025-01-01", "2025-01-05"]),
            "due_date": pd.to_datetime(["2025-01-31", "2025-01-30"]),
            "paid_date": pd.to_datetime([None, "2025-01-31"]),
            "amount": [10.0, 20.0],
            "credit_limit": 100.0,
        }
    )
    out = kf.dso(df, period="month", as_of="2025-02-01")
    jan = out.iloc[0]
    # Due on the snapshot day: open, not yet overdue; paid on the snapshot day: not open.
    assert (jan["receivables_open"], jan["open_invoices"], jan["overdue_amount"]) == (10.0, 1, 0.0)
    feb = out.iloc[1]
    assert (feb["overdue_amount"], feb["period_days"]) == (10.0, 1.0)


# ---- the scorecard's over-credit-limit flag -------------------------------------------------


def test_scorecard_flags_segments_over_their_credit_limit(demo: kf.demo.DemoData) -> None:
    card = kf.scorecard(orders=demo.orders, invoices=demo.invoices, by="region", period="2026-Q2")
    util = kf.dso(demo.invoices, by="region", period="quarter").set_index(["region", "period"])
    seen = 0
    for (region, period), g in card.groupby(["region", "period"]):
        used = util.loc[(region, period), "credit_utilization_pct"]
        flagged = [f for f in g["flags"].iloc[0] if f.startswith("over credit limit")]
        assert bool(flagged) == (used > 90), (region, period, used, flagged)
        seen += bool(flagged)
    assert 0 < seen < card.groupby(["region", "period"]).ngroups  # both cases occur
    strict = kf.scorecard(
        orders=demo.orders,
        invoices=demo.invoices,
        by="region",
        period="2026-Q2",
        credit_threshold=1000.0,
    )
    assert not any(f.startswith("over credit limit") for fs in strict["flags"] for f in fs)
    plain = kf.scorecard(orders=demo.orders, by="region", period="2026-Q2")
    assert not any(f.startswith("over credit limit") for fs in plain["flags"] for f in fs)


def test_cac_reads_a_one_shot_stream_of_orders(demo: kf.demo.DemoData) -> None:
    want = kf.cac(demo.spend, demo.orders, period="quarter")
    stream = pa.RecordBatchReader.from_batches(demo.orders.schema, demo.orders.to_batches())
    pd.testing.assert_frame_equal(kf.cac(demo.spend, stream, period="quarter"), want)


def test_dso_with_another_kpi_in_one_call(demo: kf.demo.DemoData) -> None:
    revenue = kf.Kpi("revenue", volume=None, date="invoice_date")
    out = kf.compute(demo.invoices, ["dso", revenue], by="region", period="quarter")
    alone = kf.dso(demo.invoices, by="region", period="quarter")
    assert {"dso_days", "dso_period_days", "dso_credit_sales", "revenue"} <= set(out.columns)
    np.testing.assert_allclose(out["dso_days"], alone["dso_days"], rtol=1e-12)
    # Invoices are the credit sales: both KPIs sum the same amounts.
    np.testing.assert_allclose(out["dso_credit_sales"], out["revenue"].fillna(0), rtol=1e-9)


def test_dso_on_dask_finds_as_of_and_equals_one_scan(demo: kf.demo.DemoData) -> None:
    dd = pytest.importorskip("dask.dataframe")
    import kpiforge.dask

    frame = demo.invoices.to_pandas(date_as_object=False)
    want = kf.dso(frame, by="region", period="quarter")
    got = kpiforge.dask.compute(
        dd.from_pandas(frame, npartitions=5), ["dso"], by="region", period="quarter"
    )
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-12)


def test_ltv_cac_ratio_matches_its_definition() -> None:
    """ltv = mean(historical_value + clv) of the customers first ordering in the
    (region, quarter); the ratio divides it by cac."""
    import warnings

    demo = kf.demo.generate(n_orders=20_000, seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", kf.ClvModelWarning)
        out = kf.ltv_cac_ratio(demo.spend, demo.orders, by="region", period="quarter")
        values = kf.clv(demo.orders, by="region", horizon=36)
    orders = demo.orders.to_pandas()
    first = orders.sort_values("ordered_at").groupby("customer_id").first()
    quarter = first["ordered_at"].dt.to_period("Q")
    first["period"] = quarter.dt.year.astype(str) + "-Q" + quarter.dt.quarter.astype(str)
    values = values.merge(first[["period"]], left_on="customer_id", right_index=True)
    values["ltv"] = values["historical_value"] + values["clv"]
    want = values.groupby(["region", "period"])["ltv"].agg(["mean", "size"])
    got = out.dropna(subset=["ltv"]).set_index(["region", "period"])
    assert len(got) == len(want)
    np.testing.assert_allclose(got["ltv"], want.loc[got.index, "mean"], rtol=1e-9)
    assert (got["ltv_customers"] == want.loc[got.index, "size"]).all()
    assert (got["ltv_customers"] == got["new_customers"]).all()  # the same first-order rule
    ok = got["cac"] > 0
    np.testing.assert_allclose(
        got.loc[ok, "ltv_cac_ratio"], got.loc[ok, "ltv"] / got.loc[ok, "cac"]
    )
