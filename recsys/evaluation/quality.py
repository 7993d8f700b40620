"""Quality metrics over recommendation lists and replies: pure functions, no models, no I/O.

Ranking (Recall@k, NDCG@k), catalog coverage, intra-list diversity, novelty, and explanation checks: which
attribute claims a reason makes ("directed by X", "1985", "runs 94 minutes", "a comedy", "starring X") and whether
the item's facts back each one, Distinct-n, percentiles. The eval report's figures (evaluation/report_figures.py) wire
them to a replay run.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ..core.types import Item
from ..explain.grounding import CLAIM_NEGATORS, GENRE_CLAIM_RE, GENRE_CLAIMS

WORD = r"[^\W\d_][\w.'’-]*"
NAME = WORD + r"(?:\s+" + WORD + ")*"  # words; _name keeps the capitalised run ("Jasmila Žbanić", "Ray de la Cruz")
PARTICLES = frozenset("de da di del della van von la le du der den ter".split())
DIRECTED_RE = re.compile(r"\b(?i:directed by|director|from director|by director)\s+(" + NAME + ")")
STARRING_RE = re.compile(r"\b(?i:starring|stars|with)\s+(" + NAME + r"(?:(?:,\s*|\s+and\s+)" + NAME + ")*)")
YEAR_RE = re.compile(r"\b(1[89]\d\d|20\d\d)\b(?!\s*(?:minutes|min)\b)")
DECADE_RE = re.compile(r"\b(?:19|20)?(\d)0s\b")
RUNTIME_RE = re.compile(
    r"\b(?:(under|less than|below|shorter than|over|more than|above|longer than)\s+)?"
    r"(\d{2,3})[ -](?:minutes?|mins?)\b",
    re.IGNORECASE,
)
BELOW = ("under", "less than", "below", "shorter than")


@dataclass(frozen=True)
class Claim:
    """One checkable statement of a reason: its kind, the claimed value and whether the facts back it."""

    kind: str  # "director", "cast", "year", "decade", "runtime", "genre"
    value: str
    correct: bool


def _name(text: str) -> str:
    """The leading capitalised words of text (particles allowed inside): "John Hughes runs 94" -> "John Hughes"."""
    kept: list[str] = []
    for word in text.split():
        if word[0].isupper() or (kept and word in PARTICLES):
            kept.append(word)
        else:
            break
    while kept and kept[-1] in PARTICLES:
        kept.pop()
    return re.sub(r"['’]s$", "", " ".join(kept).rstrip("."))  # "Andy Knight's film" names Andy Knight


def _leading_fact(text: str, people: Iterable[str]) -> str:
    """The longest known name that text starts with ("Cedric the Entertainer and ..."), or ""."""
    low = text.lower()
    hits = [p for p in people if low.startswith(p.lower()) and not low[len(p) : len(p) + 1].isalnum()]
    return max(hits, key=len, default="")


def _names(text: str, people: Iterable[str] = ()) -> list[str]:
    """Names in "A, B and C" (empty strings dropped); a known name is taken whole even with lower-case words."""
    people = list(people)
    out, rest = [], text
    while rest:
        known = _leading_fact(rest, people)
        name = known or _name(re.split(r",\s*|\s+and\s+", rest, maxsplit=1)[0])
        if name:
            out.append(name)
        parts = re.split(r",\s*|\s+and\s+", rest[len(known) :] if known else rest, maxsplit=1)
        rest = parts[1] if len(parts) > 1 else ""
    return out


def _known(name: str, people: Iterable[str]) -> bool:
    """A claimed name matches a fact when the whole name, or its last word (a surname), matches one."""
    low = name.lower().rstrip(".")
    for p in people:
        p = p.lower().rstrip(".")
        if low == p or (" " not in low and p.split()[-1:] == [low]):
            return True
    return False


def claims(reason: str, item: Item, linked: Sequence[str] = ()) -> list[Claim]:
    """The attribute claims in one reason about `item`, each checked against the item's facts. `linked`: titles the
    evidence links it to ("shares X with Alien, which you liked"), which are no cast claim."""
    out: list[Claim] = []
    titles = {t.lower() for t in linked}
    directors = item.people("director")
    cast = item.people("cast") + item.people("top_cast")
    for m in DIRECTED_RE.finditer(reason):
        name = _leading_fact(m.group(1), directors) or _name(m.group(1))
        if name:
            out.append(Claim("director", name, _known(name, directors)))
    unlinked = reason  # a linked title read as names stops at its first lower-case word ("Singin'" of the title)
    for title in sorted(titles, key=len, reverse=True):
        unlinked = re.sub(re.escape(title), "a film", unlinked, flags=re.I)
    for m in STARRING_RE.finditer(unlinked):
        for name in _names(m.group(1), cast):
            out.append(Claim("cast", name, _known(name, cast)))
    for m in YEAR_RE.finditer(reason):
        out.append(Claim("year", m.group(1), item.year is not None and int(m.group(1)) == item.year))
    for m in DECADE_RE.finditer(reason):
        out.append(Claim("decade", m.group(0), item.year is not None and int(m.group(1)) == item.year // 10 % 10))
    runtime = item.attributes.get("runtime")
    for m in RUNTIME_RE.finditer(reason):  # "runs 94 minutes" = 94; "under 90 minutes" < 90; "over 120" > 120
        bound, minutes = (m.group(1) or "").lower(), int(m.group(2))
        known = isinstance(runtime, int) and runtime > 0
        ok = known and (runtime < minutes if bound in BELOW else runtime > minutes if bound else runtime == minutes)
        out.append(Claim("runtime", m.group(0), bool(ok)))
    tags = {t.lower() for t in item.tags}
    for m in GENRE_CLAIM_RE.finditer(reason):
        before = re.findall(r"[a-z']+", reason[: m.start()].lower())[-3:]
        if CLAIM_NEGATORS & set(before):
            continue  # "nothing with horror" claims no horror
        genre = GENRE_CLAIMS[m.group().lower()]
        out.append(Claim("genre", genre, genre.lower() in tags))
    return out


# --- ranking -----------------------------------------------------------------------------------------------------
def recall_at_k(shown: Sequence[str], targets: Iterable[str]) -> float:
    """Share of the targets that are in the list (k = len(shown))."""
    wanted = set(targets)
    return len(wanted & set(shown)) / len(wanted) if wanted else math.nan


def ndcg_at_k(shown: Sequence[str], targets: Iterable[str]) -> float:
    """Binary-relevance NDCG of the list against the targets (k = len(shown))."""
    wanted = set(targets)
    if not wanted or not shown:
        return math.nan if not wanted else 0.0
    dcg = sum(1.0 / math.log2(i + 2) for i, item in enumerate(shown) if item in wanted)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(shown), len(wanted))))
    return dcg / ideal


# --- lists -------------------------------------------------------------------------------------------------------
def coverage(lists: Iterable[Sequence[str]], catalog_size: int) -> float:
    """Share of the catalog that appeared in at least one list."""
    seen = {i for ids in lists for i in ids}
    return len(seen) / catalog_size if catalog_size else math.nan


def intra_list_distance(vectors: np.ndarray) -> float:
    """Mean pairwise cosine distance within one list; vectors (k, d) with unit rows; nan below two items."""
    k = len(vectors)
    if k < 2:
        return math.nan
    sims = vectors @ vectors.T  # (k, k)
    upper = sims[np.triu_indices(k, 1)]  # (k(k-1)/2,)
    return float(np.mean(1.0 - upper))


def genre_distance(items: Sequence[Item]) -> float:
    """Mean pairwise Jaccard distance of the items' genres; nan below two items."""
    pairs = [(a, b) for i, a in enumerate(items) for b in items[i + 1 :]]
    if not pairs:
        return math.nan
    dist = []
    for a, b in pairs:
        union = set(a.tags) | set(b.tags)
        dist.append(1.0 - len(set(a.tags) & set(b.tags)) / len(union) if union else 0.0)
    return float(np.mean(dist))


# --- text --------------------------------------------------------------------------------------------------------
def words(text: str) -> list[str]:
    """Lowercase word tokens."""
    return re.findall(r"[^\W_]+(?:'[^\W_]+)?", text.lower())


def distinct_n(texts: Iterable[str], n: int) -> float:
    """Distinct-n: unique n-grams / all n-grams over the texts (higher = less repetitive)."""
    grams = [tuple(ws[i : i + n]) for ws in map(words, texts) for i in range(len(ws) - n + 1)]
    return len(set(grams)) / len(grams) if grams else math.nan


def covered(reply: str, items: Sequence[Item]) -> float:
    """Share of the items whose title the reply names."""
    if not items:
        return math.nan
    low = reply.lower()
    return sum(it.title.lower() in low for it in items) / len(items)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile, nan for no values."""
    return float(np.percentile(values, q)) if len(values) else math.nan


def mean(values: Iterable[float]) -> float:
    """Mean of the non-nan values, nan when there are none."""
    vals = [v for v in values if not (isinstance(v, float) and math.isnan(v))]
    return float(np.mean(vals)) if vals else math.nan
