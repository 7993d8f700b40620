"""Loading in the background: the page first, then the engine (turns wait), then the generator (facts meanwhile)."""

from __future__ import annotations

import json
import threading
import time

import httpx
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
def test_the_served_app_serves_the_page_then_loads_engine_then_generator(tmp_path):
    """app.py with the packaged models: the page first, a turn sent at once waits for the engine and is answered,
    /healthz says each part's state, and the generator loads last."""
    from recsys.bench.page_client import PageClient
    from recsys.bench.serve import ERROR_TEXT, _find, _is_history, _is_ids, _ready_s, _reply, app_process
    from recsys.core.paths import DATA
    from recsys.web.turn import STARTING
    from tests.conftest import SHARED_CACHE

    env = {
        "RECSYS_HOME": str(tmp_path),
        "RECSYS_CACHE_DIR": str(SHARED_CACHE),
        "RECSYS_CATALOG": str(DATA / "catalogs" / "tiny.jsonl"),
    }
    with app_process(env, 300, tmp_path / "app.log") as (_, url, served_s):
        started = time.perf_counter() - served_s
        health = httpx.get(url + "healthz", timeout=10).json()
        assert health["engine_state"] in ("loading", "ready") and health["items"] == 16
        with PageClient(url) as client:
            ids = _find(client.call("new_session", ["", ""]), _is_ids)
            reply = _reply(_find(client.call("send", "a funny sci-fi film", ids, []), _is_history) or [])
        engine_s = _ready_s(url, started, 300, "engine")
        ready_s = _ready_s(url, started, 300)
    assert reply and ERROR_TEXT not in reply and reply != STARTING  # answered by the engine, not the placeholder
    assert isinstance(engine_s, float) and isinstance(ready_s, float) and served_s <= engine_s <= ready_s
    log = (tmp_path / "app.log").read_text()
    assert log.index("page served at") < log.index("engine ready after") < log.index("generator ready after")


def test_the_page_waits_for_a_loading_engine_and_reports_a_failed_one(tmp_path):
    from recsys.catalog.catalog import Catalog
    from recsys.storage.store import Store
    from recsys.web.api import health_routes
    from recsys.web.loading import EngineNotReady, LoadingEngine
    from tests.fakes import tiny_items

    store, catalog = Store(f"sqlite:///{tmp_path / 'db.sqlite'}"), Catalog(tiny_items())
    inner = tiny_engine(ScriptedGenerator())
    go = threading.Event()
    loading = LoadingEngine(Settings(), store, catalog, lambda: go.wait(30) and inner)
    [route] = health_routes(loading)
    assert loading.catalog is catalog and loading.store is store and loading.generator is None  # no waiting
    loading.start()
    body = json.loads(route.endpoint().body)
    assert body["engine_state"] == "loading" and body["status"] == "loading" and body["generator_state"] == "loading"
    with pytest.raises(EngineNotReady, match="loading"):
        loading.engine(timeout=0.1)
    assert loading.new_session() and not loading.ready  # sessions are the store's: no wait
    go.set()
    assert loading.respond  # waits for the engine, then passes through
    assert loading.ready and json.loads(route.endpoint().body)["status"] == "ok"

    def broken():
        raise OSError("head checkpoint truncated")

    failed = LoadingEngine(Settings(), store, catalog, broken)
    failed.start()
    assert not failed.wait(30) and failed.state == "failed: OSError: head checkpoint truncated"
    with pytest.raises(EngineNotReady, match="truncated"):
        failed.respond  # noqa: B018
    assert json.loads(health_routes(failed)[0].endpoint().body)["status"] == "failed"


def test_the_app_exits_with_the_cause_when_its_engine_cannot_load(tmp_path, monkeypatch, capsys):
    from recsys.core.paths import DATA
    from recsys.web.app import main
    from tests.test_app import free_port

    monkeypatch.setenv("RECSYS_HOME", str(tmp_path))
    monkeypatch.setenv("RECSYS_CATALOG", str(DATA / "catalogs" / "tiny.jsonl"))
    monkeypatch.setenv("RECSYS_HEAD", str(tmp_path / "missing-head.pt"))  # found only by the background load
    assert main(["--port", str(free_port())]) == 1
    err = capsys.readouterr().err
    assert "error: the engine could not load: ModelError" in err and "missing-head.pt" in err
