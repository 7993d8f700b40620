"""The page served before its engine, in a real headless Chromium: a message sent while the films load is told to
wait ("One moment…") and is then answered with cards, in the same chat, once the engine is ready."""

import threading
from pathlib import Path

import pytest

from recsys.web.turn import STARTING
from tests.test_browser import ARTIFACTS, CHROMIUM, FLAGS, card_titles

pytestmark = pytest.mark.ui


def test_a_message_sent_while_loading_waits_then_gets_its_answer():
    from playwright.sync_api import sync_playwright

    from recsys.web.app import build_demo, launch_options
    from recsys.web.loading import LoadingEngine
    from tests.engine_fixtures import tiny_engine
    from tests.test_app import free_port

    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: apt-get install chromium (.ci/run does this)")
    inner = tiny_engine()
    go = threading.Event()
    loading = LoadingEngine(inner.settings, inner.store, inner.catalog, lambda: go.wait(120) and inner)
    demo = build_demo(loading)  # what app.py serves: the page needs only settings, store and the catalog's genres
    port = free_port()
    demo.launch(
        server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **launch_options(loading)
    )
    loading.start()  # held at `go` until the page has shown the wait
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            page.goto(f"http://127.0.0.1:{port}/")
            box = page.locator("#msg textarea")
            box.fill("a funny sci-fi film")
            box.press("Enter")
            page.get_by_text(STARTING).first.wait_for(timeout=30000)
            assert not loading.ready and page.locator(".rec-card h3").count() == 0
            page.screenshot(path=str(ARTIFACTS / "browser-while-loading.png"), full_page=True)
            go.set()  # the engine is "loaded": the waiting turn goes on
            page.wait_for_function("document.querySelectorAll('.rec-reason').length >= 1", timeout=30000)
            assert page.get_by_text(STARTING).count() == 0  # the wait line was replaced by the answer
            titles = card_titles(page)
            assert titles and set(titles) <= {item.title for item in inner.catalog.items}
            browser.close()
    finally:
        go.set()
        demo.close()
