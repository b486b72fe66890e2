"""Finance KPIs: days sales outstanding with its companions (days to pay, overdue
receivables, credit utilisation) on invoices, and customer acquisition cost on
spend and orders.

:func:`dso` is a shorthand for :func:`kpiforge.compute` with one KPI; :func:`cac`
composes two kpiforge computations (spend, new customers). The exact
definitions are in the KPI catalogue (``docs/kpis.md``, "Finance KPIs").
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from kpiforge._convert import from_arrow, read_table, to_arrow
from kpiforge.clv import clv as _clv
from kpiforge.exceptions import KpiInputError
from kpiforge.kpis import Kpi, Period, _single, compute

__all__ = ["dso", "cac", "ltv_cac_ratio"]


def dso(
    data: Any,
    *,
    by: str | Sequence[str] | None = None,
    period: Period = None,
    account: str = "partner_id",
    date: str = "invoice_date",
    due: str = "due_date",
    paid: str = "paid_date",
    amount: str = "amount",
    credit_limit: str | None = "credit_limit",
    threshold: float = 90.0,
    method: Literal["standard", "countback"] = "standard",
    where: Mapping[str, Any] | None = None,
    **options: Any,
) -> Any:
    """Days sales outstanding (DSO), days to pay, overdue receivables and credit use.

    Receivables are a balance: every row is the snapshot at its period's end (at
    ``as_of`` for the period that contains it; without ``period`` the one
    snapshot at ``as_of``), never a sum over time. An invoice is *open* at a
    snapshot day S when it was invoiced on or before S and not paid by S (paid
    later, or not yet); it is *overdue* when it is open and its due date is
    before S. Payments after ``as_of`` have not happened yet. ``as_of`` defaults
    to the latest invoice or payment date (never a due date, which lies ahead).

    Every segment has a row for every period from its first invoice to
    ``as_of``, so a period without invoicing but with open receivables is there.

    - ``credit_sales``: amount invoiced in the period; ``n`` those invoices.
    - ``receivables_open``, ``open_invoices``: open at the snapshot.
    - ``period_days``: days of the period up to the snapshot (the last, partial period
      counts its days to ``as_of``); without a period, the days from the
      segment's first invoice to ``as_of``.
    - ``dso_days`` (``method="standard"``): ``receivables_open / credit_sales *
      period_days``; null when there were no credit sales in the period (never
      infinite). ``method="countback"``: the receivables are matched against
      this period's sales, then the previous period's, and so on back; each
      period used up whole adds its ``period_days``, the last one the share of its days
      the remaining receivables are of its sales. Countback does not swing with
      uneven sales (a big last month); it is 0 when nothing is open.
    - ``avg_days_to_pay``: amount-weighted mean days from invoice to payment of
      the invoices paid in the period (``paid_invoices``).
    - ``overdue_amount`` and ``overdue_pct`` (of ``receivables_open``; null when
      nothing is open).
    - ``credit_limit``, ``credit_utilization_pct = 100 * open receivables /
      credit limit``: the limit belongs to the ``account`` (default the partner)
      and is given on each of its rows; a segment's limit is the sum of the
      limits of its accounts that have invoiced in it by the snapshot (and its
      utilisation counts only those accounts' receivables). Rows with a null
      limit give none (an account without any limit is left out of both).
      ``over_limit``: the segment's utilisation is above ``threshold`` percent
      (default 90); ``accounts_over_limit``: accounts whose own utilisation is.
    - ``accounts``: accounts that have invoiced in the segment by the snapshot.

    Bad input (``KpiInputError`` naming the column, the row count and an
    example, or with ``on_invalid="drop"`` counted in ``invalid`` of the
    invoice's period and left out): a null due date, a due or paid date before
    the invoice date, a negative or non-finite amount, a zero, negative or
    non-finite credit limit, and an account whose rows give different credit
    limits (the rows that differ from its first limit). A null amount is counted
    in ``missing``.

    Args:
        data: a table of invoices (see :func:`kpiforge.compute`).
        account: the account the credit limit belongs to (the unit walked).
        date: invoice date (periods are taken from it); due, paid: dates or
            timestamps (paid null while open).
        amount: invoice amount (>= 0); credit_limit: the account's limit column,
            or ``None`` when the table has none (utilisation columns are null).
        threshold: utilisation in percent above which ``over_limit`` is set.
        method: ``"standard"`` or ``"countback"`` (see above).
        where, **options: as in :func:`kpiforge.compute`; ``as_of`` is the
            snapshot day of the last period.

    Returns:
        Columns: segments, ``period``, ``period_start``, ``partial`` (with a
        period), ``n``, ``missing``, ``invalid``, ``accounts``, ``open_invoices``,
        ``credit_sales``, ``receivables_open``, ``period_days``, ``dso_days``,
        ``paid_invoices``, ``avg_days_to_pay``, ``overdue_amount``,
        ``overdue_pct``, ``credit_limit``, ``credit_utilization_pct``,
        ``over_limit``, ``accounts_over_limit``.

    Example:
        >>> import pandas as pd
        >>> from kpiforge.finance import dso
        >>> invoices = pd.DataFrame({
        ...     "partner_id": ["p1", "p1", "p2"],
        ...     "invoice_date": pd.to_datetime(["2025-01-10", "2025-02-05", "2025-02-20"]),
        ...     "due_date": pd.to_datetime(["2025-02-09", "2025-03-07", "2025-03-22"]),
        ...     "paid_date": pd.to_datetime(["2025-02-01", None, None]),
        ...     "amount": [100.0, 200.0, 50.0],
        ...     "credit_limit": [500.0, 500.0, 50.0],
        ... })
        >>> out = dso(invoices, period="month", as_of="2025-03-31")
        >>> out[["period", "credit_sales", "receivables_open", "dso_days", "overdue_amount"]]
            period  credit_sales  receivables_open  dso_days  overdue_amount
        0  2025-01         100.0             100.0      31.0             0.0
        1  2025-02         250.0             250.0      28.0             0.0
        2  2025-03           0.0             250.0       NaN           250.0
        >>> out[["period", "credit_utilization_pct", "over_limit", "accounts_over_limit"]].round(1)
            period  credit_utilization_pct  over_limit  accounts_over_limit
        0  2025-01                    20.0       False                    0
        1  2025-02                    45.5       False                    1
        2  2025-03                    45.5       False                    1
    """
    params = {
        "account": account,
        "date": date,
        "due": due,
        "paid": paid,
        "amount": amount,
        "credit_limit": credit_limit,
        "threshold": threshold,
        "method": method,
    }
    return _single("dso", data, params, where, by=by, period=period, **options)


def _rereadable(data: Any) -> Any:
    """``data`` itself when it can be read again (tables, data frames), else its rows
    read once into a table (a stream or a scanner can only be read once)."""
    if isinstance(data, pa.Table | pa.RecordBatch):
        return data
    if type(data).__module__.split(".")[0] in ("pandas", "polars"):
        return data
    return pa.RecordBatchReader.from_stream(to_arrow(data)).read_all()


def _latest_day(data: Any, column: str) -> _dt.date | None:
    """The latest non-null day of ``column`` (a date or timestamp column)."""
    reader = pa.RecordBatchReader.from_stream(to_arrow(data))
    latest = None
    for batch in reader:
        if column not in batch.schema.names:
            return None
        value = pc.max(batch.column(column)).as_py()
        if value is not None:
            day = value.date() if isinstance(value, _dt.datetime) else value
            if isinstance(day, _dt.date):
                latest = day if latest is None else max(latest, day)
    return latest


def cac(
    spend: Any,
    orders: Any,
    *,
    by: str | Sequence[str] | None = "region",
    period: Period = "month",
    spend_date: str = "month",
    spend_amount: str = "amount",
    customer: str = "customer_id",
    date: str = "ordered_at",
    fiscal_year_start: int = 1,
    as_of: Any = None,
    on_invalid: Literal["raise", "drop"] = "raise",
    threads: int | None = None,
    output: Literal["pandas", "arrow", "polars"] = "pandas",
) -> Any:
    """Customer acquisition cost: sales and marketing spend / new customers.

    ``cac = spend / new_customers`` per segment and period, where ``spend`` is
    the sum of the spend table's ``spend_amount`` in the period (a spend row
    belongs to the period of its ``spend_date``, the first day of its month in
    the demo) and ``new_customers`` counts the customers whose first order
    (over the whole order history up to ``as_of``) falls in the period, in the
    segment of that first order (a first day with orders in several segments
    counts in the first of them in sort order). ``cac`` is null when there are no new
    customers (never infinite) or no spend rows. The segments ``by`` must be
    columns of both tables (default ``region``); a (segment, period) with spend
    or with orders has a row (``new_customers`` 0 where nobody was new). The
    result is joinable with a CLV table on the segment and ``period`` columns
    (``ltv_cac_ratio = clv / cac``).

    Spend is monthly, so ``period`` must be ``"month"``, ``"quarter"``,
    ``"year"`` or ``None`` (the whole history): a day or week would put a whole
    month's spend in the period of its first day. ``as_of`` defaults to the
    latest order date; it flags the last period ``partial``.

    Bad input follows the two computations: spend amounts as in
    :func:`kpiforge.revenue` (negative or non-finite: ``KpiInputError`` or, with
    ``on_invalid="drop"``, counted in ``spend_invalid``), orders as in
    :func:`kpiforge.cohort_retention`.

    Returns:
        Columns: segments, ``period``, ``period_start``, ``partial`` (with a
        period), ``spend``, ``spend_rows``, ``spend_missing``, ``spend_invalid``,
        ``new_customers``, ``cac``.

    Example:
        >>> import pandas as pd
        >>> from kpiforge.finance import cac
        >>> spend = pd.DataFrame({
        ...     "month": pd.to_datetime(["2025-01-01", "2025-02-01", "2025-01-01"]),
        ...     "region": ["North", "North", "South"],
        ...     "amount": [1000.0, 600.0, 500.0],
        ... })
        >>> orders = pd.DataFrame({
        ...     "customer_id": ["a", "b", "a", "c", "d"],
        ...     "region": ["North", "North", "North", "North", "South"],
        ...     "ordered_at": pd.to_datetime(
        ...         ["2025-01-03", "2025-01-20", "2025-02-02", "2025-02-10", "2025-02-11"]),
        ... })
        >>> out = cac(spend, orders, as_of="2025-02-28")
        >>> out[["region", "period", "spend", "new_customers", "cac"]]
          region   period   spend  new_customers    cac
        0  North  2025-01  1000.0              2  500.0
        1  North  2025-02   600.0              1  600.0
        2  South  2025-01   500.0              0    NaN
        3  South  2025-02     NaN              1    NaN
    """
    if period not in ("month", "quarter", "year", None):
        raise KpiInputError(
            f"cac: period={period!r}: spend is monthly, so the period must be 'month', "
            "'quarter', 'year' or None",
            column="period",
        )
    if as_of is None:
        orders = _rereadable(orders)  # read twice: for as_of, then for the new customers
        as_of = _latest_day(orders, date)
    call = {
        "by": by,
        "period": period,
        "fiscal_year_start": fiscal_year_start,
        "as_of": as_of,
        "on_invalid": on_invalid,
        "threads": threads,
        "output": "pandas",
    }
    spent = compute(
        spend,
        [Kpi("revenue", amount=spend_amount, volume=None, date=spend_date)],
        date=spend_date,
        **call,
    )
    spent = spent.rename(
        columns={
            "revenue": "spend",
            "n": "spend_rows",
            "missing": "spend_missing",
            "invalid": "spend_invalid",
        }
    )
    new = (
        compute(orders, [Kpi("cohort_retention", customer=customer, date=date)], date=date, **call)
        if period is not None
        else _new_customers_total(orders, customer, date, call)
    )
    new = new.rename(columns={"cohort_size": "new_customers"})
    keys = [by] if isinstance(by, str) else list(by or [])
    on = [*keys, *(["period", "period_start"] if period is not None else [])]
    spent = spent[
        [
            *on,
            *(["partial"] if period is not None else []),
            "spend",
            "spend_rows",
            "spend_missing",
            "spend_invalid",
        ]
    ]
    new = new[[*on, *(["partial"] if period is not None else []), "new_customers"]]
    if period is not None:
        merged = spent.merge(new, on=on, how="outer", suffixes=("", "_orders"))
        merged["partial"] = merged["partial"].fillna(False).astype(bool) | merged[
            "partial_orders"
        ].fillna(False).astype(bool)
        merged = merged.drop(columns=["partial_orders"])
    else:
        merged = spent.merge(new, on=on, how="outer") if on else pd.concat([spent, new], axis=1)
    for col in ("spend_rows", "spend_missing", "spend_invalid", "new_customers"):
        merged[col] = merged[col].fillna(0).astype("int64")
    ok = (merged["new_customers"] > 0) & merged["spend"].notna()
    merged["cac"] = (merged["spend"] / merged["new_customers"].where(ok)).astype("float64")
    merged = merged.sort_values(on, na_position="last", kind="stable").reset_index(drop=True)
    if output == "pandas":
        return merged
    return from_arrow(pa.Table.from_pandas(merged, preserve_index=False), output)


def _new_customers_total(
    orders: Any, customer: str, date: str, call: dict[str, Any]
) -> pd.DataFrame:
    """New customers over the whole history (no period): each customer once, in the
    segment of their first order."""
    call = {**call, "period": "year"}
    yearly = compute(orders, [Kpi("cohort_retention", customer=customer, date=date)], **call)
    keys = [
        c
        for c in yearly.columns
        if c not in ("period", "period_start", "partial", "cohort_size", "active_by_offset")
    ]
    if not keys:
        return pd.DataFrame({"cohort_size": [int(yearly["cohort_size"].sum())]})
    return yearly.groupby(keys, dropna=False, as_index=False)["cohort_size"].sum()


def ltv_cac_ratio(
    spend: Any,
    orders: Any,
    *,
    by: str | Sequence[str] | None = "region",
    period: Period = "quarter",
    horizon: int = 36,
    discount_rate: float = 0.01,
    margin: float | None = None,
    spend_date: str = "month",
    spend_amount: str = "amount",
    customer: str = "customer_id",
    date: str = "ordered_at",
    amount: str = "amount",
    fiscal_year_start: int = 1,
    as_of: Any = None,
    threads: int | None = None,
) -> pd.DataFrame:
    """LTV:CAC per segment and acquisition period: what a new customer is worth
    against what it cost to win them.

    For the customers acquired in a (segment, period), i.e. whose first order
    falls in it, in the segment of that order (the rule of :func:`cac`):
    ``ltv`` = their mean of ``historical_value + clv`` from
    :func:`kpiforge.clv` (revenue, or margin with ``margin=``, to ``as_of``
    plus the predicted, discounted value of the next ``horizon`` months), and
    ``ltv_cac_ratio = ltv / cac`` with ``cac`` from :func:`cac` (null where
    either is undefined, never infinite). A ratio above 3 is the usual rule of
    thumb for healthy acquisition; recent cohorts have had little time to buy,
    so their ``ltv`` leans on the prediction.

    Returns:
        Columns of :func:`cac` (segments, ``period``, ``period_start``,
        ``partial``, ``spend``, ``new_customers``, ``cac``, ...) plus
        ``ltv_customers`` (customers with a CLV row), ``ltv`` and
        ``ltv_cac_ratio``. The fitted models are in ``attrs["bgnbd"]`` and
        ``attrs["gamma_gamma"]``.

    Example:
        >>> import warnings
        >>> import kpiforge as kf
        >>> demo = kf.demo.generate(n_orders=20_000)
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")  # the demo's spend grows with frequency
        ...     out = kf.ltv_cac_ratio(demo.spend, demo.orders, by="region", period="year")
        >>> out[["region", "period", "new_customers", "cac", "ltv", "ltv_cac_ratio"]].shape
        (15, 6)
        >>> bool((out["ltv_cac_ratio"].dropna() > 0).all())
        True
    """
    orders = _rereadable(orders)
    if as_of is None:
        as_of = _latest_day(orders, date)
    keys = [by] if isinstance(by, str) else list(by or [])
    costs = cac(
        spend,
        orders,
        by=by,
        period=period,
        spend_date=spend_date,
        spend_amount=spend_amount,
        customer=customer,
        date=date,
        fiscal_year_start=fiscal_year_start,
        as_of=as_of,
        threads=threads,
    )
    values = _clv(
        orders,
        customer=customer,
        date=date,
        amount=amount,
        margin=margin,
        as_of=as_of,
        horizon=horizon,
        discount_rate=discount_rate,
        by=by,
    )
    values["ltv"] = values["historical_value"] + values["clv"]
    on = list(keys)
    if period is not None:
        # Each customer's acquisition period, labelled by the engine (fiscal years
        # included): the period of the rows at their first order instant.
        table = read_table(orders)
        table = table.select([customer, date])
        joined = table.join(table.group_by(customer).aggregate([(date, "min")]), customer)
        firsts = joined.filter(pc.equal(joined[date], joined[f"{date}_min"])).select(
            [customer, date]
        )
        labelled = compute(
            firsts,
            [Kpi("purchase_frequency", customer=customer, date=date)],
            by=customer,
            period=period,
            fiscal_year_start=fiscal_year_start,
            as_of=as_of,
            threads=threads,
        )[[customer, "period"]].drop_duplicates(customer)
        values = values.merge(labelled, on=customer, how="left")
        on.append("period")
    cohorts = values.groupby(on, dropna=False, sort=False).agg(
        ltv_customers=("ltv", "size"), ltv=("ltv", "mean")
    )
    out = costs.merge(cohorts.reset_index(), on=on, how="left")
    out["ltv_customers"] = out["ltv_customers"].fillna(0).astype("int64")
    out["ltv_cac_ratio"] = (out["ltv"] / out["cac"]).where(out["cac"] > 0).astype("float64")
    out.attrs.update({k: values.attrs[k] for k in ("bgnbd", "gamma_gamma") if k in values.attrs})
    return out
