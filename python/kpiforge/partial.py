"""Partial results: KPI states that merge, for data split across processes or machines.

Every KPI is a mergeable aggregate. ``kf.compute(part, kpis, ..., partial=True)``
returns the partial states of one part of the data as a :class:`Partial`;
:func:`merge_partials` merges any number of them (in any grouping: a tree
reduction works) and :func:`finalize` turns them into the table one scan over all
the data gives, exactly for counts and to floating-point rounding for sums.
Per-customer KPIs (repeat purchase, retention, ...) carry their customers'
order histories in the partial, so a customer whose orders are split across
parts is still walked as one: no shuffle by customer is needed.

A partial result is bytes with a format version: one written by an incompatible
kpiforge is refused with a clear error, and parts of different requests (other
KPIs, segments, periods or column types) refuse to merge.

Example:
    >>> import kpiforge as kf
    >>> import pandas as pd
    >>> a = pd.DataFrame({"rep_id": ["x", "y"], "score": [10, 3]})
    >>> b = pd.DataFrame({"rep_id": ["x", "x"], "score": [9, 6]})
    >>> parts = [kf.compute(df, ["nps"], by="rep_id", partial=True) for df in (a, b)]
    >>> kf.finalize(kf.merge_partials(parts))[["rep_id", "n", "nps"]].round(1)
      rep_id  n    nps
    0      x  3   33.3
    1      y  1 -100.0
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kpiforge import _core
from kpiforge._convert import Output, from_arrow
from kpiforge.exceptions import KpiInputError

__all__ = ["Partial", "merge_partials", "finalize", "PARTIAL_VERSION"]

#: The partial-result format this kpiforge writes and reads.
PARTIAL_VERSION: int = _core.PARTIAL_VERSION


class Partial:
    """The mergeable states of one part of the data (bytes; picklable)."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise KpiInputError("a Partial wraps bytes", column="data")
        self.data = bytes(data)

    def to_bytes(self) -> bytes:
        return self.data

    @classmethod
    def from_bytes(cls, data: bytes) -> Partial:
        return cls(data)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Partial, (self.data,))

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        return f"Partial({len(self.data):,} bytes)"


def _bytes(parts: Iterable[Partial | bytes]) -> list[bytes]:
    out = [p.data if isinstance(p, Partial) else bytes(p) for p in parts]
    if not out:
        raise KpiInputError("no partial results given", column="parts")
    return out


def merge_partials(parts: Iterable[Partial | bytes]) -> Partial:
    """Merge partial results of the same request into one (in any grouping or order).

    Example:
        >>> import pandas as pd
        >>> import kpiforge as kf
        >>> df = pd.DataFrame({"score": [10, 9, 3, 7]})
        >>> parts = [kf.compute(df.iloc[:2], ["nps"], partial=True),
        ...          kf.compute(df.iloc[2:], ["nps"], partial=True)]
        >>> kf.finalize(kf.merge_partials(parts))["nps"].item()
        25.0
    """
    return Partial(_core.merge_partials(_bytes(parts)))


def finalize(parts: Partial | bytes | Iterable[Partial | bytes], output: Output = "pandas") -> Any:
    """Finalise one partial result (or merge and finalise several) into the KPI table.

    Example:
        >>> import pandas as pd
        >>> import kpiforge as kf
        >>> df = pd.DataFrame({"rep_id": ["a", "a", "b"], "score": [10, 6, 9]})
        >>> part = kf.compute(df, ["nps"], by="rep_id", partial=True)
        >>> kf.finalize(part)[["rep_id", "n", "nps"]]
          rep_id  n    nps
        0      a  2    0.0
        1      b  1  100.0
    """
    if isinstance(parts, Partial | bytes):
        parts = [parts]
    from kpiforge.kpis import _warn_dropped

    batch, issues = _core.finalize_partials(_bytes(parts))
    _warn_dropped(issues)
    return from_arrow(batch, output)
