"""The app's lists at each evaluation point, under two protocols, through the engine's public API.

    lists, stats = replay_lists(engine, conversations, samples)      # {(dialogue, turn): [item ids]}
    lists, stats = transcript_lists(engine, conversations, samples)

**replay**: one new session per dialogue; only the seeker's messages are sent, in order, through
`Engine.respond`. At a point, the app's most recent list (its last "items" event before the point) is scored, as
a person would have seen it; before the app has shown anything there is no list (scored as a miss, and counted).
**transcript**: one new session per point, rebuilt from the whole context before it: the seeker's liked and
disliked films (the dataset's answers, for films the seeker named) are recorded with `Engine.feedback` (source
"words": the person said so), the films the recommender named go into the state as shown (`shown_ids`, and the
latest ones as `last_ids`, so "the second one" resolves) by saving the session's state through the engine's store
(the one API that can set them: they are what the app would have shown), and the ranking is asked for by
`Engine.respond` with the seeker's words so far in one message (the most recent `max_message_chars` of them).

In both, the count is set to `Settings.max_count` with `Engine.update_state` (the most a person may ask for),
and the app's own rules exclude what it excludes (shown, disliked, "like X" references); nothing is filtered
after it. Recall@50 needs a deeper list than the public path gives: after each turn the same ranking is run again
with the engine's own parts (`Engine.candidates`: the search under the filters plus co-mentions, then `Engine.rank`
with k = 50) on the state the turn ranked from. MMR is greedy, so its first picks are the app's list; the shown
list is kept first either way and the agreement is counted.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from ..core.types import DialogueState, TurnEvent
from .conversation_metrics import DEPTH
from .conversation_samples import Sample
from .dialogues import SEEKER, Conversation

log = logging.getLogger(__name__)


@dataclass
class ProtocolStats:
    """What happened while the app was asked: turns run, points without a list, deep-list agreement."""

    turns: int = 0
    points: int = 0
    points_without_list: int = 0
    deep_lists: int = 0
    deep_lists_agree: int = 0  # the deeper ranking's first picks were the shown list
    truncated_messages: int = 0  # transcript messages cut to max_message_chars

    def to_dict(self) -> dict:
        """JSON-ready figures."""
        return dict(self.__dict__)


def _progress(iterable, total: int, desc: str):
    """tqdm over the iterable (off when not a terminal)."""
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, disable=None, leave=False)


def _ask(engine, session_id: str, text: str, stats: ProtocolStats) -> list[str] | None:
    """Run one turn; the shown list extended to DEPTH by the same ranking, or None when the turn showed nothing."""
    shown: list[str] | None = None
    done: TurnEvent | None = None
    for event in engine.respond(session_id, text):  # consume every event: the turn is stored at the end
        if event.kind == "items":
            shown = [r.item.item_id for r in event.items]
        elif event.kind == "done":
            done = event
    stats.turns += 1
    if shown is None:
        return None
    deep = _deeper(engine, session_id, done.state if done is not None else None, shown)
    stats.deep_lists += deep is not None
    if deep is None:
        return shown
    stats.deep_lists_agree += deep[: len(shown)] == shown
    return shown + [i for i in deep if i not in set(shown)][: DEPTH - len(shown)]


def _deeper(engine, session_id: str, after: DialogueState | None, shown: Sequence[str]) -> list[str] | None:
    """The turn's ranking run again DEPTH deep, from the state it ranked from (the state after it, less what it
    showed); None without that state."""
    if after is None:
        return None
    before = after.evolve(shown_ids=tuple(i for i in after.shown_ids if i not in set(shown)))
    query = before.query or " ".join(before.genres_include)
    found = engine.candidates(before, query)  # the turn's own candidates (search + co-mentions of liked films)
    user_id = engine.session(session_id).user_id
    return [r.item.item_id for r in engine.rank(found, before, DEPTH, user_id=user_id, query=query)]


def new_session(engine) -> str:
    """A new session for a new person, asking for the longest list a person may ask for."""
    session_id = engine.new_session()
    engine.update_state(session_id, count=engine.settings.max_count)
    return session_id


def replay_lists(
    engine, conversations: Sequence[Conversation], samples: Sequence[Sample], progress: bool = True
) -> tuple[dict[tuple[int, int], list[str]], ProtocolStats]:
    """{(dialogue, turn): the app's latest list} at every sample, sending each dialogue's seeker messages."""
    stats = ProtocolStats()
    wanted: dict[int, set[int]] = {}
    for s in samples:
        wanted.setdefault(s.dialogue, set()).add(s.turn)
    lists: dict[tuple[int, int], list[str]] = {}
    dialogues = sorted(wanted)
    for number in _progress(dialogues, len(dialogues), "replay") if progress else dialogues:
        session_id, latest = new_session(engine), None
        for index, turn in enumerate(conversations[number].turns):
            if index in wanted[number]:
                stats.points += 1
                stats.points_without_list += latest is None
                lists[(number, index)] = list(latest or [])
            if turn.speaker == SEEKER and turn.text:
                latest = _ask(engine, session_id, turn.text, stats) or latest  # a turn without a list keeps it
    return lists, stats


def transcript_lists(
    engine, conversations: Sequence[Conversation], samples: Sequence[Sample], progress: bool = True
) -> tuple[dict[tuple[int, int], list[str]], ProtocolStats]:
    """{(dialogue, turn): the app's list} with each point's whole context rebuilt into a fresh session."""
    stats = ProtocolStats()
    lists: dict[tuple[int, int], list[str]] = {}
    for s in _progress(samples, len(samples), "transcript") if progress else samples:
        session_id, text = rebuild_session(engine, s, stats)
        found = _ask(engine, session_id, text, stats)
        stats.points += 1
        stats.points_without_list += found is None
        lists[(s.dialogue, s.turn)] = found or []
    return lists, stats


def rebuild_session(engine, s: Sample, stats: ProtocolStats) -> tuple[str, str]:
    """A new session holding the context before a point (votes, the recommender's films as shown), and the one
    message that asks for the ranking there: the seeker's words so far, the latest kept when too long."""
    session_id = new_session(engine)
    for item_id, liked in [(i, True) for i in s.liked] + [(i, False) for i in s.disliked]:
        engine.feedback(session_id, item_id, liked=liked, source="words")
    state = engine.session(session_id).state
    shown = tuple(dict.fromkeys(state.shown_ids + s.recommended))
    engine.store.save_state(session_id, state.evolve(shown_ids=shown, last_ids=s.last_recommended))
    text = _tail(" ".join(s.seeker_texts), engine.settings.max_message_chars)
    stats.truncated_messages += len(text) < len(" ".join(s.seeker_texts))
    return session_id, text


def _tail(text: str, limit: int) -> str:
    """The last `limit` characters of text, cut at a word boundary (the most recent words matter most)."""
    if len(text) <= limit:
        return text
    cut = text[-limit:]
    return cut.split(" ", 1)[1] if " " in cut else cut
