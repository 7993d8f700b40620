"""Plain data passed between the layers: items, intents, filters, dialogue state, turn events.

Frozen dataclasses, no behaviour beyond (de)serialisation, so every module can import them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal

INTENTS = ("recommend", "refine", "more", "feedback", "ask", "reset", "chitchat")
IntentName = Literal["recommend", "refine", "more", "feedback", "ask", "reset", "chitchat"]


@dataclass(frozen=True)
class Item:
    """One catalog entry in the generic schema: films today, any medium tomorrow."""

    item_id: str
    title: str
    year: int | None = None
    text: str = ""  # free description; may be empty for the default catalog
    tags: tuple[str, ...] = ()  # canonical genre names
    attributes: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    # attributes keys used by the UI and explanations when present:
    # director, writer, cast (lists of names), runtime (minutes), language, country (lists),
    # rating (certificate), imdb_rating, metacritic, awards, popularity (0..1)

    def people(self, role: str) -> list[str]:
        """Names under a role attribute ("director", "cast", "writer"), always a list."""
        value = self.attributes.get(role) or []
        return [value] if isinstance(value, str) else list(value)

    def lead_cast(self) -> list[str]:
        """The cast in billing order where the catalog has it ("top_cast"), else "cast" (alphabetical in the
        default catalog, so only a fallback)."""
        return self.people("top_cast") or self.people("cast")

    def label(self) -> str:
        """Title with year, the way people write it: "Alien (1979)"."""
        return f"{self.title} ({self.year})" if self.year else self.title


@dataclass(frozen=True)
class Intent:
    """What one message asks for; the contract of `python -m recsys parse` (see to_dict)."""

    intent: IntentName = "recommend"
    genres_include: tuple[str, ...] = ()
    genres_exclude: tuple[str, ...] = ()
    year_min: int | None = None
    year_max: int | None = None
    people: tuple[str, ...] = ()
    titles: tuple[str, ...] = ()  # referenced catalog titles ("like Heat")
    query: str = ""  # soft descriptive words for the embedding query
    count: int | None = None  # how many results were asked for
    # slots added after the first stored rows: their defaults keep older rows and callers working
    runtime_min: int | None = None  # minutes ("over two hours")
    runtime_max: int | None = None  # minutes ("under 90 minutes")
    languages: tuple[str, ...] = ()  # catalog language names ("in French")
    countries: tuple[str, ...] = ()  # catalog country names ("a Japanese film", "made in Italy")
    refine: tuple[
        str, ...
    ] = ()  # relative changes: older newer shorter longer lighter darker similar same_director same_cast
    positions: tuple[int, ...] = ()  # 1-based references into the last list ("the second one"); -1 = the last one
    feedback: str | None = None  # feedback in words: "liked", "disliked" or "seen"
    ask: str | None = (
        None  # attribute asked about: director cast writer year runtime language country genre plot rating
    )
    clear: tuple[str, ...] = ()  # constraints lifted ("any decade"): genres years people runtime languages countries
    source: str = "lexicon"  # which parser produced it: lexicon, llm or merged
    genres_all: tuple[str, ...] = ()  # a compound genre ("rom-com"): an item needs every one of these

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict with lists instead of tuples."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


@dataclass(frozen=True)
class Filters:
    """Hard constraints, applied to the whole catalog before top-k."""

    genres_include: tuple[str, ...] = ()  # an item needs at least one of these
    genres_exclude: tuple[str, ...] = ()  # an item may have none of these
    year_min: int | None = None
    year_max: int | None = None
    exclude_ids: frozenset[str] = frozenset()  # disliked and already-shown items
    runtime_min: int | None = None  # minutes; unknown runtime fails a runtime constraint
    runtime_max: int | None = None
    languages: tuple[str, ...] = ()  # an item needs at least one of these languages
    countries: tuple[str, ...] = ()  # an item needs at least one of these countries
    people: tuple[str, ...] = ()  # an item needs one of these as director, writer or cast
    genres_all: tuple[str, ...] = ()  # an item needs every one of these ("rom-com": Romance and Comedy)


@dataclass(frozen=True)
class DialogueState:
    """Constraints and history of one session that carry across turns; persisted as JSON."""

    genres_include: tuple[str, ...] = ()
    genres_exclude: tuple[str, ...] = ()
    year_min: int | None = None
    year_max: int | None = None
    people: tuple[str, ...] = ()
    query: str = ""
    count: int = 3
    shown_ids: tuple[str, ...] = ()  # every item recommended in this session, oldest first
    last_ids: tuple[str, ...] = ()  # the last list shown, in order (for "the second one")
    liked_ids: tuple[str, ...] = ()
    disliked_ids: tuple[str, ...] = ()
    mmr_lambda: float | None = None  # per-session relevance vs diversity; None = Settings.mmr_lambda
    runtime_min: int | None = None  # minutes; runtime and places persist until changed or cleared
    runtime_max: int | None = None
    languages: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    focus_id: str = ""  # the item last talked about ("who directed it?", "loved it")
    genres_all: tuple[str, ...] = ()  # a compound genre asked for ("rom-com"): every one is required

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def diversity(self, default: float) -> float:
        """This session's MMR lambda, or the host's default (Settings.mmr_lambda) while the person has not set one."""
        return default if self.mmr_lambda is None else self.mmr_lambda

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> DialogueState:
        """Inverse of to_dict; unknown keys are ignored so old rows keep loading."""
        if not data:
            return cls()
        known = {f.name for f in fields(cls)}
        clean = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in known}
        return cls(**clean)

    def evolve(self, **changes: Any) -> DialogueState:
        """A copy with some fields changed."""
        return replace(self, **changes)


@dataclass(frozen=True)
class Recommendation:
    """An item chosen for a turn, with its scores and a fact-built one-line reason."""

    item: Item
    score: float
    relevance: float
    reason: str = ""
    personal: float = 0.0  # the per-user head's score (predicted rating mapped to about -1..1); 0 without a head


@dataclass(frozen=True)
class TurnEvent:
    """What `Engine.respond` yields while a turn runs.

    kind "items": the recommendations are chosen (before any text is generated);
    kind "text": `text` is the whole reply so far (it may rewrite earlier text, e.g. a rejected reason);
    kind "done": the turn is stored; `text` is the final reply.
    """

    kind: Literal["items", "text", "done"]
    text: str = ""
    items: tuple[Recommendation, ...] = ()
    intent: Intent | None = None
    timings_ms: dict[str, float] = field(default_factory=dict, hash=False, compare=False)
    # for the UI's "why these?": candidates considered, constraints, MMR λ, each item's redundancy with earlier picks
    details: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    state: DialogueState | None = field(default=None, hash=False, compare=False)  # "done": the state stored
