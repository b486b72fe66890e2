"""The exceptions kpiforge raises, all under :class:`KpiforgeError`."""

from __future__ import annotations

__all__ = [
    "KpiforgeError",
    "KpiInputError",
    "KpiInternalError",
    "KpiDataWarning",
    "FitError",
    "ClvModelWarning",
]


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


class FitError(KpiforgeError, RuntimeError):
    """A statistical model could not be fitted (the CLV models in :mod:`kpiforge.clv`).

    The optimiser did not converge, a parameter is not identified (the Hessian at
    the optimum is not positive definite) or the data cannot support the model
    (no repeat purchases). The message says what to try, e.g. ``penalizer_coef=``.
    """


class ClvModelWarning(UserWarning):
    """A CLV model's assumption looks doubtful for the data (see :mod:`kpiforge.clv`)."""
