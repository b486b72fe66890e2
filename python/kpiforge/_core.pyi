"""Type stubs of the compiled core (``kpiforge._core``). Use the public API in ``kpiforge``."""

from typing import Any

__version__: str

def compute(data: Any, request: str, rows: int | None = None) -> tuple[Any, str]:
    """Run a JSON KPI request over an Arrow stream; returns (pyarrow.RecordBatch, issues JSON).

    ``rows``, the input's row count when known, lets the core size its states once."""

def compute_partial(data: Any, request: str) -> bytes:
    """Like ``compute`` but return the mergeable partial states (versioned bytes)."""

def merge_partials(parts: list[bytes]) -> bytes:
    """Merge partial results of one request."""

def finalize_partials(parts: list[bytes]) -> tuple[Any, str]:
    """Merge and finalise partial results into (pyarrow.RecordBatch, issues JSON)."""

PARTIAL_VERSION: int

def observed_dates(request: str) -> list[str]:
    """The date columns whose latest value is "now" for the request's censoring KPIs."""

def demo_tables(config: str) -> list[tuple[str, Any]]:
    """Generate the demo tables from a JSON config; returns (name, pyarrow.RecordBatch) pairs."""

def catalog() -> str:
    """The KPI catalogue as JSON."""

# Comment text (kpiforge.feedback)
def distinctive_terms(data: Any, request: str) -> Any:
    """Rank each group's distinctive terms (JSON request); returns a pyarrow.RecordBatch."""

def tokenize(text: str) -> list[str]:
    """The tokens of one comment, as the feedback KPIs see them."""

def default_themes() -> str:
    """The default theme dictionary as JSON pairs ``[[theme, [keywords]], ...]``."""

def default_stop_words() -> list[str]:
    """The built-in stop words."""

DEFAULT_PRIOR: float

def _mark_forked() -> None: ...
def _panic_for_test(in_thread_pool: bool) -> None: ...
def _debug_build() -> bool: ...
def _purge_delay() -> int: ...
def _hold_purge_at_once(n: int) -> None: ...

# CLV models (kpiforge.clv); arrays are contiguous float64 numpy arrays.
def clv_fit_bgnbd(
    frequency: Any, recency: Any, t: Any, weights: Any = None, penalizer_coef: float = 0.0
) -> tuple[list[float], list[float], float, int, int]: ...
def clv_fit_gamma_gamma(
    frequency: Any, monetary_value: Any, weights: Any = None, penalizer_coef: float = 0.0
) -> tuple[list[float], list[float], float, int, int]: ...
def clv_bgnbd_predict(
    params: list[float], frequency: Any, recency: Any, t_age: Any, t: float | None = None
) -> Any: ...
def clv_gamma_gamma_value(params: list[float], frequency: Any, monetary_value: Any) -> Any: ...
def clv_value(
    params: list[float],
    frequency: Any,
    recency: Any,
    t_age: Any,
    value: Any,
    months: int,
    discount_rate: float,
    periods_per_month: float,
) -> Any: ...
def clv_rfm(
    data: Any, customer: str, date: str, amount: str, as_of: int | None = None, freq: str = "D"
) -> tuple[Any, int]: ...
