"""The commercial KPIs against plain pandas references written from KPIS.md (and, where
it is silent, the choices in docs/kpis.md and the docstrings), with their parameters
drawn at random (hypothesis, profile "ci"): cart_abandonment, lead_conversion,
engagement and interaction_frequency.

test_finance_properties.py checks these four with their default parameters by quarter
at one as_of (and chunks, row order, other segments, threads). Here each example also
draws the window (``window_hours``; ``window_days`` or none), ``as_of`` (or the
default, the latest observed day), the period (none, ISO week, month, calendar or
fiscal quarter and year), ``by`` (a string segment with nulls, or none), the confidence
level, the listed event / interaction types and bad rows (dropped with
``on_invalid="drop"``, or raised). Every output column is compared (counts exactly,
values and intervals to 1e-9), with ``period``, ``period_start``, ``partial``, which
rows exist, nulls, column order, dtypes and row order.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats as sps
from test_properties import check

import kpiforge as kf
from conftest import quarter_label, wilson

BASE = pd.Timestamp("2024-10-01")  # a Tuesday: the first ISO week starts before the data
SPAN = 200  # days of data: 2024-10-01 .. 2025-04-18 (three quarters, fiscal years by start)
SEGMENTS = ["a", "b", None]
MINUTE = 60_000_000  # microseconds
HOUR = 60 * MINUTE
DAY = 24 * HOUR
CONFIDENCE = st.sampled_from([0.8, 0.9, 0.95, 0.99])
AS_OF = st.one_of(st.none(), st.integers(120, SPAN - 1))  # a day after BASE, or the default
# Days after BASE on either side of period boundaries: 2024-10-01 (Tue), -10-06 (Sun),
# -10-07 (Mon), -10-31, -11-01, -12-29 (Sun), -12-30 (Mon), -12-31, 2025-01-01, -03-31, -04-01.
EDGE_DAYS = st.sampled_from([0, 5, 6, 30, 31, 89, 90, 91, 92, 181, 182])
BY = st.sampled_from(["seg", "seg", None])


# ---- periods, as KPIS.md defines them ---------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Calendar:
    """``period=`` and ``fiscal_year_start=``: each day's period, its label and end."""

    period: str | None
    fiscal_year_start: int = 1

    def start(self, day: dt.date) -> dt.date:
        if self.period == "week":  # ISO, Monday
            return day - dt.timedelta(days=day.weekday())
        if self.period == "month":
            return day.replace(day=1)
        months = {"quarter": 3, "year": 12}[str(self.period)]
        m = day.year * 12 + day.month - 1
        m -= (m - (self.fiscal_year_start - 1)) % months
        return dt.date(m // 12, m % 12 + 1, 1)

    def next_start(self, start: dt.date) -> dt.date:
        if self.period == "week":
            return start + dt.timedelta(days=7)
        step = {"month": 1, "quarter": 3, "year": 12}[str(self.period)]
        m = start.year * 12 + start.month - 1 + step
        return dt.date(m // 12, m % 12 + 1, 1)

    def label(self, start: dt.date) -> str:
        if self.period == "week":
            year, week, _ = start.isocalendar()
            return f"{year}-W{week:02d}"
        if self.period == "month":
            return f"{start.year}-{start.month:02d}"
        if self.period == "quarter":
            return quarter_label(pd.Timestamp(start), self.fiscal_year_start)
        # A fiscal year is named by the calendar year in which it ends.
        return str(start.year) if self.fiscal_year_start == 1 else f"FY{start.year + 1}"

    def last_day(self, start: dt.date) -> dt.date:
        return self.next_start(start) - dt.timedelta(days=1)


CALENDARS = st.one_of(
    st.just(Calendar(None)),
    st.sampled_from(["week", "month", "quarter", "year"]).map(Calendar),
    st.builds(Calendar, st.sampled_from(["quarter", "year"]), st.sampled_from([4, 7, 10])),
)


def cells(
    frame: pd.DataFrame, date: str, by: str | None, cal: Calendar
) -> dict[tuple, pd.DataFrame]:
    """The rows of each output cell: (segment if by, period start if a period)."""
    groups: dict[tuple, list[int]] = {}
    for i, (seg, when) in enumerate(zip(frame["seg"], frame[date], strict=True)):
        key: tuple[Any, ...] = (None if pd.isna(seg) else seg,) if by else ()
        if cal.period:
            key += (pd.Timestamp(cal.start(when.date())),)
        groups.setdefault(key, []).append(i)
    return {k: frame.iloc[rows] for k, rows in groups.items()}


def describe(key: tuple, cal: Calendar, as_of: pd.Timestamp) -> dict[str, Any]:
    """The period columns of a cell: its label, and partial when it ends after as_of."""
    if not cal.period:
        return {}
    start = key[-1].date()
    return {"period": cal.label(start), "partial": cal.last_day(start) > as_of.date()}


def z_of(confidence: float) -> float:
    return float(sps.norm.ppf(1 - (1 - confidence) / 2))


def rate(name: str, hits: int, n: int, z: float) -> dict[str, Any]:
    """A share in percent with its Wilson interval; null without a denominator."""
    low, high = wilson(hits, n, z) if n else (None, None)
    return {name: 100 * hits / n if n else None, f"{name}_ci_low": low, f"{name}_ci_high": high}


def compare(
    out: pd.DataFrame,
    expected: dict[tuple, dict[str, Any]],
    by: str | None,
    cal: Calendar,
    counts: list[str],
    values: list[str],
) -> None:
    """Column order and types, row order, and every cell against the reference."""
    keys = (["seg"] if by else []) + (["period", "period_start", "partial"] if cal.period else [])
    assert list(out.columns) == keys + counts + values, list(out.columns)
    for col in counts:
        assert out[col].dtype == np.int64, (col, out[col].dtype)
    for col in values:
        assert out[col].dtype == np.float64, (col, out[col].dtype)
    cell_keys = (["seg"] if by else []) + (["period_start"] if cal.period else [])
    order = [
        tuple(x for v in row for x in ((pd.isna(v), "" if pd.isna(v) else v)))
        for row in out[cell_keys].itertuples(index=False)
    ]
    assert order == sorted(order), "rows not sorted by segment (nulls last), then period"
    check(out, expected, cell_keys)


def call(fn: Callable[..., pd.DataFrame], table: pa.Table, drop: bool, **kw: Any) -> pd.DataFrame:
    """The KPI, dropping bad rows when asked (their warnings are not under test here)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", kf.KpiDataWarning)
        return fn(table, on_invalid="drop" if drop else "raise", **kw)


def timestamps(values: list[int | None]) -> pd.Series:
    """Microseconds after BASE as timestamps (null stays null)."""
    return pd.Series(
        [pd.NaT if v is None else BASE + pd.Timedelta(microseconds=v) for v in values],
        dtype="datetime64[us]",
    )


# ---- cart_abandonment and lead_conversion -------------------------------------------------


@st.composite
def conversion_row(draw: st.DrawFn, window: int | None, last_day: int, bad: bool) -> tuple:
    """(segment, start, end) in microseconds after BASE, near the edges that matter: the
    end of the as_of day, a window ending there, a conversion at the window's end."""
    eod = (last_day + 1) * DAY
    start = draw(
        st.integers(0, SPAN * 24 * 60 - 1).map(lambda m: m * MINUTE)
        | st.integers(-3 * 24 * 60, 24 * 60).map(lambda m: eod + m * MINUTE)
        | st.tuples(EDGE_DAYS, st.sampled_from([0, DAY - 1])).map(lambda t: t[0] * DAY + t[1])
        | st.integers(-2, 2).map(lambda d: eod - (window or 0) + d)
    )
    how = draw(st.sampled_from(["open", "lag", "window", "eod", *(["before", "null"] * bad)]))
    lag = draw(st.integers(0, 10 * 24 * 60)) * MINUTE
    nudge = draw(st.integers(-2, 2))
    end = {
        "open": None,
        "lag": start + lag,
        "window": start + max(0, (window or 0) + nudge),
        "eod": max(start, eod + nudge),
        "before": start - 1 - lag,  # bad: converted before it started
        "null": start + lag if nudge > 0 else None,  # bad: no start time
    }[how]
    return draw(st.sampled_from(SEGMENTS)), None if how == "null" else start, end


@dataclasses.dataclass(frozen=True)
class Conversions:
    """One drawn call of cart_abandonment or lead_conversion."""

    rows: list[tuple]
    window: int | None  # microseconds
    as_of: int | None  # days after BASE
    by: str | None
    cal: Calendar
    confidence: float
    drop: bool
    period_by_end: bool  # date= the conversion column instead of the start


@st.composite
def conversions(draw: st.DrawFn, windows: st.SearchStrategy[float | None], unit: int) -> Any:
    window_param = draw(windows)
    window = None if window_param is None else round(window_param * unit)
    as_of = draw(AS_OF)
    drop = draw(st.booleans())
    rows = draw(
        st.lists(
            conversion_row(window, SPAN - 1 if as_of is None else as_of, drop),
            min_size=1,
            max_size=40,
        )
    )
    cal = draw(CALENDARS)
    # Bucketed by the conversion, rows without one have no period: dropped (with drop).
    by_end = drop and cal.period is not None and draw(st.booleans())
    return window_param, Conversions(
        rows, window, as_of, draw(BY), cal, draw(CONFIDENCE), drop, by_end
    )


def conversion_frame(c: Conversions) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "seg": [r[0] for r in c.rows],
            "start": timestamps([r[1] for r in c.rows]),
            "end": timestamps([r[2] for r in c.rows]),
        }
    )


def conversion_table(c: Conversions, start: str, end: str) -> pa.Table:
    frame = conversion_frame(c)
    return pa.table(
        {
            "seg": pa.array(frame["seg"], pa.string()),
            start: pa.array(frame["start"], pa.timestamp("us")),
            end: pa.array(frame["end"], pa.timestamp("us")),
        }
    )


def conversion_reference(c: Conversions, cart: bool) -> dict[tuple, dict[str, Any]]:
    """KPIS.md: cart abandonment = 1 - checked-out / created carts; lead conversion =
    converted / created per creation cohort, lead time = median (and mean) days created ->
    converted. Censoring: an item whose window has not passed at the end of the as_of day
    is pending, out of numerator and denominator, and so is a lead created after it
    (without a window too); a conversion after as_of has not happened yet. Bad rows (no
    start, end before start) count in ``invalid`` only."""
    df = conversion_frame(c)
    if c.as_of is None:  # the latest observed day: starts and conversions
        latest = pd.concat([df["start"], df["end"]]).max()
        as_of = BASE if pd.isna(latest) else latest.normalize()  # no dates: it touches nothing
    else:
        as_of = BASE + pd.Timedelta(days=c.as_of)
    eod = as_of + pd.Timedelta(days=1)
    date = "end" if c.period_by_end else "start"
    if c.cal.period:
        df = df[df[date].notna()]  # in no period: dropped, in no count
    z = z_of(c.confidence)
    out = {}
    for key, g in cells(df, date, c.by, c.cal).items():
        bad = g["start"].isna() | (g["end"] < g["start"])
        v = g[~bad]
        end = v["end"].where(v["end"] < eod)
        if c.window is None:
            pending = v["start"] >= eod  # created after as_of: not happened yet
            converted = ~pending & end.notna()
            late = pd.Series(False, index=v.index)
        else:
            deadline = v["start"] + pd.Timedelta(microseconds=c.window)
            pending = deadline >= eod
            converted = ~pending & end.notna() & (end <= deadline)
            late = ~pending & end.notna() & (end > deadline)
        n, hits = len(v), int(converted.sum())
        eligible = n - int(pending.sum())
        ref: dict[str, Any] = describe(key, c.cal, as_of)
        ref |= {"n": n, "pending": n - eligible, "invalid": int(bad.sum()), "eligible": eligible}
        if cart:
            lost = eligible - hits
            ref |= {"checked_out": hits, "abandoned": lost, "recovered": int(late.sum())}
            ref |= rate("abandonment_pct", lost, eligible, z)
        else:
            days = ((end - v["start"])[converted] / pd.Timedelta(days=1)).to_numpy()
            ref["converted"] = hits
            ref |= rate("conversion_pct", hits, eligible, z)
            ref["lead_time_days_p50"] = float(np.percentile(days, 50)) if hits else None
            ref["lead_time_days_mean"] = math.fsum(days) / hits if hits else None
        out[key] = ref
    return out


CART_WINDOWS = st.sampled_from([0.0, 0.5, 1.0, 24.0, 36.25, 72.0]) | st.floats(0, 240)
LEAD_WINDOWS = st.none() | st.sampled_from([0.0, 0.5, 1.0, 7.0, 30.0]) | st.floats(0, 45)
CONVERSION_COUNTS = ["n", "pending", "invalid", "eligible"]


@given(conversions(CART_WINDOWS, HOUR))
def test_cart_abandonment_matches_pandas_reference(drawn: tuple[float, Conversions]) -> None:
    window_hours, c = drawn
    out = call(
        kf.cart_abandonment,
        conversion_table(c, "created_at", "checked_out_at"),
        c.drop,
        by=c.by,
        period=c.cal.period,
        fiscal_year_start=c.cal.fiscal_year_start,
        date="checked_out_at" if c.period_by_end else None,
        window_hours=window_hours,
        as_of=None if c.as_of is None else (BASE + pd.Timedelta(days=c.as_of)).date(),
        confidence=c.confidence,
    )
    counts = [*CONVERSION_COUNTS, "checked_out", "abandoned", "recovered"]
    values = ["abandonment_pct", "abandonment_pct_ci_low", "abandonment_pct_ci_high"]
    compare(out, conversion_reference(c, cart=True), c.by, c.cal, counts, values)


@given(conversions(LEAD_WINDOWS, DAY))
def test_lead_conversion_matches_pandas_reference(drawn: tuple[float | None, Conversions]) -> None:
    window_days, c = drawn
    # Named columns other than the defaults; as_of as a string.
    out = call(
        kf.lead_conversion,
        conversion_table(c, "opened", "won"),
        c.drop,
        created="opened",
        converted="won",
        by=c.by,
        period=c.cal.period,
        fiscal_year_start=c.cal.fiscal_year_start,
        date="won" if c.period_by_end else None,
        window_days=window_days,
        as_of=None if c.as_of is None else str((BASE + pd.Timedelta(days=c.as_of)).date()),
        confidence=c.confidence,
    )
    counts = [*CONVERSION_COUNTS, "converted"]
    values = [
        "conversion_pct",
        "conversion_pct_ci_low",
        "conversion_pct_ci_high",
        "lead_time_days_p50",
        "lead_time_days_mean",
    ]
    compare(out, conversion_reference(c, cart=False), c.by, c.cal, counts, values)


@pytest.mark.parametrize(
    ("fn", "start", "end"),
    [
        (kf.cart_abandonment, "created_at", "checked_out_at"),
        (kf.lead_conversion, "created_at", "converted_at"),
    ],
)
@given(conversions(st.just(24.0), HOUR))
def test_conversion_end_before_start_raises(
    fn: Callable[..., pd.DataFrame], start: str, end: str, drawn: tuple[float, Conversions]
) -> None:
    """on_invalid="raise": a conversion before the start is a KpiInputError naming the
    column, the number of such rows and one of them."""
    _, c = drawn
    rows = [r for r in c.rows if r[1] is not None]
    c = dataclasses.replace(c, rows=rows)
    backwards = sum(r[2] is not None and r[2] < r[1] for r in rows)
    t = conversion_table(c, start, end)
    if not rows or not backwards:
        call(fn, t, False, by=c.by, period=c.cal.period)
        return
    with pytest.raises(kf.KpiInputError) as err:
        call(fn, t, False, by=c.by, period=c.cal.period)
    assert (err.value.column, err.value.count) == (end, backwards)
    assert err.value.example is not None


# ---- engagement and interaction_frequency -------------------------------------------------

TYPES = ["portal_login", "training_attended", "early_buy_enrolment", "catalog_download"]
CONTACTS = ["call", "email", "meeting"]
NAMES = [*TYPES, *CONTACTS, "webinar"]
TYPE_VALUES = [*NAMES, None]


@st.composite
def activity_row(draw: st.DrawFn, last_day: int, bad: bool) -> tuple:
    """(segment, account, microseconds after BASE, type); some on either side of a period
    boundary (and so on the same account-day), some at the end of the as_of day or just
    after it."""
    eod = (last_day + 1) * DAY
    at = draw(
        st.integers(0, SPAN * 24 - 1).map(lambda h: h * HOUR)
        | st.tuples(EDGE_DAYS, st.sampled_from([0, 9, 23])).map(lambda t: t[0] * DAY + t[1] * HOUR)
        | st.sampled_from([-DAY, -1, 0, DAY]).map(lambda d: eod + d)
    )
    accounts = st.just("c0") | st.integers(0, 5).map(lambda i: f"c{i}")  # c0 is busy
    account = draw(accounts | (st.none() if bad else st.nothing()))
    return draw(st.sampled_from(SEGMENTS)), account, at, draw(st.sampled_from(TYPE_VALUES))


@dataclasses.dataclass(frozen=True)
class Activity:
    """One drawn call of engagement or interaction_frequency."""

    rows: list[tuple]
    types: list[str] | None  # the listed types (None: the default)
    as_of: int | None
    by: str | None
    cal: Calendar
    confidence: float
    drop: bool
    categorical: bool  # the type column dictionary-encoded


@st.composite
def activities(draw: st.DrawFn) -> Activity:
    as_of = draw(AS_OF)
    drop = draw(st.booleans())
    rows = draw(
        st.lists(activity_row(SPAN - 1 if as_of is None else as_of, drop), min_size=1, max_size=40)
    )
    types = draw(st.none() | st.lists(st.sampled_from(NAMES), min_size=1, max_size=4, unique=True))
    return Activity(
        rows, types, as_of, draw(BY), draw(CALENDARS), draw(CONFIDENCE), drop, draw(st.booleans())
    )


def activity_frame(a: Activity) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "seg": [r[0] for r in a.rows],
            "account": [r[1] for r in a.rows],
            "at": timestamps([r[2] for r in a.rows]),
            "type": [r[3] for r in a.rows],
        }
    )


def activity_table(a: Activity, type_column: str) -> pa.Table:
    types = pa.array([r[3] for r in a.rows], pa.string())
    return pa.table(
        {
            "seg": pa.array([r[0] for r in a.rows], pa.string()),
            "customer_id": pa.array([r[1] for r in a.rows], pa.string()),
            "occurred_at": pa.array(activity_frame(a)["at"], pa.timestamp("us")),
            # (Not when every type is null: see test_all_null_categorical_type.)
            type_column: types.dictionary_encode()
            if a.categorical and types.null_count < len(types)
            else types,
        }
    )


def activity_reference(a: Activity, engagement: bool) -> dict[tuple, dict[str, Any]]:
    """KPIS.md, per segment and period: events (contacts) of each listed type, other types,
    null types (``missing``, out of ``n``); distinct active accounts; engagement: distinct
    (account, day) pairs and the share of the segment's known accounts (an event on or
    before the period end, no later than as_of) active, so every period from the
    segment's first event to as_of has a row; interaction frequency: contacts per
    contacted customer, in all and by type. Events after as_of have not happened yet."""
    listed = a.types or (TYPES if engagement else CONTACTS)
    prefix = "events" if engagement else "contacts"
    df = activity_frame(a)
    # The default as_of: the latest event day, rows with a null account included.
    as_of = df["at"].max().normalize() if a.as_of is None else BASE + pd.Timedelta(days=a.as_of)
    df = df.assign(day=df["at"].dt.normalize())
    seen = df[df["account"].notna() & (df["day"] <= as_of)]  # null accounts: dropped
    groups = cells(seen, "at", a.by, a.cal)
    # Every cell with a row in the data has a row (as the conversions' cells of bad rows
    # do), empty where its events come after as_of or have no account.
    empty = seen.iloc[:0]
    for key in cells(df, "at", a.by, a.cal):
        groups.setdefault(key, empty)
    if engagement:  # and every period from a segment's first event to as_of
        for key, g in list(groups.items()):
            if a.cal.period and len(g):
                start = key[-1].date()
                while start <= as_of.date():
                    groups.setdefault((*key[:-1], pd.Timestamp(start)), empty)
                    start = a.cal.next_start(start)
    z = z_of(a.confidence)
    out = {}
    for key, g in groups.items():
        typed = g["type"].dropna()
        active = g["account"].nunique()
        ref: dict[str, Any] = describe(key, a.cal, as_of)
        ref["n"] = len(typed)
        for t in listed:
            ref[f"{prefix}_{t}"] = int((typed == t).sum())
        ref[f"{prefix}_other"] = int((~typed.isin(listed)).sum())
        ref["missing"] = len(g) - len(typed)
        if engagement:
            end = as_of
            if a.cal.period:
                end = min(end, pd.Timestamp(a.cal.last_day(key[-1].date())))
            segment = seen
            if a.by:
                segment = seen[seen["seg"].isna() if key[0] is None else seen["seg"] == key[0]]
            accounts = segment.loc[segment["day"] <= end, "account"].nunique()
            if a.cal.period and key[-1] > as_of:
                # A period that starts after as_of (its row only there for events after
                # as_of) knows no accounts: as implemented; the docstring's "known at the
                # period end, no later than as_of" would count those known at as_of.
                accounts = 0
            days = len(g[["account", "day"]].drop_duplicates())
            ref |= {"active_accounts": active, "accounts": accounts, "active_days": days}
            ref |= rate("active_pct", active, accounts, z)
            ref["active_days_per_account"] = days / active if active else None
        else:
            ref["active_customers"] = active
            ref["contacts_per_customer"] = len(typed) / active if active else None
            for t in listed:
                ref[f"{t}_per_customer"] = int((typed == t).sum()) / active if active else None
        out[key] = ref
    return out


def activity_call(
    a: Activity, fn: Callable[..., pd.DataFrame], type_column: str, as_of: Any, **types: Any
) -> pd.DataFrame:
    """``fn`` over the drawn activity with its drawn calendar, confidence and ``as_of``."""
    return call(
        fn,
        activity_table(a, type_column),
        a.drop,
        by=a.by,
        period=a.cal.period,
        fiscal_year_start=a.cal.fiscal_year_start,
        as_of=None if a.as_of is None else as_of,
        confidence=a.confidence,
        **types,
    )


@given(activities())
def test_engagement_matches_pandas_reference(a: Activity) -> None:
    as_of = BASE + pd.Timedelta(days=a.as_of or 0)  # a timestamp
    out = activity_call(a, kf.engagement, "event_type", as_of, event_types=a.types)
    listed = a.types or TYPES
    counts = ["n", *(f"events_{t}" for t in listed), "events_other", "missing"]
    counts += ["active_accounts", "accounts", "active_days"]
    values = ["active_pct", "active_pct_ci_low", "active_pct_ci_high", "active_days_per_account"]
    compare(out, activity_reference(a, engagement=True), a.by, a.cal, counts, values)


@given(activities())
def test_interaction_frequency_matches_pandas_reference(a: Activity) -> None:
    as_of = (BASE + pd.Timedelta(days=a.as_of or 0)).date()  # a date
    out = activity_call(
        a, kf.interaction_frequency, "interaction_type", as_of, interaction_types=a.types
    )
    listed = a.types or CONTACTS
    counts = ["n", *(f"contacts_{t}" for t in listed), "contacts_other", "missing"]
    counts += ["active_customers"]
    values = ["contacts_per_customer", *(f"{t}_per_customer" for t in listed)]
    compare(out, activity_reference(a, engagement=False), a.by, a.cal, counts, values)


@pytest.mark.parametrize(
    ("fn", "type_column"),
    [(kf.engagement, "event_type"), (kf.interaction_frequency, "interaction_type")],
)
@given(activities())
def test_null_account_raises(
    fn: Callable[..., pd.DataFrame], type_column: str, a: Activity
) -> None:
    """on_invalid="raise": a null account is a KpiInputError naming the column and count."""
    nulls = sum(r[1] is None for r in a.rows)
    t = activity_table(a, type_column)
    if not nulls:
        call(fn, t, False, by=a.by, period=a.cal.period)
        return
    with pytest.raises(kf.KpiInputError) as err:
        call(fn, t, False, by=a.by, period=a.cal.period)
    assert (err.value.column, err.value.count) == ("customer_id", nulls)


# ---- found by the tests above, and fixed -------------------------------------------------


@pytest.mark.parametrize(
    ("fn", "type_column"),
    [(kf.engagement, "event_type"), (kf.interaction_frequency, "interaction_type")],
)
def test_all_null_categorical_type(fn: Callable[..., pd.DataFrame], type_column: str) -> None:
    events = pd.DataFrame(
        {
            "customer_id": ["a", "b"],
            "occurred_at": pd.to_datetime(["2025-01-02", "2025-01-03"]),
            type_column: pd.Categorical([None, None], categories=pd.Index([], dtype=str)),
        }
    )
    out = fn(events).iloc[0]
    assert (out["n"], out["missing"]) == (0, 2)


@pytest.mark.parametrize(
    ("fn", "type_column"),
    [(kf.engagement, "event_type"), (kf.interaction_frequency, "interaction_type")],
)
def test_dropped_null_accounts_are_reported(
    fn: Callable[..., pd.DataFrame], type_column: str
) -> None:
    events = pd.DataFrame(
        {
            "customer_id": ["a", None],
            "occurred_at": pd.to_datetime(["2025-01-02", "2025-01-03"]),
            type_column: ["call", "call"],
        }
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn(events, on_invalid="drop")
    # In no account's history, so in no count: a warning reports them.
    warned = [str(w.message) for w in caught if issubclass(w.category, kf.KpiDataWarning)]
    assert warned == [
        "dropped 1 rows with a null customer in 'customer_id' "
        "(example: null; they are in no cell and in no KPI count)"
    ]
    assert out["n"].sum() == 1
    with pytest.raises(kf.KpiInputError, match="the others \\(in no cell\\) reported in a warning"):
        fn(events)


def test_all_null_categorical_priority() -> None:
    # The same empty dictionary in the SLA kernel's class column: a null
    # priority has no SLA, which is bad input (not a crash).
    tickets = pd.DataFrame(
        {
            "opened_at": pd.to_datetime(["2025-01-02 08:00", "2025-01-03 08:00"]),
            "resolved_at": pd.to_datetime(["2025-01-02 10:00", "2025-01-04 08:00"]),
            "priority": pd.Categorical([None, None], categories=pd.Index([], dtype=str)),
        }
    )
    with pytest.raises(kf.KpiInputError, match="2 rows with a priority that has no SLA") as err:
        kf.resolution_time(tickets)
    assert (err.value.column, err.value.count) == ("priority", 2)
    out = kf.resolution_time(tickets, on_invalid="drop")
    assert (out.loc[0, "n"], out.loc[0, "invalid"]) == (0, 2)
    # As with the same nulls in a plain string column.
    plain = tickets.assign(priority=pd.Series([None, None], dtype=object))
    pd.testing.assert_frame_equal(out, kf.resolution_time(plain, on_invalid="drop"))
