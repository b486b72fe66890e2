"""The ``kpiforge`` command line, for scheduled pipelines (Airflow, cron).

    kpiforge demo --out scorecards/
    kpiforge scorecards --orders orders.parquet --surveys responses.parquet \\
        --tickets tickets.parquet --quotes quotes.parquet \\
        --by partner_id --period 2025-Q3 --out scorecards/
    kpiforge compute responses.parquet --kpi nps --kpi csat --by rep_id --period quarter \\
        --out survey_kpis.parquet

Exit code 0 on success; on bad input a one-line message on stderr and exit code 2.
A progress bar shows on a terminal, never with ``--quiet`` or in a log file.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import click
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from kpiforge import demo as _demo
from kpiforge.exceptions import KpiforgeError, KpiInputError
from kpiforge.kpis import catalog, compute
from kpiforge.render import render_scorecards
from kpiforge.scorecard import scorecard
from kpiforge.targets import Targets

PERIODS = click.Choice(["day", "week", "month", "quarter", "year"])


def _read(path: Path, option: str) -> pa.Table:
    if not path.exists():
        raise KpiInputError(f"{option}: no such file: {path}", column=option)
    try:
        if path.suffix.lower() in _CSV_SUFFIXES:
            return pacsv.read_csv(path)
        return pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as err:
        raise KpiInputError(
            f"{option}: cannot read {path} as Parquet or CSV: {err}", column=option
        ) from err


# Output formats by file suffix (the suffixes _read takes as CSV are CSV here too).
_CSV_SUFFIXES = (".csv", ".txt")
_PARQUET_SUFFIXES = (".parquet", ".pq")


def _check_out(path: Path, option: str) -> None:
    """Refuse an output suffix that names no format, before any work is done."""
    if path.suffix.lower() not in (*_CSV_SUFFIXES, *_PARQUET_SUFFIXES):
        raise KpiInputError(
            f"{option}: {path} must end in .parquet or .csv (got {path.suffix or 'no suffix'!r})",
            column=option,
        )


def _write(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in _CSV_SUFFIXES:
        pacsv.write_csv(table, path)
    else:
        pq.write_table(table, path)


class _Cli(click.Group):
    """Turns kpiforge errors into one clear line and exit code 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KpiforgeError as err:
            click.echo(f"kpiforge: error: {str(err).splitlines()[0]}", err=True)
            sys.exit(2)


class _Steps:
    """Progress on a terminal: a line per step and a bar while pages are written."""

    def __init__(self, quiet: bool) -> None:
        self.show = not quiet and sys.stderr.isatty()
        self.quiet = quiet

    def step(self, message: str) -> None:
        if self.show:
            click.echo(f"  {message}...", err=True)

    @contextlib.contextmanager
    def bar(self, total: int, label: str) -> Iterator[Callable[[int], None]]:
        if not self.show:
            yield lambda _k: None
            return
        with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
            yield lambda _k: bar.update(1)


def _scorecards(
    tables: dict[str, pa.Table],
    by: Sequence[str],
    period: str | None,
    out_dir: Path,
    targets: Targets,
    periods_back: int,
    fiscal_year_start: int,
    on_invalid: str,
    steps: _Steps,
) -> tuple[Any, list[Path]]:
    steps.step(f"computing KPIs per {', '.join(by)}")
    card = scorecard(
        **tables,
        by=list(by),
        period=period,
        targets=targets,
        periods_back=periods_back,
        fiscal_year_start=fiscal_year_start,
        on_invalid=on_invalid,  # type: ignore[arg-type]  # click.Choice checked it
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    flat = card.assign(flags=card["flags"].map(list))
    pq.write_table(pa.Table.from_pandas(flat, preserve_index=False), out_dir / "scorecard.parquet")
    segments = card[list(by)].drop_duplicates()
    with steps.bar(len(segments) + 1, "writing scorecards") as tick:
        paths = render_scorecards(card, out_dir, progress=tick)
    return card, paths


def _summary(card: Any, by: Sequence[str], paths: list[Path], out_dir: Path) -> None:
    period = card.attrs["period"]
    current = card[card["period"] == period]
    counts = current["status"].value_counts()
    flagged = current.drop_duplicates(list(by))["flags"].map(len).gt(0).sum()
    click.echo(
        f"Scorecards for {period}: {len(paths) - 1} {'/'.join(by)} pages, "
        f"{counts.get('green', 0)} green / {counts.get('amber', 0)} amber / "
        f"{counts.get('red', 0)} red KPIs, {flagged} flagged."
    )
    click.echo(f"Open {out_dir / 'index.html'}; the tidy table is {out_dir / 'scorecard.parquet'}.")


def _targets(path: Path | None, by: Sequence[str]) -> Targets:
    targets = Targets.building_materials()
    if path is None:
        return targets
    table = _read(path, "--targets").to_pandas()
    return targets.with_segment_targets(table, segment=list(by))


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="kpiforge")
def main() -> None:
    """Compute sales and customer-experience KPIs and write partner and rep scorecards.

    \b
    Try it:   kpiforge demo --out scorecards/
    Your data: kpiforge scorecards --orders orders.parquet --surveys responses.parquet \\
                 --by partner_id --period 2025-Q3 --out scorecards/
    """


@main.command()
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    required=True,
    help="Folder for the scorecards (created if missing).",
)
@click.option(
    "--orders",
    "n_orders",
    type=click.IntRange(min=1000),
    default=100_000,
    show_default=True,
    help="Size of the demo data, in orders.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option(
    "--by",
    default="partner_id",
    show_default=True,
    help="Segment: partner_id, rep_id, region or customer_id.",
)
@click.option(
    "--period",
    default=None,
    help="Scorecard period, e.g. 2026-Q2 (default: latest complete quarter).",
)
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
def demo(out_dir: Path, n_orders: int, seed: int, by: str, period: str | None, quiet: bool) -> None:
    """Generate a demo distributor's data and write its scorecards to OUT.

    Writes OUT/index.html, one page per segment, OUT/scorecard.parquet (the tidy
    table), and the demo tables as Parquet under OUT/data/ so that
    `kpiforge scorecards` can be tried on them.
    """
    steps = _Steps(quiet)
    steps.step(f"generating demo data ({n_orders:,} orders)")
    data = _demo.generate(n_orders=n_orders, seed=seed)
    for name, table in data.items():
        _write(table, out_dir / "data" / f"{name}.parquet")
    tables = {
        "responses": data.responses,
        "orders": data.orders,
        "tickets": data.tickets,
        "quotes": data.quotes,
    }
    card, paths = _scorecards(
        tables, [by], period, out_dir, Targets.building_materials(), 4, 1, "raise", steps
    )
    if not quiet:
        _summary(card, [by], paths, out_dir)


@main.command(name="scorecards")
@click.option("--orders", type=click.Path(path_type=Path), help="Orders, Parquet or CSV.")
@click.option(
    "--surveys",
    type=click.Path(path_type=Path),
    help="Survey responses (NPS, CSAT, CES), Parquet or CSV.",
)
@click.option("--tickets", type=click.Path(path_type=Path), help="Service tickets.")
@click.option("--quotes", type=click.Path(path_type=Path), help="Quote requests.")
@click.option(
    "--by",
    multiple=True,
    required=True,
    help="Segment column, e.g. partner_id or rep_id (repeat for several).",
)
@click.option(
    "--period",
    default=None,
    help="Scorecard period: 2025-Q3, FY2026-Q1, 2025-07 (default: latest complete).",
)
@click.option(
    "--targets",
    "targets_path",
    type=click.Path(path_type=Path),
    help="Per-segment targets: a table with the --by column(s), kpi and target.",
)
@click.option(
    "--periods-back",
    type=click.IntRange(0, 40),
    default=4,
    show_default=True,
    help="Earlier periods shown as trend.",
)
@click.option(
    "--fiscal-year-start",
    type=click.IntRange(1, 12),
    default=1,
    show_default=True,
    help="First month of the fiscal year.",
)
@click.option(
    "--on-invalid",
    type=click.Choice(["raise", "drop"]),
    default="raise",
    show_default=True,
    help="Stop on bad rows, or drop and count them.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    required=True,
    help="Folder for the HTML pages and scorecard.parquet.",
)
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
def scorecards_cmd(
    orders: Path | None,
    surveys: Path | None,
    tickets: Path | None,
    quotes: Path | None,
    by: Sequence[str],
    period: str | None,
    targets_path: Path | None,
    periods_back: int,
    fiscal_year_start: int,
    on_invalid: str,
    out_dir: Path,
    quiet: bool,
) -> None:
    """Write one HTML scorecard per segment, an index, and the tidy scorecard table."""
    steps = _Steps(quiet)
    files = {
        "orders": (orders, "--orders"),
        "responses": (surveys, "--surveys"),
        "tickets": (tickets, "--tickets"),
        "quotes": (quotes, "--quotes"),
    }
    steps.step("reading tables")
    tables = {name: _read(path, opt) for name, (path, opt) in files.items() if path is not None}
    if not tables:
        raise KpiInputError("give at least one table: --orders, --surveys, --tickets or --quotes")
    card, paths = _scorecards(
        tables,
        by,
        period,
        out_dir,
        _targets(targets_path, by),
        periods_back,
        fiscal_year_start,
        on_invalid,
        steps,
    )
    if not quiet:
        _summary(card, by, paths, out_dir)


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
    "--column",
    "columns",
    multiple=True,
    help="Only this KPI column (repeat for several; default: all). The --by and period "
    "columns always come.",
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
    columns: Sequence[str],
    out_path: Path,
) -> None:
    """Compute KPIs over TABLE (Parquet or CSV) and write them to --out."""
    _check_out(out_path, "--out")
    result = compute(
        _read(table, "TABLE"),
        list(kpis),
        by=list(by),
        period=period,  # type: ignore[arg-type]
        date=date,
        fiscal_year_start=fiscal_year_start,
        as_of=as_of,
        on_invalid=on_invalid,  # type: ignore[arg-type]  # click.Choice checked it
        output="arrow",
        columns=list(columns) or None,
    )
    _write(result, out_path)


@main.command(name="catalog")
def catalog_cmd() -> None:
    """List the KPIs kpiforge computes."""
    click.echo(
        catalog()[
            ["name", "family", "table", "value_column", "unit", "direction", "target"]
        ].to_string(index=False)
    )


if __name__ == "__main__":  # pragma: no cover
    main()
