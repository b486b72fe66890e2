"""Commercial KPIs: cart abandonment (carts), lead conversion (leads), engagement
(events) and interaction frequency (sales contacts).

Each function is a shorthand for :func:`kpiforge.compute` with one KPI; the
exact definitions are in the KPI catalogue (``docs/kpis.md``, "Commercial KPIs").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kpiforge.kpis import Period, _single

__all__ = ["cart_abandonment", "lead_conversion", "engagement", "interaction_frequency"]


def cart_abandonment(
    data: Any,
    *,
    by: str | Sequence[str] | None = None,
    period: Period = None,
    created: str = "created_at",
    checked_out: str = "checked_out_at",
    window_hours: float = 24.0,
    date: str | None = None,
    where: Mapping[str, Any] | None = None,
    **options: Any,
) -> Any:
    """Cart abandonment: 1 - checked-out carts / created carts, censored honestly.

    A cart is *checked out* when it was checked out within ``window_hours``
    (default 24) of its creation; otherwise it is *abandoned*, also when it was
    checked out later (counted in ``recovered`` too: it was left for longer
    than the window). Censoring: a cart whose window has not passed at
    ``as_of`` (the end of that day; default the latest creation or checkout
    day) is ``pending`` and left out of numerator and denominator alike, checked
    out or not, so the latest period is not flattered by its early checkouts.
    ``abandonment_pct = 100 * abandoned / eligible`` with a Wilson interval,
    where ``eligible = n - pending``. A checkout after ``as_of`` has not
    happened yet.

    Args:
        data: a table of carts (see :func:`kpiforge.compute`).
        created, checked_out: timestamps (or dates); ``checked_out`` null while
            not checked out. A null ``created`` or a checkout before the creation
            is bad input (``invalid``).
        window_hours: hours after creation a checkout still counts.
        date: the date periods are taken from (default: ``created``).
        where, **options: as in :func:`kpiforge.compute`.

    Returns:
        Columns: segments, ``period``, ``period_start``, ``partial`` (with a
        period), ``n``, ``pending``, ``invalid``, ``eligible``, ``checked_out``,
        ``abandoned``, ``recovered``, ``abandonment_pct``,
        ``abandonment_pct_ci_low``, ``abandonment_pct_ci_high``.

    Example:
        >>> import pandas as pd
        >>> from kpiforge.commercial import cart_abandonment
        >>> carts = pd.DataFrame({
        ...     "created_at": pd.to_datetime(["2025-01-01 10:00", "2025-01-01 11:00",
        ...                                   "2025-01-02 09:00", "2025-01-10 12:00"]),
        ...     "checked_out_at": pd.to_datetime(["2025-01-01 10:30", None,
        ...                                       "2025-01-05 09:00", None]),
        ... })
        >>> out = cart_abandonment(carts, as_of="2025-01-10")
        >>> out[["n", "pending", "eligible", "abandoned", "recovered", "abandonment_pct"]].round(1)
           n  pending  eligible  abandoned  recovered  abandonment_pct
        0  4        1         3          2          1             66.7
    """
    params = {
        "created": created,
        "checked_out": checked_out,
        "window_hours": window_hours,
        "date": date,
    }
    return _single("cart_abandonment", data, params, where, by=by, period=period, **options)


def lead_conversion(
    data: Any,
    *,
    by: str | Sequence[str] | None = None,
    period: Period = None,
    created: str = "created_at",
    converted: str = "converted_at",
    window_days: float | None = None,
    date: str | None = None,
    where: Mapping[str, Any] | None = None,
    **options: Any,
) -> Any:
    """Lead conversion per creation cohort: new leads, conversion rate, lead time.

    Each period's row is the cohort of leads created in it: ``n`` new leads,
    ``converted`` those converted, ``conversion_pct = 100 * converted /
    eligible`` (Wilson interval) and the median and mean days from creation to
    conversion of the converted leads (``lead_time_days_p50`` with numpy's
    linear interpolation, ``lead_time_days_mean``; fractional days).

    Without ``window_days`` (default), a lead counts as converted when it
    converted by ``as_of`` (the default is the latest creation or conversion
    day), and every lead created by ``as_of`` is eligible: the latest cohorts
    have had less time and their rate is still rising (their period is flagged
    ``partial`` only when unfinished). With ``window_days``, a lead converts
    when it converted within that many days of creation, and leads whose window
    has not passed at ``as_of`` are ``pending`` and left out of the rate (the
    censoring rule). Leads created after ``as_of`` and conversions after
    ``as_of`` have not happened yet: such leads are ``pending`` either way.

    Args:
        data: a table of leads (see :func:`kpiforge.compute`).
        created, converted: timestamps (or dates), ``converted`` null while not
            converted. A null ``created`` or a conversion before the creation is
            bad input (``invalid``).
        window_days: days after creation a conversion counts, or ``None``.
        date: the date periods are taken from (default: ``created``).
        where, **options: as in :func:`kpiforge.compute`.

    Returns:
        Columns: segments, ``period``, ``period_start``, ``partial`` (with a
        period), ``n``, ``pending``, ``invalid``, ``eligible``, ``converted``,
        ``conversion_pct``, ``conversion_pct_ci_low``, ``conversion_pct_ci_high``,
        ``lead_time_days_p50``, ``lead_time_days_mean``.

    Example:
        >>> import pandas as pd
        >>> from kpiforge.commercial import lead_conversion
        >>> leads = pd.DataFrame({
        ...     "source": ["web", "web", "web", "referral"],
        ...     "created_at": pd.to_datetime(["2025-01-01", "2025-01-05", "2025-02-01",
        ...                                   "2025-01-03"]),
        ...     "converted_at": pd.to_datetime(["2025-01-11", None, "2025-02-21", "2025-01-04"]),
        ... })
        >>> out = lead_conversion(leads, by="source")
        >>> out[["source", "n", "converted", "conversion_pct", "lead_time_days_p50"]].round(1)
             source  n  converted  conversion_pct  lead_time_days_p50
        0  referral  1          1           100.0                 1.0
        1       web  3          2            66.7                15.0
    """
    params = {
        "created": created,
        "converted": converted,
        "window_days": window_days,
        "date": date,
    }
    return _single("lead_conversion", data, params, where, by=by, period=period, **options)


def engagement(
    data: Any,
    *,
    by: str | Sequence[str] | None = None,
    period: Period = None,
    customer: str = "customer_id",
    date: str = "occurred_at",
    event_type: str = "event_type",
    event_types: Sequence[str] | None = None,
    where: Mapping[str, Any] | None = None,
    **options: Any,
) -> Any:
    """Engagement: events per type, active accounts and days, share of accounts active.

    Per segment and period: ``n`` events, one count per listed type
    (``events_<type>``; ``event_types`` defaults to the demo's
    ``portal_login``, ``training_attended``, ``early_buy_enrolment``,
    ``catalog_download``), ``events_other`` (any other type) and ``missing``
    (null type; left out of ``n``, but the event still makes its account
    active). ``active_accounts``: distinct accounts with an event;
    ``active_days``: distinct (account, day)
    pairs, and ``active_days_per_account`` their mean over the active accounts.

    ``active_pct = 100 * active_accounts / accounts`` (Wilson interval), where
    ``accounts`` are the accounts known in the segment at the period end: those
    with an event in it on or before the period end (no later than ``as_of``).
    Every segment therefore has a row for every period from its first event to
    ``as_of``, with zero activity where nobody was active. Accounts that never
    produce an event are unknown to this table; filter or join your own account
    list beforehand if they should count.

    Args:
        data: a table of events (see :func:`kpiforge.compute`).
        customer: the account column; a null account is bad input (``invalid``
            is not reported per cell: the row is dropped with a warning or error).
        date: event time; event_type: the type column (strings).
        event_types: the types that get a column of their own.
        where, **options: as in :func:`kpiforge.compute`.

    Returns:
        Columns: segments, ``period``, ``period_start``, ``partial`` (with a
        period), ``n``, ``events_<type>``..., ``events_other``, ``missing``,
        ``active_accounts``, ``accounts``, ``active_days``, ``active_pct``,
        ``active_pct_ci_low``, ``active_pct_ci_high``, ``active_days_per_account``.

    Example:
        >>> import pandas as pd
        >>> from kpiforge.commercial import engagement
        >>> events = pd.DataFrame({
        ...     "customer_id": ["a", "a", "b", "a"],
        ...     "occurred_at": pd.to_datetime(["2025-01-02", "2025-01-02", "2025-01-20",
        ...                                    "2025-02-03"]),
        ...     "event_type": ["portal_login", "catalog_download", "portal_login", "portal_login"],
        ... })
        >>> out = engagement(events, period="month")
        >>> out[["period", "n", "events_portal_login", "active_accounts", "accounts", "active_pct"]]
            period  n  events_portal_login  active_accounts  accounts  active_pct
        0  2025-01  3                    2                2         2       100.0
        1  2025-02  1                    1                1         2        50.0
    """
    params: dict[str, Any] = {"customer": customer, "date": date, "event_type": event_type}
    if event_types is not None:
        params["event_types"] = list(event_types)
    return _single("engagement", data, params, where, by=by, period=period, **options)


def interaction_frequency(
    data: Any,
    *,
    by: str | Sequence[str] | None = None,
    period: Period = None,
    customer: str = "customer_id",
    date: str = "occurred_at",
    interaction_type: str = "interaction_type",
    interaction_types: Sequence[str] | None = None,
    where: Mapping[str, Any] | None = None,
    **options: Any,
) -> Any:
    """Interaction frequency: sales contacts per customer, per type.

    Per segment and period: ``n`` contacts, one count per listed type
    (``contacts_<type>``; ``interaction_types`` defaults to ``call``, ``email``,
    ``meeting``), ``contacts_other`` and ``missing`` (null type: left out of ``n``
    and the rates, but the customer counts as contacted),
    ``active_customers`` (distinct customers contacted), ``contacts_per_customer
    = n / active_customers`` and ``<type>_per_customer`` for each listed type.
    A customer contacted in two segments in one period counts in each.

    Args:
        data: a table of interactions (see :func:`kpiforge.compute`).
        customer, date, interaction_type: column roles.
        interaction_types: the types that get columns of their own.
        where, **options: as in :func:`kpiforge.compute`.

    Returns:
        Columns: segments, ``period``, ``period_start``, ``partial`` (with a
        period), ``n``, ``contacts_<type>``..., ``contacts_other``, ``missing``,
        ``active_customers``, ``contacts_per_customer``, ``<type>_per_customer``...

    Example:
        >>> import pandas as pd
        >>> from kpiforge.commercial import interaction_frequency
        >>> contacts = pd.DataFrame({
        ...     "customer_id": ["a", "a", "b"],
        ...     "occurred_at": pd.to_datetime(["2025-01-02", "2025-01-09", "2025-01-20"]),
        ...     "interaction_type": ["call", "email", "call"],
        ... })
        >>> out = interaction_frequency(contacts)
        >>> out[["n", "active_customers", "contacts_per_customer", "call_per_customer"]]
           n  active_customers  contacts_per_customer  call_per_customer
        0  3                 2                    1.5                1.0
    """
    params: dict[str, Any] = {
        "customer": customer,
        "date": date,
        "interaction_type": interaction_type,
    }
    if interaction_types is not None:
        params["interaction_types"] = list(interaction_types)
    return _single("interaction_frequency", data, params, where, by=by, period=period, **options)
