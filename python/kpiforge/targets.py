"""Targets and status: what "good" means for each KPI, per segment if agreed so.

A :class:`Targets` maps a scorecard KPI id (``"nps"``, ``"otif_pct"``, ...) to a
target value, a direction (higher or lower is better) and an amber band;
``status`` turns a value into ``green`` (target met), ``amber`` (within the band
of the target, default 10%) or ``red``. Partners often agree their own goals:
:meth:`Targets.with_segment_targets` reads them from a table.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from kpiforge._checks import is_finite_number
from kpiforge.exceptions import KpiInputError

__all__ = ["Target", "Targets", "Status"]

Status = Literal["green", "amber", "red"]
Direction = Literal["higher", "lower"]


@dataclass(frozen=True)
class Target:
    """One KPI's target: ``value``, which ``direction`` is better, and the amber ``band``.

    ``band`` is relative to the target (0.10: within 10% of it is amber); for a
    target of 0 or a KPI that can be negative (NPS), 10% of the target's
    magnitude is still the band, with a floor of 1 unit so a target of 0 has one.
    """

    value: float
    direction: Direction = "higher"
    band: float = 0.10

    def __post_init__(self) -> None:
        if not is_finite_number(self.value):
            # A NaN target would turn every value red (no comparison with NaN holds).
            raise KpiInputError(
                f"a target value must be a finite number, got {self.value!r}",
                column="value",
                example=repr(self.value),
            )
        if self.direction not in ("higher", "lower"):
            raise KpiInputError(
                f"direction must be 'higher' or 'lower', got {self.direction!r}", column="direction"
            )
        if not (0 <= self.band < 1):
            raise KpiInputError(f"band must be in [0, 1), got {self.band}", column="band")

    def status(self, value: float | None) -> Status | None:
        """``green``, ``amber`` or ``red`` for ``value``; ``None`` when the value is missing."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        width = max(abs(self.value) * self.band, 1.0 if self.band > 0 else 0.0)
        if self.direction == "higher":
            if value >= self.value:
                return "green"
            return "amber" if value >= self.value - width else "red"
        if value <= self.value:
            return "green"
        return "amber" if value <= self.value + width else "red"

    def describe(self) -> str:
        return f"{'≥' if self.direction == 'higher' else '≤'} {self.value:g}"


@dataclass(frozen=True)
class Targets:
    """KPI targets, with optional per-segment overrides.

    Example:
        >>> import kpiforge as kf
        >>> t = kf.Targets.building_materials()
        >>> t.status("otif_pct", 93.0), t.status("otif_pct", 80.0), t.status("nps", 55.0)
        ('amber', 'red', 'green')
        >>> t = t.with_targets(nps=kf.Target(30))
        >>> t.status("nps", 31.0)
        'green'
    """

    default: Mapping[str, Target] = field(default_factory=dict)
    # {segment tuple: {kpi: Target}}
    by_segment: Mapping[tuple[Any, ...], Mapping[str, Target]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        own = [(kpi, t) for targets in self.by_segment.values() for kpi, t in targets.items()]
        for kpi, t in [*self.default.items(), *own]:
            if not isinstance(t, Target):
                raise KpiInputError(
                    f"the target of {kpi!r} must be a kf.Target, got {t!r}: write "
                    f"Target({t!r}) or Targets.building_materials().with_targets({kpi}={t!r})",
                    column=str(kpi),
                    example=repr(t),
                )

    @classmethod
    def building_materials(cls) -> Targets:
        """The default targets of a building-materials distributor (KPIS.md)."""
        return cls(
            default={
                "nps": Target(50.0),
                "csat_mean": Target(4.0),
                "ces_mean": Target(4.0),
                "fcr_pct": Target(70.0),
                "time_to_quote_sla_pct": Target(90.0),
                "resolution_sla_pct": Target(90.0),
                "self_service_pct": Target(80.0),
                "cross_sell_pct": Target(25.0),
                "accuracy_pct": Target(98.0),
                "otif_pct": Target(95.0),
                "repeat_rate_pct": Target(60.0),
            }
        )

    def with_targets(self, **targets: Target | float) -> Targets:
        """A copy with these KPI targets set (a number keeps the existing direction and band)."""
        new = dict(self.default)
        for kpi, t in targets.items():
            if not isinstance(t, Target):
                base = new.get(kpi, Target(float(t)))
                t = replace(base, value=float(t))
            new[kpi] = t
        return Targets(new, self.by_segment)

    def with_segment_targets(
        self,
        table: Any,
        *,
        segment: str | Sequence[str],
        kpi: str = "kpi",
        target: str = "target",
    ) -> Targets:
        """A copy with per-segment targets (a partner's agreed goals) from a table.

        The table has the segment column(s), a ``kpi`` column naming the scorecard
        KPI and a ``target`` column; direction and band come from the default
        target of that KPI (or "higher" and 10%). A row whose target is missing
        (null or NaN) leaves that segment on the default target.

        Example:
            >>> import kpiforge as kf
            >>> import pandas as pd
            >>> goals = pd.DataFrame({"partner_id": ["P0001"], "kpi": ["otif_pct"],
            ...                       "target": [90.0]})
            >>> t = kf.Targets.building_materials().with_segment_targets(goals,
            ...                                                          segment="partner_id")
            >>> t.status("otif_pct", 91.0, segment=("P0001",)), t.status("otif_pct", 91.0)
            ('green', 'amber')
        """
        import pandas as pd

        df = table if isinstance(table, pd.DataFrame) else pd.DataFrame(table)
        cols = [segment] if isinstance(segment, str) else list(segment)
        missing = [c for c in [*cols, kpi, target] if c not in df.columns]
        if missing:
            raise KpiInputError(
                f"segment targets table lacks column(s) {missing}", column=missing[0]
            )
        by_segment: dict[tuple[Any, ...], dict[str, Target]] = {
            k: dict(v) for k, v in self.by_segment.items()
        }
        for row in df.itertuples(index=False):
            rec = row._asdict()
            if pd.isna(rec[target]):
                continue
            key = tuple(rec[c] for c in cols)
            base = self.default.get(rec[kpi], Target(float(rec[target])))
            by_segment.setdefault(key, {})[rec[kpi]] = replace(base, value=float(rec[target]))
        return Targets(self.default, by_segment)

    def get(self, kpi: str, segment: Iterable[Any] | None = None) -> Target | None:
        """The target of ``kpi`` for ``segment`` (its own, else the default), or ``None``."""
        if segment is not None:
            own = self.by_segment.get(tuple(segment), {})
            if kpi in own:
                return own[kpi]
        return self.default.get(kpi)

    def status(
        self, kpi: str, value: float | None, segment: Iterable[Any] | None = None
    ) -> Status | None:
        """Status of ``value`` against the target of ``kpi`` (``None`` without a target)."""
        t = self.get(kpi, segment)
        return t.status(value) if t is not None else None
