"""The exceptions kpiforge raises, all under :class:`KpiforgeError`."""

from __future__ import annotations

__all__ = ["KpiforgeError", "KpiInputError", "KpiInternalError", "KpiDataWarning"]


class KpiforgeError(Exception):
    """Base class of every kpiforge error."""


class KpiInputError(KpiforgeError, ValueError):
    """Bad input: a missing or mistyped column, a bad value, a bad parameter.

    Attributes:
        column: the column (or parameter) at fault, if one is.
        count: how many rows are affected, if rows are.
        example: one offending value, as text.

    Example:
        >>> import kpiforge as kf
        >>> import pandas as pd
        >>> try:
        ...     kf.nps(pd.DataFrame({"score": [3, 11]}))
        ... except kf.KpiInputError as e:
        ...     print(e.column, e.count, e.example)
        score 1 11
    """

    def __init__(
        self,
        message: str,
        *,
        column: str | None = None,
        count: int | None = None,
        example: str | None = None,
    ) -> None:
        super().__init__(message)
        self.column = column
        self.count = count
        self.example = example


class KpiInternalError(KpiforgeError, RuntimeError):
    """A failure inside kpiforge itself (a bug, never the data's fault)."""


class KpiDataWarning(UserWarning):
    """Rows were dropped (``on_invalid="drop"``) without being counted in any KPI column."""
