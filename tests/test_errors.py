"""Bad input gives a KpiInputError naming the column, the count and an example."""

from __future__ import annotations

import warnings

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kpiforge as kf


def responses(**cols: object) -> pd.DataFrame:
    base = {
        "score": [10, 9, 3],
        "responded_at": pd.to_datetime(["2025-01-01"] * 3),
        "rep_id": ["a", "b", "a"],
    }
    base.update(cols)
    return pd.DataFrame(base)


def test_missing_column_suggests_closest_name() -> None:
    with pytest.raises(kf.KpiInputError, match="Did you mean 'score'") as err:
        kf.nps(responses(), score="scroe")
    assert err.value.column == "scroe"
    with pytest.raises(kf.KpiInputError, match="rep_id"):
        kf.nps(responses(), by="repid")


def test_wrong_type() -> None:
    with pytest.raises(kf.KpiInputError, match="must be numeric") as err:
        kf.nps(responses(score=["10", "9", "3"]))
    assert err.value.column == "score"
    with pytest.raises(kf.KpiInputError, match="to_datetime"):
        kf.nps(responses(responded_at=["2025-01-01"] * 3), period="month")


def test_mixed_object_column_names_the_column() -> None:
    with pytest.raises(kf.KpiInputError) as err:
        kf.nps(responses(score=pd.Series([10, "nine", 3], dtype=object)))
    assert err.value.column == "score"
    assert "nine" in str(err.value)


def test_score_out_of_scale_counts_rows_and_gives_example() -> None:
    df = responses(score=[10, 11, 12])
    with pytest.raises(kf.KpiInputError) as err:
        kf.nps(df)
    assert (err.value.column, err.value.count, err.value.example) == ("score", 2, "11")
    assert "on_invalid" in str(err.value)
    out = kf.nps(df, on_invalid="drop")
    assert out.loc[0, "n"] == 1 and out.loc[0, "invalid"] == 2


def test_non_integer_nps_score() -> None:
    with pytest.raises(kf.KpiInputError, match="whole number") as err:
        kf.nps(responses(score=[9.5, 10.0, 3.0]))
    assert err.value.example == "9.5"


def test_nan_and_infinity_are_invalid_not_silent() -> None:
    t = pa.table({"score": pa.array([10.0, float("nan"), float("inf"), None])})
    with pytest.raises(kf.KpiInputError) as err:
        kf.nps(t)
    assert err.value.count == 2
    out = kf.nps(t, on_invalid="drop")
    assert (out.loc[0, "n"], out.loc[0, "invalid"], out.loc[0, "missing"]) == (1, 2, 1)


def test_null_dates_with_a_period() -> None:
    df = responses(responded_at=pd.to_datetime(["2025-01-01", None, "2025-02-01"]))
    with pytest.raises(kf.KpiInputError, match="null date") as err:
        kf.nps(df, period="month")
    assert (err.value.column, err.value.count) == ("responded_at", 1)
    with pytest.warns(kf.KpiDataWarning, match="1 rows with a null date"):
        out = kf.nps(df, period="month", on_invalid="drop")
    assert out["n"].sum() == 2
    assert kf.nps(df).loc[0, "n"] == 3  # no period asked: the date is not needed


def test_bad_parameters() -> None:
    df = responses()
    with pytest.raises(kf.KpiInputError, match="Did you mean 'nps'"):
        kf.compute(df, ["nsp"])
    with pytest.raises(kf.KpiInputError, match="period"):
        kf.nps(df, period="fortnight")  # type: ignore[arg-type]
    with pytest.raises(kf.KpiInputError, match="fiscal_year_start"):
        kf.nps(df, period="quarter", fiscal_year_start=13)
    with pytest.raises(kf.KpiInputError, match="confidence"):
        kf.nps(df, confidence=1.5)
    with pytest.raises(kf.KpiInputError, match="scale"):
        kf.csat(df, scale=1)
    with pytest.raises(kf.KpiInputError, match="time zone|tz"):
        kf.nps(
            df.assign(responded_at=df.responded_at.dt.tz_localize("UTC")),
            period="day",
            tz="Mars/Olympus",
        )
    with pytest.raises(kf.KpiInputError, match="as_of"):
        kf.nps(df, as_of="yesterday")
    with pytest.raises(kf.KpiInputError, match="on_invalid"):
        kf.nps(df, on_invalid="ignore")  # type: ignore[arg-type]
    with pytest.raises(kf.KpiInputError, match="cannot read"):
        kf.nps([1, 2, 3])
    with pytest.raises(kf.KpiInputError, match="distinct names"):
        kf.compute(df, ["nps", "nps"])


def test_input_error_is_a_value_error() -> None:
    assert issubclass(kf.KpiInputError, ValueError)
    assert issubclass(kf.KpiInputError, kf.KpiforgeError)


@pytest.mark.parametrize("in_pool", [False, True])
def test_rust_panic_becomes_an_exception(in_pool: bool) -> None:
    from kpiforge import _core

    with pytest.raises(kf.KpiInternalError, match="deliberate panic"):
        _core._panic_for_test(in_pool)
    # the interpreter and the thread pool still work afterwards
    assert kf.nps(responses()).loc[0, "n"] == 3


def test_options_of_the_wrong_type_name_the_option() -> None:
    # Checked before the request reaches the core, whose JSON errors would
    # name a position in a string the user never wrote.
    df = responses()
    cases: list[tuple[str, dict[str, object]]] = [
        ("where", {"where": "channel == 'web'"}),
        ("where", {"where": ["channel"]}),
        ("by", {"by": 5}),
        ("by", {"by": ["rep_id", 5]}),
        ("period", {"period": 3}),
        ("fiscal_year_start", {"period": "quarter", "fiscal_year_start": "7"}),
        ("fiscal_year_start", {"period": "quarter", "fiscal_year_start": -1}),
        ("confidence", {"confidence": "0.9"}),
        ("confidence", {"confidence": float("nan")}),
        ("threads", {"threads": -1}),
        ("threads", {"threads": "2"}),
        ("threads", {"threads": 2.5}),
        ("threads", {"threads": True}),
    ]
    for option, kwargs in cases:
        with pytest.raises(kf.KpiInputError, match=option) as err:
            kf.nps(df, **kwargs)  # type: ignore[arg-type]
        assert err.value.column == option, kwargs
        assert "line 1 column" not in str(err.value), kwargs
    with pytest.raises(kf.KpiInputError, match="kpis must be a list") as err:
        kf.compute(df, None)  # type: ignore[arg-type]
    assert err.value.column == "kpis"


def test_thread_counts_beyond_the_limit_are_refused_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A typo like threads=10**6 would otherwise start that many threads.
    df = responses()
    for n in (1025, 10**12):
        with pytest.raises(kf.KpiInputError, match=f"between 1 and 1024, got {n}"):
            kf.nps(df, threads=n)
    monkeypatch.setenv("KPIFORGE_THREADS", "many")
    with pytest.raises(kf.KpiInputError, match="KPIFORGE_THREADS must be a whole number") as err:
        kf.nps(df)
    assert err.value.column == "KPIFORGE_THREADS"
    monkeypatch.setenv("KPIFORGE_THREADS", "0")
    with pytest.raises(kf.KpiInputError, match="KPIFORGE_THREADS must be at least 1"):
        kf.nps(df)
    monkeypatch.setenv("KPIFORGE_THREADS", " 2 ")
    assert kf.nps(df).loc[0, "n"] == 3


def test_one_kpi_and_other_column_lists() -> None:
    df = responses()
    expected = kf.compute(df, ["nps"], by=["rep_id"])
    pd.testing.assert_frame_equal(kf.compute(df, "nps", by="rep_id"), expected)
    pd.testing.assert_frame_equal(kf.compute(df, kf.Kpi("nps"), by=("rep_id",)), expected)
    pd.testing.assert_frame_equal(kf.compute(df, ("nps",), by=pd.Index(["rep_id"])), expected)


def test_unknown_option_of_a_kpi_function_names_that_function() -> None:
    with pytest.raises(TypeError, match=r"nps\(\) got an unexpected .*'confidance'.*'confidence'"):
        kf.nps(responses(), confidance=0.9)
    with pytest.raises(TypeError, match=r"otif\(\) got an unexpected keyword argument 'scale'"):
        kf.otif(responses(), scale=5)


def test_the_options_passed_on_are_those_of_compute() -> None:
    import inspect

    from kpiforge.kpis import _CALL_OPTIONS

    assert set(_CALL_OPTIONS) == set(inspect.signature(kf.compute).parameters) - {"data", "kpis"}


def test_cohort_retention_shape_is_checked() -> None:
    orders = pd.DataFrame(
        {"customer_id": ["a"], "ordered_at": pd.to_datetime(["2025-01-05"]), "rep_id": ["r"]}
    )
    with pytest.raises(kf.KpiInputError, match="shape must be 'long' or 'matrix', got 'wide'"):
        kf.cohort_retention(orders, shape="wide")  # type: ignore[arg-type]
    with pytest.raises(kf.KpiInputError, match="without segments") as err:
        kf.cohort_retention(orders, by="rep_id", shape="matrix")
    assert err.value.column == "shape"


def test_demo_sizes_and_seed_are_checked() -> None:
    for kwargs in (
        {"n_orders": -1},
        {"n_orders": 10, "seed": -1},
        {"n_orders": 10, "n_tickets": 2.5},
    ):
        name = next(k for k, v in kwargs.items() if not (isinstance(v, int) and v >= 0))
        with pytest.raises(kf.KpiInputError, match=f"{name} must be a whole number >= 0") as err:
            kf.demo.generate(**kwargs)  # type: ignore[arg-type]
        assert err.value.column == name
    import numpy as np

    data = kf.demo.generate(n_orders=np.int64(50), seed=np.int64(3), tables=["orders"])
    assert data.orders.num_rows == 50


def test_kpi_specs_are_checked_where_they_are_written() -> None:
    import numpy as np

    with pytest.raises(kf.KpiInputError, match="kind is its name") as err:
        kf.Kpi(5)  # type: ignore[arg-type]
    assert err.value.column == "kind"
    with pytest.raises(kf.KpiInputError, match="name= takes a string"):
        kf.Kpi("nps", name=5)  # type: ignore[arg-type]
    with pytest.raises(kf.KpiInputError, match="where= keys are column names"):
        kf.Kpi("nps", where={5: "x"})
    for bad in (object(), float("nan"), [1.0, float("inf")]):
        with pytest.raises(kf.KpiInputError, match="parameter scale= takes") as err:
            kf.Kpi("csat", scale=bad)
        assert err.value.column == "scale"
    # numpy scalars are numbers like any other.
    df = pd.DataFrame({"score": [5, 4, 1], "responded_at": pd.to_datetime(["2025-01-01"] * 3)})
    pd.testing.assert_frame_equal(
        kf.compute(df, [kf.Kpi("csat", scale=np.int64(5))]), kf.compute(df, ["csat"])
    )


def test_a_misspelt_where_column_is_suggested_without_a_wrong_fix() -> None:
    df = responses(channel=["web", "phone", "web"])
    with pytest.raises(kf.KpiInputError, match="Did you mean 'channel'") as err:
        kf.nps(df, where={"chanel": "web"})
    assert 'where="' not in str(err.value)
    with pytest.raises(kf.KpiInputError, match='Pass by="rep_id" to use it'):
        kf.nps(df, by="repid")


def test_unsupported_number_types_say_how_to_cast() -> None:
    import decimal

    table = pa.table(
        {
            "amount": pa.array([decimal.Decimal("1.50")], pa.decimal256(40, 2)),
            "ordered_at": pa.array([pd.Timestamp("2025-01-01").date()]),
        }
    )
    with pytest.raises(kf.KpiInputError, match=r"Decimal256.*Cast it to float64") as err:
        kf.revenue(table, volume=None)
    assert err.value.column == "amount"
    assert (
        kf.revenue(
            table.cast(pa.schema([("amount", pa.float64()), ("ordered_at", pa.date32())])),
            volume=None,
        ).loc[0, "revenue"]
        == 1.5
    )


_OPTION_VALUES: dict[str, list[object]] = {
    "by": [None, "region", ["region", "channel"], "nope", 5, [], ["region", "region"]],
    "period": [None, "day", "week", "quarter", "year", "fortnight", 3],
    "fiscal_year_start": [1, 7, 12, 0, 13, -1, "7", 2.0],
    "as_of": [None, "2025-06-30", "2100-01-01", "2025-02-30", "0001-01-01", "9999-12-31"],
    "confidence": [0.95, 0.999999, 1e-9, 0, 1, -0.5, float("nan"), "0.9"],
    "on_invalid": ["raise", "drop", "skip"],
    "threads": [None, 1, 2, 0, -1, 1025],
    "output": ["pandas", "arrow", "polars", "numpy"],
    "tz": [None, "UTC", "+05:30", "Mars/Base", "-25:00"],
}


@pytest.fixture(scope="module")
def small_demo() -> kf.demo.DemoData:
    return kf.demo.generate(n_orders=500, seed=5)


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_any_combination_of_options_answers_or_fails_clearly(
    small_demo: kf.demo.DemoData, data: st.DataObject
) -> None:
    # Every KPI under random, partly wrong options: a result, or a KpiInputError
    # that names what is wrong in the user's terms (never the JSON request's).
    catalog = kf.catalog()
    kind = data.draw(st.sampled_from(list(catalog["name"])))
    table = getattr(small_demo, dict(zip(catalog["name"], catalog["table"], strict=True))[kind])
    options = {
        name: data.draw(st.sampled_from(values))
        for name, values in _OPTION_VALUES.items()
        if data.draw(st.booleans())
    }
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            kf.compute(table, [kind], **options)  # type: ignore[arg-type]
    except kf.KpiInputError as err:
        assert "line 1 column" not in str(err) and "invalid KPI request" not in str(err), err


def test_as_of_from_numpy_and_pyarrow_and_missing_ones() -> None:
    import datetime as dt

    import numpy as np
    import pyarrow.compute as pc

    df = responses(responded_at=pd.to_datetime(["2025-01-01", "2025-02-01", "2025-03-01"]))
    expected = kf.nps(df, period="month", as_of="2025-02-10")
    for as_of in (
        np.datetime64("2025-02-10"),
        np.datetime64("2025-02-10T23:30"),
        pa.scalar(dt.date(2025, 2, 10)),
        pc.max(pa.array([pd.Timestamp("2025-02-10 08:00"), pd.Timestamp("2025-01-01")])),
    ):
        pd.testing.assert_frame_equal(kf.nps(df, period="month", as_of=as_of), expected)
    # A missing date is not the default (the latest date in the data).
    for missing in (pd.NaT, np.datetime64("NaT"), pa.scalar(None, pa.date32())):
        with pytest.raises(kf.KpiInputError, match="as_of is missing") as err:
            kf.nps(df, period="month", as_of=missing)
        assert err.value.column == "as_of"
