"""kpiforge: sales and customer-experience KPIs per segment and period.

A Rust engine computes every KPI as a mergeable aggregate in one parallel scan,
with honest statistics (intervals everywhere, censoring for outcomes that need
time). Start with :func:`kpiforge.nps`, :func:`kpiforge.compute` and
:mod:`kpiforge.demo`.

Example:
    >>> import kpiforge as kf
    >>> responses = kf.demo.generate(n_orders=2_000).responses
    >>> df = kf.nps(responses, by="rep_id", period="quarter")
    >>> {"rep_id", "period", "nps", "nps_ci_low", "nps_ci_high"} <= set(df.columns)
    True
"""

from __future__ import annotations

import os as _os
import warnings as _warnings

from kpiforge import _core, demo
from kpiforge.clv import (
    BetaGeoModel,
    GammaGammaModel,
    clv,
    fit_bgnbd,
    fit_gamma_gamma,
    rfm_summary,
)
from kpiforge.commercial import (
    cart_abandonment,
    engagement,
    interaction_frequency,
    lead_conversion,
)
from kpiforge.customers import (
    cohort_retention,
    purchase_frequency,
    repeat_purchase_rate,
    retention,
)
from kpiforge.exceptions import (
    ClvModelWarning,
    FitError,
    KpiDataWarning,
    KpiforgeError,
    KpiInputError,
    KpiInternalError,
)
from kpiforge.feedback import default_themes, distinctive_terms, feedback_themes
from kpiforge.finance import cac, dso, ltv_cac_ratio
from kpiforge.health import churn_risk, health_score
from kpiforge.kpis import Kpi, catalog, ces, compute, csat, nps
from kpiforge.orders import cross_sell, order_accuracy, otif, revenue, self_service_adoption
from kpiforge.partial import Partial, finalize, merge_partials
from kpiforge.render import render_scorecards
from kpiforge.scorecard import Metric, scorecard
from kpiforge.service import (
    first_contact_resolution,
    quote_win_rate,
    resolution_time,
    time_to_quote,
)
from kpiforge.targets import Target, Targets

__version__: str = _core.__version__

__all__ = [
    "BetaGeoModel",
    "ClvModelWarning",
    "FitError",
    "GammaGammaModel",
    "clv",
    "fit_bgnbd",
    "fit_gamma_gamma",
    "rfm_summary",
    "Kpi",
    "Metric",
    "Partial",
    "Target",
    "Targets",
    "KpiDataWarning",
    "KpiInputError",
    "KpiInternalError",
    "KpiforgeError",
    "__version__",
    # finance and commercial
    "cac",
    "cart_abandonment",
    "dso",
    "engagement",
    "interaction_frequency",
    "lead_conversion",
    "catalog",
    "ces",
    "churn_risk",
    "cohort_retention",
    "cross_sell",
    "compute",
    "csat",
    "default_themes",
    "demo",
    "distinctive_terms",
    "feedback_themes",
    "finalize",
    "first_contact_resolution",
    "health_score",
    "ltv_cac_ratio",
    "merge_partials",
    "nps",
    "order_accuracy",
    "otif",
    "purchase_frequency",
    "quote_win_rate",
    "repeat_purchase_rate",
    "render_scorecards",
    "resolution_time",
    "retention",
    "revenue",
    "scorecard",
    "self_service_adoption",
    "time_to_quote",
]

# rayon's thread pool does not survive fork (Airflow and multiprocessing fork
# workers): a forked child computes single-threaded instead of deadlocking.
if hasattr(_os, "register_at_fork"):
    _os.register_at_fork(after_in_child=_core._mark_forked)

if _core._debug_build():
    _warnings.warn(
        "kpiforge was built without optimisations (a debug build): it is much slower. "
        "Build with `maturin develop --release` or install the wheel.",
        RuntimeWarning,
        stacklevel=2,
    )
