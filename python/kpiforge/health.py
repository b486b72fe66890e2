"""Per-customer risk and health: ``churn_risk`` and ``health_score``.

Both are built from the per-customer kernels of the engine (purchase frequency,
revenue per quarter, survey and service KPIs computed ``by`` the customer
column), joined here into one row per customer. The definitions are in the KPI
catalogue (``docs/kpis.md``, "Churn risk and health score").
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from kpiforge._convert import read_table
from kpiforge.exceptions import KpiInputError
from kpiforge.kpis import Kpi, _as_of, compute

__all__ = ["churn_risk", "health_score", "HEALTH_WEIGHTS"]

#: Default weights of :func:`health_score`'s inputs (they need not sum to 1).
HEALTH_WEIGHTS: dict[str, float] = {
    "recency": 0.25,
    "frequency": 0.20,
    "revenue_trend": 0.15,
    "nps": 0.10,
    "csat": 0.10,
    "overdue": 0.10,
    "open_issues": 0.10,
}
# +1: a higher value is healthier; -1: lower is healthier.
_DIRECTION = {
    "recency": -1,
    "frequency": +1,
    "revenue_trend": +1,
    "nps": +1,
    "csat": +1,
    "overdue": -1,
    "open_issues": -1,
}
# Skewed counts and day spans are compared on a log scale, so one extreme
# customer does not squash everybody else's z-score.
_LOG_SCALE = {"recency", "frequency", "open_issues"}


def _keys(by: str | Sequence[str] | None) -> list[str]:
    if by is None:
        return []
    return [by] if isinstance(by, str) else list(by)


def _latest_day(table: pa.Table, column: str) -> dt.date:
    if column not in table.column_names:
        # Let the engine name the missing column (with its suggestion).
        compute(table, [Kpi("purchase_frequency", date=column)])
    values = table.column(column)
    if pa.types.is_timestamp(values.type) or pa.types.is_date(values.type):
        latest = pc.max(values).as_py()
    else:
        raise KpiInputError(
            f"column '{column}' must hold dates or timestamps, found {values.type}", column=column
        )
    if latest is None:
        raise KpiInputError(f"column '{column}' has no dates: nothing to compute", column=column)
    return latest.date() if isinstance(latest, dt.datetime) else latest


def _day(as_of: Any) -> dt.date:
    """A given ``as_of`` (date, timestamp or ``"YYYY-MM-DD"``) as a date."""
    text = _as_of(as_of)
    assert text is not None  # only called with a value
    return dt.date.fromisoformat(text)


def _last_full_quarters(as_of: dt.date) -> tuple[str, str]:
    """Labels of the last quarter complete at ``as_of`` and the one before it."""
    current = pd.Period(as_of, "Q")
    last = current if (current.end_time.date() == as_of) else current - 1
    label = lambda p: f"{p.year}-Q{p.quarter}"  # noqa: E731
    return label(last), label(last - 1)


def _customer_base(
    orders: pa.Table,
    customer: str,
    date: str,
    amount: str,
    keys: list[str],
    as_of: dt.date,
    threads: int | None,
) -> pd.DataFrame:
    """One row per customer: order count, recency, own gap, last two quarters' revenue."""
    common: dict[str, Any] = {"as_of": as_of, "threads": threads}
    freq = Kpi("purchase_frequency", customer=customer, date=date)
    own = compute(orders, [freq], by=customer, **common)
    base = own[[customer, "orders", "days_between_orders_p50", "days_since_last_order_p50"]]
    base = base.rename(
        columns={"days_between_orders_p50": "own_gap_days", "days_since_last_order_p50": "recency"}
    )
    if keys:
        # A customer's segment is that of their latest order (ties: first in sort order).
        placed = compute(orders, [freq], by=[customer, *keys], **common)
        placed = placed.sort_values("days_since_last_order_p50", kind="stable")
        placed = placed.drop_duplicates(customer)[[customer, *keys]]
        base = base.merge(placed, on=customer, how="left")
        seg = compute(orders, [freq], by=keys, **common)
        seg = seg[[*keys, "days_between_orders_p50"]]
        base = base.merge(
            seg.rename(columns={"days_between_orders_p50": "segment_gap_days"}), on=keys, how="left"
        )
    else:
        everyone = compute(orders, [freq], **common)
        base["segment_gap_days"] = everyone["days_between_orders_p50"].iloc[0]

    last, prev = _last_full_quarters(as_of)
    revenue = compute(
        orders,
        [Kpi("revenue", amount=amount, date=date, volume=None)],
        by=customer,
        period="quarter",
        **common,
    )
    quarters = revenue.pivot_table(
        index=customer, columns="period", values="revenue", aggfunc="sum"
    )
    for label, name in ((last, "revenue_last_quarter"), (prev, "revenue_previous_quarter")):
        col = quarters[label] if label in quarters.columns else pd.Series(dtype=float)
        base[name] = base[customer].map(col).fillna(0.0).astype(float)
    base.attrs["quarters"] = (last, prev)
    return base


def churn_risk(
    orders: Any,
    *,
    customer: str = "customer_id",
    date: str = "ordered_at",
    amount: str = "amount",
    by: str | Sequence[str] | None = None,
    as_of: Any = None,
    k: float = 2.0,
    min_orders: int = 3,
    revenue_drop_pct: float = 30.0,
    threads: int | None = None,
) -> pd.DataFrame:
    """Customers at risk of churning, with the reasons that fired.

    A customer is ``at_risk`` when either rule fires:

    * **overdue**: days since their last order (at ``as_of``) exceed ``k`` times
      their usual gap: their own median days between order days, or, with fewer
      than ``min_orders`` orders (or no gap), the median gap of their segment
      (all customers when ``by`` is None). ``gap_source`` says which.
    * **revenue drop**: revenue in the last quarter complete at ``as_of`` fell by
      more than ``revenue_drop_pct`` percent against the quarter before (only
      when that quarter had revenue; a lost customer's drop is -100%).

    ``reasons`` spells out each rule that fired in words, e.g. ``"no order for
    120 days (> 2 x usual gap of 30 days)"``; empty when none fired. With ``by``,
    a customer belongs to the segment of their latest order.

    Args:
        orders: one row per order (any table kpiforge reads).
        customer, date, amount: column roles.
        by: segment column(s) for the fallback gap and the output.
        as_of: "now" (date or ``"YYYY-MM-DD"``); default: the latest order date.
        k: multiple of the usual gap after which a silent customer is at risk.
        min_orders: fewer orders than this and the segment's gap is used.
        revenue_drop_pct: quarter-on-quarter fall (percent) that flags a customer.
        threads: rayon threads for the kernels (default: all cores).

    Returns:
        One row per customer, sorted by segment and customer: ``customer``,
        segments, ``orders``, ``days_since_last_order``, ``usual_gap_days``,
        ``gap_source`` (``own`` / ``segment``), ``revenue_last_quarter``,
        ``revenue_previous_quarter``, ``revenue_change_pct``, ``overdue``,
        ``revenue_drop``, ``at_risk``, ``reasons``.

    Example:
        >>> import kpiforge as kf
        >>> import pandas as pd
        >>> orders = pd.DataFrame({
        ...     "customer_id": ["a"] * 4 + ["b"] * 3,
        ...     "ordered_at": pd.to_datetime(["2025-01-01", "2025-01-11", "2025-01-21",
        ...         "2025-01-31", "2025-03-01", "2025-03-11", "2025-03-31"]),
        ...     "amount": [100.0] * 7,
        ... })
        >>> out = kf.churn_risk(orders, as_of="2025-03-31")
        >>> out[["customer_id", "days_since_last_order", "usual_gap_days", "at_risk"]]
          customer_id  days_since_last_order  usual_gap_days  at_risk
        0           a                   59.0            10.0     True
        1           b                    0.0            15.0    False
        >>> out.loc[0, "reasons"]
        'no order for 59 days (> 2 x usual gap of 10 days)'
    """
    if not (k > 0 and math.isfinite(k)):
        raise KpiInputError(f"k must be a positive number, got {k!r}", column="k")
    if not 0 < revenue_drop_pct <= 100:
        raise KpiInputError(
            f"revenue_drop_pct must be in (0, 100], got {revenue_drop_pct!r}",
            column="revenue_drop_pct",
        )
    keys = _keys(by)
    table = read_table(orders)
    day = _day(as_of) if as_of is not None else _latest_day(table, date)
    base = _customer_base(table, customer, date, amount, keys, day, threads)
    last, prev = base.attrs["quarters"]

    use_own = (base["orders"] >= min_orders) & base["own_gap_days"].notna()
    out = base[[customer, *keys, "orders"]].copy()
    out["days_since_last_order"] = base["recency"].astype(float)
    out["usual_gap_days"] = base["own_gap_days"].where(use_own, base["segment_gap_days"])
    out["gap_source"] = np.where(use_own, "own", "segment")
    out["revenue_last_quarter"] = base["revenue_last_quarter"]
    out["revenue_previous_quarter"] = base["revenue_previous_quarter"]
    prev_rev = base["revenue_previous_quarter"]
    change = 100 * (base["revenue_last_quarter"] - prev_rev) / prev_rev.where(prev_rev > 0)
    out["revenue_change_pct"] = change
    out["overdue"] = (out["days_since_last_order"] > k * out["usual_gap_days"]).fillna(False)
    out["revenue_drop"] = (change < -revenue_drop_pct).fillna(False)
    out["overdue"] = out["overdue"].astype(bool)
    out["revenue_drop"] = out["revenue_drop"].astype(bool)
    out["at_risk"] = out["overdue"] | out["revenue_drop"]

    def reasons(row: Any) -> str:
        said = []
        if row.overdue:
            said.append(
                f"no order for {row.days_since_last_order:g} days "
                f"(> {k:g} x usual gap of {row.usual_gap_days:g} days)"
            )
        if row.revenue_drop:
            said.append(f"revenue {row.revenue_change_pct:+.0f}% in {last} vs {prev}")
        return "; ".join(said)

    out["reasons"] = [reasons(r) for r in out.itertuples(index=False)]
    return out.sort_values([*keys, customer], kind="stable").reset_index(drop=True)


_NO_SPREAD = 1e-9


def _zscores(values: pd.Series, log: bool, direction: int, clip: float) -> pd.Series:
    """Signed (higher = healthier), clipped z-scores; 0 (neutral) where missing."""
    x = np.log1p(values.clip(lower=0)) if log else values.astype(float)
    present = x.dropna()
    sd = present.std(ddof=0) if len(present) > 1 else 0.0
    # Values equal up to rounding (a spread below 1e-9 of their size) have no
    # spread: z-scores of rounding noise would be whole points of score.
    if not math.isfinite(sd) or sd <= _NO_SPREAD * max(1.0, float(present.abs().max())):
        return pd.Series(0.0, index=values.index)
    z = direction * (x - present.mean()) / sd
    return z.clip(-clip, clip).fillna(0.0)


def health_score(
    orders: Any,
    *,
    responses: Any = None,
    tickets: Any = None,
    invoices: Any = None,
    customer: str = "customer_id",
    by: str | Sequence[str] | None = None,
    as_of: Any = None,
    weights: Mapping[str, float] | None = None,
    clip: float = 2.0,
    date: str = "ordered_at",
    amount: str = "amount",
    threads: int | None = None,
) -> pd.DataFrame:
    """A 0-100 health score per customer, with the contribution of each input beside it.

    Inputs (one value per customer at ``as_of``; which are used depends on the
    tables given):

    ============== ============================================ =========== =============
    input          value                                        better      table
    ============== ============================================ =========== =============
    recency        days since the last order                    lower       orders
    frequency      orders in the 365 days up to ``as_of``       higher      orders
    revenue_trend  revenue change (%) last full quarter vs prior higher      orders
    nps            the customer's NPS over all their responses  higher      responses
    csat           the customer's CSAT (% satisfied)            higher      responses
    overdue        overdue share of open receivables (%)        lower       invoices
    open_issues    tickets without a resolution in the data     lower       tickets
    ============== ============================================ =========== =============

    Each input becomes a z-score across customers (days and counts on a
    ``log1p`` scale so a few extreme customers do not dominate), signed so that
    higher is healthier and clipped to ``[-clip, clip]``. A customer without a
    value for an input (no survey answered, no revenue last-but-one quarter)
    gets 0, the average, for it, and so does every customer for an input whose
    values are all equal (up to rounding: a spread below 1e-9 of their size).
    With weights ``w`` (``weights``, default :data:`HEALTH_WEIGHTS`; inputs whose
    table is not given are left out and the rest renormalised)::

        score = 50 + 50 * sum(w_i * z_i) / (clip * sum(w_i))

    so 0 is every input at its worst clip, 100 every input at its best, and
    ``<input>_points`` = ``50 * w_i * z_i / (clip * sum(w))`` are the points each
    input adds to or takes from 50 (they sum to ``score - 50``).

    Args:
        orders: one row per order; ``responses``, ``tickets``, ``invoices``:
            the demo tables' shapes (``responded_at``/``survey_type``/``score``;
            ``opened_at``/``resolved_at``; invoice columns as in
            :func:`kpiforge.dso`), optional.
        customer: the customer column, the same name in every table.
        by: segment column(s) of ``orders`` carried to the output (segment of
            the latest order).
        as_of: "now"; default: the latest order date.
        weights: ``{input: weight >= 0}``; unknown inputs are an error.
        clip: z-scores are clipped to this absolute value.

    Returns:
        One row per customer with an order: ``customer``, segments, ``score``,
        then per input its raw value (``recency``, ``frequency``, ...) and
        ``<input>_points``.

    Example:
        >>> import kpiforge as kf
        >>> import pandas as pd
        >>> orders = pd.DataFrame({
        ...     "customer_id": ["a", "a", "a", "b", "c", "c"],
        ...     "ordered_at": pd.to_datetime(["2025-01-05", "2025-02-05", "2025-03-05",
        ...         "2024-06-01", "2025-03-20", "2025-03-25"]),
        ...     "amount": [100.0, 100, 100, 50, 80, 90],
        ... })
        >>> out = kf.health_score(orders, as_of="2025-03-31")
        >>> out[["customer_id", "score"]].round(1)
          customer_id  score
        0           a   62.0
        1           b   25.5
        2           c   62.5
    """
    chosen = dict(HEALTH_WEIGHTS if weights is None else weights)
    unknown = sorted(set(chosen) - set(HEALTH_WEIGHTS))
    if unknown:
        raise KpiInputError(
            f"unknown health_score input(s) {unknown}; known: {sorted(HEALTH_WEIGHTS)}",
            column="weights",
        )
    bad = {n: w for n, w in chosen.items() if not (isinstance(w, int | float) and w >= 0)}
    if bad or not (clip > 0 and math.isfinite(clip)):
        raise KpiInputError(
            f"weights must be numbers >= 0 and clip > 0 (got weights {bad or chosen}, clip {clip})",
            column="weights",
        )
    available = {"recency", "frequency", "revenue_trend"}
    available |= {"nps", "csat"} if responses is not None else set()
    available |= {"overdue"} if invoices is not None else set()
    available |= {"open_issues"} if tickets is not None else set()
    used = {n: float(w) for n, w in chosen.items() if n in available and w > 0}
    if not used:
        raise KpiInputError(
            "no health_score input has a positive weight and a table: give weights to "
            f"some of {sorted(available)}",
            column="weights",
        )
    total = sum(used.values())

    keys = _keys(by)
    table = read_table(orders)
    day = _day(as_of) if as_of is not None else _latest_day(table, date)
    common: dict[str, Any] = {"as_of": day, "threads": threads}
    base = _customer_base(table, customer, date, amount, keys, day, threads)
    out = base[[customer, *keys]].copy()
    raw: dict[str, pd.Series] = {}
    raw["recency"] = base["recency"].astype(float)
    if "frequency" in used:
        # The 365 days ending with as_of (later orders are not "now" yet: the kernel drops them).
        first = day - dt.timedelta(days=364)
        dates = table.column(date)
        if pa.types.is_timestamp(dates.type):
            first = dt.datetime.combine(first, dt.time())
        recent = table.filter(pc.greater_equal(dates, pa.scalar(first, dates.type)))
        kpi = Kpi("purchase_frequency", customer=customer, date=date)
        freq = compute(recent, [kpi], by=customer, **common).set_index(customer)["orders"]
        raw["frequency"] = base[customer].map(freq).fillna(0).astype(float)
    prev = base["revenue_previous_quarter"]
    raw["revenue_trend"] = 100 * (base["revenue_last_quarter"] - prev) / prev.where(prev > 0)
    if responses is not None:
        survey = compute(responses, [Kpi("nps"), Kpi("csat")], by=customer, **common)
        survey = survey.set_index(customer)
        raw["nps"] = base[customer].map(survey["nps"]).astype(float)
        raw["csat"] = base[customer].map(survey["csat_satisfied_pct"]).astype(float)
    if tickets is not None:
        service = compute(tickets, [Kpi("resolution_time")], by=customer, **common)
        opened = base[customer].map(service.set_index(customer)["open"])
        raw["open_issues"] = opened.fillna(0).astype(float)
    if invoices is not None:
        credit = compute(invoices, [Kpi("dso")], by=customer, **common)
        raw["overdue"] = base[customer].map(credit.set_index(customer)["overdue_pct"]).astype(float)

    points = pd.Series(0.0, index=out.index)
    contributions = {}
    for name in HEALTH_WEIGHTS:
        if name not in used:
            continue
        z = _zscores(raw[name], name in _LOG_SCALE, _DIRECTION[name], clip)
        contributions[name] = 50 * used[name] * z / (clip * total)
        points = points + contributions[name]
    out["score"] = (50 + points).clip(0, 100)
    for name, contribution in contributions.items():
        out[name] = raw[name]
        out[f"{name}_points"] = contribution
    return out.sort_values([*keys, customer], kind="stable").reset_index(drop=True)
