"""The ``kpiforge`` command line, for scheduled pipelines (Airflow, cron).

    kpiforge demo --out scorecards/
    kpiforge compute responses.parquet --kpi nps --kpi csat --by rep_id --period quarter \\
        --out survey_kpis.parquet

Exit code 0 on success; on bad input a one-line message on stderr and exit code 2.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from kpiforge import demo as _demo
from kpiforge.exceptions import KpiforgeError
from kpiforge.kpis import catalog, compute

PERIODS = click.Choice(["day", "week", "month", "quarter", "year"])


def _read(path: Path) -> pa.Table:
    if not path.exists():
        raise click.BadParameter(f"no such file: {path}")
    if path.suffix.lower() in (".csv", ".txt"):
        return pacsv.read_csv(path)
    return pq.read_table(path)


def _write(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".csv":
        pacsv.write_csv(table, path)
    else:
        pq.write_table(table, path)


class _Cli(click.Group):
    """Turns kpiforge errors into one clear line and exit code 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KpiforgeError as err:
            click.echo(f"kpiforge: error: {err}", err=True)
            sys.exit(2)


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="kpiforge")
def main() -> None:
    """Compute sales and customer-experience KPIs per segment and period.

    Start with `kpiforge demo --out DIR`, which generates a demo distributor's data
    and writes its KPI tables to DIR.
    """


@main.command()
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    required=True,
    help="Folder to write the results to (created if missing).",
)
@click.option(
    "--orders",
    "n_orders",
    type=int,
    default=200_000,
    show_default=True,
    help="Size of the demo data, in orders.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--by", default="rep_id", show_default=True, help="Segment column.")
@click.option("--period", type=PERIODS, default="quarter", show_default=True)
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
def demo(out_dir: Path, n_orders: int, seed: int, by: str, period: str, quiet: bool) -> None:
    """Generate demo data and write its survey KPIs (NPS, CSAT, CES) to OUT."""
    data = _demo.generate(n_orders=n_orders, seed=seed)
    result = compute(data.responses, ["nps", "csat", "ces"], by=by, period=period, output="arrow")
    out_dir.mkdir(parents=True, exist_ok=True)
    _write(result, out_dir / "survey_kpis.parquet")
    _write(result, out_dir / "survey_kpis.csv")
    if not quiet:
        df = result.to_pandas()
        latest = df.loc[~df["partial"], "period"].max()
        shown = df.loc[
            df["period"] == latest,
            [by, "period", "nps_n", "nps", "nps_ci_low", "nps_ci_high", "csat_mean", "ces_mean"],
        ]
        click.echo(f"Survey KPIs per {by} for {latest} (of {df['period'].nunique()} periods):")
        click.echo(shown.round(1).to_string(index=False))
        click.echo(f"\nWrote {len(df):,} rows to {out_dir / 'survey_kpis.parquet'} and .csv")


@main.command(name="compute")
@click.argument("table", type=click.Path(path_type=Path))
@click.option(
    "--kpi",
    "kpis",
    multiple=True,
    required=True,
    help="KPI to compute (repeat for several); see `kpiforge catalog`.",
)
@click.option("--by", multiple=True, help="Segment column (repeat for several).")
@click.option("--period", type=PERIODS, default=None)
@click.option("--date", default=None, help="Date column (default: the KPI's own).")
@click.option("--fiscal-year-start", type=click.IntRange(1, 12), default=1, show_default=True)
@click.option("--as-of", default=None, help="Reference date YYYY-MM-DD (default: latest in data).")
@click.option(
    "--on-invalid", type=click.Choice(["raise", "drop"]), default="raise", show_default=True
)
@click.option(
    "--out",
    "out_path",
    type=click.Path(path_type=Path),
    required=True,
    help="Output file, .parquet or .csv.",
)
def compute_cmd(
    table: Path,
    kpis: Sequence[str],
    by: Sequence[str],
    period: str | None,
    date: str | None,
    fiscal_year_start: int,
    as_of: str | None,
    on_invalid: str,
    out_path: Path,
) -> None:
    """Compute KPIs over TABLE (Parquet or CSV) and write them to --out."""
    result = compute(
        _read(table),
        list(kpis),
        by=list(by),
        period=period,  # type: ignore[arg-type]
        date=date,
        fiscal_year_start=fiscal_year_start,
        as_of=as_of,
        on_invalid=on_invalid,
        output="arrow",
    )  # type: ignore[arg-type]
    _write(result, out_path)


@main.command(name="catalog")
def catalog_cmd() -> None:
    """List the KPIs kpiforge computes."""
    click.echo(catalog().to_string(index=False))


if __name__ == "__main__":  # pragma: no cover
    main()
