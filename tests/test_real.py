"""The whole pipeline through the real packaged models and the default 17k-film catalog (marked slow).

The first run builds the catalog, embeds every film (~2 min on 2 cores) and converts the generator (~1 min);
both land in the shared test cache, so later runs take seconds.
"""

import pytest

from recsys.core.config import Settings
from recsys.engine import Engine
from recsys.explain.grounding import fact_phrases
from tests.conftest import SHARED_CACHE

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    home = tmp_path_factory.mktemp("real-home")  # module-scoped: the autouse env fixture is not active yet
    settings = Settings.from_env().with_overrides(home=home, cache_dir=SHARED_CACHE)
    engine = Engine.load(settings, progress=False)
    yield engine
    engine.store.close()


def turn(engine, sid, text):
    events = list(engine.respond(sid, text))
    assert events[-1].kind == "done"
    return events[-1]


def test_default_catalog_is_the_cleaned_bokeh_films(engine):
    assert 17000 <= len(engine.catalog) <= 17472
    assert "Sci-Fi" in engine.catalog.genres and "Horror" in engine.catalog.genres


def test_conversation_satisfies_every_constraint_and_names_only_its_items(engine):
    sid = engine.new_session()
    first = turn(engine, sid, "a funny science fiction film, nothing with horror")
    assert len(first.items) == 3
    for rec in first.items:
        assert {"Comedy", "Sci-Fi"} & set(rec.item.tags) and "Horror" not in rec.item.tags
    second = turn(engine, sid, "something from before 1990")
    assert len(second.items) == 3
    for rec in second.items:
        assert rec.item.year < 1990
        assert {"Comedy", "Sci-Fi"} & set(rec.item.tags) and "Horror" not in rec.item.tags
    allowed = [r.item.title for r in second.items]
    assert engine.guard.violations(second.text, allowed, fact_phrases([r.item for r in second.items])) == []
    for title in allowed:
        assert title in second.text
    # a reason per item, and the reply is not the bare template for every item (the generator did speak)
    assert all(r.reason for r in second.items)


def test_dislike_is_respected_with_real_models(engine):
    sid = engine.new_session()
    first = turn(engine, sid, "a war film")
    bad = first.items[0].item.item_id
    engine.feedback(sid, bad, liked=False)
    turn(engine, sid, "start over")
    again = turn(engine, sid, "a war film")
    assert bad not in {r.item.item_id for r in again.items}
