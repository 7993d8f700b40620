"""Grounded, streamed explanations: one checked sentence per recommended item, or a sentence built from facts.

    guard = TitleGuard(item.title for item in catalog.items)        # once, < 1 s for 17k titles
    run = explain(generator, "a funny sci-fi film", recs, guard)
    for reply, reasons in run:                                        # reply = whole text so far
        ...
    run.sources                                                       # ["generated", "template", ...]

The small generator gets a narrow job: for each item, a few-shot prompt (prompts/) with only the evidence of why
it ranked (evidence.py: the request's constraints it meets, what it shares with films the person liked or named,
standing facts as support) and the request, asked for one sentence. Every piece is checked before it is shown
(claims.py); a reason that names another catalog title, claims anything the evidence, facts or request do not
back, or degenerates is replaced by `evidence_reason`, the same evidence as a plain sentence, and a last check of
the whole reply falls back to that for every item.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator, Sequence
from functools import lru_cache

from ..core.paths import PROMPTS
from ..core.types import DialogueState, Item, Recommendation
from .claims import unsupported
from .evidence import Evidence, collect, evidence_reason, made_by
from .grounding import TitleGuard, fact_phrases, is_degenerate, is_echo, is_repetitive, title_key, words_of

log = logging.getLogger(__name__)

STOP = ("\n",)  # one line per reason; sentence length is bounded by max_new_tokens
REQUEST_WORDS = 40  # the request is repeated in every item's prompt: keep the prompt (and its cost) small

MAX_OPEN_WORDS = 8  # how many trailing words may still be the start of an allowed title or name


# --- prompts -------------------------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _prompt_files() -> tuple[str, str, list[dict]]:
    """(system prompt, item template, few-shot examples), read once from prompts/."""
    system = (PROMPTS / "explain_system.txt").read_text().strip()
    template = (PROMPTS / "explain_item.txt").read_text().strip()
    examples = json.loads((PROMPTS / "explain_examples.json").read_text())
    return system, template, examples


def _first_words(text: str, limit: int) -> str:
    """The first `limit` words of text."""
    words = text.split()
    return " ".join(words[:limit]) + ("…" if len(words) > limit else "")


def _fill(template: str, request: str, title: str, year, genres, asked, taste, made: str, support) -> str:
    """The item template filled with the evidence; a line with nothing to say is left out (the model would copy
    "unknown" or "none" into its sentence)."""
    facts = {
        "request": _first_words(request, REQUEST_WORDS),
        "title": title,
        "year": f" ({year})" if year else "",
        "genres": ", ".join(genres),
        "asked": "; ".join(asked),
        "taste": "; ".join(taste),
        "made": made,
        "support": "; ".join(support),
    }
    lines = []
    for row in template.splitlines():
        fields = re.findall(r"\{(\w+)\}", row)
        if any(facts[f] for f in fields if f != "year"):
            lines.append(row.format(**facts))
    return "\n".join(lines)


def item_messages(item: Item, request: str, evidence: Evidence | None = None) -> list[dict[str, str]]:
    """Chat messages asking for one sentence on why `item` fits: system, few-shot, this item's evidence.

    The prompt carries the evidence, not the whole fact sheet: a small model writes about what it is given, and
    what it is given here is only what made the film rank, plus its director and two lead actors (without real
    names to use, it copies the few-shot examples' fictional ones)."""
    system, template, examples = _prompt_files()
    messages = [{"role": "system", "content": system}]
    for ex in examples:
        content = _fill(
            template,
            ex["request"],
            ex["title"],
            ex["year"],
            ex["genres"],
            ex["asked"],
            ex["taste"],
            ex["made"],
            ex["support"],
        )
        messages += [{"role": "user", "content": content}, {"role": "assistant", "content": ex["reason"]}]
    ev = evidence if evidence is not None else collect(item, DialogueState())
    content = _fill(
        template,
        request,
        item.title,
        item.year,
        item.tags[:3],
        [c.text for c in ev.asked],
        [c.text for c in ev.taste],
        made_by(item),
        [c.text for c in ev.support],
    )
    messages.append({"role": "user", "content": content})
    return messages


# --- cleaning what the model wrote -------------------------------------------------------------------------------
def _echo_pending(raw: str, title: str) -> bool:
    """True while the text so far could still turn out to be the item's title echoed back."""
    head = raw.lstrip(" \t\"'“*_-").lower()
    return bool(head) and title.lower().startswith(head)


def clean_reason(raw: str, title: str) -> str:
    """The model's text as one tidy line: no echoed title or label, quotes or markdown around it."""
    text = " ".join(raw.replace("**", "").split())
    text = re.sub(r"^(reason|why|answer)\s*:\s*", "", text, flags=re.IGNORECASE)
    echo = re.match(r"[\"'“]?" + re.escape(title) + r"[\"'”]?(\s*\(\d{4}\))?\s*[:—–-]\s*", text, re.IGNORECASE)
    if echo:
        text = text[echo.end() :]
    text = text.strip(" \"'“”-")
    return text[:1].upper() + text[1:]


def finish(text: str) -> str:
    """End a reason with sentence punctuation."""
    text = text.rstrip(" ,;:—–-")
    return text if not text or text[-1] in ".!?…" else text + "."


# --- the streamed reply ------------------------------------------------------------------------------------------
def header(count: int) -> str:
    """The reply's first line."""
    return "Here's a pick for you:" if count == 1 else f"Here are {count} picks for you:"


def line(item: Item, reason: str) -> str:
    """One reply line: "**Title** (1985) — reason"."""
    year = f" ({item.year})" if item.year else ""
    return f"**{item.title}**{year} — {reason}".rstrip(" —")


class Explanation:
    """A streamed, checked reply. Iterate for (whole reply so far, reasons so far); reasons has one entry per
    item ("" until it is written). After iterating: `reply`, `reasons`, and `sources` ("generated" or "template"
    per item)."""

    def __init__(
        self,
        generator,
        request: str,
        recs: Sequence[Recommendation],
        guard: TitleGuard,
        max_new_tokens: int = 40,
        evidence: Sequence[Evidence] | None = None,
    ) -> None:
        """Nothing is generated until the explanation is iterated. `evidence` (one per item, from `collect`) is
        what the prompt and the checker use; without it an item has only its standing facts."""
        self.generator = generator
        self.request = request
        self.items = [r.item for r in recs]
        self.evidence = list(evidence) if evidence is not None else [collect(it, DialogueState()) for it in self.items]
        self.guard = guard
        self.max_new_tokens = max_new_tokens
        self.allowed = [it.title for it in self.items] + [n for ev in self.evidence for n in ev.names()]
        self.phrases = fact_phrases(self.items)
        keys = [title_key(t) for t in self.allowed + self.phrases]
        self.open_prefixes = {k[:n] for k in keys for n in range(1, len(k))}  # "The Dark" of "The Dark Knight"
        self.reasons = [""] * len(self.items)
        self.sources = ["template"] * len(self.items)
        self.lines = [line(it, "") for it in self.items]
        self.reply = ""
        self._failed = False  # after a generator error, the rest of the reply uses templates

    def _render(self) -> tuple[str, list[str]]:
        """The whole reply from the current lines (also kept in self.reply)."""
        self.reply = "\n".join([header(len(self.items)), *self.lines])
        return self.reply, list(self.reasons)

    def __iter__(self) -> Iterator[tuple[str, list[str]]]:
        """The reply after every new piece: the header and template lines first, then each reason as written."""
        yield self._render()
        for i, item in enumerate(self.items):
            finished = ""
            for text, done in self._generate(item, self.evidence[i]):
                if done:
                    finished = text
                else:
                    self.lines[i] = line(item, text)
                    yield self._render()
            reason = self._accept(item, self.evidence[i], finished)
            self.sources[i] = "generated" if reason else "template"
            self.reasons[i] = reason or evidence_reason(item, self.evidence[i])
            self.lines[i] = line(item, self.reasons[i])
            yield self._render()
        if self.guard.violations(self.reply, self.allowed, self.phrases):  # the guarantee, whatever slipped by
            log.warning("explanation still names an outside title; using facts for every item")
            self.reasons = [evidence_reason(it, ev) for it, ev in zip(self.items, self.evidence)]
            self.sources = ["template"] * len(self.items)
            self.lines = [line(it, r) for it, r in zip(self.items, self.reasons)]
            yield self._render()
        log.info(
            "explained %d items: %d generated, %d from facts",
            len(self.items),
            self.sources.count("generated"),
            self.sources.count("template"),
        )

    def _problem(self, item: Item, ev: Evidence, text: str) -> list[str]:
        """Outside titles named and claims nothing backs (empty when it is fine): see claims.unsupported."""
        return self.guard.violations(text, self.allowed, self.phrases) or unsupported(text, item, ev, self.request)

    def _generate(self, item: Item, ev: Evidence) -> Iterator[tuple[str, bool]]:
        """(cleaned reason so far, False) while streaming, then (whole reason, True); stops early, with no final
        pair, on an outside title, a contradiction or a generator error."""
        if self._failed:
            return
        raw, shown, pieces = "", "", None
        try:
            pieces = self.generator.stream(item_messages(item, self.request, ev), self.max_new_tokens, STOP)
            for piece in pieces:
                raw += piece
                if _echo_pending(raw, item.title):
                    continue
                text = self._settled(clean_reason(raw, item.title))
                if text == shown:
                    continue
                problem = self._problem(item, ev, text) or ("repetitive" if is_repetitive(words_of(text)) else "")
                if problem:
                    log.warning("reason for %s stopped (%s); using facts", item.item_id, problem)
                    return
                shown = text
                yield text, False
        except Exception as e:  # a planned fallback: the turn must succeed without the generator
            log.warning(
                "generator %s failed (%s: %s); using facts", getattr(self.generator, "name", "?"), type(e).__name__, e
            )
            self._failed = True
            return
        finally:
            close = getattr(pieces, "close", None)
            if close:
                close()  # stops a local model's loop or closes the HTTP stream
        yield clean_reason(raw, item.title), True

    def _settled(self, text: str) -> str:
        """The part of a growing reason that later pieces cannot change into something else: complete words
        only ("Heat" may yet become "Heated"), and not the start of an allowed title or name ("The Dark" may
        yet become "The Dark Knight")."""
        text = re.sub(r"[^\W_]+$", "", text)
        starts = [m.start() for m in re.finditer(r"[^\W_]+", text)]
        for start in starts[-MAX_OPEN_WORDS:]:  # the longest open tail first
            if title_key(text[start:]) in self.open_prefixes:
                return text[:start].rstrip()
        return text.rstrip()

    def _accept(self, item: Item, ev: Evidence, text: str) -> str:
        """The finished reason, or "" when it fails a check."""
        if not text:
            return ""
        text = finish(text)
        problem = (
            "degenerate"
            if is_degenerate(text)
            else "echoes the request"
            if is_echo(text, self.request)
            else self._problem(item, ev, text)
        )
        if problem:
            log.warning("reason for %s rejected (%s); using facts", item.item_id, problem)
            return ""
        return text


def warm_up(generator) -> float:
    """Explain one few-shot example for a single token; returns the seconds it took (0.0 when skipped).

    Run at load so the first person's first reason does not pay for the shared prompt head (system prompt and
    examples, ~270 tokens) or torch's first-call set-up: ~0.5 s of their first token on 2 CPU cores. Only a
    local model warms up; a remote server is not called before anyone asks.
    """
    if getattr(generator, "thread_safe", False) or not hasattr(generator, "tokenizer"):
        return 0.0
    _, _, examples = _prompt_files()
    ex = examples[0]
    item = Item(item_id="warm-up", title=ex["title"], year=ex["year"], tags=tuple(ex["genres"]))
    t0 = time.perf_counter()
    pieces = generator.stream(item_messages(item, ex["request"]), 1, STOP)
    try:
        next(iter(pieces), None)
    finally:
        close = getattr(pieces, "close", None)
        if close:
            close()
    seconds = time.perf_counter() - t0
    log.info("generator warmed up in %.2f s", seconds)
    return seconds


# A streamed reply explaining `recs`: iterate it for (reply so far, reasons so far); see Explanation.
explain = Explanation
