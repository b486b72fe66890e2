"""Type stubs of the compiled core (``kpiforge._core``). Use the public API in ``kpiforge``."""

from typing import Any

__version__: str

def compute(data: Any, request: str) -> tuple[Any, str]:
    """Run a JSON KPI request over an Arrow stream; returns (pyarrow.RecordBatch, issues JSON)."""

def demo_tables(config: str) -> list[tuple[str, Any]]:
    """Generate the demo tables from a JSON config; returns (name, pyarrow.RecordBatch) pairs."""

def catalog() -> str:
    """The KPI catalogue as JSON."""

def _mark_forked() -> None: ...
def _panic_for_test(in_thread_pool: bool) -> None: ...
def _debug_build() -> bool: ...
