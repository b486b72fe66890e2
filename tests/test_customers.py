"""Per-customer order KPIs against plain pandas references."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

import kpiforge as kf
from conftest import close, quarter_label

orders_strategy = st.lists(
    st.tuples(
        st.sampled_from(["c1", "c2", "c3", "c4", "c5"]),
        st.sampled_from(["east", "west"]),
        st.dates(dt.date(2024, 1, 1), dt.date(2024, 12, 31)),
    ),
    min_size=1,
    max_size=60,
)


def frame(data: list) -> pd.DataFrame:
    df = pd.DataFrame(data, columns=["customer_id", "region", "day"])
    df["ordered_at"] = pd.to_datetime(df["day"])
    return df


def ref_repeat(df: pd.DataFrame, window: int, as_of: pd.Timestamp) -> dict:
    """{(region, quarter): (customers, censored, eligible, repeaters, km_pct)} by the book."""
    df = df[df.ordered_at <= as_of].assign(q=lambda d: d.ordered_at.map(quarter_label))
    out = {}
    for (region, q), cell in df.groupby(["region", "q"]):
        customers = censored = eligible = repeaters = 0
        times = []  # (time, event) for Kaplan-Meier
        for cust, g in cell.groupby("customer_id"):
            anchor = g.ordered_at.min()
            later = df[(df.customer_id == cust) & (df.ordered_at > anchor)].ordered_at
            gap = (later.min() - anchor).days if len(later) else None
            customers += 1
            if (anchor + pd.Timedelta(days=window)) > as_of:
                censored += 1
            else:
                eligible += 1
                repeaters += gap is not None and gap <= window
            observed = min((as_of - anchor).days, window)
            if gap is not None and gap <= observed:
                times.append((gap, True))
            else:
                times.append((observed, False))
        survival = 1.0
        for t in sorted({t for t, e in times if e}):
            at_risk = sum(1 for u, _ in times if u >= t)
            deaths = sum(1 for u, e in times if e and u == t)
            survival *= 1 - deaths / at_risk
        out[(region, q)] = (customers, censored, eligible, repeaters, 100 * (1 - survival))
    return out


@given(orders_strategy, st.sampled_from([7, 30, 90]))
def test_repeat_purchase_matches_reference(data: list, window: int) -> None:
    df = frame(data)
    as_of = df.ordered_at.max()
    out = kf.repeat_purchase_rate(
        df, by="region", period="quarter", window=window, method="kaplan_meier"
    )
    ref = ref_repeat(df, window, as_of)
    assert len(out) == len(ref)
    for row in out.itertuples():
        c, cen, el, rep, km = ref[(row.region, row.period)]
        assert (row.customers, row.censored, row.eligible, row.repeaters) == (c, cen, el, rep)
        assert close(row.repeat_rate_pct, 100 * rep / el if el else np.nan)
        assert close(row.repeat_rate_km_pct, km)


def test_censoring_does_not_flatter_the_last_period() -> None:
    # Every customer orders every 60 days, forever: every anchor repeats. Orders
    # after as_of are not known yet, so late anchors are censored, never counted
    # as non-repeaters (which would drag the last quarter down) and never counted
    # only when they already repeated (which would flatter it).
    rows = [
        (f"c{s}", pd.Timestamp("2024-01-01") + pd.Timedelta(days=s + 60 * k))
        for s in range(60)
        for k in range(9)
    ]
    df = pd.DataFrame(rows, columns=["customer_id", "ordered_at"])
    out = kf.repeat_purchase_rate(df, period="quarter", as_of="2024-12-31")
    assert (out.loc[out.eligible > 0, "repeat_rate_pct"] == 100).all()
    q4 = out[out.period == "2024-Q4"].iloc[0]
    assert q4.censored > 0 and q4.eligible > 0
    assert q4.customers == q4.censored + q4.eligible


def test_retention_matches_reference() -> None:
    rng = np.random.default_rng(3)
    n = 3000
    df = pd.DataFrame(
        {
            "customer_id": rng.integers(0, 400, n).astype(str),
            "ordered_at": pd.Timestamp("2024-01-01")
            + pd.to_timedelta(rng.integers(0, 540, n), unit="D"),
            "region": rng.choice(["n", "s"], n),
        }
    )
    out = kf.retention(df, by="region", period="quarter")
    df["q"] = df.ordered_at.map(quarter_label)
    quarters = sorted(df.q.unique())
    active_any = {q: set(df.loc[df.q == q, "customer_id"]) for q in quarters}
    for row in out.itertuples():
        i = quarters.index(row.period)
        here = set(df.loc[(df.q == row.period) & (df.region == row.region), "customer_id"])
        assert row.active_customers == len(here)
        if i == 0:
            assert row.previous_customers == 0
            continue
        prev = set(df.loc[(df.q == quarters[i - 1]) & (df.region == row.region), "customer_id"])
        back = prev & active_any[row.period]
        assert (row.previous_customers, row.retained) == (len(prev), len(back))
        assert close(row.retention_pct, 100 * len(back) / len(prev))
        assert close(row.churn_pct, 100 - 100 * len(back) / len(prev))
        # Churn's interval mirrors retention's.
        assert close(row.churn_pct_ci_low, 100 - row.retention_pct_ci_high)
        assert close(row.churn_pct_ci_high, 100 - row.retention_pct_ci_low)
        assert row.retention_pct_ci_low <= row.retention_pct <= row.retention_pct_ci_high


def test_purchase_frequency_matches_reference() -> None:
    rng = np.random.default_rng(5)
    n = 2000
    df = pd.DataFrame(
        {
            "customer_id": rng.integers(0, 150, n).astype(str),
            "ordered_at": pd.Timestamp("2025-01-01")
            + pd.to_timedelta(rng.integers(0, 300, n), unit="D"),
        }
    )
    out = kf.purchase_frequency(df, period="quarter")
    df["q"] = df.ordered_at.map(quarter_label)
    as_of = df.ordered_at.max()
    for row in out.itertuples():
        cell = df[df.q == row.period]
        assert row.orders == len(cell)
        assert row.customers == cell.customer_id.nunique()
        gaps = []
        for _cust, g in df.groupby("customer_id"):
            visit_days = np.sort(g.ordered_at.unique())
            for a, b in zip(visit_days[:-1], visit_days[1:], strict=True):
                if quarter_label(pd.Timestamp(b)) == row.period:
                    gaps.append((b - a) / np.timedelta64(1, "D"))
        assert close(row.days_between_orders_p50, float(np.median(gaps)))
        end = min(pd.Period(row.period.replace("-", ""), "Q").end_time.normalize(), as_of)
        recency = [(end - g.ordered_at.max()).days for _, g in cell.groupby("customer_id")]
        assert close(row.days_since_last_order_p50, float(np.median(recency)))


def test_cohort_retention_matches_reference(demo: kf.demo.DemoData) -> None:
    orders = demo.orders
    long = kf.cohort_retention(orders, period="quarter")
    df = orders.select(["customer_id", "ordered_at"]).to_pandas()
    df["q"] = df.ordered_at.dt.to_period("Q")
    first = df.groupby("customer_id")["q"].min().rename("cohort_q")
    df = df.join(first, on="customer_id")
    df["k"] = (df.q - df.cohort_q).map(lambda x: x.n)
    ref = df.groupby(["cohort_q", "k"])["customer_id"].nunique()
    for row in long.sample(40, random_state=1).itertuples():
        q = pd.Period(row.cohort.replace("-", ""), "Q")
        assert row.active_customers == ref.get((q, row.periods_since), 0)
    sizes = df.groupby("cohort_q")["customer_id"].nunique()
    assert long.groupby("cohort")["cohort_size"].first().sum() == sizes.sum()
    matrix = kf.cohort_retention(orders, period="quarter", shape="matrix")
    assert (matrix[0] == 100).all()


def test_chunking_and_threads_are_exact(demo: kf.demo.DemoData) -> None:
    o = demo.orders
    kpis = [
        kf.Kpi("repeat_purchase_rate", method="kaplan_meier"),
        "retention",
        "purchase_frequency",
    ]
    expected = kf.compute(o, kpis, by="rep_id", period="quarter")
    reader = pa.RecordBatchReader.from_batches(o.schema, o.to_batches(max_chunksize=3_333))
    pd.testing.assert_frame_equal(kf.compute(reader, kpis, by="rep_id", period="quarter"), expected)
    pd.testing.assert_frame_equal(
        kf.compute(o, kpis, by="rep_id", period="quarter", threads=1), expected
    )


def test_demo_repeat_rate_is_realistic(demo: kf.demo.DemoData) -> None:
    out = kf.repeat_purchase_rate(demo.orders, period="quarter", method="kaplan_meier")
    full = out[out.censored == 0]
    assert full.repeat_rate_pct.between(40, 90).all()
    last = out.iloc[-1]
    assert last.censored > 0  # the latest anchors' windows are not complete


def test_customer_kpis_need_their_columns() -> None:
    df = pd.DataFrame({"ordered_at": pd.to_datetime(["2025-01-01"]), "cust": ["a"]})
    with pytest.raises(kf.KpiInputError, match="customer_id"):
        kf.repeat_purchase_rate(df)
    assert kf.repeat_purchase_rate(df, customer="cust").loc[0, "customers"] == 1
    with pytest.raises(kf.KpiInputError, match="period"):
        kf.retention(df, customer="cust", period=None)
    with pytest.raises(kf.KpiInputError, match="window"):
        kf.repeat_purchase_rate(df, customer="cust", window=0)
    with pytest.raises(kf.KpiInputError, match="null customer") as err:
        kf.repeat_purchase_rate(
            pd.DataFrame(
                {"ordered_at": pd.to_datetime(["2025-01-01"] * 2), "customer_id": ["a", None]}
            )
        )
    assert err.value.count == 1


def test_self_service_customer_share_matches_reference(demo: kf.demo.DemoData) -> None:
    out = kf.self_service_adoption(
        demo.orders, by="region", period="quarter", customer="customer_id"
    )
    df = demo.orders.select(["region", "customer_id", "channel", "ordered_at"]).to_pandas()
    df["q"] = df.ordered_at.map(quarter_label)
    df["self"] = df.channel.isin(["portal", "app", "web", "edi"])
    ref = df.groupby(["region", "q", "customer_id"])["self"].any().groupby(["region", "q"])
    for row in out.sample(15, random_state=2).itertuples():
        cell = ref.get_group((row.region, row.period))
        assert (row.customers, row.self_service_customers) == (len(cell), int(cell.sum()))
        assert close(row.self_service_customers_pct, 100 * cell.mean())


def test_walks_past_the_grid_of_cells_match_reference() -> None:
    # 600 stores by 450 days is past the grid a walk finds its cells in
    # (2^18 cells), so the cells are written through the fallback; most orders
    # fall on four days, so many customers share a cell and the engine merges
    # their states.
    rng = np.random.default_rng(8)
    n = 6000
    day = np.where(rng.random(n) < 0.9, rng.integers(0, 4, n), rng.integers(0, 450, n))
    df = pd.DataFrame(
        {
            "customer_id": rng.integers(0, 300, n).astype(str),
            "store": rng.integers(0, 600, n),
            "channel": rng.choice(["web", "phone", "branch"], n),
            "ordered_at": pd.Timestamp("2025-01-01") + pd.to_timedelta(day, unit="D"),
        }
    )
    window = 30
    repeat = kf.repeat_purchase_rate(df, by="store", period="day", window=window)
    adoption = kf.self_service_adoption(df, by="store", period="day", customer="customer_id")
    assert repeat.store.nunique() * (df.ordered_at.max() - df.ordered_at.min()).days > 1 << 18

    as_of = df.ordered_at.max()
    days = df[["customer_id", "ordered_at"]].drop_duplicates().sort_values("ordered_at")
    days["next"] = days.groupby("customer_id").ordered_at.shift(-1)
    cells = (
        df.assign(web=df.channel == "web")
        .groupby(["store", "ordered_at", "customer_id"], as_index=False)["web"]
        .any()
        .merge(days, on=["customer_id", "ordered_at"])
    )
    cells["censored"] = cells.ordered_at + pd.Timedelta(days=window) > as_of
    gap = (cells.next - cells.ordered_at).dt.days
    cells["repeater"] = ~cells.censored & (gap <= window)
    ref = cells.groupby(["store", "ordered_at"]).agg(
        customers=("customer_id", "size"),
        censored=("censored", "sum"),
        repeaters=("repeater", "sum"),
        self_service=("web", "sum"),
    )
    assert ref.customers.gt(1).sum() > 100  # shared cells
    for out in (repeat, adoption):
        assert len(out) == len(ref)
    got = repeat.set_index(["store", pd.to_datetime(repeat.period_start)])
    got.index.names = ["store", "ordered_at"]
    got = got.loc[ref.index]
    assert (got.customers.to_numpy() == ref.customers.to_numpy()).all()
    assert (got.censored.to_numpy() == ref.censored.to_numpy()).all()
    assert (got.eligible.to_numpy() == (ref.customers - ref.censored).to_numpy()).all()
    assert (got.repeaters.to_numpy() == ref.repeaters.to_numpy()).all()
    got = adoption.set_index(["store", pd.to_datetime(adoption.period_start)]).loc[ref.index]
    assert (got.customers.to_numpy() == ref.customers.to_numpy()).all()
    assert (got.self_service_customers.to_numpy() == ref.self_service.to_numpy()).all()


def test_customers_with_many_cells_match_reference() -> None:
    # A few big accounts ordering through four stores over a year of weeks:
    # each account's walk has dozens of cells, which the walks look up in
    # their sorted visits instead of scanning the history once per cell.
    rng = np.random.default_rng(12)
    n = 3000
    df = pd.DataFrame(
        {
            "customer_id": rng.choice(["a", "b", "c"], n),
            "store": rng.integers(0, 4, n),
            "channel": rng.choice(["web", "phone"], n, p=[0.05, 0.95]),
            "ordered_at": pd.Timestamp("2025-01-06")
            + pd.to_timedelta(rng.integers(0, 364, n), unit="D"),
        }
    )
    df["week"] = df.ordered_at.dt.to_period("W-SUN").dt.start_time
    frequency = kf.purchase_frequency(df, by="store", period="week")
    adoption = kf.self_service_adoption(df, by="store", period="week", customer="customer_id")
    as_of = df.ordered_at.max()
    cells = df.groupby(["store", "week", "customer_id"]).agg(
        last=("ordered_at", "max"), web=("channel", lambda c: (c == "web").any())
    )
    assert cells.groupby("customer_id").size().min() > 8
    week_end = cells.index.get_level_values("week") + pd.Timedelta(days=6)
    end = pd.Series(week_end, index=cells.index).clip(upper=as_of)
    cells["recency"] = (end - cells["last"]).dt.days
    ref = cells.groupby(["store", "week"]).agg(
        customers=("last", "size"), recency=("recency", "median"), self_service=("web", "sum")
    )
    got = frequency.set_index(["store", pd.to_datetime(frequency.period_start)]).loc[ref.index]
    assert (got.customers.to_numpy() == ref.customers.to_numpy()).all()
    assert np.allclose(got.days_since_last_order_p50.to_numpy(), ref.recency.to_numpy())
    got = adoption.set_index(["store", pd.to_datetime(adoption.period_start)]).loc[ref.index]
    assert (got.self_service_customers.to_numpy() == ref.self_service.to_numpy()).all()


@pytest.mark.parametrize("ids", ["short", "long", "int"])
def test_by_the_customer_column_matches_by_a_copy_of_it(ids: str) -> None:
    # By the customer column itself, the walks reuse the chunk's key codes
    # instead of encoding the column again: short strings (tiny keys), long
    # ones and integers, with nulls, over several chunks, must come out as
    # they do by an identical column that is not the customer's.
    rng = np.random.default_rng(17)
    n = 5_000
    cust = rng.integers(0, 300, n)
    ids_of = {
        "short": pd.array([f"c{c}" for c in cust], dtype=object),
        "long": pd.array([f"customer-{c:06d}" for c in cust], dtype=object),
        "int": pd.array(cust, dtype="Int64"),
    }
    days = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 600, n), unit="D")
    df = pd.DataFrame({"customer_id": ids_of[ids], "ordered_at": days, "channel": "portal"})
    df.loc[rng.random(n) < 0.02, "customer_id"] = None
    df["copy"] = df["customer_id"]
    table = pa.Table.from_pandas(df, preserve_index=False)
    reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=700))
    kpis = [
        kf.Kpi("repeat_purchase_rate", method="kaplan_meier"),
        "retention",
        "purchase_frequency",
        "self_service_customers",
    ]
    common = {"period": "quarter", "on_invalid": "drop"}
    # The rows without a customer are dropped, and said so, either way.
    with pytest.warns(kf.KpiDataWarning, match="null customer"):
        by_customer = kf.compute(reader, kpis, by="customer_id", **common)
    with pytest.warns(kf.KpiDataWarning, match="null customer"):
        by_copy = kf.compute(table, kpis, by="copy", **common)
    by_copy = by_copy.rename(columns={"copy": "customer_id"})
    pd.testing.assert_frame_equal(by_customer, by_copy)
    # And by the book: one customer per segment.
    known = df.dropna(subset=["customer_id"]).assign(region=lambda d: d.customer_id)
    ref = ref_repeat(known, 90, df.ordered_at.max())
    # (Retention adds the quarters after a customer's last order.)
    names = ("customers", "censored", "eligible", "repeaters")
    counts = [f"repeat_purchase_rate_{c}" for c in names]
    rows = by_customer[by_customer[counts[0]] > 0]
    assert len(rows) == len(ref)
    for key, period, *got in rows[["customer_id", "period", *counts]].itertuples(index=False):
        assert tuple(got) == ref[(key, period)][:4]


def by_customer_and_by_copy(table: pa.Table, kpis: list, chunk: int, **call: object) -> tuple:
    """The call by the customer column (in batches of `chunk` rows) and by an
    identical column that is not the customer's, with the warnings each gave."""
    import warnings

    table = table.append_column("copy", table["customer_id"])
    reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=chunk))
    results = []
    for by, data in (("customer_id", reader), ("copy", table)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = kf.compute(data, kpis, by=by, **call)
        results.append((out, sorted(str(w.message) for w in caught)))
    (mine, my_warnings), (walked, walked_warnings) = results
    walked = walked.rename(columns={"copy": "customer_id"})
    return mine, walked, my_warnings, walked_warnings


@pytest.mark.parametrize("period", [None, "month", "quarter"])
@pytest.mark.parametrize("as_of", [None, "2025-03-31"])
@pytest.mark.parametrize("customers", [250, 12])
def test_repeat_purchase_by_customer_equals_the_walk(
    period: str | None, as_of: str | None, customers: int
) -> None:
    # By the customer column alone, repeat purchase is an aggregate of each
    # cell's first two order days and the next period's first (no history is
    # walked). It must give what the walk gives by an identical column: with
    # windows inside a period and across several, orders after as_of, days
    # with several orders, null and out-of-range dates, null customers, a
    # where= filter, other per-customer KPIs in the call, several chunks
    # (with few customers, chunks keep states of their own that are merged).
    rng = np.random.default_rng(23)
    n = 6_000
    day = rng.integers(19_723, 19_723 + 700, n)  # 2024-01-01 on
    day[rng.random(n) < 0.3] = 19_900  # a busy day: same-day orders
    day[rng.random(n) < 0.005] = 3_000_000  # past year 9999
    cust = pd.array([f"c{c}" for c in rng.integers(0, customers, n)], dtype=object)
    cust[rng.random(n) < 0.02] = None
    ordered_at = pa.array(day, pa.int32()).cast(pa.date32())
    ordered_at = pa.compute.if_else(pa.array(rng.random(n) < 0.01), None, ordered_at)
    table = pa.table(
        {
            "customer_id": pa.array(cust, pa.string()),
            "ordered_at": ordered_at,
            "channel": pa.array(rng.choice(["web", "phone", "edi"], n)),
        }
    )
    kpis = [
        kf.Kpi("repeat_purchase_rate", name="short", window=20),
        kf.Kpi("repeat_purchase_rate", name="long", window=200, method="kaplan_meier"),
        kf.Kpi("repeat_purchase_rate", name="web", where={"channel": "web"}),
        kf.Kpi("purchase_frequency"),
    ]
    call = {"period": period, "as_of": as_of, "on_invalid": "drop"}
    mine, walked, my_warnings, walked_warnings = by_customer_and_by_copy(table, kpis, 900, **call)
    pd.testing.assert_frame_equal(mine, walked)
    assert my_warnings == walked_warnings
    assert any("null customer" in w for w in my_warnings)
    assert (mine["long_repeaters"] > 0).sum() > customers // 5
    if period and customers > 100:
        assert (mine["short_censored"] > 0).sum() > 10


@given(
    orders_strategy,
    st.integers(1, 400),
    st.sampled_from([None, "week", "month", "quarter", "year"]),
    st.dates(dt.date(2024, 1, 1), dt.date(2025, 3, 1)),
    st.integers(1, 40),
)
def test_repeat_purchase_by_customer_property(
    data: list, window: int, period: str | None, as_of: dt.date, chunk: int
) -> None:
    table = pa.Table.from_pandas(frame(data)[["customer_id", "ordered_at"]], preserve_index=False)
    kpis = [kf.Kpi("repeat_purchase_rate", window=window, method="kaplan_meier")]
    call = {"period": period, "as_of": as_of.isoformat()}
    mine, walked, _, _ = by_customer_and_by_copy(table, kpis, chunk, **call)
    pd.testing.assert_frame_equal(mine, walked)
