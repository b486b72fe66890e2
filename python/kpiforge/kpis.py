"""KPI functions: :func:`compute` (several KPIs in one scan) and one shorthand per KPI.

Every function takes a table (pandas, polars, pyarrow or anything with
``__arrow_c_stream__``), segments it by the ``by`` columns and buckets it into
periods of its date column, and returns one row per (segment..., period),
sorted, as a pandas DataFrame (``output="arrow"`` or ``"polars"`` otherwise).
The exact definitions are in the KPI catalogue (``docs/kpis.md``).
"""

from __future__ import annotations

import datetime as _dt
import difflib
import json
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import numpy as np

from kpiforge import _core
from kpiforge._checks import is_finite_number, is_json_scalar, is_whole
from kpiforge._convert import Output, from_arrow, row_count, to_arrow
from kpiforge.exceptions import KpiDataWarning, KpiInputError

__all__ = ["Kpi", "compute", "nps", "csat", "ces", "catalog"]

Period = Literal["day", "week", "month", "quarter", "year"] | None
OnInvalid = Literal["raise", "drop"]


class Kpi:
    """One KPI of a :func:`compute` call: its kind, output name, row filter and parameters.

    Args:
        kind: the KPI, e.g. ``"nps"`` (see :func:`catalog`).
        name: output name; its columns are named after it (default: the kind).
        where: rows this KPI reads, ``{column: value}`` or ``{column: [values]}``;
            every condition must hold. ``None`` in a list matches nulls.
        **params: the KPI's own parameters (column roles like ``score="q1"``,
            ``scale=7``, ...), as in its shorthand function.

    Example:
        >>> import kpiforge as kf
        >>> kf.Kpi("ces", scale=7, where={"channel": ["portal", "app"]})
        Kpi('ces', where={'channel': ['portal', 'app']}, scale=7)
    """

    def __init__(
        self,
        kind: str,
        *,
        name: str | None = None,
        where: Mapping[str, Any] | None = None,
        **params: Any,
    ) -> None:
        if not isinstance(kind, str):
            raise KpiInputError(
                f"a KPI's kind is its name, e.g. Kpi('nps'), got {kind!r}", column="kind"
            )
        if name is not None and not isinstance(name, str):
            raise KpiInputError(f"name= takes a string, got {name!r}", column="name")
        if where is not None and not isinstance(where, Mapping):
            raise KpiInputError(
                f"where= takes a mapping {{column: value}} or {{column: [values]}}, got "
                f"{type(where).__name__} {where!r}",
                column="where",
                example=repr(where),
            )
        self.kind = kind
        self.name = name
        self.where = dict(where or {})
        for column in self.where:
            if not isinstance(column, str):
                raise KpiInputError(f"where= keys are column names, got {column!r}", column="where")
        self.params = {key: _param(value, key) for key, value in params.items()}

    def __repr__(self) -> str:
        parts = [repr(self.kind)]
        if self.name:
            parts.append(f"name={self.name!r}")
        if self.where:
            parts.append(f"where={self.where!r}")
        parts += [f"{k}={v!r}" for k, v in self.params.items()]
        return f"Kpi({', '.join(parts)})"

    def _spec(self) -> dict[str, Any]:
        conditions = []
        for column, values in self.where.items():
            if isinstance(values, str | bytes | bytearray) or not isinstance(values, Sequence):
                values = [values]
            conditions.append({"column": column, "values": [_plain(v, column) for v in values]})
        spec: dict[str, Any] = {"kind": self.kind, "where": conditions, "params": self.params}
        if self.name:
            spec["name"] = self.name
        return spec


def _plain(value: Any, column: str) -> Any:
    """A filter value as JSON: numpy scalars become Python ones; anything JSON cannot
    carry (bytes, NaN, infinity, objects) is an error naming the column."""
    value = value.item() if hasattr(value, "item") else value
    if is_json_scalar(value):
        return value
    raise KpiInputError(
        f"where= value {value!r} for column '{column}' must be a string, a finite number, "
        "a boolean or None",
        column=str(column),
    )


def _param(value: Any, name: str) -> Any:
    """A KPI parameter as JSON: numpy scalars become Python ones; lists, tuples and
    mappings are taken apart; anything JSON cannot carry is an error naming it."""
    value = value.item() if isinstance(value, np.generic) else value
    if is_json_scalar(value):
        return value
    if isinstance(value, Mapping):
        return {k: _param(v, name) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_param(v, name) for v in value]
    raise KpiInputError(
        f"parameter {name}= takes strings, finite numbers, booleans, None, or lists and "
        f"mappings of them; got {value!r}",
        column=name,
        example=repr(value),
    )


def _as_of(value: Any) -> str | None:
    """``as_of`` as ``YYYY-MM-DD``: a string, a date or datetime (pandas, numpy,
    pyarrow scalars too, e.g. ``pc.max(table["ordered_at"])``); a missing one
    (NaT, a null scalar) is an error, not the default."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    scalar = hasattr(value, "as_py") and hasattr(value, "type")  # pyarrow
    if (
        (scalar and value.as_py() is None)
        or (isinstance(value, np.datetime64) and np.isnat(value))
        or (isinstance(value, _dt.date) and value != value)  # pandas.NaT
    ):
        raise KpiInputError(
            f"as_of is missing ({value!r}): pass a date, or None for the latest date in the data",
            column="as_of",
        )
    if scalar:
        return _as_of(value.as_py())
    if isinstance(value, _dt.datetime):
        return value.date().isoformat()
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, np.datetime64):
        return str(value.astype("datetime64[D]"))
    raise KpiInputError(f"as_of must be a date or 'YYYY-MM-DD', got {value!r}", column="as_of")


def _threads(threads: int | None) -> int | None:
    """``threads=``, else ``KPIFORGE_THREADS``, checked (the core checks the upper bound)."""
    source = "threads"
    if threads is None:
        env = os.environ.get("KPIFORGE_THREADS", "").strip()
        if not env:
            return None
        source = "KPIFORGE_THREADS"
        try:
            threads = int(env)
        except ValueError:
            raise KpiInputError(
                f"KPIFORGE_THREADS must be a whole number of threads, got {env!r}",
                column=source,
                example=env,
            ) from None
    if not is_whole(threads):
        raise KpiInputError(
            f"threads must be a whole number of threads, got {threads!r}",
            column=source,
            example=repr(threads),
        )
    if threads < 1:
        raise KpiInputError(
            f"{source} must be at least 1, got {threads}", column=source, example=str(threads)
        )
    return int(threads)


def _check_call(
    by: Any, period: Any, date: Any, fiscal_year_start: Any, tz: Any, confidence: Any
) -> list[str]:
    """Type checks of the call's options, so that a wrong type names its option
    instead of surfacing as an error in the JSON request the core reads; returns
    the ``by`` columns as a list."""
    if by is None or isinstance(by, str):
        by_list = [] if by is None else [by]
    elif isinstance(by, Iterable) and not isinstance(by, Mapping | bytes):
        by_list = list(by)  # a list, a tuple, a pandas Index
    else:
        by_list = [by]
    if not all(isinstance(c, str) for c in by_list):
        raise KpiInputError(
            f"by= takes a column name or a list of column names, got {by!r}",
            column="by",
            example=repr(by),
        )
    for option, value in (("period", period), ("date", date), ("tz", tz)):
        if value is not None and not isinstance(value, str):
            raise KpiInputError(
                f"{option}= takes a string or None, got {value!r}",
                column=option,
                example=repr(value),
            )
    if not is_whole(fiscal_year_start) or not 1 <= fiscal_year_start <= 12:
        raise KpiInputError(
            f"fiscal_year_start must be a month number 1-12 (1 = calendar year), got "
            f"{fiscal_year_start!r}",
            column="fiscal_year_start",
            example=repr(fiscal_year_start),
        )
    if not is_finite_number(confidence):
        raise KpiInputError(
            f"confidence must be a number strictly between 0 and 1 (e.g. 0.95), got {confidence!r}",
            column="confidence",
            example=repr(confidence),
        )
    return by_list


def compute(
    data: Any,
    kpis: str | Kpi | Sequence[str | Kpi],
    *,
    by: str | Sequence[str] | None = None,
    period: Period = None,
    date: str | None = None,
    fiscal_year_start: int = 1,
    tz: str | None = None,
    as_of: Any = None,
    confidence: float = 0.95,
    on_invalid: OnInvalid = "raise",
    threads: int | None = None,
    output: Output = "pandas",
    partial: bool = False,
    columns: Sequence[str] | None = None,
) -> Any:
    """Compute several KPIs over one table in a single scan.

    Args:
        data: pandas/polars DataFrame, pyarrow Table/RecordBatchReader/Dataset, or
            any object with ``__arrow_c_stream__``. pyarrow data is not copied. A
            pandas DataFrame's named index levels are read as columns too, and its
            ``Period`` columns as their start dates.
        kpis: KPI kinds (``"nps"``) or :class:`Kpi` specs; a single one may be
            passed alone (``compute(df, "nps")``).
        by: segment column(s): strings, integers, booleans, dates or categoricals.
            Null is its own segment.
        period: ``None`` (whole table), ``"day"``, ``"week"`` (ISO, Monday),
            ``"month"``, ``"quarter"`` or ``"year"``.
        date: the date column periods are taken from (default: the KPIs' own, e.g.
            ``responded_at`` for survey KPIs). Date, or timestamp with or without zone.
        fiscal_year_start: first month of the fiscal year (1-12). With 7,
            July 2025-June 2026 is ``FY2026`` and its first quarter ``FY2026-Q1``.
        tz: time zone to bucket zoned timestamps in (default: the column's own
            zone). Naive timestamps are taken as local time and never shifted.
        as_of: reference date for censoring and for flagging ``partial`` periods
            (default: the latest date in the data).
        confidence: level of every interval (default 0.95).
        on_invalid: ``"raise"`` a :class:`KpiInputError` on bad rows, or ``"drop"``
            them and count them in each KPI's ``invalid`` column.
        threads: worker threads, 1 to 1024 (default: all cores, or ``KPIFORGE_THREADS``).
        output: ``"pandas"`` (default), ``"arrow"`` or ``"polars"``.
        partial: return a :class:`kpiforge.Partial` (the mergeable partial states)
            instead of a table: compute parts of the data anywhere (processes,
            Dask or Spark workers), merge them with :func:`kpiforge.merge_partials`
            and :func:`kpiforge.finalize` them into the table one scan would give.
            KPIs that censor (OTIF, SLAs) need an explicit ``as_of`` then.
        columns: the KPI columns to build, named as in the full output (e.g.
            ``["nps", "nps_n"]``); the ``by`` and period columns always come.
            Default: every column. Columns left out are never computed, which
            matters with one segment per few rows, where the output is most of
            the memory a call uses. Not with ``partial=True``: partial states
            hold every column until finalised.

    Returns:
        One row per (segment..., period), sorted, with ``period`` (label like
        ``2025-Q3`` or ``FY2026-Q1``), ``period_start`` and ``partial`` when a
        period is asked for, then each KPI's columns. With several KPIs (or a
        renamed one), every column carries the KPI's name: columns named after the
        kind take the name (``nps_ci_low``, or ``nps_portal_ci_low`` for
        ``Kpi("nps", name="nps_portal")``) and the others are prefixed with it
        (``nps_n``, ``nps_promoters``).

    Example:
        >>> import kpiforge as kf
        >>> responses = kf.demo.generate(n_orders=2_000, seed=1).responses
        >>> df = kf.compute(responses, ["nps", "csat", "ces"], by="region", period="quarter")
        >>> list(df.columns[4:8])
        ['nps_n', 'nps_missing', 'nps_invalid', 'nps_promoters']
        >>> small = kf.compute(
        ...     responses, ["nps", "csat"], by="region", columns=["nps", "csat_mean"]
        ... )
        >>> list(small.columns)
        ['region', 'nps', 'csat_mean']
    """
    request = _request(
        kpis,
        by=by,
        period=period,
        date=date,
        fiscal_year_start=fiscal_year_start,
        tz=tz,
        as_of=as_of,
        confidence=confidence,
        on_invalid=on_invalid,
        threads=threads,
    )
    if columns is not None:
        if isinstance(columns, str) or not all(isinstance(c, str) for c in columns):
            raise KpiInputError(
                f"columns must be a list of column names, got {columns!r}", column="columns"
            )
        if partial:
            raise KpiInputError(
                "columns= does not apply to partial=True: partial states hold every "
                "column until finalised",
                column="columns",
            )
        request["columns"] = list(columns)
    if partial:
        from kpiforge.partial import Partial

        return Partial(_core.compute_partial(to_arrow(data), json.dumps(request)))
    if output not in ("pandas", "arrow", "polars"):
        raise KpiInputError(
            f"output={output!r} is not one of 'pandas', 'arrow', 'polars'", column="output"
        )
    source = to_arrow(data)
    batch, issues_json = _core.compute(source, json.dumps(request), row_count(source))
    _warn_dropped(issues_json)
    return from_arrow(batch, output)


def _request(
    kpis: str | Kpi | Sequence[str | Kpi],
    *,
    by: str | Sequence[str] | None,
    period: Period,
    date: str | None,
    fiscal_year_start: int,
    tz: str | None,
    as_of: Any,
    confidence: float,
    on_invalid: OnInvalid,
    threads: int | None,
) -> dict[str, Any]:
    """The JSON request the core answers."""
    by_list = _check_call(by, period, date, fiscal_year_start, tz, confidence)
    if isinstance(kpis, str | Kpi):
        kpis = [kpis]  # one KPI: compute(df, "nps")
    if not isinstance(kpis, Iterable) or isinstance(kpis, Mapping):
        raise KpiInputError(
            f"kpis must be a list of KPI names or kf.Kpi(...) specs, got {kpis!r}",
            column="kpis",
            example=repr(kpis),
        )
    specs = [Kpi(k) if isinstance(k, str) else k for k in kpis]
    if not all(isinstance(s, Kpi) for s in specs):
        raise KpiInputError("kpis must be KPI names or kf.Kpi(...) specs", column="kpis")
    if on_invalid not in ("raise", "drop"):
        raise KpiInputError(
            f"on_invalid must be 'raise' or 'drop', got {on_invalid!r}", column="on_invalid"
        )
    return {
        "kpis": [s._spec() for s in specs],
        "by": by_list,
        "date": date,
        "period": period,
        "fiscal_year_start": int(fiscal_year_start),
        "tz": tz,
        "as_of": _as_of(as_of),
        "on_invalid": on_invalid,
        "confidence": float(confidence),
        "threads": _threads(threads),
    }


def _warn_dropped(issues_json: str) -> None:
    """Warn about dropped rows that no KPI column counts: rows in no cell (a null
    date when periods are asked for, a null customer of a per-customer KPI)."""
    for issue in json.loads(issues_json):
        if issue.get("uncounted"):
            warnings.warn(
                f"dropped {issue['count']} rows {issue['problem']} in '{issue['column']}' "
                f"(example: {issue['example']}; they are in no cell and in no KPI count)",
                KpiDataWarning,
                stacklevel=3,
            )


# The options of a call that every one-KPI function passes on to compute().
_CALL_OPTIONS = (
    "by",
    "period",
    "date",
    "fiscal_year_start",
    "tz",
    "as_of",
    "confidence",
    "on_invalid",
    "threads",
    "output",
    "partial",
    "columns",
)


def _single(kind: str, data: Any, params: dict[str, Any], where: Any, **call: Any) -> Any:
    """The shorthand of one KPI: ``compute`` with a single :class:`Kpi` spec."""
    unknown = [name for name in call if name not in _CALL_OPTIONS]
    if unknown:
        # Named after the function the user called, not compute().
        close = difflib.get_close_matches(unknown[0], _CALL_OPTIONS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise TypeError(
            f"{kind}() got an unexpected keyword argument {unknown[0]!r}.{hint} "
            f"Its own parameters are in help(kpiforge.{kind}); every KPI function also "
            f"takes {', '.join(_CALL_OPTIONS)}."
        )
    return compute(data, [Kpi(kind, where=where, **params)], **call)


def nps(
    data: Any,
    *,
    by: str | Sequence[str] | None = None,
    period: Period = None,
    score: str = "score",
    date: str = "responded_at",
    survey_type: str | None = "nps",
    type_column: str = "survey_type",
    where: Mapping[str, Any] | None = None,
    **options: Any,
) -> Any:
    """Net Promoter Score per segment and period.

    Scores are whole numbers 0-10: promoters 9-10, passives 7-8, detractors 0-6;
    ``nps = 100 * (promoters - detractors) / n``, from -100 to +100. The interval
    (``nps_ci_low``, ``nps_ci_high``) is the adjusted Wald interval (Rocks 2016):
    add 3 responses (3/4 promoter, 3/4 detractor, 3/2 passive) and use the variance
    of a difference of proportions; it stays within [-100, 100]. It is centred on
    the adjusted estimate, so with extreme data (all promoters) the raw NPS can lie
    just outside it.

    Args:
        data: a table of survey responses (see :func:`compute` for accepted types).
        score: the score column. Null scores are counted in ``missing``; scores
            that are not whole numbers 0-10 are bad input (``invalid``).
        date: response date, for ``period``.
        survey_type: if the table has a ``type_column``, keep rows where it equals
            this (so one table can hold NPS, CSAT and CES responses); ``None``
            reads every row.
        where: further row filter, ``{column: value or [values]}``.
        **options: ``by``, ``period``, ``fiscal_year_start``, ``tz``, ``as_of``,
            ``confidence``, ``on_invalid``, ``threads``, ``output`` as in :func:`compute`.

    Returns:
        Columns: segments, ``period``, ``period_start``, ``partial``, ``n``,
        ``missing``, ``invalid``, ``promoters``, ``passives``, ``detractors``,
        ``nps``, ``nps_ci_low``, ``nps_ci_high``.

    Example:
        >>> import kpiforge as kf
        >>> import pandas as pd
        >>> df = pd.DataFrame({"rep_id": ["a", "a", "a", "b"], "score": [10, 9, 3, 7]})
        >>> out = kf.nps(df, by="rep_id")
        >>> out[["rep_id", "n", "promoters", "detractors", "nps"]].round(1)
          rep_id  n  promoters  detractors   nps
        0      a  3          2           1  33.3
        1      b  1          0           0   0.0
    """
    params = {"score": score, "date": date, "survey_type": survey_type, "type_column": type_column}
    return _single("nps", data, params, where, by=by, period=period, **options)


def csat(
    data: Any,
    *,
    by: str | Sequence[str] | None = None,
    period: Period = None,
    score: str = "score",
    date: str = "responded_at",
    scale: int | tuple[int, int] = 5,
    top_box_min: int | None = None,
    survey_type: str | None = "csat",
    type_column: str = "survey_type",
    where: Mapping[str, Any] | None = None,
    **options: Any,
) -> Any:
    """Customer satisfaction (CSAT) per segment and period.

    ``csat_mean`` is the mean score with a Student t interval; ``csat_satisfied_pct``
    the share of satisfied responses (top two boxes: 4-5 on a 1-5 scale) with a
    Wilson interval, in percent.

    Args:
        scale: the top of a 1-N scale (default 5), or ``(low, high)``; at most 11 points.
        top_box_min: lowest score counted satisfied (default: high - 1).
        survey_type, type_column, score, date, where, **options: as in :func:`nps`.

    Example:
        >>> import kpiforge as kf
        >>> import pandas as pd
        >>> out = kf.csat(pd.DataFrame({"score": [5, 4, 2, 5]}))
        >>> float(out.loc[0, "csat_mean"]), float(out.loc[0, "csat_satisfied_pct"])
        (4.0, 75.0)
    """
    params = {
        "score": score,
        "date": date,
        "scale": list(scale) if isinstance(scale, tuple) else scale,
        "top_box_min": top_box_min,
        "survey_type": survey_type,
        "type_column": type_column,
    }
    return _single("csat", data, params, where, by=by, period=period, **options)


def ces(
    data: Any,
    *,
    by: str | Sequence[str] | None = None,
    period: Period = None,
    score: str = "score",
    date: str = "responded_at",
    scale: int | tuple[int, int] = 5,
    top_box_min: int | None = None,
    survey_type: str | None = "ces",
    type_column: str = "survey_type",
    where: Mapping[str, Any] | None = None,
    **options: Any,
) -> Any:
    """Customer Effort Score (CES) per segment and period; higher means easier.

    ``ces_mean`` with a Student t interval, and ``ces_easy_pct``: the top-two-box
    share (6-7 on ``scale=7``) with a Wilson interval, in percent.

    Args:
        scale: 5 (1-5, default) or 7 (1-7), or ``(low, high)``.
        top_box_min: lowest score counted easy (default: high - 1).
        survey_type, type_column, score, date, where, **options: as in :func:`nps`.

    Example:
        >>> import kpiforge as kf
        >>> import pandas as pd
        >>> out = kf.ces(pd.DataFrame({"score": [7, 6, 2, 5]}), scale=7)
        >>> float(out.loc[0, "ces_easy_pct"])
        50.0
    """
    params = {
        "score": score,
        "date": date,
        "scale": list(scale) if isinstance(scale, tuple) else scale,
        "top_box_min": top_box_min,
        "survey_type": survey_type,
        "type_column": type_column,
    }
    return _single("ces", data, params, where, by=by, period=period, **options)


def catalog() -> Any:
    """The KPI catalogue: name, family, table, headline column, unit, direction, default target.

    Example:
        >>> import kpiforge as kf
        >>> kf.catalog().set_index("name").loc["nps", "target"]
        np.float64(50.0)
    """
    import pandas as pd

    return pd.DataFrame(json.loads(_core.catalog()))
