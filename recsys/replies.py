"""What the engine says without a model: the message as it reads it, its canned replies, the fact-built reply.

text = clean_text(raw)                  # str, NFC, no control characters, trimmed: safe to parse and store
REPLIES["empty"]                        # the answers to an empty, too long, chit-chat or failed turn
for reply, reasons in facts_only(recs, evidence): ...   # explain's stream shape, reasons from the evidence
panel(n_found, state, vectors, lam, evidence)          # the "why these?" panel beside the reply
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Sequence

import numpy as np

from .core.types import DialogueState, Recommendation
from .dialogue.answers import describe
from .explain.evidence import Evidence, collect, evidence_reason
from .explain.explainer import header, line
from .ranking.scores import redundancy

REPLIES = {
    "empty": "Tell me what you're in the mood for — a genre, a decade, a film you loved — and I'll suggest a few.",
    "too_long": "That message is too long for me (over {limit} characters). Could you say it in a sentence or two?",
    "chitchat": "Happy to chat! I'm best at films, though: tell me a mood, a genre or a decade and I'll find a few.",
    "reset": "Fresh start: constraints cleared. What are you in the mood for?",
    "nothing": (
        "Nothing in the catalog matches all of that ({constraints}). Try loosening a constraint, or say “start over”."
    ),
    "error": "Sorry, something went wrong on my side. Your conversation is safe; please try again.",
}


def clean_text(text: object) -> str:
    """Message text safe to parse and store: str, NFC, control characters (but newlines) removed, trimmed."""
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    text = text.encode("utf-8", "replace").decode("utf-8")
    text = unicodedata.normalize("NFC", text)
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C")
    return re.sub(r"[ \t]+", " ", text).strip()


def facts_only(
    recs: Sequence[Recommendation], evidence: Sequence[Evidence] | None = None
) -> Iterator[tuple[str, list[str]]]:
    """The reply with every reason built from the evidence of why each film ranked (settings.explainer ==
    "template"): same shape as explain's stream, no generator, so it cannot name an outside title or claim what the
    evidence does not hold. Without evidence an item has only its standing facts."""
    evidence = list(evidence) if evidence is not None else [collect(r.item, DialogueState()) for r in recs]
    reasons = [evidence_reason(r.item, ev) for r, ev in zip(recs, evidence)]
    yield "\n".join([header(len(recs)), *(line(r.item, why) for r, why in zip(recs, reasons))]), reasons


def panel(found: int, state: DialogueState, vectors: np.ndarray, lam: float, evidence: Sequence[Evidence]) -> dict:
    """What the "why these?" panel shows: candidates considered, constraints, MMR λ, the picks' redundancy (from
    their unit vectors, (k, d)) and the evidence of why each ranked."""
    return {
        "candidates": found,
        "constraints": describe(state),
        "mmr_lambda": lam,
        "redundancy": redundancy(vectors),  # vs earlier picks
        "evidence": [ev.to_dict() for ev in evidence],
    }
