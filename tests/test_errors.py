"""Bad input gives a KpiInputError naming the column, the count and an example."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest

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
