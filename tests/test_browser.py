"""The page in a real headless Chromium (Debian's /usr/bin/chromium) driven by Playwright.

Flows: first visit -> example chip -> cards appear; 👎 a card -> it is gone next turn; reload -> history is back;
an injected <img onerror> message is shown as text. Screenshots land in artifacts/ for the CI run.
"""
import shutil
from pathlib import Path

import pytest

from tests.test_app import serve_tiny_in_home

pytestmark = pytest.mark.ui
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def page_url(tmp_path_factory):
    with serve_tiny_in_home(tmp_path_factory, "browser-home") as served:
        yield served


@pytest.fixture()
def page(page_url):
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: apt-get install chromium (.ci/run does this)")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        yield context.new_page()
        browser.close()


def card_titles(page) -> list[str]:
    return [t.strip() for t in page.locator(".rec-card h3").all_inner_texts()]


def test_chip_cards_dislike_reload(page, page_url):
    engine, url = page_url
    page.goto(url)
    page.get_by_role("button", name="A funny science fiction film, nothing with horror").click()
    page.wait_for_selector(".rec-card h3", timeout=30000)
    page.wait_for_function("document.querySelectorAll('.rec-card h3').length >= 3", timeout=30000)
    page.wait_for_function("document.querySelectorAll('.rec-reason').length >= 3", timeout=30000)  # turn done
    first = card_titles(page)
    assert len(first) == 3
    for title in first:
        item = next(it for it in engine.catalog.items if it.title == title)
        assert "Horror" not in item.tags
    page.screenshot(path=str(ARTIFACTS / "browser-first-answer.png"), full_page=True)

    page.locator("#dislike-0").click()
    page.get_by_text("won't come back").wait_for(timeout=10000)
    box = page.locator("#msg textarea")
    box.fill("start over")
    box.press("Enter")
    page.wait_for_function("document.querySelectorAll('.rec-card h3').length === 0", timeout=30000)
    box.fill("a funny sci-fi film")
    box.press("Enter")
    page.wait_for_function("document.querySelectorAll('.rec-card h3').length >= 1", timeout=30000)
    assert first[0] not in card_titles(page)

    page.reload()
    page.get_by_text("start over").first.wait_for(timeout=30000)  # history is back after a reload
    assert page.get_by_text("A funny science fiction film, nothing with horror").count() >= 1
    page.screenshot(path=str(ARTIFACTS / "browser-after-reload.png"), full_page=True)


def test_injected_markup_is_shown_as_text(page, page_url):
    _, url = page_url
    page.goto(url)
    page.on("dialog", lambda d: (_ for _ in ()).throw(AssertionError("a script ran")))
    box = page.locator("#msg textarea")
    box.fill('<img src=x onerror="alert(1)"> hi')
    box.press("Enter")
    page.get_by_text('<img src=x onerror="alert(1)"> hi').first.wait_for(timeout=30000)
    assert page.locator("img[src=x]").count() == 0
