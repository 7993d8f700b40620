"""Grounded, streamed explanations: one checked sentence per recommended item, or a sentence built from facts.

    guard = TitleGuard(item.title for item in catalog.items)        # once, < 1 s for 17k titles
    run = explain(generator, "a funny sci-fi film", recs, guard)
    for reply, reasons in run:                                        # reply = whole text so far
        ...
    run.sources                                                       # ["generated", "trimmed", "template"]

The small generator gets a narrow job: for each item, a few-shot prompt (prompts/) with only the evidence of why
it ranked (evidence.py: the request's constraints it meets, what it shares with films the person liked or named,
standing facts as support) and the request, asked for one sentence. Every piece is checked before it is shown
(claims.py). A sentence whose later clause names another catalog title, claims what the evidence, facts or
request do not back, or degenerates ends at its last clause that holds, when that still says something and cites
the evidence ("trimmed"); otherwise it is replaced by `evidence_reason`, the same evidence as a plain sentence.
A last check of the whole reply falls back to that for every item.
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
from ..generation.stream import close_stream
from .claims import cited, unsupported
from .evidence import Evidence, collect, evidence_reason, made_by
from .grounding import TitleGuard, fact_phrases, is_degenerate, is_echo, is_repetitive, title_key, words_of

log = logging.getLogger(__name__)

STOP = ("\n",)  # one line per reason; sentence length is bounded by max_new_tokens
REQUEST_WORDS = 40  # the request is repeated in every item's prompt: keep the prompt (and its cost) small

MAX_OPEN_WORDS = 8  # how many trailing words may still be the start of an allowed title or name
# Where a sentence may end early: before a comma, semicolon, colon or dash, or before a word that opens a new clause.
CLAUSE_BREAK = re.compile(r"\s*[,;:—–]\s*|\s+-\s+|\s+(?=(?:and|but|while|which|who|whose|where|that)\b)", re.I)
MIN_TRIMMED_WORDS = 4  # a shorter head says too little to stand for the generator's sentence
# Words that end a noun phrase: a sentence stopped just after one ("A 1979 horror film| about ...") is whole.
PHRASE_ENDS = frozenset(
    "film films movie movies picture feature comedy drama thriller western musical documentary romance biopic"
    " adventure mystery fantasy horror noir".split()
)


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
    names to use, it copies the few-shot examples' fictional ones). The shipped template leaves the request's own
    words out ({request} is still filled for a template that asks for it): given them, SmolLM2 copied them back
    ("nothing before 2000", "three please") and wrote plots for their topic; the Asked-for line says what of the
    request the film meets (corpus, 320 reasons: generated share 0.69 -> 0.74, citing 0.91 -> 0.94)."""
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
        made_by(item, ev),
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


def clause_heads(text: str) -> list[str]:
    """The text cut before each clause break, longest first ("A 1994 drama, as you asked, about a" -> "A 1994
    drama, as you asked", "A 1994 drama"): what stays true when a later clause claims too much."""
    return [text[: m.start()] for m in reversed(list(CLAUSE_BREAK.finditer(text))) if text[: m.start()].strip()]


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
    item ("" until it is written). After iterating: `reply`, `reasons`, and `sources` per item: "generated" (the
    model's sentence whole), "trimmed" (the model's sentence ended at the last clause that passes, when a later one
    failed) or "template" (built from the evidence)."""

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
        streams = self._streams()
        try:
            for i, item in enumerate(self.items):
                finished, whole = "", False
                for text, done in self._generate(item, self.evidence[i], streams[i]):
                    if done:
                        finished, whole = text, done == "whole"
                    else:
                        self.lines[i] = line(item, text)
                        yield self._render()
                reason, self.sources[i] = self._accept(item, self.evidence[i], finished, whole)
                self.reasons[i] = reason or evidence_reason(item, self.evidence[i])
                self.lines[i] = line(item, self.reasons[i])
                yield self._render()
        finally:
            for pieces in streams:  # the ones never read (after a generator error) free their sequences too
                close_stream(pieces)
        if self.guard.violations(self.reply, self.allowed, self.phrases):  # the guarantee, whatever slipped by
            log.warning("explanation still names an outside title; using facts for every item")
            self.reasons = [evidence_reason(it, ev) for it, ev in zip(self.items, self.evidence)]
            self.sources = ["template"] * len(self.items)
            self.lines = [line(it, r) for it, r in zip(self.items, self.reasons)]
            yield self._render()
        log.info(
            "explained %d items: %d generated, %d trimmed, %d from facts",
            len(self.items),
            self.sources.count("generated"),
            self.sources.count("trimmed"),
            self.sources.count("template"),
        )

    def _problem(self, item: Item, ev: Evidence, text: str) -> list[str]:
        """Outside titles named and claims nothing backs (empty when it is fine): see claims.unsupported."""
        return self.guard.violations(text, self.allowed, self.phrases) or unsupported(text, item, ev, self.request)

    def _streams(self) -> list[Iterator[str]]:
        """One lazy piece stream per item. A generator that decodes several prompts at once (`stream_many`: the
        llama.cpp one) writes the reasons together, ~0.7x the time of one after another; the reply still shows
        them in order, and the later ones are mostly written by the time their turn comes."""
        prompts = [item_messages(it, self.request, ev) for it, ev in zip(self.items, self.evidence)]
        many = getattr(self.generator, "stream_many", None)  # None too while a LateGenerator loads
        if many is not None and len(prompts) > 1:
            try:
                return list(many(prompts, self.max_new_tokens, STOP))
            except Exception as e:  # a planned fallback: one prompt at a time, as any generator
                log.warning("writing reasons together failed (%s: %s); one at a time", type(e).__name__, e)
        return [self._one(p) for p in prompts]

    def _one(self, messages: list[dict[str, str]]) -> Iterator[str]:
        """The generator's stream for one prompt, opened when first read (so a failure is the item's own)."""
        yield from self.generator.stream(messages, self.max_new_tokens, STOP)

    def _generate(self, item: Item, ev: Evidence, pieces: Iterator[str]) -> Iterator[tuple[str, str | bool]]:
        """(cleaned reason so far, False) while streaming, then (whole reason, "whole"); at the first problem (an
        outside title, a claim nothing backs, a loop) it stops with (what was shown before it, "cut"), for
        `_accept` to end at a clause that holds; on a generator error it stops with no final pair."""
        if self._failed:
            return
        raw, shown = "", ""
        try:
            for piece in pieces:
                raw += piece
                if _echo_pending(raw, item.title):
                    continue
                text = self._settled(clean_reason(raw, item.title))
                if text == shown:
                    continue
                problem = self._problem(item, ev, text) or ("repetitive" if is_repetitive(words_of(text)) else "")
                if problem:
                    log.warning("reason for %s stopped (%s): %r", item.item_id, problem, text)
                    yield shown, "cut"
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
            close_stream(pieces)
        yield clean_reason(raw, item.title), "whole"

    def _settled(self, text: str) -> str:
        """The part of a growing reason that later pieces cannot change into something else: complete words
        only ("Heat" may yet become "Heated"), and not the start of an allowed title or name ("The Dark" may
        yet become "The Dark Knight")."""
        text = re.sub(r"(?:\d+(?:\.\d*)?|[^\W_]+)$", "", text)  # "rated 7." may yet become "rated 7.8"
        starts = [m.start() for m in re.finditer(r"[^\W_]+", text)]
        for start in starts[-MAX_OPEN_WORDS:]:  # the longest open tail first
            if title_key(text[start:]) in self.open_prefixes:
                return text[:start].rstrip()
        return text.rstrip()

    def _accept(self, item: Item, ev: Evidence, text: str, whole: bool) -> tuple[str, str]:
        """(reason, source): the finished sentence when it passes every check ("generated"); else its longest head
        ending at a clause break that passes them, says enough and cites what the evidence lets it cite
        ("trimmed"); else ("", "template")."""
        if not text:
            return "", "template"
        if whole:
            problem = self._rejection(item, ev, finish(text))
            if not problem:
                return finish(text), "generated"
            log.warning("reason for %s rejected (%s): %r", item.item_id, problem, finish(text))
        heads = clause_heads(text)
        if not whole and self._ends_phrase(item, ev, text):
            heads.insert(0, text)  # stopped just before the failing phrase: what came before is whole
        for head in heads:
            head = finish(head)
            if len(words_of(head)) < MIN_TRIMMED_WORDS:
                break
            if not self._rejection(item, ev, head) and (cited(head, item, ev) or not ev.cites()):
                log.info("reason for %s ends early: %r", item.item_id, head)
                return head, "trimmed"
        log.warning("reason for %s has no clause that holds; using facts", item.item_id)
        return "", "template"

    @staticmethod
    def _ends_phrase(item: Item, ev: Evidence, text: str) -> bool:
        """Whether text ends on a word that closes a noun phrase: a kind of film or a whole name the facts or
        evidence hold ("starring Tom Hanks| as the ..."), not "A 1994 crime| thriller". A year does not: "a winner
        of the 2012| Academy Award" stopped at "Academy" would keep "a winner of the 2012"."""
        words = re.findall(r"[^\W_]+", text.lower())
        names = [*item.people("director"), *item.lead_cast(), *ev.names()]
        low = text.rstrip(" .,;").lower()
        return bool((words and words[-1] in PHRASE_ENDS) or any(low.endswith(n.lower()) for n in names if n))

    def _rejection(self, item: Item, ev: Evidence, text: str) -> str:
        """Why a finished sentence may not be shown ("" when it may)."""
        if is_degenerate(text):
            return "degenerate"
        if is_echo(text, self.request, item.year):
            return "echoes the request"
        return ", ".join(self._problem(item, ev, text) or [])


def warm_up(generator) -> float:
    """Explain one few-shot example for a single token; returns the seconds it took (0.0 when skipped).

    Run at load so the first person's first reason does not pay for the shared prompt head (system prompt and
    examples, ~270 tokens) or torch's first-call set-up: ~0.5 s of their first token on 2 CPU cores. Only a
    model run in this process (one with a tokenizer) warms up; a remote server is not called before anyone asks.
    """
    if not hasattr(generator, "tokenizer"):
        return 0.0
    _, _, examples = _prompt_files()
    ex = examples[0]
    item = Item(item_id="warm-up", title=ex["title"], year=ex["year"], tags=tuple(ex["genres"]))
    t0 = time.perf_counter()
    pieces = generator.stream(item_messages(item, ex["request"]), 1, STOP)
    try:
        next(iter(pieces), None)
    finally:
        close_stream(pieces)
    seconds = time.perf_counter() - t0
    log.info("generator warmed up in %.2f s", seconds)
    return seconds


# A streamed reply explaining `recs`: iterate it for (reply so far, reasons so far); see Explanation.
explain = Explanation
