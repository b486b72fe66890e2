"""Properties of one KPI of every family, on random data (hypothesis, profile "ci"):

(a) kpiforge equals a plain pandas reference;
(b) splitting the input into any chunks and merging their partial states equals one pass;
(c) permuting the rows changes nothing;
(d) adding rows of another segment changes nothing for the others;
(e) threads=1 equals threads=3;
(f) cells whose counts pass 255 (the rows repeated), where a state's counters
    leave their one byte each, still equal the reference, whole and merged.

Every call passes an explicit ``as_of`` so that censoring KPIs censor alike in every part.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

import kpiforge as kf
from conftest import quarter_label, ref_mean_top, ref_nps, wilson

AS_OF = dt.date(2025, 3, 31)
BASE = dt.datetime(2024, 1, 1)
SEGMENTS = ["a", "b", "c", None]
DAY = st.integers(0, 455)  # 2024-01-01 .. 2025-03-31
OTHER = "zz-other"  # the segment property (d) adds

# ---- comparison helpers ----------------------------------------------------------------


def same(got: Any, want: Any, rel: float) -> bool:
    """Equal counts, or floats within `rel` (absolute below 1); null matches null or absent."""
    missing = lambda v: v is None or (isinstance(v, float) and math.isnan(v))  # noqa: E731
    if missing(got) or missing(want):
        return missing(got) and missing(want)
    if isinstance(want, float) or isinstance(got, float):
        return abs(got - want) <= rel * max(1.0, abs(want))
    return got == want


def check(out: pd.DataFrame, expected: dict, keys: list[str], rel: float = 1e-9) -> None:
    """Every output row equals the reference of its cell, and every cell has a row."""
    assert len(out) == len(expected), (len(out), len(expected))
    for _, row in out.iterrows():
        cell = tuple(None if pd.isna(row[k]) else row[k] for k in keys)
        ref = expected[cell]
        for col, want in ref.items():
            assert same(row[col], want, rel), (cell, col, row[col], want)


def comparable(df: pd.DataFrame) -> pd.DataFrame:
    """List cells (numpy arrays) as tuples, which pandas can compare."""
    df = df.reset_index(drop=True)
    for col in df.columns:
        if df[col].dtype == object and any(isinstance(v, np.ndarray) for v in df[col]):
            df[col] = [tuple(v) if isinstance(v, np.ndarray) else v for v in df[col]]
    return df


def assert_equal(got: pd.DataFrame, want: pd.DataFrame, rel: float = 1e-12) -> None:
    pd.testing.assert_frame_equal(comparable(got), comparable(want), check_exact=False, rtol=rel)


def seg_key(v: Any) -> Any:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else v


def cells(df: pd.DataFrame, by_period: bool) -> dict[tuple, pd.DataFrame]:
    """Rows per (segment[, quarter]), null segment as None."""
    keyed = df.assign(_seg=["\0" if seg_key(v) is None else v for v in df["seg"]])
    cols = ["_seg", "_q"] if by_period else ["_seg"]
    if by_period:
        keyed["_q"] = keyed["_date"].map(quarter_label)
    out = {}
    for key, g in keyed.groupby(cols):
        key = key if isinstance(key, tuple) else (key,)
        out[(None if key[0] == "\0" else key[0], *key[1:])] = g
    return out


def day(d: int) -> dt.datetime:
    return BASE + dt.timedelta(days=d)


# ---- the KPIs: random rows, table, call and reference -----------------------------------


@dataclasses.dataclass(frozen=True)
class Case:
    kind: str
    params: dict[str, Any]
    rows: st.SearchStrategy[list[tuple]]
    table: Callable[[list[tuple], str], pa.Table]  # rows, customer prefix
    reference: Callable[[pa.Table], dict]
    period: str | None = "quarter"
    rel: float = 1e-9

    def __call__(self, data: Any, **kw: Any) -> pd.DataFrame:
        return kf.compute(
            data,
            [kf.Kpi(self.kind, **self.params)],
            by="seg",
            period=self.period,
            as_of=AS_OF,
            **kw,
        )

    def keys(self) -> list[str]:
        return ["seg", "period"] if self.period else ["seg"]


def segs(rows: list[tuple]) -> pa.Array:
    return pa.array([r[0] for r in rows], pa.string())


def rows_of(*fields: st.SearchStrategy[Any]) -> st.SearchStrategy[list[tuple]]:
    return st.lists(st.tuples(st.sampled_from(SEGMENTS), *fields), min_size=1, max_size=60)


# -- nps (survey) --


def nps_table(rows: list[tuple], _: str) -> pa.Table:
    return pa.table(
        {
            "seg": segs(rows),
            "score": pa.array([r[1] for r in rows], pa.int64()),
            "responded_at": pa.array([day(r[2]) for r in rows], pa.timestamp("us")),
        }
    )


def nps_reference(t: pa.Table) -> dict:
    df = t.to_pandas().assign(_date=lambda d: d["responded_at"])
    return {k: ref_nps(g["score"]) for k, g in cells(df, True).items()}


# -- csat (survey, no period) --


def csat_table(rows: list[tuple], _: str) -> pa.Table:
    return pa.table({"seg": segs(rows), "score": pa.array([r[1] for r in rows], pa.int8())})


def csat_reference(t: pa.Table) -> dict:
    out = {}
    for k, g in cells(t.to_pandas(), False).items():
        r = ref_mean_top(g["score"], top_min=4)
        names = {
            "mean": "csat_mean",
            "top_pct": "csat_satisfied_pct",
            "top_ci_low": "csat_satisfied_pct_ci_low",
            "top_ci_high": "csat_satisfied_pct_ci_high",
        }
        out[k] = {"n": r["n"], "missing": r["missing"]} | {v: r.get(k2) for k2, v in names.items()}
    return out


# -- revenue (orders) --


def revenue_table(rows: list[tuple], _: str) -> pa.Table:
    return pa.table(
        {
            "seg": segs(rows),
            "amount": pa.array([r[1] for r in rows], pa.float64()),
            "quantity": pa.array([r[2] for r in rows], pa.float64()),
            "ordered_at": pa.array([day(r[3]).date() for r in rows], pa.date32()),
        }
    )


def revenue_reference(t: pa.Table) -> dict:
    df = t.to_pandas().assign(_date=lambda d: pd.to_datetime(d["ordered_at"]))
    out = {}
    for k, g in cells(df, True).items():
        a, q = g["amount"].dropna(), g["quantity"].dropna()
        n = len(a)
        ref: dict[str, Any] = {"n": n, "missing": len(g) - n}
        ref["revenue"] = math.fsum(a) if n else None
        ref["volume"] = math.fsum(q) if len(q) else None
        ref["average_ticket"] = math.fsum(a) / n if n else None
        if n > 1:
            half = sps.t.ppf(0.975, n - 1) * a.std(ddof=1) / math.sqrt(n)
            ref["average_ticket_ci_high"] = ref["average_ticket"] + half
        out[k] = ref
    return out


# -- otif (orders, censored) --


def otif_table(rows: list[tuple], _: str) -> pa.Table:
    # (seg, order day, promise lead, delivery lag or None, quantity, delivered fraction)
    return pa.table(
        {
            "seg": segs(rows),
            "ordered_at": pa.array([day(r[1]) for r in rows], pa.timestamp("us")),
            "promised_date": pa.array([day(r[1] + r[2]).date() for r in rows], pa.date32()),
            "delivered_date": pa.array(
                [None if r[3] is None else day(r[1] + r[3]).date() for r in rows], pa.date32()
            ),
            "quantity": pa.array([r[4] for r in rows], pa.float64()),
            "quantity_delivered": pa.array(
                [None if r[3] is None else r[4] * r[5] for r in rows], pa.float64()
            ),
        }
    )


def otif_reference(t: pa.Table) -> dict:
    df = t.to_pandas().assign(_date=lambda d: d["ordered_at"])
    out = {}
    for k, g in cells(df, True).items():
        due = g["promised_date"] <= AS_OF
        delivered = g["delivered_date"].map(lambda d: d is not None and d <= AS_OF)
        on_time = (
            due
            & delivered
            & g.apply(
                lambda r: (
                    r["delivered_date"] is not None and r["delivered_date"] <= r["promised_date"]
                ),
                axis=1,
            )
        )
        in_full = due & delivered & (g["quantity_delivered"] >= g["quantity"])
        both = int((on_time & in_full).sum())
        ref: dict[str, Any] = {"n": len(g), "due": int(due.sum()), "pending": int((~due).sum())}
        ref["undelivered"] = int((due & ~delivered).sum())
        n_due = ref["due"]
        ref["otif_pct"] = 100 * both / n_due if n_due else None
        ref["otif_pct_ci_low"] = wilson(both, n_due)[0] if n_due else None
        ref["in_full_pct"] = 100 * int(in_full.sum()) / n_due if n_due else None
        ref["on_time_pct"] = 100 * int(on_time.sum()) / n_due if n_due else None
        out[k] = ref
    return out


# -- order_accuracy (orders) --

ERROR_TYPES = ["picking", " Packing", "LOADING", "damaged", None]


def accuracy_table(rows: list[tuple], _: str) -> pa.Table:
    return pa.table(
        {
            "seg": segs(rows),
            "accurate": pa.array([r[1] for r in rows], pa.bool_()),
            "error_type": pa.array([r[2] for r in rows], pa.string()),
        }
    )


def accuracy_reference(t: pa.Table) -> dict:
    out = {}
    for k, g in cells(t.to_pandas(), False).items():
        ok = g["accurate"].dropna().astype(bool)
        n = len(ok)
        types = g.loc[g["accurate"].notna(), "error_type"].dropna().str.strip().str.lower()
        ref: dict[str, Any] = {"n": n, "missing": len(g) - n}
        ref["accuracy_pct"] = 100 * int(ok.sum()) / n if n else None
        ref["accuracy_pct_ci_high"] = wilson(int(ok.sum()), n)[1] if n else None
        for e in ("picking", "packing", "loading"):
            ref[f"errors_{e}"] = int((types == e).sum())
        ref["errors_other"] = int((~types.isin(["picking", "packing", "loading"])).sum())
        out[k] = ref
    return out


# -- per customer: repeat purchase and retention --


def customer_table(rows: list[tuple], prefix: str) -> pa.Table:
    return pa.table(
        {
            "seg": segs(rows),
            "customer_id": [f"{prefix}c{r[1]}" for r in rows],
            "ordered_at": pa.array([day(r[2]) for r in rows], pa.timestamp("us")),
        }
    )


WINDOW = 30


def repeat_reference(t: pa.Table) -> dict:
    df = t.to_pandas().assign(_date=lambda d: d["ordered_at"])
    df = df[df["ordered_at"] <= pd.Timestamp(AS_OF)]
    as_of = pd.Timestamp(AS_OF)
    out = {}
    for k, cell in cells(df, True).items():
        customers = censored = eligible = repeaters = 0
        for cust, g in cell.groupby("customer_id"):
            anchor = g["ordered_at"].min().normalize()
            later = df.loc[df["customer_id"] == cust, "ordered_at"].dt.normalize()
            later = later[later > anchor]
            customers += 1
            if anchor + pd.Timedelta(days=WINDOW) > as_of:
                censored += 1
            else:
                eligible += 1
                repeaters += bool(len(later)) and (later.min() - anchor).days <= WINDOW
        out[k] = {
            "customers": customers,
            "censored": censored,
            "eligible": eligible,
            "repeaters": repeaters,
            "repeat_rate_pct": 100 * repeaters / eligible if eligible else None,
        }
    return out


def retention_reference(t: pa.Table) -> dict:
    df = t.to_pandas()
    df = df[df["ordered_at"] <= pd.Timestamp(AS_OF)].copy()
    df["seg"] = ["\0" if seg_key(v) is None else v for v in df["seg"]]  # NaN keys do not match
    period = df["ordered_at"].dt.to_period("Q")
    df["q"] = period
    active = {(s, q): set(g["customer_id"]) for (s, q), g in df.groupby(["seg", "q"], dropna=False)}
    anywhere = {q: set(g["customer_id"]) for q, g in df.groupby("q")}
    out: dict = {}
    for (s, q), custs in active.items():
        # This cell's own customers, and the next period's retained share (once it has begun).
        label = quarter_label(q.start_time)
        out.setdefault((s, label), {})["active_customers"] = len(custs)
        nxt = q + 1
        if nxt.start_time <= pd.Timestamp(AS_OF):
            back = len(custs & anywhere.get(nxt, set()))
            ref = out.setdefault((s, quarter_label(nxt.start_time)), {})
            ref.update(
                previous_customers=len(custs), retained=back, retention_pct=100 * back / len(custs)
            )
    for ref in out.values():
        ref.setdefault("active_customers", 0)
        ref.setdefault("previous_customers", 0)
    return {(None if s == "\0" else s, q): v for (s, q), v in out.items()}


# -- service: resolution time percentiles and first-contact resolution --

SLA = {"high": 8.0, "low": 48.0}


def sla_table(
    start: str, end: str, kind: str, categorical: bool = False
) -> Callable[[list[tuple], str], pa.Table]:
    """Rows (seg, start minute, type, ended?, seconds to end) as a table of the SLA kernel;
    the type column plain strings or (``categorical``) dictionary-encoded."""

    def table(rows: list[tuple], _: str) -> pa.Table:
        started = [BASE + dt.timedelta(minutes=r[1]) for r in rows]
        ended = [
            o + dt.timedelta(seconds=r[4]) if r[3] else None
            for o, r in zip(started, rows, strict=True)
        ]
        types = pa.array([r[2] for r in rows], pa.string())
        return pa.table(
            {
                "seg": segs(rows),
                start: pa.array(started, pa.timestamp("us")),
                end: pa.array(ended, pa.timestamp("us")),
                kind: types.dictionary_encode() if categorical else types,
            }
        )

    return table


def sla_reference(start: str, end: str, kind: str, sla: dict) -> Callable[[pa.Table], dict]:
    """Durations (numpy percentiles) and the censored SLA share, per cell."""

    def reference(t: pa.Table) -> dict:
        df = t.to_pandas().assign(_date=lambda d: d[start])
        df[kind] = df[kind].astype(str)
        as_of_end = pd.Timestamp(AS_OF) + pd.Timedelta(days=1)
        out = {}
        for k, g in cells(df, True).items():
            hours = ((g[end] - g[start]).dropna() / pd.Timedelta(hours=1)).to_numpy()
            deadline = g[start] + pd.to_timedelta(g[kind].map(sla), unit="h")
            passed = deadline < as_of_end
            hit = g[end].notna() & (g[end] <= deadline) & passed
            ref: dict[str, Any] = {
                "n": len(g),
                "open": int(g[end].isna().sum()),
                "pending": int((~passed).sum()),
                "sla_n": int(passed.sum()),
            }
            if len(hours):
                ref["p50_hours"], ref["p90_hours"] = np.percentile(hours, [50, 90])
                ref["mean_hours"] = math.fsum(hours) / len(hours)
            else:
                ref["p50_hours"] = ref["p90_hours"] = ref["mean_hours"] = None
            hits, due = int(hit.sum()), int(passed.sum())
            ref["sla_pct"] = 100 * hits / due if due else None
            ref["sla_pct_ci_low"] = wilson(hits, due)[0] if due else None
            out[k] = ref
        return out

    return reference


resolution_table = sla_table("opened_at", "resolved_at", "priority")
resolution_reference = sla_reference("opened_at", "resolved_at", "priority", SLA)


def fcr_table(rows: list[tuple], _: str) -> pa.Table:
    # (seg, day, flag or None, resolved?)
    opened = [day(r[1]) for r in rows]
    return pa.table(
        {
            "seg": segs(rows),
            "opened_at": pa.array(opened, pa.timestamp("us")),
            "resolved_at": pa.array(
                [
                    o + dt.timedelta(hours=3) if r[3] else None
                    for o, r in zip(opened, rows, strict=True)
                ],
                pa.timestamp("us"),
            ),
            "first_contact_resolved": pa.array([r[2] for r in rows], pa.bool_()),
        }
    )


def fcr_reference(t: pa.Table) -> dict:
    df = t.to_pandas().assign(_date=lambda d: d["opened_at"])
    out = {}
    for k, g in cells(df, True).items():
        resolved = g["resolved_at"].notna()
        flag = g["first_contact_resolved"]
        missing = int((resolved & flag.isna()).sum())
        n = len(g) - missing
        hits = int((resolved & flag.fillna(False).astype(bool)).sum())
        out[k] = {
            "n": n,
            "missing": missing,
            "fcr_pct": 100 * hits / n if n else None,
            "fcr_pct_ci_low": wilson(hits, n)[0] if n else None,
        }
    return out


# -- ces (survey, scale 1-7, no period) --


def ces_reference(t: pa.Table) -> dict:
    out = {}
    for k, g in cells(t.to_pandas(), False).items():
        r = ref_mean_top(g["score"], top_min=6, hi=7)
        out[k] = {
            "n": r["n"],
            "missing": r["missing"],
            "ces_mean": r.get("mean"),
            "ces_mean_ci_high": r.get("mean_ci_high"),
            "ces_easy_pct": r.get("top_pct"),
            "ces_easy_pct_ci_low": r.get("top_ci_low"),
        }
    return out


# -- self-service adoption and cross-sell (orders: shares of orders) --

CHANNELS = ["portal", "app", "phone", "branch", None]


def channel_table(rows: list[tuple], _: str) -> pa.Table:
    return pa.table(
        {
            "seg": segs(rows),
            "channel": pa.array([r[1] for r in rows], pa.string()).dictionary_encode(),
            "ordered_at": pa.array([day(r[2]) for r in rows], pa.timestamp("us")),
        }
    )


def share_reference(t: pa.Table, column: str, hit: Callable[[Any], bool], name: str) -> dict:
    df = t.to_pandas().assign(_date=lambda d: d["ordered_at"])
    out = {}
    for k, g in cells(df, True).items():
        values = [v for v in g[column] if v is not None and v == v]
        n, hits = len(values), sum(1 for v in values if hit(v))
        out[k] = {
            "n": n,
            "missing": len(g) - n,
            name: 100 * hits / n if n else None,
            f"{name}_ci_high": wilson(hits, n)[1] if n else None,
        }
    return out


def self_service_reference(t: pa.Table) -> dict:
    return share_reference(t, "channel", lambda v: v in ("portal", "app"), "self_service_pct")


def flag_table(rows: list[tuple], _: str) -> pa.Table:
    return pa.table(
        {
            "seg": segs(rows),
            "has_addon": pa.array([r[1] for r in rows], pa.bool_()),
            "ordered_at": pa.array([day(r[2]) for r in rows], pa.timestamp("us")),
        }
    )


def cross_sell_reference(t: pa.Table) -> dict:
    return share_reference(t, "has_addon", bool, "cross_sell_pct")


# -- quote win rate (service: won / decided) --


def quote_table(rows: list[tuple], _: str) -> pa.Table:
    return pa.table(
        {
            "seg": segs(rows),
            "won": pa.array([r[1] for r in rows], pa.bool_()),
            "requested_at": pa.array([day(r[2]) for r in rows], pa.timestamp("us")),
        }
    )


def win_rate_reference(t: pa.Table) -> dict:
    df = t.to_pandas().assign(_date=lambda d: d["requested_at"])
    out = {}
    for k, g in cells(df, True).items():
        decided = [bool(v) for v in g["won"] if v is not None and v == v]
        n, hits = len(decided), sum(decided)
        out[k] = {
            "n": n,
            "undecided": len(g) - n,
            "win_rate_pct": 100 * hits / n if n else None,
            "win_rate_pct_ci_low": wilson(hits, n)[0] if n else None,
        }
    return out


CASES = [
    Case(
        "nps", {}, rows_of(st.one_of(st.none(), st.integers(0, 10)), DAY), nps_table, nps_reference
    ),
    Case(
        "csat",
        {},
        rows_of(st.one_of(st.none(), st.integers(1, 5))),
        csat_table,
        csat_reference,
        period=None,
    ),
    Case(
        "revenue",
        {},
        rows_of(
            st.one_of(st.none(), st.floats(0, 1e7, allow_nan=False), st.sampled_from([1e15, 0.1])),
            st.one_of(st.none(), st.floats(0, 100, allow_nan=False)),
            DAY,
        ),
        revenue_table,
        revenue_reference,
    ),
    Case(
        "otif",
        {},
        rows_of(
            DAY,
            st.integers(0, 10),
            st.one_of(st.none(), st.integers(0, 20)),
            st.floats(0.5, 20, allow_nan=False),
            st.sampled_from([1.0, 0.5, 1.25]),
        ),
        otif_table,
        otif_reference,
    ),
    Case(
        "order_accuracy",
        {},
        rows_of(st.sampled_from([True, False, None]), st.sampled_from(ERROR_TYPES)),
        accuracy_table,
        accuracy_reference,
        period=None,
    ),
    Case(
        "repeat_purchase_rate",
        {"window": WINDOW},
        rows_of(st.integers(0, 8), DAY),
        customer_table,
        repeat_reference,
    ),
    Case("retention", {}, rows_of(st.integers(0, 8), DAY), customer_table, retention_reference),
    Case(
        "resolution_time",
        {"sla_hours": SLA},
        rows_of(
            st.integers(0, 455 * 24 * 60),
            st.sampled_from(sorted(SLA)),
            st.booleans(),
            st.integers(0, 5 * 86_400),
        ),
        resolution_table,
        resolution_reference,
    ),
    Case(
        "first_contact_resolution",
        {},
        rows_of(DAY, st.sampled_from([True, False, None]), st.booleans()),
        fcr_table,
        fcr_reference,
    ),
    Case(
        "ces",
        {"scale": 7},
        rows_of(st.one_of(st.none(), st.integers(1, 7))),
        csat_table,
        ces_reference,
        period=None,
    ),
    Case(
        "self_service_adoption",
        {"channels": ["portal", "app"]},
        rows_of(st.sampled_from(CHANNELS), DAY),
        channel_table,
        self_service_reference,
    ),
    Case(
        "cross_sell",
        {},
        rows_of(st.sampled_from([True, False, None]), DAY),
        flag_table,
        cross_sell_reference,
    ),
    Case(
        "quote_win_rate",
        {},
        rows_of(st.sampled_from([True, False, None]), DAY),
        quote_table,
        win_rate_reference,
    ),
]
IDS = [c.kind for c in CASES]


# ---- (a) the reference ------------------------------------------------------------------


def _reference_test(case: Case) -> Callable[..., None]:
    @given(case.rows)
    def test(rows: list[tuple]) -> None:
        t = case.table(rows, "")
        check(case(t), case.reference(t), case.keys(), case.rel)

    test.__name__ = f"test_{case.kind}_matches_pandas_reference"
    return test


for _case in CASES:
    globals()[f"test_{_case.kind}_matches_pandas_reference"] = _reference_test(_case)


# ---- (b)-(e) invariances -----------------------------------------------------------------


def _invariance_test(case: Case) -> Callable[..., None]:
    @given(case.rows, case.rows, st.data())
    def test(rows: list[tuple], other: list[tuple], data: st.DataObject) -> None:
        t = case.table(rows, "")
        whole = case(t)

        # (b) any chunks, merged from partial states in a random grouping
        cuts = sorted(data.draw(st.lists(st.integers(0, t.num_rows), max_size=4), "cuts"))
        bounds = [0, *cuts, t.num_rows]
        parts = [
            case(t.slice(a, b - a), partial=True) for a, b in zip(bounds, bounds[1:], strict=False)
        ]
        split = data.draw(st.integers(0, len(parts)), "split")
        groups = [g for g in (parts[:split], parts[split:]) if g]
        merged = kf.finalize([kf.merge_partials(g) for g in groups])
        assert_equal(merged, whole)

        # (c) any row order
        perm = data.draw(st.permutations(range(t.num_rows)), "permutation")
        assert_equal(case(t.take(pa.array(perm, pa.int64()))), whole)

        # (d) rows of another segment (other customers) leave this one alone
        extra = case.table(other, "other-")
        extra = extra.set_column(0, "seg", pa.array([OTHER] * extra.num_rows))
        more = case(pa.concat_tables([t, extra]))
        assert_equal(more[more["seg"] != OTHER], whole)

        # (e) thread count
        pd.testing.assert_frame_equal(case(t, threads=1), case(t, threads=3))

    test.__name__ = f"test_{case.kind}_chunks_order_segments_threads"
    return test


for _case in CASES:
    globals()[f"test_{_case.kind}_chunks_order_segments_threads"] = _invariance_test(_case)


# ---- (f) counts past a byte ----------------------------------------------------------------


def _large_cells_test(case: Case) -> Callable[..., None]:
    # Few examples: each is a few thousand rows and the references loop in pandas.
    @settings(max_examples=10)
    @given(case.rows, st.integers(256, 300))
    def test(rows: list[tuple], times: int) -> None:
        # Other customers in each copy, so that per-customer counts grow too.
        t = pa.concat_tables([case.table(rows, f"copy{i}-") for i in range(times)])
        whole = case(t)
        check(whole, case.reference(t), case.keys(), case.rel)
        # Partial states with big counts merge with small ones.
        parts = [case(t.slice(0, 7), partial=True), case(t.slice(7), partial=True)]
        assert_equal(kf.finalize(kf.merge_partials(parts)), whole)

    test.__name__ = f"test_{case.kind}_with_counts_past_a_byte"
    return test


for _case in CASES:
    globals()[f"test_{_case.kind}_with_counts_past_a_byte"] = _large_cells_test(_case)


def test_every_family_is_covered() -> None:
    families = set(kf.catalog().set_index("name").loc[IDS, "family"])
    assert families == {"survey", "orders", "service"}, families
    assert {"repeat_purchase_rate", "retention"} <= set(IDS)  # the per-customer family


# -- purchase frequency (per customer) --


def frequency_reference(t: pa.Table) -> dict:
    df = t.to_pandas().assign(_date=lambda d: d["ordered_at"])
    df["_q"] = df["_date"].map(quarter_label)
    gaps: dict[tuple, list[float]] = {}
    for _, g in df.groupby("customer_id"):
        days = sorted(g["_date"].unique())
        for prev, cur in zip(days, days[1:], strict=False):
            gap = (cur - prev) / pd.Timedelta(days=1)
            today = g[g["_date"] == cur]
            for seg in {(seg_key(s), q) for s, q in zip(today["seg"], today["_q"], strict=True)}:
                gaps.setdefault(seg, []).append(gap)
    out = {}
    as_of = pd.Timestamp(AS_OF)
    for k, g in cells(df, True).items():
        end = min(pd.Period(k[1].replace("-", ""), "Q").end_time.normalize(), as_of)
        last = g.groupby("customer_id")["_date"].max()
        out[k] = {
            "orders": len(g),
            "customers": g["customer_id"].nunique(),
            "days_between_orders_p50": float(np.median(gaps[k])) if k in gaps else None,
            "days_since_last_order_p50": float(np.median((end - last).dt.days)),
        }
    return out


FREQUENCY = Case(
    "purchase_frequency", {}, rows_of(st.integers(0, 8), DAY), customer_table, frequency_reference
)
test_purchase_frequency_matches_pandas_reference = _reference_test(FREQUENCY)
test_purchase_frequency_chunks_order_segments_threads = _invariance_test(FREQUENCY)


# -- time to quote (the SLA-duration kernel with quote types) --

QUOTE_SLA = {"standard": 2.0, "custom": 30.0}


ttq_table = sla_table("requested_at", "quoted_at", "quote_type", categorical=True)
ttq_reference = sla_reference("requested_at", "quoted_at", "quote_type", QUOTE_SLA)


TIME_TO_QUOTE = Case(
    "time_to_quote",
    {"sla_hours": QUOTE_SLA},
    rows_of(
        st.integers(455 * 24 * 60 - 3 * 24 * 60, 455 * 24 * 60 + 24 * 60),  # around as_of
        st.sampled_from(sorted(QUOTE_SLA)),
        st.booleans(),
        st.integers(0, 3 * 86_400),
    )
    | rows_of(
        st.integers(0, 455 * 24 * 60),
        st.sampled_from(sorted(QUOTE_SLA)),
        st.booleans(),
        st.integers(0, 3 * 86_400),
    ),
    ttq_table,
    ttq_reference,
)
test_time_to_quote_matches_pandas_reference = _reference_test(TIME_TO_QUOTE)
test_time_to_quote_chunks_order_segments_threads = _invariance_test(TIME_TO_QUOTE)


# -- cohort retention (per customer; a first day in two segments) --


def cohort_reference(t: pa.Table) -> dict:
    df = t.to_pandas()
    df["_q"] = df["ordered_at"].dt.to_period("Q")
    last = pd.Timestamp(AS_OF).to_period("Q")
    # Every (segment, quarter) with a row has an output row, empty unless a cohort starts there.
    out: dict = {
        (seg_key(s), quarter_label(q.start_time)): {"cohort_size": 0, "active_by_offset": ()}
        for s, q in zip(df["seg"], df["_q"], strict=True)
    }
    counts: dict[tuple, list[int]] = {}
    for _, g in df.groupby("customer_id"):
        first = g["ordered_at"].dt.normalize().min()
        on_first = [seg_key(s) for s in g.loc[g["ordered_at"].dt.normalize() == first, "seg"]]
        # Sort order of the output: strings first, null last.
        seg = min(on_first, key=lambda s: (s is None, s or ""))
        cohort = first.to_period("Q")
        active = counts.setdefault((seg, cohort), [0] * ((last - cohort).n + 1))
        for q in set(g["_q"]):
            active[(q - cohort).n] += 1
    for (seg, cohort), active in counts.items():
        out[(seg, quarter_label(cohort.start_time))] = {
            "cohort_size": active[0],
            "active_by_offset": tuple(active),
        }
    return out


class CohortCase(Case):
    def __call__(self, data: Any, **kw: Any) -> Any:
        out = super().__call__(data, **kw)
        return comparable(out) if isinstance(out, pd.DataFrame) else out


COHORTS = CohortCase(
    "cohort_retention",
    {},
    rows_of(st.integers(0, 5), st.integers(0, 60).map(lambda d: d * 7)),  # same days recur
    customer_table,
    cohort_reference,
)
test_cohort_retention_matches_pandas_reference = _reference_test(COHORTS)
test_cohort_retention_chunks_order_segments_threads = _invariance_test(COHORTS)
