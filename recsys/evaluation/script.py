"""Dialogue scripts for replay: the YAML schema and loading with precise errors.

    scripts = load_scripts(["data/dialogues"])            # ScriptError "file: turn 2: expect.year_max: ..."

A script is a list of turns: a message (`user:` with optional `expect:`) or a like/dislike (`feedback:`).
Binding its names to the catalog and checking what a turn produced against `expect` is expectations.py's job.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..core.errors import RecsysError
from ..core.types import INTENTS


class ScriptError(RecsysError):
    """A script is invalid; the message names the file, the turn and the field."""


# --- schema --------------------------------------------------------------------------------------------------------
def _as_list(value: Any) -> Any:
    """A single string where a list is expected becomes a one-element list ("genres_none: Horror")."""
    return [value] if isinstance(value, str) else value


class Expect(BaseModel):
    """What must hold after one message; every key is optional. Item-wise keys hold for each item shown."""

    model_config = ConfigDict(extra="forbid")
    min_items: int | None = Field(None, ge=0)
    max_items: int | None = Field(None, ge=0)
    genres_any: list[str] = []  # each item has at least one of these
    genres_all: list[str] = []  # each item has all of these
    genres_none: list[str] = []  # no item has any of these
    year_min: int | None = None
    year_max: int | None = None
    people_any: list[str] = []  # each item has one of these as director, cast or writer
    titles_include: list[str] = []  # each of these is in the list
    titles_exclude: list[str] = []  # none of these is in the list
    excludes_disliked: bool = False  # nothing disliked earlier in the script (or the session) is shown
    no_repeats: bool = False  # nothing shown earlier in the script is shown again, and no duplicates
    mentions_only_recommended: bool = False  # the reply names no catalog title outside the list
    reply_matches: list[str] = []  # regular expressions the reply must match (re.search)
    reply_not_matches: list[str] = []  # regular expressions the reply must not match
    intent: list[str] = []  # the parsed intent is one of these
    max_latency_ms: float | None = Field(None, gt=0)
    # Keys for the finer slots and refinements (languages, runtime, "older"/"newer"/"shorter", feedback in words):
    languages_any: list[str] = []  # each item is in one of these languages
    countries_none: list[str] = []  # no item is from one of these countries ("about the Korean war" is no filter)
    runtime_min: int | None = Field(None, ge=0)  # minutes; an item with unknown runtime fails
    runtime_max: int | None = Field(None, ge=0)
    older_than_last: bool = False  # every item is older than every item of the previous list ("older")
    newer_than_last: bool = False  # every item is newer than every item of the previous list ("newer")
    shorter_than_last: bool = False  # every item is shorter than every item of the previous list ("shorter")
    feedback_recorded: bool = False  # this message added a like or dislike to the session ("loved the first one")

    _lists = field_validator(
        "genres_any",
        "genres_all",
        "genres_none",
        "people_any",
        "titles_include",
        "titles_exclude",
        "reply_matches",
        "reply_not_matches",
        "intent",
        "languages_any",
        "countries_none",
        mode="before",
    )(_as_list)

    @field_validator("reply_matches", "reply_not_matches")
    @classmethod
    def _regexes(cls, patterns: list[str]) -> list[str]:
        """Every pattern compiles (a broken regex is a broken script, not a failed expectation)."""
        for p in patterns:
            try:
                re.compile(p)
            except re.error as e:
                raise ValueError(f"invalid regular expression {p!r}: {e}") from None
        return patterns

    @field_validator("intent")
    @classmethod
    def _intents(cls, names: list[str]) -> list[str]:
        """Only intents the product knows."""
        bad = [n for n in names if n not in INTENTS]
        if bad:
            raise ValueError(f"unknown intent {bad[0]!r} (one of {', '.join(INTENTS)})")
        return names

    @model_validator(mode="after")
    def _ranges(self) -> Expect:
        """Bounds that cannot both hold are a script mistake."""
        if self.min_items is not None and self.max_items is not None and self.min_items > self.max_items:
            raise ValueError("min_items is larger than max_items")
        if self.year_min is not None and self.year_max is not None and self.year_min > self.year_max:
            raise ValueError("year_min is larger than year_max")
        return self


class Feedback(BaseModel):
    """A like or dislike of an item of the last list: 1-based position, or a title."""

    model_config = ConfigDict(extra="forbid")
    item: int | str
    liked: bool

    @field_validator("item")
    @classmethod
    def _positive(cls, item: int | str) -> int | str:
        """Positions start at 1."""
        if isinstance(item, int) and item < 1:
            raise ValueError("a position starts at 1")
        if isinstance(item, str) and not item.strip():
            raise ValueError("empty title")
        return item


class Turn(BaseModel):
    """One step: a message to send (`user`, repeated `repeat` times for huge inputs) or a `feedback`."""

    model_config = ConfigDict(extra="forbid")
    user: str | None = None
    repeat: int = Field(1, ge=1, le=100_000)
    expect: Expect = Expect()
    targets: list[str] = []  # titles that would be right answers here (Recall@k/NDCG@k in the eval report)
    feedback: Feedback | None = None

    _targets = field_validator("targets", mode="before")(_as_list)

    @model_validator(mode="after")
    def _one_kind(self) -> Turn:
        """Exactly one of user and feedback; expectations only after a message."""
        if (self.user is None) == (self.feedback is None):
            raise ValueError("a turn has exactly one of 'user' or 'feedback'")
        if self.feedback is not None and (self.expect != Expect() or self.targets):
            raise ValueError("a feedback turn takes no 'expect' or 'targets'")
        return self

    @property
    def text(self) -> str:
        """The message as sent."""
        return (self.user or "") * self.repeat


class Script(BaseModel):
    """A named conversation; a fresh user unless `user` names one."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    description: str = ""
    user: str | None = None
    tags: list[str] = []  # free labels for selecting and reporting (e.g. "hostile")
    turns: list[Turn] = Field(min_length=1)


@dataclass(frozen=True)
class LoadedScript:
    """A validated script and the file it came from."""

    path: Path
    script: Script

    @property
    def name(self) -> str:
        """The script's name (unique in a run)."""
        return self.script.name


# --- loading -------------------------------------------------------------------------------------------------------
def script_files(paths: Iterable[str | Path]) -> list[Path]:
    """The .yaml/.yml files named, folders expanded (sorted, so runs are reproducible)."""
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            out += sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
        elif path.is_file():
            out.append(path)
        else:
            raise ScriptError(f"{path}: no such file or folder")
    if not out:
        raise ScriptError("no .yaml scripts found in " + ", ".join(map(str, paths)))
    return out


def _where(path: Path, loc: Sequence[Any]) -> str:
    """ "file: turn N: field" for a pydantic error location."""
    loc = list(loc)
    if len(loc) >= 2 and loc[0] == "turns" and isinstance(loc[1], int):
        rest = ".".join(str(p) for p in loc[2:] if not str(p).startswith("function-"))
        return f"{path}: turn {loc[1] + 1}: " + (f"{rest}: " if rest else "")
    return f"{path}: " + (f"{'.'.join(map(str, loc))}: " if loc else "")


def load_script(path: Path) -> LoadedScript:
    """Parse and validate one YAML script; ScriptError names file, turn and field."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ScriptError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ScriptError(f"{path}: a script is a mapping with 'name' and 'turns'")
    try:
        return LoadedScript(path, Script.model_validate(data))
    except ValidationError as e:
        first = e.errors()[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        more = f" (and {e.error_count() - 1} more)" if e.error_count() > 1 else ""
        raise ScriptError(_where(path, first["loc"]) + message + more) from None


def load_scripts(paths: Iterable[str | Path]) -> list[LoadedScript]:
    """Every script under paths, validated; duplicate names are an error (reports key on the name)."""
    scripts = [load_script(p) for p in script_files(paths)]
    seen: dict[str, Path] = {}
    for s in scripts:
        if s.name in seen:
            raise ScriptError(f"{s.path}: name: {s.name!r} is also the name of {seen[s.name]}")
        seen[s.name] = s.path
    return scripts
