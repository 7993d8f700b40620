"""Expectations of replayed scripts: script names bound to the catalog, and the checks of one turn's outcome.

    vocab = Vocabulary(catalog)
    bound = resolve(scripts[0], vocab)                    # genre synonyms, titles and people bound to the catalog
    failures = check(turn.expect, bound, i, outcome, seen, guard)  # [] when every expectation holds

Genre names go through the chat parser's synonyms ("sci-fi", "rom-com"), titles and people must be in the catalog,
so a typo in a script is an invalid script (exit 2), never a silently passing expectation.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..catalog.catalog import Catalog
from ..catalog.text import normalise_title
from ..core.types import Item
from ..explain.grounding import TitleGuard, fact_phrases
from ..understanding.lexicon import LexiconParser
from ..understanding.words import message_tokens
from .script import Expect, LoadedScript, ScriptError

PEOPLE_ROLES = ("director", "cast", "writer", "top_cast")  # where people_any looks for a name
TITLE_YEAR = re.compile(r"^(.*\S)\s*\((\d{4})\)\s*$")  # "Heat (1995)" pins one of several films called Heat


# --- binding names to the catalog ------------------------------------------------------------------------------------
class Vocabulary:
    """The catalog's genres (through the chat parser's synonyms), titles and people, for resolving script names."""

    def __init__(self, catalog: Catalog) -> None:
        """Index the catalog's titles and people once per run."""
        self.catalog = catalog
        self.synonyms = LexiconParser(catalog.genres).synonyms  # the same table chat uses
        self.by_title: dict[str, list[Item]] = {}
        self.people: set[str] = set()
        for item in catalog.items:
            self.by_title.setdefault(normalise_title(item.title), []).append(item)
            for role in PEOPLE_ROLES:
                self.people.update(p.lower() for p in item.people(role))

    def genres(self, names: Sequence[str]) -> list[str]:
        """Canonical genre names for script names; ValueError on an unknown one."""
        out: list[str] = []
        for name in names:
            canonical = self.synonyms.get(tuple(message_tokens(name)))
            if canonical is None:
                raise ValueError(f"unknown genre {name!r} (catalog genres: {', '.join(self.catalog.genres)})")
            out += [g for g in canonical if g not in out]
        return out

    def titles(self, title: str) -> list[Item]:
        """Catalog items with this title ("Title (Year)" narrows to that year); ValueError when none."""
        m = TITLE_YEAR.match(title)
        name, year = (m.group(1), int(m.group(2))) if m else (title, None)
        found = [it for it in self.by_title.get(normalise_title(name), []) if year is None or it.year == year]
        if not found:
            raise ValueError(f"title {title!r} is not in the catalog")
        return found

    def person(self, name: str) -> str:
        """The name, checked against the catalog's people; ValueError when nobody has it."""
        if name.lower() not in self.people:
            raise ValueError(f"nobody called {name!r} in the catalog")
        return name


@dataclass(frozen=True)
class Bound:
    """Script names bound to the catalog, per turn: canonical genres and the item ids of titles."""

    genres_any: tuple[tuple[str, ...], ...] = ()
    genres_all: tuple[tuple[str, ...], ...] = ()
    genres_none: tuple[tuple[str, ...], ...] = ()
    titles_include: tuple[tuple[tuple[str, ...], ...], ...] = ()  # per turn, per title: ids of films so called
    titles_exclude: tuple[tuple[str, ...], ...] = ()  # per turn: ids of every film so called
    targets: tuple[tuple[str, ...], ...] = ()  # per turn: ids of target films


def resolve(loaded: LoadedScript, vocab: Vocabulary) -> Bound:
    """Bind a script's genre names, titles and people to the catalog; ScriptError names file, turn and field."""
    per: dict[str, list] = {
        k: [] for k in ("genres_any", "genres_all", "genres_none", "titles_include", "titles_exclude", "targets")
    }
    for number, turn in enumerate(loaded.script.turns, start=1):
        where = f"{loaded.path}: turn {number}: "
        e = turn.expect
        current = "expect"
        try:
            for key in ("genres_any", "genres_all", "genres_none"):
                current = f"expect.{key}"
                per[key].append(tuple(vocab.genres(getattr(e, key))))
            current = "expect.titles_include"
            per["titles_include"].append(tuple(tuple(it.item_id for it in vocab.titles(t)) for t in e.titles_include))
            current = "expect.titles_exclude"
            per["titles_exclude"].append(tuple(it.item_id for t in e.titles_exclude for it in vocab.titles(t)))
            current = "targets"
            per["targets"].append(tuple(it.item_id for t in turn.targets for it in vocab.titles(t)))
            current = "expect.people_any"
            for name in e.people_any:
                vocab.person(name)
            if turn.feedback is not None and isinstance(turn.feedback.item, str):
                current = "feedback.item"
                vocab.titles(turn.feedback.item)
        except ValueError as err:
            raise ScriptError(f"{where}{current}: {err}") from None
    return Bound(**{k: tuple(v) for k, v in per.items()})


# --- checking one turn -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Outcome:
    """What one message produced, the same in-process and over HTTP (intent and timings may be unknown)."""

    reply: str
    items: tuple[Item, ...] = ()
    reasons: tuple[str, ...] = ()
    intent: str | None = None
    latency_ms: float = 0.0
    timings_ms: dict[str, float] = field(default_factory=dict)
    disliked_ids: tuple[str, ...] = ()  # the session's disliked items when known (feedback in words included)
    liked_ids: tuple[str, ...] | None = None  # the session's liked items; None when unknown (over HTTP)
    evidence: tuple[dict, ...] = ()  # per item, why it ranked (Evidence.to_dict()); empty when unknown
    sources: tuple[str, ...] = ()  # per item, "generated", "trimmed" or "template" (the evidence-built fallback)


@dataclass
class Seen:
    """What the script has done so far: items shown before this turn and items disliked by feedback turns."""

    shown_ids: set[str] = field(default_factory=set)
    disliked_ids: set[str] = field(default_factory=set)
    last: tuple[Item, ...] = ()  # the previous list of items
    votes: set[tuple[str, bool]] = field(default_factory=set)  # the session's (item, liked) pairs so far


def check(e: Expect, bound: Bound, turn_index: int, out: Outcome, seen: Seen, guard: TitleGuard | None) -> list[str]:
    """Failed expectations of one turn, as readable lines (empty when all hold). `turn_index` is 0-based."""
    fails: list[str] = []
    items = out.items
    labels = [it.label() for it in items]
    if e.min_items is not None and len(items) < e.min_items:
        fails.append(f"min_items: {len(items)} items, wanted at least {e.min_items}")
    if e.max_items is not None and len(items) > e.max_items:
        fails.append(f"max_items: {len(items)} items, wanted at most {e.max_items}")
    for it in items:
        tags = set(it.tags)
        if bound.genres_any[turn_index] and not tags & set(bound.genres_any[turn_index]):
            fails.append(
                f"genres_any: {it.label()} is {'/'.join(it.tags) or 'untagged'}, "
                f"none of {', '.join(bound.genres_any[turn_index])}"
            )
        missing = [g for g in bound.genres_all[turn_index] if g not in tags]
        if missing:
            fails.append(f"genres_all: {it.label()} lacks {', '.join(missing)}")
        banned = [g for g in bound.genres_none[turn_index] if g in tags]
        if banned:
            fails.append(f"genres_none: {it.label()} is {', '.join(banned)}")
        if e.year_min is not None and (it.year is None or it.year < e.year_min):
            fails.append(f"year_min: {it.label()} is before {e.year_min}")
        if e.year_max is not None and (it.year is None or it.year > e.year_max):
            fails.append(f"year_max: {it.label()} is after {e.year_max}")
        if e.people_any:
            people = {p.lower() for role in PEOPLE_ROLES for p in it.people(role)}
            if not people & {p.lower() for p in e.people_any}:
                fails.append(f"people_any: {it.label()} has none of {', '.join(e.people_any)}")
    ids = [it.item_id for it in items]
    for title, options in zip(e.titles_include, bound.titles_include[turn_index]):
        if not set(options) & set(ids):
            fails.append(f"titles_include: {title} is not in the list ({'; '.join(labels) or 'empty'})")
    for it in items:
        if it.item_id in bound.titles_exclude[turn_index]:
            fails.append(f"titles_exclude: {it.label()} is in the list")
    if e.excludes_disliked:
        disliked = seen.disliked_ids | set(out.disliked_ids)
        fails += [f"excludes_disliked: {it.label()} was disliked" for it in items if it.item_id in disliked]
    if e.no_repeats:
        fails += [f"no_repeats: {it.label()} was shown before" for it in items if it.item_id in seen.shown_ids]
        if len(set(ids)) < len(ids):
            fails.append("no_repeats: the list has duplicates")
    if e.mentions_only_recommended and guard is not None:
        linked = [n for ev in out.evidence for c in ev.get("taste") or () for n in c.get("names") or ()]
        named = guard.violations(out.reply, [it.title for it in items] + linked, fact_phrases(items) + linked)
        if named:
            fails.append(f"mentions_only_recommended: the reply names {', '.join(named)}")
    fails += [f"reply_matches: /{p}/ not found in the reply" for p in e.reply_matches if not re.search(p, out.reply)]
    fails += [f"reply_not_matches: /{p}/ found in the reply" for p in e.reply_not_matches if re.search(p, out.reply)]
    if e.intent and out.intent is not None and out.intent not in e.intent:
        fails.append(f"intent: parsed as {out.intent!r}, wanted {' or '.join(e.intent)}")
    fails += _extra(e, out, seen)
    if e.max_latency_ms is not None and out.latency_ms > e.max_latency_ms:
        fails.append(f"max_latency_ms: took {out.latency_ms:.0f} ms, limit {e.max_latency_ms:.0f}")
    return fails


def _runtime(item: Item) -> int | None:
    """Minutes, when the catalog knows them."""
    value = item.attributes.get("runtime")
    return value if isinstance(value, int) and value > 0 else None


def _extra(e: Expect, out: Outcome, seen: Seen) -> list[str]:
    """Checks of the finer keys: language, runtime, relative refinements, feedback in words."""
    fails: list[str] = []
    for it in out.items:
        if e.languages_any and not {x.lower() for x in it.people("language")} & {x.lower() for x in e.languages_any}:
            fails.append(f"languages_any: {it.label()} is in {', '.join(it.people('language')) or 'no known language'}")
        banned = {x.lower() for x in e.countries_none} & {x.lower() for x in it.people("country")}
        if banned:
            fails.append(f"countries_none: {it.label()} is from {', '.join(sorted(banned))}")
        minutes = _runtime(it)
        if e.runtime_min is not None and (minutes is None or minutes < e.runtime_min):
            fails.append(f"runtime_min: {it.label()} runs {minutes or 'unknown'} minutes")
        if e.runtime_max is not None and (minutes is None or minutes > e.runtime_max):
            fails.append(f"runtime_max: {it.label()} runs {minutes or 'unknown'} minutes")
    years = [it.year for it in seen.last if it.year]
    runtimes = [m for m in map(_runtime, seen.last) if m]
    for key, wanted, values, ok in (
        ("older_than_last", e.older_than_last, years, lambda it: it.year and it.year < min(years)),
        ("newer_than_last", e.newer_than_last, years, lambda it: it.year and it.year > max(years)),
        ("shorter_than_last", e.shorter_than_last, runtimes, lambda it: _runtime(it) and _runtime(it) < min(runtimes)),
    ):
        if not wanted:
            continue
        if not values:
            fails.append(f"{key}: no previous list to compare with")
            continue
        fails += [
            f"{key}: {it.label()} is not {key.split('_')[0]} than the previous list" for it in out.items if not ok(it)
        ]
    if e.feedback_recorded and out.liked_ids is not None:
        now = {(i, True) for i in out.liked_ids} | {(i, False) for i in out.disliked_ids}
        if not now - seen.votes:
            fails.append("feedback_recorded: the message added no like or dislike to the session")
    return fails
