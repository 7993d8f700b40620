"""The page in a real headless Chromium (Debian's /usr/bin/chromium) driven by Playwright.

Flows: first visit -> example chip -> cards appear; 👎 a card -> it is gone next turn; reload -> history is back;
an injected <img onerror> message is shown as text. Screenshots land in artifacts/ for the CI run.
"""

import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from recsys.storage.db import DbMessage
from tests.fakes import SlowGenerator
from tests.test_app import serve_tiny, serve_tiny_in_home

pytestmark = pytest.mark.ui
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


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


def test_the_echo_is_the_browsers_until_the_servers_cleaned_one_replaces_it(page):
    """A message shows at once (the browser's echo, escaped, before any round trip), and the turn puts the server's
    echo in its place: a control character and a lone surrogate cleaned, cut at the limit (the engine refuses the
    rest politely). What is stored is the cleaned text, and the conversation goes on."""
    from recsys.replies import clean_text

    with serve_tiny(generator=SlowGenerator(0.2), max_message_chars=30) as (engine, url):
        page.goto(url)
        box = page.locator("#msg textarea")
        box.fill("ready")  # waits for the page to be live
        # typed through the DOM: Playwright cannot send a lone surrogate; "\\u0007" is BEL, "\\ud800" the surrogate
        page.evaluate(
            """() => { const t = document.querySelector('#msg textarea');
            t.value = 'a <b>tense</b>\\u0007 thriller\\ud800 & more, more, more words';
            t.dispatchEvent(new Event('input', {bubbles: true})); }"""
        )
        box.press("Enter")
        page.wait_for_function("!document.querySelector('#msg textarea').disabled", timeout=30000)  # answered
        cleaned = clean_text("a <b>tense</b>\u0007 thriller\ud800 & more, more, more words")
        assert cleaned == "a <b>tense</b> thriller? & more, more, more words"
        chat = page.locator("#chat")
        chat.get_by_text(cleaned[:30] + "…").first.wait_for(timeout=10000)  # the server's echo, as text
        assert "\x07" not in chat.inner_text()
        held: list = []  # the turn's request, held back: the echo must show without the server
        page.route("**/queue/join*", lambda route: held.append(route))
        box.fill("a <i>comedy</i>")
        box.press("Enter")
        chat.get_by_text("a <i>comedy</i>").first.wait_for(timeout=5000)  # the browser's echo, escaped
        assert len(held) == 1 and "…" in chat.inner_text()  # the answer's placeholder
        held[0].continue_()
        page.unroute("**/queue/join*")
        page.wait_for_function("document.querySelectorAll('.rec-reason').length >= 1", timeout=30000)
        with engine.store.engine.connect() as db:
            typed = db.execute(select(DbMessage.text).where(DbMessage.role == "user")).scalars().all()
        assert typed == [cleaned[:30], "a <i>comedy</i>"]  # the engine keeps a too-long message's start


def test_injected_markup_is_shown_as_text(page, page_url):
    _, url = page_url
    page.goto(url)
    page.on("dialog", lambda d: (_ for _ in ()).throw(AssertionError("a script ran")))
    box = page.locator("#msg textarea")
    box.fill('<img src=x onerror="alert(1)"> hi')
    box.press("Enter")
    page.get_by_text('<img src=x onerror="alert(1)"> hi').first.wait_for(timeout=30000)
    assert page.locator("img[src=x]").count() == 0


def test_the_box_is_locked_until_the_answer_is_there(page):
    """From a message's echo to its answer the box, Send, the chips and the buttons that open another conversation
    are off (no second turn can start from a history without the first answer and hide it, and no other
    conversation gets its updates); then the next message goes and both answers show."""
    with serve_tiny(generator=SlowGenerator(0.2)) as (engine, url):
        page.goto(url)
        box, send = page.locator("#msg textarea"), page.get_by_role("button", name="Send", exact=True)
        box.fill("a comedy")
        box.press("Enter")
        page.wait_for_function("document.querySelector('#msg textarea').disabled", timeout=10000)  # the echo
        assert page.locator(".rec-reason").count() == 0  # the answer is still coming (0.2 s a word)
        assert send.is_disabled()
        assert page.get_by_role("button", name="A tense 90s crime thriller").is_disabled()
        switches = [page.locator("#new-btn"), page.locator("#delete-btn"), page.locator("#sessions input").first]
        assert all(s.is_disabled() for s in switches)  # no other conversation can open under the answer
        page.wait_for_function("document.querySelectorAll('.rec-reason').length >= 1", timeout=30000)
        page.wait_for_function("!document.querySelector('#msg textarea').disabled", timeout=30000)
        assert not any(s.is_disabled() for s in switches)
        box.fill("a sci-fi film")
        box.press("Enter")
        page.get_by_text("a sci-fi film").first.wait_for(timeout=10000)
        page.wait_for_function("!document.querySelector('#msg textarea').disabled", timeout=30000)
        with engine.store.engine.connect() as db:  # the page's session: the one holding the first message
            sid = db.execute(select(DbMessage.session_id).where(DbMessage.text == "a comedy")).scalar_one()
        stored = engine.history(sid)
        assert [m.text for m in stored if m.role == "user"] == ["a comedy", "a sci-fi film"]
        assert len(stored) == 4 and all(m.text for m in stored)
        chat = page.locator("#chat").inner_text()
        for answer in (stored[1], stored[3]):  # no answer is left hidden behind its "…" placeholder
            assert answer.items and all(engine.catalog.get(r.item_id).title in chat for r in answer.items)
