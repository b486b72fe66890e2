"""The same KPIs on a Dask DataFrame: partial states per partition, merged in a tree.

    import dask.dataframe as dd
    import kpiforge.dask

    ddf = dd.read_parquet("orders/")
    kpiforge.dask.compute(ddf, ["otif", "repeat_purchase_rate"], by="rep_id", period="quarter")

Every partition is scanned into a :class:`kpiforge.Partial` on the workers, the
partials are merged in a tree (``split_every`` at a time) and finalised on the
last worker: the result equals ``kf.compute`` on the whole data. Per-customer
KPIs are exact without a shuffle, because the partials carry the customers'
order histories. Runs on any Dask scheduler, ``distributed`` included.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from kpiforge import _core
from kpiforge._convert import Output, from_arrow, to_arrow
from kpiforge.exceptions import KpiInputError
from kpiforge.kpis import Kpi, OnInvalid, Period, _request, _warn_dropped

__all__ = ["compute"]


def _partial(partition: Any, request: str) -> bytes:
    return _core.compute_partial(to_arrow(partition), request)


def _merge(parts: list[bytes]) -> bytes:
    return _core.merge_partials(parts)


def _finalize(parts: list[bytes], output: Output) -> Any:
    batch, issues = _core.finalize_partials(parts)
    _warn_dropped(issues)
    return from_arrow(batch, output)


def compute(
    ddf: Any,
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
    threads: int | None = 1,
    output: Output = "pandas",
    split_every: int = 8,
) -> Any:
    """:func:`kpiforge.compute` on a ``dask.dataframe.DataFrame``.

    Arguments as in :func:`kpiforge.compute`. ``as_of`` defaults to the latest
    observed date of the censoring KPIs (computed with Dask first), so every
    partition censors alike. ``threads`` (default 1) is per partition task: Dask
    already runs partitions in parallel. Returns a pandas DataFrame (or
    ``output=``), equal to the single-machine result.

    Example:
        >>> import dask.dataframe as dd
        >>> import pandas as pd
        >>> import kpiforge.dask
        >>> df = pd.DataFrame({"rep_id": list("aabbc"), "score": [10, 9, 0, 7, 10]})
        >>> ddf = dd.from_pandas(df, npartitions=3)
        >>> kpiforge.dask.compute(ddf, ["nps"], by="rep_id",
        ...                       output="arrow")["nps"].to_pylist()
        [100.0, -50.0, 100.0]
    """
    from dask import delayed

    if split_every < 2:
        raise KpiInputError("split_every must be at least 2", column="split_every")
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
    if request["as_of"] is None:
        observed = _core.observed_dates(json.dumps(request))
        present = [c for c in observed if c in ddf.columns]
        if present:
            import dask
            import pandas as pd

            maxima = [pd.Timestamp(m) for m in dask.compute(*[ddf[c].max() for c in present])]
            maxima = [m for m in maxima if not pd.isna(m)]
            if maxima:
                request["as_of"] = max(maxima).date().isoformat()
    text = json.dumps(request)
    level = [delayed(_partial)(part, text) for part in ddf.to_delayed()]
    while len(level) > split_every:
        level = [
            delayed(_merge)(level[i : i + split_every]) for i in range(0, len(level), split_every)
        ]
    return delayed(_finalize)(level, output).compute()
