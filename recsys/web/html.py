"""Escaping and markup: every piece of people's or catalog text becomes an escaped HTML or Markdown string here
(cards, chat messages, the "why these?" table, constraints, the taste panel, the session list's labels), so no
markup from either ever runs on the page.

Gradio-free: the handlers (recsys.web.updates, turn, votes) put these strings into components.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

from ..catalog.catalog import Catalog
from ..core.types import DialogueState, Item, Recommendation
from ..dialogue.answers import describe
from ..storage.rows import SessionInfo

WHY_TITLE = "🔎 Why these?"


def esc(text: object) -> str:
    """HTML-escape anything shown on the page: no markup from people or catalog fields ever runs."""
    return html.escape("" if text is None else str(text), quote=True)


def md_cell(text: object) -> str:
    """Text safe inside a Markdown table cell: escaped, pipes and newlines neutralised."""
    return esc(text).replace("|", "&#124;").replace("\n", " ")


def card_html(item: Item, reason: str, note: str = "") -> str:
    """One recommendation card: title, year, genres, director, runtime, description, reason — all escaped."""
    meta = [esc(item.year) if item.year else "", esc(" · ".join(item.tags))]
    directors = item.people("director")
    if directors:
        meta.append("dir. " + esc(", ".join(directors[:2])))
    runtime = item.attributes.get("runtime")
    if runtime:
        meta.append(f"{esc(runtime)} min")
    cast = item.lead_cast()[:3]  # the default catalog's cast is alphabetical
    lines = [
        f'<div class="rec-card" role="article" aria-label="{esc(item.label())}" '
        f'data-item-id="{esc(item.item_id)}"><h3>{esc(item.title)}</h3>',
        f'<div class="rec-meta">{" — ".join(m for m in meta if m)}</div>',
    ]
    if cast:
        lines.append(f'<div class="rec-meta">with {esc(", ".join(cast))}</div>')
    if item.text:
        short = item.text if len(item.text) <= 160 else item.text[:157].rsplit(" ", 1)[0] + "…"
        lines.append(f'<div class="rec-desc">{esc(short)}</div>')
    if reason:
        lines.append(f'<div class="rec-reason">{esc(reason)}</div>')
    if note:
        lines.append(f'<div class="rec-meta"><b>{esc(note)}</b></div>')
    lines.append("</div>")
    return "".join(lines)


def chat_message(role: str, text: str) -> dict:
    """A Chatbot message with its text escaped (Markdown still renders, HTML never does)."""
    return {"role": role, "content": html.escape(text, quote=False)}  # quotes stay readable in Markdown


def why_message(markdown: str) -> dict:
    """The collapsible "why these?" panel under an answer (a Chatbot metadata message; content already escaped)."""
    return {"role": "assistant", "content": markdown, "metadata": {"title": WHY_TITLE, "status": "done"}}


def score_text(value: object) -> str:
    """A score for the panel: two decimals, or a dash when the engine did not compute it."""
    return f"{value:.2f}" if isinstance(value, (int, float)) else "–"


def why_rows(recs: Sequence[Recommendation], details: Mapping) -> list[tuple[Item, dict]]:
    """The panel's rows for a fresh answer: each item's scores, with its overlap from the turn's details."""
    redundancy = list(details.get("redundancy") or [])
    evidence = list(details.get("evidence") or [])
    return [
        (
            r.item,
            {
                "relevance": r.relevance,
                "personal": getattr(r, "personal", None),
                "redundancy": redundancy[n] if n < len(redundancy) else None,
                "score": r.score,
                "evidence": evidence[n] if n < len(evidence) else None,
            },
        )
        for n, r in enumerate(recs)
    ]


def evidence_text(evidence: Mapping | None) -> str:
    """One pick's evidence in words ("asked: sci-fi comedy · link: shares X with Alien, which you liked"), escaped."""
    groups = [("asked", "asked"), ("taste", "link"), ("support", "support")]
    said = [
        f"{label}: " + "; ".join(str(c.get("text", "")) for c in (evidence or {}).get(key) or [])
        for key, label in groups
        if (evidence or {}).get(key)
    ]
    return md_cell(" · ".join(said) or "nothing specific: the closest match to the request")


def why_markdown(
    intent: dict | None,
    constraints: str,
    candidates: int | None,
    mmr_lambda: float | None,
    rows: Sequence[tuple[Item, dict]],
) -> str:
    """Parsed intent, active constraints, candidates considered and each shown item's scores, as escaped Markdown."""
    parts = []
    if intent:
        said = {k: v for k, v in intent.items() if v not in (None, "", [], ())}
        shown = ", ".join(
            f"{k}: {' / '.join(map(str, v)) if isinstance(v, (list, tuple)) else v}" for k, v in said.items()
        )
        parts.append("**Understood:** " + (md_cell(shown) or "—"))
    parts.append("**Constraints:** " + (md_cell(constraints) or "none"))
    facts = []
    if candidates is not None:
        facts.append(f"{candidates} candidates considered after the hard filters")
    if mmr_lambda is not None:
        facts.append(f"diversity MMR λ = {mmr_lambda:.2f} (1 = pure relevance)")
    if facts:
        parts.append("**Search:** " + "; ".join(facts))
    table = ["| # | film | match | taste | overlap | score |", "|---|---|---|---|---|---|"]
    for n, (item, s) in enumerate(rows, start=1):
        table.append(
            f"| {n} | {md_cell(item.label())} | {score_text(s.get('relevance'))} "
            f"| {score_text(s.get('personal'))} | {score_text(s.get('redundancy'))} "
            f"| {score_text(s.get('score'))} |"
        )
    parts.append("\n".join(table))
    if any(s.get("evidence") is not None for _, s in rows):  # why each pick ranked (explain/evidence.py)
        parts.append(
            "**Why each:**\n"
            + "\n".join(f"{n}. {evidence_text(s.get('evidence'))}" for n, (_, s) in enumerate(rows, start=1))
        )
    parts.append(
        "_match: relevance to the request; taste: the personal head's score from your 👍/👎; "
        "overlap: redundancy with the picks above it, which diversity (MMR) penalises; "
        "score: the final ranking score._"
    )
    return "\n\n".join(parts)


def state_text(state: DialogueState) -> str:
    """The constraints the next answer will respect, in words (empty when there are none)."""
    text = describe(state)
    return f"**Active constraints:** {esc(text)}" if text else ""


def session_choices(listed: Sequence[SessionInfo], session_id: str) -> list[tuple[str, str]]:
    """The session list as (label, session_id): empty sessions clutter it, except the one open now.
    Gradio escapes choice labels, so titles go in as written."""
    return [(s.title, s.session_id) for s in listed if s.message_count or s.session_id == session_id]


def item_id_of(value: object) -> str:
    """An item id from an Item, a dict with item_id, or a plain id."""
    if isinstance(value, Item):
        return value.item_id
    if isinstance(value, dict):
        return str(value.get("item_id", ""))
    return str(value)


def _scored(value: object) -> list[tuple[str, float, float | None]]:
    """(name, score, change) from a {name: score} dict, (name, score) pairs, or {"name", "score", "change"} dicts."""
    if isinstance(value, dict):
        return [(str(k), float(v), None) for k, v in value.items()]
    out = []
    for entry in value or ():
        if isinstance(entry, dict):
            change = entry.get("change")
            out.append(
                (str(entry.get("name", "?")), float(entry.get("score", 0.0)), None if change is None else float(change))
            )
        elif isinstance(entry, (list, tuple)) and len(entry) == 2:
            out.append((str(entry[0]), float(entry[1]), None))
    return out


def taste_view(catalog: Catalog, profile: dict) -> tuple[str, list[tuple[str, str]]]:
    """The taste panel: Markdown of top genres and people with scores, and the votes as (label, item_id) choices."""
    lines = [
        "_Scores are the predicted rating (1–5) with, in brackets, how far your votes moved it._"
        if any(isinstance(r, dict) and "change" in r for r in profile.get("genres") or ())
        else ""
    ]
    for key, name in (("genres", "Genres"), ("people", "People")):
        rows = _scored(profile.get(key))
        if any(change is not None for _, _, change in rows):  # the head's ratings: show what the votes moved
            rows = sorted(rows, key=lambda r: -abs(r[2] or 0.0))[:8]
        else:
            rows = sorted(rows, key=lambda r: -abs(r[1]))[:8]
        if rows:
            lines.append(
                f"**{name}:** "
                + ", ".join(f"{md_cell(n)} {s:.2f}" + (f" ({c:+.2f})" if c is not None else "") for n, s, c in rows)
            )
    votes = []
    for key, mark in (("liked", "👍"), ("disliked", "👎")):
        for value in profile.get(key) or ():
            item = catalog.get(item_id_of(value))
            if item is not None:
                votes.append((f"{mark} {item.label()}", item.item_id))  # Gradio escapes choice labels
    lines = [line for line in lines if line]
    if not votes:
        lines.append("_No votes yet: 👍 / 👎 a few cards and your taste shows here._")
    return "\n\n".join(lines), votes
