"""What the engine says without a model: the message as it reads it, its canned replies, the fact-built reply.

text = clean_text(raw)                  # str, NFC, no control characters, trimmed: safe to parse and store
REPLIES["empty"]                        # the answers to an empty, too long, chit-chat or failed turn
for reply, reasons in facts_only(text, recs): ...   # explain's stream shape, reasons from catalog facts
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Sequence

from .core.types import Recommendation
from .explain.explainer import header, line, template_reason

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


def facts_only(request: str, recs: Sequence[Recommendation]) -> Iterator[tuple[str, list[str]]]:
    """The reply with every reason built from catalog facts (settings.explainer == "template"): same shape as
    explain's stream, no generator, so it cannot name an outside title or claim a wrong fact."""
    reasons = [template_reason(r.item, request) for r in recs]
    yield "\n".join([header(len(recs)), *(line(r.item, why) for r, why in zip(recs, reasons))]), reasons
