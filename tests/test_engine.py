"""Engine properties: chunking, threads, permutation and fork give the same answer."""

from __future__ import annotations

import multiprocessing as mp

import pandas as pd
import pyarrow as pa
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
