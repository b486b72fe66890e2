"""Qualitative feedback: feedback_themes and distinctive_terms.

Theme matching cases, a plain-Python reference on random comments (hypothesis),
chunk/merge, permutation and thread invariance, the log-odds formula against a
pure-Python implementation, bad input, and a sanity check on the demo data.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

import kpiforge as kf
from conftest import wilson
from kpiforge.feedback import default_stop_words, default_themes, tokenize

# ---- theme matching ----------------------------------------------------------------------


def mentions(comment: str, keywords: list[str]) -> bool:
    out = kf.feedback_themes(
        pd.DataFrame({"comment": [comment]}), themes={"t": keywords}, score=None
    )
    assert out.loc[0, "n_comments"] == 1, comment
    return bool(out.loc[0, "t_pct"] == 100.0)


@pytest.mark.parametrize(
    ("comment", "keywords", "want"),
    [
        ("Delivery was LATE again", ["late"], True),
        ("la livraison est arrivée en retard", ["arrivee"], True),  # accent in the comment
        ("entrega tardia", ["tardía"], True),  # accent in the keyword
        ("ÉTÉ CHAUD", ["été"], True),
        ("STRASSE gesperrt", ["straße"], True),
        ("the deliveryman was kind", ["delivery"], False),  # whole words only
        ("deliveries keep slipping", ["delivery"], False),  # no stemming...
        ("deliveries keep slipping", ["deliver*"], True),  # ...but prefixes
        ("redelivery needed", ["deliver*"], False),  # a prefix anchors at the word start
        ("items out of stock again", ["out of stock"], True),
        ("Out-of-Stock on drywall", ["out of stock"], True),  # one hyphen joins words
        ("sold out. Of stock we know nothing", ["out of stock"], False),  # not across clauses
        ("out of the stock", ["out of stock"], False),  # a phrase is contiguous
        ("stock out of", ["out of stock"], False),
        ("the rep's phone is off", ["rep"], True),  # English 's
        ("rupture de stock sur l'isolation", ["isolation"], True),  # French elision
        ("we don't get calls back", ["don't"], True),
        ("we don’t get calls back", ["don't"], True),  # curly apostrophe
        ("ＦＵＬＬ width portal", ["full"], True),  # NFKD folds compatibility forms
        ("portal ok", ["PORTAL"], True),
    ],
)
def test_theme_matching(comment: str, keywords: list[str], want: bool) -> None:
    assert mentions(comment, keywords) is want


def test_tokenizer_rules() -> None:
    assert tokenize("Livraison arrivée en RETARD!") == ["livraison", "arrivee", "en", "retard"]
    assert tokenize("Straße, ÉTÉ") == ["strasse", "ete"]
    assert tokenize("") == [] and tokenize("  👍 ... ") == []
    assert tokenize("x" * 1_000_000 + " late") == ["x" * 1_000_000, "late"]
    with pytest.raises(kf.KpiInputError):
        tokenize(b"bytes")  # type: ignore[arg-type]


@given(st.lists(st.text(max_size=40), min_size=1, max_size=20))
def test_any_unicode_text_tokenizes_and_counts(texts: list[str]) -> None:
    """Arbitrary Unicode (surrogates aside): no error, tokens without spaces or combining
    marks, stable under a second pass, and a comment counts when it has a token."""
    texts = [t.encode("utf-8", "replace").decode("utf-8", "replace") for t in texts]
    with_words = 0
    for text in texts:
        tokens = tokenize(text)
        with_words += bool(tokens)
        for tok in tokens:
            assert tok and not any(c.isspace() or unicodedata.combining(c) for c in tok), tok
            assert tokenize(tok)[-1:] == [tok] or "'" in tok, (text, tok)
    out = kf.feedback_themes(pd.DataFrame({"comment": texts}), score=None)
    assert (out.loc[0, "n_comments"], out.loc[0, "missing"]) == (
        with_words,
        len(texts) - with_words,
    )


def test_missing_counts_null_empty_and_wordless_comments() -> None:
    df = pd.DataFrame({"comment": [None, "", "   ", "!!!", "👍", "ok", "late"], "score": 10})
    out = kf.feedback_themes(df, themes={"late": ["late"]})
    row = out.iloc[0]
    assert (row["n"], row["n_comments"], row["missing"]) == (7, 2, 5)
    assert row["late_pct"] == 50.0
    assert row["promoter_comments"] == 2 and row["late_promoter_pct"] == 50.0


def test_long_comments_and_many_themes() -> None:
    long = "word " * 200_000 + "out of stock"
    themes = {f"theme {i}": [f"kw{i}"] for i in range(40)} | {"stock": ["out of stock"]}
    out = kf.feedback_themes(
        pd.DataFrame({"comment": [long, "kw3 kw39"]}), themes=themes, score=None
    )
    assert out.loc[0, "stock_pct"] == 50.0
    assert out.loc[0, "theme_3_pct"] == 50.0 and out.loc[0, "theme_39_pct"] == 50.0
    assert out.loc[0, "theme_0_pct"] == 0.0


def test_theme_columns_follow_the_dict_order_and_snake_case() -> None:
    out = kf.feedback_themes(
        pd.DataFrame({"comment": ["x"]}),
        themes={"Zeta Theme": ["z"], "Qualité / produit": ["q"]},
        score=None,
    )
    pct = [c for c in out.columns if c.endswith("_pct")]
    assert pct == ["zeta_theme_pct", "qualite_produit_pct"]


def test_split_uses_nps_rows_only() -> None:
    df = pd.DataFrame(
        {
            "survey_type": ["nps", "nps", "csat", "nps", None],
            "score": [2, 10, 1, None, 3],
            "comment": ["late", "late", "late", "late", "late"],
        }
    )
    row = kf.feedback_themes(df, themes={"late": ["late"]}).iloc[0]
    assert (row["n_comments"], row["detractor_comments"], row["promoter_comments"]) == (5, 1, 1)
    # A CSAT score of 1 is no detractor; nor is a null score or a row of no survey type.
    assert row["late_pct"] == 100.0
    # Without a survey type column, every row is an NPS response.
    row = kf.feedback_themes(df.drop(columns="survey_type"), themes={"late": ["late"]}).iloc[0]
    assert (row["detractor_comments"], row["promoter_comments"]) == (3, 1)
    row = kf.feedback_themes(df, themes={"late": ["late"]}, survey_type=None).iloc[0]
    assert row["detractor_comments"] == 3


def test_default_themes_on_demo_comments() -> None:
    demo = kf.demo.generate(n_orders=4000, seed=5)
    out = kf.feedback_themes(demo.responses)
    themes = default_themes()
    assert list(themes) == [
        "delivery",
        "pricing",
        "stock_availability",
        "product_quality",
        "rep",
        "portal",
        "billing",
    ]
    row = out.iloc[0]
    for t in themes:
        assert 0 < row[f"{t}_pct"] < 100, t
    # The generator's unhappy topics are what detractors write about; happy ones, promoters.
    for t in ("stock_availability", "portal", "billing"):
        assert row[f"{t}_detractor_pct"] > row[f"{t}_promoter_pct"], t
    for t in ("rep", "product_quality"):
        assert row[f"{t}_promoter_pct"] > row[f"{t}_detractor_pct"], t


def test_one_scan_with_nps_and_partials() -> None:
    r = kf.demo.generate(n_orders=3000, seed=2).responses
    both = kf.compute(r, ["nps", kf.Kpi("feedback_themes", score=None)], by="region")
    alone = kf.feedback_themes(r, by="region", score=None)
    assert both["feedback_themes_n"].tolist() == alone["n"].tolist()
    np.testing.assert_allclose(both["feedback_themes_delivery_pct"], alone["delivery_pct"])
    parts = [
        kf.feedback_themes(r.slice(i, 700), by="region", partial=True) for i in range(0, 3000, 700)
    ]
    pd.testing.assert_frame_equal(kf.finalize(parts), kf.feedback_themes(r, by="region"))


# ---- a plain-Python reference on random comments -----------------------------------------

VOCAB = [
    "delivery",
    "Delivery",
    "deliveries",
    "deliveryman",
    "late",
    "LATE",
    "livraison",
    "arrivée",
    "Tardía",
    "prix",
    "PRIX",
    "élevés",
    "precios",
    "out",
    "of",
    "the",
    "stock",
    "Stock",
    "rupture",
    "rep",
    "Représentant",
    "great",
    "Straße",
    "STRASSE",
    "portal",
    "not",
    "happy",
]
SEPARATORS = [" ", "  ", ", ", ". ", "-", " - ", "! "]
THEMES = {
    "Delivery": ["deliver*", "late", "tardia"],
    "stock": ["out of stock", "rupture"],
    "Prix élevés": ["prix", "precio*", "prix eleves"],
    "rep": ["rep", "représentant"],
    "strasse": ["straße"],
}
COLUMNS = {"Delivery": "delivery", "stock": "stock", "Prix élevés": "prix_eleves", "rep": "rep"}
COLUMNS["strasse"] = "strasse"


@st.composite
def comments(draw: st.DrawFn) -> str | None:
    kind = draw(st.sampled_from(["words", "words", "words", "none", "blank"]))
    if kind == "none":
        return None
    if kind == "blank":
        return draw(st.sampled_from(["", "   ", "!!", " - "]))
    words = draw(st.lists(st.sampled_from(VOCAB), min_size=1, max_size=8))
    text = words[0]
    for w in words[1:]:
        text += draw(st.sampled_from(SEPARATORS)) + w
    return text


SCORED = st.one_of(
    st.tuples(st.just("nps"), st.one_of(st.none(), st.integers(0, 10))),
    st.tuples(st.just("csat"), st.integers(1, 5)),
)
ROWS = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c", None]), SCORED, comments()), min_size=1, max_size=50
)


def response_table(rows: list[tuple]) -> pa.Table:
    return pa.table(
        {
            "seg": pa.array([r[0] for r in rows], pa.string()),
            "survey_type": pa.array([r[1][0] for r in rows], pa.string()),
            "score": pa.array([r[1][1] for r in rows], pa.int64()),
            "comment": pa.array([r[2] for r in rows], pa.string()),
        }
    )


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def clauses(text: str) -> list[list[str]]:
    """Token lists of each clause: punctuation and a spaced dash end a clause, a bare
    hyphen between two words joins them."""
    parts = re.split(r"[.,!?;]|\s+-\s*|\s*-\s+", fold(text))
    return [re.findall(r"\w+", p) for p in parts]


def phrase_in(keyword: str, parts: list[list[str]]) -> bool:
    words = [(w, False) for w in re.findall(r"\w+", fold(keyword.rstrip("*")))]
    if keyword.endswith("*"):
        words[-1] = (words[-1][0], True)
    for toks in parts:
        for i in range(len(toks) - len(words) + 1):
            if all(
                toks[i + k].startswith(w) if pre else toks[i + k] == w
                for k, (w, pre) in enumerate(words)
            ):
                return True
    return False


def share(hits: int, n: int, name: str) -> dict[str, Any]:
    if n == 0:
        return {name: None, f"{name}_ci_low": None, f"{name}_ci_high": None}
    lo, hi = wilson(hits, n)
    return {name: 100 * hits / n, f"{name}_ci_low": lo, f"{name}_ci_high": hi}


def themes_reference(t: pa.Table) -> dict[Any, dict[str, Any]]:
    df = t.to_pandas()
    out = {}
    for seg in df["seg"].drop_duplicates():
        seg = None if pd.isna(seg) else seg
        g = df[df["seg"].isna()] if seg is None else df[df["seg"] == seg]
        ref: dict[str, Any] = {"n": len(g), "n_comments": 0, "missing": 0, "invalid": 0}
        bands: list[str] = []
        hits: dict[str, list[bool]] = {c: [] for c in COLUMNS.values()}
        for _, row in g.iterrows():
            text = row["comment"]
            parts = clauses(text) if isinstance(text, str) else []
            if not any(parts):
                ref["missing"] += 1
                continue
            ref["n_comments"] += 1
            score = row["score"]
            band = "other"
            if row["survey_type"] == "nps" and not pd.isna(score):
                band = "detractor" if score <= 6 else "promoter" if score >= 9 else "other"
            bands.append(band)
            for name, keywords in THEMES.items():
                hits[COLUMNS[name]].append(any(phrase_in(k, parts) for k in keywords))
        ref["detractor_comments"] = bands.count("detractor")
        ref["promoter_comments"] = bands.count("promoter")
        for col, h in hits.items():
            ref |= share(sum(h), len(h), f"{col}_pct")
            for band in ("detractor", "promoter"):
                sub = [x for x, b in zip(h, bands, strict=True) if b == band]
                ref |= share(sum(sub), len(sub), f"{col}_{band}_pct")
        out[seg] = ref
    return out


def run_themes(data: Any, **kw: Any) -> pd.DataFrame:
    return kf.feedback_themes(data, by="seg", themes=THEMES, **kw)


def close(got: Any, want: Any) -> bool:
    if want is None or (isinstance(want, float) and math.isnan(want)):
        return got is None or (isinstance(got, float) and math.isnan(got))
    return abs(got - want) <= 1e-9 * max(1.0, abs(want))


@given(ROWS)
def test_themes_match_python_reference(rows: list[tuple]) -> None:
    t = response_table(rows)
    out = run_themes(t)
    ref = themes_reference(t)
    assert len(out) == len(ref)
    for _, row in out.iterrows():
        seg = None if pd.isna(row["seg"]) else row["seg"]
        for col, want in ref[seg].items():
            assert close(row[col], want), (seg, col, row[col], want, rows)


@given(ROWS, ROWS, st.data())
def test_themes_chunks_order_segments_threads(
    rows: list[tuple], other: list[tuple], data: st.DataObject
) -> None:
    t = response_table(rows)
    whole = run_themes(t)
    cuts = sorted(data.draw(st.lists(st.integers(0, t.num_rows), max_size=4), "cuts"))
    bounds = [0, *cuts, t.num_rows]
    parts = [
        run_themes(t.slice(a, b - a), partial=True)
        for a, b in zip(bounds, bounds[1:], strict=False)
    ]
    split = data.draw(st.integers(0, len(parts)), "split")
    groups = [g for g in (parts[:split], parts[split:]) if g]
    pd.testing.assert_frame_equal(kf.finalize([kf.merge_partials(g) for g in groups]), whole)
    perm = data.draw(st.permutations(range(t.num_rows)), "permutation")
    pd.testing.assert_frame_equal(run_themes(t.take(pa.array(perm, pa.int64()))), whole)
    extra = response_table(other)
    extra = extra.set_column(0, "seg", pa.array(["zz-other"] * extra.num_rows))
    more = run_themes(pa.concat_tables([t, extra]))
    pd.testing.assert_frame_equal(more[more["seg"] != "zz-other"].reset_index(drop=True), whole)
    pd.testing.assert_frame_equal(run_themes(t, threads=1), run_themes(t, threads=3))


# ---- distinctive terms vs a pure-Python implementation of the formula --------------------

STOP = {w for s in default_stop_words() for w in tokenize(s)}


def terms_of(comment: str) -> list[str]:
    """Unigrams and bigrams of one comment whose words are separated by spaces only."""
    kept = [t if t not in STOP and not t.isdigit() else None for t in tokenize(comment)]
    out = [t for t in kept if t]
    out += [f"{a} {b}" for a, b in zip(kept, kept[1:], strict=False) if a and b]
    return out


def terms_reference(
    groups: list[Any], texts: list[str | None], prior: float, min_count: int
) -> dict:
    counts: dict[Any, Counter] = {}
    for g, text in zip(groups, texts, strict=True):
        if text is not None:
            counts.setdefault(g, Counter()).update(terms_of(text))
    total = Counter()
    for c in counts.values():
        total.update(c)
    n = sum(total.values())
    out = {}
    for g, c in counts.items():
        n_i = sum(c.values())
        n_j = n - n_i
        if n_i == 0 or n_j == 0:
            continue
        for w, y_i in c.items():
            y = total[w]
            if y < min_count:
                continue
            a_w = prior * y / n
            y_j = y - y_i
            odds_i, odds_j = n_i + prior - y_i - a_w, n_j + prior - y_j - a_w
            if odds_i <= 0 or odds_j <= 0:
                continue  # a corpus of one distinct term: the formula is undefined
            delta = math.log((y_i + a_w) / odds_i) - math.log((y_j + a_w) / odds_j)
            z = delta / math.sqrt(1 / (y_i + a_w) + 1 / (y_j + a_w))
            out[(g, w)] = (y_i, y_j, delta, z)
    return out


TERM_VOCAB = [
    "late",
    "delivery",
    "the",
    "of",
    "prix",
    "élevés",
    "great",
    "rep",
    "not",
    "happy",
    "2",
]
TERM_ROWS = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c", None]),
        st.one_of(st.none(), st.lists(st.sampled_from(TERM_VOCAB), min_size=1, max_size=6)),
    ),
    min_size=1,
    max_size=60,
)


@given(TERM_ROWS, st.sampled_from([0.5, 10.0, 500.0]), st.integers(1, 3))
def test_distinctive_terms_match_python_formula(rows: list[tuple], prior: float, mc: int) -> None:
    groups = [r[0] for r in rows]
    texts = [None if r[1] is None else " ".join(r[1]) for r in rows]
    t = pa.table({"rep_id": pa.array(groups, pa.string()), "comment": pa.array(texts, pa.string())})
    out = kf.distinctive_terms(t, group="rep_id", top_k=10_000, prior=prior, min_count=mc)
    ref = terms_reference(groups, texts, prior, mc)
    got = {}
    for _, row in out.iterrows():
        g = None if pd.isna(row["group"]) else row["group"]
        got[(g, row["term"])] = (
            row["count_in_group"],
            row["count_in_rest"],
            row["log_odds"],
            row["z"],
        )
    assert got.keys() == ref.keys()
    for key, want in ref.items():
        assert got[key][:2] == want[:2], key
        assert close(got[key][2], want[2]) and close(got[key][3], want[3]), (key, got[key], want)
    # Ranks: 1.. within each group, by z descending then term.
    for _, g in out.groupby(out["group"].fillna("\0"), sort=False):
        assert g["rank"].tolist() == list(range(1, len(g) + 1))
        order = sorted(zip(-g["z"], g["term"], strict=True))
        assert [term for _, term in order] == g["term"].tolist()


def test_distinctive_terms_top_k_groups_and_bigrams() -> None:
    df = pd.DataFrame(
        {
            "rep_id": [1, 1, 1, 2, 2, 3],
            "comment": [
                "late delivery, again",
                "Late delivery and prices up",
                "late. Delivery",
                "great rep",
                "great rep",
                "fine",
            ],
        }
    )
    out = kf.distinctive_terms(df, group="rep_id", top_k=2, min_count=1)
    assert out["group"].tolist() == [1, 1, 2, 2, 3]  # integer groups keep their type, in order
    # Three of each in group 1 and none elsewhere: equal z, so by term.
    assert out[out["group"] == 1]["term"].tolist() == ["delivery", "late"]
    # "late. Delivery" gives no bigram across the full stop.
    everything = kf.distinctive_terms(df, group="rep_id", top_k=100, min_count=1)
    bigram = everything[(everything["group"] == 1) & (everything["term"] == "late delivery")]
    assert bigram["count_in_group"].tolist() == [2]
    assert everything[everything["group"] == 3]["term"].tolist() == ["fine"]
    # Custom stop words replace the built-in list.
    kept = kf.distinctive_terms(df, group="rep_id", top_k=100, min_count=1, stop_words=[])
    assert "and" in kept["term"].tolist() and "and" not in everything["term"].tolist()
    assert kf.distinctive_terms(df, group="rep_id", output="arrow").num_columns == 7


def test_detractors_distinctive_terms_on_demo() -> None:
    demo = kf.demo.generate(n_orders=20_000, seed=11)
    out = kf.distinctive_terms(demo.responses, group="detractors", top_k=40)
    assert set(out["group"]) == {"detractors", "others"}
    bad = set(out[out["group"] == "detractors"]["term"])
    good = set(out[out["group"] == "others"]["term"])
    # The generator's low-score comments: late deliveries, prices, stock, billing.
    complaint_words = {"late", "stock", "prices", "expensive", "backorders", "invoice", "retard"}
    assert len(bad & complaint_words) >= 3, bad
    assert not good & complaint_words, good
    assert {"rep", "great"} <= good
    # The prior orders terms the same way whatever its scale; z shrinks with a larger prior.
    strong = kf.distinctive_terms(demo.responses, group="detractors", top_k=5, prior=5000)
    assert (strong["z"].to_numpy() > 0).all()


# ---- bad input ----------------------------------------------------------------------------


def raises(fn: Any, column: str, count: int | None = None) -> kf.KpiInputError:
    with pytest.raises(kf.KpiInputError) as info:
        fn()
    assert info.value.column == column, (info.value.column, str(info.value))
    if count is not None:
        assert info.value.count == count, str(info.value)
    return info.value


DF = pd.DataFrame({"comment": ["late delivery", None], "score": [3, 10], "rep_id": ["a", "b"]})


@pytest.mark.parametrize(
    "themes",
    [
        ["late"],
        {"delivery": "late"},
        {"delivery": []},
        {"delivery": [3]},
        {"delivery": ["!!"]},
        {},
        {"???": ["x"]},
        {1: ["x"]},
        {"Late delivery": ["late"], "late_delivery": ["delay"]},  # the same column twice
        {"a": ["x"], "a_detractor": ["y"]},  # a_detractor_pct twice
    ],
)
def test_invalid_theme_dicts(themes: Any) -> None:
    raises(lambda: kf.feedback_themes(DF, themes=themes), "themes")


def test_non_string_comment_column() -> None:
    err = raises(lambda: kf.feedback_themes(DF.assign(comment=[1, 2])), "comment")
    assert "must hold text" in str(err)
    raises(lambda: kf.distinctive_terms(DF.assign(comment=[1.5, 2.0]), group="rep_id"), "comment")
    raises(lambda: kf.feedback_themes(DF, comment="coment"), "coment")


def test_non_utf8_comments() -> None:
    t = pa.table(
        {
            "comment": pa.array([b"late", b"\xff\xfeoops", b"fine", b"\xc3"], pa.binary()),
            "score": [1, 2, 3, 4],
            "rep_id": ["a", "a", "b", "b"],
        }
    )
    err = raises(lambda: kf.feedback_themes(t), "comment", count=2)
    assert err.example == 'b"\\xff\\xfeoops"'
    out = kf.feedback_themes(t, on_invalid="drop")
    assert (out.loc[0, "invalid"], out.loc[0, "n_comments"]) == (2, 2)
    raises(lambda: kf.distinctive_terms(t, group="rep_id"), "comment", count=2)
    # Valid UTF-8 in a binary column reads like strings.
    ok = t.filter(pa.array([True, False, True, False]))
    text = ok.set_column(0, "comment", pa.array(["late", "fine"]))
    pd.testing.assert_frame_equal(kf.feedback_themes(ok), kf.feedback_themes(text))


def test_bad_scores() -> None:
    bad = DF.assign(score=[11, 10])
    raises(lambda: kf.feedback_themes(bad), "score", count=1)
    assert kf.feedback_themes(bad, on_invalid="drop").loc[0, "invalid"] == 1
    raises(lambda: kf.distinctive_terms(bad, group="detractors"), "score", count=1)
    raises(lambda: kf.feedback_themes(DF.drop(columns="score")), "score")
    assert "score=None" in str(
        raises(lambda: kf.feedback_themes(DF.drop(columns="score")), "score")
    )
    assert kf.feedback_themes(DF.drop(columns="score"), score=None).loc[0, "n"] == 2


@pytest.mark.parametrize(
    ("kw", "column"),
    [
        ({"group": "nope"}, "nope"),
        ({"group": "detractors", "score": "nope"}, "nope"),
        ({"group": "rep_id", "top_k": 0}, "top_k"),
        ({"group": "rep_id", "min_count": 0}, "min_count"),
        ({"group": "rep_id", "prior": -1.0}, "prior"),
        ({"group": "rep_id", "prior": math.nan}, "prior"),
        ({"group": "rep_id", "prior": "500"}, "prior"),
        ({"group": "rep_id", "stop_words": "the"}, "stop_words"),
        ({"group": ["rep_id"]}, "group"),
        ({"group": "rep_id", "output": "excel"}, "output"),
    ],
)
def test_distinctive_terms_bad_arguments(kw: dict[str, Any], column: str) -> None:
    raises(lambda: kf.distinctive_terms(DF, **kw), column)


def test_detractors_group_is_ambiguous_with_such_a_column() -> None:
    err = raises(
        lambda: kf.distinctive_terms(DF.assign(detractors=1), group="detractors"), "detractors"
    )
    assert "ambiguous" in str(err)


def test_docs_list_the_default_themes() -> None:
    """docs/kpis.md shows the default dictionary keyword for keyword."""
    doc = (Path(__file__).parent.parent / "docs" / "kpis.md").read_text()
    for theme, keywords in default_themes().items():
        m = re.search(rf"^\| `{theme}` \| (.*) \|$", doc, re.M)
        assert m, theme
        assert [k.strip().replace("\\*", "*") for k in m.group(1).split(",")] == keywords


def test_all_null_categorical_comments() -> None:
    # No dictionary values at all: every comment is missing (once a crash).
    df = pd.DataFrame(
        {
            "comment": pd.Categorical([None, None], categories=pd.Index([], dtype=str)),
            "responded_at": pd.to_datetime(["2025-01-02", "2025-01-03"]),
        }
    )
    out = kf.feedback_themes(df, score=None).iloc[0]
    assert (out["n"], out["n_comments"], out["missing"]) == (2, 0, 2)
