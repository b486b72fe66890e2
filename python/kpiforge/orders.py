"""Order KPIs (table: one row per order): revenue, self-service adoption, cross-sell,
order accuracy and OTIF.

Each function is a shorthand for :func:`kpiforge.compute` with one KPI; column
roles are keyword parameters whose defaults are the demo ``orders`` columns
(``docs/demo-data.md``), and the date that periods are taken from is the order
date ``ordered_at``. The exact definitions are in ``docs/kpis.md`` ("Order KPIs").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from kpiforge._convert import from_arrow, to_arrow
from kpiforge.exceptions import KpiInputError
from kpiforge.kpis import Kpi, Period, _single, compute

__all__ = ["revenue", "self_service_adoption", "cross_sell", "order_accuracy", "otif"]

SELF_SERVICE_CHANNELS = ("portal", "app", "web", "edi")


def revenue(
    data: Any,
    *,
    by: str | Sequence[str] | None = None,
    period: Period = None,
    amount: str = "amount",
    volume: str | None = "quantity",
    date: str = "ordered_at",
    where: Mapping[str, Any] | None = None,
    **options: Any,
) -> Any:
    """Revenue, order count, volume and average ticket per segment and period.

    ``revenue`` is the sum of ``amount`` (a compensated sum: the result does not
    depend on chunking or thread count beyond the last bits), ``n`` the number of
    orders with an amount, ``volume`` the sum of the ``volume`` column (tonnes,
    units, ...) and ``average_ticket = revenue / n`` with a Student t interval
    (``average_ticket_ci_low``, ``average_ticket_ci_high``; none below two orders).
    Roll up by summing ``revenue`` and ``n``, never by averaging tickets.

    Args:
        data: a table of orders (see :func:`kpiforge.compute` for accepted types).
        amount: order value column: any numeric type or a decimal (read as
            value / 10^scale). Null amounts are counted in ``missing`` (not as 0);
            negative, NaN or infinite amounts are bad input (``invalid``).
        volume: volume column summed into ``volume``, or ``None`` to skip it (the
            column is then null). Summed over every valid order with a non-null
            volume, whether or not its amount is null; a negative volume makes the
            order invalid.
        date: order date, for ``period``.
        where: row filter, ``{column: value or [values]}``.
        **options: ``fiscal_year_start``, ``tz``, ``as_of``, ``confidence``,
            ``on_invalid``, ``threads``, ``output`` as in :func:`kpiforge.compute`.

    Returns:
        Columns: segments, ``period``, ``period_start``, ``partial``, ``n``,
        ``missing``, ``invalid``, ``revenue``, ``volume``, ``average_ticket``,
        ``average_ticket_ci_low``, ``average_ticket_ci_high``. ``revenue`` and the
        ticket are null for a segment without any amount.

    Example:
        >>> import kpiforge as kf
        >>> import pandas as pd
        >>> df = pd.DataFrame({"rep_id": ["a", "a", "a", "b"],
        ...                    "amount": [100.0, 300.0, None, 50.0],
        ...                    "quantity": [1.5, 2.0, 0.5, 1.0]})
        >>> out = kf.revenue(df, by="rep_id")
        >>> out[["rep_id", "n", "missing", "revenue", "volume", "average_ticket"]]
          rep_id  n  missing  revenue  volume  average_ticket
        0      a  2        1    400.0     4.0           200.0
        1      b  1        0     50.0     1.0            50.0
    """
    params = {"amount": amount, "volume": volume, "date": date}
    return _single("revenue", data, params, where, by=by, period=period, **options)


def self_service_adoption(
    data: Any,
    *,
    by: str | Sequence[str] | None = None,
    period: Period = None,
    channel: str = "channel",
    channels: Sequence[str] = SELF_SERVICE_CHANNELS,
    customer: str | None = None,
    date: str = "ordered_at",
    where: Mapping[str, Any] | None = None,
    **options: Any,
) -> Any:
    """Share of orders placed through a self-service channel, per segment and period.

    ``self_service_pct = 100 * orders whose channel is in channels / n`` with a
    Wilson interval, where ``n`` counts the orders with a channel. With
    ``customer=`` (e.g. ``"customer_id"``) it also gives the share of *customers*
    with at least one self-service order in the period: ``customers``,
    ``self_service_customers`` and ``self_service_customers_pct`` (Wilson
    interval; an order with a null channel is not self-service there), computed
    from each customer's orders in the same scan.

    Args:
        data: a table of orders.
        channel: the channel column: strings of any flavour or a categorical.
            Null channels are counted in ``missing``.
        channels: the values that count as self-service, matched exactly
            (case-sensitive); default ``portal``, ``app``, ``web``, ``edi``.
        date, where, **options: as in :func:`revenue`.

    Returns:
        Columns: segments, ``period``, ``period_start``, ``partial``, ``n``,
        ``missing``, ``self_service_pct``, ``self_service_pct_ci_low``,
        ``self_service_pct_ci_high``.

    Example:
        >>> import kpiforge as kf
        >>> import pandas as pd
        >>> df = pd.DataFrame({"channel": ["portal", "phone", "edi", None, "branch"]})
        >>> out = kf.self_service_adoption(df)
        >>> out[["n", "missing", "self_service_pct"]]
           n  missing  self_service_pct
        0  4        1              50.0
    """
    if isinstance(channels, str):
        channels = [channels]
    params: dict[str, Any] = {"channel": channel, "channels": list(channels), "date": date}
    if customer is None:
        return _single(
            "self_service_adoption", data, params, where, by=by, period=period, **options
        )
    output = options.pop("output", "pandas")
    specs = [
        Kpi("self_service_adoption", where=where, **params),
        Kpi("self_service_customers", where=where, customer=customer, **params),
    ]
    table = compute(data, specs, by=by, period=period, output="arrow", **options)
    names = [
        "customers"
        if c == "self_service_customers_customers"
        else c.removeprefix("self_service_adoption_")
        for c in table.column_names
    ]
    return from_arrow(table.rename_columns(names), output)


def cross_sell(
    data: Any,
    *,
    lines: Any = None,
    by: str | Sequence[str] | None = None,
    period: Period = None,
    flag: str = "has_addon",
    order_id: str = "order_id",
    product_line: str = "product_line",
    upgrade: str | None = "upgrade",
    date: str = "ordered_at",
    where: Mapping[str, Any] | None = None,
    **options: Any,
) -> Any:
    """Share of orders with at least one add-on line (cross-sell), per segment and period.

    ``cross_sell_pct = 100 * orders with an add-on / n`` with a Wilson interval.
    Without ``lines``, whether an order has an add-on is read from the ``flag``
    column (boolean or 0/1; nulls are ``missing``, other numbers ``invalid``).
    With ``lines`` (a table of order lines), it is derived: an order has an add-on
    when its lines span more than one distinct (non-null) ``product_line``, or any
    of its lines has ``upgrade`` true (null counts as false). Orders without any
    line have no add-on; lines of orders that are not in ``data`` are ignored.

    Args:
        data: a table of orders.
        lines: optional table of order lines, joined on ``order_id``.
        flag: the add-on flag column of ``data`` (ignored when ``lines`` is given).
        order_id: the order key, in both tables (with ``lines``).
        product_line: the product-line column of ``lines``.
        upgrade: the upgrade/add-on flag column of ``lines`` (boolean or 0/1), or
            ``None`` to use product lines only.
        date, where, **options: as in :func:`revenue`.

    Returns:
        Columns: segments, ``period``, ``period_start``, ``partial``, ``n``,
        ``missing``, ``invalid``, ``cross_sell_pct``, ``cross_sell_pct_ci_low``,
        ``cross_sell_pct_ci_high``.

    Example:
        >>> import kpiforge as kf
        >>> import pandas as pd
        >>> orders = pd.DataFrame({"order_id": [1, 2, 3, 4]})
        >>> lines = pd.DataFrame({
        ...     "order_id": [1, 1, 2, 2, 3],
        ...     "product_line": ["lumber", "tools", "roofing", "roofing", "tools"],
        ...     "upgrade": [False, False, False, False, True]})
        >>> out = kf.cross_sell(orders, lines=lines)
        >>> out[["n", "cross_sell_pct"]]
           n  cross_sell_pct
        0  4            50.0
    """
    if lines is not None:
        data, flag = _with_addon_flag(data, lines, order_id, product_line, upgrade)
    params = {"flag": flag, "date": date}
    return _single("cross_sell", data, params, where, by=by, period=period, **options)


def _as_table(data: Any) -> pa.Table:
    """Any accepted input as a pyarrow Table (pyarrow input is not copied)."""
    t = to_arrow(data)
    if isinstance(t, pa.Table):
        return t
    if isinstance(t, pa.RecordBatch):
        return pa.Table.from_batches([t])
    if isinstance(t, pa.RecordBatchReader):
        return t.read_all()
    return pa.table(t)


def _need(table: pa.Table, column: str, role: str, what: str) -> None:
    if column not in table.column_names:
        raise KpiInputError(
            f"column '{column}' ({role}=) not found in the {what} table. "
            f"Columns: {', '.join(table.column_names[:20])}",
            column=column,
        )


def _with_addon_flag(
    data: Any, lines: Any, order_id: str, product_line: str, upgrade: str | None
) -> tuple[pa.Table, str]:
    """The orders with a derived add-on flag column appended, and that column's name."""
    orders = _as_table(data)
    lines = _as_table(lines)
    _need(orders, order_id, "order_id", "orders")
    _need(lines, order_id, "order_id", "lines")
    _need(lines, product_line, "product_line", "lines")
    aggregations: list[tuple[str, str]] = [(product_line, "count_distinct")]
    if upgrade is not None:
        _need(lines, upgrade, "upgrade", "lines")
        up = lines[upgrade]
        if not pa.types.is_boolean(up.type):
            if not (pa.types.is_integer(up.type) or pa.types.is_null(up.type)):
                raise KpiInputError(
                    f"column '{upgrade}' (upgrade=) of the lines table must be boolean (or 0/1), "
                    f"but has type {up.type}",
                    column=upgrade,
                )
            lines = lines.set_column(
                lines.column_names.index(upgrade), upgrade, pc.cast(up, pa.bool_())
            )
        aggregations.append((upgrade, "any"))
    per_order = lines.select([order_id, product_line, *([upgrade] if upgrade else [])])
    grouped = per_order.group_by(order_id).aggregate(aggregations)
    addon = pc.greater(grouped[f"{product_line}_count_distinct"], 1)
    if upgrade is not None:
        addon = pc.or_(addon, pc.fill_null(grouped[f"{upgrade}_any"], False))
    ids = pc.drop_null(pc.filter(grouped[order_id], addon))
    key_type = orders.schema.field(order_id).type
    try:
        ids = ids.cast(key_type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
        raise KpiInputError(
            f"column '{order_id}' (order_id=) has type {key_type} in the orders table but "
            f"{lines.schema.field(order_id).type} in the lines table; convert one of them",
            column=order_id,
        ) from err
    flag = "__kpiforge_has_addon"
    while flag in orders.column_names:
        flag += "_"
    has_addon = pc.is_in(orders[order_id], value_set=ids)
    return orders.append_column(flag, has_addon), flag


def order_accuracy(
    data: Any,
    *,
    by: str | Sequence[str] | None = None,
    period: Period = None,
    accurate: str = "accurate",
    error_count: str | None = None,
    error_type: str | None = "error_type",
    date: str = "ordered_at",
    where: Mapping[str, Any] | None = None,
    **options: Any,
) -> Any:
    """Share of orders fulfilled correctly first time, and orders per error type.

    ``accuracy_pct = 100 * accurate orders / n`` with a Wilson interval. An order is
    accurate when its ``accurate`` flag is true or, if ``error_count`` names a
    column, when its error count is 0 (the flag is then not read). Nulls are
    counted in ``missing``; a flag other than true/false/0/1, or an error count
    that is negative or not a whole number, is bad input (``invalid``).

    ``errors_picking``, ``errors_packing``, ``errors_loading`` count the orders
    (among ``n``) whose ``error_type`` is that value (case-insensitive, surrounding
    spaces ignored), ``errors_other`` those with any other non-null error type.
    They count orders, not errors: an order with ``error_count`` 3 and type
    ``picking`` adds one to ``errors_picking``.

    Args:
        data: a table of orders.
        accurate: boolean (or 0/1) column, true when fulfilled correctly first time.
        error_count: error-count column; when given, accurate means zero errors.
        error_type: error-type column (strings or categorical), or ``None`` to skip
            the error counts (they are then null).
        date, where, **options: as in :func:`revenue`.

    Returns:
        Columns: segments, ``period``, ``period_start``, ``partial``, ``n``,
        ``missing``, ``invalid``, ``accuracy_pct``, ``accuracy_pct_ci_low``,
        ``accuracy_pct_ci_high``, ``errors_picking``, ``errors_packing``,
        ``errors_loading``, ``errors_other``.

    Example:
        >>> import kpiforge as kf
        >>> import pandas as pd
        >>> df = pd.DataFrame({"accurate": [True, True, False, False],
        ...                    "error_type": [None, None, "picking", "damaged"]})
        >>> out = kf.order_accuracy(df)
        >>> out[["n", "accuracy_pct", "errors_picking", "errors_packing", "errors_other"]]
           n  accuracy_pct  errors_picking  errors_packing  errors_other
        0  4          50.0               1               0             1
    """
    params = {
        "accurate": accurate,
        "error_count": error_count,
        "error_type": error_type,
        "date": date,
    }
    return _single("order_accuracy", data, params, where, by=by, period=period, **options)


def otif(
    data: Any,
    *,
    by: str | Sequence[str] | None = None,
    period: Period = None,
    promised: str = "promised_date",
    delivered: str = "delivered_date",
    ordered: str | None = "ordered_at",
    quantity: str = "quantity",
    delivered_quantity: str = "quantity_delivered",
    tolerance_days: int = 0,
    tolerance: float = 0.0,
    date: str = "ordered_at",
    where: Mapping[str, Any] | None = None,
    **options: Any,
) -> Any:
    """On time, in full and OTIF (on time *and* in full) per segment and period.

    An order is **due** when its promise deadline, ``promised + tolerance_days``,
    is on or before ``as_of`` (the data runs through the end of that day; default:
    the latest order or delivery date in the data, never a promise date, which
    lies in the future). Only due orders count, in
    numerator and denominator alike:

    - **on time**: delivered on or before the deadline;
    - **in full**: ``delivered_quantity >= quantity * (1 - tolerance)``;
    - a due order not delivered by ``as_of`` (no delivery date, or one after
      ``as_of``) is late and not in full, and counted in ``undelivered``.

    Orders whose deadline is still ahead (after ``as_of``) are **pending**
    and left out whether or not they are delivered yet: counting their early
    deliveries but not their possible misses would flatter the latest period.
    ``on_time_pct``, ``in_full_pct`` and ``otif_pct`` are percentages of ``due``,
    each with a Wilson interval. Dates are compared by day.

    Bad input (``invalid``; raises unless ``on_invalid="drop"``): a delivery dated
    before the order date, a negative (or NaN) ordered or delivered quantity, a
    null promised date or ordered quantity, a delivery date without a delivered
    quantity.

    Args:
        data: a table of orders.
        promised: promised delivery date (date or timestamp).
        delivered: actual delivery date; null while undelivered.
        ordered: order date, to catch deliveries before the order and to find
            ``as_of``; ``None`` skips both (``as_of`` then comes from ``delivered``).
        quantity: ordered quantity.
        delivered_quantity: delivered quantity (read only for delivered orders).
        tolerance_days: days of grace after the promised date (default 0).
        tolerance: fraction of the ordered quantity that may be missing and still
            count as in full, in [0, 1) (default 0).
        date, where, **options: as in :func:`revenue`; ``as_of`` (date or
            ``"YYYY-MM-DD"``) sets the censoring date.

    Returns:
        Columns: segments, ``period``, ``period_start``, ``partial``, ``n`` (all
        orders), ``due`` (= n - pending - invalid), ``pending``, ``undelivered``
        (among due), ``invalid``, ``on_time_pct``, ``in_full_pct``, ``otif_pct``,
        each followed by ``_ci_low`` and ``_ci_high``.

    Example:
        >>> import kpiforge as kf
        >>> import pandas as pd
        >>> day = pd.to_datetime
        >>> df = pd.DataFrame({
        ...     "ordered_at": day(["2025-03-01"] * 5),
        ...     "promised_date": day(["2025-03-05"] * 4 + ["2025-03-20"]),
        ...     "delivered_date": day(["2025-03-04", "2025-03-05", "2025-03-07", None, None]),
        ...     "quantity": [10.0] * 5,
        ...     "quantity_delivered": [10.0, 8.0, 10.0, None, None]})
        >>> out = kf.otif(df, as_of="2025-03-10")
        >>> out[["n", "due", "pending", "undelivered", "on_time_pct", "in_full_pct", "otif_pct"]]
           n  due  pending  undelivered  on_time_pct  in_full_pct  otif_pct
        0  5    4        1            1         50.0         50.0      25.0
    """
    params = {
        "promised": promised,
        "delivered": delivered,
        "ordered": ordered,
        "quantity": quantity,
        "delivered_quantity": delivered_quantity,
        "tolerance_days": tolerance_days,
        "tolerance": tolerance,
        "date": date,
    }
    return _single("otif", data, params, where, by=by, period=period, **options)
