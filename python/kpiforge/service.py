"""Service KPIs (one row per inquiry / ticket / quote): first-contact resolution,
quote win rate, time to quote and resolution time.

Each function is a shorthand for :func:`kpiforge.compute` with one KPI; the
exact definitions are in the KPI catalogue (``docs/kpis.md``, "Service KPIs").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kpiforge.kpis import Period, _single

__all__ = ["first_contact_resolution", "quote_win_rate", "time_to_quote", "resolution_time"]


def first_contact_resolution(
    data: Any,
    *,
    by: str | Sequence[str] | None = None,
    period: Period = None,
    flag: str = "first_contact_resolved",
    contacts: str | None = None,
    resolved: str | None = "resolved_at",
    date: str = "opened_at",
    where: Mapping[str, Any] | None = None,
    **options: Any,
) -> Any:
    """First-contact resolution (FCR): share of inquiries resolved on the first contact.

    ``fcr_pct = 100 * first-contact-resolved / n``, with a Wilson interval
    (``fcr_pct_ci_low``, ``fcr_pct_ci_high``). An inquiry is first-contact-resolved
    when its ``flag`` is true or, if ``contacts`` names a contacts-to-resolve
    column, when that count is exactly 1. An unresolved inquiry (null ``resolved``
    time) counts as not first-contact-resolved, whatever its flag or count says:
    its first contact did not resolve it. FCR needs no censoring.

    Args:
        data: a table of tickets / inquiries (see :func:`kpiforge.compute`).
        flag: bool (or 0/1) column, true when resolved on the first contact. Null
            flags of resolved inquiries are counted in ``missing``; other numbers
            than 0/1 are bad input (``invalid``). Not read when ``contacts`` is given.
        contacts: contacts-to-resolve column (whole numbers >= 1; others are bad
            input). A null count on a resolved inquiry is ``missing``.
        resolved: resolution time column (timestamp or date); ``None`` when the
            table has none (then only ``flag`` / ``contacts`` decide).
        date: the date periods are taken from (default: when the inquiry was opened).
        where: row filter, ``{column: value or [values]}``.
        **options: ``fiscal_year_start``, ``tz``, ``as_of``, ``confidence``,
            ``on_invalid``, ``threads``, ``output`` as in :func:`kpiforge.compute`.

    Returns:
        Columns: segments, ``period``, ``period_start``, ``partial`` (with a
        period), ``n``, ``missing``, ``invalid``, ``fcr_pct``, ``fcr_pct_ci_low``,
        ``fcr_pct_ci_high``.

    Example:
        >>> import pandas as pd
        >>> from kpiforge.service import first_contact_resolution
        >>> tickets = pd.DataFrame({
        ...     "rep_id": ["a", "a", "a", "b"],
        ...     "first_contact_resolved": [True, False, True, True],
        ...     "resolved_at": pd.to_datetime(["2025-01-02", "2025-01-03", None, "2025-01-02"]),
        ... })
        >>> out = first_contact_resolution(tickets, by="rep_id")
        >>> out[["rep_id", "n", "missing", "fcr_pct"]].round(1)
          rep_id  n  missing  fcr_pct
        0      a  3        0     33.3
        1      b  1        0    100.0
    """
    params = {"flag": flag, "contacts": contacts, "resolved": resolved, "date": date}
    return _single("first_contact_resolution", data, params, where, by=by, period=period, **options)


def quote_win_rate(
    data: Any,
    *,
    by: str | Sequence[str] | None = None,
    period: Period = None,
    won: str = "won",
    date: str = "requested_at",
    where: Mapping[str, Any] | None = None,
    **options: Any,
) -> Any:
    """Quote win rate: quotes won / quotes decided.

    ``win_rate_pct = 100 * won / n`` with a Wilson interval, where ``n`` counts
    the decided quotes (``won`` true or false). Undecided quotes (``won`` null)
    are neither wins nor losses: they are counted in ``undecided`` and left out.

    Args:
        data: a table of quotes (see :func:`kpiforge.compute`).
        won: bool (or 0/1) column, null while undecided; other numbers are bad
            input (``invalid``).
        date: the date periods are taken from (default: when the quote was requested).
        where, **options: as in :func:`first_contact_resolution`.

    Returns:
        Columns: segments, ``period``, ``period_start``, ``partial`` (with a
        period), ``n``, ``undecided``, ``invalid``, ``win_rate_pct``,
        ``win_rate_pct_ci_low``, ``win_rate_pct_ci_high``.

    Example:
        >>> import pandas as pd
        >>> from kpiforge.service import quote_win_rate
        >>> quotes = pd.DataFrame({"won": [True, False, None, True, False]})
        >>> out = quote_win_rate(quotes)
        >>> out[["n", "undecided", "win_rate_pct"]]
           n  undecided  win_rate_pct
        0  4          1          50.0
    """
    params = {"won": won, "date": date}
    return _single("quote_win_rate", data, params, where, by=by, period=period, **options)


def time_to_quote(
    data: Any,
    *,
    by: str | Sequence[str] | None = None,
    period: Period = None,
    requested: str = "requested_at",
    quoted: str = "quoted_at",
    quote_type: str = "quote_type",
    sla_hours: Mapping[str, float] | None = None,
    date: str | None = None,
    where: Mapping[str, Any] | None = None,
    **options: Any,
) -> Any:
    """Time to quote: hours from request to quote, and the share quoted within its SLA.

    The duration of a request is ``quoted - requested`` in hours. The SLA of a
    request depends on its ``quote_type``: ``sla_hours``, by default
    ``{"standard": 1, "custom": 24}``; a given mapping replaces the default.

    Censoring: ``sla_pct`` only counts the requests whose deadline (requested +
    SLA of its type) has passed at ``as_of`` (the end of that day; default: the
    latest day of any request or quote in the data), quoted or not: an
    unanswered one among them, or one quoted after its deadline, is a miss; one
    quoted at its deadline or earlier is a hit. Requests whose deadline is still
    ahead are ``pending`` and left out of ``sla_pct`` whether or not they are
    quoted yet: counting early answers but not possible misses would flatter the
    latest period. ``p50_hours``, ``p90_hours`` (numpy's linear percentiles) and
    ``mean_hours`` are over every quoted request of the group, pending or not.
    ``open`` counts the requests without a quote in the data.

    Bad input (``KpiInputError`` naming the column, the row count and an example;
    with ``on_invalid="drop"`` the rows are left out and counted in ``invalid``):
    a null ``requested`` time, a quote type with no SLA in ``sla_hours`` (or
    null), a quote earlier than its request.

    Args:
        data: a table of quote requests (see :func:`kpiforge.compute`).
        requested: request time column (timestamp or date).
        quoted: quote time column, null while unanswered.
        quote_type: the request's type (strings or categorical), a key of ``sla_hours``.
        sla_hours: SLA in hours per quote type.
        date: the date periods are taken from (default: ``requested``).
        where, **options: as in :func:`first_contact_resolution` (``as_of`` sets
            the censoring date).

    Returns:
        Columns: segments, ``period``, ``period_start``, ``partial`` (with a
        period), ``n`` (valid requests), ``answered``, ``open``, ``pending``,
        ``sla_n`` (requests whose deadline has passed), ``invalid``,
        ``p50_hours``, ``p90_hours``, ``mean_hours``, ``sla_pct``,
        ``sla_pct_ci_low``, ``sla_pct_ci_high`` (Wilson).

    Example:
        >>> import pandas as pd
        >>> from kpiforge.service import time_to_quote
        >>> t, h = pd.Timestamp("2025-03-03"), pd.Timedelta(hours=1)
        >>> quotes = pd.DataFrame({
        ...     "requested_at": [t + 9 * h, t + 10 * h, t + 11 * h, t + 12 * h],
        ...     "quoted_at": [t + 9.5 * h, t + 13 * h, pd.NaT, t + 18 * h],
        ...     "quote_type": ["standard", "standard", "standard", "custom"],
        ... })
        >>> out = time_to_quote(quotes, as_of="2025-03-03")
        >>> out[["n", "answered", "open", "pending", "sla_n", "p50_hours", "sla_pct"]].round(1)
           n  answered  open  pending  sla_n  p50_hours  sla_pct
        0  4         3     1        1      3        3.0     33.3
    """
    params: dict[str, Any] = {
        "requested": requested,
        "quoted": quoted,
        "quote_type": quote_type,
        "sla_hours": None if sla_hours is None else dict(sla_hours),
        "date": date,
    }
    return _single("time_to_quote", data, params, where, by=by, period=period, **options)


def resolution_time(
    data: Any,
    *,
    by: str | Sequence[str] | None = None,
    period: Period = None,
    opened: str = "opened_at",
    resolved: str = "resolved_at",
    priority: str = "priority",
    sla_hours: Mapping[str, float] | None = None,
    date: str | None = None,
    where: Mapping[str, Any] | None = None,
    **options: Any,
) -> Any:
    """Resolution time of post-sale issues: hours to resolve, and the share resolved within SLA.

    The duration of an issue is ``resolved - opened`` in hours. The SLA depends
    on its ``priority``: ``sla_hours``, by default ``{"high": 24, "standard": 72}``;
    a given mapping replaces the default.

    Censoring (the rule of :func:`time_to_quote`): ``sla_pct`` only counts the
    issues whose deadline (opened + SLA of its priority) has passed at ``as_of``
    (the end of that day; default: the latest day of any open or resolution time
    in the data), resolved or not: an unresolved one among them, or one resolved
    after its deadline, is a miss. Issues whose deadline is still ahead are
    ``pending`` and left out of ``sla_pct`` whether or not they are resolved.
    ``p50_hours``, ``p90_hours`` (numpy's linear percentiles) and ``mean_hours``
    are over every resolved issue of the group; ``open`` counts the unresolved ones.

    Bad input (``KpiInputError``; ``invalid`` with ``on_invalid="drop"``): a null
    ``opened`` time, a priority with no SLA in ``sla_hours`` (or null), a
    resolution earlier than the opening.

    Args:
        data: a table of tickets (see :func:`kpiforge.compute`).
        opened: opening time column (timestamp or date).
        resolved: resolution time column, null while open.
        priority: the issue's priority (strings or categorical), a key of ``sla_hours``.
        sla_hours: SLA in hours per priority.
        date: the date periods are taken from (default: ``opened``).
        where, **options: as in :func:`first_contact_resolution`.

    Returns:
        Columns: segments, ``period``, ``period_start``, ``partial`` (with a
        period), ``n``, ``answered`` (resolved), ``open``, ``pending``, ``sla_n``,
        ``invalid``, ``p50_hours``, ``p90_hours``, ``mean_hours``, ``sla_pct``,
        ``sla_pct_ci_low``, ``sla_pct_ci_high``.

    Example:
        >>> import pandas as pd
        >>> from kpiforge.service import resolution_time
        >>> t, h = pd.Timestamp("2025-03-01 08:00"), pd.Timedelta(hours=1)
        >>> tickets = pd.DataFrame({
        ...     "opened_at": [t, t, t + 24 * h, t + 72 * h],
        ...     "resolved_at": [t + 12 * h, t + 48 * h, pd.NaT, t + 73 * h],
        ...     "priority": ["high", "high", "standard", "high"],
        ... })
        >>> out = resolution_time(tickets, as_of="2025-03-04")
        >>> out[["n", "open", "pending", "sla_n", "p50_hours", "mean_hours", "sla_pct"]]
           n  open  pending  sla_n  p50_hours  mean_hours  sla_pct
        0  4     1        2      2       12.0   20.333333     50.0
    """
    params: dict[str, Any] = {
        "opened": opened,
        "resolved": resolved,
        "priority": priority,
        "sla_hours": None if sla_hours is None else dict(sla_hours),
        "date": date,
    }
    return _single("resolution_time", data, params, where, by=by, period=period, **options)
