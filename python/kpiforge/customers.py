"""Per-customer order KPIs: repeat purchase, retention, purchase frequency, cohorts.

These need each customer's whole order history, not only the rows of one period:
kpiforge sorts the orders by customer and date once and walks every customer's
history (in parallel), so the answer is exact however the input is chunked.

One rule for segments: a customer is counted in the segment of the order that
puts them in a cell (their first order of the period, their orders in it); the
outcome (a repeat, a return next period) is the customer's, whichever segment it
happens in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import pandas as pd
import pyarrow.compute as pc

from kpiforge.exceptions import KpiInputError
from kpiforge.kpis import Period, _single

__all__ = ["repeat_purchase_rate", "retention", "purchase_frequency", "cohort_retention"]


def repeat_purchase_rate(
    data: Any,
    *,
    by: str | Sequence[str] | None = None,
    period: Period = None,
    customer: str = "customer_id",
    date: str = "ordered_at",
    window: int = 90,
    method: Literal["simple", "kaplan_meier"] = "simple",
    where: Mapping[str, Any] | None = None,
    **options: Any,
) -> Any:
    """Share of customers who buy again within ``window`` days, censored honestly.

    For each customer with an order in the period, the anchor is their first
    order in it; they repeat if another order on a later day follows within
    ``window`` days (default 90), looking past the period end. Customers whose
    window reaches past ``as_of`` (default: the latest order date) are
    ``censored``: they leave numerator and denominator alike, whether or not they
    have repeated yet, so the latest periods are not flattered by counting early
    repeaters only. ``eligible = customers - censored``.

    ``method="kaplan_meier"`` adds ``repeat_rate_km_pct``: the Kaplan-Meier
    estimate of repeating within the window, which also uses the censored
    customers' partial observation.

    Returns:
        ``customers, censored, eligible, repeaters, repeat_rate_pct`` (+ Wilson
        interval ``_ci_low``/``_ci_high``), and ``repeat_rate_km_pct``.

    Example:
        >>> import kpiforge as kf
        >>> import pandas as pd
        >>> orders = pd.DataFrame({
        ...     "customer_id": ["a", "a", "b", "c", "c"],
        ...     "ordered_at": pd.to_datetime(["2025-01-05", "2025-02-01", "2025-01-10",
        ...                                   "2025-01-20", "2025-06-30"]),
        ... })
        >>> out = kf.repeat_purchase_rate(orders, period="quarter", window=30)
        >>> out[["period", "customers", "censored", "eligible", "repeaters", "repeat_rate_pct"]]
            period  customers  censored  eligible  repeaters  repeat_rate_pct
        0  2025-Q1          3         0         3          1        33.333333
        1  2025-Q2          1         1         0          0              NaN
    """
    params = {"customer": customer, "date": date, "window": window, "method": method}
    return _single("repeat_purchase_rate", data, params, where, by=by, period=period, **options)


def retention(
    data: Any,
    *,
    by: str | Sequence[str] | None = None,
    period: Period = "quarter",
    customer: str = "customer_id",
    date: str = "ordered_at",
    where: Mapping[str, Any] | None = None,
    **options: Any,
) -> Any:
    """Customer retention and churn between consecutive periods.

    ``retention_pct`` = customers active in the previous period (in this segment)
    who are active again in this one / customers active in the previous period;
    ``churn_pct = 100 - retention_pct``. Both with Wilson intervals. A period only
    gets a retention figure once it has started by ``as_of``; a ``partial``
    period's retention is still rising.

    Returns:
        ``active_customers, previous_customers, retained, retention_pct`` (+ interval),
        ``churn_pct`` (+ interval).

    Example:
        >>> import kpiforge as kf
        >>> import pandas as pd
        >>> orders = pd.DataFrame({
        ...     "customer_id": ["a", "b", "c", "a", "c", "a"],
        ...     "ordered_at": pd.to_datetime(["2025-01-05", "2025-01-10", "2025-02-01",
        ...                                   "2025-04-02", "2025-05-05", "2025-07-01"]),
        ... })
        >>> kf.retention(orders, period="quarter")[["period", "previous_customers", "retained",
        ...                                         "retention_pct", "churn_pct"]]
            period  previous_customers  retained  retention_pct  churn_pct
        0  2025-Q1                   0         0            NaN        NaN
        1  2025-Q2                   3         2      66.666667  33.333333
        2  2025-Q3                   2         1      50.000000  50.000000
    """
    params = {"customer": customer, "date": date}
    return _single("retention", data, params, where, by=by, period=period, **options)


def purchase_frequency(
    data: Any,
    *,
    by: str | Sequence[str] | None = None,
    period: Period = None,
    customer: str = "customer_id",
    date: str = "ordered_at",
    where: Mapping[str, Any] | None = None,
    **options: Any,
) -> Any:
    """How often customers buy: orders per active customer, gaps and recency.

    ``orders_per_customer`` = orders / active customers of the cell;
    ``days_between_orders_p50`` = median days between a customer's consecutive
    order days (several orders on one day count as one visit), counted in the cell
    of the later order; ``days_since_last_order_p50`` = median over the cell's
    customers of the days from their last order in the period to the period end
    (or ``as_of``, if earlier).

    Example:
        >>> import kpiforge as kf
        >>> import pandas as pd
        >>> orders = pd.DataFrame({
        ...     "customer_id": ["a", "a", "a", "b"],
        ...     "ordered_at": pd.to_datetime(["2025-01-01", "2025-01-11", "2025-01-21",
        ...                                   "2025-01-31"]),
        ... })
        >>> out = kf.purchase_frequency(orders)
        >>> out[["orders", "customers", "orders_per_customer", "days_between_orders_p50"]]
           orders  customers  orders_per_customer  days_between_orders_p50
        0       4          2                  2.0                     10.0
    """
    params = {"customer": customer, "date": date}
    return _single("purchase_frequency", data, params, where, by=by, period=period, **options)


def cohort_retention(
    data: Any,
    *,
    customer: str = "customer_id",
    date: str = "ordered_at",
    period: Period = "quarter",
    by: str | Sequence[str] | None = None,
    shape: Literal["long", "matrix"] = "long",
    where: Mapping[str, Any] | None = None,
    **options: Any,
) -> pd.DataFrame:
    """The acquisition-cohort x periods-since-first-order retention table.

    A customer's cohort is the period of their first order (and, with ``by``, the
    segment of that order; when their first day has orders in several segments,
    the first of those segments in sort order, so row order never matters).
    Later orders count for that cohort in whatever segment they were placed. For
    every cohort and ``periods_since`` = 0, 1, 2, ... up to ``as_of``: how many of
    its customers ordered in that period, and that as a share of the cohort.

    Args:
        shape: ``"long"`` (default): one row per (segment..., cohort, periods_since)
            with ``cohort_size``, ``active_customers`` and ``retained_pct``;
            ``"matrix"``: cohorts as rows, periods since as columns, values
            ``retained_pct`` (pandas only, no segments).

    Example:
        >>> import kpiforge as kf
        >>> import pandas as pd
        >>> orders = pd.DataFrame({
        ...     "customer_id": ["a", "b", "a", "c", "b"],
        ...     "ordered_at": pd.to_datetime(["2025-01-05", "2025-02-10", "2025-04-01",
        ...                                   "2025-04-20", "2025-08-01"]),
        ... })
        >>> kf.cohort_retention(orders, shape="matrix")  # doctest: +NORMALIZE_WHITESPACE
        periods_since      0     1     2
        cohort
        2025-Q1        100.0  50.0  50.0
        2025-Q2        100.0   0.0   NaN
    """
    if shape not in ("long", "matrix"):
        raise KpiInputError(f"shape must be 'long' or 'matrix', got {shape!r}", column="shape")
    if by is not None and shape == "matrix":
        raise KpiInputError(
            "shape='matrix' is for a table without segments: drop by= or use 'long'", column="shape"
        )
    options.pop("output", None)
    params = {"customer": customer, "date": date}
    table = _single(
        "cohort_retention", data, params, where, by=by, period=period, output="arrow", **options
    )
    # Cells of other rows (no customer starts a cohort there) give no rows; dropping
    # them first also spares converting the dates of rows dropped as invalid.
    table = table.filter(pc.greater(table["cohort_size"], 0))
    keys = [
        c
        for c in table.column_names
        if c not in ("period", "period_start", "partial", "cohort_size", "active_by_offset")
    ]
    rows = []
    for rec in table.to_pylist():
        for k, active in enumerate(rec["active_by_offset"]):
            row = {key: rec[key] for key in keys}
            row.update(
                cohort=rec["period"],
                cohort_start=rec["period_start"],
                periods_since=k,
                cohort_size=rec["cohort_size"],
                active_customers=active,
                retained_pct=100.0 * active / rec["cohort_size"],
            )
            rows.append(row)
    columns = [
        *keys,
        "cohort",
        "cohort_start",
        "periods_since",
        "cohort_size",
        "active_customers",
        "retained_pct",
    ]
    long = pd.DataFrame(rows, columns=columns)
    long["cohort_start"] = pd.to_datetime(long["cohort_start"])
    if shape == "matrix":
        return long.pivot(index="cohort", columns="periods_since", values="retained_pct")
    return long
