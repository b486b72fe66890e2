"""Engine properties: chunking, threads, permutation and fork give the same answer."""

from __future__ import annotations

import multiprocessing as mp

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

import kpiforge as kf

KPIS = ["nps", "csat", "ces"]


def test_chunking_and_threads_do_not_change_results(demo: kf.demo.DemoData) -> None:
    r = demo.responses
    expected = kf.compute(r, KPIS, by=["region", "rep_id"], period="month")
    for size in (1_000, 7_777, 100_000):
        reader = pa.RecordBatchReader.from_batches(r.schema, r.to_batches(max_chunksize=size))
        got = kf.compute(reader, KPIS, by=["region", "rep_id"], period="month")
        pd.testing.assert_frame_equal(got, expected)
    for threads in (1, 2, 5):
        got = kf.compute(r, KPIS, by=["region", "rep_id"], period="month", threads=threads)
        pd.testing.assert_frame_equal(got, expected)


@given(st.randoms(use_true_random=False))
def test_row_order_does_not_matter(rng) -> None:  # type: ignore[no-untyped-def]
    df = pd.DataFrame(
        {
            "score": [rng.randint(0, 10) for _ in range(300)],
            "seg": [rng.choice("abcd") for _ in range(300)],
        }
    )
    expected = kf.nps(df, by="seg")
    shuffled = df.sample(frac=1, random_state=rng.randint(0, 999)).reset_index(drop=True)
    pd.testing.assert_frame_equal(kf.nps(shuffled, by="seg"), expected)


def test_other_segments_do_not_change_this_one() -> None:
    df = pd.DataFrame({"score": [10, 3, 8], "seg": ["a", "a", "a"]})
    more = pd.concat([df, pd.DataFrame({"score": [0] * 50, "seg": ["b"] * 50})])
    a = kf.nps(df, by="seg")
    b = kf.nps(more, by="seg")
    pd.testing.assert_frame_equal(b[b.seg == "a"].reset_index(drop=True), a)


def test_many_segments() -> None:
    n = 200_000
    t = pa.table(
        {
            "score": pa.array([i % 11 for i in range(n)]),
            "seg": pa.array([f"s{i % 100_000}" for i in range(n)]),
        }
    )
    out = kf.nps(t, by="seg", output="arrow")
    assert out.num_rows == 100_000
    assert pa.compute.sum(out["n"]).as_py() == n


def test_a_call_of_millions_of_cells_returns_freed_memory_at_once() -> None:
    # From 2^22 cells a call's finish hands freed memory straight back to the
    # system (mimalloc's purge delay 0, process-wide, while it finishes): the
    # guards nest, and the delay is restored after the last one.
    before = kf._core._purge_delay()
    try:
        kf._core._hold_purge_at_once(2)
        both = kf._core._purge_delay()
        kf._core._hold_purge_at_once(1)
        one = kf._core._purge_delay()
    finally:
        kf._core._hold_purge_at_once(0)
    after = kf._core._purge_delay()
    assert (both, one) == (0, 0) and after == before
    # A call past the threshold computes the same numbers and leaves the delay as it was.
    n = 1 << 22
    rng = np.random.default_rng(3)
    seg = rng.permutation(n)
    amount = rng.integers(1, 1000, n).astype(float)
    out = kf.revenue(
        pa.table(
            {
                "seg": seg,
                "ordered_at": pa.array(np.zeros(n, "int32")).cast(pa.date32()),
                "amount": amount,
            }
        ),
        by="seg",
        volume=None,
        output="arrow",
    )
    assert out.num_rows == n
    by_segment = np.empty(n)
    by_segment[seg] = amount  # segment seg[i] has the one order i
    np.testing.assert_array_equal(out["revenue"].to_numpy(), by_segment[out["seg"].to_numpy()])
    assert (out["n"].to_numpy() == 1).all()
    assert kf._core._purge_delay() == before


def _child(q: mp.Queue[int]) -> None:
    df = pd.DataFrame({"score": [10, 9, 1]})
    q.put(int(kf.nps(df).loc[0, "n"]))


def test_works_in_a_forked_child() -> None:
    kf.nps(pd.DataFrame({"score": [10]}))  # start the thread pool in the parent
    ctx = mp.get_context("fork")
    q: mp.Queue[int] = ctx.Queue()
    p = ctx.Process(target=_child, args=(q,))
    p.start()
    p.join(60)
    assert p.exitcode == 0
    assert q.get(timeout=5) == 3


def _purge_delay_in_child(q: mp.Queue[int]) -> None:
    q.put(kf._core._purge_delay())


def test_a_forked_child_does_not_keep_a_purge_at_once_it_forked_under() -> None:
    # A guard held at the fork has no holder in the child: the child starts
    # with the allocator's own purge delay, not the call's 0.
    default = kf._core._purge_delay()
    ctx = mp.get_context("fork")
    q: mp.Queue[int] = ctx.Queue()
    kf._core._hold_purge_at_once(1)
    try:
        assert kf._core._purge_delay() == 0
        p = ctx.Process(target=_purge_delay_in_child, args=(q,))
        p.start()
        p.join(60)
    finally:
        kf._core._hold_purge_at_once(0)
    assert p.exitcode == 0
    assert q.get(timeout=5) == default
    assert kf._core._purge_delay() == default


def _mixed_cardinality_responses() -> pa.Table:
    """Three chunks' worth of rows: few segments first (chunk-local states), then
    about one segment per row (rows folded straight into the global states),
    then few again; two survey types, and invalid scores in every part."""
    n = 3 * 65_536
    seg, score, kind = [], [], []
    for i in range(n):
        many = 65_536 <= i < 2 * 65_536
        seg.append(f"s{(i * 7919) % 60_000}" if many else f"r{i % 5}")
        score.append(11 if i % 997 == 0 else i % 11)
        kind.append("nps" if i % 3 else "csat")
    day = pa.array([(i // 5_000) * 3 for i in range(n)], pa.int32()).cast(pa.date32())
    return pa.table({"seg": seg, "score": score, "survey_type": kind, "responded_at": day})


def test_local_and_direct_chunks_agree_with_a_reference() -> None:
    t = _mixed_cardinality_responses()
    kpis = [kf.Kpi("nps"), kf.Kpi("csat", top_box_min=4)]
    common = {"by": "seg", "period": "quarter", "on_invalid": "drop"}
    out = kf.compute(t, kpis, **common)
    df = t.to_pandas()
    df["quarter"] = pd.to_datetime(df["responded_at"]).dt.to_period("Q").dt.start_time.dt.date
    nps_rows = df[(df.survey_type == "nps") & (df.score <= 10)]
    ref = nps_rows.groupby(["seg", "quarter"]).agg(
        n=("score", "size"),
        promoters=("score", lambda s: int((s >= 9).sum())),
        detractors=("score", lambda s: int((s <= 6).sum())),
    )
    invalid = df[(df.survey_type == "nps") & (df.score > 10)].groupby(["seg", "quarter"]).size()
    got = out.assign(quarter=pd.to_datetime(out["period_start"]).dt.date)
    got = got.set_index(["seg", "quarter"])
    got = got[got["nps_n"] > 0]
    assert len(got) == len(ref)
    joined = ref.join(got, how="left")
    assert (joined["n"] == joined["nps_n"]).all()
    assert (joined["promoters"] == joined["nps_promoters"]).all()
    assert (joined["detractors"] == joined["nps_detractors"]).all()
    got_invalid = out.set_index(["seg", "period"])["nps_invalid"]
    assert int(got_invalid.sum()) == int(invalid.sum())
    # Chunk boundaries (and so which chunks fold straight in) and threads change nothing.
    for size in (10_000, 65_536, 200_000):
        reader = pa.RecordBatchReader.from_batches(t.schema, t.to_batches(max_chunksize=size))
        pd.testing.assert_frame_equal(kf.compute(reader, kpis, **common), out)
    for threads in (1, 3):
        pd.testing.assert_frame_equal(kf.compute(t, kpis, threads=threads, **common), out)
    # With on_invalid="raise" the first bad value is named, whichever kind of chunk held it.
    with pytest.raises(kf.KpiInputError, match="score"):
        kf.compute(t, kpis, by="seg", period="quarter")


def test_orders_with_many_segments_match_across_chunkings() -> None:
    n = 150_000
    t = pa.table(
        {
            "seg": [i % 70_000 for i in range(n)],
            "customer_id": [f"c{(i * 31) % 9_000}" for i in range(n)],
            "ordered_at": pa.array([i // 1_000 for i in range(n)], pa.int32()).cast(pa.date32()),
            "amount": [float(i % 97) + 0.25 for i in range(n)],
        }
    )
    kpis = [kf.Kpi("revenue", volume=None), kf.Kpi("repeat_purchase_rate", window=30)]
    common = {"by": "seg", "period": "month", "date": "ordered_at", "as_of": "1970-06-30"}
    out = kf.compute(t, kpis, **common)
    ref = t.to_pandas()
    ref["month"] = pd.to_datetime(ref["ordered_at"]).dt.to_period("M").dt.start_time.dt.date
    sums = ref.groupby(["seg", "month"])["amount"].agg(["size", "sum"])
    got = out.assign(month=pd.to_datetime(out["period_start"]).dt.date).set_index(["seg", "month"])
    assert (got.loc[sums.index, "revenue_n"].to_numpy() == sums["size"].to_numpy()).all()
    revenue = got.loc[sums.index, "revenue"].to_numpy()
    assert revenue == pytest.approx(sums["sum"].to_numpy(), rel=1e-12)
    for size in (8_192, 65_536):
        reader = pa.RecordBatchReader.from_batches(t.schema, t.to_batches(max_chunksize=size))
        got = kf.compute(reader, kpis, **common)
        pd.testing.assert_frame_equal(got, out, check_exact=False, rtol=1e-12)
    pd.testing.assert_frame_equal(kf.compute(t, kpis, threads=1, **common), out)


def test_revenue_without_volume_is_revenue_with_a_null_volume() -> None:
    # volume=None has a state of its own (no volume sum): every other column
    # equals the one with a volume, whole and merged from partials.
    rng = np.random.default_rng(7)
    n = 20_000
    t = pa.table(
        {
            "seg": rng.integers(0, 300, n),
            "ordered_at": pa.array(rng.integers(0, 400, n).astype("int32"), pa.int32()).cast(
                pa.date32()
            ),
            "amount": np.round(rng.lognormal(4, 1, n), 2),
            "quantity": rng.integers(1, 9, n).astype(float),
        }
    )
    common = {"by": "seg", "period": "quarter"}
    with_volume = kf.revenue(t, **common)
    without = kf.revenue(t, volume=None, **common)
    assert without["volume"].isna().all() and with_volume["volume"].notna().all()
    pd.testing.assert_frame_equal(
        without.drop(columns="volume"), with_volume.drop(columns="volume")
    )
    for volume in ({}, {"volume": None}):
        kpis = [kf.Kpi("revenue", **volume)]
        parts = [
            kf.compute(t.slice(i, 5_000), kpis, partial=True, **common) for i in range(0, n, 5_000)
        ]
        merged = kf.finalize(kf.merge_partials(parts))
        pd.testing.assert_frame_equal(
            merged, kf.compute(t, kpis, **common), check_exact=False, rtol=1e-12
        )


def test_short_and_long_string_keys_meet_across_chunks() -> None:
    # Chunks of ids of at most 7 bytes are encoded apart from chunks holding a
    # longer one: a segment or customer seen in both must be one segment or customer.
    n = 6_000
    long_rows = set(range(2_000, 4_000, 97))
    seg = [("a segment name longer than 7" if i in long_rows else f"s{i % 13}") for i in range(n)]
    cust = [
        ("a customer id longer than 7" if i in long_rows else f"c{(i * 7) % 401}") for i in range(n)
    ]
    t = pa.table(
        {
            "seg": seg,
            "customer_id": cust,
            "ordered_at": pa.array([i // 40 for i in range(n)], pa.int32()).cast(pa.date32()),
            "amount": [float(i % 17) for i in range(n)],
        }
    )
    kpis = [kf.Kpi("revenue", volume=None), kf.Kpi("repeat_purchase_rate", window=30)]
    common = {"by": "seg", "period": "month", "date": "ordered_at", "as_of": "1970-06-30"}
    whole = kf.compute(t, kpis, **common)
    # 1,000-row batches: the first two and the last two have short ids only.
    reader = pa.RecordBatchReader.from_batches(t.schema, t.to_batches(max_chunksize=1_000))
    pd.testing.assert_frame_equal(kf.compute(reader, kpis, **common), whole)
    ref = t.to_pandas()
    ref["month"] = pd.to_datetime(ref["ordered_at"]).dt.to_period("M").dt.start_time.dt.date
    sums = ref.groupby(["seg", "month"])["amount"].agg(["size", "sum"])
    got = whole.assign(month=pd.to_datetime(whole["period_start"]).dt.date).set_index(
        ["seg", "month"]
    )
    assert len(got) == len(sums)
    assert (got.loc[sums.index, "revenue_n"].to_numpy() == sums["size"].to_numpy()).all()
    assert np.allclose(got.loc[sums.index, "revenue"].to_numpy(), sums["sum"].to_numpy())
    # Customers in the repeat purchase rate: each (segment, month) counts its distinct customers.
    customers = ref.groupby(["seg", "month"])["customer_id"].nunique()
    assert (
        got.loc[customers.index, "repeat_purchase_rate_customers"].to_numpy()
        == customers.to_numpy()
    ).all()


def test_windows_of_chunks_do_not_change_results() -> None:
    # 40 chunks of 65,536 rows: windows of 8 chunks (1 or 2 threads), 10 (5
    # threads) or 32 (16 threads) give the same numbers, bit for bit.
    rng = np.random.default_rng(7)
    n = 40 * 65_536
    t = pa.table(
        {
            "seg": pa.array(rng.integers(0, 5_000, n)).cast(pa.string()),
            "customer_id": pa.array(rng.integers(0, 20_000, n)),
            "ordered_at": pa.array(np.sort(rng.integers(0, 400, n)).astype(np.int32)).cast(
                pa.date32()
            ),
            "amount": rng.gamma(2.0, 50.0, n),
        }
    )
    kpis = [kf.Kpi("revenue", volume=None), kf.Kpi("repeat_purchase_rate", window=30)]
    common = {"by": "seg", "period": "quarter", "date": "ordered_at", "as_of": "1971-01-31"}
    out = kf.compute(t, kpis, threads=1, **common)
    assert out["revenue_n"].sum() == n
    for threads in (2, 5, 16):
        pd.testing.assert_frame_equal(kf.compute(t, kpis, threads=threads, **common), out)


# ---- columns=: the columns asked for, and only those, built -------------------------------

CATALOG = kf.catalog()


@pytest.mark.parametrize(
    ("kind", "params"),
    [(name, {}) for name in CATALOG["name"]] + [("order_accuracy", {"error_type": None})],
)
def test_columns_builds_the_same_values_as_the_full_output(
    demo: kf.demo.DemoData, kind: str, params: dict
) -> None:
    table = getattr(demo, CATALOG.set_index("name").loc[kind, "table"])
    call = {"by": "region", "period": "quarter", "output": "arrow"}
    full = kf.compute(table, [kf.Kpi(kind, **params)], **call)
    kpi_columns = full.column_names[4:]
    # Every other column, from the first and from the second: each column is
    # both left out and kept, beside kept and left-out neighbours.
    for start in (0, 1):
        wanted = kpi_columns[start::2]
        got = kf.compute(table, [kf.Kpi(kind, **params)], columns=wanted, **call)
        assert got.column_names == full.column_names[:4] + wanted
        assert got.equals(full.select(got.column_names)), (kind, wanted)


def test_columns_across_several_kpis_and_key_columns(demo: kf.demo.DemoData) -> None:
    kpis = ["otif", kf.Kpi("nps", name="nps_all"), "repeat_purchase_rate"]
    call = {"by": ["region", "rep_id"], "period": "month"}
    orders = demo.orders
    full = kf.compute(orders, ["otif", "repeat_purchase_rate"], **call)
    wanted = ["repeat_purchase_rate_repeat_rate_pct", "otif_pct_ci_low", "period", "region"]
    got = kf.compute(orders, ["otif", "repeat_purchase_rate"], columns=wanted, **call)
    # The by and period columns always come first, then the KPI columns in output order.
    kept = ["otif_pct_ci_low", "repeat_purchase_rate_repeat_rate_pct"]
    assert list(got.columns) == [*full.columns[:5], *kept]
    pd.testing.assert_frame_equal(got, full[got.columns])
    responses = kf.compute(demo.responses, kpis[1:2], by="region", columns=["nps_all"])
    assert list(responses.columns) == ["region", "nps_all"]
    assert list(kf.compute(orders, kpis[:1], by="region", columns=[]).columns) == ["region"]


def test_columns_bad_input() -> None:
    df = pd.DataFrame({"score": [4, 3], "seg": ["a", "b"]})
    with pytest.raises(kf.KpiInputError, match="no column 'nps_pct'.*nps_ci_low"):
        kf.compute(df, ["nps"], by="seg", columns=["nps", "nps_pct"])
    with pytest.raises(kf.KpiInputError, match="list of column names"):
        kf.compute(df, ["nps"], by="seg", columns="nps")
    with pytest.raises(kf.KpiInputError, match="partial=True"):
        kf.compute(df, ["nps"], by="seg", columns=["nps"], partial=True)
    # Names are checked over the full output, built or not.
    with pytest.raises(kf.KpiInputError, match="two output columns would be named"):
        kf.compute(df, [kf.Kpi("nps", name="x"), kf.Kpi("csat", name="x")], columns=["x"])
