"""Customer lifetime value: RFM summary, BG/NBD and Gamma-Gamma models, CLV.

:func:`rfm_summary` turns transactions into one row per customer (frequency,
recency, T, monetary value); :func:`fit_bgnbd` fits the BG/NBD purchase model
(Fader, Hardie & Lee 2005) and :func:`fit_gamma_gamma` the Gamma-Gamma spend
model (Fader & Hardie 2013) by maximum likelihood in the Rust core;
:func:`clv` does all of it from an orders table and returns per-customer (or
per-segment, ``level="segment"``) predictions and discounted CLV. The
semantics follow the lifetimes package (its CDNOW results are reproduced in the
tests), so numbers can be compared with it.

``kpiforge.clv`` the function shadows this module as an attribute of the
package: use ``kf.rfm_summary``, ``kf.fit_bgnbd`` and the rest from the top
level (``from kpiforge.clv import ...`` also works).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa

from kpiforge import _core
from kpiforge._checks import is_whole
from kpiforge._convert import to_arrow
from kpiforge.exceptions import ClvModelWarning, KpiInputError
from kpiforge.kpis import _as_of

__all__ = [
    "BetaGeoModel",
    "GammaGammaModel",
    "clv",
    "fit_bgnbd",
    "fit_gamma_gamma",
    "rfm_summary",
]

Freq = Literal["D", "W", "M"]

#: Time units per month, as lifetimes counts them for CLV.
PERIODS_PER_MONTH = {"D": 30.0, "W": 4.345, "M": 1.0}

#: Frequency and spend correlating above this makes the Gamma-Gamma model doubtful.
CORRELATION_LIMIT = 0.3


def _read_table(data: Any) -> pa.Table:
    data = to_arrow(data)
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if isinstance(data, pa.RecordBatchReader):
        return data.read_all()
    return pa.table(data)


def _as_of_day(as_of: Any) -> int | None:
    text = _as_of(as_of)  # the forms compute() takes, and the same errors
    if text is None:
        return None
    try:
        ts = pd.Timestamp(text)
    except (TypeError, ValueError) as err:
        raise KpiInputError(
            f"as_of={as_of!r} is not a date", column="as_of", example=repr(as_of)
        ) from err
    if ts is pd.NaT:
        raise KpiInputError("as_of is NaT: pass a date", column="as_of")
    if ts.tzinfo is not None:
        ts = ts.tz_localize(None)
    return int((ts.normalize() - pd.Timestamp("1970-01-01")).days)


def _by_list(by: str | Sequence[str] | None) -> list[str]:
    if by is None:
        return []
    return [by] if isinstance(by, str) else list(by)


def rfm_summary(
    orders: Any,
    *,
    customer: str = "customer_id",
    date: str = "ordered_at",
    amount: str = "amount",
    as_of: Any = None,
    freq: Freq = "D",
    by: str | Sequence[str] | None = None,
) -> pd.DataFrame:
    """Recency, frequency, age and monetary value per customer, as the CLV models need.

    Exactly the semantics of lifetimes' ``summary_data_from_transaction_data``:
    orders are bucketed to periods of ``freq`` (``"D"`` days, ``"W"`` ISO weeks
    Monday-Sunday, ``"M"`` calendar months) and summed per customer and period
    first. Per customer:

    * ``frequency``: periods with a purchase minus 1 (repeat purchases);
    * ``recency``: periods from the first purchase to the last;
    * ``T``: periods from the first purchase to ``as_of``'s period;
    * ``monetary_value``: mean of the repeat periods' totals (the first
      purchase is excluded; 0 when ``frequency`` is 0);
    * ``revenue``: all amounts up to ``as_of``, the first purchase included.

    ``as_of`` (default: the latest order) ends the observation; orders in
    periods after it are dropped (this is how a calibration period is cut),
    orders anywhere in its period are kept, as lifetimes does (their count is in
    ``df.attrs["dropped_after_as_of"]``). Timestamps are
    bucketed by their local date (zoned ones in their own zone). With ``by=``,
    segment columns are kept, each customer taking the values of their first
    order (earliest date, then row order). Rows are sorted by customer.

    Bad input (``KpiInputError``): missing columns, null customers, dates or
    amounts, negative amounts, no order on or before ``as_of``.

    Example:
        >>> import kpiforge as kf
        >>> import pandas as pd
        >>> orders = pd.DataFrame({
        ...     "customer_id": ["a", "a", "a", "b"],
        ...     "ordered_at": pd.to_datetime(
        ...         ["2025-01-01", "2025-01-01", "2025-01-11", "2025-01-05"]
        ...     ),
        ...     "amount": [10.0, 5.0, 20.0, 7.0],
        ... })
        >>> kf.rfm_summary(orders, as_of="2025-01-31")
          customer_id  frequency  recency     T  monetary_value  revenue
        0           a        1.0     10.0  30.0            20.0     35.0
        1           b        0.0      0.0  26.0             0.0      7.0
    """
    if freq not in PERIODS_PER_MONTH:
        raise KpiInputError(
            f"freq must be 'D', 'W' or 'M', got {freq!r}", column="freq", example=repr(freq)
        )
    by_cols = _by_list(by)
    table = _read_table(orders)
    for name in by_cols:
        if name not in table.column_names:
            raise KpiInputError(
                f"column '{name}' (by=) not found in the table; columns: "
                + ", ".join(table.column_names[:20]),
                column=name,
            )
        if name == customer:
            raise KpiInputError(
                f"by= lists the customer column '{name}': segments are other columns",
                column=name,
            )
    batch, dropped = _core.clv_rfm(table, customer, date, amount, _as_of_day(as_of), freq)
    metrics = pa.Table.from_batches([batch])
    keys = table.select([customer, *by_cols])
    # pyarrow's take has no kernel for view types (polars exports strings as string_view).
    views = {"string_view": pa.large_string(), "binary_view": pa.large_binary()}
    keys = pa.table(
        [c.cast(views[str(c.type)]) if str(c.type) in views else c for c in keys.columns],
        names=keys.column_names,
    ).take(metrics.column("first_row"))
    out = keys.to_pandas(date_as_object=False)
    for name in ("frequency", "recency", "T", "monetary_value", "revenue"):
        out[name] = metrics.column(name).to_numpy()
    out = out.sort_values(customer, kind="stable").reset_index(drop=True)
    out.attrs["dropped_after_as_of"] = int(dropped)
    return out


def _float_array(values: Any, name: str) -> np.ndarray:
    try:
        arr = np.ascontiguousarray(np.asarray(values, dtype=np.float64).reshape(-1))
    except (TypeError, ValueError) as err:
        raise KpiInputError(f"{name} must be numbers", column=name) from err
    return arr


@dataclass(frozen=True, eq=False)
class _FittedModel:
    """What every fitted model holds (see :func:`_fitted`), and its summary."""

    params: pd.Series
    std_errors: pd.Series
    log_likelihood: float
    converged: bool
    iterations: int
    n_customers: float
    penalizer_coef: float = 0.0
    _values: list[float] = field(default_factory=list, repr=False)

    @property
    def summary(self) -> pd.DataFrame:
        """``coef, se, ci_low, ci_high`` (95%, normal) per parameter."""
        params, se = self.params, self.std_errors
        return pd.DataFrame(
            {"coef": params, "se": se, "ci_low": params - 1.96 * se, "ci_high": params + 1.96 * se}
        )


@dataclass(frozen=True, eq=False)
class BetaGeoModel(_FittedModel):
    """A fitted BG/NBD model (see :func:`fit_bgnbd`).

    Attributes:
        params: ``r, alpha, a, b`` (``alpha`` in the data's time unit).
        std_errors: their standard errors (inverse Hessian, delta method).
        log_likelihood: the total weighted log-likelihood at the optimum
            (without the penalty), in the data's time unit.
        converged: always True (a failed fit raises :class:`kpiforge.FitError`).
        iterations: optimiser iterations.
        n_customers: total weight (customers) fitted on.
        penalizer_coef: the L2 penalty used.
    """

    def p_alive(self, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """P(customer still active | x, t_x, T); exactly 1 for customers without repeat purchases.

        ``1 / (1 + a/(b+x-1) * ((alpha+T)/(alpha+t_x))**(r+x))`` for ``x > 0``.
        """
        return _core.clv_bgnbd_predict(
            self._values,
            _float_array(frequency, "frequency"),
            _float_array(recency, "recency"),
            _float_array(T, "T"),
        )

    def expected_purchases(self, t: float, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """Expected purchases in the next ``t`` time units (FHL 2005 eq. 10).

        lifetimes' ``conditional_expected_number_of_purchases_up_to_time``; the
        hypergeometric function is summed as its Euler transform, whose
        parameters stay small for any frequency.
        """
        return _core.clv_bgnbd_predict(
            self._values,
            _float_array(frequency, "frequency"),
            _float_array(recency, "recency"),
            _float_array(T, "T"),
            float(t),
        )


@dataclass(frozen=True, eq=False)
class GammaGammaModel(_FittedModel):
    """A fitted Gamma-Gamma spend model (see :func:`fit_gamma_gamma`).

    Attributes:
        params: ``p, q, gamma`` (lifetimes calls ``gamma`` ``v``); ``q > 1``.
        std_errors, log_likelihood, converged, iterations, n_customers,
        penalizer_coef: as in :class:`BetaGeoModel`.
    """

    def expected_avg_value(self, frequency: Any, monetary_value: Any) -> np.ndarray:
        """Expected value per transaction: ``(1-w)*gamma*p/(q-1) + w*m`` with ``w = px/(px+q-1)``.

        lifetimes' ``conditional_expected_average_profit``; customers without
        repeat purchases get the population mean ``gamma*p/(q-1)``.
        """
        return _core.clv_gamma_gamma_value(
            self._values,
            _float_array(frequency, "frequency"),
            _float_array(monetary_value, "monetary_value"),
        )

    def clv(
        self,
        bgnbd: BetaGeoModel,
        frequency: Any,
        recency: Any,
        T: Any,
        monetary_value: Any,
        *,
        horizon: int = 12,
        discount_rate: float = 0.01,
        freq: Freq = "D",
    ) -> np.ndarray:
        """Discounted CLV over ``horizon`` months, as lifetimes' ``customer_lifetime_value``.

        ``sum over i = 1..horizon of value * (E[X(i months)] - E[X(i-1 months)])
        / (1 + discount_rate)**i``, with ``value`` the expected value per
        transaction and a month being 30 days, 4.345 weeks or 1 month (``freq``,
        the time unit of recency and T).
        """
        _check_horizon(horizon, discount_rate, freq)
        value = self.expected_avg_value(frequency, monetary_value)
        return _core.clv_value(
            bgnbd._values,
            _float_array(frequency, "frequency"),
            _float_array(recency, "recency"),
            _float_array(T, "T"),
            value,
            int(horizon),
            float(discount_rate),
            PERIODS_PER_MONTH[freq],
        )


def _check_horizon(horizon: Any, discount_rate: Any, freq: Any) -> None:
    if not is_whole(horizon) or horizon < 1:
        raise KpiInputError(
            f"horizon must be a whole number of months >= 1, got {horizon!r}",
            column="horizon",
            example=repr(horizon),
        )
    if freq not in PERIODS_PER_MONTH:
        raise KpiInputError(
            f"freq must be 'D', 'W' or 'M', got {freq!r}", column="freq", example=repr(freq)
        )
    if not (np.isfinite(discount_rate) and discount_rate > -1):
        raise KpiInputError(
            f"discount_rate must be > -1 (per month), got {discount_rate!r}",
            column="discount_rate",
            example=repr(discount_rate),
        )


def _columns(data: Any, names: Sequence[str], given: Sequence[Any]) -> list[Any]:
    """Take columns from a summary DataFrame when only it is passed."""
    if all(g is None for g in given) and hasattr(data, "columns"):
        missing = [n for n in names if n not in data.columns]
        if missing:
            raise KpiInputError(
                f"the summary has no column '{missing[0]}' (expected {', '.join(names)}, as "
                "kf.rfm_summary returns)",
                column=missing[0],
            )
        return [data[n] for n in names]
    if any(g is None for g in given):
        raise KpiInputError(
            f"pass {', '.join(names)} as arrays, or a summary DataFrame alone",
            column=names[1],
        )
    return [data, *given]


def _fitted(
    model: type[_FittedModel],
    names: list[str],
    fit: Any,
    x: np.ndarray,
    w: Any,
    penalizer_coef: float,
) -> Any:
    """A model result from the core's ``(params, std_errors, log_likelihood, iterations, rows)``
    (the core raises FitError rather than return an unconverged fit)."""
    params, ses, ll, iterations, _rows = fit
    return model(
        params=pd.Series(params, index=names, name="coef"),
        std_errors=pd.Series(ses, index=names, name="se"),
        log_likelihood=ll,
        converged=True,
        iterations=iterations,
        n_customers=float(len(x) if w is None else w.sum()),
        penalizer_coef=float(penalizer_coef),
        _values=list(params),
    )


def fit_bgnbd(
    frequency: Any,
    recency: Any = None,
    T: Any = None,
    *,
    weights: Any = None,
    penalizer_coef: float = 0.0,
) -> BetaGeoModel:
    """Fit the BG/NBD model by maximum likelihood.

    ``frequency`` (repeat purchases x), ``recency`` (t_x) and ``T`` per customer
    as arrays, or a summary DataFrame from :func:`rfm_summary` alone.
    ``weights`` counts identical customers (a compressed summary); identical
    rows are also merged internally, so large tables fit fast. The objective is
    lifetimes': the weighted mean negative log-likelihood plus
    ``penalizer_coef * sum(params**2)`` (time scaled so the largest T is 1, as
    lifetimes does), minimised over log-parameters by BFGS and Newton polishing
    with analytic gradients, summed in parallel in a fixed order
    (deterministic for any thread count).

    Raises :class:`kpiforge.FitError` when the optimiser does not converge, the
    Hessian is not positive definite, or no customer made a repeat purchase;
    ``KpiInputError`` for bad rows (non-integer frequency, recency > T, ...).

    Example:
        >>> import kpiforge as kf
        >>> summary = kf.rfm_summary(kf.demo.generate(n_orders=20_000).orders)
        >>> m = kf.fit_bgnbd(summary)
        >>> list(m.params.index), m.converged
        (['r', 'alpha', 'a', 'b'], True)
    """
    x, tx, t = _columns(frequency, ["frequency", "recency", "T"], [recency, T])
    x, tx, t = _float_array(x, "frequency"), _float_array(tx, "recency"), _float_array(t, "T")
    w = None if weights is None else _float_array(weights, "weights")
    fit = _core.clv_fit_bgnbd(x, tx, t, w, float(penalizer_coef))
    return _fitted(BetaGeoModel, ["r", "alpha", "a", "b"], fit, x, w, penalizer_coef)


def fit_gamma_gamma(
    frequency: Any,
    monetary_value: Any = None,
    *,
    weights: Any = None,
    penalizer_coef: float = 0.0,
) -> GammaGammaModel:
    """Fit the Gamma-Gamma spend model by maximum likelihood on repeat customers.

    Rows with ``frequency == 0`` are left out (they carry no repeat spend);
    the rest need ``monetary_value > 0`` (the mean repeat spend, as
    :func:`rfm_summary` computes it). Pass arrays, or a summary DataFrame
    alone. Same objective, optimiser and errors as :func:`fit_bgnbd`; a fit
    with ``q <= 1`` (infinite mean spend) raises :class:`kpiforge.FitError`.

    The model assumes spend per transaction is independent of purchase
    frequency: a :class:`kpiforge.ClvModelWarning` is issued when their
    correlation over the fitted customers exceeds 0.3.

    Example:
        >>> import kpiforge as kf
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> x = rng.integers(1, 10, 2_000)  # repeat purchases
        >>> nu = rng.gamma(4.0, 1 / 20.0, 2_000)  # q = 4, gamma = 20
        >>> m_bar = rng.gamma(6.0 * x, 1 / (nu * x))  # p = 6: mean of x spends
        >>> m = kf.fit_gamma_gamma(x, m_bar)
        >>> list(m.params.index), bool(m.params["q"] > 1)
        (['p', 'q', 'gamma'], True)
    """
    x, m = _columns(frequency, ["frequency", "monetary_value"], [monetary_value])
    x, m = _float_array(x, "frequency"), _float_array(m, "monetary_value")
    w = None if weights is None else _float_array(weights, "weights")
    if len(x) != len(m) or (w is not None and len(w) != len(x)):
        raise KpiInputError(
            "frequency, monetary_value (and weights) must have one value per customer",
            column="monetary_value",
        )
    keep = x != 0
    x, m = x[keep], m[keep]
    if w is not None:
        w = w[keep]
    if len(x) >= 3 and np.ptp(x) > 0 and np.ptp(m) > 0:
        cov = np.cov(x, m, aweights=w)  # weighted like the fit
        corr = float(cov[0, 1] / np.sqrt(cov[0, 0] * cov[1, 1]))
        if corr > CORRELATION_LIMIT:
            warnings.warn(
                f"frequency and monetary value correlate ({corr:.2f} > {CORRELATION_LIMIT}) among "
                "repeat customers: the Gamma-Gamma model assumes they are independent, so its "
                "spend predictions (and CLV) may be biased",
                ClvModelWarning,
                stacklevel=2,
            )
    fit = _core.clv_fit_gamma_gamma(
        np.ascontiguousarray(x), np.ascontiguousarray(m), w, float(penalizer_coef)
    )
    return _fitted(GammaGammaModel, ["p", "q", "gamma"], fit, x, w, penalizer_coef)


def clv(
    orders: Any,
    *,
    customer: str = "customer_id",
    date: str = "ordered_at",
    amount: str = "amount",
    margin: float | None = None,
    as_of: Any = None,
    horizon: int = 12,
    discount_rate: float = 0.01,
    freq: Freq = "D",
    by: str | Sequence[str] | None = None,
    level: Literal["customer", "segment"] = "customer",
    penalizer_coef: float = 0.0,
) -> pd.DataFrame:
    """Customer lifetime value: value to date and predicted value over ``horizon`` months.

    Builds the :func:`rfm_summary` (time unit ``freq``), fits BG/NBD
    (:func:`fit_bgnbd`) on all customers and Gamma-Gamma
    (:func:`fit_gamma_gamma`) on the repeat customers, and predicts per customer:

    * ``p_alive``: probability the customer is still active (1 without repeats);
    * ``expected_purchases``: expected purchases in the next ``horizon`` months;
    * ``expected_avg_value``: expected value per purchase (Gamma-Gamma);
    * ``clv``: monthly increments of expected purchases times expected value,
      discounted by ``(1 + discount_rate)**month`` (lifetimes' method; a month
      is 30 days, 4.345 weeks or 1 month).

    ``historical_value`` is the revenue to ``as_of``. ``margin`` (a rate in
    (0, 1]) turns revenue into margin: ``historical_value``,
    ``expected_avg_value`` and ``clv`` are multiplied by it (the spend model is
    scale-equivariant, so this equals fitting on margins).

    The spend model is fitted on the repeat customers with a positive
    ``monetary_value`` (repeat orders that total 0 cannot come from a Gamma
    distribution); every customer gets a prediction.

    ``level="customer"`` (default) returns one row per customer (segment
    columns of ``by=`` from their first order); ``level="segment"`` sums per
    segment (one row without ``by``): ``customers, historical_value,
    expected_alive`` (sum of ``p_alive``), ``expected_purchases, clv,
    clv_mean``. The fitted models are in ``df.attrs["bgnbd"]`` and
    ``df.attrs["gamma_gamma"]``.

    Raises ``KpiInputError`` for bad input and :class:`kpiforge.FitError` when a
    model cannot be fitted (e.g. no customer bought twice: try a longer history,
    or ``penalizer_coef=``).

    Example:
        >>> import kpiforge as kf
        >>> import warnings
        >>> orders = kf.demo.generate(n_orders=20_000).orders
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     df = kf.clv(orders, horizon=12)
        >>> [type(w.message).__name__ for w in caught]  # demo spend grows with frequency
        ['ClvModelWarning']
        >>> list(df.columns)[1:]  # doctest: +NORMALIZE_WHITESPACE
        ['frequency', 'recency', 'T', 'monetary_value', 'historical_value', 'p_alive',
         'expected_purchases', 'expected_avg_value', 'clv']
        >>> bool((df["clv"] >= 0).all())
        True
        >>> with warnings.catch_warnings(record=True):
        ...     warnings.simplefilter("always")
        ...     seg = kf.clv(orders, by="region", level="segment")
        >>> list(seg.columns)  # doctest: +NORMALIZE_WHITESPACE
        ['region', 'customers', 'historical_value', 'expected_alive', 'expected_purchases',
         'clv', 'clv_mean']
    """
    _check_horizon(horizon, discount_rate, freq)
    if level not in ("customer", "segment"):
        raise KpiInputError(
            f"level must be 'customer' or 'segment', got {level!r}",
            column="level",
            example=repr(level),
        )
    if margin is not None and not (
        isinstance(margin, (int, float)) and not isinstance(margin, bool) and 0 < margin <= 1
    ):
        raise KpiInputError(
            f"margin must be a rate in (0, 1] (e.g. 0.3 for 30%), got {margin!r}",
            column="margin",
            example=repr(margin),
        )
    by_cols = _by_list(by)
    summary = rfm_summary(
        orders, customer=customer, date=date, amount=amount, as_of=as_of, freq=freq, by=by
    )
    bg = fit_bgnbd(summary, penalizer_coef=penalizer_coef)
    # Repeat customers whose repeat purchases total 0 cannot come from a Gamma
    # spend distribution: they are left out of the spend fit (and predicted).
    gg = fit_gamma_gamma(summary[summary["monetary_value"] > 0], penalizer_coef=penalizer_coef)
    x, tx, t, m = (summary[c].to_numpy() for c in ("frequency", "recency", "T", "monetary_value"))
    rate = 1.0 if margin is None else float(margin)
    out = summary.drop(columns="revenue")
    out["historical_value"] = summary["revenue"] * rate
    out["p_alive"] = bg.p_alive(x, tx, t)
    out["expected_purchases"] = bg.expected_purchases(horizon * PERIODS_PER_MONTH[freq], x, tx, t)
    out["expected_avg_value"] = gg.expected_avg_value(x, m) * rate
    out["clv"] = (
        gg.clv(bg, x, tx, t, m, horizon=horizon, discount_rate=discount_rate, freq=freq) * rate
    )
    if level == "segment":
        out = _by_segment(out, by_cols)
    out.attrs["bgnbd"] = bg
    out.attrs["gamma_gamma"] = gg
    return out


def _by_segment(per_customer: pd.DataFrame, by_cols: list[str]) -> pd.DataFrame:
    sums = {
        "customers": ("p_alive", "size"),
        "historical_value": ("historical_value", "sum"),
        "expected_alive": ("p_alive", "sum"),
        "expected_purchases": ("expected_purchases", "sum"),
        "clv": ("clv", "sum"),
    }
    if by_cols:
        agg = per_customer.groupby(by_cols, dropna=False, sort=True).agg(**sums).reset_index()
    else:
        agg = pd.DataFrame({k: [per_customer[c].agg(f)] for k, (c, f) in sums.items()})
    agg["clv_mean"] = agg["clv"] / agg["customers"]
    return agg
