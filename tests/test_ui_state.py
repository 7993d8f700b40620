"""What the page's controls and panels rest on, without a server: Engine.update_state, per-session MMR λ,
turn details for "why these?", taking a vote back, and the escaping of the page's HTML and Markdown pieces."""

import json

import pytest

from recsys.core.errors import RecsysError
from recsys.core.types import Item
from recsys.web.export import ExportFiles, export_text, session_json, session_markdown, write_export
from recsys.web.html import card_html, why_markdown
from tests.engine_fixtures import tiny_engine


def turn(engine, sid, text):
    return list(engine.respond(sid, text))[-1]


def test_update_state_validates_and_the_next_answer_follows_it():
    engine = tiny_engine()
    sid = engine.new_session()
    state = engine.update_state(sid, count=5, genres_exclude=["horror"], year_min=1980, year_max=2012)
    assert (state.count, state.genres_exclude, state.year_min, state.year_max) == (5, ("Horror",), 1980, 2012)
    done = turn(engine, sid, "a funny film")
    assert len(done.items) == 5
    assert all("Horror" not in r.item.tags and 1980 <= r.item.year <= 2012 for r in done.items)
    assert engine.update_state(sid, count=99).count == engine.settings.max_count  # clamped, not refused
    for bad in (
        {"year_min": 2000, "year_max": 1990},
        {"genres_exclude": ["Nope"]},
        {"count": "many"},
        {"shown_ids": ()},
    ):
        with pytest.raises(RecsysError):
            engine.update_state(sid, **bad)


def test_session_mmr_lambda_is_used_and_reported():
    engine = tiny_engine()
    sid = engine.new_session()
    engine.update_state(sid, mmr_lambda=0.2)
    done = turn(engine, sid, "a funny sci-fi film")
    details = done.details
    assert details["mmr_lambda"] == 0.2
    assert details["candidates"] >= len(done.items)
    assert "Comedy" in details["constraints"]
    assert len(details["redundancy"]) == len(done.items) and details["redundancy"][0] == 0.0
    other = engine.new_session()
    assert turn(engine, other, "a funny sci-fi film").details["mmr_lambda"] == engine.settings.mmr_lambda


def test_remove_feedback_takes_a_vote_back_everywhere():
    engine = tiny_engine()
    sid = engine.new_session()
    user = engine.session(sid).user_id
    other = engine.new_session(user)
    engine.feedback(sid, "t3", liked=False)
    engine.feedback(other, "t3", liked=False)
    assert engine.store.remove_feedback(user, "nothing-here") == 0
    state = engine.remove_feedback(sid, "t3")
    assert "t3" not in state.disliked_ids and "t3" not in engine.session(other).state.disliked_ids
    assert engine.store.user_feedback(user) == []


def test_page_pieces_escape_catalog_and_people_text():
    evil = Item(
        "x1",
        "<img src=x onerror=alert(1)>|pipe",
        1999,
        text="<script>alert(2)</script>",
        tags=("<b>Drama</b>",),
        attributes={"director": ["<i>Dr</i>"]},
    )
    card = card_html(evil, "<svg onload=alert(3)>", "<u>note</u>")
    assert "<img" not in card and "<script" not in card and "<svg" not in card and "<i>" not in card
    assert "&lt;img" in card
    why = why_markdown(
        {"intent": "recommend", "query": "<img src=x>"}, "<b>c</b>", 3, 0.7, [(evil, {"relevance": 0.5, "score": 0.6})]
    )
    assert "<img" not in why and "<b>" not in why and "|pipe" not in why  # a pipe would break the table
    assert "| 0.50 | – |" in why  # a score the engine did not give shows as a dash
    ev = {"asked": [{"kind": "genre", "text": "<b>drama</b>"}], "taste": [], "support": []}
    why = why_markdown(None, "", None, None, [(evil, {"score": 0.6, "evidence": ev}), (evil, {"score": 0.5})])
    assert "**Why each:**\n1. asked: &lt;b&gt;drama&lt;/b&gt;\n2. nothing specific" in why  # evidence, escaped


def test_export_markdown_and_json_hold_the_conversation():
    engine = tiny_engine()
    sid = engine.new_session()
    turn(engine, sid, "a funny sci-fi film")
    md = session_markdown(engine, sid)
    assert md.startswith("# a funny sci-fi film") and "**You:** a funny sci-fi film" in md
    data = session_json(engine, sid)
    assert [m["role"] for m in data["messages"]] == ["user", "assistant"]
    assert all(it["title"] for it in data["messages"][1]["items"])
    assert export_text(engine, sid, "markdown") == md
    assert json.loads(export_text(engine, sid, "json")) == json.loads(json.dumps(data))


def test_export_files_are_private_and_forgotten(tmp_path):
    engine = tiny_engine()
    sid = engine.new_session()
    turn(engine, sid, "a funny sci-fi film")
    paths = [write_export(engine, sid, fmt, tmp_path) for fmt in ("markdown", "json", "markdown")]
    assert [p.suffix for p in paths] == [".md", ".json", ".md"] and len({p.parent for p in paths}) == 3
    assert all(p.name.startswith("a-funny-sci-fi-film") for p in paths)
    files = ExportFiles()
    cache = {str(p) for p in paths}  # stands in for Gradio's record of the files it serves
    for p in paths[:2]:
        files.add("u1", str(p))
    files.add("u2", str(paths[2]))
    assert files.forget("u1", [cache]) == 2
    assert [p.exists() for p in paths] == [False, False, True] and not paths[0].parent.exists()
    assert cache == {str(paths[2])} and files.forget("u1") == 0 and files.forget("u2") == 1


def test_card_slots_follow_the_engines_max_count():
    """One card slot per possible pick, so the count slider's maximum always has its cards (RECSYS_MAX_COUNT=15)."""
    from recsys.web.app import build_demo

    for max_count in (10, 15):
        blocks = list(build_demo(tiny_engine(max_count=max_count)).blocks.values())
        elem_ids = [str(getattr(b, "elem_id", None) or "") for b in blocks]
        slider = blocks[elem_ids.index("count")]
        assert slider.maximum == max_count
        assert sum(e.startswith("like-") for e in elem_ids) == max_count
        assert sum(e.startswith("dislike-") for e in elem_ids) == max_count
        assert sum("rec-slot" in (getattr(b, "elem_classes", None) or []) for b in blocks) == max_count
