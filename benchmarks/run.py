"""The KPI suite per segment per quarter: kpiforge against polars, DuckDB and pandas.

    python benchmarks/run.py --orders 10_000_000 --responses 10_000_000 --tickets 2_000_000

Generates the demo tables once (``kf.demo.generate``) and caches them as Parquet
under ``--cache`` (keyed by sizes and seed), then runs every engine in its own
subprocess (``run.py --worker ENGINE ...``), so that each one's peak RSS is its
own. A worker reads the Parquet into its engine's memory (timed apart, as
"read"), runs the suite ``--repeat`` times and keeps the best time, and writes
its KPI values for the parent, which checks that every engine agrees with the
first one (kpiforge) on every number before it prints the table.

The suite, per ``--by`` segment (default ``rep_id``) per calendar quarter, with
one explicit ``as_of`` (the latest day in the data) in every engine:

- responses: NPS (n, promoters, detractors, nps), CSAT and CES (n, mean,
  top-two-box share: scores >= 4 of 1-5);
- orders: OTIF (orders, due, pending, undelivered; on-time, in-full and OTIF
  shares of the due orders: due = promised_date <= as_of, a due order not
  delivered by as_of is late and not in full), order accuracy (share of
  ``accurate``), self-service adoption (share of orders through portal, app,
  web or edi), revenue and average ticket; repeat purchase rate (a customer's
  first order day in the cell is the anchor; a repeat is an order on a later
  day within 90 days; customers with anchor + 90 days > as_of are censored
  and leave numerator and denominator);
- tickets: resolution time p50 / p90 / mean hours over the resolved tickets
  (numpy's linear percentiles), the SLA share (priority high 24 h, standard
  72 h; only tickets whose deadline is before the end of the as_of day count;
  a hit is a resolution at or before the deadline), first-contact resolution
  (an unresolved ticket is not first-contact resolved).

``--segments N`` adds a synthetic int64 column ``segment`` to every table when
the data is generated (cached apart for each N): row i of a table is in segment
(i * 2654435761) mod N, exactly min(N, rows) distinct segments of rows / N rows
each, spread over the table; the suite then groups by it (``--by segment``).

These are the definitions of docs/kpis.md. kpiforge also returns confidence
intervals (and a few more counts) that the peers do not compute; that work is
in its time. Counts must agree exactly; every other value to 1e-9 relative.
Speed is never asserted: the script reports, and fails only when an engine
fails or disagrees.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ENGINES = ("kpiforge", "polars", "duckdb", "pandas")
# Only when asked for (--engines): kpiforge building just the columns the
# comparison reads (compute's columns=), as the other engines do. By default
# kpiforge builds its whole output: counts, intervals and all.
EXTRA_ENGINES = ("kpiforge-columns",)
TABLES = ("responses", "orders", "tickets")
SEGMENTS = ("rep_id", "region", "customer_id", "partner_id", "segment")
# The synthetic segment of --segments N: row i of every table is in segment
# (i * SPREAD) mod N. SPREAD is a prime (Knuth's multiplicative-hash constant), so
# it is coprime with every N below it and i -> (i * SPREAD) mod N permutes each
# block of N consecutive rows: exactly min(N, rows) distinct segments, each with
# floor or ceil(rows / N) rows, and consecutive rows (the same customer, nearby
# days) land in segments far apart.
SPREAD = 2654435761
SELF_SERVICE = ("portal", "app", "web", "edi")
SLA_HOURS = {"high": 24, "standard": 72}
WINDOW_DAYS = 90
RTOL = 1e-9

# The columns the suite reads from each table (besides the --by column).
COLUMNS = {
    "responses": ["responded_at", "survey_type", "score"],
    "orders": [
        "ordered_at",
        "customer_id",
        "channel",
        "amount",
        "quantity",
        "quantity_delivered",
        "promised_date",
        "delivered_date",
        "accurate",
    ],
    "tickets": ["opened_at", "resolved_at", "priority", "first_contact_resolved"],
}

# What every engine returns per (segment, period_start): name -> "count" | "value".
OUTPUT: dict[str, dict[str, str]] = {
    "responses": {
        "nps_n": "count",
        "promoters": "count",
        "detractors": "count",
        "nps": "value",
        "csat_n": "count",
        "csat_mean": "value",
        "csat_satisfied_pct": "value",
        "ces_n": "count",
        "ces_mean": "value",
        "ces_easy_pct": "value",
    },
    "orders": {
        "orders": "count",
        "due": "count",
        "pending": "count",
        "undelivered": "count",
        "on_time_pct": "value",
        "in_full_pct": "value",
        "otif_pct": "value",
        "accuracy_n": "count",
        "accuracy_pct": "value",
        "self_service_n": "count",
        "self_service_pct": "value",
        "revenue_n": "count",
        "revenue": "value",
        "average_ticket": "value",
        "customers": "count",
        "censored": "count",
        "eligible": "count",
        "repeaters": "count",
        "repeat_rate_pct": "value",
    },
    "tickets": {
        "tickets": "count",
        "resolved": "count",
        "open": "count",
        "pending": "count",
        "sla_n": "count",
        "sla_pct": "value",
        "p50_hours": "value",
        "p90_hours": "value",
        "mean_hours": "value",
        "fcr_n": "count",
        "fcr_pct": "value",
    },
}

# kpiforge's column for each output column (kf.compute prefixes columns with the KPI name).
KPIFORGE_COLUMNS = {
    "responses": {
        "nps_n": "nps_n",
        "promoters": "nps_promoters",
        "detractors": "nps_detractors",
        "nps": "nps",
        "csat_n": "csat_n",
        "csat_mean": "csat_mean",
        "csat_satisfied_pct": "csat_satisfied_pct",
        "ces_n": "ces_n",
        "ces_mean": "ces_mean",
        "ces_easy_pct": "ces_easy_pct",
    },
    "orders": {
        "orders": "otif_n",
        "due": "otif_due",
        "pending": "otif_pending",
        "undelivered": "otif_undelivered",
        "on_time_pct": "otif_on_time_pct",
        "in_full_pct": "otif_in_full_pct",
        "otif_pct": "otif_pct",
        "accuracy_n": "order_accuracy_n",
        "accuracy_pct": "order_accuracy_accuracy_pct",
        "self_service_n": "self_service_adoption_n",
        "self_service_pct": "self_service_adoption_self_service_pct",
        "revenue_n": "revenue_n",
        "revenue": "revenue",
        "average_ticket": "revenue_average_ticket",
        "customers": "repeat_purchase_rate_customers",
        "censored": "repeat_purchase_rate_censored",
        "eligible": "repeat_purchase_rate_eligible",
        "repeaters": "repeat_purchase_rate_repeaters",
        "repeat_rate_pct": "repeat_purchase_rate_repeat_rate_pct",
    },
    "tickets": {
        "tickets": "resolution_time_n",
        "resolved": "resolution_time_answered",
        "open": "resolution_time_open",
        "pending": "resolution_time_pending",
        "sla_n": "resolution_time_sla_n",
        "sla_pct": "resolution_time_sla_pct",
        "p50_hours": "resolution_time_p50_hours",
        "p90_hours": "resolution_time_p90_hours",
        "mean_hours": "resolution_time_mean_hours",
        "fcr_n": "first_contact_resolution_n",
        "fcr_pct": "first_contact_resolution_fcr_pct",
    },
}


def segment_values(start: int, length: int, n: int) -> Any:
    """The synthetic segment (int64) of rows start .. start + length - 1 of a table."""
    import numpy as np

    index = np.arange(start, start + length, dtype=np.uint64)
    return ((index * np.uint64(SPREAD)) % np.uint64(n)).astype(np.int64)


def size(text: str) -> int:
    """A size flag: 10_000_000, 10000000 or 1e7."""
    value = float(text.replace("_", "")) if "e" in text.lower() else int(text.replace("_", ""))
    if value < 1 or value != int(value):
        raise argparse.ArgumentTypeError(f"a size must be a whole number >= 1, got {text!r}")
    return int(value)


# ---------------------------------------------------------------------------
# kpiforge: one kf.compute call (one scan) per table
# ---------------------------------------------------------------------------


def kpiforge_read(paths: dict[str, Path], columns: dict[str, list[str]]) -> dict[str, Any]:
    import pyarrow.parquet as pq

    return {name: pq.read_table(paths[name], columns=columns[name]) for name in TABLES}


def kpiforge_suite(
    t: dict[str, Any], by: str, as_of: dt.date, compared_only: bool = False
) -> dict[str, Callable[[], Any]]:
    import kpiforge as kf

    common = {"by": by, "period": "quarter", "as_of": as_of, "output": "arrow"}

    def only(name: str) -> dict[str, Any]:
        # columns=: just those the comparison reads (the by and period columns always come).
        return {"columns": list(KPIFORGE_COLUMNS[name].values())} if compared_only else {}

    orders = [
        kf.Kpi("otif"),
        kf.Kpi("order_accuracy", error_type=None),
        kf.Kpi("self_service_adoption", channels=list(SELF_SERVICE)),
        kf.Kpi("revenue", volume=None),
        kf.Kpi("repeat_purchase_rate", window=WINDOW_DAYS),
    ]
    tickets = [
        kf.Kpi("resolution_time", sla_hours=SLA_HOURS),
        kf.Kpi("first_contact_resolution"),
    ]
    return {
        "responses": lambda: kf.compute(
            t["responses"], ["nps", "csat", "ces"], **common, **only("responses")
        ),
        "orders": lambda: kf.compute(t["orders"], orders, **common, **only("orders")),
        "tickets": lambda: kf.compute(t["tickets"], tickets, **common, **only("tickets")),
    }


def kpiforge_output(name: str, result: Any, by: str) -> Any:
    columns = {"segment": by, "period_start": "period_start", **KPIFORGE_COLUMNS[name]}
    return canonical(name, {k: result[v] for k, v in columns.items()})


# ---------------------------------------------------------------------------
# polars: lazy frames, one group-by per KPI family, collected per table
# ---------------------------------------------------------------------------


def polars_read(paths: dict[str, Path], columns: dict[str, list[str]]) -> dict[str, Any]:
    import polars as pl

    return {name: pl.read_parquet(paths[name], columns=columns[name]) for name in TABLES}


def polars_suite(t: dict[str, Any], by: str, as_of: dt.date) -> dict[str, Callable[[], Any]]:
    import polars as pl

    def pct(hits: str, n: str) -> pl.Expr:
        return pl.when(pl.col(n) > 0).then(100.0 * pl.col(hits) / pl.col(n))

    def quarter(column: str) -> pl.Expr:
        return pl.col(column).dt.truncate("1q").dt.date().alias("period_start")

    def responses() -> pl.DataFrame:
        # Group by survey type too, then spread the types over columns: the
        # second group-by runs over a few rows per segment and quarter.
        score, kind = pl.col("score"), pl.col("survey_type")
        per_type = (
            t["responses"]
            .lazy()
            .group_by(pl.col(by).alias("segment"), quarter("responded_at"), "survey_type")
            .agg(
                score.count().alias("n"),
                score.sum().alias("total"),
                (score >= 9).sum().alias("promoters"),
                (score <= 6).sum().alias("detractors"),
                (score >= 4).sum().alias("top"),
            )
        )

        def of(stat: str, k: str) -> pl.Expr:
            return pl.col(stat).filter(kind == k).sum().alias(f"{k}_{stat}")

        aggs = [of("n", "nps"), of("promoters", "nps"), of("detractors", "nps")]
        aggs += [of(stat, k) for k in ("csat", "ces") for stat in ("n", "total", "top")]
        return (
            per_type.group_by("segment", "period_start")
            .agg(aggs)
            .rename({"nps_promoters": "promoters", "nps_detractors": "detractors"})
            .with_columns(
                pl.when(pl.col("nps_n") > 0)
                .then(100.0 * (pl.col("promoters") - pl.col("detractors").cast(pl.Int64)))
                .truediv(pl.col("nps_n"))
                .alias("nps"),
                (pl.col("csat_total") / pl.col("csat_n")).alias("csat_mean"),
                pct("csat_top", "csat_n").alias("csat_satisfied_pct"),
                (pl.col("ces_total") / pl.col("ces_n")).alias("ces_mean"),
                pct("ces_top", "ces_n").alias("ces_easy_pct"),
            )
            .collect()
        )

    def orders() -> pl.DataFrame:
        delivered_date, promised = pl.col("delivered_date"), pl.col("promised_date")
        due = promised <= as_of
        delivered = (delivered_date <= as_of).fill_null(False)
        on_time = due & delivered & (delivered_date <= promised)
        in_full = due & delivered & (pl.col("quantity_delivered") >= pl.col("quantity"))
        o = (
            t["orders"]
            .lazy()
            .with_columns(
                pl.col(by).alias("segment"),
                quarter("ordered_at"),
                pl.col("ordered_at").dt.date().alias("day"),
            )
        )
        kpis = o.group_by("segment", "period_start").agg(
            pl.len().alias("orders"),
            due.sum().alias("due"),
            (~due).sum().alias("pending"),
            (due & ~delivered).sum().alias("undelivered"),
            on_time.sum().alias("on_time"),
            in_full.sum().alias("in_full"),
            (on_time & in_full).sum().alias("otif"),
            pl.col("accurate").count().alias("accuracy_n"),
            pl.col("accurate").sum().alias("accurate"),
            pl.col("channel").count().alias("self_service_n"),
            pl.col("channel").is_in(list(SELF_SERVICE)).sum().alias("self_service"),
            pl.col("amount").count().alias("revenue_n"),
            pl.col("amount").sum().alias("revenue"),
        )
        # Repeat purchase: each customer's next order day after every order day.
        seen = o.filter(pl.col("day") <= as_of)
        next_day = (
            seen.group_by("customer_id")
            .agg(pl.col("day").unique().sort())
            .with_columns(pl.col("day").list.shift(-1).alias("next_day"))
            .explode("day", "next_day")
        )
        anchors = seen.group_by("segment", "customer_id", "period_start").agg(
            pl.col("day").min().alias("anchor")
        )
        censored = pl.col("anchor") + pl.duration(days=WINDOW_DAYS) > as_of
        gap = (pl.col("next_day") - pl.col("anchor")).dt.total_days()
        repeat = (
            anchors.join(
                next_day, left_on=["customer_id", "anchor"], right_on=["customer_id", "day"]
            )
            .group_by("segment", "period_start")
            .agg(
                pl.len().alias("customers"),
                censored.sum().alias("censored"),
                (~censored).sum().alias("eligible"),
                (~censored & (gap <= WINDOW_DAYS)).sum().alias("repeaters"),
            )
        )
        return (
            kpis.join(repeat, on=["segment", "period_start"], how="left", coalesce=True)
            .with_columns(
                pct("on_time", "due").alias("on_time_pct"),
                pct("in_full", "due").alias("in_full_pct"),
                pct("otif", "due").alias("otif_pct"),
                pct("accurate", "accuracy_n").alias("accuracy_pct"),
                pct("self_service", "self_service_n").alias("self_service_pct"),
                (pl.col("revenue") / pl.col("revenue_n")).alias("average_ticket"),
                pct("repeaters", "eligible").alias("repeat_rate_pct"),
            )
            .collect()
        )

    def tickets() -> pl.DataFrame:
        opened, resolved = pl.col("opened_at"), pl.col("resolved_at")
        sla = pl.col("priority").replace_strict(SLA_HOURS, return_dtype=pl.Int64)
        deadline = opened + pl.duration(hours=sla)
        passed = deadline < dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time())
        is_resolved = resolved.is_not_null()
        hit = (resolved <= deadline).fill_null(False)
        hours = (resolved - opened).dt.total_microseconds() / 3_600_000_000
        flag = pl.col("first_contact_resolved")
        return (
            t["tickets"]
            .lazy()
            .group_by(pl.col(by).alias("segment"), quarter("opened_at"))
            .agg(
                pl.len().alias("tickets"),
                is_resolved.sum().alias("resolved"),
                (~is_resolved).sum().alias("open"),
                (~passed).sum().alias("pending"),
                passed.sum().alias("sla_n"),
                (passed & hit).sum().alias("sla_hits"),
                hours.quantile(0.5, interpolation="linear").alias("p50_hours"),
                hours.quantile(0.9, interpolation="linear").alias("p90_hours"),
                hours.mean().alias("mean_hours"),
                (is_resolved & flag.is_null()).sum().alias("fcr_missing"),
                (is_resolved & flag).sum().alias("fcr_hits"),
            )
            .with_columns((pl.col("tickets") - pl.col("fcr_missing")).alias("fcr_n"))
            .with_columns(
                pct("sla_hits", "sla_n").alias("sla_pct"),
                pct("fcr_hits", "fcr_n").alias("fcr_pct"),
            )
            .collect()
        )

    return {"responses": responses, "orders": orders, "tickets": tickets}


def polars_output(name: str, result: Any, by: str) -> Any:
    table = result.to_arrow()
    return canonical(name, {c: table[c] for c in ["segment", "period_start", *OUTPUT[name]]})


# ---------------------------------------------------------------------------
# DuckDB: SQL over tables loaded from the Parquet files
# ---------------------------------------------------------------------------


def duckdb_read(paths: dict[str, Path], columns: dict[str, list[str]]) -> dict[str, Any]:
    import duckdb

    con = duckdb.connect()
    for name in TABLES:
        cols = ", ".join(columns[name])
        con.execute(f"CREATE TABLE {name} AS SELECT {cols} FROM read_parquet('{paths[name]}')")
    return {"con": con}


DUCKDB_SQL = {
    "responses": """
SELECT *,
    100 * (promoters - detractors) / nullif(nps_n, 0) AS nps,
    100 * csat_top / nullif(csat_n, 0) AS csat_satisfied_pct,
    100 * ces_top / nullif(ces_n, 0) AS ces_easy_pct
FROM (
    SELECT {by} AS segment, date_trunc('quarter', responded_at)::DATE AS period_start,
        count(score) FILTER (survey_type = 'nps') AS nps_n,
        count(*) FILTER (survey_type = 'nps' AND score >= 9) AS promoters,
        count(*) FILTER (survey_type = 'nps' AND score <= 6) AS detractors,
        count(score) FILTER (survey_type = 'csat') AS csat_n,
        avg(score) FILTER (survey_type = 'csat') AS csat_mean,
        count(*) FILTER (survey_type = 'csat' AND score >= 4) AS csat_top,
        count(score) FILTER (survey_type = 'ces') AS ces_n,
        avg(score) FILTER (survey_type = 'ces') AS ces_mean,
        count(*) FILTER (survey_type = 'ces' AND score >= 4) AS ces_top
    FROM responses
    GROUP BY ALL
)
""",
    "orders": """
WITH o AS (
    SELECT {by} AS segment, customer_id, ordered_at::DATE AS day,
        date_trunc('quarter', ordered_at)::DATE AS period_start,
        promised_date <= DATE '{as_of}' AS due,
        coalesce(delivered_date <= DATE '{as_of}', false) AS delivered,
        delivered_date <= promised_date AS by_promise,
        quantity_delivered >= quantity AS full_quantity,
        accurate, channel, amount
    FROM orders
),
kpis AS (
    SELECT segment, period_start,
        count(*) AS orders,
        count(*) FILTER (due) AS due,
        count(*) FILTER (NOT due) AS pending,
        count(*) FILTER (due AND NOT delivered) AS undelivered,
        count(*) FILTER (due AND delivered AND by_promise) AS on_time,
        count(*) FILTER (due AND delivered AND full_quantity) AS in_full,
        count(*) FILTER (due AND delivered AND by_promise AND full_quantity) AS otif,
        count(accurate) AS accuracy_n,
        count(*) FILTER (accurate) AS accurate,
        count(channel) AS self_service_n,
        count(*) FILTER (channel IN {self_service}) AS self_service,
        count(amount) AS revenue_n,
        sum(amount) AS revenue
    FROM o
    GROUP BY ALL
),
seen AS (SELECT * FROM o WHERE day <= DATE '{as_of}'),
next_day AS (
    SELECT customer_id, day, lead(day) OVER (PARTITION BY customer_id ORDER BY day) AS next_day
    FROM (SELECT DISTINCT customer_id, day FROM seen)
),
anchors AS (
    SELECT segment, customer_id, period_start, min(day) AS anchor
    FROM seen
    GROUP BY ALL
),
repeat AS (
    SELECT segment, period_start,
        count(*) AS customers,
        count(*) FILTER (anchor + {window} > DATE '{as_of}') AS censored,
        count(*) FILTER (anchor + {window} <= DATE '{as_of}') AS eligible,
        count(*) FILTER (anchor + {window} <= DATE '{as_of}' AND next_day - anchor <= {window})
            AS repeaters
    FROM anchors JOIN next_day ON anchors.customer_id = next_day.customer_id
        AND anchors.anchor = next_day.day
    GROUP BY ALL
)
SELECT kpis.*, repeat.customers, repeat.censored, repeat.eligible, repeat.repeaters,
    100 * on_time / nullif(due, 0) AS on_time_pct,
    100 * in_full / nullif(due, 0) AS in_full_pct,
    100 * otif / nullif(due, 0) AS otif_pct,
    100 * accurate / nullif(accuracy_n, 0) AS accuracy_pct,
    100 * self_service / nullif(self_service_n, 0) AS self_service_pct,
    revenue / nullif(revenue_n, 0) AS average_ticket,
    100 * repeaters / nullif(eligible, 0) AS repeat_rate_pct
FROM kpis LEFT JOIN repeat USING (segment, period_start)
""",
    "tickets": """
SELECT *,
    quantiles[1] AS p50_hours,
    quantiles[2] AS p90_hours,
    100 * sla_hits / nullif(sla_n, 0) AS sla_pct,
    tickets - fcr_missing AS fcr_n,
    100 * fcr_hits / nullif(tickets - fcr_missing, 0) AS fcr_pct
FROM (
    SELECT segment, period_start,
        count(*) AS tickets,
        count(resolved_at) AS resolved,
        count(*) - count(resolved_at) AS open,
        count(*) FILTER (deadline >= TIMESTAMP '{as_of_end}') AS pending,
        count(*) FILTER (deadline < TIMESTAMP '{as_of_end}') AS sla_n,
        count(*) FILTER (deadline < TIMESTAMP '{as_of_end}' AND resolved_at <= deadline)
            AS sla_hits,
        quantile_cont(hours, [0.5, 0.9]) AS quantiles,
        avg(hours) AS mean_hours,
        count(*) FILTER (resolved_at IS NOT NULL AND first_contact_resolved IS NULL)
            AS fcr_missing,
        count(*) FILTER (resolved_at IS NOT NULL AND first_contact_resolved) AS fcr_hits
    FROM (
        SELECT {by} AS segment, date_trunc('quarter', opened_at)::DATE AS period_start,
            resolved_at, first_contact_resolved,
            opened_at + to_hours(CASE priority {sla_cases} END) AS deadline,
            date_diff('microsecond', opened_at, resolved_at) / 3600000000 AS hours
        FROM tickets
    )
    GROUP BY ALL
)
""",
}


def duckdb_suite(t: dict[str, Any], by: str, as_of: dt.date) -> dict[str, Callable[[], Any]]:
    con = t["con"]
    params = {
        "by": by,
        "as_of": as_of.isoformat(),
        "as_of_end": (as_of + dt.timedelta(days=1)).isoformat(),
        "window": WINDOW_DAYS,
        "self_service": "(" + ", ".join(f"'{c}'" for c in SELF_SERVICE) + ")",
        "sla_cases": " ".join(f"WHEN '{k}' THEN {v}" for k, v in SLA_HOURS.items()),
    }
    queries = {name: sql.format(**params) for name, sql in DUCKDB_SQL.items()}

    def run(query: str) -> Any:
        relation = con.sql(query)
        # to_arrow_table since DuckDB 1.4 (.arrow() before)
        fetch = getattr(relation, "to_arrow_table", None) or relation.arrow
        return fetch()

    return {name: (lambda q=q: run(q)) for name, q in queries.items()}


def duckdb_output(name: str, result: Any, by: str) -> Any:
    return canonical(name, {c: result[c] for c in ["segment", "period_start", *OUTPUT[name]]})


# ---------------------------------------------------------------------------
# pandas: boolean columns and one groupby per KPI family
# ---------------------------------------------------------------------------


def pandas_read(paths: dict[str, Path], columns: dict[str, list[str]]) -> dict[str, Any]:
    import pandas as pd

    def read(name: str) -> pd.DataFrame:
        # Dates as datetime64 rather than Python date objects.
        try:
            return pd.read_parquet(
                paths[name], columns=columns[name], to_pandas_kwargs={"date_as_object": False}
            )
        except TypeError:  # pandas < 3 has no to_pandas_kwargs
            df = pd.read_parquet(paths[name], columns=columns[name])
            for column in ("promised_date", "delivered_date"):
                if column in df.columns:
                    df[column] = pd.to_datetime(df[column])
            return df

    return {name: read(name) for name in TABLES}


def pandas_suite(t: dict[str, Any], by: str, as_of: dt.date) -> dict[str, Callable[[], Any]]:
    import pandas as pd

    as_of_ts = pd.Timestamp(as_of)
    keys = ["segment", "period"]

    def pct(hits: pd.Series, n: pd.Series) -> pd.Series:
        return 100 * hits / n.where(n > 0)

    def responses() -> pd.DataFrame:
        r = t["responses"]
        score = r["score"]
        per_type = (
            pd.DataFrame(
                {
                    "segment": r[by],
                    "period": r["responded_at"].dt.to_period("Q"),
                    "survey_type": r["survey_type"],
                    "score": score,
                    "promoter": score >= 9,
                    "detractor": score <= 6,
                    "top": score >= 4,
                }
            )
            .groupby([*keys, "survey_type"], observed=True, sort=False)
            .agg(
                n=("score", "count"),
                mean=("score", "mean"),
                promoters=("promoter", "sum"),
                detractors=("detractor", "sum"),
                top=("top", "sum"),
            )
            .unstack("survey_type")
        )

        def col(stat: str, kind: str, fill: float | None = 0) -> pd.Series:
            if (stat, kind) not in per_type:
                return pd.Series(fill, index=per_type.index, dtype=float)
            s = per_type[(stat, kind)]
            return s if fill is None else s.fillna(fill)

        out = pd.DataFrame(
            {
                "nps_n": col("n", "nps"),
                "promoters": col("promoters", "nps"),
                "detractors": col("detractors", "nps"),
                "csat_n": col("n", "csat"),
                "csat_mean": col("mean", "csat", None),
                "ces_n": col("n", "ces"),
                "ces_mean": col("mean", "ces", None),
            }
        )
        out["nps"] = pct(out["promoters"] - out["detractors"], out["nps_n"])
        out["csat_satisfied_pct"] = pct(col("top", "csat"), out["csat_n"])
        out["ces_easy_pct"] = pct(col("top", "ces"), out["ces_n"])
        return out.reset_index()

    def orders() -> pd.DataFrame:
        o = t["orders"]
        period = o["ordered_at"].dt.to_period("Q")
        delivered_date, promised = o["delivered_date"], o["promised_date"]
        due = promised <= as_of_ts
        delivered = delivered_date <= as_of_ts  # NaT compares False
        on_time = due & delivered & (delivered_date <= promised)
        in_full = due & delivered & (o["quantity_delivered"] >= o["quantity"])
        kpis = (
            pd.DataFrame(
                {
                    "segment": o[by],
                    "period": period,
                    "due": due,
                    "pending": ~due,
                    "undelivered": due & ~delivered,
                    "on_time": on_time,
                    "in_full": in_full,
                    "otif": on_time & in_full,
                    "accurate": o["accurate"],
                    "channel": o["channel"],
                    "self_service": o["channel"].isin(SELF_SERVICE),
                    "amount": o["amount"],
                }
            )
            .groupby(keys, observed=True, sort=False)
            .agg(
                orders=("due", "size"),
                due=("due", "sum"),
                pending=("pending", "sum"),
                undelivered=("undelivered", "sum"),
                on_time=("on_time", "sum"),
                in_full=("in_full", "sum"),
                otif=("otif", "sum"),
                accuracy_n=("accurate", "count"),
                accurate=("accurate", "sum"),
                self_service_n=("channel", "count"),
                self_service=("self_service", "sum"),
                revenue_n=("amount", "count"),
                revenue=("amount", "sum"),
            )
        )
        # Repeat purchase: each customer's next order day after every order day.
        day = o["ordered_at"].dt.normalize()
        seen = pd.DataFrame(
            {"segment": o[by], "customer_id": o["customer_id"], "period": period, "day": day}
        )[day <= as_of_ts]
        days = seen[["customer_id", "day"]].drop_duplicates().sort_values(["customer_id", "day"])
        days["next_day"] = days.groupby("customer_id", sort=False)["day"].shift(-1)
        anchors = (
            seen.groupby(["segment", "customer_id", "period"], observed=True, sort=False)["day"]
            .min()
            .rename("anchor")
            .reset_index()
            .merge(days, left_on=["customer_id", "anchor"], right_on=["customer_id", "day"])
        )
        censored = anchors["anchor"] + pd.Timedelta(days=WINDOW_DAYS) > as_of_ts
        gap = (anchors["next_day"] - anchors["anchor"]).dt.days
        repeat = (
            anchors.assign(
                censored=censored,
                eligible=~censored,
                repeater=~censored & (gap <= WINDOW_DAYS),
            )
            .groupby(keys, observed=True, sort=False)
            .agg(
                customers=("censored", "size"),
                censored=("censored", "sum"),
                eligible=("eligible", "sum"),
                repeaters=("repeater", "sum"),
            )
        )
        out = kpis.join(repeat, how="left")
        out["on_time_pct"] = pct(out["on_time"], out["due"])
        out["in_full_pct"] = pct(out["in_full"], out["due"])
        out["otif_pct"] = pct(out["otif"], out["due"])
        out["accuracy_pct"] = pct(out["accurate"], out["accuracy_n"])
        out["self_service_pct"] = pct(out["self_service"], out["self_service_n"])
        out["average_ticket"] = out["revenue"] / out["revenue_n"].where(out["revenue_n"] > 0)
        out["repeat_rate_pct"] = pct(out["repeaters"], out["eligible"])
        return out.reset_index()

    def tickets() -> pd.DataFrame:
        k = t["tickets"]
        opened, resolved = k["opened_at"], k["resolved_at"]
        deadline = opened + pd.to_timedelta(k["priority"].map(SLA_HOURS), unit="h")
        passed = deadline < as_of_ts + pd.Timedelta(days=1)
        is_resolved = resolved.notna()
        flag = k["first_contact_resolved"]
        frame = pd.DataFrame(
            {
                "segment": k[by],
                "period": opened.dt.to_period("Q"),
                "resolved": is_resolved,
                "open": ~is_resolved,
                "pending": ~passed,
                "sla_n": passed,
                "sla_hits": passed & (resolved <= deadline),
                "hours": (resolved - opened) / pd.Timedelta(hours=1),
                "fcr_missing": is_resolved & flag.isna(),
                "fcr_hits": is_resolved & flag.fillna(False).astype(bool),
            }
        )
        groups = frame.groupby(keys, observed=True, sort=False)
        out = groups.agg(
            tickets=("resolved", "size"),
            resolved=("resolved", "sum"),
            open=("open", "sum"),
            pending=("pending", "sum"),
            sla_n=("sla_n", "sum"),
            sla_hits=("sla_hits", "sum"),
            mean_hours=("hours", "mean"),
            fcr_missing=("fcr_missing", "sum"),
            fcr_hits=("fcr_hits", "sum"),
        )
        quantiles = groups["hours"].quantile([0.5, 0.9]).unstack()
        out["p50_hours"], out["p90_hours"] = quantiles[0.5], quantiles[0.9]
        out["sla_pct"] = pct(out["sla_hits"], out["sla_n"])
        out["fcr_n"] = out["tickets"] - out["fcr_missing"]
        out["fcr_pct"] = pct(out["fcr_hits"], out["fcr_n"])
        return out.reset_index()

    return {"responses": responses, "orders": orders, "tickets": tickets}


def pandas_output(name: str, result: Any, by: str) -> Any:
    import pyarrow as pa

    columns = {c: pa.array(result[c], from_pandas=True) for c in ["segment", *OUTPUT[name]]}
    columns["period_start"] = pa.array(result["period"].dt.start_time.dt.date)
    return canonical(name, columns)


ENGINE_FUNCTIONS: dict[str, tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any]]] = {
    "kpiforge": (kpiforge_read, kpiforge_suite, kpiforge_output),
    "kpiforge-columns": (
        kpiforge_read,
        lambda t, by, as_of: kpiforge_suite(t, by, as_of, compared_only=True),
        kpiforge_output,
    ),
    "polars": (polars_read, polars_suite, polars_output),
    "duckdb": (duckdb_read, duckdb_suite, duckdb_output),
    "pandas": (pandas_read, pandas_suite, pandas_output),
}


def canonical(name: str, columns: dict[str, Any]) -> Any:
    """One engine's result as a pyarrow Table of fixed names and types, sorted by key.

    Counts become int64 (a null count of a cell without such rows becomes 0),
    values float64 with NaN as null.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    out = {
        "segment": pc.cast(columns["segment"], pa.string()),
        "period_start": pc.cast(columns["period_start"], pa.date32()),
    }
    for column, kind in OUTPUT[name].items():
        values = columns[column]
        if kind == "count":
            out[column] = pc.cast(pc.fill_null(values, 0), pa.int64())
        else:
            values = pc.cast(values, pa.float64())
            out[column] = pc.if_else(pc.is_nan(values), None, values)
    return pa.table(out).sort_by([("segment", "ascending"), ("period_start", "ascending")])


# ---------------------------------------------------------------------------
# The worker: read, time the suite, write the results
# ---------------------------------------------------------------------------


def memory_status() -> dict[str, float]:
    """VmRSS and VmHWM of this process in MiB (Linux), else ru_maxrss."""
    out = {}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    key, value = line.split(":")
                    out[key] = int(value.split()[0]) / 1024  # kB
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out["ru_maxrss"] = peak / (1024 * 1024 if sys.platform == "darwin" else 1024)
    return out


def engine_version(engine: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(engine)
    except PackageNotFoundError:
        # Not installed (e.g. a source tree on PYTHONPATH): the module's own version.
        module = __import__(engine)
        return str(getattr(module, "__version__", "?"))


def worker(args: argparse.Namespace) -> None:
    if args.worker == "generate":
        generate(args)
        return
    read, suite, output = ENGINE_FUNCTIONS[args.worker]
    data = Path(args.data)
    as_of = dt.date.fromisoformat(args.as_of)
    paths = {name: data / f"{name}.parquet" for name in TABLES}
    columns = {name: list(dict.fromkeys([args.by, *COLUMNS[name]])) for name in TABLES}

    t0 = time.perf_counter()
    tables = read(paths, columns)
    read_s = time.perf_counter() - t0
    rss_after_read = memory_status().get("VmRSS", float("nan"))

    parts = suite(tables, args.by, as_of)
    runs: list[dict[str, float]] = []
    results: dict[str, Any] = {}
    for _ in range(args.repeat):
        results.clear()
        gc.collect()
        run: dict[str, float] = {}
        for name in TABLES:
            t0 = time.perf_counter()
            results[name] = parts[name]()
            run[name] = time.perf_counter() - t0
        run["total"] = sum(run.values())
        runs.append(run)
    memory = memory_status()

    out = Path(args.out)
    import pyarrow.parquet as pq

    for name in TABLES:
        pq.write_table(output(name, results[name], args.by), out / f"{name}.parquet")
    best = min(runs, key=lambda r: r["total"])
    stats = {
        "engine": args.worker,
        "version": engine_version(args.worker.split("-")[0]),
        "seconds": best["total"],
        "parts": {name: min(r[name] for r in runs) for name in TABLES},
        "runs": runs,
        "read_seconds": read_s,
        "rss_after_read_mib": rss_after_read,
        "peak_rss_mib": memory.get("VmHWM", memory["ru_maxrss"]),
    }
    if args.worker.startswith("kpiforge"):
        import kpiforge

        stats["module"] = kpiforge.__file__
        stats["build"] = "debug" if kpiforge._core._debug_build() else "release"
    (out / "stats.json").write_text(json.dumps(stats, indent=2))


# ---------------------------------------------------------------------------
# The data: generated once, cached as Parquet
# ---------------------------------------------------------------------------


def cache_key(args: argparse.Namespace) -> str:
    key = f"orders{args.orders}_responses{args.responses}_tickets{args.tickets}_seed{args.seed}"
    return key + (f"_segments{args.segments}" if args.segments else "")


def generate(args: argparse.Namespace) -> None:
    """Generate the demo tables and write them (and meta.json) into args.data."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    import kpiforge as kf

    t0 = time.perf_counter()
    data = kf.demo.generate(
        n_orders=args.orders,
        n_responses=args.responses,
        n_tickets=args.tickets,
        seed=args.seed,
        tables=list(TABLES),
    )
    gen_s = time.perf_counter() - t0
    out = Path(args.data)
    for name in TABLES:
        table = data[name]
        if args.segments:
            segment = segment_values(0, table.num_rows, args.segments)
            table = table.append_column("segment", pa.array(segment, pa.int64()))
        pq.write_table(table, out / f"{name}.parquet")
    # as_of: the latest observed day (orders placed or delivered, answers,
    # tickets opened or resolved; never a promise date).
    observed = {
        "orders": ["ordered_at", "delivered_date"],
        "responses": ["responded_at"],
        "tickets": ["opened_at", "resolved_at"],
    }
    latest = max(
        pc.max(pc.cast(data[name][column], "date32")).as_py()
        for name, cols in observed.items()
        for column in cols
    )
    meta = {
        "orders": args.orders,
        "responses": args.responses,
        "tickets": args.tickets,
        "seed": args.seed,
        **({"segments": args.segments} if args.segments else {}),
        "as_of": latest.isoformat(),
        "generated_seconds": gen_s,
        "kpiforge": kf.__version__,
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=2))


def ensure_data(args: argparse.Namespace) -> tuple[Path, dict[str, Any]]:
    """The cached data folder for these sizes and seed, generated if missing."""
    cache = Path(args.cache)
    folder = cache / cache_key(args)
    if (folder / "meta.json").exists():
        return folder, json.loads((folder / "meta.json").read_text())
    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".generating-", dir=cache))
    print(f"generating the demo data into {folder} ...", flush=True)
    t0 = time.perf_counter()
    command = [*self_command(args), "--worker", "generate", "--data", str(tmp)]
    try:
        subprocess.run(command, check=True)
        tmp.rename(folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"  done in {time.perf_counter() - t0:.1f} s", flush=True)
    return folder, json.loads((folder / "meta.json").read_text())


def self_command(args: argparse.Namespace) -> list[str]:
    return [
        sys.executable,
        str(Path(__file__).resolve()),
        "--orders",
        str(args.orders),
        "--responses",
        str(args.responses),
        "--tickets",
        str(args.tickets),
        "--seed",
        str(args.seed),
        "--repeat",
        str(args.repeat),
        "--by",
        args.by,
        *(["--segments", str(args.segments)] if args.segments else []),
    ]


# ---------------------------------------------------------------------------
# The parent: run the workers, check agreement, print the table
# ---------------------------------------------------------------------------


class Disagreement(Exception):
    pass


def keys_of(table: Any) -> list[tuple[Any, Any]]:
    return list(zip(table["segment"].to_pylist(), table["period_start"].to_pylist(), strict=True))


def compare(reference: str, engine: str, name: str, ours: Any, theirs: Any) -> int:
    """Raise Disagreement at the first differing number; return how many values were compared."""
    import numpy as np

    where = f"{engine} disagrees with {reference} on {name}"
    same_keys = all(ours[k].equals(theirs[k]) for k in ("segment", "period_start"))
    # Python tuples of the keys only where a message needs them (millions of
    # result rows with --segments 1_000_000).
    a_keys = keys_of(ours) if not same_keys else None
    b_keys = keys_of(theirs) if not same_keys else None
    if a_keys != b_keys:
        missing = sorted(set(a_keys) - set(b_keys), key=str)
        extra = sorted(set(b_keys) - set(a_keys), key=str)
        raise Disagreement(
            f"{where}: different (segment, quarter) rows: {len(a_keys)} vs {len(b_keys)}; "
            f"missing {missing[:3]}, extra {extra[:3]}"
        )
    compared = 0
    for column, kind in OUTPUT[name].items():
        a = ours[column].to_numpy(zero_copy_only=False)
        b = theirs[column].to_numpy(zero_copy_only=False)
        if kind == "count":
            bad = a != b
        else:
            a, b = a.astype(float), b.astype(float)
            both_null = np.isnan(a) & np.isnan(b)
            with np.errstate(invalid="ignore"):
                close = np.abs(a - b) <= RTOL * np.maximum(np.abs(a), np.abs(b))
            bad = ~(both_null | close | (a == b))
        compared += len(a)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            segment, quarter = ours["segment"][i].as_py(), ours["period_start"][i].as_py()
            raise Disagreement(
                f"{where}, column {column!r}, segment {segment!r} quarter "
                f"{quarter}: {show(a[i])} vs {show(b[i])} "
                f"({int(bad.sum())} of {len(a)} rows differ)"
            )
    return compared


def show(x: Any) -> str:
    x = x.item() if hasattr(x, "item") else x
    return "null" if isinstance(x, float) and x != x else repr(x)


def run_worker(engine: str, args: argparse.Namespace, data: Path, meta: dict, out: Path) -> dict:
    command = [
        *self_command(args),
        "--worker",
        engine,
        "--data",
        str(data),
        "--out",
        str(out),
        "--as-of",
        meta["as_of"],
    ]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(command, timeout=args.timeout or None, capture_output=True, text=True)
    except subprocess.TimeoutExpired:
        return {"engine": engine, "status": f"timed out after {args.timeout:g} s"}
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        if proc.returncode < 0:
            reason = f"killed by signal {-proc.returncode}"
            if -proc.returncode == 9:
                reason += " (out of memory?)"
        else:
            reason = f"exit code {proc.returncode}"
            if any(m in proc.stderr for m in ("MemoryError", "bad_alloc", "memory allocation")):
                reason += " (out of memory)"
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-15:]
        sys.stderr.write(f"\n{engine} worker failed ({reason}):\n" + "\n".join(tail) + "\n")
        return {"engine": engine, "status": f"failed: {reason}"}
    stats = json.loads((out / "stats.json").read_text())
    stats["status"] = "ok"
    stats["worker_wall_seconds"] = wall
    return stats


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory_gib = float("nan")
    try:
        memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cores": cores,
        "cpu": cpu,
        "memory_gib": round(memory_gib, 1),
        "system": f"{platform.system()} {platform.release()} {platform.machine()}",
        "python": platform.python_version(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def report(args: argparse.Namespace, meta: dict, results: list[dict], groups: dict) -> dict:
    info = machine()
    ok = [r for r in results if r.get("status") == "ok"]
    base = next((r["seconds"] for r in ok if r["engine"] == "kpiforge"), None)
    for r in results:
        if "seconds" in r and base:
            r["ratio"] = r["seconds"] / base
    sizes = f"orders {args.orders:,}, responses {args.responses:,}, tickets {args.tickets:,}"
    print()
    print(f"KPI suite per {args.by} per quarter; {sizes} (seed {args.seed}); as_of {meta['as_of']}")
    print(
        f"segments: {groups['segments']:,} {args.by} values; result rows (segment x quarter): "
        + ", ".join(f"{k} {v:,}" for k, v in groups["rows"].items())
    )
    print(
        f"machine: {info['cores']} cores ({info['cpu']}), {info['memory_gib']} GiB, "
        f"{info['system']}, Python {info['python']}; load average {info['load_average']}"
    )
    rounds = f", best of {args.rounds} rounds of the engines in turn" if args.rounds > 1 else ""
    print(
        f"seconds: best of {args.repeat} suite runs{rounds}; "
        "read (Parquet into memory) is not in them"
    )
    for r in results:
        if r.get("build"):
            slow = r["build"] != "release"
            warning = " <- NOT OPTIMISED (maturin develop --release)" if slow else ""
            print(f"kpiforge: {r['build']} build from {Path(r['module']).parent}{warning}")
    print()
    w = max([10, *(len(r["engine"]) + 1 for r in results)])
    header = (
        f"{'engine':<{w}}{'version':>9}{'seconds':>10}{'x kpiforge':>12}"
        + "".join(f"{name:>11}" for name in TABLES)
        + f"{'read s':>9}{'peak RSS MiB':>14}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        if r.get("status") != "ok":
            print(f"{r['engine']:<{w}}{'':>9}  {r['status']}")
            continue
        ratio = f"{r['ratio']:.2f}" if "ratio" in r else "-"
        print(
            f"{r['engine']:<{w}}{r['version']:>9}{r['seconds']:>10.3f}{ratio:>12}"
            + "".join(f"{r['parts'][name]:>11.3f}" for name in TABLES)
            + f"{r['read_seconds']:>9.2f}{r['peak_rss_mib']:>14.0f}"
        )
    return {
        "command": " ".join(["python", "benchmarks/run.py", *sys.argv[1:]]),
        "sizes": {"orders": args.orders, "responses": args.responses, "tickets": args.tickets},
        "seed": args.seed,
        "by": args.by,
        "segments_requested": args.segments,
        "as_of": meta["as_of"],
        "segments": groups["segments"],
        "result_rows": groups["rows"],
        "repeat": args.repeat,
        "rounds": args.rounds,
        "machine": info,
        "results": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Sizes accept underscores (10_000_000).",
    )
    parser.add_argument("--orders", type=size, default=1_000_000)
    parser.add_argument("--responses", type=size, default=None, help="default: --orders")
    parser.add_argument("--tickets", type=size, default=None, help="default: --orders / 5")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3, help="suite runs per engine (best kept)")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run the engines this many times in turn (a fresh process each time) and keep "
        "each engine's best round: on a shared machine whose speed drifts, every engine then "
        "meets the same spells",
    )
    parser.add_argument(
        "--engines",
        default=",".join(ENGINES),
        help="comma-separated, in order; also kpiforge-columns: kpiforge building only the "
        "compared columns (columns=)",
    )
    parser.add_argument(
        "--by",
        default=None,
        choices=SEGMENTS,
        help="the segment column (default: rep_id; segment with --segments)",
    )
    parser.add_argument(
        "--segments",
        type=size,
        default=None,
        metavar="N",
        help="add a synthetic int64 column `segment` to every table (row i of a table is in "
        f"segment (i * {SPREAD}) mod N: exactly min(N, rows) distinct values, each "
        "with rows/N rows spread over the table) and group by it (implies --by segment)",
    )
    parser.add_argument("--cache", default=str(HERE / ".cache"), help="folder of cached Parquet")
    parser.add_argument("--json", help="also write the table and details to this JSON file")
    parser.add_argument("--timeout", type=float, default=0, help="seconds per engine (0: none)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--as-of", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.responses is None:
        args.responses = args.orders
    if args.tickets is None:
        args.tickets = max(args.orders // 5, 1)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.segments:
        if args.segments >= SPREAD:
            parser.error(f"--segments must be below {SPREAD:,}")
        if args.by not in (None, "segment"):
            parser.error("--segments groups by the synthetic column `segment`: drop --by")
        args.by = "segment"
    elif args.by == "segment":
        parser.error("--by segment needs --segments N (the synthetic segment column)")
    elif args.by is None:
        args.by = "rep_id"
    if args.worker:
        worker(args)
        return

    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = [e for e in engines if e not in ENGINES + EXTRA_ENGINES]
    if unknown or not engines:
        parser.error(
            f"unknown engine(s) {unknown}; choose from {', '.join(ENGINES + EXTRA_ENGINES)}"
        )

    data, meta = ensure_data(args)
    results = []
    with tempfile.TemporaryDirectory(prefix="kpiforge-bench-") as tmp:
        outputs: dict[str, Path] = {}
        best: dict[str, dict] = {}
        for round_ in range(1, args.rounds + 1):
            for engine in engines:
                if engine in best and best[engine]["status"] != "ok":
                    continue  # failed once: not run again
                out = Path(tmp) / f"{engine}-{round_}"
                out.mkdir()
                of = f" (round {round_} of {args.rounds})" if args.rounds > 1 else ""
                print(f"running {engine}{of} ...", flush=True)
                result = run_worker(engine, args, data, meta, out)
                if result["status"] != "ok":
                    best[engine] = result
                    continue
                seconds, read_s = result["seconds"], result["read_seconds"]
                print(
                    f"  {seconds:.3f} s (best of {args.repeat}), read {read_s:.2f} s, "
                    f"peak RSS {result['peak_rss_mib']:.0f} MiB",
                    flush=True,
                )
                kept = best.get(engine)
                if kept is None:
                    outputs[engine] = out  # every round computes the same numbers
                if kept is None or seconds < kept["seconds"]:
                    if kept is not None:
                        result["peak_rss_mib"] = max(result["peak_rss_mib"], kept["peak_rss_mib"])
                    best[engine] = result
                else:
                    kept["peak_rss_mib"] = max(kept["peak_rss_mib"], result["peak_rss_mib"])
        results = [best[e] for e in engines]

        import pyarrow as pa
        import pyarrow.parquet as pq

        ok = [e for e in engines if e in outputs]
        groups: dict[str, Any] = {"segments": 0, "rows": {}}
        compared = 0
        if ok:
            reference = ok[0]
            ref = {name: pq.read_table(outputs[reference] / f"{name}.parquet") for name in TABLES}
            for name in TABLES:
                groups["rows"][name] = ref[name].num_rows
            every = pa.chunked_array([c for name in TABLES for c in ref[name]["segment"].chunks])
            groups["segments"] = len(every.unique())
            try:
                for engine in ok[1:]:
                    for name in TABLES:
                        theirs = pq.read_table(outputs[engine] / f"{name}.parquet")
                        compared += compare(reference, engine, name, ref[name], theirs)
            except Disagreement as err:
                sys.exit(f"\nFAILED: {err}")
    summary = report(args, meta, results, groups)
    failed = [r["engine"] for r in results if r["status"] != "ok"]
    if len(ok) > 1:
        print(
            f"\nall {len(ok)} engines agree with {ok[0]} on every number "
            f"({compared:,} values compared: counts exactly, others to {RTOL:g} relative)"
        )
    if args.json:
        summary["values_compared"] = compared
        Path(args.json).write_text(json.dumps(summary, indent=2, default=str))
        print(f"wrote {args.json}")
    if failed:
        sys.exit(f"\nFAILED: {', '.join(failed)} did not finish (see above)")


if __name__ == "__main__":
    main()
