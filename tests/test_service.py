"""Service KPIs (first_contact_resolution, quote_win_rate, time_to_quote,
resolution_time) against a plain pandas/numpy reference."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

import kpiforge as kf
from conftest import close, quarter_label, wilson
from kpiforge.service import (
    first_contact_resolution,
    quote_win_rate,
    resolution_time,
    time_to_quote,
)

REPS = ["ann", "bob", None]
BASE = pd.Timestamp("2025-01-01")
HOUR = pd.Timedelta(hours=1)


def key(value: object) -> object:
    return "<null>" if value is None or (isinstance(value, float) and np.isnan(value)) else value


def assert_share(row: object, col: str, hits: int, n: int) -> None:
    """`col` and its Wilson interval against the reference (null when n = 0)."""
    if n == 0:
        assert pd.isna(getattr(row, col)) and pd.isna(getattr(row, f"{col}_ci_low"))
        return
    low, high = wilson(hits, n)
    assert close(getattr(row, col), 100 * hits / n), col
    assert close(getattr(row, f"{col}_ci_low"), low), col
    assert close(getattr(row, f"{col}_ci_high"), high), col


# ---- first_contact_resolution ------------------------------------------------

fcr_rows = st.lists(
    st.tuples(
        st.sampled_from(REPS),
        st.one_of(st.none(), st.booleans()),  # flag
        st.one_of(st.none(), st.integers(1, 4)),  # contacts
        st.booleans(),  # resolved
        st.dates(dt.date(2024, 10, 1), dt.date(2025, 6, 30)),
    ),
    min_size=1,
    max_size=150,
)


def fcr_frame(data: list) -> pd.DataFrame:
    df = pd.DataFrame(data, columns=["rep", "flag", "contacts", "resolved", "day"])
    df["opened_at"] = pd.to_datetime(df["day"])
    out = pd.DataFrame(
        {
            "rep": df["rep"],
            "opened_at": df["opened_at"],
            "resolved_at": df["opened_at"].where(df["resolved"]) + HOUR,
            "first_contact_resolved": pd.array(df["flag"], dtype="boolean"),
            "contacts": pd.array(df["contacts"], dtype="Int64"),
        }
    )
    return out


def ref_fcr(g: pd.DataFrame, use_contacts: bool) -> tuple[int, int, int]:
    """(n, missing, hits): unresolved counts as not FCR; else a null outcome is missing."""
    resolved = g["resolved_at"].notna()
    outcome = g["contacts"] if use_contacts else g["first_contact_resolved"]
    missing = int((resolved & outcome.isna()).sum())
    n = len(g) - missing
    known = resolved & outcome.notna()
    hit = (outcome[known] == 1) if use_contacts else outcome[known].astype(bool)
    return n, missing, int(hit.sum())


@given(fcr_rows, st.booleans())
def test_fcr_matches_pandas_reference(data: list, use_contacts: bool) -> None:
    df = fcr_frame(data)
    contacts = "contacts" if use_contacts else None
    out = first_contact_resolution(df, by="rep", period="quarter", contacts=contacts)
    df["period"] = df["opened_at"].map(quarter_label)
    df["rep_key"] = df["rep"].map(key)
    expected = {k: ref_fcr(g, use_contacts) for k, g in df.groupby(["rep_key", "period"])}
    assert len(out) == len(expected)
    for row in out.itertuples():
        n, missing, hits = expected[(key(row.rep), row.period)]
        assert (row.n, row.missing, row.invalid) == (n, missing, 0)
        assert_share(row, "fcr_pct", hits, n)


def test_fcr_bad_contacts_and_flags() -> None:
    df = pd.DataFrame(
        {
            "contacts": [1, 0, 2, -1],
            "first_contact_resolved": [1, 2, 0, 1],
            "resolved_at": pd.to_datetime(["2025-01-01"] * 4),
        }
    )
    with pytest.raises(kf.KpiInputError) as err:
        first_contact_resolution(df, contacts="contacts")
    assert (err.value.column, err.value.count, err.value.example) == ("contacts", 2, "0")
    out = first_contact_resolution(df, contacts="contacts", on_invalid="drop")
    assert (out.loc[0, "n"], out.loc[0, "invalid"], out.loc[0, "fcr_pct"]) == (2, 2, 50.0)
    with pytest.raises(kf.KpiInputError, match="true/false") as err:
        first_contact_resolution(df)
    assert (err.value.column, err.value.count, err.value.example) == (
        "first_contact_resolved",
        1,
        "2",
    )
    # Without a resolution column the flag alone decides.
    no_res = first_contact_resolution(
        df.drop(columns="resolved_at"), resolved=None, on_invalid="drop"
    )
    assert no_res.loc[0, "fcr_pct"] == pytest.approx(200 / 3)
    with pytest.raises(kf.KpiInputError, match="resolved=None") as err:
        first_contact_resolution(df.drop(columns="resolved_at"))
    assert err.value.column == "resolved_at"


# ---- quote_win_rate --------------------------------------------------------------


@given(
    st.lists(
        st.tuples(
            st.sampled_from(REPS),
            st.one_of(st.none(), st.booleans()),
            st.dates(dt.date(2024, 11, 1), dt.date(2025, 4, 30)),
        ),
        min_size=1,
        max_size=150,
    )
)
def test_win_rate_matches_pandas_reference(data: list) -> None:
    df = pd.DataFrame(data, columns=["rep", "won", "day"])
    df["won"] = pd.array(df["won"], dtype="boolean")
    df["requested_at"] = pd.to_datetime(df["day"])
    out = quote_win_rate(df.drop(columns="day"), by="rep", period="quarter")
    df["period"] = df["requested_at"].map(quarter_label)
    df["rep_key"] = df["rep"].map(key)
    groups = dict(list(df.groupby(["rep_key", "period"])))
    assert len(out) == len(groups)
    for row in out.itertuples():
        g = groups[(key(row.rep), row.period)]
        decided = g["won"].dropna().astype(bool)
        assert (row.n, row.undecided, row.invalid) == (len(decided), int(g["won"].isna().sum()), 0)
        assert_share(row, "win_rate_pct", int(decided.sum()), len(decided))


# ---- time_to_quote and resolution_time ----------------------------------------------

QUOTE_SLA = {"standard": 1.0, "custom": 24.0}
TICKET_SLA = {"high": 24.0, "standard": 72.0}

# (rep, start minute, class index, answered, duration in seconds)
duration_rows = st.lists(
    st.tuples(
        st.sampled_from(REPS),
        st.integers(0, 40 * 24 * 60),
        st.integers(0, 1),
        st.booleans(),
        st.one_of(st.integers(0, 4 * 3600), st.integers(0, 5 * 86400)),
    ),
    min_size=1,
    max_size=150,
)


def duration_frame(data: list, start: str, end: str, cls: str, classes: list[str]) -> pd.DataFrame:
    df = pd.DataFrame(data, columns=["rep", "minute", "cls", "answered", "seconds"])
    begin = BASE + pd.to_timedelta(df["minute"], unit="min")
    finish = begin + pd.to_timedelta(df["seconds"], unit="s")
    return pd.DataFrame(
        {
            "rep": df["rep"],
            start: begin,
            end: finish.where(df["answered"]),
            cls: [classes[i] for i in df["cls"]],
        }
    )


def ref_sla(g: pd.DataFrame, start: str, end: str, cls: str, sla: dict, as_of: dt.date) -> dict:
    """The censoring rule of KPIS.md, written plainly."""
    deadline = g[start] + pd.to_timedelta(g[cls].map(sla), unit="h")
    passed = deadline < pd.Timestamp(as_of) + pd.Timedelta(days=1)
    answered = g[end].notna()
    hit = answered & (g[end] <= deadline)
    hours = ((g[end] - g[start])[answered] / HOUR).to_numpy()
    out = {
        "n": len(g),
        "answered": int(answered.sum()),
        "open": int((~answered).sum()),
        "pending": int((~passed).sum()),
        "sla_n": int(passed.sum()),
        "hits": int((hit & passed).sum()),
        "hours": hours,
    }
    return out


def check_durations(out: pd.DataFrame, df: pd.DataFrame, ref: dict) -> None:
    df = df.assign(rep_key=df["rep"].map(key))
    groups = dict(list(df.groupby("rep_key")))
    assert len(out) == len(groups)
    for row in out.itertuples():
        r = ref(groups[key(row.rep)])
        for col in ("n", "answered", "open", "pending", "sla_n"):
            assert getattr(row, col) == r[col], col
        assert row.invalid == 0
        hours = r["hours"]
        if len(hours):
            p50, p90 = np.percentile(hours, [50, 90])
            assert close(row.p50_hours, p50) and close(row.p90_hours, p90)
            assert close(row.mean_hours, float(np.mean(hours)))
        else:
            assert pd.isna(row.p50_hours) and pd.isna(row.mean_hours)
        assert_share(row, "sla_pct", r["hits"], r["sla_n"])


@given(duration_rows, st.integers(-2, 45))
def test_time_to_quote_matches_reference_with_explicit_as_of(data: list, day: int) -> None:
    df = duration_frame(data, "requested_at", "quoted_at", "quote_type", ["standard", "custom"])
    as_of = (BASE + pd.Timedelta(days=day)).date()
    out = time_to_quote(df, by="rep", as_of=as_of)
    check_durations(
        out,
        df,
        lambda g: ref_sla(g, "requested_at", "quoted_at", "quote_type", QUOTE_SLA, as_of),
    )


@given(
    duration_rows,
    st.fixed_dictionaries({"high": st.sampled_from([2.0, 8.5, 24.0]), "low": st.just(48.0)}),
)
def test_resolution_time_matches_reference_with_default_as_of(data: list, sla: dict) -> None:
    df = duration_frame(data, "opened_at", "resolved_at", "priority", ["high", "low"])
    out = resolution_time(df, by="rep", sla_hours=sla)
    # as_of defaults to the latest day of any opening or resolution.
    as_of = pd.concat([df["opened_at"], df["resolved_at"]]).max().date()
    check_durations(
        out, df, lambda g: ref_sla(g, "opened_at", "resolved_at", "priority", sla, as_of)
    )


def test_resolution_time_default_sla_by_priority() -> None:
    df = duration_frame(
        [("ann", 0, 0, True, 30 * 3600), ("ann", 0, 1, True, 30 * 3600), ("ann", 0, 0, False, 0)],
        "opened_at",
        "resolved_at",
        "priority",
        ["high", "standard"],
    )
    out = resolution_time(df, as_of="2025-02-01")
    # high in 30 h: miss (24 h); standard in 30 h: hit (72 h); high unresolved: miss.
    assert (out.loc[0, "sla_n"], out.loc[0, "open"]) == (3, 1)
    assert out.loc[0, "sla_pct"] == pytest.approx(100 / 3)


def test_censoring_pending_open_and_misses() -> None:
    t = pd.Timestamp("2025-06-02")
    df = pd.DataFrame(
        {
            "requested_at": [
                t + 8 * HOUR,
                t + 9 * HOUR,
                t + 10 * HOUR,
                t + 23 * HOUR,
                t + 12 * HOUR,
            ],
            "quoted_at": [t + 8.5 * HOUR, t + 11 * HOUR, pd.NaT, pd.NaT, t + 13 * HOUR],
            "quote_type": ["standard", "standard", "standard", "standard", "custom"],
        }
    )
    out = time_to_quote(df, as_of="2025-06-02")
    row = out.iloc[0]
    # 8h hit; 9h answered late: miss; 10h unanswered past deadline: miss;
    # 23h (deadline midnight) and the custom one (answered early) are pending.
    assert (row.n, row.answered, row.open, row.pending, row.sla_n) == (5, 3, 2, 2, 3)
    assert row.sla_pct == pytest.approx(100 / 3)
    # The pending request answered early does not lift the rate; its time still counts.
    assert row.p50_hours == 1.0 and row.mean_hours == pytest.approx(3.5 / 3)
    # Later, every deadline has passed.
    later = time_to_quote(df, as_of=dt.date(2025, 6, 3)).iloc[0]
    assert (later.pending, later.sla_n, later.sla_pct) == (0, 5, 40.0)
    # An as_of before any deadline leaves everything pending: no rate at all.
    early = time_to_quote(df, as_of="2025-06-01").iloc[0]
    assert early.pending == 5 and early.sla_n == 0 and pd.isna(early.sla_pct)


def test_periods_and_categorical_types() -> None:
    df = duration_frame(
        [("ann", m * 24 * 60, m % 2, m % 3 > 0, 1800 * m) for m in range(60)],
        "requested_at",
        "quoted_at",
        "quote_type",
        ["standard", "custom"],
    )
    df["quote_type"] = df["quote_type"].astype("category")
    out = time_to_quote(df, period="month", as_of="2025-03-15")
    assert list(out["period"]) == ["2025-01", "2025-02", "2025-03"]
    assert out["n"].sum() == 60 and out["invalid"].sum() == 0
    whole = time_to_quote(df, as_of="2025-03-15")
    assert whole.loc[0, "sla_n"] == out["sla_n"].sum()
    assert whole.loc[0, "answered"] == out["answered"].sum()


# ---- bad input ---------------------------------------------------------------------


def bad_quotes() -> pd.DataFrame:
    t = pd.Timestamp("2025-01-10")
    return pd.DataFrame(
        {
            "requested_at": [t, t, t, pd.NaT, t, t],
            "quoted_at": [t + HOUR, t - HOUR, t - 2 * HOUR, pd.NaT, pd.NaT, t],
            "quote_type": ["standard", "standard", "custom", "standard", "rush", "standard"],
        }
    )


def test_negative_duration_names_column_count_and_example() -> None:
    df = bad_quotes().iloc[[0, 1, 2, 5]]
    with pytest.raises(kf.KpiInputError, match="negative duration") as err:
        time_to_quote(df)
    assert (err.value.column, err.value.count) == ("quoted_at", 2)
    assert err.value.example == "2025-01-09 23:00:00 < requested_at 2025-01-10 00:00:00"
    out = time_to_quote(df, on_invalid="drop")
    assert (out.loc[0, "n"], out.loc[0, "invalid"], out.loc[0, "answered"]) == (2, 2, 2)


def test_unknown_type_and_null_start_are_invalid() -> None:
    df = bad_quotes().iloc[[0, 3, 4, 5]]
    with pytest.raises(kf.KpiInputError) as err:
        time_to_quote(df)
    assert (err.value.column, err.value.count, err.value.example) == (
        "requested_at",
        1,
        "null",
    )
    assert "column 'quote_type': 1 row with a quote_type that has no SLA" in str(err.value)
    assert "'rush'" in str(err.value) or '"rush"' in str(err.value)
    out = time_to_quote(df, on_invalid="drop")
    assert (out.loc[0, "n"], out.loc[0, "invalid"]) == (2, 2)
    # Given an SLA for it, the type is fine.
    ok = time_to_quote(
        bad_quotes().iloc[[0, 4]], sla_hours={"standard": 1, "rush": 0.5}, as_of="2025-01-11"
    )
    assert (ok.loc[0, "invalid"], ok.loc[0, "sla_n"], ok.loc[0, "sla_pct"]) == (0, 2, 50.0)


def test_unknown_priority_in_resolution_time() -> None:
    t = pd.Timestamp("2025-01-10")
    df = pd.DataFrame(
        {
            "opened_at": [t, t, t],
            "resolved_at": [t + HOUR, t + HOUR, t - HOUR],
            "priority": ["high", "urgent", "standard"],
        }
    )
    with pytest.raises(kf.KpiInputError) as err:
        resolution_time(df)
    assert (err.value.column, err.value.count) == ("priority", 1)
    assert "known: high, standard" in str(err.value)
    out = resolution_time(df, on_invalid="drop")
    assert (out.loc[0, "n"], out.loc[0, "invalid"]) == (1, 2)


def test_bad_columns_and_parameters() -> None:
    df = bad_quotes().iloc[[0]]
    with pytest.raises(kf.KpiInputError, match="Did you mean 'quoted_at'"):
        time_to_quote(df, quoted="quotedat")
    with pytest.raises(kf.KpiInputError, match="timestamp or date") as err:
        time_to_quote(df.assign(quoted_at="soon"))
    assert err.value.column == "quoted_at"
    with pytest.raises(kf.KpiInputError, match="must hold strings"):
        time_to_quote(df.assign(quote_type=1))
    with pytest.raises(kf.KpiInputError, match="sla_hours"):
        time_to_quote(df, sla_hours={"standard": -1})
    with pytest.raises(kf.KpiInputError, match="sla_hours"):
        time_to_quote(df, sla_hours={})


# ---- engine integration and demo data ---------------------------------------------------


def test_one_scan_several_service_kpis(demo: kf.demo.DemoData) -> None:
    q = demo.quotes
    both = kf.compute(q, ["time_to_quote", "quote_win_rate"], by="region", period="quarter")
    alone = time_to_quote(q, by="region", period="quarter")
    np.testing.assert_array_equal(both["time_to_quote_p90_hours"], alone["p90_hours"])
    np.testing.assert_array_equal(both["time_to_quote_sla_n"], alone["sla_n"])
    np.testing.assert_array_equal(
        both["quote_win_rate_n"], quote_win_rate(q, by="region", period="quarter")["n"]
    )


def test_arrow_polars_and_threads_agree(demo: kf.demo.DemoData) -> None:
    import polars as pl

    t = demo.tickets
    one = resolution_time(t, by="rep_id", period="month", threads=1)
    many = resolution_time(pl.from_arrow(t), by="rep_id", period="month", threads=4)
    pd.testing.assert_frame_equal(one, many)


def test_demo_service_kpis_are_realistic(demo: kf.demo.DemoData) -> None:
    fcr = first_contact_resolution(demo.tickets)
    assert 62 < fcr.loc[0, "fcr_pct"] < 78
    assert fcr.loc[0, "missing"] == 0 and fcr.loc[0, "invalid"] == 0
    by_contacts = first_contact_resolution(demo.tickets, contacts="contacts")
    assert by_contacts.loc[0, "fcr_pct"] == fcr.loc[0, "fcr_pct"]
    standard = time_to_quote(demo.quotes, where={"quote_type": "standard"})
    assert 0.5 < standard.loc[0, "p50_hours"] < 1.0
    by_type = time_to_quote(demo.quotes, by="quote_type")
    custom = by_type.set_index("quote_type").loc["custom"]
    assert 8 < custom["p50_hours"] < 18
    res = resolution_time(demo.tickets, by="priority").set_index("priority")
    assert res.loc["high", "p50_hours"] < res.loc["standard", "p50_hours"]
    assert res["pending"].sum() > 0 and (res["open"] > 0).all()
    win = quote_win_rate(demo.quotes)
    assert 20 < win.loc[0, "win_rate_pct"] < 60 and win.loc[0, "undecided"] > 0


def test_catalog_lists_service_kpis() -> None:
    cat = kf.catalog().set_index("name")
    for name in ("first_contact_resolution", "time_to_quote", "resolution_time", "quote_win_rate"):
        assert cat.loc[name, "family"] == "service"
    assert cat.loc["first_contact_resolution", "target"] == 70.0
    assert cat.loc["time_to_quote", "target"] == 90.0


def test_arrow_input_with_dates_and_dictionary() -> None:
    t = pa.table(
        {
            "opened_at": pa.array([dt.date(2025, 1, 1), dt.date(2025, 1, 2)], pa.date32()),
            "resolved_at": pa.array([dt.date(2025, 1, 3), None], pa.date32()),
            "priority": pa.array(["high", "standard"]).dictionary_encode(),
        }
    )
    out = resolution_time(t, as_of="2025-01-10")
    assert (out.loc[0, "n"], out.loc[0, "sla_n"], out.loc[0, "p50_hours"]) == (2, 2, 48.0)
    assert out.loc[0, "sla_pct"] == 0.0
