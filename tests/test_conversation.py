"""A ten-turn conversation through the engine over the real 17k-film catalog and index: state held across turns.

Constraints are added, changed and removed; after every turn the recommendations must satisfy the dialogue
state (genres, years, runtime, language, people, nothing shown twice, nothing disliked). The explanation text
comes from a scripted generator because this test is about state; the index uses the hashing encoder in the
fast run and the real MiniLM encoder in the slow one.
"""

from __future__ import annotations

import pytest

from recsys.core.config import Settings
from recsys.core.types import DialogueState, Item
from recsys.engine import Engine
from recsys.search.encoder import SentenceEncoder
from recsys.search.index import ItemIndex
from recsys.storage.store import Store
from tests.catalog_fixtures import real_catalog
from tests.conftest import SHARED_CACHE
from tests.fakes import HashingEncoder, ScriptedGenerator


@pytest.fixture(scope="module", params=["hashing", pytest.param("minilm", marks=pytest.mark.slow)])
def engine(request, tmp_path_factory):
    home = tmp_path_factory.mktemp("conv-home")
    settings = Settings.from_env().with_overrides(home=home, cache_dir=SHARED_CACHE)
    catalog = real_catalog()
    encoder = HashingEncoder() if request.param == "hashing" else SentenceEncoder(settings.embed_model)
    index = ItemIndex.build(catalog, encoder, SHARED_CACHE, progress=False)
    engine = Engine(settings, catalog, index, ScriptedGenerator(), Store(settings.database_url))
    yield engine
    engine.store.close()


def satisfies(item: Item, s: DialogueState) -> list[str]:
    """Every way an item breaks the state (empty = fine)."""
    broken = []
    tags = set(item.tags)
    if s.genres_include and not tags & set(s.genres_include):
        broken.append("include")
    if tags & set(s.genres_exclude):
        broken.append("exclude")
    if s.year_min is not None and not (item.year and item.year >= s.year_min):
        broken.append("year_min")
    if s.year_max is not None and not (item.year and item.year <= s.year_max):
        broken.append("year_max")
    runtime = item.attributes.get("runtime")
    if s.runtime_max is not None and not (runtime and runtime <= s.runtime_max):
        broken.append("runtime_max")
    if s.languages and not set(item.people("language")) & set(s.languages):
        broken.append("language")
    if s.people and not set(s.people) & set(item.people("director") + item.people("cast") + item.people("writer")):
        broken.append("people")
    if item.item_id in s.disliked_ids:
        broken.append("disliked")
    return broken


def test_ten_turns_keep_every_constraint(engine):
    sid = engine.new_session()
    seen: set[str] = set()
    disliked: set[str] = set()

    def turn(text: str, expect_items: bool = True):
        done = list(engine.respond(sid, text))[-1]
        state = engine.session(sid).state
        ids = [r.item.item_id for r in done.items]
        assert bool(ids) == expect_items, (text, done.text, state)
        for rec in done.items:
            assert satisfies(rec.item, state) == [], (text, rec.item.label(), state)
        assert not set(ids) & seen, f"{text!r} repeated an item"
        assert not set(ids) & disliked
        seen.update(ids)
        return done, state

    done, s = turn("a comedy, nothing scary")  # 1: add genres
    assert s.genres_include == ("Comedy",) and s.genres_exclude == ("Horror",)
    done, s = turn("from the 90s")  # 2: add years, genres carry over
    assert (s.year_min, s.year_max) == (1990, 1999) and s.genres_include == ("Comedy",)
    done, s = turn("under two hours")  # 3: add runtime
    assert s.runtime_max == 119 and s.year_min == 1990
    done, s = turn("something else")  # 4: more of the same, nothing repeats
    assert s.runtime_max == 119 and s.genres_exclude == ("Horror",)
    done, s = turn("in French")  # 5: add a language
    assert s.languages == ("French",)
    done, s = turn("any language is fine, but no romance")  # 6: remove one constraint, add an exclusion
    assert s.languages == () and set(s.genres_exclude) == {"Horror", "Romance"}
    second = done.items[1].item
    done, s = turn("who directed the second one?", expect_items=False)  # 7: a question, answered from facts
    assert second.people("director")[0] in done.text and s.focus_id == second.item_id
    first = engine.session(sid).state.last_ids[0]
    done, s = turn("not the first one", expect_items=False)  # 8: feedback in words
    assert first in s.disliked_ids
    disliked.add(first)
    done, s = turn("something older")  # 9: a refinement relative to the last list
    assert s.year_max is not None and s.year_max < 1999
    done, s = turn("forget the year, with Robin Williams")  # 10: change: years cleared, a person added
    assert s.year_min is None and s.year_max is None and s.people == ("Robin Williams",)
    assert s.runtime_max == 119 and "Romance" in s.genres_exclude


def test_like_a_title_and_more_by_this_director(engine):
    sid = engine.new_session()
    done = list(engine.respond(sid, "something like Alien, no comedy"))[-1]
    alien = engine.graph.match_title("Alien")
    assert done.items and alien not in [r.item.item_id for r in done.items]
    assert all("Comedy" not in r.item.tags for r in done.items)
    done = list(engine.respond(sid, "how long is Alien?"))[-1]
    assert str(engine.catalog.get(alien).attributes["runtime"]) in done.text
    done = list(engine.respond(sid, "more by this director"))[-1]
    state = engine.session(sid).state
    assert state.people == ("Ridley Scott",)
    assert done.items and all("Ridley Scott" in r.item.people("director") for r in done.items)
    done = list(engine.respond(sid, "I've seen Alien"))[-1]
    assert alien in engine.session(sid).state.shown_ids and "seen" in done.text


def test_feedback_and_questions_in_words_on_the_tiny_catalog():
    from tests.engine_fixtures import tiny_engine

    engine = tiny_engine()
    sid = engine.new_session()
    first = list(engine.respond(sid, "a comedy"))[-1]
    target = first.items[1].item
    done = list(engine.respond(sid, "who directed the second one?"))[-1]
    assert target.people("director")[0] in done.text and not done.items
    done = list(engine.respond(sid, "I didn't like it"))[-1]  # "it" = the film just talked about
    state = engine.session(sid).state
    assert target.item_id in state.disliked_ids and target.label() in done.text
    done = list(engine.respond(sid, "who directed it?"))[-1]
    assert target.people("director")[0] in done.text
    for _ in range(2):
        list(engine.respond(sid, "start over"))
        assert target.item_id not in [r.item.item_id for r in list(engine.respond(sid, "a comedy"))[-1].items]


def test_feedback_inside_a_refinement_is_recorded():
    from tests.engine_fixtures import tiny_engine

    engine = tiny_engine()
    sid = engine.new_session()
    shown = [r.item for r in list(engine.respond(sid, "a comedy"))[-1].items]
    done = list(engine.respond(sid, "loved the first one, now something older"))[-1]
    state = engine.session(sid).state
    assert shown[0].item_id in state.liked_ids and done.intent.intent == "refine"
    assert state.year_max == min(it.year for it in shown) - 1
    assert all(r.item.year <= state.year_max for r in done.items)
