"""Training rows for the learned ranker, recorded from the engine itself on training dialogues.

    groups = collect(engine, conversations, matcher, folds=5)     # one group per evaluation point
    groups.rows, groups.labels, groups.sizes                       # LightGBM's X, y and group sizes

At each point (a recommender turn naming new films, evaluation/conversation_samples.py) the app is asked the way
`eval conversations` asks it (replay: the seeker's messages in order; transcript: the context rebuilt), and the
feature rows of the ranking call that produced the list there are kept, labelled 1 for the films the human
recommender named next. Co-mention counts come from the OTHER folds' dialogues (`Chooser.use`), so no row has
seen its own dialogue: the model learns how much a co-mention is worth on dialogues it was not counted from,
which is what serving sees. Points where no target is among the candidates teach nothing and are counted apart
(the candidates' recall is the ceiling of any ranking).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..catalog.comentions import CoMentions
from .conversation_protocols import ProtocolStats, new_session, rebuild_session
from .conversation_samples import Sample, TitleMatcher, extract_samples
from .dialogues import SEEKER, Conversation

log = logging.getLogger(__name__)


@dataclass
class Groups:
    """Rows of every kept point, stacked; `sizes` says how many rows each point has, in order."""

    rows: list[np.ndarray] = field(default_factory=list)
    labels: list[np.ndarray] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    dialogues: list[int] = field(default_factory=list)  # each group's dialogue (for a held-out split)
    points: int = 0
    targets: int = 0
    targets_in_candidates: int = 0

    def add(self, dialogue: int, ids: Sequence[str], rows: np.ndarray, targets: Sequence[str]) -> None:
        """One point's rows; kept only when a target is among them."""
        wanted = set(targets)
        y = np.array([i in wanted for i in ids], dtype=np.float32)
        self.points += 1
        self.targets += len(wanted)
        self.targets_in_candidates += int(y.sum())
        if y.any():
            self.rows.append(rows)
            self.labels.append(y)
            self.sizes.append(len(ids))
            self.dialogues.append(dialogue)

    def summary(self) -> dict:
        """How much was recorded, and the candidates' recall (what no ranking can exceed)."""
        return {
            "points": self.points,
            "groups": len(self.sizes),
            "rows": int(sum(self.sizes)),
            "targets": self.targets,
            "candidate_recall": round(self.targets_in_candidates / max(self.targets, 1), 4),
        }


class _Recorder:
    """The chooser's observer: keeps the first ranking call of each turn (later ones are deeper re-rankings)."""

    def __init__(self) -> None:
        self.first: tuple[list[str], np.ndarray] | None = None

    def __call__(self, ids: list[str], rows: np.ndarray) -> None:
        if self.first is None:
            self.first = (list(ids), rows.copy())

    def turn(self, engine, session_id: str, text: str) -> tuple[list[str], np.ndarray] | None:
        """Run one turn to its end; the rows it ranked, or None when it ranked nothing."""
        self.first = None
        for _ in engine.respond(session_id, text):  # every event: the turn is stored at the end
            pass
        return self.first


def _fold_tables(conversations: Sequence[Conversation], matcher: TitleMatcher, folds: int) -> list[CoMentions]:
    """For each fold, the co-mention table counted from every other fold's dialogues."""
    ids = [
        [i for t in c.turns for m in t.mentions if (i := matcher.match_mention(m)) is not None] for c in conversations
    ]
    return [CoMentions.count(d for n, d in enumerate(ids) if n % folds != f) for f in range(folds)]


def collect(
    engine,
    conversations: Sequence[Conversation],
    matcher: TitleMatcher,
    folds: int = 5,
    protocols: Sequence[str] = ("replay", "transcript"),
    progress: bool = True,
) -> dict[str, Groups]:
    """Groups per protocol, recorded with fold-held-out co-mentions; the engine's own table is put back after."""
    samples, _ = extract_samples(conversations, matcher)
    by_dialogue: dict[int, list[Sample]] = {}
    for s in samples:
        by_dialogue.setdefault(s.dialogue, []).append(s)
    tables = _fold_tables(conversations, matcher, folds)
    recorder, chooser = _Recorder(), engine.chooser
    kept, chooser.observer = chooser.comentions, recorder
    out = {p: Groups() for p in protocols}
    try:
        from tqdm.auto import tqdm

        for number in tqdm(sorted(by_dialogue), desc="ranker rows", disable=None if progress else True, leave=False):
            chooser.use(tables[number % folds])
            points = by_dialogue[number]
            if "replay" in out:
                _replay(engine, recorder, conversations[number], points, out["replay"])
            if "transcript" in out:
                for s in points:
                    session_id, text = rebuild_session(engine, s, ProtocolStats())
                    got = recorder.turn(engine, session_id, text)
                    if got is not None:
                        out["transcript"].add(number, got[0], got[1], s.targets)
    finally:
        chooser.observer = None
        chooser.use(kept)
    for name, groups in out.items():
        log.info("%s: %s", name, groups.summary())
    return out


def _replay(engine, recorder: _Recorder, conv: Conversation, points: Sequence[Sample], groups: Groups) -> None:
    """The seeker's messages in order; at each point, the rows of the latest turn that ranked."""
    at = {s.turn: s for s in points}
    session_id, latest = new_session(engine), None
    for index, turn in enumerate(conv.turns):
        if index in at and latest is not None:
            groups.add(at[index].dialogue, latest[0], latest[1], at[index].targets)
        if turn.speaker == SEEKER and turn.text:
            latest = recorder.turn(engine, session_id, turn.text) or latest
