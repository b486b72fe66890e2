"""HTML scorecards (kpiforge.render): files, content, well-formedness, determinism, errors."""

from __future__ import annotations

import math
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kpiforge.exceptions import KpiInputError
from kpiforge.render import _file_names, format_value, render_scorecards

PERIODS = ["2024-Q3", "2024-Q4", "2025-Q1", "2025-Q2", "2025-Q3"]
STARTS = pd.to_datetime(["2024-07-01", "2024-10-01", "2025-01-01", "2025-04-01", "2025-07-01"])
NAN = float("nan")

# kpi -> label, unit, direction, target
KPIS = {
    "nps": ("Net Promoter Score", "points", "higher", 50.0),
    "otif_pct": ("On time in full", "%", "higher", 95.0),
    "resolution_p50_hours": ("Resolution time (median)", "hours", "lower", 24.0),
    "csat_mean": ("CSAT (mean)", "score", "higher", 4.0),
    "revenue": ("Revenue", "currency", "higher", NAN),
    "orders": ("Orders", "orders", "higher", NAN),
}

HALF = {  # interval half-widths
    "nps": 6.5,
    "otif_pct": 2.1,
    "resolution_p50_hours": 3.0,
    "csat_mean": 0.08,
    "revenue": 40_000.0,
    "orders": 20.0,
}

# segment -> kpi -> values over PERIODS (the last one is the scorecard period)
VALUES = {
    "ACME-01": {
        "nps": [48, 45, 40, 38, 42.4],
        "otif_pct": [96.1, 94.0, 93.2, 90.5, 88.25],
        "resolution_p50_hours": [20.0, 22.5, 26.0, 30.1, 31.26],
        "csat_mean": [4.3, 4.2, 4.1, 4.05, 3.87],
        "revenue": [1_250_000, 1_310_000, 1_100_000, 1_480_000, 962_000.4],
        "orders": [410, 420, 380, 450, 301],
    },
    "Böhm & <Söhne>": {
        "nps": [55, 58, 61, 60, 63],
        "otif_pct": [97.0, 97.5, 96.0, 96.4, 97.04],
        "resolution_p50_hours": [18.0, 15.5, 16.0, 14.2, 12.0],
        "csat_mean": [4.4, 4.5, 4.5, 4.6, 4.62],
        "revenue": [800_000, 820_000, 790_000, 850_000, 870_000],
        "orders": [210, 220, 205, 230, 240],
    },
    "Nordbau 03": {  # a small partner: OTIF mostly undefined, few responses
        "nps": [30, NAN, 10, 20, 25],
        "otif_pct": [NAN, NAN, 91.0, NAN, NAN],
        "resolution_p50_hours": [25.0, 23.0, 22.0, 24.5, 25.0],
        "csat_mean": [4.0, 3.9, NAN, 4.1, 4.05],
        "revenue": [90_000, 95_000, 88_000, 91_000, 97_000],
        "orders": [31, 30, 28, 33, 35],
    },
}
FLAGS = {
    "ACME-01": [
        "at risk: 3 KPIs red (nps, otif_pct, resolution_p50_hours)",
        "churn risk: revenue -35% QoQ",
    ],
    "Böhm & <Söhne>": [],
    "Nordbau 03": ["low response: NPS from 9 responses"],
}


def _status(value: float, target: float, direction: str) -> str | None:
    if math.isnan(value) or math.isnan(target):
        return None
    ratio = value / target if direction == "higher" else target / value
    if ratio >= 1:
        return "green"
    return "amber" if ratio >= 0.9 else "red"


def make_card(segment_col: str = "partner_id") -> pd.DataFrame:
    rows = []
    peers = len(VALUES)
    for kpi, (label, unit, direction, target) in KPIS.items():
        # rank per period among the segments (1 = best)
        for pi, (period, start) in enumerate(zip(PERIODS, STARTS, strict=True)):
            vals = {s: float(v[kpi][pi]) for s, v in VALUES.items()}
            valid = sorted(
                (s for s in vals if not math.isnan(vals[s])),
                key=lambda s: -vals[s] if direction == "higher" else vals[s],
            )
            for seg, v in vals.items():
                prev = VALUES[seg][kpi][pi - 1] if pi > 0 else NAN
                small = seg == "Nordbau 03"
                n = 9 if small else 412
                half = HALF[kpi] * (3 if small else 1)
                rank = valid.index(seg) + 1 if seg in valid else NAN
                rows.append(
                    {
                        segment_col: seg,
                        "period": period,
                        "period_start": start,
                        "partial": period == "2025-Q3",
                        "kpi": kpi,
                        "label": label,
                        "unit": unit,
                        "direction": direction,
                        "value": v,
                        "n": 0 if math.isnan(v) else n,
                        "ci_low": NAN if math.isnan(v) else v - half,
                        "ci_high": NAN if math.isnan(v) else v + half,
                        "shrunk": NAN
                        if math.isnan(v)
                        else v + HALF[kpi] * (0.9 if small else 0.02),
                        "target": target,
                        "status": _status(v, target, direction),
                        "qoq": v - prev,
                        "qoq_pct": (v - prev) / prev * 100,
                        "yoy": NAN,
                        "yoy_pct": NAN,
                        "significant": None if math.isnan(v - prev) else (not small),
                        "rank": rank,
                        "peers": peers,
                        "percentile": NAN if math.isnan(rank) else (peers - rank) / peers * 100,
                        "flags": list(FLAGS[seg]),
                    }
                )
    card = pd.DataFrame(rows)
    card.attrs["period"] = "2025-Q3"
    return card


class Balance(HTMLParser):
    """Checks that every non-void element is closed, in order."""

    VOID = {"meta", "br", "img", "link", "input", "hr", "wbr", "col", "source", "area", "base"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.counts: dict[str, int] = {}
        self.attrs: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.counts[tag] = self.counts.get(tag, 0) + 1
        self.attrs.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.counts[tag] = self.counts.get(tag, 0) + 1
        self.attrs.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:]} at {self.getpos()}")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> Balance:
    b = Balance()
    b.feed(html)
    b.close()
    return b


def text_of(html: str) -> str:
    """The visible text (tags removed, entities decoded, whitespace collapsed)."""
    return re.sub(r"[ \t\r\n]+", " ", "".join(parse(html).text))


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], list[int]]:
    calls: list[int] = []
    out = tmp_path_factory.mktemp("cards")
    paths = render_scorecards(make_card(), out, title="Partner scorecards", progress=calls.append)
    return paths, calls


def page_for(paths: list[Path], segment: str) -> str:
    for p in paths[1:]:
        html = p.read_text(encoding="utf-8")
        if re.search(r"<h1>(.*?)</h1>", html).group(1) == segment.replace("&", "&amp;").replace(
            "<", "&lt;"
        ).replace(">", "&gt;"):
            return html
    raise AssertionError(f"no page for {segment}")


# ---- files -------------------------------------------------------------------------


def test_files_written(rendered: tuple[list[Path], list[int]]) -> None:
    paths, calls = rendered
    assert paths[0].name == "index.html"
    assert len(paths) == 1 + len(VALUES)
    assert all(p.is_file() and p.stat().st_size > 1000 for p in paths)
    assert len({p.name for p in paths}) == len(paths)
    assert all(re.fullmatch(r"[a-z0-9_-]+\.html", p.name) for p in paths)
    assert [p.name for p in paths[1:]] == ["acme-01.html", "bohm-sohne.html", "nordbau-03.html"]
    assert calls == [1, 2, 3, 4]


def test_index_lists_segments_worst_first(rendered: tuple[list[Path], list[int]]) -> None:
    paths, _ = rendered
    html = paths[0].read_text(encoding="utf-8")
    links = re.findall(r'<th scope="row"><a href="([^"]+)">', html)
    # ACME: 2 off target + 2 near; Nordbau: 1 + 1 (fewer flags); Böhm: none off or near
    assert links == ["acme-01.html", "nordbau-03.html", "bohm-sohne.html"]
    text = text_of(html)
    assert "Böhm & <Söhne>" in text  # escaped in the HTML, intact as text
    assert "&lt;Söhne&gt;" in html and "<Söhne>" not in html
    assert "at risk: 3 KPIs red (nps, otif_pct, resolution_p50_hours)" in text
    assert "low response: NPS from 9 responses" in text
    assert "Partial period" in text
    assert "<script>" in html  # the sort script, inline
    assert '<span class="sort-hint" hidden>' in html  # its hint shows only with script
    for p in paths[1:]:
        assert f'href="{p.name}"' in html


def test_segment_page_content(rendered: tuple[list[Path], list[int]]) -> None:
    paths, _ = rendered
    text = text_of(page_for(paths, "ACME-01"))
    # header
    assert "ACME-01" in text and "2025-Q3" in text and "Partial period" in text
    assert "Generated by kpiforge" in text
    # flags with their reasons, first thing in main
    main = text[text.index("Skip to content") :]
    assert "2 flags for 2025-Q3" in main
    assert main.index("at risk") < main.index("Net Promoter Score")
    assert "churn risk: revenue -35% QoQ" in text
    # values, targets, status as text with a symbol, intervals, n
    for fragment in [
        "+42",
        "target ≥ +50",
        "95% CI +36 to +49",
        "95% CI 28.3\u202fh to 34.3\u202fh",
        "n = 412",
        "88.3%",
        "target ≥ 95%",
        "95% CI 86.2% to 90.4%",
        "95% CI 3.79 to 3.95",
        "31.3\u202fh",
        "target ≤ 24\u202fh",
        "3.87",
        "target ≥ 4",
        "962,000",
        "301",
        "✗Off target",
        "!Near target",
        "–No target",
    ]:
        assert fragment in text, fragment
    # changes: arrow, sign, verdict, significance
    assert "QoQ▲ +4 pts vs 2025-Q2 · better · significant" in text
    assert "▼ −2.3\u202fpp vs 2025-Q2 · worse · significant" in text
    assert "▼ −35.0% (−518,000) vs 2025-Q2 · worse" in text
    assert "▲ +1.2\u202fh vs 2025-Q2 · worse" in text
    # peers
    assert "rank 2 of 3 · better than 33% of peers" in text
    # history table
    assert "2025-Q3 (partial)" in text
    for p in PERIODS:
        assert p in text


def test_small_segment_page(rendered: tuple[list[Path], list[int]]) -> None:
    paths, _ = rendered
    html = page_for(paths, "Nordbau 03")
    text = text_of(html)
    assert "not significant" in text
    assert "Small sample" in text  # shrunk estimate differs materially
    assert "✗1 off target !1 near target ✓1 on target –2 no target –1 no data" in text
    assert "+31 rather than +25" in text
    # OTIF undefined this period: no value, no status, no interval
    tile = html[html.index('id="kpi-otif-pct"') :]
    tile = tile[: tile.index("</article>")]
    tile_text = text_of(tile)
    assert "—" in tile_text and "No data" in tile_text and "CI" not in tile_text
    # its sparkline marks the gaps and says so
    assert "no value for 2024-Q3, 2024-Q4, 2025-Q2, 2025-Q3" in tile
    assert 'class="gap"' in tile


def test_escaping(rendered: tuple[list[Path], list[int]]) -> None:
    paths, _ = rendered
    html = page_for(paths, "Böhm & <Söhne>")
    assert "Böhm &amp; &lt;Söhne&gt;" in html
    assert "<Söhne>" not in html
    assert "No flags for 2025-Q3." in text_of(html)


def test_well_formed(rendered: tuple[list[Path], list[int]]) -> None:
    paths, _ = rendered
    for p in paths:
        html = p.read_text(encoding="utf-8")
        assert html.startswith('<!doctype html>\n<html lang="en">')
        b = parse(html)
        assert b.errors == [], (p.name, b.errors[:3])
        assert b.stack == [], (p.name, b.stack)
        head = html[: html.index("</head>")]
        assert head.count("<title>") == 1 and head.count("<style>") == 1
        for tag in ("html", "head", "body", "header", "main", "footer", "h1", "style"):
            assert b.counts.get(tag) == 1, (p.name, tag)
        for tag, attrs in b.attrs:
            if tag == "th":
                assert attrs.get("scope") in ("col", "row"), p.name
        ids = [a["id"] for _, a in b.attrs if "id" in a]
        assert len(ids) == len(set(ids)), p.name


def test_self_contained(rendered: tuple[list[Path], list[int]]) -> None:
    paths, _ = rendered
    for p in paths:
        html = p.read_text(encoding="utf-8")
        assert "http://" not in html and "https://" not in html, p.name
        assert "<link" not in html and "@import" not in html and "url(" not in html
        assert not re.search(r"\ssrc=", html)
        assert "@media print" in html


def test_sparklines(rendered: tuple[list[Path], list[int]]) -> None:
    paths, _ = rendered
    html = page_for(paths, "ACME-01")
    svgs = re.findall(r"<svg[^>]*>", html)
    assert len(svgs) == len(KPIS)
    assert all('role="img"' in s and "aria-label=" in s for s in svgs)
    assert (
        'aria-label="Net Promoter Score, 2024-Q3 to 2025-Q3: fell from +48 in 2024-Q3 '
        'to +42 in 2025-Q3 (worse); target ≥ +50; 2025-Q3 is a partial period"' in html
    )
    assert (
        "Resolution time (median), 2024-Q3 to 2025-Q3: rose from 20.0\u202fh in 2024-Q3 to "
        "31.3\u202fh in 2025-Q3 (worse)" in html
    )
    paths_d = re.findall(r'<path class="line" d="([^"]+)"', html)
    assert all(re.fullmatch(r"M[\d.]+,[\d.]+( L[\d.]+,[\d.]+)+", d) for d in paths_d)


def test_deterministic(tmp_path: Path) -> None:
    a = render_scorecards(make_card(), tmp_path / "a")
    b = render_scorecards(make_card(), tmp_path / "b")
    assert [p.name for p in a] == [p.name for p in b]
    for x, y in zip(a, b, strict=True):
        assert x.read_bytes() == y.read_bytes(), x.name


# ---- options and shapes ------------------------------------------------------------------


def test_several_segment_columns_and_earlier_period(tmp_path: Path) -> None:
    card = make_card()
    card.insert(0, "region", card["partner_id"].map({"ACME-01": "North"}).fillna("South"))
    card = card.rename(columns={"partner_id": "rep_id"})
    card.attrs = {"segments": ["region", "rep_id"]}  # no period: the latest is used
    paths = render_scorecards(card, tmp_path, period="2025-Q2")
    names = [p.name for p in paths]
    assert names == [
        "index.html",
        "north_acme-01.html",
        "south_bohm-sohne.html",
        "south_nordbau-03.html",
    ]
    html = paths[1].read_text(encoding="utf-8")
    text = text_of(html)
    assert "Region · Rep" in text and "North · ACME-01" in text
    assert "Scorecard for 2025-Q2" in text
    assert "2025-Q3" not in text  # later periods are not shown
    assert "Partial period" not in text
    index = paths[0].read_text(encoding="utf-8")
    assert '<th scope="col">Region</th>\n<th scope="col">Rep</th>' in index
    assert "Region / Rep scorecards" in text_of(index)


def test_segments_before_period_by_default(tmp_path: Path) -> None:
    card = make_card()
    card.attrs = {}
    paths = render_scorecards(card, tmp_path)
    assert "Scorecard for 2025-Q3" in text_of(paths[1].read_text(encoding="utf-8"))
    assert "Partner scorecards" in text_of(paths[0].read_text(encoding="utf-8"))


def test_minimal_card_and_odd_values(tmp_path: Path) -> None:
    card = pd.DataFrame(
        {
            "partner_id": [1, 2, None],
            "period": ["2025-Q3"] * 3,
            "kpi": ["nps"] * 3,
            "value": [10.0, np.nan, -3.0],
            "flags": [np.array(["at risk: NPS red"]), None, []],
        }
    )
    paths = render_scorecards(card, tmp_path)
    assert [p.name for p in paths] == ["index.html", "1.html", "2.html", "none.html"]
    text = text_of(paths[1].read_text(encoding="utf-8"))
    assert "at risk: NPS red" in text and "10" in text
    assert "(none)" in text_of(paths[3].read_text(encoding="utf-8"))


def test_file_names_unique_and_safe() -> None:
    keys = [("a/b",), ("a b",), ("A B",), ("index",), ("",), ("東京",), (None,), ("../etc",)]
    names = _file_names(keys)
    assert len(set(names)) == len(names)
    assert len({n.lower() for n in names}) == len(names)
    assert all(re.fullmatch(r"[a-z0-9][a-z0-9_-]*", n) for n in names)
    assert "index" not in names
    assert names == _file_names(keys)  # deterministic
    assert names[-1] == "etc" and names[-2] == "none"
    assert _file_names([("North", "R 7"), ("South", "R 7")]) == ["north_r-7", "south_r-7"]


@pytest.mark.parametrize(
    ("value", "unit", "sign", "expected"),
    [
        (96.44, "%", False, "96.4%"),
        (2.06, "%", True, "+2.1\u202fpp"),
        (42.4, "points", False, "+42"),
        (-3.2, "points", False, "−3"),
        (-0.4, "points", False, "0"),
        (1.0, "points", True, "+1 pt"),
        (3.21, "hours", False, "3.2\u202fh"),
        (1234567.8, "currency", False, "1,234,568"),
        (12.345, "currency", False, "12.35"),
        (17.0, "orders", False, "17"),
        (1.83, "orders", False, "1.8"),
        (1234.0, "customers", False, "1,234"),
        (4.123, "score", False, "4.12"),
        (np.nan, "%", False, "—"),
        (None, "hours", False, "—"),
        (3.0, "widgets", False, "3 widgets"),
    ],
)
def test_format_value(value: float, unit: str, sign: bool, expected: str) -> None:
    assert format_value(value, unit, sign=sign) == expected


# ---- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda c: c.drop(columns=["value"]), "lacks the column"),
        (lambda c: c.drop(columns=["kpi"]), "lacks the column"),
        (lambda c: c.iloc[0:0], "empty"),
        (lambda c: c.assign(status=c["status"].fillna("yellow")), "'status' must be one of"),
        (lambda c: c.assign(direction="up"), "'direction' must be one of"),
        (lambda c: c.assign(value="high"), "'value' must be numeric"),
        (lambda c: pd.concat([c, c.iloc[:1]]), "more than one row"),
    ],
)
def test_bad_card(tmp_path: Path, mutate, message: str) -> None:
    card = mutate(make_card())
    card.attrs = {"period": "2025-Q3"}
    with pytest.raises(KpiInputError, match=message):
        render_scorecards(card, tmp_path)
    assert not (tmp_path / "index.html").exists()


def test_bad_period(tmp_path: Path) -> None:
    with pytest.raises(KpiInputError, match=r"'2026-Q1' is not in the scorecard"):
        render_scorecards(make_card(), tmp_path, period="2026-Q1")
    card = make_card()
    card.attrs["segments"] = ["partner", "period"]
    with pytest.raises(KpiInputError, match="segment column"):
        render_scorecards(card, tmp_path)
    with pytest.raises(KpiInputError, match="DataFrame"):
        render_scorecards(make_card().to_dict(), tmp_path)  # type: ignore[arg-type]
