"""Type checks of option values shared by the public functions: numpy scalars
count as numbers, booleans never do (``True`` is an ``int`` to Python)."""

from __future__ import annotations

import math
import numbers
from typing import Any, TypeGuard


def is_whole(value: Any) -> TypeGuard[int]:
    """An integer (Python or numpy), not a boolean.

    >>> is_whole(3), is_whole(True), is_whole(3.0)
    (True, False, False)
    """
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_finite_number(value: Any) -> TypeGuard[float]:
    """A real number (Python or numpy), not a boolean, neither NaN nor infinite.

    >>> is_finite_number(0.5), is_finite_number(float("nan")), is_finite_number("1")
    (True, False, False)
    """
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def is_json_scalar(value: Any) -> bool:
    """A value JSON carries as it is: None, a string, a boolean, an int or a finite float."""
    return (
        value is None
        or isinstance(value, str | bool | int)
        or (isinstance(value, float) and math.isfinite(value))
    )
