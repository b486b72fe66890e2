"""Commercial KPIs by hand: cart abandonment, lead conversion, engagement,
interaction frequency (censoring, bad input, parameters)."""

from __future__ import annotations

import pandas as pd
import pytest

import kpiforge as kf


def carts() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "channel": ["web", "web", "app", "app", "web"],
            "created_at": pd.to_datetime(
                [
                    "2025-03-01 10:00",
                    "2025-03-01 11:00",
                    "2025-03-02 09:00",
                    "2025-03-30 20:00",
                    "2025-03-31 08:00",
                ]
            ),
            "checked_out_at": pd.to_datetime(
                ["2025-03-02 09:59", "2025-03-03 12:00", None, "2025-03-30 21:00", None]
            ),
        }
    )


def test_cart_abandonment_censors_young_carts() -> None:
    out = kf.cart_abandonment(carts(), as_of="2025-03-31")
    r = out.iloc[0]
    # The 03-30 20:00 cart's window ends 03-31 20:00 (as_of day): decided; the
    # 03-31 cart's ends 04-01: pending, although the other was checked out early.
    assert (r["n"], r["pending"], r["eligible"]) == (5, 1, 4)
    # Checked out within 24 h: the first and the 03-30 cart; the second came back after 49 h.
    assert (r["checked_out"], r["abandoned"], r["recovered"]) == (2, 2, 1)
    assert r["abandonment_pct"] == 50.0
    assert 0 <= r["abandonment_pct_ci_low"] < 50 < r["abandonment_pct_ci_high"] <= 100
    longer = kf.cart_abandonment(carts(), as_of="2025-04-05", window_hours=72).iloc[0]
    assert (longer["pending"], longer["abandoned"], longer["recovered"]) == (0, 2, 0)


def test_checkout_before_creation_is_bad_input() -> None:
    df = carts()
    df.loc[1, "checked_out_at"] = pd.Timestamp("2025-02-01")
    with pytest.raises(kf.KpiInputError, match="negative duration") as err:
        kf.cart_abandonment(df)
    assert err.value.column == "checked_out_at" and err.value.count == 1
    assert "2025-02-01" in str(err.value.example)
    out = kf.cart_abandonment(df, on_invalid="drop", as_of="2025-03-31")
    assert (out["invalid"].iloc[0], out["n"].iloc[0]) == (1, 4)
    with pytest.raises(ValueError, match="window_hours"):
        kf.cart_abandonment(carts(), window_hours=-1)


def leads() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "created_at": pd.to_datetime(
                ["2025-01-01", "2025-01-10", "2025-01-20", "2025-02-01", "2025-03-25"]
            ),
            "converted_at": pd.to_datetime(
                [
                    "2025-01-03 00:00",
                    "2025-02-14 12:00",
                    None,
                    "2025-04-15 00:00",
                    "2025-03-27 00:00",
                ]
            ),
        }
    )


def test_lead_conversion_cohorts_and_lead_time() -> None:
    out = kf.lead_conversion(leads(), period="month", as_of="2025-03-31")
    jan, feb, mar = (out.iloc[i] for i in range(3))
    assert (jan["n"], jan["converted"]) == (3, 2)
    assert jan["conversion_pct"] == pytest.approx(200 / 3)
    # Lead times 2 and 35.5 days: median (numpy-linear) 18.75.
    assert jan["lead_time_days_p50"] == pytest.approx(18.75)
    # Converted after as_of: not (yet) converted.
    assert (feb["n"], feb["converted"]) == (1, 0) and pd.isna(feb["lead_time_days_p50"])
    assert mar["converted"] == 1
    windowed = kf.lead_conversion(leads(), period="month", as_of="2025-03-31", window_days=30)
    jan, mar = windowed.iloc[0], windowed.iloc[2]
    assert (jan["eligible"], jan["converted"]) == (3, 1)  # 35.5 days is past the window
    assert (mar["pending"], mar["eligible"]) == (1, 0) and pd.isna(mar["conversion_pct"])


def test_leads_created_after_as_of_are_pending_with_or_without_a_window() -> None:
    # The February and March cohorts lie after as_of: not counted as unconverted.
    for window in (None, 30):
        out = kf.lead_conversion(
            leads(), period="month", as_of="2025-01-31", window_days=window
        ).set_index("period")
        assert out.loc["2025-02", ["n", "pending", "eligible"]].tolist() == [1, 1, 0]
        assert out.loc["2025-03", ["pending", "eligible", "converted"]].tolist() == [1, 0, 0]
        assert pd.isna(out.loc["2025-03", "conversion_pct"])


def test_conversion_before_creation_is_bad_input() -> None:
    df = leads()
    df.loc[0, "converted_at"] = pd.Timestamp("2024-12-01")
    with pytest.raises(kf.KpiInputError) as err:
        kf.lead_conversion(df)
    assert err.value.column == "converted_at" and err.value.count == 1


def events() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "region": ["N", "N", "N", "N", "S"],
            "customer_id": ["a", "a", "b", "a", "c"],
            "occurred_at": pd.to_datetime(
                [
                    "2025-01-02 08:00",
                    "2025-01-02 17:00",
                    "2025-01-20 00:00",
                    "2025-03-03 00:00",
                    "2025-01-05 00:00",
                ]
            ),
            "event_type": ["portal_login", "catalog_download", "webinar", None, "portal_login"],
        }
    )


def test_engagement_by_hand() -> None:
    out = kf.engagement(events(), by="region", period="month", as_of="2025-03-31")
    n = out[out["region"] == "N"].set_index("period")
    # Every month from the region's first event to as_of, active or not.
    assert list(n.index) == ["2025-01", "2025-02", "2025-03"]
    jan = n.loc["2025-01"]
    assert (jan["n"], jan["events_portal_login"], jan["events_other"]) == (3, 1, 1)
    assert (jan["active_accounts"], jan["accounts"], jan["active_days"]) == (2, 2, 2)
    assert (n.loc["2025-02", "active_accounts"], n.loc["2025-02", "accounts"]) == (0, 2)
    assert n.loc["2025-02", "active_pct"] == 0.0
    mar = n.loc["2025-03"]
    assert (mar["n"], mar["missing"], mar["active_accounts"], mar["active_pct"]) == (0, 1, 1, 50.0)
    # Wilson interval of 1 active account in 2 (z = 1.96), in percent.
    assert mar["active_pct_ci_low"] == pytest.approx(9.4531, abs=1e-3)
    assert mar["active_pct_ci_high"] == pytest.approx(90.5469, abs=1e-3)
    custom = kf.engagement(events(), event_types=["webinar"])
    assert custom["events_webinar"].iloc[0] == 1 and custom["events_other"].iloc[0] == 3
    with pytest.raises(ValueError, match="twice"):
        kf.engagement(events(), event_types=["a", "a"])


def test_engagement_null_account_is_bad_input() -> None:
    df = events()
    df.loc[2, "customer_id"] = None
    with pytest.raises(kf.KpiInputError) as err:
        kf.engagement(df)
    assert err.value.column == "customer_id" and err.value.count == 1


def test_interaction_frequency_by_hand() -> None:
    df = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "b"],
            "occurred_at": pd.to_datetime(["2025-01-02", "2025-01-03", "2025-02-01", "2025-01-09"]),
            "interaction_type": ["call", "meeting", "call", "email"],
        }
    )
    out = kf.interaction_frequency(df, period="month").set_index("period")
    jan = out.loc["2025-01"]
    assert (jan["n"], jan["active_customers"], jan["contacts_per_customer"]) == (3, 2, 1.5)
    assert (jan["call_per_customer"], jan["meeting_per_customer"]) == (0.5, 0.5)
    assert out.loc["2025-02", "contacts_call"] == 1
    feb = out.loc["2025-02"]
    assert (feb["contacts_email"], feb["contacts_other"], feb["missing"]) == (0, 0, 0)
    assert (feb["call_per_customer"], feb["email_per_customer"]) == (1.0, 0.0)
    assert jan["email_per_customer"] == 0.5


def test_demo_runs(demo: kf.demo.DemoData) -> None:
    c = kf.cart_abandonment(demo.carts, by="channel", period="quarter")
    assert c["abandonment_pct"].between(0, 100).all()
    lc = kf.lead_conversion(demo.leads, by="source", period="quarter")
    assert (lc["converted"] <= lc["n"]).all()
    e = kf.engagement(demo.events, by="region", period="month")
    assert (e["active_accounts"] <= e["accounts"]).all()
    i = kf.interaction_frequency(demo.interactions, by="rep_id", period="quarter")
    assert (i["contacts_per_customer"] >= 1).all()
