"""The same KPIs on a Spark DataFrame, through ``mapInArrow``.

    import kpiforge.spark
    kpiforge.spark.compute(sdf, ["nps", "csat"], by="rep_id", period="quarter")

Each Spark partition is scanned into a partial result on the executors (Arrow
batches straight into the Rust core, no pandas), the partials are collected and
merged and finalised on the driver: the result equals ``kf.compute`` on the
whole data, per-customer KPIs included (their partials carry the customers'
histories). Spark timestamps are instants bucketed in their zone: set
``spark.sql.session.timeZone`` (or pass ``tz=``) to the zone your periods are in.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

from kpiforge import _core
from kpiforge._convert import Output
from kpiforge.kpis import Kpi, OnInvalid, Period, _request
from kpiforge.partial import finalize

__all__ = ["compute"]


def _partials(request: str) -> Any:
    def scan(batches: Iterator[Any]) -> Iterator[Any]:
        import pyarrow as pa

        first = next(batches, None)
        if first is None:  # an empty partition contributes nothing
            return
        reader = pa.RecordBatchReader.from_batches(first.schema, _chain(first, batches))
        data = _core.compute_partial(reader, request)
        yield pa.record_batch([pa.array([data], pa.binary())], names=["partial"])

    return scan


def _chain(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest


def compute(
    sdf: Any,
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
) -> Any:
    """:func:`kpiforge.compute` on a ``pyspark.sql.DataFrame``.

    Arguments as in :func:`kpiforge.compute`; ``as_of`` defaults to the latest
    observed date of the censoring KPIs (one Spark aggregation first), so every
    partition censors alike. ``threads`` (default 1) is per Spark task.
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
    if request["as_of"] is None:
        observed = [c for c in _core.observed_dates(json.dumps(request)) if c in sdf.columns]
        if observed:
            from pyspark.sql import functions as F

            row = sdf.agg(*[F.max(F.to_date(F.col(c))).alias(c) for c in observed]).first()
            latest = [v for v in row if v is not None]
            if latest:
                request["as_of"] = max(latest).isoformat()
    with warnings.catch_warnings():
        # PySpark checks the pandas version for mapInArrow, which uses no pandas.
        warnings.filterwarnings(
            "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
        )
        parts = sdf.mapInArrow(_partials(json.dumps(request)), "partial binary").collect()
    return finalize([bytes(r["partial"]) for r in parts], output)
