"""Bad-input matrix: every wrong input a real export produces, for every KPI family.

Each case gives either the right answer (asserted) or a ``KpiInputError`` that names
the column (and, where rows are at fault, their count and an example); never an
internal error, a crash, a hang (a SIGALRM deadline guards every case) or a
silently wrong value. Cases are built from small demo tables modified with
pyarrow / pandas.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import signal
import warnings
from collections.abc import Callable, Iterator
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from scipy import stats as sps

import kpiforge as kf
from conftest import close, nps_interval, wilson

DEADLINE_S = 30


@pytest.fixture(autouse=True)
def _deadline() -> Iterator[None]:
    """Fail a case that runs past DEADLINE_S instead of hanging (no pytest-timeout here)."""

    def expired(signum: int, frame: object) -> None:
        raise TimeoutError(f"case ran past {DEADLINE_S} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(DEADLINE_S)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# ---- the KPIs and the columns they read ----------------------------------------


@dataclasses.dataclass(frozen=True)
class Spec:
    name: str
    fn: Callable[..., Any]
    table: str
    numeric: tuple[str, ...] = ()  # measures: numbers
    flags: tuple[str, ...] = ()  # booleans (or 0/1)
    labels: tuple[str, ...] = ()  # category strings
    instants: tuple[str, ...] = ()  # dates / timestamps always read
    date: str = ""  # the period date (read when a period is asked for)
    customer: str = ""  # the customer key of per-customer KPIs
    call: tuple[tuple[str, Any], ...] = ()  # arguments every call needs

    def __call__(self, data: Any, **kw: Any) -> Any:
        return self.fn(data, **{**dict(self.call), **kw})

    @property
    def entity(self) -> bool:
        return bool(self.customer)

    def read(self) -> tuple[str, ...]:
        """Every column the KPI reads with a period asked for."""
        cols = (*self.numeric, *self.flags, *self.labels, *self.instants, self.customer, self.date)
        return tuple(dict.fromkeys(c for c in cols if c))


SPECS = [
    Spec("nps", kf.nps, "responses", numeric=("score",), date="responded_at"),
    Spec("csat", kf.csat, "responses", numeric=("score",), date="responded_at"),
    Spec("ces", kf.ces, "responses", numeric=("score",), date="responded_at"),
    Spec("revenue", kf.revenue, "orders", numeric=("amount", "quantity"), date="ordered_at"),
    Spec(
        "otif",
        kf.otif,
        "orders",
        numeric=("quantity", "quantity_delivered"),
        instants=("promised_date", "delivered_date", "ordered_at"),
        date="ordered_at",
    ),
    Spec(
        "order_accuracy",
        kf.order_accuracy,
        "orders",
        flags=("accurate",),
        labels=("error_type",),
        date="ordered_at",
    ),
    Spec(
        "self_service_adoption",
        kf.self_service_adoption,
        "orders",
        labels=("channel",),
        date="ordered_at",
    ),
    Spec("cross_sell", kf.cross_sell, "orders", flags=("has_addon",), date="ordered_at"),
    Spec(
        "repeat_purchase_rate",
        kf.repeat_purchase_rate,
        "orders",
        instants=("ordered_at",),
        customer="customer_id",
        date="ordered_at",
    ),
    Spec(
        "retention",
        kf.retention,
        "orders",
        instants=("ordered_at",),
        customer="customer_id",
        date="ordered_at",
        call=(("period", "quarter"),),
    ),
    Spec(
        "purchase_frequency",
        kf.purchase_frequency,
        "orders",
        instants=("ordered_at",),
        customer="customer_id",
        date="ordered_at",
    ),
    Spec(
        "first_contact_resolution",
        kf.first_contact_resolution,
        "tickets",
        flags=("first_contact_resolved",),
        instants=("resolved_at",),
        date="opened_at",
    ),
    Spec(
        "time_to_quote",
        kf.time_to_quote,
        "quotes",
        labels=("quote_type",),
        instants=("requested_at", "quoted_at"),
        date="requested_at",
    ),
    Spec(
        "resolution_time",
        kf.resolution_time,
        "tickets",
        labels=("priority",),
        instants=("opened_at", "resolved_at"),
        date="opened_at",
    ),
    Spec("quote_win_rate", kf.quote_win_rate, "quotes", flags=("won",), date="requested_at"),
    Spec(
        "feedback_themes",
        kf.feedback_themes,
        "responses",
        numeric=("score",),
        labels=("comment",),
        date="responded_at",
    ),
    # -- finance and commercial --
    Spec(
        "dso",
        kf.dso,
        "invoices",
        numeric=("amount", "credit_limit"),
        instants=("due_date", "paid_date"),
        customer="partner_id",
        date="invoice_date",
    ),
    Spec(
        "cart_abandonment",
        kf.cart_abandonment,
        "carts",
        instants=("created_at", "checked_out_at"),
        date="created_at",
    ),
    Spec(
        "lead_conversion",
        kf.lead_conversion,
        "leads",
        instants=("created_at", "converted_at"),
        date="created_at",
    ),
    Spec(
        "engagement",
        kf.engagement,
        "events",
        labels=("event_type",),
        customer="customer_id",
        date="occurred_at",
    ),
    Spec(
        "interaction_frequency",
        kf.interaction_frequency,
        "interactions",
        labels=("interaction_type",),
        customer="customer_id",
        date="occurred_at",
    ),
]
BY_NAME = {s.name: s for s in SPECS}
SURVEY = {"nps", "csat", "ces"}
# The count column each KPI reports rows in (n of valid rows, or customers).
COUNT = {s.name: "customers" for s in SPECS if s.entity} | {"retention": "active_customers"}
COUNT |= {"dso": "n", "engagement": "n", "interaction_frequency": "n"}


@functools.cache
def _demo(seed: int) -> kf.demo.DemoData:
    return kf.demo.generate(n_orders=2000, seed=seed)


def table(spec: Spec, seed: int = 3) -> pa.Table:
    """The KPI's demo table (survey KPIs: only their own responses)."""
    t = _demo(seed)[spec.table]
    if spec.name in SURVEY:
        t = t.filter(pc.equal(t["survey_type"], spec.name))
    return t


def frame(spec: Spec, seed: int = 3) -> pd.DataFrame:
    return table(spec, seed).to_pandas()


def set_col(t: pa.Table, name: str, values: Any) -> pa.Table:
    arr = values if isinstance(values, pa.Array | pa.ChunkedArray) else pa.array(values)
    return t.set_column(t.column_names.index(name), name, arr)


def raises_input(
    fn: Callable[[], Any],
    column: str | set[str],
    count: int | None = None,
    example: str | None = None,
) -> kf.KpiInputError:
    """Call fn, expecting a KpiInputError about `column` (with `count` and `example` if given)."""
    with pytest.raises(kf.KpiInputError) as info:
        fn()
    err = info.value
    columns = {column} if isinstance(column, str) else column
    assert err.column in columns, (err.column, str(err))
    if count is not None:
        assert err.count == count, (err.count, str(err))
        assert err.example is not None, str(err)
    if example is not None:
        assert err.example == example, (err.example, str(err))
    return err


def params(specs: list[Spec], attr: Callable[[Spec], tuple[str, ...]]) -> list[Any]:
    return [pytest.param(s, c, id=f"{s.name}-{c}") for s in specs for c in attr(s)]


def assert_frames_equal(got: pd.DataFrame, want: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(
        got.reset_index(drop=True), want.reset_index(drop=True), check_exact=False, rtol=1e-12
    )


# ---- missing and misspelled columns ---------------------------------------------


def typo(name: str) -> str:
    """The name with two neighbouring letters swapped, as a careless export has it."""
    i = next(i for i in range(1, len(name) - 1) if name[i] != name[i + 1])
    return name[:i] + name[i + 1] + name[i] + name[i + 2 :]


@pytest.mark.parametrize(("spec", "col"), params(SPECS, Spec.read))
def test_missing_column_names_it(spec: Spec, col: str) -> None:
    t = table(spec).drop_columns([col])
    err = raises_input(lambda: spec(t, period="month"), col)
    assert "not found" in str(err)


@pytest.mark.parametrize(("spec", "col"), params(SPECS, Spec.read))
def test_misspelled_column_suggests_the_closest_name(spec: Spec, col: str) -> None:
    t = table(spec).rename_columns([typo(c) if c == col else c for c in table(spec).column_names])
    err = raises_input(lambda: spec(t, period="month"), col)
    assert f"Did you mean '{typo(col)}'" in str(err)


# ---- wrong types ------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "col"), params(SPECS, lambda s: (*s.numeric, *s.flags)))
def test_numbers_as_strings(spec: Spec, col: str) -> None:
    t = table(spec)
    as_text = pc.cast(t[col], pa.string())
    raises_input(lambda: spec(set_col(t, col, as_text)), col)


@pytest.mark.parametrize(("spec", "col"), params(SPECS, lambda s: (*s.numeric, *s.flags)))
def test_mixed_numbers_and_strings_in_one_object_column(spec: Spec, col: str) -> None:
    df = frame(spec)
    mixed = df[col].astype(object)
    mixed.iloc[[3, 10, 11]] = ["n/a", "12,5", "yes"]
    df[col] = mixed
    raises_input(lambda: spec(df), col, count=3)


@pytest.mark.parametrize(("spec", "col"), params(SPECS, lambda s: s.labels))
def test_numbers_where_category_strings_belong(spec: Spec, col: str) -> None:
    t = table(spec)
    codes = pc.cast(pc.dictionary_encode(t[col]).combine_chunks().indices, pa.int64())
    raises_input(lambda: spec(set_col(t, col, codes)), col)


@pytest.mark.parametrize("spec", [s for s in SPECS if s.entity], ids=lambda s: s.name)
def test_integer_customer_ids_give_the_same_answer(spec: Spec) -> None:
    t = table(spec)
    ids = pc.cast(pc.dictionary_encode(t["customer_id"]).combine_chunks().indices, pa.int64())
    assert_frames_equal(spec(set_col(t, "customer_id", ids), by="region"), spec(t, by="region"))


DATE_FORMATS = ["%Y-%m-%d", "%d/%m/%Y", "%Y-%m-%dT%H:%M:%SZ", "%Y%m%d", "%d.%m.%Y %H:%M"]


def _instant_params() -> list[Any]:
    return [
        pytest.param(s, c, f, id=f"{s.name}-{c}-{f}")
        for s in SPECS
        for c in dict.fromkeys((*s.instants, s.date))
        for f in DATE_FORMATS
    ]


@pytest.mark.parametrize(("spec", "col", "fmt"), _instant_params())
def test_dates_as_strings(spec: Spec, col: str, fmt: str) -> None:
    t = table(spec)
    text = pc.strftime(t[col].cast(pa.timestamp("s"), safe=False), format=fmt)
    err = raises_input(lambda: spec(set_col(t, col, text), period="month"), col)
    assert "to_datetime" in str(err) or "Parse it first" in str(err)


@pytest.mark.parametrize(
    ("spec", "col"), params(SPECS, lambda s: tuple(dict.fromkeys((*s.instants, s.date))))
)
def test_dates_as_epoch_seconds(spec: Spec, col: str) -> None:
    t = table(spec)
    seconds = pc.cast(t[col].cast(pa.timestamp("s"), safe=False), pa.int64())
    raises_input(lambda: spec(set_col(t, col, seconds), period="month"), col)


# ---- time zones mixed across a KPI's date columns ------------------------------

# A zone without daylight saving: localising wall times keeps every duration.
ZONE = "Asia/Kolkata"
DURATIONS = {
    "time_to_quote": ("requested_at", "quoted_at"),
    "resolution_time": ("opened_at", "resolved_at"),
    "cart_abandonment": ("created_at", "checked_out_at"),
    "lead_conversion": ("created_at", "converted_at"),
}


def localized(t: pa.Table, col: str, zone: str = ZONE) -> pa.Table:
    """`col` as zoned timestamps with the same wall times (dates become midnight)."""
    naive = t[col].cast(pa.timestamp("us"))
    return set_col(t, col, pc.assume_timezone(naive, zone))


def _zone_params() -> list[Any]:
    out = []
    for s in SPECS:
        cols = list(dict.fromkeys((*s.instants, s.date)))
        for col in cols:
            out.append(pytest.param(s, (col,), id=f"{s.name}-{col}"))
        if len(cols) > 1:
            out.append(pytest.param(s, tuple(cols), id=f"{s.name}-all-zoned"))
    return out


@pytest.mark.parametrize(("spec", "cols"), _zone_params())
def test_zoned_and_naive_timestamps_mixed(spec: Spec, cols: tuple[str, ...]) -> None:
    """Zoned columns are read in their own zone: with the same wall times the answer is
    the naive one, except a duration between a zoned and a naive column, which has no
    meaning and is refused."""
    t = table(spec)
    # Dates that are read as days stay comparable: start from naive timestamps everywhere.
    for c in dict.fromkeys((*spec.instants, spec.date)):
        if pa.types.is_date(t.schema.field(c).type):
            t = set_col(t, c, t[c].cast(pa.timestamp("us")))
    expected = spec(t, by="region", period="month", as_of="2026-06-30")
    zoned = t
    for c in cols:
        zoned = localized(zoned, c)
    pair = DURATIONS.get(spec.name)
    if pair and len(set(cols) & set(pair)) == 1:
        err = raises_input(
            lambda: spec(zoned, by="region", period="month", as_of="2026-06-30"), set(pair)
        )
        assert "time zone" in str(err)
        return
    got = spec(zoned, by="region", period="month", as_of="2026-06-30")
    assert_frames_equal(got, expected)


def test_duration_between_zoned_and_naive_would_be_shifted_silently() -> None:
    """The case the refusal protects: 5 minutes in Tokyo wall time is not 9 h 5 min."""
    start = pd.Timestamp("2025-03-03 08:35")
    df = pd.DataFrame(
        {
            "requested_at": pd.Series([start]).dt.tz_localize("Asia/Tokyo"),
            "quoted_at": [start + pd.Timedelta(minutes=5)],
            "quote_type": ["standard"],
        }
    )
    raises_input(lambda: kf.time_to_quote(df), {"requested_at", "quoted_at"})
    both = df.assign(quoted_at=df["quoted_at"].dt.tz_localize("Asia/Tokyo"))
    assert kf.time_to_quote(both).loc[0, "p50_hours"] == pytest.approx(5 / 60)


# ---- nulls ----------------------------------------------------------------------------


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_null_segment_is_its_own_and_last(spec: Spec) -> None:
    t = table(spec)
    region = pc.if_else(
        pc.equal(pc.index_in(t["region"], pa.array(["East"])), 0), None, t["region"]
    )
    t = set_col(t, "region", region)
    out = spec(t, by="region")
    null = out["region"].isna().to_numpy()
    assert null.any() and null[np.argmax(null) :].all()  # the null segment comes last
    if not spec.entity:
        # A segment depends on its own rows only.
        nulls = t.filter(pc.is_null(t["region"])).drop_columns(["region"])
        alone = spec(nulls)
        assert_frames_equal(out.iloc[[-1]].drop(columns="region"), alone)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_null_dates_with_a_period(spec: Spec) -> None:
    t = table(spec)
    date = t[spec.date].combine_chunks()
    null_rows = [5, 17, 18]
    mask = np.zeros(len(date), bool)
    mask[null_rows] = True
    t = set_col(t, spec.date, pc.if_else(pa.array(mask), pa.nulls(len(date), date.type), date))
    raises_input(lambda: spec(t, period="month"), spec.date, count=3, example="null")
    with pytest.warns(kf.KpiDataWarning):
        dropped = spec(t, period="month", on_invalid="drop", as_of="2026-06-30")
    kept = spec(t.filter(pa.array(~mask)), period="month", as_of="2026-06-30")
    if spec.entity:
        # A customer's history loses those orders: compare the counts of visits only.
        assert dropped[COUNT[spec.name]].sum() <= kept[COUNT[spec.name]].sum() + 3
    else:
        assert_frames_equal(dropped, kept)


# What a null in each column means: counted as missing / undecided / open, or a bad row.
NULL_MEANS = {
    ("nps", "score"): "missing",
    ("csat", "score"): "missing",
    ("ces", "score"): "missing",
    ("revenue", "amount"): "missing",
    ("revenue", "quantity"): "ok",
    ("otif", "quantity"): "invalid",
    ("otif", "quantity_delivered"): "invalid",
    ("otif", "promised_date"): "invalid",
    ("otif", "delivered_date"): "undelivered",
    ("otif", "ordered_at"): "ok",
    ("order_accuracy", "accurate"): "missing",
    ("order_accuracy", "error_type"): "ok",
    ("self_service_adoption", "channel"): "missing",
    ("cross_sell", "has_addon"): "missing",
    ("repeat_purchase_rate", "customer_id"): "invalid",
    ("repeat_purchase_rate", "ordered_at"): "invalid",
    ("retention", "customer_id"): "invalid",
    ("retention", "ordered_at"): "invalid",
    ("purchase_frequency", "customer_id"): "invalid",
    ("purchase_frequency", "ordered_at"): "invalid",
    ("first_contact_resolution", "first_contact_resolved"): "missing",
    ("first_contact_resolution", "resolved_at"): "ok",
    ("time_to_quote", "quote_type"): "invalid",
    ("time_to_quote", "requested_at"): "invalid",
    ("time_to_quote", "quoted_at"): "open",
    ("resolution_time", "priority"): "invalid",
    ("resolution_time", "opened_at"): "invalid",
    ("resolution_time", "resolved_at"): "open",
    ("quote_win_rate", "won"): "undecided",
    ("feedback_themes", "score"): "ok",  # the comment still counts, in neither side of the split
    # -- finance and commercial --
    ("dso", "amount"): "missing",
    ("dso", "credit_limit"): "ok",
    ("dso", "due_date"): "invalid",
    ("dso", "partner_id"): "invalid",
    ("dso", "invoice_date"): "invalid",
    ("cart_abandonment", "created_at"): "invalid",
    ("cart_abandonment", "checked_out_at"): "ok",
    ("lead_conversion", "created_at"): "invalid",
    ("lead_conversion", "converted_at"): "ok",
    ("engagement", "customer_id"): "invalid",
    ("engagement", "event_type"): "missing",
    ("interaction_frequency", "customer_id"): "invalid",
    ("interaction_frequency", "interaction_type"): "missing",
}


@pytest.mark.parametrize(
    ("spec", "col"),
    [pytest.param(BY_NAME[k], c, id=f"{k}-{c}") for k, c in NULL_MEANS],
)
def test_nulls_in_measures_keys_and_dates(spec: Spec, col: str) -> None:
    t = table(spec)
    # Four rows that hold a value (for a delivered quantity: delivered orders).
    ok = pc.is_valid(t[col])
    if spec.name == "otif" and col == "quantity_delivered":
        ok = pc.and_(ok, pc.is_valid(t["delivered_date"]))
    rows = np.flatnonzero(ok.to_numpy(zero_copy_only=False))[:4]
    mask = np.zeros(t.num_rows, bool)
    mask[rows] = True
    col_type = t.schema.field(col).type
    nulled = set_col(t, col, pc.if_else(pa.array(mask), pa.nulls(t.num_rows, col_type), t[col]))
    meaning = NULL_MEANS[(spec.name, col)]
    if meaning == "invalid":
        raises_input(lambda: spec(nulled, as_of="2026-06-30"), col, count=4, example="null")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", kf.KpiDataWarning)  # null dates: in no period
            out = spec(nulled, as_of="2026-06-30", on_invalid="drop")
        if not spec.entity and col != spec.date:
            assert out["invalid"].sum() == 4
        return
    out = spec(nulled, as_of="2026-06-30")
    base = spec(t, as_of="2026-06-30")
    if meaning in ("missing", "undecided", "open"):
        # Four more rows counted there, and as many fewer valid ones.
        assert out[meaning].sum() - base[meaning].sum() == 4
        if meaning != "open":
            assert base["n"].sum() - out["n"].sum() == 4
    elif meaning == "undelivered":
        assert 0 < out["undelivered"].sum() - base["undelivered"].sum() <= 4
        assert out["n"].sum() == base["n"].sum()
    else:
        assert out.shape == base.shape


# ---- values outside their domain ------------------------------------------------------


SCALE_CASES = [
    ("nps", [11, -1, 100], 3, "11"),
    ("nps", [7.5, 9.25, 3.0], 2, "7.5"),
    ("csat", [0, 6, 5], 2, "0"),
    ("csat", [4.5, 5.0, 1.0], 1, "4.5"),
    ("ces", [9, 8, 2], 2, "9"),
]


@pytest.mark.parametrize(("kind", "bad", "count", "example"), SCALE_CASES)
def test_scores_off_the_scale_or_not_whole(kind: str, bad: list, count: int, example: str) -> None:
    spec = BY_NAME[kind]
    t = table(spec)
    scores = t["score"].to_pylist()
    scores[: len(bad)] = bad
    t = set_col(t, "score", pa.array(scores, pa.float64()))
    raises_input(lambda: spec(t), "score", count=count, example=example)
    out = spec(t, on_invalid="drop")
    assert out.loc[0, "invalid"] == count
    assert out.loc[0, "n"] + out.loc[0, "missing"] + count == t.num_rows


def put(t: pa.Table, col: str, k: int, value: float) -> pa.Table:
    """`col` as float64 with `value` in its first k non-null rows (delivered rows for OTIF)."""
    ok = pc.is_valid(t[col])
    if "delivered_date" in t.column_names:
        ok = pc.and_(ok, pc.is_valid(t["delivered_date"]))
    rows = np.flatnonzero(ok.to_numpy(zero_copy_only=False))[:k]
    mask = np.zeros(t.num_rows, bool)
    mask[rows] = True
    values = pc.cast(t[col], pa.float64())
    return set_col(t, col, pc.if_else(pa.array(mask), pa.scalar(value, pa.float64()), values))


NONFINITE_COLUMNS = [
    ("nps", "score"),
    ("csat", "score"),
    ("ces", "score"),
    ("revenue", "amount"),
    ("revenue", "quantity"),
    ("otif", "quantity"),
    ("otif", "quantity_delivered"),
    ("order_accuracy", "accurate"),
    ("cross_sell", "has_addon"),
    ("first_contact_resolution", "first_contact_resolved"),
    ("quote_win_rate", "won"),
    ("feedback_themes", "score"),
]


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize(
    ("spec", "col"), [pytest.param(BY_NAME[k], c, id=f"{k}-{c}") for k, c in NONFINITE_COLUMNS]
)
def test_nan_and_infinity(spec: Spec, col: str, value: float) -> None:
    t = put(table(spec), col, 3, value)  # 0/1 flags become floats
    err = raises_input(lambda: spec(t, as_of="2026-06-30"), col, count=3)
    assert err.example in ("nan", "NaN", "inf", "-inf")
    out = spec(t, as_of="2026-06-30", on_invalid="drop")
    assert out["invalid"].sum() == 3


NEGATIVE_CASES = [
    ("revenue", "amount", -12.5, "-12.5"),
    ("revenue", "quantity", -1.0, "-1"),
    ("otif", "quantity", -3.0, "-3"),
    ("otif", "quantity_delivered", -1.0, "-1"),
]


@pytest.mark.parametrize(("kind", "col", "value", "example"), NEGATIVE_CASES)
def test_negative_amounts_and_quantities(kind: str, col: str, value: float, example: str) -> None:
    spec = BY_NAME[kind]
    t = put(table(spec), col, 2, value)
    raises_input(lambda: spec(t, as_of="2026-06-30"), col, count=2, example=example)
    assert spec(t, as_of="2026-06-30", on_invalid="drop")["invalid"].sum() == 2


@pytest.mark.parametrize(
    ("kind", "start", "end"),
    [
        ("time_to_quote", "requested_at", "quoted_at"),
        ("resolution_time", "opened_at", "resolved_at"),
    ],
)
def test_negative_durations(kind: str, start: str, end: str) -> None:
    spec = BY_NAME[kind]
    df = frame(spec)
    answered = np.flatnonzero(df[end].notna())[:3]
    df.loc[answered, end] = df.loc[answered, start] - pd.Timedelta(minutes=1)
    err = raises_input(lambda: spec(df), end, count=3)
    assert "<" in err.example and start in err.example
    out = spec(df, on_invalid="drop")
    assert out.loc[0, "invalid"] == 3 and out.loc[0, "n"] == len(df) - 3


def test_delivery_before_the_order_and_negative_error_counts() -> None:
    spec = BY_NAME["otif"]
    df = frame(spec)
    rows = np.flatnonzero(df["delivered_date"].notna())[:2]
    df.loc[rows, "delivered_date"] = (df.loc[rows, "ordered_at"] - pd.Timedelta(days=3)).dt.date
    raises_input(lambda: kf.otif(df), "delivered_date", count=2)
    orders = frame(BY_NAME["order_accuracy"]).assign(error_count=lambda d: d["error_count"] * 1)
    orders.loc[[4, 9], "error_count"] = [-1, -2]
    raises_input(
        lambda: kf.order_accuracy(orders, error_count="error_count"), "error_count", 2, "-1"
    )
    orders.loc[[4, 9], "error_count"] = [0, 1]
    frac = orders.assign(error_count=orders["error_count"].astype(float))
    frac.loc[3, "error_count"] = 0.5
    raises_input(
        lambda: kf.order_accuracy(frac, error_count="error_count"), "error_count", 1, "0.5"
    )


# ---- duplicated ids, empty tables, one row, nothing left after where= ------------------


# Per-account KPIs whose rows are events (not visits), with the columns duplicates leave alone.
EVENT_ROWS = {
    "dso": ["accounts", "dso_days", "overdue_pct", "avg_days_to_pay", "credit_limit"],
    "engagement": ["active_accounts", "accounts", "active_days", "active_pct"],
    "interaction_frequency": ["active_customers"],
}


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_duplicated_rows(spec: Spec) -> None:
    """Exports repeat rows: row KPIs count them twice (shares and means do not move);
    per-customer KPIs see the same customers on the same days."""
    t = table(spec)
    twice = pa.concat_tables([t, t])
    a = spec(t, by="region", as_of="2026-06-30")
    b = spec(twice, by="region", as_of="2026-06-30")
    assert list(a["region"]) == list(b["region"])
    counts = [c for c in a.columns if a[c].dtype == "int64"]
    shares = [c for c in a.columns if c.endswith("_pct") or c in ("nps", "csat_mean", "ces_mean")]
    if spec.name == "purchase_frequency":
        np.testing.assert_array_equal(b["orders"], 2 * a["orders"])
        np.testing.assert_array_equal(b["customers"], a["customers"])
        for c in ("days_between_orders_p50", "days_since_last_order_p50"):
            np.testing.assert_allclose(b[c], a[c], equal_nan=True)
    elif spec.name in EVENT_ROWS:
        # Invoices, events and contacts are counted twice; accounts and ratios do not move.
        np.testing.assert_array_equal(b["n"], 2 * a["n"])
        for c in EVENT_ROWS[spec.name]:
            np.testing.assert_allclose(b[c], a[c], rtol=1e-12, equal_nan=True, err_msg=c)
    elif spec.entity:
        # Same-day duplicates are one visit: every column is unchanged.
        assert_frames_equal(b, a)
    else:
        for c in counts:
            np.testing.assert_array_equal(b[c], 2 * a[c], err_msg=c)
        for c in shares:
            np.testing.assert_allclose(b[c], a[c], rtol=1e-12, equal_nan=True, err_msg=c)


def test_duplicated_order_ids_in_order_lines() -> None:
    demo = _demo(3)
    lines = demo.order_lines
    twice = pa.concat_tables([lines, lines])
    a = kf.cross_sell(demo.orders, lines=lines, by="region")
    assert_frames_equal(kf.cross_sell(demo.orders, lines=twice, by="region"), a)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
@pytest.mark.parametrize("shape", ["whole", "by-period"])
def test_empty_table(spec: Spec, shape: str) -> None:
    t = table(spec).slice(0, 0)
    kw = {"by": "region", "period": "month"} if shape == "by-period" else {}
    out = spec(t, **kw)
    assert len(out) == 0
    full = spec(table(spec), **kw)
    assert list(out.columns) == list(full.columns)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_single_row(spec: Spec) -> None:
    t = table(spec)
    if spec.name == "order_accuracy":
        t = t.filter(pc.invert(t["accurate"]))  # an order with an error type
    one = t.slice(0, 1)
    # dso has a row for every period to as_of (default: the payment, maybe months later).
    kw = {"as_of": one[spec.date][0].as_py()} if spec.name == "dso" else {}
    out = spec(one, by="region", period="month", **kw)
    assert len(out) == 1
    row = out.iloc[0]
    assert row["region"] == one["region"][0].as_py()
    count = COUNT.get(spec.name, "n")
    assert row[count] == 1 or (spec.name == "quote_win_rate" and row["undecided"] == 1)
    # Intervals of one observation: a Wilson interval, never a t interval.
    for c in out.columns:
        if c.endswith("_mean_ci_low") or c.startswith("average_ticket_ci"):
            assert pd.isna(row[c]), c


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_zero_rows_after_where(spec: Spec) -> None:
    t = table(spec)
    out = spec(t, by="region", where={"region": "nowhere"})
    assert set(out["region"]) == set(t["region"].to_pylist())
    count = COUNT.get(spec.name, "n")
    assert (out[count] == 0).all()
    values = [c for c in out.columns if out[c].dtype == "float64"]
    assert out[values].isna().all().all()


# ---- many segments, huge keys, bytes ----------------------------------------------------

N_SEGMENTS = 100_000


@pytest.fixture(scope="module")
def many() -> dict[str, pa.Table]:
    rng = np.random.default_rng(0)
    n = N_SEGMENTS
    seg = pa.array([f"s{i:06d}" for i in range(n)])
    day = pa.array(rng.integers(19_900, 20_200, n).astype("int32"), pa.date32())
    return {
        "responses": pa.table({"seg": seg, "score": rng.integers(0, 11, n), "responded_at": day}),
        "orders": pa.table(
            {
                "seg": seg,
                "customer_id": seg,
                "amount": rng.uniform(0, 100, n),
                "quantity": rng.uniform(0, 5, n),
                "ordered_at": day,
                "promised_date": day,
                "delivered_date": day,
                "quantity_delivered": rng.uniform(0, 5, n),
            }
        ),
        "tickets": pa.table(
            {
                "seg": seg,
                "opened_at": day.cast(pa.timestamp("us")),
                "resolved_at": pc.add(
                    day.cast(pa.timestamp("us")), pa.scalar(3_600_000_000, pa.duration("us"))
                ),
                "priority": pa.array(["high"] * n),
                "first_contact_resolved": rng.integers(0, 2, n).astype(bool),
            }
        ),
    }


@pytest.mark.parametrize(
    ("kind", "tbl", "count"),
    [
        ("nps", "responses", "n"),
        ("revenue", "orders", "n"),
        ("otif", "orders", "n"),
        ("repeat_purchase_rate", "orders", "customers"),
        ("first_contact_resolution", "tickets", "n"),
        ("resolution_time", "tickets", "n"),
    ],
)
def test_100k_distinct_segments(many: dict[str, pa.Table], kind: str, tbl: str, count: str) -> None:
    out = BY_NAME[kind].fn(many[tbl], by="seg", output="arrow")
    assert out.num_rows == N_SEGMENTS
    assert out["seg"].to_pylist() == many[tbl]["seg"].to_pylist()  # sorted, as the input
    assert pc.sum(out[count]).as_py() == N_SEGMENTS


ONE_MB = "x" * (1 << 20)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_one_megabyte_strings_in_keys(spec: Spec) -> None:
    t = table(spec)
    rows = np.zeros(t.num_rows, bool)
    rows[::40] = True
    big = pc.if_else(pa.array(rows), pa.scalar(ONE_MB + "!"), t["region"])
    out = spec(set_col(t, "region", big), by="region", as_of="2026-06-30")
    got = out[out["region"] == ONE_MB + "!"]
    assert len(got) >= 1 and len(got["region"].iloc[0]) == (1 << 20) + 1
    if spec.entity:
        # Three customers with 1 MB ids: the same customers, the same answer.
        some = pc.is_in(t["customer_id"], t["customer_id"].unique()[:3])
        long_ids = pc.binary_join_element_wise(ONE_MB, t["customer_id"], "")
        ids = pc.if_else(some, long_ids, t["customer_id"])
        same = spec(set_col(t, "customer_id", ids), as_of="2026-06-30")
        assert_frames_equal(same, spec(t, as_of="2026-06-30"))
    else:
        alone = spec(t.filter(pa.array(rows)), as_of="2026-06-30")
        assert_frames_equal(got.drop(columns="region"), alone)


BYTES = pa.array([b"\xff\xfe" if i % 3 else b"ok" for i in range(64)], pa.binary())


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
@pytest.mark.parametrize("flavour", ["binary", "large_binary", "dictionary"])
def test_non_utf8_bytes_as_key_or_filter(spec: Spec, flavour: str) -> None:
    t = table(spec).slice(0, 64)
    col = {
        "binary": BYTES,
        "large_binary": BYTES.cast(pa.large_binary()),
        "dictionary": BYTES.dictionary_encode(),
    }[flavour]
    t = t.append_column("raw", col.slice(0, t.num_rows))  # the leads table is shorter
    raises_input(lambda: spec(t, by="raw"), "raw")
    raises_input(lambda: spec(t, where={"raw": "ok"}), "raw")
    raises_input(lambda: spec(t, where={"raw": [None]}), "raw")  # once a panic
    raises_input(lambda: spec(t, where={"raw": b"ok"}), "raw")
    if spec.entity:
        role = "account" if spec.name == "dso" else "customer"
        raises_input(lambda: spec(t, **{role: "raw"}), "raw")


def test_where_values_json_cannot_carry() -> None:
    r = table(BY_NAME["nps"])
    with_float = r.append_column("weight", pa.array(np.ones(r.num_rows)))
    raises_input(lambda: kf.nps(with_float, where={"weight": math.nan}), "weight")
    raises_input(lambda: kf.nps(with_float, where={"weight": [1.0, math.inf]}), "weight")
    raises_input(lambda: kf.nps(r, where={"channel": object()}), "channel")


def test_float_filters_match_like_pandas() -> None:
    r = table(BY_NAME["nps"]).slice(0, 50)
    t = r.append_column("w", pa.array([0.0, 0.1] * 25, pa.float32()))
    df = t.to_pandas()
    for value in (-0.0, 0.1):
        got = kf.nps(t, where={"w": value})
        assert got.loc[0, "n"] == int((df["w"] == value).sum()) == 25, value


# ---- numbers: decimals, compensated sums, interval edges ---------------------------------


def test_revenue_of_decimal128_amounts_is_exact_to_the_cent() -> None:
    cents = [Decimal("0.10")] * 1000 + [Decimal("12345678901.99"), None, Decimal("0.01")]
    t = pa.table(
        {
            "seg": ["a"] * len(cents),
            "amount": pa.array(cents, pa.decimal128(20, 2)),
            "quantity": np.ones(len(cents)),
        }
    )
    out = kf.revenue(t, by="seg").iloc[0]
    assert (out["n"], out["missing"]) == (1002, 1)
    assert out["revenue"] == float(Decimal("100.00") + Decimal("12345678901.99") + Decimal("0.01"))
    bad = pa.table({"amount": pa.array([Decimal("-1.50"), Decimal("2")], pa.decimal128(5, 2))})
    raises_input(lambda: kf.revenue(bad, volume=None), "amount", 1, "-1.5")


def test_revenue_sums_are_compensated_per_segment() -> None:
    """1e16 + 1 + 1 + ... : added one by one in floats, each 1 is lost (ulp(1e16) = 2)."""
    ones = 1000
    amounts = ([1e16] + [1.0] * ones) * 2
    seg = ["a"] * (ones + 1) + ["b"] * (ones + 1)
    t = pa.table({"seg": seg, "amount": amounts})
    naive = 0.0
    for a in amounts[: ones + 1]:
        naive += a
    assert naive == 1e16  # the failure compensated summation exists for
    out = kf.revenue(t, by="seg", volume=None)
    assert out["revenue"].tolist() == [1e16 + ones, 1e16 + ones]
    # The same through a stream of small batches and several threads.
    reader = pa.RecordBatchReader.from_batches(t.schema, t.to_batches(max_chunksize=7))
    assert (
        kf.revenue(reader, by="seg", volume=None, threads=3)["revenue"].tolist()
        == [1e16 + ones] * 2
    )


def test_average_ticket_interval_survives_cancellation() -> None:
    """Amounts 1e9 + {1, 2, 3}: a naive sum of squares loses the variance entirely."""
    amounts = [1e9 + 1, 1e9 + 2, 1e9 + 3]
    out = kf.revenue(pa.table({"amount": amounts}), volume=None).iloc[0]
    exact = [Fraction(a) for a in amounts]
    mean = sum(exact) / 3
    var = sum((a - mean) ** 2 for a in exact) / 2
    half = sps.t.ppf(0.975, 2) * math.sqrt(var) / math.sqrt(3)
    assert out["average_ticket"] == float(mean)
    # Within an ulp of 1e9 (1.2e-7): E[x^2] - E[x]^2 would be off by hundreds.
    assert out["average_ticket_ci_high"] == pytest.approx(float(mean) + half, abs=3e-7)
    assert out["average_ticket_ci_low"] == pytest.approx(float(mean) - half, abs=3e-7)


def test_resolution_hours_mean_is_compensated() -> None:
    opened = pd.Timestamp("2025-01-06")
    hours = [1e7] + [0.5] * 999
    df = pd.DataFrame(
        {
            "opened_at": [opened] * len(hours),
            "resolved_at": [opened + pd.Timedelta(hours=h) for h in hours],
            "priority": "standard",
        }
    )
    out = kf.resolution_time(df).iloc[0]
    assert close(out["mean_hours"], math.fsum(hours) / len(hours), 1e-15)
    assert out["p50_hours"] == 0.5


@pytest.mark.parametrize(
    ("scores", "p", "d"),
    [
        ([10], 1, 0),
        ([0], 0, 1),
        ([7], 0, 0),
        ([10] * 40, 40, 0),
        ([3] * 40, 0, 40),
        ([8] * 9, 0, 0),
    ],
    ids=[
        "one-promoter",
        "one-detractor",
        "one-passive",
        "all-promoters",
        "all-detractors",
        "all-passives",
    ],
)
def test_nps_interval_edges(scores: list[int], p: int, d: int) -> None:
    out = kf.nps(pd.DataFrame({"score": scores})).iloc[0]
    n = len(scores)
    assert (out["n"], out["promoters"], out["detractors"]) == (n, p, d)
    assert out["nps"] == 100 * (p - d) / n
    lo, hi = nps_interval(p, d, n)
    assert close(out["nps_ci_low"], lo) and close(out["nps_ci_high"], hi)
    assert -100 <= out["nps_ci_low"] < out["nps_ci_high"] <= 100


def test_nps_of_no_scores_is_null_not_zero() -> None:
    out = kf.nps(pd.DataFrame({"score": pd.array([None, None], dtype="Int64")})).iloc[0]
    assert (out["n"], out["missing"]) == (0, 2)
    assert pd.isna(out["nps"]) and pd.isna(out["nps_ci_low"])


def _otif_frame(on_time: list[bool]) -> pd.DataFrame:
    day = pd.Timestamp("2025-03-03")
    return pd.DataFrame(
        {
            "ordered_at": [day] * len(on_time),
            "promised_date": [(day + pd.Timedelta(days=2)).date()] * len(on_time),
            "delivered_date": [(day + pd.Timedelta(days=1 if ok else 5)).date() for ok in on_time],
            "quantity": 1.0,
            "quantity_delivered": 1.0,
        }
    )


def _fcr_frame(resolved_first: list[bool]) -> pd.DataFrame:
    day = pd.Timestamp("2025-03-03")
    return pd.DataFrame(
        {
            "opened_at": [day] * len(resolved_first),
            "resolved_at": [day + pd.Timedelta(hours=2)] * len(resolved_first),
            "first_contact_resolved": resolved_first,
        }
    )


@pytest.mark.parametrize("n", [1, 2, 50])
@pytest.mark.parametrize("share", [0.0, 1.0])
@pytest.mark.parametrize("kind", ["otif", "first_contact_resolution"])
def test_wilson_shares_at_p0_and_p1(kind: str, share: float, n: int) -> None:
    hits = int(share * n)
    flags = [True] * hits + [False] * (n - hits)
    if kind == "otif":
        out = kf.otif(_otif_frame(flags), as_of="2025-03-31").iloc[0]
        col = "otif_pct"
    else:
        out = kf.first_contact_resolution(_fcr_frame(flags)).iloc[0]
        col = "fcr_pct"
    lo, hi = wilson(hits, n)
    assert out[col] == 100 * share
    assert close(out[f"{col}_ci_low"], lo) and close(out[f"{col}_ci_high"], hi)
    assert 0 <= out[f"{col}_ci_low"] <= out[col] <= out[f"{col}_ci_high"] <= 100
    if share == 0:
        assert out[f"{col}_ci_low"] == 0 and out[f"{col}_ci_high"] > 0
    else:
        assert out[f"{col}_ci_high"] == 100 and out[f"{col}_ci_low"] < 100


@pytest.mark.parametrize("kind", ["otif", "first_contact_resolution"])
def test_wilson_share_of_nothing_is_null(kind: str) -> None:
    if kind == "otif":
        out = kf.otif(_otif_frame([True]), as_of="2025-03-01").iloc[0]  # pending: due = 0
        assert (out["due"], out["pending"]) == (0, 1)
        cols = ["otif_pct", "otif_pct_ci_low", "otif_pct_ci_high"]
    else:
        out = kf.first_contact_resolution(_fcr_frame([True]).assign(first_contact_resolved=None))
        out = out.iloc[0]
        cols = ["fcr_pct", "fcr_pct_ci_low", "fcr_pct_ci_high"]
    assert all(pd.isna(out[c]) for c in cols)


def test_all_null_end_times_are_open_not_an_error() -> None:
    """A fresh export where nothing was answered yet has an all-null (type null) column."""
    q = frame(BY_NAME["time_to_quote"]).assign(quoted_at=None)
    assert pa.Table.from_pandas(q).schema.field("quoted_at").type == pa.null()
    out = kf.time_to_quote(q, as_of="2026-06-30").iloc[0]
    assert (out["answered"], out["open"]) == (0, len(q))
    assert pd.isna(out["p50_hours"])
    # The default as_of comes from the request dates then.
    assert kf.time_to_quote(q).loc[0, "n"] == len(q)


def test_garbage_dates_outside_years_1_to_9999_in_customer_histories() -> None:
    days = pa.array([20_000, 20_010, 2_000_000_000, -2_000_000_000], pa.date32())
    t = pa.table({"customer_id": ["a", "a", "b", "c"], "ordered_at": days})
    for fn in (kf.repeat_purchase_rate, kf.purchase_frequency):
        err = raises_input(lambda fn=fn: fn(t), "ordered_at", count=2)
        assert "0001-9999" in str(err)
        # In no customer's history, so in no count: a warning says so.
        with pytest.warns(kf.KpiDataWarning, match="dropped 2 rows with a date outside"):
            out = fn(t, on_invalid="drop")
        assert out.loc[0, "customers"] == 1
    with pytest.warns(kf.KpiDataWarning, match="outside the years 0001-9999 in 'ordered_at'"):
        cohorts = kf.cohort_retention(t, period="day", on_invalid="drop")
    assert cohorts["cohort"].unique().tolist() == ["2024-10-04"]
    assert (cohorts["cohort_size"] == 1).all() and len(cohorts) == 11  # days 0..10 since
    # Row KPIs bucket such dates without trouble (the period is as absurd as the date).
    r = pa.table({"score": [9, 10, 3, 5], "responded_at": days})
    assert kf.nps(r, period="year")["n"].tolist() == [1, 2, 1]
    raises_input(lambda: kf.repeat_purchase_rate(t, as_of="20000-01-01"), "as_of")


def test_huge_repeat_window_does_not_allocate_it() -> None:
    """window=10**9 once sized the Kaplan-Meier counts by the window: 16 GB per cell."""
    t = table(BY_NAME["repeat_purchase_rate"])
    out = kf.repeat_purchase_rate(t, window=10**9, method="kaplan_meier", by="region")
    base = kf.repeat_purchase_rate(t, window=10**6, method="kaplan_meier", by="region")
    assert (out["customers"] == out["censored"]).all()
    assert_frames_equal(out, base)
