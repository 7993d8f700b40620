"""The generator loaded in the background: facts meanwhile, generated reasons once ready, a failure reported."""

from __future__ import annotations

import threading

import pytest

from recsys.core.config import Settings
from recsys.explain.explainer import warm_up
from recsys.generation.late import GeneratorNotReady, LateGenerator, ready, state
from recsys.generation.llm import load_generator
from tests.engine_fixtures import tiny_engine
from tests.fakes import ScriptedGenerator


def gated(inner):
    """A LateGenerator whose load waits until the returned event is set."""
    go = threading.Event()

    def load():
        go.wait(30)
        return inner

    return LateGenerator(load, name="scripted"), go


def turn_sources(engine, sid: str, text: str) -> list[str]:
    """How each pick's reason was written in one turn ("generated" or "template")."""
    events = list(engine.respond(sid, text))
    items = next(e for e in events if e.kind == "items")
    assert items.items and events[-1].kind == "done"
    return items.details["sources"]  # filled in when the reasons are written


def test_calls_before_ready_raise_and_state_says_loading():
    late, go = gated(ScriptedGenerator())
    assert not ready(late) and state(late) == "loading"
    with pytest.raises(GeneratorNotReady, match="loading"):
        late.stream([{"role": "user", "content": "hi"}])
    with pytest.raises(AttributeError):
        late.tokenizer  # noqa: B018
    go.set()
    assert late.wait(30) and ready(late) and state(late) == "ready" and late.name == "scripted"
    assert late.complete([{"role": "user", "content": "hi"}]) == "A fine pick for tonight."
    late.start()  # started already: nothing happens


def test_a_deferred_load_waits_for_start():
    loads = []
    late = LateGenerator(lambda: loads.append(1) or ScriptedGenerator(), start=False)
    assert not late.wait(0.2) and state(late) == "loading" and loads == []
    late.start()
    assert late.wait(30) and loads == [1]
    assert ready(ScriptedGenerator()) and state(ScriptedGenerator()) == "ready"  # loaded up front


def test_a_failed_load_is_reported_and_never_raised_into_a_turn():
    def broken():
        raise OSError("model file truncated")

    late = LateGenerator(broken)
    assert not late.wait(30) and state(late) == "failed: OSError: model file truncated"
    engine = tiny_engine(late)
    assert set(turn_sources(engine, engine.new_session(), "a funny sci-fi film")) == {"template"}


def test_turns_use_facts_while_loading_then_the_generator():
    late, go = gated(ScriptedGenerator(default="A sci-fi comedy, as you asked."))
    engine = tiny_engine(late)
    assert set(turn_sources(engine, engine.new_session(), "a funny sci-fi film")) == {"template"}
    go.set()
    assert late.wait(30)
    assert "generated" in turn_sources(engine, engine.new_session(), "a funny sci-fi film")


@pytest.mark.slow
def test_the_real_generator_loads_in_the_background_and_writes():
    settings = Settings.from_env()
    late = LateGenerator(lambda: load_generator(settings), prepare=warm_up)
    assert state(late) in ("loading", "ready")
    assert late.wait(300), state(late)
    text = late.complete([{"role": "user", "content": "Say hello."}], max_new_tokens=8)
    assert isinstance(text, str) and text.strip()


@pytest.mark.slow
def test_the_served_app_answers_before_its_generator_is_ready(tmp_path):
    """app.py with the packaged model: the page is served first, /healthz turns "ready" once it has loaded."""
    from recsys.bench.serve import _generator_ready_s, app_process
    from recsys.core.paths import DATA
    from tests.conftest import SHARED_CACHE

    env = {
        "RECSYS_HOME": str(tmp_path),
        "RECSYS_CACHE_DIR": str(SHARED_CACHE),
        "RECSYS_CATALOG": str(DATA / "catalogs" / "tiny.jsonl"),
    }
    with app_process(env, 300, tmp_path / "app.log") as (_, url, served_s):
        ready_s = _generator_ready_s(url, served_s, 300)
    assert isinstance(ready_s, float) and ready_s >= served_s
    log = (tmp_path / "app.log").read_text()
    assert log.index("ready: open") < log.index("generator ready after")  # served first, then the generator
