"""Every accepted input type gives the same answer; segments of every key type."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.dataset as pads
import pytest

import kpiforge as kf

SCORES = [10, 9, 3, None, 7, 10, 0, 8, 9, 6]
REPS = ["a", "b", "a", "a", None, "b", "c", "a", "b", None]


@pytest.fixture
def table() -> pa.Table:
    days = [dt.date(2025, 1, 1) + dt.timedelta(days=40 * i) for i in range(len(SCORES))]
    return pa.table(
        {
            "rep_id": REPS,
            "score": pa.array(SCORES, pa.int64()),
            "responded_at": pa.array(days, pa.date32()),
        }
    )


class StreamOnly:
    """Exposes only the Arrow PyCapsule stream interface."""

    def __init__(self, table: pa.Table) -> None:
        self._table = table

    def __arrow_c_stream__(self, requested_schema: object = None) -> object:
        return self._table.__arrow_c_stream__(requested_schema)


def variants(table: pa.Table) -> dict[str, object]:
    pdf = table.to_pandas()
    return {
        "pyarrow.Table": table,
        "pyarrow.RecordBatch": table.combine_chunks().to_batches()[0],
        "RecordBatchReader": pa.RecordBatchReader.from_batches(
            table.schema, table.to_batches(max_chunksize=3)
        ),
        "dataset": pads.dataset(table),
        "polars": pl.from_arrow(table),
        "pandas": pdf,
        "pandas[pyarrow]": pdf.convert_dtypes(dtype_backend="pyarrow"),
        "pandas categorical": pdf.assign(rep_id=pdf["rep_id"].astype("category")),
        "utf8view": table.set_column(0, "rep_id", table["rep_id"].cast(pa.string_view())),
        "large_utf8": table.set_column(0, "rep_id", table["rep_id"].cast(pa.large_string())),
        "dictionary": table.set_column(0, "rep_id", table["rep_id"].dictionary_encode()),
        "capsule object": StreamOnly(table),
    }


def test_every_input_type_gives_the_same_answer(table: pa.Table) -> None:
    expected = kf.nps(table, by="rep_id", period="quarter")
    for name, data in variants(table).items():
        got = kf.nps(data, by="rep_id", period="quarter")
        pd.testing.assert_frame_equal(got, expected, obj=name)


@pytest.mark.parametrize(
    "keys",
    [
        pa.array([1, 2, 1, None, 2, 1, 3, 1, 2, None], pa.int32()),
        pa.array([1, 2, 1, None, 2, 1, 3, 1, 2, None], pa.uint64()),
        pa.array([True, False, True, None, False, True, True, True, False, None]),
        pa.array([dt.date(2025, 1, d % 3 + 1) for d in range(9)] + [None], pa.date32()),
        pa.array([dt.datetime(2025, 1, d % 3 + 1) for d in range(9)] + [None], pa.timestamp("us")),
    ],
)
def test_key_types(table: pa.Table, keys: pa.Array) -> None:
    t = table.append_column("k", keys)
    out = kf.nps(t, by="k", output="arrow")
    assert out.schema.field("k").type == keys.type
    ref = t.to_pandas().groupby("k", dropna=False)["score"].count()
    assert sorted(out["n"].to_pylist()) == sorted(ref.tolist())
    # null is its own segment, sorted last
    assert out["k"][out.num_rows - 1].as_py() is None


def test_multi_column_segments_with_nulls(table: pa.Table) -> None:
    t = table.append_column(
        "region", pa.array(["N", "S", None, "N", "S", "N", None, "N", "S", "S"])
    )
    out = kf.nps(t, by=["region", "rep_id"])
    ref = (
        t.to_pandas()
        .groupby(["region", "rep_id"], dropna=False)["score"]
        .agg(["count", "size"])
        .reset_index()
    )
    assert len(out) == len(ref)
    assert out["n"].sum() == 9 and out["missing"].sum() == 1
    # sorted by region then rep, nulls last
    keys = list(zip(out["region"].fillna("~"), out["rep_id"].fillna("~"), strict=True))
    assert keys == sorted(keys)


def test_float_scores_and_other_numeric_types(table: pa.Table) -> None:
    expected = kf.nps(table)
    for t in (pa.float64(), pa.float32(), pa.int8(), pa.uint16()):
        got = kf.nps(table.set_column(1, "score", table["score"].cast(t)))
        pd.testing.assert_frame_equal(got, expected)


def test_pyarrow_input_is_not_copied() -> None:
    # A large table goes through without a copy: memory stays flat.
    n = 5_000_000
    t = pa.table({"score": pa.array(np.arange(n) % 11, pa.int64())})
    before = pa.total_allocated_bytes()
    out = kf.nps(t, output="arrow")
    assert out["n"][0].as_py() == n
    assert pa.total_allocated_bytes() - before < 1_000_000


def test_empty_table(table: pa.Table) -> None:
    out = kf.nps(table.slice(0, 0), by="rep_id", period="month")
    assert len(out) == 0
    assert {"rep_id", "period", "nps"} <= set(out.columns)


def test_no_rows_after_filter(table: pa.Table) -> None:
    t = table.append_column("survey_type", pa.array(["csat"] * table.num_rows))
    out = kf.nps(t, by="rep_id")
    assert (out["n"] == 0).all() and out["nps"].isna().all()


def test_pandas_index_levels_and_period_columns(table: pa.Table) -> None:
    expected = kf.nps(table, by="rep_id", period="quarter")
    df = table.to_pandas()
    # Named index levels are read as columns: set_index does not hide the dates or keys.
    pd.testing.assert_frame_equal(
        kf.nps(df.set_index("responded_at"), by="rep_id", period="quarter"), expected
    )
    pd.testing.assert_frame_equal(
        kf.nps(df.set_index(["rep_id", "responded_at"]), by="rep_id", period="quarter"), expected
    )
    # A column of the same name as an index level wins.
    shadow = df.set_index(pd.Index(["x"] * len(df), name="rep_id"))
    pd.testing.assert_frame_equal(kf.nps(shadow, by="rep_id", period="quarter"), expected)
    # pandas Periods are dates (their start).
    as_periods = df.assign(responded_at=pd.to_datetime(df.responded_at).dt.to_period("D"))
    pd.testing.assert_frame_equal(kf.nps(as_periods, by="rep_id", period="quarter"), expected)


def test_repeated_column_names_are_errors(table: pa.Table) -> None:
    df = table.to_pandas()
    with pytest.raises(kf.KpiInputError, match="2 columns named 'score'") as err:
        kf.nps(pd.concat([df, df[["score"]]], axis=1))
    assert err.value.column == "score"
    twice = pa.Table.from_arrays(
        [*table.columns, table["score"]], names=[*table.column_names, "score"]
    )
    with pytest.raises(kf.KpiInputError, match="2 columns named 'score' \\(score=\\)"):
        kf.nps(twice)
    # A repeated name no KPI reads is no error.
    other = pa.Table.from_arrays(
        [*table.columns, table["score"], table["score"]], names=[*table.column_names, "x", "x"]
    )
    pd.testing.assert_frame_equal(kf.nps(other), kf.nps(table))
