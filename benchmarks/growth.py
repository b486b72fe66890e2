"""How the KPI suite's cost grows with rows and with segments.

    python benchmarks/growth.py --rows 1_000_000,10_000_000 \\
        --segments 10,1000,100000,1000000 --repeat 3 --timeout 900 \\
        --stream-rows 10_000_000,100_000_000

Runs ``benchmarks/run.py`` (one subprocess per grid cell, ``--json``) for every
row count R in ``--rows`` (``--orders R --responses R --tickets R/5``) and every
segment count N in ``--segments`` (``--segments N``: a synthetic int64 column
``segment``, row i of a table in segment (i * 2654435761) mod N, exactly
min(N, rows) distinct values; see run.py). run.py generates and caches the data,
runs each engine in its own process, checks that all engines agree and reports
the best of ``--repeat`` suite runs and each engine's peak RSS. An engine that
times out, runs out of memory or crashes is shown as such in the table.

``--stream-rows`` measures kpiforge alone on more rows than are held in memory:
each table reaches ``kf.compute`` as a ``pyarrow.RecordBatchReader`` pulled from a
Python generator that repeats the batches of a cached ``--stream-base``-row table
(orders: a repetition prefix makes every repetition's customers new customers;
the ``segment`` column is computed per batch from the global row index, the same
formula as run.py's), so only the base table and kpiforge's own state are in
memory. It reports seconds, input rows per second and peak RSS, and, apart, the
seconds the generator itself needs to produce the batches ("feed").

Writes one Markdown file (``--md``: the tables, ready to paste into
benchmarks/README.md, with a link to the plot) and one self-contained SVG
(``--svg``: log-log, seconds against rows and seconds against segments, one line
per engine). Speed is never asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import importlib.util
import json
import math
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

HERE = Path(__file__).resolve().parent
ENGINES = ("kpiforge", "polars", "duckdb", "pandas")
# Table order; kpiforge-columns (run.py: kpiforge building only the compared
# columns) is measured when --engines names it.
ORDER = (ENGINES[0], "kpiforge-columns", *ENGINES[1:])
RUN = HERE / "run.py"
COLORS = {
    "kpiforge": "#c0392b",
    "kpiforge-columns": "#e67e22",
    "polars": "#2471a3",
    "duckdb": "#b7950b",
    "pandas": "#7d3c98",
}


@functools.cache
def load_run() -> Any:
    """benchmarks/run.py as a module (its suite, data cache and helpers)."""
    spec = importlib.util.spec_from_file_location("kpiforge_bench_run", RUN)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def size(text: str) -> int:
    value = float(text.replace("_", "")) if "e" in text.lower() else int(text.replace("_", ""))
    if value < 1 or value != int(value):
        raise argparse.ArgumentTypeError(f"a size must be a whole number >= 1, got {text!r}")
    return int(value)


def sizes(text: str) -> list[int]:
    """A comma-separated list of sizes: 1_000_000,10_000_000 or 1e6,1e7."""
    return [size(x.strip()) for x in text.split(",") if x.strip()]


def human(value: float) -> str:
    """1000 -> 1k, 10_000_000 -> 10M, 0.5 -> 0.5."""
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= div:
            return f"{value / div:g}{suffix}"
    return f"{value:g}"


def tickets_of(rows: int) -> int:
    return max(rows // 5, 1)


# ---------------------------------------------------------------------------
# The grid: run.py per (rows, segments)
# ---------------------------------------------------------------------------


def run_cell(args: argparse.Namespace, rows: int, segments: int) -> list[dict[str, Any]]:
    """run.py on one grid cell; one dict per engine, with a status."""
    with tempfile.TemporaryDirectory(prefix="kpiforge-growth-") as tmp:
        out = Path(tmp) / "run.json"
        command = [
            sys.executable,
            str(RUN),
            "--orders",
            str(rows),
            "--responses",
            str(rows),
            "--tickets",
            str(tickets_of(rows)),
            "--segments",
            str(segments),
            "--engines",
            ",".join(args.engines),
            "--repeat",
            str(args.repeat),
            "--rounds",
            str(args.rounds),
            "--seed",
            str(args.seed),
            "--cache",
            args.cache,
            "--json",
            str(out),
        ]
        if args.timeout:
            command += ["--timeout", str(args.timeout)]
        print(f"rows {rows:,}, segments {segments:,}: {' '.join(command[1:])}", flush=True)
        t0 = time.perf_counter()
        proc = subprocess.run(command, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        summary = json.loads(out.read_text()) if out.exists() else None
    base = {"rows": rows, "segments": segments, "repeat": args.repeat, "rounds": args.rounds}
    if summary is None:
        # run.py itself failed (data generation, a disagreement, ...): no numbers.
        tail = (proc.stderr or proc.stdout).strip().splitlines()
        reason = tail[-1] if tail else f"exit code {proc.returncode}"
        if proc.returncode < 0:
            reason = f"run.py killed by signal {-proc.returncode}"
        sys.stderr.write("\n".join(tail[-15:]) + "\n")
        print(f"  no result: {reason}", flush=True)
        return [{**base, "engine": e, "status": f"no result: {reason}"} for e in args.engines]
    if proc.returncode != 0:
        sys.stderr.write("\n".join(proc.stderr.strip().splitlines()[-15:]) + "\n")
    cells = []
    for r in summary["results"]:
        cell = {
            **base,
            "engine": r["engine"],
            "status": r["status"],
            "distinct": summary["segments"],
            "result_rows": summary["result_rows"],
        }
        for key in ("seconds", "ratio", "read_seconds", "peak_rss_mib", "parts", "version"):
            if key in r:
                cell[key] = r[key]
        cells.append(cell)
    shown = ", ".join(
        f"{c['engine']} {c['seconds']:.3f} s" if "seconds" in c else f"{c['engine']} {c['status']}"
        for c in cells
    )
    print(f"  {shown} ({wall:.0f} s with data and agreement check)", flush=True)
    return cells


# ---------------------------------------------------------------------------
# Streaming: kpiforge alone over a RecordBatchReader of repeated batches
# ---------------------------------------------------------------------------


def stream_batches(pieces: list[Any], schema: Any, total: int, segments: int) -> Any:
    """`total` rows as record batches: `pieces` over and over, with the segment column.

    In every repetition after the first, `customer_id` (where the table has it)
    gets a prefix r1-, r2-, ...: new customers. Row i (counted over all the
    batches) is in segment run.segment_values(i, 1, segments), as in run.py.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    bench = load_run()
    start, repetition = 0, 0
    while start < total:
        for batch in pieces:
            left = total - start
            if left <= 0:
                return
            if batch.num_rows > left:
                batch = batch.slice(0, left)
            columns = list(batch.columns)
            i = batch.schema.get_field_index("customer_id")
            if repetition and i >= 0:
                prefix = pa.scalar(f"r{repetition}-")
                columns[i] = pc.binary_join_element_wise(prefix, columns[i], "")
            segment = bench.segment_values(start, batch.num_rows, segments)
            columns.append(pa.array(segment, pa.int64()))
            yield pa.RecordBatch.from_arrays(columns, schema=schema)
            start += batch.num_rows
        repetition += 1


def stream_worker(args: argparse.Namespace) -> None:
    """In its own process: stream --rows rows per table through kpiforge, write stats JSON."""
    import gc

    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    bench = load_run()
    data = Path(args.data)
    as_of = dt.date.fromisoformat(args.as_of)
    totals = {"responses": args.rows, "orders": args.rows, "tickets": tickets_of(args.rows)}
    base = {
        name: pq.read_table(data / f"{name}.parquet", columns=bench.COLUMNS[name])
        for name in bench.TABLES
    }
    pieces = {name: table.to_batches(max_chunksize=args.batch) for name, table in base.items()}
    schemas = {
        name: table.schema.append(pa.field("segment", pa.int64())) for name, table in base.items()
    }
    rss_base = bench.memory_status().get("VmRSS", float("nan"))

    def batches(name: str) -> Any:
        return stream_batches(pieces[name], schemas[name], totals[name], args.segments)

    def readers() -> dict[str, Any]:
        return {
            name: pa.RecordBatchReader.from_batches(schemas[name], batches(name))
            for name in bench.TABLES
        }

    # What the generator alone costs: the same batches, pulled without kpiforge.
    t0 = time.perf_counter()
    for name in bench.TABLES:
        for _ in batches(name):
            pass
    feed_s = time.perf_counter() - t0

    runs: list[dict[str, float]] = []
    results: dict[str, Any] = {}
    for _ in range(args.repeat):
        results.clear()
        gc.collect()
        parts = bench.kpiforge_suite(readers(), "segment", as_of)
        run: dict[str, float] = {}
        for name in bench.TABLES:
            t0 = time.perf_counter()
            results[name] = parts[name]()
            run[name] = time.perf_counter() - t0
        run["total"] = sum(run.values())
        runs.append(run)
    memory = bench.memory_status()

    # Every row went through: the per-cell counts add up to the rows streamed.
    seen = {
        "orders": pc.sum(results["orders"]["otif_n"]).as_py(),
        "tickets": pc.sum(results["tickets"]["resolution_time_n"]).as_py(),
    }
    for name, n in seen.items():
        if n != totals[name]:
            raise SystemExit(f"{name}: kpiforge counted {n:,} rows of {totals[name]:,} streamed")
    segments = pa.chunked_array(
        [c for name in bench.TABLES for c in results[name]["segment"].chunks]
    ).unique()
    best = min(runs, key=lambda r: r["total"])
    stats = {
        "rows": totals,
        "input_rows": sum(totals.values()),
        "segments": args.segments,
        "distinct": len(segments),
        "result_rows": {name: results[name].num_rows for name in bench.TABLES},
        "base_rows": {name: table.num_rows for name, table in base.items()},
        "batch": args.batch,
        "seconds": best["total"],
        "parts": {name: min(r[name] for r in runs) for name in bench.TABLES},
        "runs": runs,
        "feed_seconds": feed_s,
        "rss_base_mib": rss_base,
        "peak_rss_mib": memory.get("VmHWM", memory["ru_maxrss"]),
    }
    Path(args.out).write_text(json.dumps(stats, indent=2))


def run_stream(args: argparse.Namespace, rows: int, segments: int) -> dict[str, Any]:
    """The stream worker in its own process (its own peak RSS); a dict with a status."""
    bench = load_run()
    base_rows = min(args.stream_base, rows)
    base_args = argparse.Namespace(
        orders=base_rows,
        responses=base_rows,
        tickets=tickets_of(base_rows),
        seed=args.seed,
        segments=None,
        cache=args.cache,
        repeat=1,
        by="rep_id",
    )
    data, meta = bench.ensure_data(base_args)
    cell: dict[str, Any] = {
        "rows": rows,
        "segments": segments,
        "base": base_rows,
        "batch": args.stream_batch,
        "repeat": args.stream_repeat,
    }
    with tempfile.TemporaryDirectory(prefix="kpiforge-stream-") as tmp:
        out = Path(tmp) / "stream.json"
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--stream-worker",
            "--rows",
            str(rows),
            "--segments",
            str(segments),
            "--batch",
            str(args.stream_batch),
            "--repeat",
            str(args.stream_repeat),
            "--data",
            str(data),
            "--as-of",
            meta["as_of"],
            "--out",
            str(out),
        ]
        print(
            f"streaming {rows:,} rows, {segments:,} segments through kpiforge "
            f"(batches of a cached {base_rows:,}-row table) ...",
            flush=True,
        )
        try:
            proc = subprocess.run(
                command, capture_output=True, text=True, timeout=args.timeout or None
            )
        except subprocess.TimeoutExpired:
            cell["status"] = f"timed out after {args.timeout:g} s"
            print(f"  {cell['status']}", flush=True)
            return cell
        if proc.returncode != 0 or not out.exists():
            if proc.returncode < 0:
                reason = f"killed by signal {-proc.returncode}"
                if -proc.returncode == 9:
                    reason += " (out of memory?)"
            else:
                tail = (proc.stderr or proc.stdout).strip().splitlines()
                reason = tail[-1] if tail else f"exit code {proc.returncode}"
                sys.stderr.write("\n".join(tail[-15:]) + "\n")
            cell["status"] = f"failed: {reason}"
            print(f"  {cell['status']}", flush=True)
            return cell
        stats = json.loads(out.read_text())
    cell.update(stats, status="ok", rows=rows, segments=segments)
    cell["rows_per_second"] = stats["input_rows"] / stats["seconds"]
    print(
        f"  {stats['seconds']:.3f} s (best of {args.stream_repeat}), "
        f"{cell['rows_per_second'] / 1e6:.1f} M input rows/s, feed alone "
        f"{stats['feed_seconds']:.2f} s, peak RSS {stats['peak_rss_mib']:.0f} MiB",
        flush=True,
    )
    return cell


# ---------------------------------------------------------------------------
# The tables: stdout and Markdown
# ---------------------------------------------------------------------------


def best_of(items: list[dict[str, Any]]) -> str:
    """The runs per cell: best of 3, or best of 2-5 where merged runs used different --repeat."""
    repeats = sorted({i["repeat"] for i in items if "repeat" in i})
    if not repeats:
        return "best of ?"
    runs = f"best of {repeats[0]}" if len(repeats) == 1 else f"best of {repeats[0]}-{repeats[-1]}"
    rounds = sorted({i.get("rounds", 1) for i in items})
    if rounds != [1]:
        shown = " / ".join(map(str, rounds))
        runs += f" in each of {shown} rounds (`run.py --rounds`), best round kept"
    return runs


def values(items: list[dict[str, Any]], key: str) -> str:
    return " / ".join(f"{v:,}" for v in sorted({i[key] for i in items if key in i}))


def seconds_cell(cell: dict[str, Any]) -> str:
    return f"{cell['seconds']:.3f}" if cell.get("status") == "ok" else cell.get("status", "?")


def grid_rows(cells: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for c in cells:
        ok = c.get("status") == "ok"
        rows.append(
            [
                f"{c['rows']:,}",
                f"{c['segments']:,}",
                f"{c['distinct']:,}" if "distinct" in c else "-",
                c["engine"],
                seconds_cell(c),
                f"{c['ratio']:.2f}" if ok and "ratio" in c else "-",
                f"{c['seconds'] / (c['rows'] / 1e6):.3f}" if ok else "-",
                f"{c['read_seconds']:.2f}" if ok else "-",
                f"{c['peak_rss_mib']:,.0f}" if ok else "-",
            ]
        )
    return rows


GRID_HEADER = [
    "rows",
    "segments",
    "distinct",
    "engine",
    "seconds",
    "× kpiforge",
    "s per M rows",
    "read s",
    "peak RSS MiB",
]


def growth_exponents(cells: list[dict[str, Any]]) -> list[list[str]]:
    """Per engine and segment count: b in seconds ~ rows^b between consecutive row counts."""
    out = []
    engines = list(dict.fromkeys(c["engine"] for c in cells))
    for engine in engines:
        for segments in sorted({c["segments"] for c in cells}):
            points = sorted(
                (c["rows"], c["seconds"])
                for c in cells
                if c["engine"] == engine and c["segments"] == segments and c["status"] == "ok"
            )
            steps = [
                f"{human(r1)}→{human(r2)}: {math.log(t2 / t1) / math.log(r2 / r1):.2f}"
                for (r1, t1), (r2, t2) in zip(points, points[1:], strict=False)
            ]
            if steps:
                out.append([engine, f"{segments:,}", "; ".join(steps)])
    return out


def segment_spread(cells: list[dict[str, Any]]) -> list[list[str]]:
    """Per engine and row count: slowest ÷ fastest over the segment counts."""
    out = []
    engines = list(dict.fromkeys(c["engine"] for c in cells))
    for engine in engines:
        for rows in sorted({c["rows"] for c in cells}):
            points = [
                (c["seconds"], c["segments"])
                for c in cells
                if c["engine"] == engine and c["rows"] == rows and c["status"] == "ok"
            ]
            if len(points) < 2:
                continue
            (fast, n_fast), (slow, n_slow) = min(points), max(points)
            out.append(
                [
                    engine,
                    f"{rows:,}",
                    f"{slow / fast:.2f}",
                    f"{fast:.3f} s at {n_fast:,}",
                    f"{slow:.3f} s at {n_slow:,}",
                ]
            )
    return out


STREAM_HEADER = [
    "rows",
    "segments",
    "distinct",
    "seconds",
    "M input rows/s",
    "feed s",
    "peak RSS MiB",
    "RSS with the base table MiB",
]


def stream_rows(streams: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for s in streams:
        ok = s.get("status") == "ok"
        rows.append(
            [
                f"{s['rows']:,}",
                f"{s['segments']:,}",
                f"{s['distinct']:,}" if ok else "-",
                seconds_cell(s),
                f"{s['rows_per_second'] / 1e6:.1f}" if ok else "-",
                f"{s['feed_seconds']:.2f}" if ok else "-",
                f"{s['peak_rss_mib']:,.0f}" if ok else "-",
                f"{s['rss_base_mib']:,.0f}" if ok else "-",
            ]
        )
    return rows


# Columns of text (engine, a list of growth exponents, ...) are left-aligned.
TEXT_COLUMNS = {"engine", "b", "fastest", "slowest"}


def text_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(x) for x in column) for column in zip(header, *rows, strict=False)]
    left = [h in TEXT_COLUMNS for h in header]

    def line(cells: list[str]) -> str:
        return "  ".join(
            x.ljust(w) if is_left else x.rjust(w)
            for x, w, is_left in zip(cells, widths, left, strict=True)
        ).rstrip()

    lines = [line(header), "  ".join("-" * w for w in widths)]
    return "\n".join(lines + [line(row) for row in rows])


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    align = ["---" if h in TEXT_COLUMNS else "---:" for h in header]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def markdown(
    args: argparse.Namespace,
    commands: list[str],
    info: dict[str, Any],
    cells: list[dict[str, Any]],
    streams: list[dict[str, Any]],
) -> str:
    parts = [
        " and ".join(f"`{c}`" for c in commands),
        "",
        f"Machine: {info['cores']} cores ({info['cpu']}), {info['memory_gib']} GiB, "
        f"{info['system']}, Python {info['python']}; load average at the end "
        f"{info['load_average']}; {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC.",
        "",
    ]
    if cells:
        versions = {c["engine"]: c["version"] for c in cells if "version" in c}
        parts += [
            f"Rows: orders = responses = rows, tickets = rows / 5. Segments: the synthetic "
            f"`segment` column (`run.py --segments N`); distinct: the segments in the result. "
            f"Seconds: the whole suite with the data in memory, {best_of(cells)} "
            "(runs per cell: `repeat` in --json); "
            f"× kpiforge: engine seconds ÷ kpiforge seconds; peak RSS includes the data. "
            f"Versions: {', '.join(f'{k} {v}' for k, v in versions.items())}.",
            "",
            markdown_table(GRID_HEADER, grid_rows(cells)),
            "",
        ]
        exponents = growth_exponents(cells)
        if exponents:
            parts += [
                "Growth with rows: b in seconds ∝ rows^b between consecutive row counts "
                "(1 is linear):",
                "",
                markdown_table(["engine", "segments", "b"], exponents),
                "",
            ]
        spread = segment_spread(cells)
        if spread:
            parts += [
                "Across segment counts at the same rows: slowest ÷ fastest:",
                "",
                markdown_table(["engine", "rows", "ratio", "fastest", "slowest"], spread),
                "",
            ]
    if streams:
        parts += [
            f"Streamed (kpiforge alone): each table as a `pyarrow.RecordBatchReader` of "
            f"{values(streams, 'batch')}-row batches repeating a cached table of "
            f"{values(streams, 'base')} rows (new customers in every repetition, the `segment` "
            f"column computed per batch); seconds: {best_of(streams)}, including "
            "the generator (feed s: the generator alone); input rows: orders + responses + "
            "tickets.",
            "",
            markdown_table(STREAM_HEADER, stream_rows(streams)),
            "",
        ]
    if args.svg:
        rel = os.path.relpath(Path(args.svg).resolve(), Path(args.md).resolve().parent)
        parts += [f"![Suite seconds against rows and against segments]({rel})", ""]
    return "\n".join(parts)


# ---------------------------------------------------------------------------
# The plot: plain SVG, log-log
# ---------------------------------------------------------------------------


class LogAxis:
    """A log10 scale from data values to pixels, with ticks."""

    def __init__(self, values: list[float], lo_px: float, hi_px: float) -> None:
        values = [v for v in values if v > 0] or [1.0]
        lo, hi = math.log10(min(values)), math.log10(max(values))
        if hi - lo < 0.5:
            mid = (hi + lo) / 2
            lo, hi = mid - 0.5, mid + 0.5
        pad = (hi - lo) * 0.08
        self.lo, self.hi = lo - pad, hi + pad
        self.lo_px, self.hi_px = lo_px, hi_px

    def __call__(self, value: float) -> float:
        f = (math.log10(value) - self.lo) / (self.hi - self.lo)
        return self.lo_px + f * (self.hi_px - self.lo_px)

    def ticks(self) -> list[float]:
        mantissas = (1,) if self.hi - self.lo > 3 else (1, 2, 5)
        out = []
        for k in range(math.floor(self.lo), math.ceil(self.hi) + 1):
            for m in mantissas:
                v = m * 10.0**k
                if self.lo <= math.log10(v) <= self.hi:
                    out.append(v)
        return out


def panel(
    x0: float,
    y0: float,
    width: float,
    height: float,
    title: str,
    xlabel: str,
    ylabel: str,
    series: list[dict[str, Any]],
    references: list[dict[str, Any]],
) -> list[str]:
    """One log-log panel: axes, grid, ticks, labels, one polyline per series."""
    xs = [x for s in series for x, _ in s["points"]]
    ys = [y for s in series for _, y in s["points"]] + [
        y for r in references for _, y in r["points"]
    ]
    xa = LogAxis(xs, x0, x0 + width)
    ya = LogAxis(ys, y0 + height, y0)
    out = [
        f'<text x="{x0 + width / 2:.1f}" y="{y0 - 12:.1f}" text-anchor="middle" '
        f'font-size="14" font-weight="bold">{escape(title)}</text>',
        f'<rect x="{x0}" y="{y0}" width="{width}" height="{height}" fill="none" '
        'stroke="#444" stroke-width="1"/>',
    ]
    for v in xa.ticks():
        px = xa(v)
        out.append(
            f'<line x1="{px:.1f}" y1="{y0}" x2="{px:.1f}" y2="{y0 + height}" stroke="#ddd"/>'
        )
        out.append(
            f'<text x="{px:.1f}" y="{y0 + height + 16:.1f}" text-anchor="middle" '
            f'font-size="11">{escape(human(v))}</text>'
        )
    for v in ya.ticks():
        py = ya(v)
        out.append(f'<line x1="{x0}" y1="{py:.1f}" x2="{x0 + width}" y2="{py:.1f}" stroke="#ddd"/>')
        out.append(
            f'<text x="{x0 - 6}" y="{py + 4:.1f}" text-anchor="end" font-size="11">'
            f"{escape(f'{v:g}')}</text>"
        )
    out.append(
        f'<text x="{x0 + width / 2:.1f}" y="{y0 + height + 38:.1f}" text-anchor="middle" '
        f'font-size="12">{escape(xlabel)}</text>'
    )
    cx, cy = x0 - 52, y0 + height / 2
    out.append(
        f'<text x="{cx:.1f}" y="{cy:.1f}" text-anchor="middle" font-size="12" '
        f'transform="rotate(-90 {cx:.1f} {cy:.1f})">{escape(ylabel)}</text>'
    )
    for r in references:
        pts = " ".join(f"{xa(x):.1f},{ya(y):.1f}" for x, y in r["points"])
        out.append(
            f'<polyline points="{pts}" fill="none" stroke="#888" stroke-width="1.2" '
            'stroke-dasharray="2,4"/>'
        )
        x, y = r["points"][-1]
        anchor = "end" if xa(x) > x0 + width / 2 else "start"
        out.append(
            f'<text x="{xa(x):.1f}" y="{ya(y) - 6:.1f}" text-anchor="{anchor}" '
            f'font-size="10" fill="#666">{escape(r["label"])}</text>'
        )
    for s in series:
        points = sorted(s["points"])
        pts = " ".join(f"{xa(x):.1f},{ya(y):.1f}" for x, y in points)
        dash = f' stroke-dasharray="{s["dash"]}"' if s.get("dash") else ""
        if len(points) > 1:
            out.append(
                f'<polyline points="{pts}" fill="none" stroke="{s["color"]}" '
                f'stroke-width="2"{dash}/>'
            )
        fill = "white" if s.get("dash") else s["color"]
        for x, y in points:
            out.append(
                f'<circle cx="{xa(x):.1f}" cy="{ya(y):.1f}" r="3.5" fill="{fill}" '
                f'stroke="{s["color"]}" stroke-width="1.5"><title>{escape(s["label"])}: '
                f"{escape(human(x))}, {y:.3f} s</title></circle>"
            )
    return out


def svg(
    args: argparse.Namespace,
    cells: list[dict[str, Any]],
    streams: list[dict[str, Any]],
) -> str:
    engines = list(dict.fromkeys(c["engine"] for c in cells))
    seg_counts = sorted({c["segments"] for c in cells})
    plot_segments = args.plot_segments or (seg_counts[0] if seg_counts else None)
    ok_rows = sorted({c["rows"] for c in cells if c["status"] == "ok"})
    plot_rows = args.plot_rows or (ok_rows[-1] if ok_rows else None)

    if plot_rows is None and streams:
        plot_rows = max(st["rows"] for st in streams)

    left: list[dict[str, Any]] = []
    right: list[dict[str, Any]] = []
    legend: list[dict[str, Any]] = []
    for engine in engines:
        color = COLORS.get(engine, "#333")
        mine = [c for c in cells if c["engine"] == engine]
        ok = [c for c in mine if c["status"] == "ok"]
        left_points = [(c["rows"], c["seconds"]) for c in ok if c["segments"] == plot_segments]
        right_points = [(c["segments"], c["seconds"]) for c in ok if c["rows"] == plot_rows]
        left.append({"label": engine, "color": color, "points": left_points})
        right.append({"label": engine, "color": color, "points": right_points})
        # Cells of either panel without a number: named in the legend.
        gone = [
            f"{human(c['rows'])} rows × {human(c['segments'])} segments: {c['status']}"
            for c in mine
            if c["status"] != "ok" and (c["segments"] == plot_segments or c["rows"] == plot_rows)
        ]
        label = engine + (f" (no result at {'; '.join(gone)})" if gone else "")
        legend.append({"label": label, "color": color})
    # Streamed runs: dashed kpiforge lines, one per segment count (left) and one
    # at plot_rows over the segment counts (right).
    dashes = ["6,4", "2,3", "10,3,2,3", "1,5"]
    color = COLORS["kpiforge"]
    stream_segments = sorted({st["segments"] for st in streams})
    for i, n in enumerate(stream_segments):
        mine = [st for st in streams if st["segments"] == n]
        points = [(st["rows"], st["seconds"]) for st in mine if st.get("status") == "ok"]
        label = f"kpiforge streamed, {n:,} segments"
        dash = dashes[i % len(dashes)]
        left.append({"label": label, "color": color, "points": points, "dash": dash})
        gone = [
            f"{human(st['rows'])} rows: {st['status']}" for st in mine if st.get("status") != "ok"
        ]
        if gone:
            label += f" (no result at {'; '.join(gone)})"
        legend.append({"label": label, "color": color, "dash": dash})
    at_rows = [st for st in streams if st["rows"] == plot_rows and st.get("status") == "ok"]
    if at_rows:
        label = f"kpiforge streamed, {human(plot_rows)} rows"
        points = [(st["segments"], st["seconds"]) for st in at_rows]
        right.append({"label": label, "color": color, "points": points, "dash": "3,3"})
        legend.append({"label": label + " (right panel)", "color": color, "dash": "3,3"})

    # References: time proportional to rows through the first line's smallest
    # point (kpiforge's where it has one), and twice kpiforge's fastest segment count.
    refs_left, refs_right = [], []
    xs_left = [x for line in left for x, _ in line["points"]]
    first = next((line for line in left if line["points"]), None)
    if first and len(set(xs_left)) > 1:
        (x1, y1), x2 = min(first["points"]), max(xs_left)
        refs_left.append({"label": "∝ rows", "points": [(x1, y1), (x2, y1 * x2 / x1)]})
    first = next((line for line in right if len(line["points"]) > 1), None)
    if first and first["label"].startswith("kpiforge"):
        lo, hi = min(x for x, _ in first["points"]), max(x for x, _ in first["points"])
        twice = 2 * min(y for _, y in first["points"])
        refs_right.append({"label": "2 × kpiforge's fastest", "points": [(lo, twice), (hi, twice)]})

    width, pw, ph = 1000, 380, 300
    top = 60
    legend_top = top + ph + 70
    height = legend_top + 20 * len(legend) + 20
    seconds = f"suite seconds ({best_of(cells)})" if cells else "suite seconds"
    if streams:
        seconds += f"; streamed: {best_of(streams)}" if cells else f" ({best_of(streams)})"
    rows_label = "rows (orders = responses; tickets = rows / 5)"
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="22" text-anchor="middle" font-size="16" '
        'font-weight="bold">How the KPI suite\'s cost grows (log-log)</text>',
    ]
    segments_title = f", {plot_segments:,} segments" if plot_segments else ""
    out += panel(
        90, top, pw, ph, f"Seconds vs rows{segments_title}", rows_label, seconds, left, refs_left
    )
    rows_title = f", {human(plot_rows)} rows" if plot_rows else ""
    out += panel(
        90 + pw + 130,
        top,
        pw,
        ph,
        f"Seconds vs segments{rows_title}",
        "segments (synthetic segment column)",
        seconds,
        right,
        refs_right,
    )
    for i, item in enumerate(legend):
        y = legend_top + 20 * i
        dash = f' stroke-dasharray="{item["dash"]}"' if item.get("dash") else ""
        out.append(
            f'<line x1="90" y1="{y}" x2="120" y2="{y}" stroke="{item["color"]}" '
            f'stroke-width="2"{dash}/>'
        )
        fill = "white" if item.get("dash") else item["color"]
        out.append(
            f'<circle cx="105" cy="{y}" r="3.5" fill="{fill}" stroke="{item["color"]}" '
            'stroke-width="1.5"/>'
        )
        out.append(f'<text x="128" y="{y + 4}" font-size="12">{escape(item["label"])}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n", 2)[2],
    )
    parser.add_argument(
        "--rows",
        type=sizes,
        default=[1_000_000, 10_000_000],
        help="row counts: orders = responses = R, tickets = R / 5 (default 1_000_000,10_000_000; "
        "empty for none)",
    )
    parser.add_argument(
        "--segments",
        type=sizes,
        default=[10, 1_000, 100_000, 1_000_000],
        help="segment counts of the synthetic segment column (run.py --segments; "
        "default 10,1000,100000,1000000)",
    )
    parser.add_argument("--engines", default=",".join(ENGINES), help="passed to run.py")
    parser.add_argument("--repeat", type=int, default=3, help="suite runs per engine (best kept)")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="passed to run.py: the engines run this many times in turn, each keeps its best round",
    )
    parser.add_argument("--timeout", type=float, default=0, help="seconds per engine (0: none)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", default=str(HERE / ".cache"), help="folder of cached Parquet")
    parser.add_argument(
        "--stream-rows",
        type=sizes,
        default=[],
        help="also stream this many rows per table through kpiforge alone (comma-separated)",
    )
    parser.add_argument(
        "--stream-segments",
        type=sizes,
        default=[1_000],
        help="segment counts of the streamed runs (default 1000)",
    )
    parser.add_argument(
        "--stream-base",
        type=size,
        default=1_000_000,
        help="rows of the cached table whose batches are repeated (default 1_000_000)",
    )
    parser.add_argument(
        "--stream-batch", type=size, default=1_000_000, help="rows per record batch"
    )
    parser.add_argument("--stream-repeat", type=int, default=1, help="streamed runs (best kept)")
    parser.add_argument("--md", default=str(HERE / "growth.md"), help="Markdown tables")
    parser.add_argument("--svg", default=str(HERE / "growth.svg"), help="SVG plot")
    parser.add_argument("--json", help="also write every cell's numbers to this JSON file")
    parser.add_argument(
        "--merge",
        type=lambda text: [x for x in text.split(",") if x],
        default=[],
        help="start from the cells of earlier --json files (comma-separated); a cell measured "
        "again here replaces the merged one. With --rows '' and no --stream-rows: only merge",
    )
    parser.add_argument("--plot-segments", type=size, help="segments of the rows panel")
    parser.add_argument("--plot-rows", type=size, help="rows of the segments panel")
    # The stream worker (internal).
    parser.add_argument("--stream-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=size, help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--as-of", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.stream_worker:
        args.rows, args.segments = args.rows[0], args.segments[0]
        stream_worker(args)
        return
    if args.repeat < 1 or args.stream_repeat < 1 or args.rounds < 1:
        parser.error("--repeat, --rounds and --stream-repeat must be at least 1")
    args.engines = [e.strip() for e in args.engines.split(",") if e.strip()]

    command = shlex.join(["python", "benchmarks/growth.py", *sys.argv[1:]])
    commands: list[str] = []
    cells: list[dict[str, Any]] = []
    streams: list[dict[str, Any]] = []
    for path in args.merge:
        payload = json.loads(Path(path).read_text())
        commands += payload.get("commands", [payload.get("command", path)])
        cells += payload["grid"]
        streams += payload["streams"]
    commands.append(command)
    for rows in args.rows:
        for segments in args.segments:
            cells += run_cell(args, rows, segments)
    streams += [run_stream(args, r, n) for r in args.stream_rows for n in args.stream_segments]
    # A cell measured twice (merged files, then this run): the last one counts.
    order = {e: i for i, e in enumerate(ORDER)}
    cells = sorted(
        {(c["rows"], c["segments"], c["engine"]): c for c in cells}.values(),
        key=lambda c: (c["rows"], c["segments"], order.get(c["engine"], len(order)), c["engine"]),
    )
    streams = sorted(
        {(st["rows"], st["segments"]): st for st in streams}.values(),
        key=lambda st: (st["rows"], st["segments"]),
    )

    info = load_run().machine()
    print()
    if cells:
        print(text_table(GRID_HEADER, grid_rows(cells)))
        exponents = growth_exponents(cells)
        if exponents:
            print("\ngrowth with rows (b in seconds ~ rows^b; 1 is linear)")
            print(text_table(["engine", "segments", "b"], exponents))
        spread = segment_spread(cells)
        if spread:
            print("\nacross segment counts: slowest / fastest at the same rows")
            print(text_table(["engine", "rows", "ratio", "fastest", "slowest"], spread))
    if streams:
        print("\nstreamed through kpiforge (RecordBatchReader)")
        print(text_table(STREAM_HEADER, stream_rows(streams)))
    print(
        f"\nmachine: {info['cores']} cores ({info['cpu']}), {info['memory_gib']} GiB; "
        f"load average {info['load_average']}"
    )

    if args.svg:
        Path(args.svg).write_text(svg(args, cells, streams), encoding="utf-8")
        print(f"wrote {args.svg}")
    if args.md:
        Path(args.md).write_text(markdown(args, commands, info, cells, streams), encoding="utf-8")
        print(f"wrote {args.md}")
    if args.json:
        payload = {"commands": commands, "machine": info, "grid": cells, "streams": streams}
        Path(args.json).write_text(json.dumps(payload, indent=2, default=str))
        print(f"wrote {args.json}")
    failed = [c for c in cells + streams if c.get("status") != "ok"]
    if failed:
        print(f"\n{len(failed)} of {len(cells) + len(streams)} measurements have no result")
    # Timeouts and out-of-memory kills are results of a kind; a crash or a
    # disagreement between engines is not.
    limits = ("timed out", "signal", "out of memory")
    broken = [c for c in failed if not any(word in c["status"] for word in limits)]
    if broken:
        sys.exit(f"FAILED: {len(broken)} measurements crashed or disagreed (see above)")


if __name__ == "__main__":
    main()
