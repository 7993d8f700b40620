"""The text-only slot readers of the lexicon parser: years and decades ("from the 80s", "before 1975"), and runtime
("under two hours"). Each returns the bounds it read and records the spans it used, so other readers skip them.
"""

from __future__ import annotations

import re

from .words import DECADE_WORDS, NUMBER_WORDS

NUM = r"(\d+(?:\.\d+)?|an?|one|two|three|four|five|half an?)"
RUNTIME_RE = re.compile(
    r"\b(under|less than|shorter than|no more than|no longer than|not more than|not over|at most|max(?:imum)?|below|"
    r"within|up to|over|more than|longer than|at least|above|minimum|min)\s+"
    + NUM
    + r"(?:\s+and a half)?\s*(hours?|hrs?|h|minutes?|mins?)\b(?:\s+and a half)?"
)


STRICT_BOUND = {
    "under": 1,
    "less than": 1,
    "shorter than": 1,
    "below": 1,
    "over": 1,
    "more than": 1,
    "longer than": 1,
    "above": 1,
}


def _number(word: str) -> float:
    """'two' -> 2, '1.5' -> 1.5, 'an' -> 1, 'half an' -> 0.5."""
    if word.startswith("half"):
        return 0.5
    if word in ("a", "an"):
        return 1
    return float(word) if word[0].isdigit() else NUMBER_WORDS[word]


def parse_years(text: str, drop: list[tuple[int, int]], newest_year: int) -> tuple[int | None, int | None]:
    """(year_min, year_max) from decades, ranges, comparisons and "recent"/"classic"; spans go to `drop`."""
    lo = hi = None
    decades: list[tuple[int, int]] = []

    def full(y: str) -> int:
        """A two-digit year as a full one ("85" -> 1985, "05" -> 2005); four digits stay."""
        n = int(y)
        return n if n >= 100 else (1900 + n if n >= 20 else 2000 + n)

    for m in re.finditer(r"\bbetween (\d{4}) and (\d{4})\b|\b(\d{4}) ?(?:-|to|–|and) ?(\d{4})\b", text):
        a, b = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        lo, hi = min(int(a), int(b)), max(int(a), int(b))
        drop.append(m.span())
    for m in re.finditer(r"\b(?:the )?(?:(early|mid|late)[ -])?(\d{2}|\d{4})'?s\b", text):
        base = full(m.group(2))
        if base % 10 or any(a <= m.start() < b for a, b in drop):
            continue
        a, b = base, base + 9
        a, b = {"early": (a, a + 3), "mid": (a + 3, a + 6), "late": (a + 6, b)}.get(m.group(1) or "", (a, b))
        lo, hi = a, b
        decades.append((a, b))
        drop.append(m.span())
    for word, base in DECADE_WORDS.items():
        for m in re.finditer(rf"\b(?:(early|mid|late)[ -])?{word}\b", text):
            lo, hi = {"early": (base, base + 3), "mid": (base + 3, base + 6), "late": (base + 6, base + 9)}.get(
                m.group(1) or "", (base, base + 9)
            )
            decades.append((lo, hi))
            drop.append(m.span())
    if len(decades) > 1:  # "the forties or fifties", "60s to 80s": the span of all of them
        lo, hi = min(d[0] for d in decades), max(d[1] for d in decades)
    for m in re.finditer(
        r"\b(before|earlier than|older than|prior to|until|up to|pre|after|later than|newer "
        r"than|since|from|in|made in|released in|post|not before|not after|nothing (?:made |"
        r"released )?(?:after|before))[ -](\d{4})\b",
        text,
    ):
        word, year = m.group(1), int(m.group(2))
        if word.startswith("nothing"):
            word = "not after" if word.endswith("after") else "not before"
        if any(a <= m.start() < b for a, b in drop):
            continue
        if word in ("before", "earlier than", "older than", "prior to", "pre", "not after"):
            hi = year - 1 if word != "not after" else year
        elif word in ("until", "up to"):
            hi = year
        elif word in ("after", "later than", "newer than", "post"):
            lo = year + 1
        elif word in ("since", "not before"):
            lo = year
        else:  # "from 1985", "in 1985"
            lo, hi = year, year
        drop.append(m.span())
    for m in re.finditer(
        r"\b(?<!more )(recent|newer releases|latest|modern|new releases|brand new|last few years)\b", text
    ):
        lo = lo if lo is not None else newest_year - 9
        drop.append(m.span())
    for m in re.finditer(r"\b(classic|classics|old-school|old school|golden age|vintage|old|oldies)\b", text):
        hi = hi if hi is not None else 1979
        drop.append(m.span())
    return lo, hi


def parse_runtime(text: str, drop: list[tuple[int, int]]) -> tuple[int | None, int | None]:
    """(runtime_min, runtime_max) in minutes: "under two hours", "at least 90 minutes", "not too long"."""
    lo = hi = None
    for m in RUNTIME_RE.finditer(text):
        amount = _number(m.group(2)) + (0.5 if "and a half" in m.group(0) else 0)
        minutes = int(round(amount * 60 if m.group(3).startswith("h") else amount))
        negated = re.search(r"\b(nothing|not|no|never)\s*$", text[: m.start()]) is not None
        # bounds are inclusive: "under 90" is at most 89, "over 3 hours" at least 181; "at most 90", "nothing
        # longer than 90" and "at least 120" keep the number itself
        strict = 0 if negated else STRICT_BOUND.get(m.group(1), 0)
        if (m.group(1) in ("over", "more than", "longer than", "at least", "above", "minimum", "min")) != negated:
            lo = minutes + strict
        else:
            hi = minutes - strict
        drop.append(m.span())
    for m in re.finditer(
        r"\b(not too long|not very long|not long|not overly long|nothing too long|"
        r"not a long one|shortish|(?:a |something )?short|quick (?:one|watch)|)\b",
        text,
    ):
        if m.group(0):
            hi = hi if hi is not None else (120 if "long" in m.group(0) else 100)
            drop.append(m.span())
    for m in re.finditer(r"\b(long epic|epic length|lengthy|a long (?:one|film|movie)|three hours)\b", text):
        lo = lo if lo is not None else 150
        drop.append(m.span())
    return lo, hi


# "something like X", "films similar to X", "in the vein of X": X is a comparison, not a taste the person states.
COMPARISON_BEFORE_RE = re.compile(
    r"(?:\b(?:something|anything|films?|movies?|ones?|stuff|more|others?|else)\s+(?:like|similar to)"
    r"|\b(?:similar to|such as|in the vein of|along the lines of|reminds? me of))\s+$"
)


def comparison_titles(text: str, titles: tuple[str, ...] | list[str]) -> list[str]:
    """The titles a message names as a comparison ("I hated The Notebook, show me something like Superbad": only
    Superbad), so feedback in the same message applies to the others alone. A title is found by its words in lower
    case, without a leading article (people write "dark knight"); one not found is not a comparison."""
    low = text.lower()
    out = []
    for title in titles:
        key = re.sub(r"^(the|a|an)\s+", "", title.lower())
        at = low.find(key)
        if at >= 0 and COMPARISON_BEFORE_RE.search(re.sub(r"\b(the|a|an)\s+$", "", low[max(0, at - 40) : at])):
            out.append(title)
    return out
