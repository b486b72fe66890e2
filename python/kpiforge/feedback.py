"""Qualitative feedback (survey responses with a free-text comment): theme shares
and distinctive terms.

:func:`feedback_themes` is a shorthand for :func:`kpiforge.compute` with one KPI;
:func:`distinctive_terms` ranks the words and two-word phrases that set one group
of comments apart from the rest. Both read comments through the same tokenizer
(:func:`tokenize`): lowercase, accent-insensitive, word tokens. The exact rules
are in the KPI catalogue (``docs/kpis.md``, "Qualitative feedback").
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from kpiforge import _core
from kpiforge._convert import Output, from_arrow, to_arrow
from kpiforge.exceptions import KpiInputError
from kpiforge.kpis import Period, _single, _threads

__all__ = [
    "default_stop_words",
    "default_themes",
    "distinctive_terms",
    "feedback_themes",
    "tokenize",
]

DEFAULT_PRIOR: float = _core.DEFAULT_PRIOR


def default_themes() -> dict[str, list[str]]:
    """The default theme dictionary for a building-materials distributor.

    Seven themes (delivery, pricing, stock availability, product quality, the rep,
    the portal, billing), each a list of keywords and phrases in English with the
    French and Spanish words such customers write. A keyword ending in ``*`` is a
    prefix (``deliver*`` matches deliver, delivery, deliveries, delivered). Copy
    and edit it to make your own.

    Example:
        >>> from kpiforge.feedback import default_themes
        >>> themes = default_themes()
        >>> list(themes)[:3]
        ['delivery', 'pricing', 'stock_availability']
        >>> "out of stock" in themes["stock_availability"]
        True
    """
    return {name: list(words) for name, words in json.loads(_core.default_themes())}


def default_stop_words() -> list[str]:
    """The built-in stop words of :func:`distinctive_terms` (English function words
    plus the commonest French and Spanish ones; negations such as ``not`` are kept
    as terms). Extend it with ``stop_words=default_stop_words() + ["acme"]``.

    Example:
        >>> from kpiforge.feedback import default_stop_words
        >>> "the" in default_stop_words(), "not" in default_stop_words()
        (True, False)
    """
    return list(_core.default_stop_words())


def tokenize(text: str) -> list[str]:
    """The tokens of one comment, as the feedback KPIs see them.

    Unicode NFKD with accents removed, lowercased (``ß`` -> ``ss``), split at word
    boundaries (UAX #29). A French elision (``l'``, ``qu'``) and an English ``'s``
    are dropped; other apostrophes keep the word whole (``don't``).

    Example:
        >>> from kpiforge.feedback import tokenize
        >>> tokenize("Livraison arrivée en RETARD, l'équipe n'a pas appelé!")
        ['livraison', 'arrivee', 'en', 'retard', 'equipe', 'a', 'pas', 'appele']
    """
    if not isinstance(text, str):
        raise KpiInputError(f"tokenize takes a string, got {type(text).__name__}", column="text")
    return list(_core.tokenize(text))


def _themes_param(themes: Mapping[str, Sequence[str]] | None) -> list[list[Any]] | None:
    """Themes as ``[[name, [keywords]], ...]``, which keeps the dict's order in the output."""
    if themes is None:
        return None
    if not isinstance(themes, Mapping):
        raise KpiInputError(
            f"themes must be a dict of theme name -> list of keywords, got {type(themes).__name__}",
            column="themes",
        )
    pairs: list[list[Any]] = []
    for name, words in themes.items():
        if not isinstance(name, str):
            raise KpiInputError(f"theme names must be strings, got {name!r}", column="themes")
        if isinstance(words, str | bytes) or not isinstance(words, Sequence):
            raise KpiInputError(
                f"keywords of theme {name!r} must be a list of strings, got {words!r}: "
                f'write {{"{name}": ["a keyword", "another"]}}',
                column="themes",
            )
        pairs.append([name, list(words)])
    return pairs


def feedback_themes(
    data: Any,
    *,
    by: str | Sequence[str] | None = None,
    period: Period = None,
    themes: Mapping[str, Sequence[str]] | None = None,
    comment: str = "comment",
    score: str | None = "score",
    survey_type: str | None = "nps",
    type_column: str = "survey_type",
    date: str = "responded_at",
    where: Mapping[str, Any] | None = None,
    **options: Any,
) -> Any:
    """Share of comments that mention each theme, overall and among NPS detractors and promoters.

    A comment mentions a theme when any of the theme's keywords or phrases occurs
    in it as whole tokens (case- and accent-insensitive: ``"Livraison"`` matches
    ``"livraison"`` and ``"tardía"`` matches ``"tardia"``; ``"delivery"`` does not
    match ``"deliveryman"`` nor ``"deliveries"``; ``"deliver*"`` matches both). A
    phrase (``"out of stock"``) matches its words in that order, within one clause
    (spaces, quotes or one hyphen between them: ``"out-of-stock"`` matches too).
    Every theme gets ``<theme>_pct = 100 * comments mentioning it / n_comments``
    with a Wilson interval. With a ``score``, ``<theme>_detractor_pct`` and
    ``<theme>_promoter_pct`` are the same share among the comments of NPS
    detractors (0-6) and promoters (9-10).

    Which responses are NPS: those whose ``type_column`` equals ``survey_type``;
    every response when the table has no such column or ``survey_type=None``.
    Comments of other surveys (CSAT, CES) count in the theme shares but in neither
    side of the split, since their scores are on another scale.

    Args:
        data: a table of survey responses (see :func:`kpiforge.compute`).
        themes: theme name -> list of keywords / phrases (default:
            :func:`default_themes`). Theme names become column names in snake
            case (``"Stock availability"`` -> ``stock_availability_pct``); two
            names that give the same column are an error.
        comment: the comment column (strings; binary is read as UTF-8). A null,
            empty or word-less comment (only spaces, punctuation or emoji) is
            counted in ``missing``; bytes that are not UTF-8 are bad input.
        score: the score column for the split; ``None`` for shares without it.
            An NPS response's score must be a whole number 0-10 (else bad
            input); a null score leaves the comment out of the split only.
        survey_type, type_column: which rows are NPS responses (above).
        date: the date periods are taken from.
        where: row filter, ``{column: value or [values]}``.
        **options: ``fiscal_year_start``, ``tz``, ``as_of``, ``confidence``,
            ``on_invalid``, ``threads``, ``output`` as in :func:`kpiforge.compute`.

    Returns:
        Columns: segments, ``period``, ``period_start``, ``partial`` (with a
        period), ``n`` (responses), ``n_comments``, ``missing``, ``invalid``,
        ``detractor_comments``, ``promoter_comments`` (with a score), then per
        theme ``<theme>_pct``, ``<theme>_detractor_pct``, ``<theme>_promoter_pct``,
        each with ``_ci_low`` and ``_ci_high``.

    Example:
        >>> import pandas as pd
        >>> from kpiforge.feedback import feedback_themes
        >>> responses = pd.DataFrame({
        ...     "rep_id": ["a", "a", "a", "b"],
        ...     "score": [3, 10, 6, 9],
        ...     "comment": ["Livraison en RETARD", "on-time delivery!", None, "Out of stock"],
        ... })
        >>> out = feedback_themes(responses, by="rep_id", themes={
        ...     "delivery": ["deliver*", "retard", "on time"], "stock": ["out of stock"]})
        >>> out[["rep_id", "n_comments", "missing", "delivery_pct", "delivery_detractor_pct"]]
          rep_id  n_comments  missing  delivery_pct  delivery_detractor_pct
        0      a           2        1         100.0                   100.0
        1      b           1        0           0.0                     NaN
    """
    params: dict[str, Any] = {
        "themes": _themes_param(themes),
        "comment": comment,
        "score": score,
        "survey_type": survey_type,
        "type_column": type_column,
        "date": date,
    }
    return _single("feedback_themes", data, params, where, by=by, period=period, **options)


def distinctive_terms(
    data: Any,
    *,
    group: str,
    comment: str = "comment",
    top_k: int = 20,
    prior: float = DEFAULT_PRIOR,
    min_count: int = 2,
    stop_words: Sequence[str] | None = None,
    score: str = "score",
    survey_type: str | None = "nps",
    type_column: str = "survey_type",
    threads: int | None = None,
    output: Output = "pandas",
) -> Any:
    """The words and two-word phrases that set each group's comments apart from the rest.

    The weighted log-odds ratio with an informative Dirichlet prior (Monroe,
    Colaresi & Quinn 2008, "Fightin' Words"), each group against all other
    groups together. Terms are the comment's tokens (:func:`tokenize`) that are
    neither stop words nor numbers, and bigrams of two such tokens adjacent in one
    clause (no bigram spans a removed stop word). With ``y_iw`` the count of term
    ``w`` in group ``i``, ``n_i`` all term occurrences of the group, ``j`` the
    rest, and the prior ``a_w = prior * y_w / n`` (the term's share of the whole
    corpus, scaled to a total prior mass ``a_0 = prior``)::

        log_odds = ln((y_iw + a_w) / (n_i + a_0 - y_iw - a_w))
                 - ln((y_jw + a_w) / (n_j + a_0 - y_jw - a_w))
        z        = log_odds / sqrt(1 / (y_iw + a_w) + 1 / (y_jw + a_w))

    Each group lists its ``top_k`` terms by ``z`` (ties by term), among those that
    occur in the group and at least ``min_count`` times in all comments. A group
    whose rest has no terms (a single group) gets no rows.

    Args:
        data: a table of survey responses (see :func:`kpiforge.compute`); filter
            it first to compare within a period or region.
        group: a column (``"rep_id"``; null is its own group), or a predefined
            split among NPS responses: ``"detractors"`` (0-6) vs ``"others"``, or
            ``"promoters"`` (9-10) vs ``"others"``. Rows of other surveys or with
            a null score are left out of a split.
        comment: the comment column (strings, or binary holding UTF-8).
        top_k: terms per group.
        prior: the total prior mass ``a_0`` (default 500 term occurrences). A larger
            prior shrinks rare terms harder toward the corpus rate.
        min_count: report only terms seen at least this often in all comments.
        stop_words: replaces the built-in list (:func:`default_stop_words`); each
            entry is normalised like a comment.
        score, survey_type, type_column: the NPS score and which rows are NPS
            responses, for the predefined splits (as in :func:`feedback_themes`).
        threads: worker threads, 1 to 1024 (default: all cores, or ``KPIFORGE_THREADS``).
        output: ``"pandas"`` (default), ``"arrow"`` or ``"polars"``.

    Returns:
        A tidy table, groups in order: ``group``, ``term``, ``count_in_group``,
        ``count_in_rest``, ``log_odds``, ``z``, ``rank`` (1 = most distinctive).

    Example:
        >>> import pandas as pd
        >>> from kpiforge.feedback import distinctive_terms
        >>> responses = pd.DataFrame({
        ...     "score": [2, 3, 1, 10, 9, 10, 8],
        ...     "comment": ["Delivery late again", "late delivery, prices up", "prix trop élevés",
        ...                 "great rep", "the rep is great", "great quality", "fine"],
        ... })
        >>> out = distinctive_terms(responses, group="detractors", top_k=2, min_count=1)
        >>> out[["group", "term", "count_in_group", "count_in_rest", "rank"]]
                group      term  count_in_group  count_in_rest  rank
        0  detractors  delivery               2              0     1
        1  detractors      late               2              0     2
        2      others     great               3              0     1
        3      others       rep               2              0     2
    """
    if output not in ("pandas", "arrow", "polars"):
        raise KpiInputError(
            f"output={output!r} is not one of 'pandas', 'arrow', 'polars'", column="output"
        )
    if not isinstance(group, str):
        raise KpiInputError(
            f"group must be a column name or 'detractors' / 'promoters', got {group!r}",
            column="group",
        )
    if stop_words is not None and (
        isinstance(stop_words, str) or not all(isinstance(w, str) for w in stop_words)
    ):
        raise KpiInputError("stop_words must be a list of strings", column="stop_words")
    if isinstance(prior, bool) or not isinstance(prior, int | float):
        raise KpiInputError(f"prior must be a positive number, got {prior!r}", column="prior")
    for name, value in (("top_k", top_k), ("min_count", min_count)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise KpiInputError(f"{name} must be a whole number >= 1, got {value!r}", column=name)
    request = {
        "group": group,
        "comment": comment,
        "score": score,
        "survey_type": survey_type,
        "type_column": type_column,
        "top_k": top_k,
        "prior": prior,
        "min_count": min_count,
        "stop_words": None if stop_words is None else list(stop_words),
        "threads": _threads(threads),
    }
    try:
        body = json.dumps(request, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise KpiInputError(f"invalid distinctive_terms argument: {err}", column="prior") from err
    batch = _core.distinctive_terms(to_arrow(data), body)
    return from_arrow(batch, output)
