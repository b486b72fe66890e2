"""Scorecards for performance reviews: KPIs of several tables joined per segment,
with targets and status, QoQ/YoY trends with significance, fair (shrunk)
ranking among peers, and flags.

``kf.scorecard(...)`` returns a tidy long DataFrame; ``kf.render_scorecards``
turns it into one HTML page per partner or rep.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Literal

import numpy as np
import pandas as pd

from kpiforge._checks import is_finite_number, is_whole
from kpiforge.exceptions import KpiInputError
from kpiforge.kpis import Kpi, compute
from kpiforge.targets import Targets

__all__ = ["Metric", "METRICS", "scorecard"]

Stat = Literal["share", "mean", "nps", "total"]


@dataclass(frozen=True)
class Metric:
    """One scorecard line: which KPI output it shows and how to test and shrink it.

    ``stat`` says what kind of estimate it is: ``share`` (a percentage of ``n``:
    two-proportion z-test, beta-binomial shrinkage), ``mean`` (standard error
    from its interval: z-test, normal-normal shrinkage), ``nps`` (NPS variance
    formula) or ``total`` (a sum: no test, no shrinkage).
    """

    id: str
    kind: str
    table: str
    column: str
    n: str
    label: str
    unit: str
    stat: Stat
    direction: Literal["higher", "lower"] = "higher"
    params: tuple[tuple[str, Any], ...] = ()


METRICS: tuple[Metric, ...] = (
    Metric("nps", "nps", "responses", "nps", "n", "Net Promoter Score", "points", "nps"),
    Metric(
        "csat_mean", "csat", "responses", "csat_mean", "n", "Customer satisfaction", "score", "mean"
    ),
    Metric(
        "ces_mean",
        "ces",
        "responses",
        "ces_mean",
        "n",
        "Customer effort (higher = easier)",
        "score",
        "mean",
    ),
    Metric("revenue", "revenue", "orders", "revenue", "n", "Revenue", "currency", "total"),
    Metric(
        "average_ticket",
        "revenue",
        "orders",
        "average_ticket",
        "n",
        "Average order value",
        "currency",
        "mean",
    ),
    Metric("otif_pct", "otif", "orders", "otif_pct", "due", "On time in full", "%", "share"),
    Metric(
        "accuracy_pct",
        "order_accuracy",
        "orders",
        "accuracy_pct",
        "n",
        "Order accuracy",
        "%",
        "share",
    ),
    Metric(
        "self_service_pct",
        "self_service_adoption",
        "orders",
        "self_service_pct",
        "n",
        "Self-service orders",
        "%",
        "share",
    ),
    Metric(
        "cross_sell_pct",
        "cross_sell",
        "orders",
        "cross_sell_pct",
        "n",
        "Orders with an add-on",
        "%",
        "share",
    ),
    Metric(
        "repeat_rate_pct",
        "repeat_purchase_rate",
        "orders",
        "repeat_rate_pct",
        "eligible",
        "Repeat purchase (90 days)",
        "%",
        "share",
    ),
    Metric(
        "retention_pct",
        "retention",
        "orders",
        "retention_pct",
        "previous_customers",
        "Customer retention",
        "%",
        "share",
    ),
    Metric(
        "fcr_pct",
        "first_contact_resolution",
        "tickets",
        "fcr_pct",
        "n",
        "First-contact resolution",
        "%",
        "share",
    ),
    Metric(
        "resolution_sla_pct",
        "resolution_time",
        "tickets",
        "sla_pct",
        "sla_n",
        "Issues resolved within SLA",
        "%",
        "share",
    ),
    Metric(
        "time_to_quote_sla_pct",
        "time_to_quote",
        "quotes",
        "sla_pct",
        "sla_n",
        "Quotes within SLA",
        "%",
        "share",
    ),
    Metric(
        "win_rate_pct",
        "quote_win_rate",
        "quotes",
        "win_rate_pct",
        "n",
        "Quote win rate",
        "%",
        "share",
    ),
)

_OFFSETS = {
    "day": pd.DateOffset(days=1),
    "week": pd.DateOffset(weeks=1),
    "month": pd.DateOffset(months=1),
    "quarter": pd.DateOffset(months=3),
    "year": pd.DateOffset(years=1),
}


def _column(kind: str, column: str) -> str:
    """The name of a KPI's column in a several-KPI ``compute`` result."""
    return column if column == kind or column.startswith(kind + "_") else f"{kind}_{column}"


def period_unit_of(label: str) -> str | None:
    """The period unit of a label the engine writes (``2025-Q3`` -> ``quarter``), or None."""
    if re.fullmatch(r"(FY)?\d{4}-Q[1-4]", label):
        return "quarter"
    if re.fullmatch(r"\d{4}-\d{2}", label):
        return "month"
    if re.fullmatch(r"(FY)?\d{4}", label):
        return "year"
    if re.fullmatch(r"\d{4}-W\d{2}", label):
        return "week"
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", label):
        return "day"
    return None


def _unit_of(label: str) -> str:
    unit = period_unit_of(label)
    if unit is not None:
        return unit
    raise KpiInputError(
        f"period={label!r} is not a period label like '2025-Q3', 'FY2026-Q1', '2025-07' or '2025'",
        column="period",
    )


def _check_options(
    targets: Any, metrics: Any, periods_back: Any, significance: Any, credit_threshold: Any
) -> tuple[Metric, ...]:
    """The scorecard's own options, checked before any table is scanned; returns
    the metrics as a tuple (they are read more than once)."""
    if not isinstance(targets, Targets):
        raise KpiInputError(
            f"targets= takes a kf.Targets, e.g. Targets.building_materials().with_targets("
            f"nps=40), got {type(targets).__name__}",
            column="targets",
        )
    listed = isinstance(metrics, Iterable) and not isinstance(metrics, Metric | str)
    metrics = tuple(metrics) if listed else ()
    if not listed or not all(isinstance(m, Metric) for m in metrics):
        raise KpiInputError(
            "metrics= takes a list of kf.Metric (the default list: from kpiforge.scorecard "
            "import METRICS)",
            column="metrics",
        )
    if not is_whole(periods_back) or periods_back < 0:
        raise KpiInputError(
            f"periods_back must be a whole number >= 0, got {periods_back!r}",
            column="periods_back",
        )
    if not is_finite_number(significance) or not 0 < significance < 1:
        raise KpiInputError(
            f"significance must be between 0 and 1 (e.g. 0.05), got {significance!r}",
            column="significance",
        )
    if not is_finite_number(credit_threshold) or credit_threshold < 0:
        raise KpiInputError(
            f"credit_threshold must be a percentage >= 0 (e.g. 90), got {credit_threshold!r}",
            column="credit_threshold",
        )
    return metrics


def _normal_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2))


def _variance(stat: Stat, row: Any, z: float, adjusted: bool = False) -> float:
    """Variance of a value's estimate (in its own units squared); NaN when unknown.

    ``adjusted`` adds the adjusted-Wald pseudo-responses (3 for NPS), so that an
    extreme small sample (4 promoters out of 4) is not taken as certain.
    """
    n = row["n"]
    if not n or pd.isna(n) or pd.isna(row["value"]):
        return math.nan
    if stat == "share":
        p = row["value"] / 100
        return 1e4 * p * (1 - p) / n
    if stat == "nps":
        extra, pseudo = (3, 0.75) if adjusted else (0, 0.0)
        m = n + extra
        pp, pd_ = (row["promoters"] + pseudo) / m, (row["detractors"] + pseudo) / m
        return 1e4 * ((pp + pd_) - (pp - pd_) ** 2) / m
    if stat == "mean" and not pd.isna(row["ci_low"]):
        return ((row["ci_high"] - row["ci_low"]) / (2 * z)) ** 2
    return math.nan


def _significant(stat: Stat, cur: Any, base: Any, level: float, z: float) -> Any:
    """Two-sample z-test of the change from ``base`` to ``cur`` (pooled for shares)."""
    if stat == "total" or pd.isna(cur["value"]) or pd.isna(base["value"]):
        return None
    if stat == "share":
        n1, n2 = cur["n"], base["n"]
        if not n1 or not n2 or pd.isna(n1) or pd.isna(n2):
            return None
        pooled = (cur["value"] * n1 + base["value"] * n2) / 100 / (n1 + n2)
        var = pooled * (1 - pooled) * (1 / n1 + 1 / n2) * 1e4
    else:
        var = _variance(stat, cur, z) + _variance(stat, base, z)
    if not var or math.isnan(var):
        return None
    stat_z = (cur["value"] - base["value"]) / math.sqrt(var)
    return bool(2 * _normal_sf(abs(stat_z)) < level)


def _shrink(stat: Stat, group: pd.DataFrame, z: float) -> pd.Series:
    """Empirical-Bayes estimates for one KPI and period across segments."""
    values, n = group["value"], group["n"].astype(float)
    ok = values.notna() & (n > 0)
    out = pd.Series(np.nan, index=group.index)
    if stat == "total" or ok.sum() == 0:
        return values.where(ok)
    if stat == "share":
        # Beta-binomial prior by the method of moments.
        p = values[ok] / 100
        mu = float((p * n[ok]).sum() / n[ok].sum())
        between = float(p.var(ddof=0)) - mu * (1 - mu) * float((1 / n[ok]).mean())
        if ok.sum() < 2 or between <= 0 or mu in (0.0, 1.0):
            out[ok] = 100 * mu
            return out
        strength = max(mu * (1 - mu) / between - 1, 0.0)
        out[ok] = 100 * (p * n[ok] + mu * strength) / (n[ok] + strength)
        return out
    # Normal-normal: shrink towards the precision-weighted mean by each estimate's
    # own noise, with the between-segment variance by DerSimonian-Laird (robust to
    # a noisy outlier, unlike the plain variance of the values).
    var = group.apply(lambda r: _variance(stat, r, z, adjusted=True), axis=1)
    ok = ok & var.notna() & (var > 0)
    if ok.sum() == 0:
        return values
    x, v = values[ok], var[ok]
    w = 1 / v
    mu = float((w * x).sum() / w.sum())
    q = float((w * (x - mu) ** 2).sum())
    denom = float(w.sum() - (w**2).sum() / w.sum())
    tau2 = max((q - (len(x) - 1)) / denom, 0.0) if len(x) > 1 and denom > 0 else 0.0
    out[ok] = mu + (tau2 / (tau2 + v)) * (x - mu)
    return out.where(ok, values)


def scorecard(
    *,
    responses: Any = None,
    orders: Any = None,
    tickets: Any = None,
    quotes: Any = None,
    invoices: Any = None,
    credit_threshold: float = 90.0,
    by: str | Sequence[str] = "partner_id",
    period: str | None = None,
    period_unit: str | None = None,
    fiscal_year_start: int = 1,
    targets: Targets | None = None,
    periods_back: int = 4,
    shrink: bool = True,
    confidence: float = 0.95,
    significance: float = 0.05,
    metrics: Sequence[Metric] = METRICS,
    as_of: Any = None,
    on_invalid: Literal["raise", "drop"] = "raise",
) -> pd.DataFrame:
    """A scorecard per segment (partner, rep, region) for one period.

    Computes every KPI of :data:`METRICS` whose table is given (survey responses,
    orders, tickets, quotes; one scan per table) per segment and period, and
    returns a tidy long DataFrame, one row per segment x period x KPI, for the
    scorecard ``period`` and the ``periods_back`` periods before it:

    ``segment..., period, period_start, partial, kpi, label, unit, direction,
    value, n, ci_low, ci_high, shrunk, target, status, qoq, qoq_pct, yoy,
    yoy_pct, significant, rank, peers, percentile, flags``

    - ``status``: ``green`` / ``amber`` / ``red`` against ``targets`` (default
      :meth:`Targets.building_materials`; per-segment targets supported).
    - ``qoq``/``yoy``: absolute change vs the previous period and the same period
      a year earlier; ``*_pct`` relative change in percent, null where the base is
      missing or zero (never infinite). ``significant``: whether the change vs the
      previous period is significant at ``significance`` (two-sample z-test;
      pooled for shares, the NPS variance formula for NPS, the interval's standard
      error for means; null for totals).
    - ``shrunk``: empirical-Bayes estimate (beta-binomial for shares,
      normal-normal for means and NPS, the prior estimated from all segments of
      the period), so a segment with 4 responses is not ranked on noise.
      ``rank`` (1 = best), ``peers`` and ``percentile`` (share of peers it beats)
      use it when ``shrink=True``.
    - ``flags``: the segment's flags with reasons: *at risk* when two or more
      KPIs are clearly off target (red, and the whole interval misses the
      target, so small-sample noise does not raise it), *churn risk* when
      revenue falls more than 30% QoQ or retention (of at least 10 customers)
      is below 50%, *over credit limit* (with ``invoices``) when the segment's
      open receivables at the period end are above ``credit_threshold`` percent
      (default 90) of its credit limit (``credit_utilization_pct`` of
      :func:`kpiforge.dso`).

    Args:
        responses, orders, tickets, quotes: the tables (any accepted input type);
            give any subset.
        invoices: optional invoices table (as for :func:`kpiforge.dso`, with
            ``by`` among its columns): only for the *over credit limit* flag.
        credit_threshold: credit utilisation in percent above which that flag is raised.
        by: segment column(s), present in every given table.
        period: the scorecard period label (``"2025-Q3"``, ``"FY2026-Q1"``,
            ``"2025-07"``); default the latest complete period.
        period_unit: the unit, when ``period`` is not given (default quarter).
        periods_back: earlier periods kept for trends and sparklines.

    Example:
        >>> import kpiforge as kf
        >>> data = kf.demo.generate(n_orders=20_000, seed=3)
        >>> card = kf.scorecard(responses=data.responses, orders=data.orders,
        ...                     tickets=data.tickets, quotes=data.quotes,
        ...                     by="region", period="2026-Q2")
        >>> sorted(card["kpi"].unique())[:4]
        ['accuracy_pct', 'average_ticket', 'ces_mean', 'cross_sell_pct']
        >>> set(card.loc[card.period == "2026-Q2", "status"].dropna()) <= {"green", "amber", "red"}
        True
    """
    segments = [by] if isinstance(by, str) else list(by)
    targets = targets if targets is not None else Targets.building_materials()
    metrics = _check_options(targets, metrics, periods_back, significance, credit_threshold)
    unit = _unit_of(period) if period is not None else (period_unit or "quarter")
    if unit not in _OFFSETS:
        raise KpiInputError(
            f"period_unit={unit!r} is not day/week/month/quarter/year", column="period_unit"
        )
    if not 0 < confidence < 1:
        raise KpiInputError(
            f"confidence must be between 0 and 1, got {confidence}", column="confidence"
        )
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    tables = {"responses": responses, "orders": orders, "tickets": tickets, "quotes": quotes}
    given = {name: t for name, t in tables.items() if t is not None}
    if not given:
        raise KpiInputError(
            "scorecard needs at least one table: responses=, orders=, tickets= or quotes="
        )
    chosen = [m for m in metrics if m.table in given]

    frames = []
    for table_name, data in given.items():
        ms = [m for m in chosen if m.table == table_name]
        if not ms:
            continue  # a table none of the metrics reads
        kinds: dict[str, Kpi] = {}
        for m in ms:
            kinds.setdefault(m.kind, Kpi(m.kind, **dict(m.params)))
        wide = compute(
            data,
            list(kinds.values()),
            by=segments,
            period=unit,  # type: ignore[arg-type]
            fiscal_year_start=fiscal_year_start,
            as_of=as_of,
            confidence=confidence,
            on_invalid=on_invalid,
        )
        # With one KPI, compute() does not prefix its columns with its name.
        col_of = _column if len(kinds) > 1 else (lambda kind, column: column)
        for m in ms:
            value = wide[col_of(m.kind, m.column)]
            part = wide[[*segments, "period", "period_start", "partial"]].copy()
            part["kpi"], part["label"], part["unit"], part["direction"] = (
                m.id,
                m.label,
                m.unit,
                m.direction,
            )
            part["value"] = value.astype(float)
            part["n"] = wide[col_of(m.kind, m.n)].astype("int64")
            lo, hi = col_of(m.kind, m.column + "_ci_low"), col_of(m.kind, m.column + "_ci_high")
            part["ci_low"] = wide[lo].astype(float) if lo in wide else np.nan
            part["ci_high"] = wide[hi].astype(float) if hi in wide else np.nan
            if m.stat == "nps":
                part["promoters"] = wide[col_of(m.kind, "promoters")]
                part["detractors"] = wide[col_of(m.kind, "detractors")]
            part["stat"] = m.stat
            frames.append(part)
    if not frames:
        raise KpiInputError(
            f"none of the metrics reads a given table (tables: {', '.join(given)}; the "
            f"metrics read {', '.join(sorted({m.table for m in metrics})) or 'none'})",
            column="metrics",
        )
    long = pd.concat(frames, ignore_index=True)
    if "promoters" not in long:
        long["promoters"] = np.nan
        long["detractors"] = np.nan

    # The scorecard period, its history, and the bases of its trends.
    labels = long[["period", "period_start", "partial"]].drop_duplicates("period")
    if period is None:
        complete = labels[~labels["partial"]]
        if complete.empty:
            raise KpiInputError("no complete period in the data: pass period=", column="period")
        period = str(complete.sort_values("period_start")["period"].iloc[-1])
    if period not in set(labels["period"]):
        raise KpiInputError(
            f"period {period!r} is not in the data "
            f"(periods: {', '.join(sorted(labels['period']))})",
            column="period",
        )
    start = labels.loc[labels["period"] == period, "period_start"].iloc[0]
    step = _OFFSETS[unit]
    keep_from = start - step * int(periods_back)

    key_cols = [*segments, "kpi"]
    rows = long[(long["period_start"] >= keep_from) & (long["period_start"] <= start)].copy()
    rows = rows.reset_index(drop=True)
    # The bases of the trends, joined by shifting each period forward to the one it is a base of.
    measures = ["value", "n", "promoters", "detractors", "ci_low", "ci_high"]
    for suffix, offset in (("prev", step), ("year", pd.DateOffset(years=1))):
        shift = {ps: ps + offset for ps in long["period_start"].unique()}
        base = long[[*key_cols, "period_start", *measures]].assign(
            period_start=long["period_start"].map(shift)
        )
        base = base.rename(columns={m: f"{m}_{suffix}" for m in measures})
        rows = rows.merge(base, on=[*key_cols, "period_start"], how="left")
    for name, suffix in (("qoq", "prev"), ("yoy", "year")):
        b = rows[f"value_{suffix}"]
        rows[name] = rows["value"] - b
        rows[f"{name}_pct"] = (100 * (rows["value"] - b) / b.abs()).where(b != 0)
    rows["significant"] = pd.array(
        [
            _significant(stat, cur, prev, significance, z)
            for stat, cur, prev in zip(
                rows["stat"],
                rows[measures].to_dict("records"),
                rows[[f"{m}_prev" for m in measures]].set_axis(measures, axis=1).to_dict("records"),
                strict=True,
            )
        ],
        dtype="boolean",
    )

    # Shrinkage, ranks and percentiles among peers of the same KPI and period.
    rows["shrunk"] = np.nan
    rows["rank"] = pd.array([pd.NA] * len(rows), dtype="Int64")
    rows["peers"] = 0
    rows["percentile"] = np.nan
    for _, g in rows.groupby(["kpi", "period"], sort=False):
        stat = g["stat"].iloc[0]
        shrunk = _shrink(stat, g, z) if shrink else g["value"]
        rows.loc[g.index, "shrunk"] = shrunk.values
        basis = shrunk if shrink else g["value"]
        higher = g["direction"].iloc[0] != "lower"
        valid = basis.notna()
        # Rank on the shrunk value, ties (e.g. everyone shrunk to the prior) broken by the raw one.
        b = basis[valid]
        raw = g["value"][valid].fillna(-np.inf)
        combined = b.rank(method="dense") * (len(b) + 1) + raw.rank(method="dense")
        peers = len(b)
        rows.loc[g.index, "peers"] = peers
        if peers:
            rows.loc[b.index, "rank"] = (
                combined.rank(method="min", ascending=not higher).astype("int64").values
            )
            # Share of the other peers it beats (ties beat nobody).
            worse = combined.rank(method="min", ascending=higher) - 1
            rows.loc[b.index, "percentile"] = (
                (100 * worse / (peers - 1)).values if peers > 1 else 100.0
            )

    # Targets and status, per segment when agreed so.
    seg_keys = list(zip(*[rows[c] for c in segments], strict=True))
    tgt = [targets.get(k, seg) for k, seg in zip(rows["kpi"], seg_keys, strict=True)]
    rows["target"] = [t.value if t is not None else np.nan for t in tgt]
    rows["status"] = [
        t.status(v) if t is not None else None for t, v in zip(tgt, rows["value"], strict=True)
    ]
    rows["direction"] = [
        t.direction if t is not None else d for t, d in zip(tgt, rows["direction"], strict=True)
    ]

    # Credit utilisation at each period end, for the over-credit-limit flag.
    over_limit: dict[tuple[Any, ...], float] = {}
    if invoices is not None:
        util = compute(
            invoices,
            [Kpi("dso", threshold=credit_threshold)],
            by=segments,
            period=unit,  # type: ignore[arg-type]
            fiscal_year_start=fiscal_year_start,
            as_of=as_of,
            on_invalid=on_invalid,
        )
        for *key, used in util[[*segments, "period", "credit_utilization_pct"]].itertuples(
            index=False, name=None
        ):
            if pd.notna(used) and used > credit_threshold:
                over_limit[tuple(key)] = float(used)

    # Segment flags, with their reasons.
    flags: dict[tuple[Any, ...], list[str]] = {}
    for key, g in rows.groupby([*segments, "period"], sort=False, dropna=False):
        reasons = []
        # Red on noise is not a risk: only KPIs whose whole interval misses the
        # target count (without an interval, the shrunk estimate must be red too).
        red = g[g["status"] == "red"]
        higher = red["direction"] != "lower"
        bound = red["ci_high"].where(higher, red["ci_low"]).fillna(red["shrunk"])
        clear = red[(bound < red["target"]).where(higher, bound > red["target"])]
        if len(clear) >= 2:
            reasons.append(
                f"at risk: {len(clear)} KPIs clearly off target ({', '.join(clear['kpi'])})"
            )
        rev = g.loc[g["kpi"] == "revenue", "qoq_pct"]
        if len(rev) and rev.iloc[0] < -30:
            reasons.append(f"churn risk: revenue {rev.iloc[0]:+.0f}% QoQ")
        ret = g.loc[(g["kpi"] == "retention_pct") & (g["n"] >= 10), "value"]
        if len(ret) and ret.iloc[0] < 50:
            reasons.append(
                f"churn risk: only {ret.iloc[0]:.0f}% of last period's customers ordered again"
            )
        used = over_limit.get(key if isinstance(key, tuple) else (key,))
        if used is not None:
            reasons.append(f"over credit limit: {used:.0f}% of the credit limit in use")
        flags[key if isinstance(key, tuple) else (key,)] = reasons
    rows["flags"] = [
        flags[key] for key in zip(*[rows[c] for c in [*segments, "period"]], strict=True)
    ]

    columns = [
        *segments,
        "period",
        "period_start",
        "partial",
        "kpi",
        "label",
        "unit",
        "direction",
        "value",
        "n",
        "ci_low",
        "ci_high",
        "shrunk",
        "target",
        "status",
        "qoq",
        "qoq_pct",
        "yoy",
        "yoy_pct",
        "significant",
        "rank",
        "peers",
        "percentile",
        "flags",
    ]
    order = {m.id: i for i, m in enumerate(metrics)}
    out = (
        rows.assign(_k=rows["kpi"].map(order))
        .sort_values([*segments, "period_start", "_k"], na_position="last")[columns]
        .reset_index(drop=True)
    )
    out.attrs["period"] = period
    out.attrs["confidence"] = confidence
    out.attrs["segments"] = segments
    return out
