"""Real human dialogues as one list of Conversation, from three layouts told apart by the file's content.

    conversations = load_conversations("data/eval/redial/valid_sample.jsonl")
    conversations[0].turns[5]  # Turn(speaker="recommender", text="have you seen Man on Wire (2008) ?", mentions=...)

Layouts:
- **redial** (ReDial's own jsonl, one conversation a line): `messages: [{text, senderWorkerId, messageId}]`, the
  seeker is `initiatorWorkerId`; a film is written `@<movieId>` and named in `movieMentions` ("Title (Year)", the
  year sometimes missing, spacing odd); `initiatorQuestions[movieId]` has `seen`/`liked` (0 no, 1 yes, 2 did not
  say), read for the films the seeker names (the respondent's answers stand in where the seeker gave none).
- **iard** (UserSimCRS's IARD/ReDial JSON, a list of objects or one a line): `conversation: [{participant,
  utterance}]` with USER/AGENT or SEEKER/RECOMMENDER; films written inline as "Title (Year)", helped by the TITLE
  slot values of `dialogue_acts` when there are any, or listed per utterance under `items` / `movies`.
- **crslab** (CRSLab/UniCRS-style `test.jsonl`): one recommendation point a line, `context` (list of strings,
  the last one the seeker's, speakers alternating backwards), `resp` (the recommender's reply) and `rec` (the
  films it recommends, names or ids). Context turns are history only: the reply is the one point scored.

Text keeps what people wrote, with `@id` replaced by the film's title the way a person writes it
("Zoolander (2001)"). A file that fits none of the layouts raises DialogueFileError naming the line and the keys.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.errors import RecsysError

SEEKER, RECOMMENDER = "seeker", "recommender"
LAYOUTS = ("redial", "iard", "crslab")
SEEKER_NAMES = frozenset({"USER", "SEEKER", "INITIATOR"})
RECOMMENDER_NAMES = frozenset({"AGENT", "RECOMMENDER", "SYSTEM", "RESPONDENT", "ASSISTANT"})
TITLE_YEAR_RE = re.compile(r"^\s*(.*?)\s*\(\s*((?:18|19|20)\d\d)\s*\)\s*$")
INLINE_YEAR_RE = re.compile(r"\(\s*((?:18|19|20)\d\d)\s*\)")
MENTION_RE = re.compile(r"@(\d+)")
# Lower-case words that may sit inside a title ("Silence of the Lambs"); a run of them alone is not a title.
CONNECTORS = frozenset("of the a an and in on to for with at from by vs vs. de la le du des el & - : + or".split())


class DialogueFileError(RecsysError):
    """A dialogue file cannot be read; the message names the file, the line (or record) and the key."""


@dataclass(frozen=True)
class Mention:
    """A film named in a turn, as written; `liked`/`seen` are the seeker's answers where known (None: not said)."""

    title: str
    year: int | None = None
    source_id: str = ""  # the dataset's own film id (ReDial movieId), "" when it has none
    liked: bool | None = None
    seen: bool | None = None
    inline: bool = False  # found in free text: the title's first words may be the sentence's (see TitleMatcher)

    def label(self) -> str:
        """ "Title (Year)", the way people write it."""
        return f"{self.title} ({self.year})" if self.year else self.title


@dataclass(frozen=True)
class Turn:
    """One message: who said it, its text, the films it names (in order, each once)."""

    speaker: str  # SEEKER or RECOMMENDER
    text: str
    mentions: tuple[Mention, ...] = ()
    scored: bool = True  # False for history that is only context (a CRSLab sample's earlier turns)


@dataclass(frozen=True)
class Conversation:
    """A whole dialogue (or, for CRSLab, one recommendation point with its history)."""

    conversation_id: str
    turns: tuple[Turn, ...]
    layout: str


def load_conversations(path: Path | str) -> list[Conversation]:
    """Every conversation of a ReDial, IARD or CRSLab file, in file order (DialogueFileError if it fits none)."""
    path = Path(path)
    if not path.is_file():
        raise DialogueFileError(f"dialogue file not found: {path}")
    records = read_records(path)
    if not records:
        raise DialogueFileError(f"{path.name}: no conversations")
    where, first = records[0]
    layout = detect_layout(first, f"{path.name} {where}")
    readers = {"redial": from_redial, "iard": from_iard, "crslab": from_crslab}
    out = []
    for where, record in records:
        label = f"{path.name} {where}"
        if not isinstance(record, dict) or _layout_of(record) != layout:
            keys = sorted(record) if isinstance(record, dict) else type(record).__name__
            raise DialogueFileError(f"{label}: expected the {layout} layout of the first record, found {keys}")
        out.append(readers[layout](record, label))
    return out


def read_records(path: Path) -> list[tuple[str, Any]]:
    """(where, record) pairs: a JSON array (or an object holding one) read whole, else JSON lines."""
    text = path.read_text(encoding="utf-8")
    stripped = text.strip()
    try:
        whole = json.loads(stripped)
    except json.JSONDecodeError as e:
        if stripped.startswith("["):
            raise DialogueFileError(f"{path.name}: invalid JSON at line {e.lineno} ({e.msg})") from None
        whole = None  # not one document: JSON lines, read below
    if isinstance(whole, dict):
        for key in ("conversations", "dialogues", "data"):
            if isinstance(whole.get(key), list):
                whole = whole[key]
                break
        else:
            whole = [whole]
    if isinstance(whole, list):
        one_line = len(whole) == 1 and "\n" not in stripped  # a JSON-lines file of one conversation
        return [("line 1" if one_line else f"record {n}", rec) for n, rec in enumerate(whole, start=1)]
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append((f"line {number}", json.loads(line)))
        except json.JSONDecodeError as e:
            raise DialogueFileError(f"{path.name} line {number}: invalid JSON ({e.msg})") from None
    return records


def _layout_of(record: dict) -> str | None:
    """Which layout a record's keys fit, or None."""
    if "messages" in record and "movieMentions" in record:
        return "redial"
    if isinstance(record.get("conversation"), list):
        return "iard"
    if "context" in record and ("resp" in record or "rec" in record):
        return "crslab"
    return None


def detect_layout(record: Any, where: str) -> str:
    """The layout of the first record; DialogueFileError saying what each layout needs when none fits."""
    layout = _layout_of(record) if isinstance(record, dict) else None
    if layout is None:
        found = sorted(record) if isinstance(record, dict) else type(record).__name__
        raise DialogueFileError(
            f"{where}: not a known dialogue layout (found {found}); expected ReDial ('messages' and "
            "'movieMentions'), IARD ('conversation': [{participant, utterance}]) or CRSLab ('context', 'resp', 'rec')"
        )
    return layout


# --- ReDial ------------------------------------------------------------------------------------------------------
def split_title(text: str) -> tuple[str, int | None]:
    """ "Cosmos  (2015)" -> ("Cosmos", 2015); "Friday " -> ("Friday", None)."""
    text = " ".join(str(text).split())
    m = TITLE_YEAR_RE.match(text)
    return (m.group(1).strip(), int(m.group(2))) if m else (text.strip(), None)


def _flag(value: Any) -> bool | None:
    """ReDial's 0/1/2 answer as False/True/None (2 = did not say)."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return {0: False, 1: True}.get(number)


def _answers(row: dict, movie_id: str) -> tuple[bool | None, bool | None]:
    """(liked, seen) of the seeker for a film: the seeker's own answers, else the respondent's about the seeker."""
    for key in ("initiatorQuestions", "respondentQuestions"):
        questions = row.get(key)
        answer = questions.get(movie_id) if isinstance(questions, dict) else None
        if isinstance(answer, dict):
            liked, seen = _flag(answer.get("liked")), _flag(answer.get("seen"))
            if liked is not None or seen is not None:
                return liked, seen
    return None, None


def from_redial(row: dict, where: str) -> Conversation:
    """One ReDial line as a Conversation."""
    names = row.get("movieMentions") or {}
    if not isinstance(names, dict):
        names = {}  # ReDial writes [] for a dialogue that names no film
    films = {str(k): split_title(v) for k, v in names.items() if isinstance(v, str) and v.strip()}
    seeker = row.get("initiatorWorkerId")
    if seeker is None:
        raise DialogueFileError(f"{where}: missing 'initiatorWorkerId' (who the seeker is)")
    messages = row.get("messages")
    if not isinstance(messages, list):
        raise DialogueFileError(f"{where}: 'messages' must be a list")
    turns = []
    for number, msg in enumerate(messages, start=1):
        if not isinstance(msg, dict) or "text" not in msg or "senderWorkerId" not in msg:
            raise DialogueFileError(f"{where}: message {number} needs 'text' and 'senderWorkerId'")
        speaker = SEEKER if msg["senderWorkerId"] == seeker else RECOMMENDER
        raw = str(msg["text"] or "")
        text = MENTION_RE.sub(lambda m: _written(films.get(m.group(1)), m.group(0)), raw)
        mentions = []
        for movie_id in dict.fromkeys(MENTION_RE.findall(raw)):
            if movie_id not in films:
                continue  # an id the dialogue never names: nothing to map
            title, year = films[movie_id]
            liked, seen = _answers(row, movie_id) if speaker == SEEKER else (None, None)
            mentions.append(Mention(title, year, source_id=movie_id, liked=liked, seen=seen))
        turns.append(Turn(speaker, " ".join(text.split()), tuple(mentions)))
    return Conversation(str(row.get("conversationId", where)), tuple(turns), "redial")


def _written(film: tuple[str, int | None] | None, fallback: str) -> str:
    """How a person writes the film: "Zoolander (2001)"; the raw "@id" when the dialogue does not name it."""
    if film is None:
        return fallback
    title, year = film
    return f"{title} ({year})" if year else title


# --- inline titles (IARD, CRSLab context) ------------------------------------------------------------------------
def inline_mentions(text: str, known: Iterable[str] = ()) -> list[Mention]:
    """Films written "Title (Year)" in free text; `known` titles (annotations) win over the capitalised-run guess."""
    known = sorted({k.strip() for k in known if k and k.strip()}, key=len, reverse=True)
    out, start = [], 0
    for m in INLINE_YEAR_RE.finditer(text):
        before = text[start : m.start()]
        start = m.end()
        title = _title_before(before, known)
        if title:
            out.append(Mention(title, int(m.group(1)), inline=True))
    return _unique(out)


def _title_before(prefix: str, known: Sequence[str]) -> str:
    """The title that ends right before a "(Year)": an annotated title it ends with, else its capitalised tail."""
    tail = prefix.rstrip()
    for title in known:
        if tail.lower().endswith(title.lower()):
            return tail[len(tail) - len(title) :]
    tokens = [t for t in re.split(r"\s+|\.{2,}|…", tail) if t]
    run: list[str] = []
    for token in reversed(tokens):
        if run and re.search(r"[.,!?;]$", token):  # the previous sentence or clause ends here
            break
        if token[0].isupper() or token[0].isdigit() or token.lower() in CONNECTORS or token[0] in "'\"":
            run.insert(0, token)
        else:
            break
    while run and run[0].lower() in CONNECTORS and run[0].lower() not in ("the", "a", "an"):
        run.pop(0)
    return " ".join(run).strip(" \"'“”,;:-")


def _unique(mentions: Iterable[Mention]) -> list[Mention]:
    """Mentions in order, each film (title and year, case-insensitive) once."""
    seen: set[tuple[str, int | None, str]] = set()
    out = []
    for m in mentions:
        key = (m.title.lower(), m.year, m.source_id)
        if key not in seen:
            seen.add(key)
            out.append(m)
    return out


def _listed(value: Any) -> list[Mention]:
    """An explicit film list (`items`, `movies`, `rec`): "Title (Year)" strings, {title, year} objects or ids."""
    out = []
    for entry in value if isinstance(value, list) else [value]:
        if isinstance(entry, dict):
            name = entry.get("title") or entry.get("name") or ""
            title, year = split_title(str(name))
            year = entry.get("year") if isinstance(entry.get("year"), int) else year
            out.append(Mention(title, year, source_id=str(entry.get("id", "") or "")))
        elif isinstance(entry, int) or (isinstance(entry, str) and entry.strip().isdigit()):
            out.append(Mention("", None, source_id=str(entry).strip()))  # an id without a name: cannot be mapped
        elif isinstance(entry, str) and entry.strip():
            out.append(Mention(*split_title(entry)))
    return _unique(out)


def _slot_titles(utterance: dict) -> list[str]:
    """TITLE slot values of an IARD utterance's dialogue acts ([slot, value, start, end] lists)."""
    titles = []
    for act in utterance.get("dialogue_acts") or []:
        for slot in (act.get("slot_values") or []) if isinstance(act, dict) else []:
            if isinstance(slot, (list, tuple)) and len(slot) >= 2 and slot[0] == "TITLE" and slot[1]:
                titles.append(str(slot[1]))
    return titles


# --- IARD ----------------------------------------------------------------------------------------------------------
def from_iard(row: dict, where: str) -> Conversation:
    """One UserSimCRS/IARD conversation as a Conversation."""
    turns = []
    for number, utt in enumerate(row["conversation"], start=1):
        if not isinstance(utt, dict) or "utterance" not in utt or "participant" not in utt:
            raise DialogueFileError(f"{where}: utterance {number} needs 'participant' and 'utterance'")
        who = str(utt["participant"]).upper()
        if who not in SEEKER_NAMES | RECOMMENDER_NAMES:
            raise DialogueFileError(
                f"{where}: utterance {number}: unknown participant {utt['participant']!r} "
                "(USER/AGENT or SEEKER/RECOMMENDER)"
            )
        text = " ".join(str(utt["utterance"] or "").split())
        listed = utt.get("items", utt.get("movies"))
        mentions = _listed(listed) if listed else inline_mentions(text, _slot_titles(utt))
        turns.append(Turn(SEEKER if who in SEEKER_NAMES else RECOMMENDER, text, tuple(mentions)))
    return Conversation(str(row.get("conversation_id", where)), tuple(turns), "iard")


# --- CRSLab --------------------------------------------------------------------------------------------------------
def from_crslab(row: dict, where: str) -> Conversation:
    """One CRSLab sample (history + the recommending reply) as a Conversation whose last turn is the one scored."""
    context = row.get("context")
    if not isinstance(context, list) or not all(isinstance(c, str) for c in context):
        raise DialogueFileError(f"{where}: 'context' must be a list of strings")
    turns = []
    for back, text in enumerate(reversed(context)):  # the reply answers the seeker: the last line is theirs
        speaker = SEEKER if back % 2 == 0 else RECOMMENDER
        text = " ".join(text.split())
        turns.insert(0, Turn(speaker, text, tuple(inline_mentions(text)), scored=False))
    reply = " ".join(str(row.get("resp") or "").split())
    turns.append(Turn(RECOMMENDER, reply, tuple(_listed(row.get("rec") or []))))
    return Conversation(str(row.get("conv_id", row.get("conversation_id", where))), tuple(turns), "crslab")
