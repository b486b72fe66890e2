"""Properties of the finance and commercial KPIs on random data, with the Case
framework of test_properties.py: (a) kpiforge equals a plain pandas reference
written from KPIS.md; (b) chunks merged from partial states, (c) row order,
(d) other segments and (e) thread count change nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_properties import AS_OF, BASE, DAY, Case, _invariance_test, _reference_test, rows_of

import kpiforge as kf
from conftest import quarter_label, wilson

AS_OF_TS = pd.Timestamp(AS_OF)
MINUTE = st.integers(0, 456 * 24 * 60 - 1)  # 2024-01-01 .. 2025-03-31 23:59


def quarters(first: pd.Timestamp) -> list[pd.Period]:
    """The quarters from the one of `first` to the one of as_of."""
    return list(pd.period_range(first.to_period("Q"), AS_OF_TS.to_period("Q"), freq="Q"))


def seg_of(v: Any) -> Any:
    return None if v is None or (isinstance(v, float) and np.isnan(v)) else v


def by_segment(df: pd.DataFrame) -> dict[Any, pd.DataFrame]:
    keyed = df.assign(_seg=["\0" if seg_of(v) is None else v for v in df["seg"]])
    return {(None if s == "\0" else s): g for s, g in keyed.groupby("_seg")}


# ---- dso ------------------------------------------------------------------------------

THRESHOLD = 90.0


def invoice_table(rows: list[tuple], prefix: str) -> pa.Table:
    day = [BASE + dt.timedelta(days=r[2]) for r in rows]
    return pa.table(
        {
            "seg": pa.array([r[0] for r in rows], pa.string()),
            "partner_id": [f"{prefix}p{r[1]}" for r in rows],
            "invoice_date": pa.array([d.date() for d in day], pa.date32()),
            "due_date": pa.array(
                [(d + dt.timedelta(days=r[3])).date() for d, r in zip(day, rows, strict=True)],
                pa.date32(),
            ),
            "paid_date": pa.array(
                [
                    None if r[4] is None else (d + dt.timedelta(days=r[4])).date()
                    for d, r in zip(day, rows, strict=True)
                ],
                pa.date32(),
            ),
            # Whole amounts: sums are exact, so a threshold comparison never flips on rounding.
            "amount": pa.array([None if r[5] is None else float(r[5]) for r in rows], pa.float64()),
            "credit_limit": pa.array([1000.0 * (r[1] + 1) for r in rows], pa.float64()),
        }
    )


INVOICE_ROWS = rows_of(
    st.integers(0, 5),
    DAY,
    st.integers(0, 60),
    st.one_of(st.none(), st.integers(0, 150)),
    st.one_of(st.none(), st.integers(0, 3000)),
)


def dso_snapshot_reference(t: pa.Table) -> dict:
    """Without a period: one snapshot at as_of per segment, over the days since its
    first invoice."""
    by_quarter = dso_reference(t)
    df = t.to_pandas()
    df["invoice_date"] = pd.to_datetime(df["invoice_date"])
    out = {}
    for seg, g in by_segment(df).items():
        last = by_quarter[(seg, quarter_label(AS_OF_TS))]
        sums = [v for k, v in by_quarter.items() if k[0] == seg]
        days = float((AS_OF_TS - g["invoice_date"].min()).days + 1)
        sales = sum(v["credit_sales"] for v in sums)
        ref = {c: last[c] for c in ("receivables_open", "overdue_amount", "credit_limit")}
        ref.update(
            n=sum(v["n"] for v in sums),
            paid_invoices=sum(v["paid_invoices"] for v in sums),
            credit_sales=sales,
            period_days=days,
            dso_days=last["receivables_open"] / sales * days if sales > 0 else None,
            accounts_over_limit=last["accounts_over_limit"],
        )
        out[(seg,)] = ref
    return out


def dso_reference(t: pa.Table, countback: bool = False) -> dict:
    df = t.to_pandas()
    for c in ("invoice_date", "due_date", "paid_date"):
        df[c] = pd.to_datetime(df[c])
    # A payment after as_of has not happened yet.
    df.loc[df["paid_date"] > AS_OF_TS, "paid_date"] = pd.NaT
    out = {}
    for seg, g in by_segment(df).items():
        valid = g[g["amount"].notna()]
        history = []
        for q in quarters(g["invoice_date"].min()):
            end = min(q.end_time.normalize(), AS_OF_TS)
            in_q = g[g["invoice_date"].dt.to_period("Q") == q]
            sales = valid.loc[valid["invoice_date"].dt.to_period("Q") == q, "amount"].sum()
            known = valid[valid["invoice_date"] <= end]
            is_open = known["paid_date"].isna() | (known["paid_date"] > end)
            opened = known[is_open]
            receivables = float(opened["amount"].sum())
            overdue = float(opened.loc[opened["due_date"] < end, "amount"].sum())
            days = (end - q.start_time).days + 1
            paid = valid[valid["paid_date"].notna() & (valid["paid_date"].dt.to_period("Q") == q)]
            weight = paid["amount"].sum()
            to_pay = (paid["paid_date"] - paid["invoice_date"]).dt.days
            accounts = g.loc[g["invoice_date"] <= end, ["partner_id", "credit_limit"]]
            accounts = accounts.drop_duplicates("partner_id")
            limit = float(accounts["credit_limit"].sum())
            per_account = opened.groupby("partner_id")["amount"].sum()
            over = sum(
                100 * per_account.get(a, 0.0) / lim > THRESHOLD
                for a, lim in zip(accounts["partner_id"], accounts["credit_limit"], strict=True)
            )
            history.append((sales, days))
            util = 100 * receivables / limit
            ref = {
                "n": len(in_q) - int(in_q["amount"].isna().sum()),
                "missing": int(in_q["amount"].isna().sum()),
                "accounts": len(accounts),
                "open_invoices": len(opened),
                "credit_sales": float(sales),
                "receivables_open": receivables,
                "period_days": float(days),
                "paid_invoices": len(paid),
                "avg_days_to_pay": float((paid["amount"] * to_pay).sum() / weight)
                if weight > 0
                else None,
                "overdue_amount": overdue,
                "overdue_pct": 100 * overdue / receivables if receivables > 0 else None,
                "credit_limit": limit,
                "credit_utilization_pct": util,
                "over_limit": util > THRESHOLD,
                "accounts_over_limit": over,
            }
            if countback:
                left, total = receivables, 0.0
                for s, d in reversed(history):
                    if left <= 0:
                        break
                    if s >= left:
                        total += d * left / s
                        left = 0.0
                    else:
                        total += d
                        left -= s
                ref["dso_days"] = total
            else:
                ref["dso_days"] = receivables / sales * days if sales > 0 else None
            out[(seg, quarter_label(q.start_time))] = ref
    return out


DSO = Case("dso", {}, INVOICE_ROWS, invoice_table, dso_reference)
DSO_COUNTBACK = Case(
    "dso",
    {"method": "countback"},
    INVOICE_ROWS,
    invoice_table,
    lambda t: dso_reference(t, countback=True),
)

DSO_SNAPSHOT = Case("dso", {}, INVOICE_ROWS, invoice_table, dso_snapshot_reference, period=None)

# ---- cart_abandonment and lead_conversion -----------------------------------------------


def conversion_table(rows: list[tuple], _: str) -> pa.Table:
    start = [BASE + dt.timedelta(minutes=r[1]) for r in rows]
    end = [
        None if r[2] is None else s + dt.timedelta(minutes=r[2])
        for s, r in zip(start, rows, strict=True)
    ]
    return pa.table(
        {
            "seg": pa.array([r[0] for r in rows], pa.string()),
            "created_at": pa.array(start, pa.timestamp("us")),
            "checked_out_at": pa.array(end, pa.timestamp("us")),
            "converted_at": pa.array(end, pa.timestamp("us")),
        }
    )


CONVERSION_ROWS = rows_of(MINUTE, st.one_of(st.none(), st.integers(0, 4 * 24 * 60)))
LAST = AS_OF_TS + pd.Timedelta(days=1)  # the end of the as_of day


def cart_reference(t: pa.Table) -> dict:
    df = t.to_pandas().assign(_q=lambda d: d["created_at"].map(quarter_label))
    out = {}
    for seg, g in by_segment(df).items():
        for q, c in g.groupby("_q"):
            deadline = c["created_at"] + pd.Timedelta(hours=24)
            pending = deadline.dt.normalize() > AS_OF_TS
            decided = c[~pending]
            end = decided["checked_out_at"].where(decided["checked_out_at"] < LAST)
            dl = decided["created_at"] + pd.Timedelta(hours=24)
            checked = end.notna() & (end <= dl)
            recovered = end.notna() & (end > dl)
            n, hits = len(decided), int((~checked).sum())
            out[(seg, q)] = {
                "n": len(c),
                "pending": int(pending.sum()),
                "eligible": n,
                "checked_out": int(checked.sum()),
                "abandoned": hits,
                "recovered": int(recovered.sum()),
                "abandonment_pct": 100 * hits / n if n else None,
                "abandonment_pct_ci_low": wilson(hits, n)[0] if n else None,
            }
    return out


def lead_reference(t: pa.Table, window_days: float | None = None) -> dict:
    df = t.to_pandas().assign(_q=lambda d: d["created_at"].map(quarter_label))
    out = {}
    for seg, g in by_segment(df).items():
        for q, c in g.groupby("_q"):
            pending = pd.Series(False, index=c.index)
            if window_days is not None:
                deadline = c["created_at"] + pd.Timedelta(days=window_days)
                pending = deadline.dt.normalize() > AS_OF_TS
            decided = c[~pending]
            end = decided["converted_at"].where(decided["converted_at"] < LAST)
            if window_days is not None:
                end = end.where(end <= decided["created_at"] + pd.Timedelta(days=window_days))
            converted = decided[end.notna()]
            lead_days = (end[end.notna()] - converted["created_at"]) / pd.Timedelta(days=1)
            n, hits = len(decided), len(converted)
            out[(seg, q)] = {
                "n": len(c),
                "pending": int(pending.sum()),
                "eligible": n,
                "converted": hits,
                "conversion_pct": 100 * hits / n if n else None,
                "conversion_pct_ci_high": wilson(hits, n)[1] if n else None,
                "lead_time_days_p50": float(np.percentile(lead_days, 50)) if hits else None,
                "lead_time_days_mean": float(lead_days.mean()) if hits else None,
            }
    return out


CART = Case("cart_abandonment", {}, CONVERSION_ROWS, conversion_table, cart_reference)
LEAD = Case("lead_conversion", {}, CONVERSION_ROWS, conversion_table, lead_reference)
LEAD_WINDOW = Case(
    "lead_conversion",
    {"window_days": 2},
    CONVERSION_ROWS,
    conversion_table,
    lambda t: lead_reference(t, window_days=2),
)

# ---- engagement and interaction_frequency -------------------------------------------------

EVENT_TYPES = ["portal_login", "training_attended", "early_buy_enrolment", "catalog_download"]
INTERACTION_TYPES = ["call", "email", "meeting"]


def activity_table(rows: list[tuple], prefix: str) -> pa.Table:
    return pa.table(
        {
            "seg": pa.array([r[0] for r in rows], pa.string()),
            "customer_id": [f"{prefix}c{r[1]}" for r in rows],
            "occurred_at": pa.array(
                [BASE + dt.timedelta(days=r[2], hours=r[3]) for r in rows], pa.timestamp("us")
            ),
            "event_type": pa.array([r[4] for r in rows], pa.string()),
            "interaction_type": pa.array([r[4] for r in rows], pa.string()),
        }
    )


ACTIVITY_ROWS = rows_of(
    st.integers(0, 8),
    DAY,
    st.integers(0, 23),
    st.sampled_from([*EVENT_TYPES, "call", "email", "meeting", "webinar", None]),
)


def type_counts(c: pd.DataFrame, column: str, types: list[str], prefix: str) -> dict:
    ref = {f"{prefix}_{k}": int((c[column] == k).sum()) for k in types}
    ref[f"{prefix}_other"] = int((c[column].notna() & ~c[column].isin(types)).sum())
    ref["missing"] = int(c[column].isna().sum())
    ref["n"] = len(c) - ref["missing"]
    return ref


def engagement_reference(t: pa.Table) -> dict:
    df = t.to_pandas().assign(_day=lambda d: d["occurred_at"].dt.normalize())
    df["_q"] = df["occurred_at"].dt.to_period("Q")
    out = {}
    for seg, g in by_segment(df).items():
        for q in quarters(g["occurred_at"].min()):
            end = min(q.end_time.normalize(), AS_OF_TS)
            c = g[g["_q"] == q]
            known = g.loc[g["_day"] <= end, "customer_id"].nunique()
            active = c["customer_id"].nunique()
            days = len(c[["customer_id", "_day"]].drop_duplicates())
            ref = type_counts(c, "event_type", EVENT_TYPES, "events")
            ref.update(
                active_accounts=active,
                accounts=known,
                active_days=days,
                active_pct=100 * active / known,
                active_pct_ci_low=wilson(active, known)[0],
                active_days_per_account=days / active if active else None,
            )
            out[(seg, quarter_label(q.start_time))] = ref
    return out


def interaction_reference(t: pa.Table) -> dict:
    df = t.to_pandas().assign(_q=lambda d: d["occurred_at"].map(quarter_label))
    out = {}
    for seg, g in by_segment(df).items():
        for q, c in g.groupby("_q"):
            active = c["customer_id"].nunique()
            ref = type_counts(c, "interaction_type", INTERACTION_TYPES, "contacts")
            ref["active_customers"] = active
            ref["contacts_per_customer"] = ref["n"] / active
            for k in INTERACTION_TYPES:
                ref[f"{k}_per_customer"] = int((c["interaction_type"] == k).sum()) / active
            out[(seg, q)] = ref
    return out


ENGAGEMENT = Case("engagement", {}, ACTIVITY_ROWS, activity_table, engagement_reference)
INTERACTIONS = Case(
    "interaction_frequency", {}, ACTIVITY_ROWS, activity_table, interaction_reference
)

CASES = {
    "dso": DSO,
    "dso_countback": DSO_COUNTBACK,
    "cart_abandonment": CART,
    "dso_snapshot": DSO_SNAPSHOT,
    "lead_conversion": LEAD,
    "lead_conversion_window": LEAD_WINDOW,
    "engagement": ENGAGEMENT,
    "interaction_frequency": INTERACTIONS,
}
for _name, _case in CASES.items():
    globals()[f"test_{_name}_matches_pandas_reference"] = _reference_test(_case)
    globals()[f"test_{_name}_chunks_order_segments_threads"] = _invariance_test(_case)


# ---- cac (a composition of two computations: reference only) ------------------------------


@given(
    rows_of(st.integers(0, 14), st.one_of(st.none(), st.integers(0, 10_000))),
    rows_of(st.integers(0, 8), DAY),
)
def test_cac_matches_pandas_reference(spend_rows: list[tuple], order_rows: list[tuple]) -> None:
    months = pd.date_range("2024-01-01", periods=15, freq="MS")
    spend = pa.table(
        {
            "seg": pa.array([r[0] for r in spend_rows], pa.string()),
            "month": pa.array([months[r[1]].date() for r in spend_rows], pa.date32()),
            "amount": pa.array(
                [None if r[2] is None else float(r[2]) for r in spend_rows], pa.float64()
            ),
        }
    )
    orders = pa.table(
        {
            "seg": pa.array([r[0] for r in order_rows], pa.string()),
            "customer_id": [f"c{r[1]}" for r in order_rows],
            "ordered_at": pa.array(
                [BASE + dt.timedelta(days=r[2]) for r in order_rows], pa.timestamp("us")
            ),
        }
    )
    out = kf.cac(spend, orders, by="seg", period="quarter", as_of=AS_OF)
    # Reference: spend summed per (segment, quarter); a customer is new in the
    # quarter (and segment) of their first order day; a first day with orders
    # in several segments counts in the first segment in sort order (null last).
    s = spend.to_pandas()
    s["q"] = pd.to_datetime(s["month"]).map(quarter_label)
    o = orders.to_pandas()
    o = o.assign(day=o["ordered_at"].dt.normalize()).sort_values(
        ["day", "seg"], na_position="last", kind="stable"
    )
    first = o.drop_duplicates("customer_id")
    first = first.assign(q=first["ordered_at"].map(quarter_label))
    expected: dict = {}
    for (seg, q), g in s.groupby([s["seg"].fillna("\0"), "q"]):
        ref = expected.setdefault((seg_of(None if seg == "\0" else seg), q), {})
        ref["spend"] = float(g["amount"].sum()) if g["amount"].notna().any() else None
        ref["spend_missing"] = int(g["amount"].isna().sum())
    # Every (segment, quarter) with orders has a row, with or without new customers.
    o["q"] = o["ordered_at"].map(quarter_label)
    for seg, q in zip(o["seg"].fillna("\0"), o["q"], strict=True):
        expected.setdefault((None if seg == "\0" else seg, q), {})
    for (seg, q), g in first.groupby([first["seg"].fillna("\0"), "q"]):
        expected.setdefault((None if seg == "\0" else seg, q), {})["new_customers"] = len(g)
    for ref in expected.values():
        ref.setdefault("new_customers", 0)
        spent = ref.get("spend")
        ref["cac"] = (
            spent / ref["new_customers"] if ref["new_customers"] and spent is not None else None
        )
    got = {(seg_of(r["seg"]), r["period"]): r for r in out.to_dict("records")}
    assert set(got) == set(expected), (set(got), set(expected))
    for key, ref in expected.items():
        for col, want in ref.items():
            have = got[key][col]
            if want is None:
                assert have is None or pd.isna(have), (key, col, have)
            else:
                assert have == pytest.approx(want, rel=1e-12), (key, col, have, want)
