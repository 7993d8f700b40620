"""Text rules every catalog source shares: what is embedded for an item, how titles match, how raw values clean up.

    item_text(alien)                       # "Alien (1979). Sci-Fi, Horror, ... film directed by Ridley Scott, ..."
    normalise_title("Les Misérables")      # "les miserables"
    split_names("Tom Hanks, Meg Ryan")     # ["Tom Hanks", "Meg Ryan"]

`item_text` is the one place that decides what text is embedded for an item (index and meta-training use it).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from typing import Any

from ..core.types import Item

# Short function words: a title made only of these ("It", "Up", "Her", "What If") is common English, so it counts
# only when written like a title. Articles are also dropped from the front of titles ("The Matrix" = "Matrix").
STOPWORDS = frozenset(
    """
a an the and or but nor so yet of in on at to for from by with without about into onto over under up down out off
as is are was were be been being am do does did done have has had it its it's i me my we us our you your he him his
she her they them their this that these those there here what which who whom whose when where why how if then than
too very can will just not no all any some one two go get got let lets s t
""".split()
)
TEXT_WORDS = 60  # item_text budget: MiniLM truncates at 256 tokens, and short texts embed faster


def item_text(item: Item, titled: bool = True) -> str:
    """The text embedded for an item: a pure function of the Item, about 60 words at most. `titled=False` leaves
    the title out (the year stays): what the film is, for requests whose words only echo its title."""
    a = item.attributes
    genres = ", ".join(item.tags)
    sentence = f"{genres} film" if genres else "Film"
    directors = item.people("director")[:2]
    if directors:
        sentence += " directed by " + " and ".join(directors)
    cast = item.lead_cast()[:3]  # "cast" may be alphabetical: prefer "top_cast"
    if cast:
        sentence += ", starring " + ", ".join(cast)
    parts = [item.label() + "." if titled else (f"{item.year}." if item.year else ""), sentence + "."]
    place = item.people("language")[:2] + item.people("country")[:2]
    if place:
        parts.append(", ".join(dict.fromkeys(place)) + ".")  # dict.fromkeys: drop repeats, keep order
    if isinstance(a.get("awards"), str):
        parts.append(a["awards"])
    head = " ".join(p for p in parts if p)
    if item.text:
        budget = max(20, TEXT_WORDS - len(head.split()))
        words = item.text.split()
        head += " " + " ".join(words[:budget]) + ("…" if len(words) > budget else "")
    return head


def title_echoes(title: str, words: Sequence[str]) -> bool:
    """Whether a request's words echo a title's own ("a rainy monday" and Singin' in the Rain): a title word that
    is no function word equals a request word, or one starts the other and the shorter has 4+ letters."""
    own = [w for w in normalise_title(title).split() if w not in STOPWORDS and not w.isdigit()]
    asked = [w for w in normalise_title(" ".join(words)).split() if w not in STOPWORDS]
    return any(
        a == w or (min(len(a), len(w)) >= 4 and (a.startswith(w) or w.startswith(a))) for w in own for a in asked
    )


_WORD = re.compile(r"[a-z0-9]+")


def normalise_title(title: str) -> str:
    """Lowercase ASCII words of a title, for matching across sources ("Les Misérables" -> "les miserables")."""
    plain = title if title.isascii() else unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    return " ".join(_WORD.findall(plain.lower()))


def clean_value(value: Any) -> Any:
    """NULL, blank, "N/A" and NaN become None; strings get their whitespace collapsed."""
    if isinstance(value, str):
        value = " ".join(value.split())
        return None if value in ("", "N/A") else value
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def split_names(value: Any) -> list[str]:
    """A comma (or pipe, if any) separated string, or a list of strings, as a list of unique stripped names."""
    if isinstance(value, (list, tuple)):
        parts = value
    else:
        value = clean_value(value)
        if value is None:
            return []
        text = str(value)
        parts = text.split("|") if "|" in text else text.split(",")
    names = (p.strip() for p in parts)
    return list(dict.fromkeys(n for n in names if n and n != "N/A"))
