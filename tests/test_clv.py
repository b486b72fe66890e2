"""Customer lifetime value: RFM summary, BG/NBD, Gamma-Gamma, CLV.

Checked against the published CDNOW estimates, against the lifetimes package
where it is installed, against the closed forms computed here with scipy, and
against a pandas reference of the RFM summary (hypothesis).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kpiforge as kf

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def cdnow_summary() -> pd.DataFrame:
    return pd.read_csv(DATA / "cdnow_customers_summary.csv")


@pytest.fixture(scope="module")
def cdnow_monetary() -> pd.DataFrame:
    df = pd.read_csv(DATA / "cdnow_customers_summary_with_transactions.csv")
    return df.rename(columns={"x": "frequency", "t_x": "recency", "zbar": "monetary_value"})


@pytest.fixture(scope="module")
def cdnow_transactions() -> pd.DataFrame:
    df = pd.read_csv(
        DATA / "CDNOW_sample.txt",
        sep=r"\s+",
        header=None,
        names=["customer_id", "customer_index", "date", "quantity", "amount"],
    )
    df["date"] = pd.to_datetime(df["date"].astype(str), format="%Y%m%d")
    return df


@pytest.fixture(scope="module")
def bgnbd(cdnow_summary: pd.DataFrame) -> kf.BetaGeoModel:
    return kf.fit_bgnbd(cdnow_summary)


@pytest.fixture(scope="module")
def gamma_gamma(cdnow_monetary: pd.DataFrame) -> kf.GammaGammaModel:
    return kf.fit_gamma_gamma(cdnow_monetary)


# --------------------------------------------------------------------------- fits


def test_bgnbd_reproduces_fader_hardie_lee(bgnbd: kf.BetaGeoModel) -> None:
    # FHL 2005, CDNOW 2,357 customers, 39-week calibration period.
    assert bgnbd.params.round(3).tolist() == [0.243, 4.414, 0.793, 2.426]
    assert bgnbd.log_likelihood == pytest.approx(-9582.4, abs=0.05)
    assert bgnbd.converged and bgnbd.iterations > 0 and bgnbd.n_customers == 2357
    assert list(bgnbd.summary.columns) == ["coef", "se", "ci_low", "ci_high"]
    assert (bgnbd.std_errors > 0).all()


def test_gamma_gamma_reproduces_fader_hardie(gamma_gamma: kf.GammaGammaModel) -> None:
    # Fader & Hardie's note (and lifetimes' docs): p = 6.25, q = 3.74, gamma = 15.44 on
    # the 946 repeat customers; to 3 significant digits.
    assert gamma_gamma.n_customers == 946
    p, q, g = gamma_gamma.params
    assert (round(p, 2), round(q, 2), round(g, 1)) == (6.25, 3.74, 15.4)


def test_weights_equal_expanded_rows(cdnow_summary: pd.DataFrame) -> None:
    compressed = (
        cdnow_summary.groupby(["frequency", "recency", "T"]).size().rename("n").reset_index()
    )
    assert len(compressed) < len(cdnow_summary)
    m = kf.fit_bgnbd(
        compressed["frequency"], compressed["recency"], compressed["T"], weights=compressed["n"]
    )
    full = kf.fit_bgnbd(cdnow_summary)
    np.testing.assert_allclose(m.params, full.params, rtol=1e-10)
    np.testing.assert_allclose(m.std_errors, full.std_errors, rtol=1e-6)
    assert m.n_customers == 2357


def test_penalizer_shrinks_parameters(cdnow_summary: pd.DataFrame, bgnbd: kf.BetaGeoModel) -> None:
    pen = kf.fit_bgnbd(cdnow_summary, penalizer_coef=0.1)
    assert pen.penalizer_coef == 0.1
    assert (pen.params**2).sum() < (bgnbd.params**2).sum()
    assert pen.log_likelihood < bgnbd.log_likelihood  # the MLE is the unpenalised optimum


# ------------------------------------------------------------------- vs lifetimes


def _lifetimes_models(bg: kf.BetaGeoModel, gg: kf.GammaGammaModel | None = None):  # noqa: ANN202
    lifetimes = pytest.importorskip("lifetimes")
    bgf = lifetimes.BetaGeoFitter()
    bgf.params_ = pd.Series(bg.params.to_numpy(), index=["r", "alpha", "a", "b"])
    bgf.predict = bgf.conditional_expected_number_of_purchases_up_to_time
    ggf = None
    if gg is not None:
        ggf = lifetimes.GammaGammaFitter()
        ggf.params_ = pd.Series(gg.params.to_numpy(), index=["p", "q", "v"])
    return bgf, ggf


def test_fits_match_lifetimes(
    cdnow_summary: pd.DataFrame,
    cdnow_monetary: pd.DataFrame,
    bgnbd: kf.BetaGeoModel,
    gamma_gamma: kf.GammaGammaModel,
) -> None:
    lifetimes = pytest.importorskip("lifetimes")
    bgf = lifetimes.BetaGeoFitter().fit(
        cdnow_summary["frequency"], cdnow_summary["recency"], cdnow_summary["T"]
    )
    np.testing.assert_allclose(bgnbd.params, bgf.params_, rtol=1e-5)
    np.testing.assert_allclose(bgnbd.std_errors, bgf.standard_errors_, rtol=1e-3)
    repeat = cdnow_monetary[cdnow_monetary["frequency"] > 0]
    ggf = lifetimes.GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
    np.testing.assert_allclose(gamma_gamma.params, ggf.params_, rtol=1e-4)
    np.testing.assert_allclose(gamma_gamma.std_errors, ggf.standard_errors_, rtol=1e-3)
    # A penalised fit optimises the same objective as lifetimes'.
    pen = kf.fit_bgnbd(cdnow_summary, penalizer_coef=0.05)
    bgf_pen = lifetimes.BetaGeoFitter(penalizer_coef=0.05).fit(
        cdnow_summary["frequency"], cdnow_summary["recency"], cdnow_summary["T"]
    )
    np.testing.assert_allclose(pen.params, bgf_pen.params_, rtol=1e-4)
    gg_pen = kf.fit_gamma_gamma(repeat, penalizer_coef=1e-4)
    ggf_pen = lifetimes.GammaGammaFitter(penalizer_coef=1e-4).fit(
        repeat["frequency"], repeat["monetary_value"]
    )
    np.testing.assert_allclose(gg_pen.params, ggf_pen.params_, rtol=1e-4)


def test_gamma_gamma_weights_equal_expanded_rows(cdnow_monetary: pd.DataFrame) -> None:
    repeat = cdnow_monetary[cdnow_monetary["frequency"] > 0].head(300)
    doubled = pd.concat([repeat, repeat, repeat.head(100)])
    weights = np.r_[np.full(100, 3.0), np.full(200, 2.0)]
    a = kf.fit_gamma_gamma(repeat["frequency"], repeat["monetary_value"], weights=weights)
    b = kf.fit_gamma_gamma(doubled)
    np.testing.assert_allclose(a.params, b.params, rtol=1e-9)
    assert a.n_customers == b.n_customers == 700


def test_predictions_match_lifetimes(
    cdnow_monetary: pd.DataFrame, bgnbd: kf.BetaGeoModel, gamma_gamma: kf.GammaGammaModel
) -> None:
    bgf, ggf = _lifetimes_models(bgnbd, gamma_gamma)
    d = cdnow_monetary[cdnow_monetary["recency"] <= cdnow_monetary["T"]]
    x, tx, t, m = d["frequency"], d["recency"], d["T"], d["monetary_value"]
    np.testing.assert_allclose(
        bgnbd.p_alive(x, tx, t), bgf.conditional_probability_alive(x, tx, t), rtol=1e-12
    )
    for horizon in (1.0, 10.0, 39.0, 52.0, 200.0):
        np.testing.assert_allclose(
            bgnbd.expected_purchases(horizon, x, tx, t),
            bgf.conditional_expected_number_of_purchases_up_to_time(horizon, x, tx, t),
            rtol=1e-9,
        )
    # Heavy buyers: the plain 2F1 series overflows there; lifetimes switches to
    # the Euler transform, kpiforge always sums it.
    hx, htx, ht = np.array([300.0, 2000.0]), np.array([38.0, 38.0]), np.array([39.0, 38.5])
    np.testing.assert_allclose(
        bgnbd.expected_purchases(52.0, hx, htx, ht),
        bgf.conditional_expected_number_of_purchases_up_to_time(52.0, hx, htx, ht),
        rtol=1e-9,
    )
    np.testing.assert_allclose(
        gamma_gamma.expected_avg_value(x, m),
        ggf.conditional_expected_average_profit(x, m),
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        gamma_gamma.clv(bgnbd, x, tx, t, m, horizon=12, discount_rate=0.01, freq="W"),
        ggf.customer_lifetime_value(bgf, x, tx, t, m, time=12, discount_rate=0.01, freq="W"),
        rtol=1e-9,
    )


def test_rfm_summary_matches_lifetimes(cdnow_transactions: pd.DataFrame) -> None:
    lifetimes = pytest.importorskip("lifetimes")
    for freq, as_of in [("D", None), ("D", "1997-09-30"), ("W", None), ("W", "1997-06-04")]:
        ours = kf.rfm_summary(cdnow_transactions, date="date", freq=freq, as_of=as_of).set_index(
            "customer_id"
        )
        theirs = lifetimes.utils.summary_data_from_transaction_data(
            cdnow_transactions,
            "customer_id",
            "date",
            monetary_value_col="amount",
            observation_period_end=as_of,
            freq=freq,
        ).sort_index()
        assert list(ours.index) == list(theirs.index)
        for col in ["frequency", "recency", "T", "monetary_value"]:
            np.testing.assert_allclose(ours[col], theirs[col], rtol=1e-12, err_msg=f"{freq} {col}")


# --------------------------------------------------------------- closed forms


def test_closed_forms_by_hand(bgnbd: kf.BetaGeoModel, gamma_gamma: kf.GammaGammaModel) -> None:
    from scipy.special import hyp2f1

    r, alpha, a, b = bgnbd.params
    customers = [(0.0, 0.0, 38.86), (2.0, 30.43, 38.86), (7.0, 37.0, 38.0)]
    for x, tx, t in customers:
        if x == 0:
            expected_alive = 1.0
        else:
            odds = a / (b + x - 1) * ((alpha + t) / (alpha + tx)) ** (r + x)
            expected_alive = 1 / (1 + odds)
        assert bgnbd.p_alive([x], [tx], [t])[0] == pytest.approx(expected_alive, rel=1e-14)
        h = 26.0
        z = h / (alpha + t + h)
        hyp = hyp2f1(r + x, b + x, a + b + x - 1, z)
        second = 1 - ((alpha + t) / (alpha + t + h)) ** (r + x) * hyp
        denom = 1 + (x > 0) * a / (b + x - 1) * ((alpha + t) / (alpha + tx)) ** (r + x)
        expected = (a + b + x - 1) / (a - 1) * second / denom
        got = bgnbd.expected_purchases(h, [x], [tx], [t])[0]
        assert got == pytest.approx(expected, rel=1e-11)
    assert bgnbd.p_alive([0], [0], [10])[0] == 1.0
    assert bgnbd.expected_purchases(0.0, [3], [5], [9])[0] == 0.0
    p, q, g = gamma_gamma.params
    w = p * 3 / (p * 3 + q - 1)
    assert gamma_gamma.expected_avg_value([3], [40.0])[0] == pytest.approx(
        (1 - w) * g * p / (q - 1) + w * 40.0, rel=1e-14
    )
    assert gamma_gamma.expected_avg_value([0], [0.0])[0] == pytest.approx(g * p / (q - 1))


def test_clv_of_one_customer_by_hand(
    bgnbd: kf.BetaGeoModel, gamma_gamma: kf.GammaGammaModel
) -> None:
    x, tx, t, m = 4.0, 30.0, 38.0, 25.0
    value = gamma_gamma.expected_avg_value([x], [m])[0]
    months = np.arange(1, 7)
    cumulative = [bgnbd.expected_purchases(4.345 * i, [x], [tx], [t])[0] for i in months]
    increments = np.diff([0.0, *cumulative])
    expected = float((value * increments / 1.02**months).sum())
    got = gamma_gamma.clv(bgnbd, [x], [tx], [t], [m], horizon=6, discount_rate=0.02, freq="W")[0]
    assert got == pytest.approx(expected, rel=1e-12)


# ------------------------------------------------------------------- kf.clv


@pytest.fixture(scope="module")
def cdnow_orders(cdnow_transactions: pd.DataFrame) -> pd.DataFrame:
    orders = cdnow_transactions.rename(columns={"date": "ordered_at"})
    orders["region"] = np.where(orders["customer_id"] % 3 == 0, "north", "south")
    return orders


def test_clv_per_customer_is_the_models(cdnow_orders: pd.DataFrame) -> None:
    df = kf.clv(cdnow_orders, freq="W", as_of="1997-09-30", horizon=6, discount_rate=0.02)
    summary = kf.rfm_summary(cdnow_orders, freq="W", as_of="1997-09-30")
    pd.testing.assert_frame_equal(
        df[["customer_id", "frequency", "recency", "T", "monetary_value"]],
        summary.drop(columns="revenue"),
    )
    np.testing.assert_allclose(df["historical_value"], summary["revenue"])
    bg, gg = df.attrs["bgnbd"], df.attrs["gamma_gamma"]
    x, tx, t, m = (summary[c] for c in ("frequency", "recency", "T", "monetary_value"))
    np.testing.assert_array_equal(df["p_alive"], bg.p_alive(x, tx, t))
    np.testing.assert_array_equal(
        df["expected_purchases"], bg.expected_purchases(6 * 4.345, x, tx, t)
    )
    np.testing.assert_array_equal(df["expected_avg_value"], gg.expected_avg_value(x, m))
    np.testing.assert_array_equal(
        df["clv"], gg.clv(bg, x, tx, t, m, horizon=6, discount_rate=0.02, freq="W")
    )
    assert (df["clv"] >= 0).all() and ((df["p_alive"] > 0) & (df["p_alive"] <= 1)).all()
    # Orders after as_of's week are in neither the history nor the fit.
    late = cdnow_orders[cdnow_orders["ordered_at"] > "1997-10-05"]
    assert len(late) > 0 and summary.attrs["dropped_after_as_of"] == len(late)
    assert df["historical_value"].sum() == pytest.approx(
        cdnow_orders[cdnow_orders["ordered_at"] <= "1997-10-05"]["amount"].sum()
    )


def test_clv_margin_and_segments(cdnow_orders: pd.DataFrame) -> None:
    full = kf.clv(cdnow_orders, by="region")
    half = kf.clv(cdnow_orders, by="region", margin=0.5)
    for col in ("historical_value", "expected_avg_value", "clv"):
        np.testing.assert_allclose(half[col], 0.5 * full[col], rtol=1e-12)
    np.testing.assert_array_equal(half["p_alive"], full["p_alive"])
    seg = kf.clv(cdnow_orders, by="region", level="segment")
    assert seg["region"].tolist() == ["north", "south"]
    for _, row in seg.iterrows():
        part = full[full["region"] == row["region"]]
        assert row["customers"] == len(part)
        assert row["clv"] == pytest.approx(part["clv"].sum())
        assert row["expected_alive"] == pytest.approx(part["p_alive"].sum())
        assert row["clv_mean"] == pytest.approx(part["clv"].mean())
    total = kf.clv(cdnow_orders, level="segment")
    assert len(total) == 1 and total["customers"].iloc[0] == len(full)
    assert total["clv"].iloc[0] == pytest.approx(full["clv"].sum())


def test_segment_is_taken_from_the_first_order() -> None:
    orders = pd.DataFrame(
        {
            "customer_id": [1, 1, 2, 2, 1],
            "ordered_at": pd.to_datetime(
                ["2025-03-01", "2025-01-01", "2025-02-01", "2025-02-01", "2025-01-01"]
            ),
            "amount": [1.0, 2.0, 3.0, 4.0, 5.0],
            "region": ["late", "first", "a", "b", "same-day"],
        }
    )
    s = kf.rfm_summary(orders, by="region")
    # Customer 1: earliest date 2025-01-01 in rows 1 and 4: row order breaks the tie.
    assert s["region"].tolist() == ["first", "a"]
    assert s["frequency"].tolist() == [1.0, 0.0]
    assert s["monetary_value"].tolist() == [1.0, 0.0]  # the first day's 2 + 5 excluded
    assert s["revenue"].tolist() == [8.0, 7.0]


def test_rfm_accepts_arrow_polars_and_int_or_string_ids(cdnow_transactions: pd.DataFrame) -> None:
    pl = pytest.importorskip("polars")
    base = kf.rfm_summary(cdnow_transactions, date="date")
    as_str = cdnow_transactions.assign(customer_id=cdnow_transactions["customer_id"].astype(str))
    for data in (pa.Table.from_pandas(cdnow_transactions), pl.from_pandas(as_str)):
        other = kf.rfm_summary(data, date="date")
        other["customer_id"] = other["customer_id"].astype(int)
        other = other.sort_values("customer_id").reset_index(drop=True)
        pd.testing.assert_frame_equal(other, base)
    dates = cdnow_transactions.assign(date=cdnow_transactions["date"].dt.date)
    pd.testing.assert_frame_equal(kf.rfm_summary(dates, date="date"), base)


# ------------------------------------------------------------ hypothesis


def _reference_rfm(df: pd.DataFrame, as_of: pd.Timestamp | None, freq: str) -> pd.DataFrame:
    periods = df["ordered_at"].dt.to_period(freq)
    end = (as_of if as_of is not None else df["ordered_at"].max()).to_period(freq)
    df = df.assign(p=periods)[periods <= end]
    per = (
        df.groupby(["customer_id", "p"])["amount"]
        .sum()
        .reset_index()
        .sort_values(["customer_id", "p"])
    )
    rows = []
    for cust, g in per.groupby("customer_id"):
        first, last = g["p"].iloc[0], g["p"].iloc[-1]
        repeats = g["amount"].iloc[1:]
        rows.append(
            {
                "customer_id": cust,
                "frequency": float(len(g) - 1),
                "recency": float((last - first).n),
                "T": float((end - first).n),
                "monetary_value": float(repeats.mean()) if len(repeats) else 0.0,
                "revenue": float(g["amount"].sum()),
            }
        )
    return pd.DataFrame(rows)


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c", "d", "e"]),
            st.integers(0, 400),
            st.floats(0, 1000, allow_nan=False).map(lambda v: round(v, 2)),
        ),
        min_size=1,
        max_size=60,
    ),
    as_of_day=st.one_of(st.none(), st.integers(0, 450)),
    freq=st.sampled_from(["D", "W", "M"]),
)
def test_rfm_summary_matches_pandas_reference(
    rows: list[tuple[str, int, float]], as_of_day: int | None, freq: str
) -> None:
    start = pd.Timestamp("2023-12-30")
    df = pd.DataFrame(rows, columns=["customer_id", "day", "amount"])
    df["ordered_at"] = start + pd.to_timedelta(df["day"], unit="D") + pd.Timedelta(hours=13)
    as_of = None if as_of_day is None else start + pd.Timedelta(days=as_of_day)
    expected = _reference_rfm(df, as_of, freq)
    if expected.empty:
        with pytest.raises(kf.KpiInputError, match="as_of"):
            kf.rfm_summary(df, as_of=as_of, freq=freq)
        return
    got = kf.rfm_summary(df, as_of=as_of, freq=freq)
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-12)
    # Row order of the input never matters.
    shuffled = kf.rfm_summary(df.iloc[::-1], as_of=as_of, freq=freq)
    pd.testing.assert_frame_equal(shuffled, got, check_exact=False, rtol=1e-12)


# ------------------------------------------------------------------ bad input


def _orders(**cols: list) -> pd.DataFrame:  # type: ignore[type-arg]
    base = {
        "customer_id": ["a", "a", "b"],
        "ordered_at": pd.to_datetime(["2025-01-01", "2025-02-01", "2025-01-15"]),
        "amount": [10.0, 20.0, 5.0],
    }
    base.update(cols)
    return pd.DataFrame(base)


def test_bad_orders_raise_input_errors() -> None:
    with pytest.raises(kf.KpiInputError, match="negative") as e:
        kf.rfm_summary(_orders(amount=[10.0, -2.0, 5.0]))
    assert (e.value.column, e.value.count, e.value.example) == ("amount", 1, "-2")
    with pytest.raises(kf.KpiInputError, match="missing amount") as e:
        kf.rfm_summary(_orders(amount=[10.0, None, 5.0]))
    assert e.value.count == 1
    with pytest.raises(kf.KpiInputError, match="customer id") as e:
        kf.rfm_summary(_orders(customer_id=["a", None, "b"]))
    assert e.value.column == "customer_id"
    with pytest.raises(kf.KpiInputError, match="no date") as e:
        kf.rfm_summary(_orders(ordered_at=pd.to_datetime(["2025-01-01", None, "2025-01-15"])))
    with pytest.raises(kf.KpiInputError, match="Did you mean 'amount'"):
        kf.rfm_summary(_orders(), amount="amont")
    with pytest.raises(kf.KpiInputError, match="no orders on or before as_of"):
        kf.rfm_summary(_orders(), as_of="2024-06-01")
    with pytest.raises(kf.KpiInputError, match="freq"):
        kf.rfm_summary(_orders(), freq="Q")  # type: ignore[arg-type]
    with pytest.raises(kf.KpiInputError, match="by="):
        kf.rfm_summary(_orders(), by="region")
    with pytest.raises(kf.KpiInputError, match="date or timestamp"):
        kf.rfm_summary(_orders(ordered_at=["2025-01-01", "2025-02-01", "2025-01-15"]))
    with pytest.raises(kf.KpiInputError, match="no orders"):
        kf.rfm_summary(_orders().iloc[:0])


def test_bad_model_inputs() -> None:
    with pytest.raises(kf.KpiInputError, match="exceed T") as e:
        kf.fit_bgnbd([1, 2], [5.0, 12.0], [10.0, 10.0])
    assert (e.value.column, e.value.count) == ("recency", 1)
    with pytest.raises(kf.KpiInputError, match="whole numbers") as e:
        kf.fit_bgnbd([1.5, 2], [5.0, 6.0], [10.0, 10.0])
    assert e.value.column == "frequency"
    with pytest.raises(kf.KpiInputError, match="frequency 0"):
        kf.fit_bgnbd([0, 2], [5.0, 6.0], [10.0, 10.0])
    with pytest.raises(kf.KpiInputError, match="values"):
        kf.fit_bgnbd([0, 2], [0.0, 6.0], [10.0])
    with pytest.raises(kf.KpiInputError, match="penalizer_coef"):
        kf.fit_bgnbd([0, 2], [0.0, 6.0], [10.0, 10.0], penalizer_coef=-1)
    with pytest.raises(kf.KpiInputError, match="positive"):
        kf.fit_gamma_gamma([1, 2], [0.0, 3.0])
    with pytest.raises(kf.KpiInputError, match="summary has no column"):
        kf.fit_bgnbd(pd.DataFrame({"frequency": [1]}))


def test_free_repeat_orders_are_left_out_of_the_spend_fit(cdnow_orders: pd.DataFrame) -> None:
    orders = cdnow_orders.copy()
    first = orders.groupby("customer_id")["ordered_at"].transform("min")
    free = orders["customer_id"] == 4  # four orders on four days
    orders.loc[free & (orders["ordered_at"] > first), "amount"] = 0.0
    df = kf.clv(orders)
    row = df[df["customer_id"] == 4].iloc[0]
    assert row["frequency"] == 3 and row["monetary_value"] == 0
    assert df.attrs["gamma_gamma"].n_customers == (df["monetary_value"] > 0).sum()
    assert 0 < row["expected_avg_value"] < df["expected_avg_value"].max()


def test_single_purchase_customers_cannot_be_fitted() -> None:
    orders = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d"],
            "ordered_at": pd.to_datetime(["2025-01-01", "2025-01-05", "2025-02-01", "2025-03-01"]),
            "amount": [10.0, 20.0, 5.0, 7.0],
        }
    )
    with pytest.raises(kf.FitError, match="repeat purchase"):
        kf.clv(orders)
    with pytest.raises(kf.FitError, match="repeat purchase"):
        kf.fit_gamma_gamma([0, 0], [0.0, 0.0])
    assert issubclass(kf.FitError, kf.KpiforgeError)


def test_clv_parameters_are_checked(cdnow_orders: pd.DataFrame) -> None:
    for kwargs, column in [
        ({"horizon": 0}, "horizon"),
        ({"horizon": 1.5}, "horizon"),
        ({"discount_rate": -1.0}, "discount_rate"),
        ({"margin": 1.5}, "margin"),
        ({"margin": 0}, "margin"),
        ({"level": "region"}, "level"),
        ({"freq": "H"}, "freq"),
    ]:
        with pytest.raises(kf.KpiInputError) as e:
            kf.clv(cdnow_orders, **kwargs)
        assert e.value.column == column


def test_correlated_spend_warns() -> None:
    rng = np.random.default_rng(1)
    x = rng.integers(1, 20, 500).astype(float)
    # Spend per transaction grows with frequency (the rate falls with x).
    m = rng.gamma(6.0 * x, 1 / (rng.gamma(4.0, 1 / 20.0, 500) / x * x))
    with pytest.warns(kf.ClvModelWarning, match="correlate"):
        kf.fit_gamma_gamma(x, m)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nu = rng.gamma(4.0, 1 / 20.0, 500)
        kf.fit_gamma_gamma(x, rng.gamma(6.0 * x, 1 / (nu * x)))


def test_fit_failure_is_explained() -> None:
    # Everyone buys at the same steady pace and no one drops out: a -> 0, the
    # drop-out parameters are not identified.
    x = np.full(200, 5.0)
    with pytest.raises(kf.FitError, match="penalizer_coef") as e:
        kf.fit_bgnbd(x, np.full(200, 10.0), np.full(200, 10.0))
    assert "BG/NBD" in str(e.value)


def test_heavy_tailed_spend_is_rejected() -> None:
    # Spend rates nu ~ Gamma(q = 0.6): the mean spend gamma*p/(q-1) does not exist.
    rng = np.random.default_rng(3)
    x = rng.integers(1, 10, 3000).astype(float)
    m = rng.gamma(6.0 * x, 1 / (rng.gamma(0.6, 1 / 20.0, 3000) * x))
    with pytest.raises(kf.FitError, match="q = 0.5"):
        kf.fit_gamma_gamma(x, m)
