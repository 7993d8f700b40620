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
from typing import Any

from ..core.types import Item

TEXT_WORDS = 60  # item_text budget: MiniLM truncates at 256 tokens, and short texts embed faster


def item_text(item: Item) -> str:
    """The text embedded for an item: a pure function of the Item, about 60 words at most."""
    a = item.attributes
    genres = ", ".join(item.tags)
    sentence = f"{genres} film" if genres else "Film"
    directors = item.people("director")[:2]
    if directors:
        sentence += " directed by " + " and ".join(directors)
    cast = item.lead_cast()[:3]  # "cast" may be alphabetical: prefer "top_cast"
    if cast:
        sentence += ", starring " + ", ".join(cast)
    parts = [item.label() + ".", sentence + "."]
    place = item.people("language")[:2] + item.people("country")[:2]
    if place:
        parts.append(", ".join(dict.fromkeys(place)) + ".")  # dict.fromkeys: drop repeats, keep order
    if isinstance(a.get("awards"), str):
        parts.append(a["awards"])
    head = " ".join(parts)
    if item.text:
        budget = max(20, TEXT_WORDS - len(head.split()))
        words = item.text.split()
        head += " " + " ".join(words[:budget]) + ("…" if len(words) > budget else "")
    return head


def normalise_title(title: str) -> str:
    """Lowercase ASCII words of a title, for matching across sources ("Les Misérables" -> "les miserables")."""
    plain = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    return " ".join(re.findall(r"[a-z0-9]+", plain.lower()))


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
