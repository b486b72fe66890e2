"""Demo data: a seeded, realistic building-materials distributor.

The tables and their columns are documented in ``docs/demo-data.md``; every
KPI's column defaults are these column names.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa

from kpiforge import _core
from kpiforge._checks import is_whole
from kpiforge.exceptions import KpiInputError

__all__ = ["DemoData", "generate", "TABLES"]

TABLES = (
    "responses",
    "orders",
    "order_lines",
    "tickets",
    "quotes",
    "invoices",
    "leads",
    "carts",
    "events",
    "interactions",
    "spend",
)


class DemoData:
    """The generated tables, as attributes (``data.orders``) and by name (``data["orders"]``)."""

    responses: pa.Table
    orders: pa.Table
    order_lines: pa.Table
    tickets: pa.Table
    quotes: pa.Table
    invoices: pa.Table
    leads: pa.Table
    carts: pa.Table
    events: pa.Table
    interactions: pa.Table
    spend: pa.Table

    def __init__(self, tables: dict[str, pa.Table]) -> None:
        self._tables = tables
        for name, table in tables.items():
            setattr(self, name, table)

    def __getitem__(self, name: str) -> pa.Table:
        return self._tables[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._tables)

    def items(self) -> Iterator[tuple[str, pa.Table]]:
        return iter(self._tables.items())

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}={v.num_rows:,}" for k, v in self._tables.items())
        return f"DemoData({sizes})"


def generate(
    n_orders: int = 100_000,
    *,
    seed: int = 0,
    n_responses: int | None = None,
    n_tickets: int | None = None,
    n_quotes: int | None = None,
    n_leads: int | None = None,
    n_carts: int | None = None,
    n_events: int | None = None,
    n_interactions: int | None = None,
    start: _dt.date | str = "2024-01-01",
    end: _dt.date | str = "2026-11-15",
    tables: Sequence[str] | None = None,
) -> DemoData:
    """Generate the demo tables (deterministic for a given seed and size).

    Generated in Rust in parallel: ten million rows take seconds. Partner size is
    skewed, demand seasonal, and reps differ in quality, so KPIs differ by segment
    the way they do in real data. The last quarter is partial.

    Args:
        n_orders: orders; the other tables scale with it unless given
            (``n_responses`` defaults to ``n_orders // 2``, ...).
        seed: random seed.
        start, end: the date range.
        tables: only these tables (default: all of :data:`TABLES`).

    Example:
        >>> import kpiforge as kf
        >>> data = kf.demo.generate(n_orders=1_000, seed=7, tables=["orders", "responses"])
        >>> data.orders.num_rows, data.responses.num_rows
        (1000, 500)
    """
    counts = {
        "n_orders": n_orders,
        "n_responses": n_responses,
        "n_tickets": n_tickets,
        "n_quotes": n_quotes,
        "n_leads": n_leads,
        "n_carts": n_carts,
        "n_events": n_events,
        "n_interactions": n_interactions,
    }
    for name, value in [*counts.items(), ("seed", seed)]:
        if value is None and name != "n_orders" and name != "seed":
            continue
        if not is_whole(value) or value < 0:
            raise KpiInputError(
                f"{name} must be a whole number >= 0, got {value!r}",
                column=name,
                example=repr(value),
            )
    config: dict[str, Any] = {
        **{name: None if value is None else int(value) for name, value in counts.items()},
        "seed": int(seed),
        "start": str(start),
        "end": str(end),
        "tables": list(tables) if tables is not None else None,
    }
    batches = _core.demo_tables(json.dumps(config))
    return DemoData({name: pa.Table.from_batches([batch]) for name, batch in batches})
