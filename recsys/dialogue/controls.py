"""The page's controls as state changes: values checked and clamped before they reach the dialogue state.

clean = clean_controls({"count": "5", "genres_exclude": ["horror"]}, max_count=10, genres=catalog.genres)
state = apply_controls(state, clean)  # RecsysError when the result would be contradictory
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..core.errors import RecsysError
from ..core.types import DialogueState

CONTROLS = frozenset({"count", "mmr_lambda", "year_min", "year_max", "genres_exclude"})


def clean_controls(changes: Mapping[str, object], max_count: int, genres: Sequence[str]) -> dict[str, object]:
    """The changes validated: numbers parsed and clamped, genres spelt as the catalog does (RecsysError if not)."""
    if set(changes) - CONTROLS:
        raise RecsysError(f"cannot change {sorted(set(changes) - CONTROLS)}; only {sorted(CONTROLS)}")
    clean: dict[str, object] = {}
    try:
        if "count" in changes:
            clean["count"] = max(1, min(max_count, int(changes["count"])))
        if "mmr_lambda" in changes:
            lam = changes["mmr_lambda"]
            clean["mmr_lambda"] = None if lam is None else max(0.0, min(1.0, float(lam)))
        for key in ("year_min", "year_max"):
            if key in changes:
                clean[key] = None if changes[key] in (None, "") else int(changes[key])
    except (TypeError, ValueError) as exc:
        raise RecsysError(f"not a number: {exc}") from None
    if "genres_exclude" in changes:
        known = {g.lower(): g for g in genres}
        wanted = [known.get(str(g).lower()) for g in changes["genres_exclude"] or ()]
        if None in wanted:
            raise RecsysError("unknown genre in genres_exclude")
        clean["genres_exclude"] = tuple(dict.fromkeys(wanted))
    return clean


def apply_controls(state: DialogueState, clean: Mapping[str, object]) -> DialogueState:
    """The state with cleaned control values; an empty year range is refused (RecsysError)."""
    clean = dict(clean)
    lo = clean.get("year_min", state.year_min)
    hi = clean.get("year_max", state.year_max)
    if lo is not None and hi is not None and lo > hi:
        raise RecsysError(f"year range is empty ({lo} > {hi})")
    if "genres_exclude" in clean:  # a genre cannot be wanted and excluded at once
        clean["genres_include"] = tuple(g for g in state.genres_include if g not in clean["genres_exclude"])
        if set(state.genres_all) & set(clean["genres_exclude"]):
            clean["genres_all"] = ()
    return state.evolve(**clean)
