"""HTML scorecards: one self-contained page per segment plus an index.

:func:`render_scorecards` turns the long scorecard DataFrame of
:func:`kpiforge.scorecard` (one row per segment × period × KPI) into static
HTML pages that need nothing else: the CSS is inline, the sparklines are inline
SVG, there are no fonts, images or scripts to fetch (the index has a few lines
of inline script that make its columns sortable; without it the page reads the
same). Every page prints on A4.

Colour never carries meaning alone: a status is a badge with a symbol and a
word (✓ on target, ! near target, ✗ off target), a change has an arrow, a sign
and the words better/worse, and every chart has a text description.

The output is deterministic: the same card gives the same bytes (there is no
timestamp in the pages), so the pages can be committed, diffed and cached.

Formatting by ``unit``: ``%`` one decimal (``96.4%``), changes in percentage
points (``+2.1 pp``); ``points`` (NPS) signed integers (``+42``); ``score``
two decimals; ``hours`` one decimal (``3.2 h``); ``days`` one decimal;
``currency`` thousands separators (no decimals from 100 up; the currency code
is taken from ``card.attrs["currency"]`` if there is one); ``orders``,
``customers`` and other counts as integers (one decimal when the value is not
whole, e.g. orders per customer). Changes of rates, NPS, scores and durations are
shown as absolute differences; changes of amounts and counts as a percentage with
the absolute difference beside it. Negative numbers use the minus sign ``−``.

Example:
    >>> import pandas as pd
    >>> card = pd.DataFrame({"partner_id": ["P1"], "period": ["2025-Q3"], "kpi": ["nps"],
    ...                      "label": ["Net Promoter Score"], "unit": ["points"],
    ...                      "direction": ["higher"], "value": [42.0], "target": [50.0],
    ...                      "status": ["amber"]})
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as out:
    ...     paths = render_scorecards(card, out)
    ...     [p.name for p in paths]
    ['index.html', 'p1.html']
"""

from __future__ import annotations

import decimal
import functools
import hashlib
import json
import math
import os
import pathlib
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from kpiforge.exceptions import KpiInputError

__all__ = ["render_scorecards"]

#: Columns a card must have (besides its segment columns); every other
#: documented column is optional and shown when present.
REQUIRED_COLUMNS = ("period", "kpi", "value")

_NUMERIC_COLUMNS = (
    "value",
    "n",
    "ci_low",
    "ci_high",
    "shrunk",
    "target",
    "qoq",
    "qoq_pct",
    "yoy",
    "yoy_pct",
    "rank",
    "peers",
    "percentile",
)
_KNOWN_COLUMNS = frozenset(
    (
        *REQUIRED_COLUMNS,
        *_NUMERIC_COLUMNS,
        "period_start",
        "partial",
        "label",
        "unit",
        "direction",
        "status",
        "significant",
        "flags",
    )
)

MINUS = "\u2212"
_STATUS = {
    "green": ("✓", "On target"),
    "amber": ("!", "Near target"),
    "red": ("✗", "Off target"),
}
_STATUS_ORDER = ("red", "amber", "green")
# Rates, NPS, scores and durations: a change is an absolute difference (a relative
# change of a rate reads badly: 50% -> 55% is "+10%").
_ABSOLUTE_CHANGE_UNITS = frozenset({"%", "points", "score", "hours", "days"})
_COUNT_UNITS = frozenset({"orders", "customers", "count", "leads", "contacts", "quotes"})
_RESERVED_NAMES = frozenset(
    {"index", "con", "prn", "aux", "nul"}
    | {f"com{i}" for i in range(10)}
    | {f"lpt{i}" for i in range(10)}
)
_SPARK_W, _SPARK_H, _SPARK_PAD = 220.0, 48.0, 5.0


# ---- public API ------------------------------------------------------------------------


def render_scorecards(
    card: pd.DataFrame,
    out_dir: str | os.PathLike[str],
    *,
    title: str | None = None,
    period: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[pathlib.Path]:
    """Write one self-contained HTML scorecard per segment, plus ``index.html``.

    Args:
        card: the scorecard, as returned by :func:`kpiforge.scorecard`: one row per
            segment × period × KPI, segment columns first, then ``period``, ``kpi``,
            ``value`` (required) and the optional ``period_start``, ``partial``,
            ``label``, ``unit``, ``direction``, ``n``, ``ci_low``, ``ci_high``,
            ``shrunk``, ``target``, ``status``, ``qoq(_pct)``, ``yoy(_pct)``,
            ``significant``, ``rank``, ``peers``, ``percentile``, ``flags``. The
            segment columns are ``card.attrs["segments"]`` if set, else the columns
            before ``period``. Periods other than the scorecard period are its history
            (sparklines and the history table); periods after it are ignored.
        out_dir: the folder to write to (created if needed). Files already there with
            other names are left alone.
        title: the title of the set, e.g. ``"Partner scorecards"``; default
            ``card.attrs["title"]``, else built from the segment columns.
        period: the scorecard period (a label such as ``"2025-Q3"``); default
            ``card.attrs["period"]``, else the latest period in the card.
        progress: called after each page is written with the number of pages written
            so far (1, 2, ..., number of segments + 1; the index is written last).

    Returns:
        The paths written: ``index.html`` first, then one page per segment in the
        order the segments first appear in the card. A page's file name is the
        slugified segment values (several segment columns are joined with ``_``),
        e.g. ``north_r-07.html``; names that would collide (also on case-insensitive
        file systems) or be empty get a short hash of the segment values appended,
        so names are unique and the same for the same segment every time.

    Raises:
        KpiInputError: the card is empty, lacks a required column, has a column of
            the wrong type, an unknown ``status`` or ``direction``, two rows for the
            same segment, period and KPI, or ``period`` is not in it.

    Example:
        >>> import tempfile
        >>> import kpiforge as kf
        >>> demo = kf.demo.generate(n_orders=5_000)
        >>> card = kf.scorecard(orders=demo.orders, by="region", period="2026-Q3")
        >>> paths = kf.render_scorecards(card, tempfile.mkdtemp())
        >>> paths[0].name, len(paths) == card["region"].nunique() + 1  # the index, then a page each
        ('index.html', True)
    """
    model = _build_model(card, title=title, period=period)
    env = _environment()
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    seg_template = env.get_template("segment.html.j2")
    written: list[pathlib.Path] = []
    for k, page in enumerate(model.pages, start=1):
        html = seg_template.render(site=model.site, page=page)
        path = out / page["filename"]
        _write(path, html)
        written.append(path)
        if progress is not None:
            progress(k)

    index_html = env.get_template("index.html.j2").render(site=model.site, rows=model.index_rows)
    index_path = out / "index.html"
    _write(index_path, index_html)
    if progress is not None:
        progress(len(model.pages) + 1)
    return [index_path, *written]


# ---- environment and output --------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _environment() -> Any:
    try:
        import jinja2
    except ImportError as err:  # pragma: no cover - depends on the installation
        raise ImportError("kpiforge.render_scorecards needs Jinja2: pip install jinja2") from err
    loader: jinja2.BaseLoader
    try:
        loader = jinja2.PackageLoader("kpiforge", "templates")
    except (ValueError, ModuleNotFoundError):  # pragma: no cover - unusual installs
        loader = jinja2.FileSystemLoader(pathlib.Path(__file__).with_name("templates"))
    return jinja2.Environment(
        loader=loader,
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html", "htm", "xml", "j2"), default=True
        ),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _write(path: pathlib.Path, text: str) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("kpiforge")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return ""


# ---- number formatting --------------------------------------------------------------------


def _num(x: Any) -> float | None:
    """A float, or None for None / NaN / NA / NaT / anything not a number."""
    if x is None or x is pd.NA or x is pd.NaT:
        return None
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) or math.isinf(f) else f


def _number(v: float, decimals: int, *, sign: bool = False, trim: bool = False) -> str:
    """``v`` rounded half away from zero (as a reader rounds: 88.25 -> 88.3), with
    thousands separators, a ``+`` for positive numbers if ``sign`` and ``−`` for negative
    ones; ``trim`` drops trailing zeros of the decimals."""
    q = decimal.Decimal(repr(float(v))).quantize(
        decimal.Decimal(1).scaleb(-decimals), rounding=decimal.ROUND_HALF_UP
    )
    if q == 0:
        q = abs(q)  # no "-0"
    text = f"{q:{'+' if sign and q != 0 else ''},.{decimals}f}"
    if trim and "." in text:
        text = text.rstrip("0").rstrip(".")
    return text.replace("-", MINUS)


def _is_whole(v: float) -> bool:
    return abs(v - round(v)) < 1e-9


def format_value(
    v: Any, unit: str, *, currency: str = "", sign: bool = False, trim: bool = False
) -> str:
    """Format a KPI value (or, with ``sign=True``, a difference) for its unit.

    Units are separated from the number by a narrow no-break space (U+202F) where
    they are letters (``3.2 h``, ``+2.1 pp``), so they never wrap onto a line of
    their own.

    >>> format_value(96.44, "%"), format_value(42.4, "points"), format_value(-3, "points")
    ('96.4%', '+42', '−3')
    >>> format_value(1234567.8, "currency"), format_value(17, "orders")
    ('1,234,568', '17')
    >>> format_value(2, "%", sign=True) == "+2.0\N{NARROW NO-BREAK SPACE}pp"
    True
    >>> format_value(float("nan"), "%")
    '—'
    """
    x = _num(v)
    if x is None:
        return "—"
    unit = unit or ""
    dec = _decimals(unit, x)
    if unit == "%":
        return _number(x, dec, sign=sign, trim=trim) + ("\u202fpp" if sign else "%")
    if unit == "points":
        text = _number(x, dec, sign=True)
        return text + (" pt" if abs(round(x)) == 1 else " pts") if sign else text
    if unit in _COUNT_UNITS:
        return _number(x, dec, sign=sign)
    text = _number(x, dec, sign=sign, trim=trim)
    suffix = {"hours": "\u202fh", "days": " days", "score": ""}.get(unit)
    if suffix is not None:
        return text + suffix
    if unit == "currency":
        return f"{text} {currency}" if currency else text
    return f"{text} {unit}" if unit else text


def _decimals(unit: str, x: float) -> int:
    if unit in ("%", "hours", "days"):
        return 1
    if unit == "points":
        return 0
    if unit == "score":
        return 2
    if unit == "currency":
        return 0 if abs(x) >= 100 else 2
    if _is_whole(x):
        return 0
    return 1 if unit in _COUNT_UNITS else 2


def _format_pct_change(p: float) -> str:
    return _number(p, 1, sign=True) + "%"


# ---- slugs --------------------------------------------------------------------------------


def _slug_part(v: Any) -> str:
    if v is None:
        return "none"
    text = unicodedata.normalize("NFKD", _display(v)).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60].strip("-")


def _file_names(keys: Sequence[tuple[Any, ...]]) -> list[str]:
    """Unique, deterministic, file-system-safe names (without suffix) for segment keys."""
    bases = []
    for key in keys:
        parts = [_slug_part(v) for v in key] or ["all"]
        base = "_".join(p or "" for p in parts)[:120].strip("_-")
        bases.append((base, any(p == "" for p in parts)))
    counts: dict[str, int] = {}
    for base, _ in bases:
        counts[base] = counts.get(base, 0) + 1
    names: list[str] = []
    taken: set[str] = set()
    for key, (base, lossy) in zip(keys, bases, strict=True):
        name = base
        if lossy or not base or counts[base] > 1 or base in _RESERVED_NAMES:
            raw = json.dumps([None if v is None else str(v) for v in key], ensure_ascii=False)
            digest = hashlib.sha1(raw.encode("utf-8")).hexdigest()[:8]
            name = f"{base}-{digest}" if base else f"segment-{digest}"
        unique, i = name, 2
        while unique in taken:
            unique, i = f"{name}-{i}", i + 1
        taken.add(unique)
        names.append(unique)
    return names


# ---- reading the card ---------------------------------------------------------------------


def _normalize_key_value(v: Any) -> Any:
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    if hasattr(v, "item") and not isinstance(v, pd.Timestamp):
        try:
            v = v.item()
        except (ValueError, TypeError):
            pass
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def _display(v: Any) -> str:
    if v is None:
        return "(none)"
    if isinstance(v, pd.Timestamp):
        return v.date().isoformat() if v == v.normalize() and v.tzinfo is None else v.isoformat()
    if isinstance(v, float) and _is_whole(v):
        return str(int(v))
    return str(v)


def _humanize(column: str) -> str:
    name = re.sub(r"(_id|_code|_key)$", "", str(column)).replace("_", " ").strip()
    return (name[:1].upper() + name[1:]) if name else str(column)


def _flags(x: Any) -> list[str]:
    if x is None or x is pd.NA:
        return []
    if isinstance(x, float) and math.isnan(x):
        return []
    if isinstance(x, str):
        return [x] if x else []
    try:
        return [str(f) for f in x if f is not None and str(f) != ""]
    except TypeError:
        return [str(x)]


def _opt_bool(x: Any) -> bool | None:
    if x is None or x is pd.NA:
        return None
    if isinstance(x, float) and math.isnan(x):
        return None
    return bool(x)


def _text(x: Any) -> str | None:
    if x is None or x is pd.NA:
        return None
    if isinstance(x, float) and math.isnan(x):
        return None
    return str(x)


@dataclass
class _Model:
    site: dict[str, Any]
    pages: list[dict[str, Any]] = field(default_factory=list)
    index_rows: list[dict[str, Any]] = field(default_factory=list)


def _segment_columns(card: pd.DataFrame) -> list[str]:
    segs = card.attrs.get("segments")
    if segs is None:
        cols = list(card.columns)
        if "period" not in cols:
            raise KpiInputError("the scorecard has no 'period' column", column="period")
        return [str(c) for c in cols[: cols.index("period")]]
    if isinstance(segs, str):
        segs = [segs]
    segs = [str(s) for s in segs]
    missing = [s for s in segs if s not in card.columns]
    if missing:
        raise KpiInputError(
            f"the scorecard's segment column(s) {missing} (card.attrs['segments']) "
            f"are not in it; its columns are {list(map(str, card.columns))}",
            column=missing[0],
        )
    return segs


def _validate(card: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    if not isinstance(card, pd.DataFrame):
        raise KpiInputError(
            f"render_scorecards needs the pandas DataFrame of kpiforge.scorecard, "
            f"not {type(card).__name__}"
        )
    missing = [c for c in REQUIRED_COLUMNS if c not in card.columns]
    if missing:
        raise KpiInputError(
            f"the scorecard lacks the column(s) {missing}; it needs segment column(s), "
            f"then {list(REQUIRED_COLUMNS)} (and optionally label, unit, direction, n, "
            f"ci_low, ci_high, target, status, ...); its columns are "
            f"{list(map(str, card.columns))}",
            column=missing[0],
        )
    segs = _segment_columns(card)
    clash = [s for s in segs if s in _KNOWN_COLUMNS]
    if clash:
        raise KpiInputError(
            f"the column(s) {clash} cannot be segment columns of a scorecard", column=clash[0]
        )
    if len(card) == 0:
        raise KpiInputError("the scorecard is empty: there is nothing to render")
    df = card.copy()
    for col in _NUMERIC_COLUMNS:
        if col not in df.columns:
            continue
        coerced = pd.to_numeric(df[col], errors="coerce")
        bad = df[col][coerced.isna() & df[col].notna()]
        if len(bad):
            raise KpiInputError(
                f"the scorecard column {col!r} must be numeric; {len(bad)} row(s) are not, "
                f"e.g. {bad.iloc[0]!r}",
                column=col,
                count=len(bad),
                example=str(bad.iloc[0]),
            )
        df[col] = coerced.astype("float64")
    if df["period"].isna().any():
        raise KpiInputError(
            "the scorecard has rows without a period",
            column="period",
            count=int(df["period"].isna().sum()),
        )
    if df["kpi"].isna().any():
        raise KpiInputError(
            "the scorecard has rows without a kpi", column="kpi", count=int(df["kpi"].isna().sum())
        )
    for col, allowed in (("status", ("green", "amber", "red")), ("direction", ("higher", "lower"))):
        if col not in df.columns:
            continue
        values = df[col].map(_text)
        bad = values[values.notna() & ~values.isin(allowed)]
        if len(bad):
            raise KpiInputError(
                f"the scorecard column {col!r} must be one of {list(allowed)} or empty; "
                f"{len(bad)} row(s) are not, e.g. {bad.iloc[0]!r}",
                column=col,
                count=len(bad),
                example=str(bad.iloc[0]),
            )
    return df, segs


def _period_order(df: pd.DataFrame) -> list[str]:
    labels = df["period"].astype(str)
    if "period_start" in df.columns:
        starts = pd.to_datetime(df["period_start"], errors="coerce")
        if getattr(starts.dt, "tz", None) is not None:
            starts = starts.dt.tz_convert("UTC").dt.tz_localize(None)
        first = pd.DataFrame({"p": labels, "s": starts}).groupby("p", sort=False)["s"].min()
        lowest = pd.Timestamp.min
        return sorted(
            first.index,
            key=lambda p: (pd.isna(first[p]), lowest if pd.isna(first[p]) else first[p], p),
        )
    return sorted(labels.unique())


# ---- view models ------------------------------------------------------------------------


def _build_model(card: pd.DataFrame, *, title: str | None, period: str | None) -> _Model:
    df, segs = _validate(card)
    attrs = card.attrs
    order = _period_order(df)
    chosen = period if period is not None else attrs.get("period")
    if chosen is None:
        chosen = order[-1]
    chosen = str(chosen)
    if chosen not in order:
        raise KpiInputError(
            f"the period {chosen!r} is not in the scorecard; it has {order}",
            column="period",
            example=chosen,
        )
    history = order[: order.index(chosen) + 1]
    partial_periods: set[str] = set()
    if "partial" in df.columns:
        partial_periods = set(
            df.loc[df["partial"].map(lambda x: bool(_opt_bool(x))), "period"].astype(str)
        )

    currency = str(attrs.get("currency") or "")
    confidence = _num(attrs.get("confidence")) or 0.95
    conf_label = f"{_number(confidence * 100 if confidence <= 1 else confidence, 1, trim=True)}%"

    records = df.to_dict("records")
    kpi_order: list[str] = []
    meta: dict[str, dict[str, Any]] = {}
    segments: dict[tuple[Any, ...], dict[tuple[str, str], dict[str, Any]]] = {}
    for r in records:
        r["period"] = p = str(r["period"])
        r["kpi"] = k = str(r["kpi"])
        key = tuple(_normalize_key_value(r[c]) for c in segs)
        cells = segments.setdefault(key, {})
        if (p, k) in cells:
            seg_text = ", ".join(f"{c}={_display(v)}" for c, v in zip(segs, key, strict=True))
            raise KpiInputError(
                f"the scorecard has more than one row for {seg_text or 'the segment'}, "
                f"period {p}, kpi {k}",
                column="kpi",
                example=k,
            )
        cells[(p, k)] = r
        if k not in meta:
            kpi_order.append(k)
            meta[k] = {}
        m = meta[k]
        for col in ("label", "unit", "direction"):
            if m.get(col) is None and _text(r.get(col)) is not None:
                m[col] = _text(r.get(col))
    for k in kpi_order:
        meta[k].setdefault("label", None)
        meta[k]["label"] = meta[k]["label"] or k
        meta[k]["unit"] = meta[k].get("unit") or ""
        meta[k]["direction"] = meta[k].get("direction")

    # the periods one before and one year before the scorecard period, by label
    prev_label = history[-2] if len(history) > 1 else None
    year_label = _year_earlier(df, chosen)
    change_abbrev = _change_abbrev(chosen)

    seg_names = [_humanize(c) for c in segs]
    if title is None:
        title = _text(attrs.get("title")) or (
            f"{' / '.join(seg_names)} scorecards" if seg_names else "Scorecard"
        )
    site = {
        "title": title,
        "period": chosen,
        "partial": chosen in partial_periods,
        "version": _version(),
        "segment_names": seg_names,
        "n_segments": len(segments),
        "conf_label": conf_label,
        "history": [{"label": p, "partial": p in partial_periods} for p in history],
    }
    model = _Model(site=site)

    keys = list(segments)
    names = _file_names(keys)
    for order_i, (key, name) in enumerate(zip(keys, names, strict=True)):
        cells = segments[key]
        kpis = [k for k in kpi_order if any((p, k) in cells for p in history)]
        current = [cells[(chosen, k)] for k in kpis if (chosen, k) in cells]
        flags: list[str] = []
        for r in current:
            for f in _flags(r.get("flags")):
                if f not in flags:
                    flags.append(f)
        tiles = []
        used_ids: set[str] = set()
        for k in kpis:
            tile = _tile(
                k,
                meta[k],
                cells,
                history,
                chosen,
                partial_periods,
                currency=currency,
                conf_label=conf_label,
                prev_label=prev_label,
                year_label=year_label,
                change_abbrev=change_abbrev,
            )
            tid = "kpi-" + (_slug_part(k) or "x")
            base, i = tid, 2
            while tid in used_ids:
                tid, i = f"{base}-{i}", i + 1
            used_ids.add(tid)
            tile["id"] = tid
            tiles.append(tile)
        counts = {s: sum(1 for t in tiles if t["status"] == s) for s in (*_STATUS_ORDER, "none")}
        counts["no_data"] = sum(1 for t in tiles if t["value"] is None)
        counts["no_target"] = counts["none"] - counts["no_data"]
        segment_parts = [
            {"name": n, "value": _display(v)} for n, v in zip(seg_names, key, strict=True)
        ]
        display = " · ".join(p["value"] for p in segment_parts) or "All"
        page = {
            "filename": f"{name}.html",
            "display": display,
            "parts": segment_parts,
            "flags": [_split_flag(f) for f in flags],
            "tiles": tiles,
            "counts": counts,
            "has_current": bool(current),
            "table": _history_table(tiles),
        }
        model.pages.append(page)
        model.index_rows.append(
            {
                "href": page["filename"],
                "parts": segment_parts,
                "display": display,
                "counts": counts,
                "flags": page["flags"],
                "has_current": bool(current),
                "order": order_i,
            }
        )
    model.index_rows.sort(
        key=lambda r: (
            -r["counts"]["red"],
            -r["counts"]["amber"],
            -len(r["flags"]),
            not r["has_current"],
            r["order"],
        )
    )
    for i, row in enumerate(model.index_rows, start=1):
        row["position"] = i
    site["n_flagged"] = sum(1 for r in model.index_rows if r["flags"])
    site["totals"] = {
        s: sum(r["counts"][s] for r in model.index_rows) for s in (*_STATUS_ORDER, "none")
    }
    return model


def _year_earlier(df: pd.DataFrame, chosen: str) -> str | None:
    if "period_start" not in df.columns:
        m = re.fullmatch(r"(FY)?(\d{4})(.*)", chosen)
        if m:
            label = f"{m.group(1) or ''}{int(m.group(2)) - 1}{m.group(3)}"
            return label if (df["period"].astype(str) == label).any() else None
        return None
    starts = pd.to_datetime(df["period_start"], errors="coerce")
    mine = starts[df["period"].astype(str) == chosen].dropna()
    if mine.empty:
        return None
    target = mine.iloc[0] - pd.DateOffset(years=1)
    hit = df.loc[starts == target, "period"]
    return str(hit.iloc[0]) if len(hit) else None


_CHANGE_ABBREV = {"quarter": "QoQ", "week": "WoW", "month": "MoM", "year": "YoY", "day": "DoD"}


def _change_abbrev(label: str) -> str:
    from kpiforge.scorecard import period_unit_of

    return _CHANGE_ABBREV.get(period_unit_of(label) or "", "Change")


def _split_flag(text: str) -> dict[str, str]:
    name, sep, reason = text.partition(":")
    if sep and name.strip() and reason.strip() and len(name) <= 40:
        return {"name": name.strip(), "reason": reason.strip(), "text": text}
    return {"name": "", "reason": text.strip(), "text": text}


def _status_of(r: dict[str, Any] | None) -> str:
    if r is None:
        return "none"
    s = _text(r.get("status"))
    return s if s in _STATUS else "none"


def _tile(
    k: str,
    m: dict[str, Any],
    cells: dict[tuple[str, str], dict[str, Any]],
    history: list[str],
    chosen: str,
    partial_periods: set[str],
    *,
    currency: str,
    conf_label: str,
    prev_label: str | None,
    year_label: str | None,
    change_abbrev: str,
) -> dict[str, Any]:
    unit, direction = m["unit"], m["direction"]
    r = cells.get((chosen, k))
    fmt = functools.partial(format_value, unit=unit, currency=currency)
    value = _num(r.get("value")) if r else None
    target = _num(r.get("target")) if r else None
    status = _status_of(r)
    if status != "none":
        symbol, status_text = _STATUS[status]
    elif r is None or value is None:
        symbol, status_text = "–", "No data"
    elif target is None:
        symbol, status_text = "–", "No target"
    else:
        symbol, status_text = "–", "No status"

    target_text = None
    if target is not None:
        op = {"higher": "≥ ", "lower": "≤ "}.get(direction or "", "")
        target_text = f"target {op}{fmt(target, trim=True)}"

    ci_text = None
    lo, hi = (_num(r.get("ci_low")), _num(r.get("ci_high"))) if r else (None, None)
    if value is not None and lo is not None and hi is not None:
        ci_text = f"{conf_label} CI {fmt(lo)} to {fmt(hi)}"
    n = _num(r.get("n")) if r else None
    n_text = f"n = {_number(n, 0)}" if n is not None else None

    changes = []
    if r is not None and value is not None:
        rows = [(change_abbrev, "qoq", prev_label), ("YoY", "yoy", year_label)]
        if change_abbrev == "YoY":  # yearly periods: the previous period is a year earlier
            rows = rows[:1]
        for abbrev, col, vs in rows:
            ch = _change(r, col, unit, direction, fmt)
            if ch is None:
                continue
            ch["abbrev"] = abbrev
            ch["vs"] = (
                f"vs {vs}"
                if vs
                else ("vs previous period" if col == "qoq" else "vs a year earlier")
            )
            if col == "qoq":
                sig = _opt_bool(r.get("significant"))
                ch["sig"] = None if sig is None else ("significant" if sig else "not significant")
            else:
                ch["sig"] = None
            changes.append(ch)

    peers_text = None
    if r is not None and value is not None:
        rank, peers, pct = _num(r.get("rank")), _num(r.get("peers")), _num(r.get("percentile"))
        parts = []
        if rank is not None:
            parts.append(
                f"rank {_number(rank, 0)} of {_number(peers, 0)}"
                if peers is not None
                else f"rank {_number(rank, 0)}"
            )
        if pct is not None and (peers is None or peers > 1):
            parts.append(f"better than {_number(pct, 0)}% of peers")
        if peers is not None and peers <= 1 and rank is None:
            parts.append("no peers to compare with")
        peers_text = " · ".join(parts) or None

    shrunk_note = None
    shrunk = _num(r.get("shrunk")) if r else None
    if value is not None and shrunk is not None and _material(value, shrunk, lo, hi):
        if fmt(shrunk) != fmt(value):
            shrunk_note = (
                f"Small sample: adjusted for its size (empirical Bayes), the estimate is "
                f"{fmt(shrunk)} rather than {fmt(value)}; peer ranks should use the adjusted one."
            )

    spark = _sparkline(m["label"], unit, direction, cells, k, history, partial_periods, fmt, target)
    return {
        "kpi": k,
        "label": m["label"],
        "unit": unit,
        "present": r is not None,
        "value": value,
        "value_text": fmt(value),
        "status": status,
        "symbol": symbol,
        "status_text": status_text,
        "target_text": target_text,
        "ci_text": ci_text,
        "n_text": n_text,
        "changes": changes,
        "peers_text": peers_text,
        "shrunk_note": shrunk_note,
        "spark": spark,
        "history": [
            {
                "period": p,
                "text": fmt(_num(cells[(p, k)].get("value"))) if (p, k) in cells else "—",
                "status": _status_of(cells.get((p, k))),
            }
            for p in history
        ],
    }


def _material(value: float, shrunk: float, lo: float | None, hi: float | None) -> bool:
    """Whether the shrunk estimate differs from the raw one enough to say so.

    Material = more than a fifth of the interval's half-width (large samples have
    narrow intervals and shrink by less than that), or, without an interval, by more
    than 5% of the value.
    """
    diff = abs(shrunk - value)
    if lo is not None and hi is not None and hi > lo:
        return diff > 0.2 * (hi - lo) / 2
    return diff > 0.05 * max(abs(value), 1e-12)


def _change(
    r: dict[str, Any], col: str, unit: str, direction: str | None, fmt: Callable[..., str]
) -> dict[str, Any] | None:
    d, p = _num(r.get(col)), _num(r.get(f"{col}_pct"))
    if unit in _ABSOLUTE_CHANGE_UNITS or (p is None and d is not None):
        if d is None:
            return None
        text, moved = fmt(d, sign=True), d
        zero = _number(d, _decimals(unit, d)) in ("0", "0.0", "0.00")
    elif p is not None:
        text = _format_pct_change(p) + (f" ({fmt(d, sign=True)})" if d is not None else "")
        moved, zero = p, _number(p, 1) == "0.0"
    else:
        return None
    if zero:
        return {"arrow": "→", "text": text, "verdict": "no change", "tone": "flat"}
    up = moved > 0
    if direction in ("higher", "lower"):
        better = up == (direction == "higher")
        verdict, tone = ("better", "better") if better else ("worse", "worse")
    else:
        verdict, tone = ("up" if up else "down"), "flat"
    return {"arrow": "▲" if up else "▼", "text": text, "verdict": verdict, "tone": tone}


def _sparkline(
    label: str,
    unit: str,
    direction: str | None,
    cells: dict[tuple[str, str], dict[str, Any]],
    k: str,
    history: list[str],
    partial_periods: set[str],
    fmt: Callable[..., str],
    target: float | None,
) -> dict[str, Any] | None:
    values = [_num(cells[(p, k)].get("value")) if (p, k) in cells else None for p in history]
    valid = [(i, v) for i, v in enumerate(values) if v is not None]
    if len(history) < 2 or not valid:
        return None
    lo = min(v for _, v in valid)
    hi = max(v for _, v in valid)
    if target is not None:
        lo, hi = min(lo, target), max(hi, target)
    if hi - lo < 1e-12:
        pad = abs(hi) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    w, h, pad = _SPARK_W, _SPARK_H, _SPARK_PAD
    step = (w - 2 * pad) / (len(history) - 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        return pad + i * step, pad + (hi - v) / (hi - lo) * (h - 2 * pad)

    paths, run = [], []
    for i, v in enumerate(values + [None]):
        if v is not None:
            run.append(xy(i, v))
            continue
        if len(run) > 1:
            paths.append("M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in run))
        run = []
    points = []
    for i, v in valid:
        x, y = xy(i, v)
        points.append(
            {
                "x": f"{x:.1f}",
                "y": f"{y:.1f}",
                "last": i == len(history) - 1,
                "partial": history[i] in partial_periods,
            }
        )
    gaps = [
        {"x": f"{pad + i * step:.1f}", "period": history[i]}
        for i, v in enumerate(values)
        if v is None
    ]
    target_y = None
    if target is not None:
        target_y = f"{xy(0, target)[1]:.1f}"

    # the text description, for screen readers (aria-label) and as a tooltip
    (i0, v0), (i1, v1) = valid[0], valid[-1]
    if len(valid) == 1:
        desc = f"only {history[i0]} has a value: {fmt(v0)}"
    elif fmt(v0) == fmt(v1):
        desc = f"unchanged at {fmt(v1)} from {history[i0]} to {history[i1]}"
    else:
        verb = "rose" if v1 > v0 else "fell"
        desc = f"{verb} from {fmt(v0)} in {history[i0]} to {fmt(v1)} in {history[i1]}"
        if direction in ("higher", "lower"):
            desc += " (better)" if (v1 > v0) == (direction == "higher") else " (worse)"
    if gaps:
        desc += "; no value for " + ", ".join(g["period"] for g in gaps)
    if target is not None:
        op = {"higher": "≥ ", "lower": "≤ "}.get(direction or "", "")
        desc += f"; target {op}{fmt(target, trim=True)}"
    if history[-1] in partial_periods:
        desc += f"; {history[-1]} is a partial period"
    return {
        "width": f"{w:.0f}",
        "height": f"{h:.0f}",
        "paths": paths,
        "points": points,
        "gaps": gaps,
        "target_y": target_y,
        "aria": f"{label}, {history[0]} to {history[-1]}: {desc}",
        "first": history[0],
        "last": history[-1],
    }


def _history_table(tiles: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "rows": [{"label": t["label"], "id": t["id"], "cells": t["history"]} for t in tiles],
    }
