"""Generator-based intent parser: few-shot JSON from the small LLM, validated by a pydantic schema, merged with
the lexicon parse.

    llm = LLMParser(generator, catalog.genres)          # prompts/parse_system.txt + parse_examples.json
    llm.parse("spaceships and robots, nothing gory")    # Intent(source="llm") or None when the JSON is invalid
    merged = MergedParser(lexicon, llm)                 # calls the generator only when it can help

Why so narrow: SmolLM2-135M writes ~15 tokens/s on 2 CPU cores, so its JSON is kept to a few short keys
(intent, want, avoid, from, to; ~10-20 tokens), decoding stops at the first "}", the system prompt and the
few-shot turns are the same for every call (the generator reuses their KV cache), and the merged parser asks it
only when the lexicon left content words it could not explain and found no slot of its own.

Merge precedence: the lexicon decides every slot it found (people, titles, runtime, languages, references...);
exclusions from either side win over inclusions; the generator's genres and years are used only where the
lexicon found none, and its intent only when the lexicon's intent was its default (no cue word).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from dataclasses import replace
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..core.paths import PROMPTS
from ..core.types import Intent
from .lexicon import Analysis, LexiconParser

log = logging.getLogger(__name__)

MAX_NEW_TOKENS = 28  # the longest valid answer in the examples is ~25 tokens; more would only be rambling
YEAR_RANGE = (1900, 2030)


class ParsedJSON(BaseModel):
    """The generator's answer; unknown keys or a bad intent fail validation (and the lexicon parse is used)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    intent: Literal["recommend", "refine", "more", "feedback", "ask", "reset", "chitchat"] = "recommend"
    want: list[str] = Field(default_factory=list, max_length=6)
    avoid: list[str] = Field(default_factory=list, max_length=6)
    year_from: int | None = Field(default=None, alias="from", ge=YEAR_RANGE[0], le=YEAR_RANGE[1])
    year_to: int | None = Field(default=None, alias="to", ge=YEAR_RANGE[0], le=YEAR_RANGE[1])

    @field_validator("want", "avoid", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        """A lone string is a one-genre list (the model sometimes drops the brackets)."""
        return [value] if isinstance(value, str) else value


class TextGenerator(Protocol):
    """The part of generation.llm.Generator this module needs (a fake with `complete` alone will do)."""

    def complete(self, messages: list[dict[str, str]], max_new_tokens: int = 64, stop: Any = ()) -> str:
        """The whole reply to the messages."""
        ...


def load_prompt(genres: Iterable[str]) -> list[dict[str, str]]:
    """System prompt and few-shot turns (everything before the user's message: its KV cache is reused)."""
    system = (PROMPTS / "parse_system.txt").read_text().strip().replace("{genres}", ", ".join(genres))
    messages = [{"role": "system", "content": system}]
    for ex in json.loads((PROMPTS / "parse_examples.json").read_text()):
        messages.append({"role": "user", "content": ex["text"]})
        messages.append({"role": "assistant", "content": json.dumps(ex["json"], separators=(",", ":"))})
    return messages


def extract_json(raw: str) -> dict[str, Any] | None:
    """The first {...} object in the generator's text, closing a brace the stop string cut off."""
    start = raw.find("{")
    if start < 0:
        return None
    body = raw[start:]
    if "}" not in body:
        body += "}"
    body = body[: body.index("}") + 1]
    body = re.sub(r",\s*}", "}", body)  # a trailing comma is the commonest slip
    try:
        value = json.loads(body)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


class LLMParser:
    """Asks the generator for the JSON of one message and validates it against the catalog's genres."""

    def __init__(self, generator: TextGenerator, genres: Iterable[str], max_new_tokens: int = MAX_NEW_TOKENS) -> None:
        """The prompt prefix is built once: its KV cache is reused by every call."""
        self.generator = generator
        self.vocab = {g.lower(): g for g in genres}
        self.prefix = load_prompt(self.vocab.values())
        self.max_new_tokens = max_new_tokens

    def _genres(self, names: list[str]) -> tuple[str, ...]:
        """Catalog spellings of the names; anything outside the vocabulary is dropped (the constraint)."""
        out = [self.vocab.get(n.strip().lower().replace("science fiction", "sci-fi")) for n in names]
        return tuple(dict.fromkeys(g for g in out if g))

    def parse(self, text: str) -> Intent | None:
        """The generator's Intent for a message, or None when its output does not validate (logged)."""
        messages = [*self.prefix, {"role": "user", "content": " ".join(text.split())[:500]}]
        try:
            raw = self.generator.complete(messages, max_new_tokens=self.max_new_tokens, stop=("}",))
        except Exception as exc:  # a broken backend must not break parsing: the lexicon parse stands
            log.warning("generator parse failed (%s: %s); using the lexicon parse", type(exc).__name__, exc)
            return None
        data = extract_json(raw)
        try:
            parsed = ParsedJSON.model_validate(data if data is not None else raw)
        except ValidationError as exc:
            log.warning("generator JSON did not validate (%d errors); using the lexicon parse", exc.error_count())
            log.debug("raw generator output: %r", raw)
            return None
        exclude = self._genres(parsed.avoid)
        include = tuple(g for g in self._genres(parsed.want) if g not in exclude)
        lo, hi = parsed.year_from, parsed.year_to
        if lo is not None and hi is not None and lo > hi:
            lo, hi = hi, lo
        return Intent(
            intent=parsed.intent, genres_include=include, genres_exclude=exclude, year_min=lo, year_max=hi, source="llm"
        )


def merge(lexicon: Intent, generated: Intent | None, lexicon_cued: bool = True) -> Intent:
    """One Intent from both parses (precedence in the module docstring); None from the generator = lexicon."""
    if generated is None:
        return replace(lexicon, source="merged")
    exclude = tuple(dict.fromkeys(lexicon.genres_exclude + generated.genres_exclude))
    include = lexicon.genres_include or generated.genres_include
    include = tuple(g for g in include if g not in exclude)
    years = (lexicon.year_min, lexicon.year_max)
    if years == (None, None):
        years = (generated.year_min, generated.year_max)
    intent = lexicon.intent if lexicon_cued else generated.intent
    if intent in ("ask", "feedback", "reset", "chitchat") and (include or lexicon.people or lexicon.titles):
        intent = lexicon.intent  # the generator's guess cannot turn a request with slots into small talk
    return replace(
        lexicon,
        intent=intent,
        genres_include=include,
        genres_exclude=exclude,
        year_min=years[0],
        year_max=years[1],
        source="merged",
    )


class MergedParser:
    """Lexicon first; the generator only when the lexicon left unexplained words and found no slot."""

    def __init__(self, lexicon: LexiconParser, llm: LLMParser) -> None:
        """The lexicon parser that always runs and the generator parser asked when it can help."""
        self.lexicon = lexicon
        self.llm = llm
        self.calls = 0  # how often the generator was asked (the eval reports it)

    def needs_generator(self, analysis: Analysis) -> bool:
        """True when the generator can add something: a request whose content words the lexicon could not
        explain and in which it found no slot at all ("a quiet film about grief"); ~3% of the labelled set."""
        i = analysis.intent
        found = (
            i.genres_include
            or i.genres_exclude
            or i.year_min
            or i.year_max
            or i.people
            or i.titles
            or i.languages
            or i.countries
            or i.runtime_min
            or i.runtime_max
            or i.refine
        )
        return bool(analysis.leftover) and not found and i.intent == "recommend"

    def parse(self, text: str) -> Intent:
        """The merged Intent of one message."""
        analysis = self.lexicon.analyse(text)
        if not self.needs_generator(analysis):
            return replace(analysis.intent, source="merged")
        self.calls += 1
        return merge(analysis.intent, self.llm.parse(text), analysis.cued)
