"""The kpiforge command line: demo, scorecards, compute, errors."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import kpiforge as kf
from kpiforge.cli import main


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    result = CliRunner().invoke(
        main, ["demo", "--out", str(out), "--orders", "5000", "--by", "rep_id"]
    )
    assert result.exit_code == 0, result.output
    assert "Scorecards for" in result.output
    return out


def test_demo_writes_pages_table_and_data(demo_dir: Path) -> None:
    assert (demo_dir / "index.html").exists()
    pages = [p for p in demo_dir.glob("*.html") if p.name != "index.html"]
    card = pq.read_table(demo_dir / "scorecard.parquet").to_pandas()
    assert len(pages) == card["rep_id"].nunique() >= 3
    assert {"kpi", "value", "status", "flags"} <= set(card.columns)
    assert (demo_dir / "data" / "orders.parquet").exists()


def test_scorecards_from_files(demo_dir: Path, tmp_path: Path) -> None:
    data = demo_dir / "data"
    out = tmp_path / "cards"
    targets = tmp_path / "targets.csv"
    targets.write_text("region,kpi,target\nNorth,otif_pct,50\n")
    args = [
        "scorecards",
        "--orders",
        str(data / "orders.parquet"),
        "--surveys",
        str(data / "responses.parquet"),
        "--tickets",
        str(data / "tickets.parquet"),
        "--by",
        "region",
        "--period",
        "2026-Q2",
        "--targets",
        str(targets),
        "--out",
        str(out),
        "--quiet",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert result.output == ""  # --quiet
    card = pq.read_table(out / "scorecard.parquet").to_pandas()
    north = card[(card.region == "North") & (card.kpi == "otif_pct")]
    assert (north.target == 50).all()
    assert len(list(out.glob("*.html"))) == card.region.nunique() + 1


def test_compute_command(demo_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "nps.csv"
    result = CliRunner().invoke(
        main,
        [
            "compute",
            str(demo_dir / "data" / "responses.parquet"),
            "--kpi",
            "nps",
            "--kpi",
            "csat",
            "--by",
            "region",
            "--period",
            "quarter",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith('"region","period"')
    # --column: just those KPI columns, beside the segment and period ones.
    small = tmp_path / "small.parquet"
    args = ["compute", str(demo_dir / "data" / "responses.parquet"), "--kpi", "nps"]
    args += ["--kpi", "csat", "--by", "region", "--period", "quarter"]
    result = CliRunner().invoke(
        main, [*args, "--column", "nps", "--column", "csat_mean", "--out", str(small)]
    )
    assert result.exit_code == 0, result.output
    columns = pq.read_table(small).column_names
    assert columns == ["region", "period", "period_start", "partial", "nps", "csat_mean"]
    result = CliRunner().invoke(main, [*args, "--column", "npss", "--out", str(small)])
    assert result.exit_code == 2 and "no column 'npss'" in result.output


def test_compute_output_format_follows_the_suffix(demo_dir: Path, tmp_path: Path) -> None:
    args = ["compute", str(demo_dir / "data" / "responses.parquet"), "--kpi", "nps"]
    # .txt is read as CSV, so it is written as CSV too (it was written as Parquet).
    text = tmp_path / "nps.txt"
    assert CliRunner().invoke(main, [*args, "--out", str(text)]).exit_code == 0
    assert text.read_text().startswith('"n","missing"')
    for name in ("nps.json", "nps"):
        result = CliRunner().invoke(main, [*args, "--out", str(tmp_path / name)])
        assert result.exit_code == 2 and "must end in .parquet or .csv" in result.output
        assert not (tmp_path / name).exists()


def test_bad_input_is_one_line_and_exit_code_2(demo_dir: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        main,
        [
            "scorecards",
            "--orders",
            str(tmp_path / "missing.parquet"),
            "--by",
            "region",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 2
    assert result.output.strip().startswith("kpiforge: error:")
    assert len(result.output.strip().splitlines()) == 1
    result = runner.invoke(
        main,
        [
            "scorecards",
            "--orders",
            str(demo_dir / "data" / "orders.parquet"),
            "--by",
            "regoin",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 2 and "Did you mean 'region'" in result.output
    result = runner.invoke(
        main,
        [
            "compute",
            str(demo_dir / "data" / "orders.parquet"),
            "--kpi",
            "nsp",
            "--out",
            str(tmp_path / "x.parquet"),
        ],
    )
    assert result.exit_code == 2 and "Did you mean 'nps'" in result.output


def test_help_explains_the_commands() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for word in ("demo", "scorecards", "compute", "catalog"):
        assert word in result.output
    result = CliRunner().invoke(main, ["scorecards", "--help"])
    assert "--by" in result.output and "--period" in result.output
    assert kf.__version__
