"""Order KPIs (revenue, self_service_adoption, cross_sell, order_accuracy, otif)
against plain pandas references written from KPIS.md."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats as sps

import kpiforge as kf
from conftest import close, wilson
from kpiforge.orders import cross_sell, order_accuracy, otif, revenue, self_service_adoption

REPS = ["ann", "bob", None]
DAYS = st.dates(dt.date(2024, 11, 1), dt.date(2025, 4, 30))


def groups(df: pd.DataFrame, by: list[str]) -> dict:
    """Rows per segment, null as its own segment (keyed by None)."""
    keyed = df.assign(**{f"_{c}": df[c].astype(object).where(df[c].notna(), None) for c in by})
    out = {}
    for key, g in keyed.groupby([f"_{c}" for c in by], dropna=False):
        key = tuple(
            None if (k is None or (isinstance(k, float) and math.isnan(k))) else k for k in key
        )
        out[key] = g
    return out


def row_key(row: pd.Series, by: list[str]) -> tuple:
    return tuple(None if pd.isna(row[c]) else row[c] for c in by)


def check_share(row: pd.Series, name: str, hits: int, n: int) -> None:
    if n == 0:
        assert pd.isna(row[name]) and pd.isna(row[f"{name}_ci_low"])
        return
    lo, hi = wilson(hits, n)
    assert close(row[name], 100 * hits / n), name
    assert close(row[f"{name}_ci_low"], lo, 1e-9), name
    assert close(row[f"{name}_ci_high"], hi, 1e-9), name


# ---- revenue ----------------------------------------------------------------

revenue_rows = st.lists(
    st.tuples(
        st.sampled_from(REPS),
        st.one_of(st.none(), st.floats(0, 1e6, allow_nan=False)),
        st.one_of(st.none(), st.floats(0, 50, allow_nan=False)),
        DAYS,
    ),
    min_size=1,
    max_size=150,
)


def ref_revenue(g: pd.DataFrame) -> dict:
    a = g["amount"].dropna()
    n = len(a)
    out: dict = {"n": n, "missing": int(g["amount"].isna().sum()), "invalid": 0}
    out["revenue"] = math.fsum(a) if n else None
    q = g["quantity"].dropna()
    out["volume"] = math.fsum(q) if len(q) else None
    out["average_ticket"] = math.fsum(a) / n if n else None
    if n > 1:
        half = sps.t.ppf(0.975, n - 1) * a.std(ddof=1) / math.sqrt(n)
        out["average_ticket_ci_low"] = out["average_ticket"] - half
        out["average_ticket_ci_high"] = out["average_ticket"] + half
    return out


@given(revenue_rows)
def test_revenue_matches_pandas_reference(data: list) -> None:
    df = pd.DataFrame(data, columns=["rep", "amount", "quantity", "day"])
    df["ordered_at"] = pd.to_datetime(df["day"])
    df["amount"] = df["amount"].astype(float)
    df["quantity"] = df["quantity"].astype(float)
    out = revenue(df.drop(columns="day"), by="rep", period="month")
    df["period"] = df["ordered_at"].dt.strftime("%Y-%m")
    expected = groups(df, ["rep", "period"])
    assert len(out) == len(expected)
    for _, row in out.iterrows():
        ref = ref_revenue(expected[(row_key(row, ["rep"])[0], row["period"])])
        for col in ("n", "missing", "invalid"):
            assert row[col] == ref[col], col
        for col in ("revenue", "volume", "average_ticket"):
            want = ref[col]
            assert pd.isna(row[col]) if want is None else close(row[col], want, 1e-12), col
        for col in ("average_ticket_ci_low", "average_ticket_ci_high"):
            want = ref.get(col, np.nan)
            assert close(row[col], want, 1e-7) or (abs(row[col] - want) < 1e-6), col


def test_revenue_does_not_depend_on_chunking_or_threads() -> None:
    rng = np.random.default_rng(5)
    n = 300_000
    t = pa.table(
        {
            "region": rng.choice(["N", "S", "E"], n),
            "amount": rng.lognormal(6, 1.5, n) * 1e3,
            "quantity": rng.uniform(0, 10, n),
            "ordered_at": pa.array(rng.integers(19_700, 20_000, n).astype("int32"), pa.date32()),
        }
    )
    whole = revenue(t, by="region", period="quarter", threads=1)
    reader = pa.RecordBatchReader.from_batches(t.schema, t.to_batches(max_chunksize=7_777))
    pieces = revenue(reader, by="region", period="quarter", threads=2)
    assert len(whole) == len(pieces)
    for col in ("revenue", "volume", "average_ticket", "average_ticket_ci_high"):
        np.testing.assert_allclose(pieces[col], whole[col], rtol=1e-12, atol=0)
    df = t.to_pandas()
    total = math.fsum(df["amount"])
    assert abs(revenue(t, threads=3).loc[0, "revenue"] - total) <= 1e-12 * total


def test_revenue_reads_decimal_amounts() -> None:
    amounts = [Decimal("100.10"), Decimal("0.20"), None, Decimal("12345678.99")]
    t = pa.table(
        {
            "amount": pa.array(amounts, pa.decimal128(12, 2)),
            "quantity": [1.0, 2.0, 3.0, None],
        }
    )
    out = revenue(t)
    assert (out.loc[0, "n"], out.loc[0, "missing"]) == (3, 1)
    assert out.loc[0, "revenue"] == pytest.approx(100.10 + 0.20 + 12345678.99, rel=1e-15)
    assert out.loc[0, "volume"] == 6.0
    floats = revenue(pa.table({"amount": [100.10, 0.20, None, 12345678.99]}), volume=None)
    assert out.loc[0, "average_ticket"] == pytest.approx(floats.loc[0, "average_ticket"], rel=1e-15)
    assert pd.isna(floats.loc[0, "volume"])


def test_revenue_negative_amounts_are_bad_input() -> None:
    df = pd.DataFrame({"amount": [10.0, -5.0, -7.5, 3.0], "quantity": [1.0, 1.0, 1.0, -2.0]})
    with pytest.raises(kf.KpiInputError) as err:
        revenue(df)
    assert (err.value.column, err.value.count, err.value.example) == ("amount", 2, "-5")
    assert "negative amount" in str(err.value) and "negative volume" in str(err.value)
    out = revenue(df, on_invalid="drop")
    assert (out.loc[0, "n"], out.loc[0, "invalid"], out.loc[0, "revenue"]) == (1, 3, 10.0)
    assert out.loc[0, "volume"] == 1.0
    with pytest.raises(kf.KpiInputError, match="volume=None"):
        revenue(pd.DataFrame({"amount": [1.0]}))
    with pytest.raises(kf.KpiInputError, match="must be numeric"):
        revenue(pd.DataFrame({"amount": ["1.0"], "quantity": [1.0]}))


# ---- self-service adoption ----------------------------------------------------

CHANNELS = ["portal", "app", "web", "edi", "phone", "branch", "rep", "Portal", None]


@given(
    st.lists(st.tuples(st.sampled_from(REPS), st.sampled_from(CHANNELS)), min_size=1, max_size=150),
    st.booleans(),
    st.sampled_from([None, ["phone"], ["portal", "Portal", "rep"]]),
)
def test_self_service_matches_pandas_reference(data: list, categorical: bool, channels) -> None:
    df = pd.DataFrame(data, columns=["rep", "channel"])
    if categorical:
        df["channel"] = df["channel"].astype("category")
    wanted = channels or ["portal", "app", "web", "edi"]
    out = (
        self_service_adoption(df, by="rep", channels=channels)
        if channels
        else self_service_adoption(df, by="rep")
    )
    expected = groups(df, ["rep"])
    assert len(out) == len(expected)
    for _, row in out.iterrows():
        g = expected[row_key(row, ["rep"])]
        ch = g["channel"].astype(object)
        n = int(ch.notna().sum())
        hits = int(ch.isin(wanted).sum())
        assert (row["n"], row["missing"]) == (n, int(ch.isna().sum()))
        check_share(row, "self_service_pct", hits, n)


def test_self_service_every_string_flavour() -> None:
    values = ["portal", "phone", None, "edi"]
    for typ in (pa.string(), pa.large_string(), pa.string_view()):
        out = self_service_adoption(pa.table({"channel": pa.array(values, typ)}))
        assert out.loc[0, "self_service_pct"] == pytest.approx(200 / 3)
    enc = pa.table({"channel": pa.array(values).dictionary_encode()})
    assert self_service_adoption(enc).loc[0, "n"] == 3
    with pytest.raises(kf.KpiInputError, match="strings"):
        self_service_adoption(pd.DataFrame({"channel": [1, 2]}))


# ---- cross-sell ---------------------------------------------------------------


@given(
    st.lists(
        st.tuples(st.sampled_from(REPS), st.sampled_from([True, False, None])),
        min_size=1,
        max_size=150,
    )
)
def test_cross_sell_flag_matches_pandas_reference(data: list) -> None:
    df = pd.DataFrame(data, columns=["rep", "has_addon"])
    df["has_addon"] = df["has_addon"].astype("boolean")
    out = cross_sell(df, by="rep")
    expected = groups(df, ["rep"])
    for _, row in out.iterrows():
        flag = expected[row_key(row, ["rep"])]["has_addon"]
        n = int(flag.notna().sum())
        assert (row["n"], row["missing"], row["invalid"]) == (n, int(flag.isna().sum()), 0)
        check_share(row, "cross_sell_pct", int(flag.sum()), n)


def test_cross_sell_integer_flag_other_than_0_1_is_invalid() -> None:
    df = pd.DataFrame({"has_addon": [1, 0, 2, 1]})
    with pytest.raises(kf.KpiInputError) as err:
        cross_sell(df)
    assert (err.value.column, err.value.count, err.value.example) == ("has_addon", 1, "2")
    out = cross_sell(df, on_invalid="drop")
    assert (out.loc[0, "n"], out.loc[0, "invalid"]) == (3, 1)


def test_cross_sell_from_lines_equals_demo_flag(demo: kf.demo.DemoData) -> None:
    orders, lines = demo.orders, demo.order_lines
    from_lines = cross_sell(orders, lines=lines, by="region", period="quarter")
    from_flag = cross_sell(orders, by="region", period="quarter")
    pd.testing.assert_frame_equal(from_lines, from_flag)
    assert 5 < from_flag["cross_sell_pct"].mean() < 60


def test_cross_sell_from_lines_rules() -> None:
    orders = pd.DataFrame({"order_id": [1, 2, 3, 4, 5, 6], "rep": list("aaabbb")})
    lines = pd.DataFrame(
        {
            "order_id": [1, 1, 2, 2, 3, 5, 5, 99, 99],
            "product_line": [
                "lumber",
                "tools",
                "roofing",
                "roofing",
                "tools",
                None,
                "tools",
                "a",
                "b",
            ],
            "upgrade": pd.array(
                [False, False, False, None, True, False, False, False, False], dtype="boolean"
            ),
        }
    )
    # 1: two product lines; 2: one line, no upgrade; 3: upgrade; 4: no lines;
    # 5: a null product line does not count as a second one; 6: no lines; 99: not an order.
    out = cross_sell(orders, lines=lines, by="rep")
    assert out["n"].tolist() == [3, 3]
    assert out["cross_sell_pct"].tolist() == pytest.approx([200 / 3, 0.0])
    only_lines = cross_sell(orders, lines=lines, upgrade=None)
    assert only_lines.loc[0, "cross_sell_pct"] == pytest.approx(100 / 6)
    with pytest.raises(kf.KpiInputError, match="product_line"):
        cross_sell(orders, lines=lines.drop(columns="product_line"))


# ---- order accuracy ------------------------------------------------------------

ERROR_TYPES = ["picking", "packing", "loading", "Picking ", "damaged", None]


def error_bucket(t: object) -> str | None:
    if t is None or (isinstance(t, float) and math.isnan(t)):
        return None
    t = str(t).strip().lower()
    return t if t in ("picking", "packing", "loading") else "other"


@given(
    st.lists(
        st.tuples(
            st.sampled_from(REPS),
            st.sampled_from([True, False, None]),
            st.one_of(st.none(), st.integers(0, 3)),
            st.sampled_from(ERROR_TYPES),
        ),
        min_size=1,
        max_size=150,
    ),
    st.booleans(),
)
def test_accuracy_matches_pandas_reference(data: list, use_count: bool) -> None:
    df = pd.DataFrame(data, columns=["rep", "accurate", "errors", "error_type"])
    df["accurate"] = df["accurate"].astype("boolean")
    df["errors"] = df["errors"].astype("Int64")
    out = (
        order_accuracy(df, by="rep", error_count="errors")
        if use_count
        else order_accuracy(df, by="rep")
    )
    expected = groups(df, ["rep"])
    for _, row in out.iterrows():
        g = expected[row_key(row, ["rep"])]
        ok = (g["errors"] == 0) if use_count else g["accurate"]
        valid = ok.notna()
        n = int(valid.sum())
        assert (row["n"], row["missing"], row["invalid"]) == (n, int((~valid).sum()), 0)
        check_share(row, "accuracy_pct", int(ok[valid].astype(bool).sum()), n)
        buckets = g.loc[valid.to_numpy(bool), "error_type"].map(error_bucket).value_counts()
        for t in ("picking", "packing", "loading", "other"):
            assert row[f"errors_{t}"] == buckets.get(t, 0), t


def test_accuracy_bad_error_counts_and_no_error_type() -> None:
    df = pd.DataFrame({"error_count": [0, 1, -1, 0], "accurate": [True, False, True, True]})
    with pytest.raises(kf.KpiInputError) as err:
        order_accuracy(df, error_count="error_count", error_type=None)
    assert (err.value.column, err.value.count, err.value.example) == ("error_count", 1, "-1")
    out = order_accuracy(df, error_count="error_count", error_type=None, on_invalid="drop")
    assert (out.loc[0, "n"], out.loc[0, "invalid"]) == (3, 1)
    assert out.loc[0, "accuracy_pct"] == pytest.approx(200 / 3)
    assert pd.isna(out.loc[0, "errors_picking"])
    with pytest.raises(kf.KpiInputError, match="error_type"):
        order_accuracy(df)


# ---- OTIF ------------------------------------------------------------------------

BASE = dt.date(2025, 1, 1)

otif_rows = st.lists(
    st.tuples(
        st.sampled_from(REPS),
        st.integers(0, 60),  # order day
        st.integers(0, 10),  # promise lead
        st.one_of(st.none(), st.integers(0, 20)),  # delivery lag after the order
        st.floats(0.5, 20, allow_nan=False),  # ordered quantity
        st.sampled_from([1.0, 0.99, 0.95, 0.8, 1.1]),  # delivered fraction
    ),
    min_size=1,
    max_size=150,
)


def otif_frame(data: list) -> pd.DataFrame:
    df = pd.DataFrame(data, columns=["rep", "o", "lead", "lag", "quantity", "frac"])
    day = lambda d: pd.Timestamp(BASE) + pd.to_timedelta(d, unit="D")  # noqa: E731
    df["ordered_at"] = day(df["o"]) + pd.Timedelta(hours=9)
    df["promised_date"] = day(df["o"] + df["lead"]).dt.date
    lag = df["lag"].astype(float)
    df["delivered_date"] = day(df["o"] + lag).dt.date.where(lag.notna(), None)
    df["quantity_delivered"] = (df["quantity"] * df["frac"]).where(lag.notna())
    return df


def ref_otif(g: pd.DataFrame, as_of: dt.date, tol_days: int, tol: float) -> dict:
    deadline = g["promised_date"].map(lambda d: d + dt.timedelta(days=tol_days))
    due = deadline <= as_of
    day = g["delivered_date"].map(lambda d: d if pd.notna(d) else dt.date.max)
    delivered = day <= as_of
    on_time = due & delivered & (day <= deadline)
    in_full = due & delivered & (g["quantity_delivered"] >= g["quantity"] * (1 - tol))
    return {
        "n": len(g),
        "due": int(due.sum()),
        "pending": int((~due).sum()),
        "undelivered": int((due & ~delivered).sum()),
        "invalid": 0,
        "on_time": int(on_time.sum()),
        "in_full": int(in_full.sum()),
        "otif": int((on_time & in_full).sum()),
    }


@given(otif_rows, st.integers(0, 80), st.integers(0, 3), st.sampled_from([0.0, 0.05, 0.2]))
def test_otif_matches_pandas_reference(data: list, as_of: int, tol_days: int, tol: float) -> None:
    df = otif_frame(data)
    as_of_day = BASE + dt.timedelta(days=as_of)
    table = pa.Table.from_pandas(
        df[
            [
                "rep",
                "ordered_at",
                "promised_date",
                "delivered_date",
                "quantity",
                "quantity_delivered",
            ]
        ],
        preserve_index=False,
    )
    out = otif(
        table, by="rep", period="month", as_of=as_of_day, tolerance_days=tol_days, tolerance=tol
    )
    df["period"] = df["ordered_at"].dt.strftime("%Y-%m")
    expected = groups(df, ["rep", "period"])
    assert len(out) == len(expected)
    for _, row in out.iterrows():
        ref = ref_otif(
            expected[(row_key(row, ["rep"])[0], row["period"])], as_of_day, tol_days, tol
        )
        for col in ("n", "due", "pending", "undelivered", "invalid"):
            assert row[col] == ref[col], col
        check_share(row, "on_time_pct", ref["on_time"], ref["due"])
        check_share(row, "in_full_pct", ref["in_full"], ref["due"])
        check_share(row, "otif_pct", ref["otif"], ref["due"])


def test_otif_censoring_pending_due_undelivered() -> None:
    d = lambda s: dt.date.fromisoformat(s)  # noqa: E731
    df = pd.DataFrame(
        {
            "ordered_at": pd.to_datetime(["2025-03-01"] * 6),
            # due on time, due late, due undelivered, pending delivered, pending open,
            # due but delivered after as_of
            "promised_date": [
                d("2025-03-05"),
                d("2025-03-05"),
                d("2025-03-05"),
                d("2025-03-10"),
                d("2025-03-12"),
                d("2025-03-06"),
            ],
            "delivered_date": [
                d("2025-03-05"),
                d("2025-03-08"),
                None,
                d("2025-03-04"),
                None,
                d("2025-03-20"),
            ],
            "quantity": [5.0] * 6,
            "quantity_delivered": [5.0, 5.0, None, 5.0, None, 5.0],
        }
    )
    out = otif(df, as_of="2025-03-10")
    row = out.iloc[0]
    # Data through the end of 03-10: a deadline on 03-10 has passed (the order is due).
    assert (row["n"], row["due"], row["pending"], row["undelivered"]) == (6, 5, 1, 2)
    assert row["on_time_pct"] == 40.0 and row["otif_pct"] == 40.0 and row["in_full_pct"] == 60.0
    # Four days of grace: the late one is on time, the one promised 03-10 is pending now.
    late_ok = otif(df, as_of="2025-03-10", tolerance_days=4).iloc[0]
    assert (late_ok["due"], late_ok["pending"]) == (4, 2)
    assert late_ok["on_time_pct"] == pytest.approx(50.0)
    # Default as_of: the latest order or delivery date (2025-03-20), never a promise date.
    default = otif(df).iloc[0]
    assert (default["due"], default["pending"], default["undelivered"]) == (6, 0, 2)


def test_otif_bad_input() -> None:
    df = pd.DataFrame(
        {
            "ordered_at": pd.to_datetime(
                ["2025-03-05 10:00", "2025-03-05 00:00", "2025-03-05 08:00"]
            ),
            "promised_date": pd.to_datetime(["2025-03-08"] * 3),
            "delivered_date": pd.to_datetime(["2025-03-04", "2025-03-05", "2025-03-06"]),
            "quantity": [1.0, 1.0, -3.0],
            "quantity_delivered": [1.0, 1.0, 1.0],
        }
    )
    with pytest.raises(kf.KpiInputError) as err:
        otif(df, as_of="2025-03-30")
    e = err.value
    assert (e.column, e.count) == ("delivered_date", 1)
    assert e.example == "delivered 2025-03-04, ordered_at 2025-03-05"
    assert "delivered before the order date" in str(e) and "negative quantity" in str(e)
    out = otif(df, as_of="2025-03-30", on_invalid="drop").iloc[0]
    assert (out["n"], out["invalid"], out["due"], out["on_time_pct"]) == (3, 2, 1, 100.0)
    with pytest.raises(kf.KpiInputError, match="tolerance"):
        otif(df, tolerance=1.5)


def test_otif_and_accuracy_on_demo_are_realistic(demo: kf.demo.DemoData) -> None:
    o = demo.orders
    overall = otif(o).iloc[0]
    assert 85 < overall["on_time_pct"] < 95
    assert overall["in_full_pct"] > 90 and overall["otif_pct"] <= overall["on_time_pct"]
    assert overall["pending"] > 0 and overall["due"] + overall["pending"] == o.num_rows
    acc = order_accuracy(o).iloc[0]
    assert 95 < acc["accuracy_pct"] < 98.5
    errors = sum(acc[f"errors_{t}"] for t in ("picking", "packing", "loading", "other"))
    assert errors == acc["n"] - round(acc["n"] * acc["accuracy_pct"] / 100)
    assert acc["errors_other"] == 0
    by_count = order_accuracy(o, error_count="error_count")
    assert by_count.loc[0, "accuracy_pct"] == acc["accuracy_pct"]
    ss = self_service_adoption(o, by="region", period="year")
    assert ss["self_service_pct"].between(20, 95).all()
    rev = revenue(o, by="region")
    assert rev["revenue"].sum() == pytest.approx(pc.sum(o["amount"]).as_py(), rel=1e-12)
    assert rev["n"].sum() == o.num_rows


def test_one_scan_of_several_order_kpis(demo: kf.demo.DemoData) -> None:
    o = demo.orders
    together = kf.compute(
        o,
        ["revenue", "self_service_adoption", "cross_sell", "order_accuracy", "otif"],
        by="rep_id",
        period="quarter",
    )
    # Columns named after the kind keep their name, the others are prefixed with it.
    assert {
        "revenue_n",
        "revenue",
        "revenue_average_ticket_ci_low",
        "otif_pct",
        "otif_due",
        "cross_sell_pct",
        "order_accuracy_errors_picking",
        "self_service_adoption_self_service_pct",
    } <= set(together.columns)
    alone = otif(o, by="rep_id", period="quarter")
    np.testing.assert_array_equal(together["otif_pct"], alone["otif_pct"])
    np.testing.assert_array_equal(together["otif_pending"], alone["pending"])


def test_interval_level_follows_confidence() -> None:
    df = pd.DataFrame({"has_addon": [True, False, False, True, False]})
    out = cross_sell(df, confidence=0.9)
    lo, hi = wilson(2, 5, sps.norm.ppf(0.95))
    assert close(out.loc[0, "cross_sell_pct_ci_low"], lo)
    assert close(out.loc[0, "cross_sell_pct_ci_high"], hi)
