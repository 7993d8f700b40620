"""The chat page's side panels in a real headless Chromium: sessions, exports, forget-me, controls, why-these,
the Chatbot's own 👍, and a phone-width layout in light and dark themes. Screenshots land in artifacts/.

The engine is the tiny fake one (tests/fakes.py): these tests are about the page, not the models.
"""

import json

import pytest

from tests.test_browser import ARTIFACTS, card_titles, page, page_url  # noqa: F401 (fixtures)

pytestmark = pytest.mark.ui
LONG = 30000  # ms: generous waits for a slow shared CI machine; nothing asserts on time


def ask(page, text: str, cards: int = 1) -> None:
    """Type a message, send it with Enter, and wait until the turn is done (the why-these panel is added)."""
    before = page.locator("#chat .thought").count()
    box = page.locator("#msg textarea")
    box.fill(text)
    box.press("Enter")
    page.wait_for_function(f"document.querySelectorAll('#chat .thought').length > {before}", timeout=LONG)
    page.wait_for_function(f"document.querySelectorAll('.rec-reason').length >= {cards}", timeout=LONG)


def open_page(page, url: str) -> None:
    """Load the page and wait until its session is open (the title box is filled by the load event)."""
    page.goto(url)
    page.wait_for_function(
        "(document.querySelector('#title-box input, #title-box textarea') || {}).value", timeout=LONG
    )


def session_labels(page) -> list[str]:
    return [t.strip() for t in page.locator("#sessions label").all_inner_texts()]


def test_resume_rename_export_delete(page, page_url):
    engine, url = page_url
    open_page(page, url)
    ask(page, "a funny sci-fi film")
    page.locator("#new-btn").click()
    page.wait_for_function("document.querySelectorAll('#chat .thought').length === 0", timeout=LONG)
    ask(page, "a war drama")
    # the session list follows the answer in its own update (see recsys.web.events.sends_on): wait for the new title
    page.wait_for_function(
        "[...document.querySelectorAll('#sessions label')].map(l => l.innerText.trim())"
        ".join('|') === 'a war drama|a funny sci-fi film'",
        timeout=LONG,
    )
    assert session_labels(page) == ["a war drama", "a funny sci-fi film"]  # most recent first

    page.get_by_role("radio", name="a funny sci-fi film").check()  # resume the older one
    page.locator("#chat").get_by_text("a funny sci-fi film").first.wait_for(timeout=LONG)
    page.wait_for_function("!document.querySelector('#chat').innerText.includes('a war drama')", timeout=LONG)
    assert all("War" not in next(it for it in engine.catalog.items if it.title == t).tags for t in card_titles(page))

    title = page.locator("#title-box input, #title-box textarea").first
    title.fill("Sunday laughs")
    page.locator("#rename-btn").click()
    page.get_by_role("radio", name="Sunday laughs").wait_for(timeout=LONG)

    with page.expect_download(timeout=LONG) as md:
        page.locator("#export-md").click()
    text = open(md.value.path(), encoding="utf-8").read()
    assert text.startswith("# Sunday laughs") and "**You:** a funny sci-fi film" in text
    with page.expect_download(timeout=LONG) as js:
        page.locator("#export-json").click()
    data = json.loads(open(js.value.path(), encoding="utf-8").read())
    assert data["title"] == "Sunday laughs" and len(data["messages"]) == 2
    page.screenshot(path=str(ARTIFACTS / "ui-sessions.png"), full_page=True)

    page.locator("#delete-btn").click()
    page.wait_for_function("document.querySelectorAll('#sessions label').length === 1", timeout=LONG)
    assert session_labels(page) == ["a war drama"]  # the remaining one is opened
    page.locator("#chat").get_by_text("a war drama").first.wait_for(timeout=LONG)


def test_first_visit_offers_films_to_rate(page, page_url):
    engine, url = page_url
    open_page(page, url)
    page.get_by_text("New here?").wait_for(timeout=LONG)  # onboarding cards (Engine.onboarding_items)
    offered = card_titles(page)
    assert 1 <= len(offered) <= 5
    page.locator("#like-0").click()
    page.get_by_text("more like this").first.wait_for(timeout=LONG)
    page.locator("#taste-panel").get_by_text("Your taste").click()
    page.locator("#votes").get_by_text(offered[0]).wait_for(timeout=LONG)  # the vote is listed, removable
    page.locator("#votes label").first.click()
    page.locator("#unvote-btn").click()
    page.get_by_text("Took back 1 vote").wait_for(timeout=LONG)
    assert page.locator("#votes").get_by_text(offered[0]).count() == 0


def test_forget_me_empties_the_list(page, page_url):
    engine, url = page_url
    open_page(page, url)
    ask(page, "a funny sci-fi film")
    page.get_by_role("radio", name="a funny sci-fi film").wait_for(timeout=LONG)
    page.locator("#forget-btn").click()
    page.locator("#forget-no").click()  # cancelling keeps everything
    assert session_labels(page) == ["a funny sci-fi film"]
    page.locator("#forget-btn").click()
    page.locator("#forget-yes").click()
    page.get_by_text("everything about you is deleted").wait_for(timeout=LONG)
    assert "a funny sci-fi film" not in " ".join(session_labels(page))
    assert page.locator("#chat").get_by_text("a funny sci-fi film").count() == 0
    page.reload()  # the browser now holds a fresh identity: nothing comes back
    page.wait_for_selector("#sessions", timeout=LONG)
    page.wait_for_timeout(500)
    assert "a funny sci-fi film" not in " ".join(session_labels(page))


def test_count_control_why_panel_and_chatbot_like(page, page_url):
    engine, url = page_url
    open_page(page, url)
    count = page.locator("#count input[type=number]")
    count.fill("5")
    count.press("Enter")
    genres = page.locator("#genres-exclude input")
    genres.click()
    genres.fill("Horror")
    genres.press("Enter")
    genres.press("Escape")
    page.wait_for_function("document.body.innerText.includes('no Horror')", timeout=LONG)  # state saved
    ask(page, "a funny film", cards=5)
    page.get_by_role("button", name="Something lighter").wait_for(timeout=LONG)  # follow-up quick replies
    titles = card_titles(page)
    assert len(titles) == 5
    assert all("Horror" not in next(it for it in engine.catalog.items if it.title == t).tags for t in titles)

    page.locator("#chat").get_by_text("Why these?").last.click()  # the collapsible panel opens
    page.locator("#chat").get_by_text("candidates considered").last.wait_for(timeout=LONG)
    for word in ("relevance", "personal", "redundancy"):
        assert page.locator("#chat").get_by_text(word).count() >= 1
    page.screenshot(path=str(ARTIFACTS / "ui-why-these.png"), full_page=True)

    ask(page, "a war film before 1990", cards=1)  # a constraint in words moves the controls
    page.wait_for_function("document.querySelector('#year-max input').value === '1989'", timeout=LONG)

    page.locator("#chat").get_by_role("button", name="Like", exact=True).last.click()
    page.get_by_text("liked all").wait_for(timeout=LONG)
    page.locator("#taste-panel").get_by_text("Your taste").click()
    page.locator("#votes label").first.wait_for(timeout=LONG)
    assert page.locator("#votes label").count() >= 1


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_phone_width_is_readable(page, page_url, theme):
    _, url = page_url
    page.set_viewport_size({"width": 390, "height": 844})
    open_page(page, url + f"?__theme={theme}")
    page.get_by_role("button", name="A funny science fiction film, nothing with horror").click()
    page.wait_for_function("document.querySelectorAll('.rec-reason').length >= 3", timeout=LONG)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1  # no sideways scrolling on a phone
    box = page.locator("#chat").bounding_box()
    assert box["width"] <= 390 and box["x"] >= 0
    colors = page.evaluate("""() => { const c = getComputedStyle(document.querySelector('.rec-card h3'));
        const b = getComputedStyle(document.body); return [c.color, b.backgroundColor]; }""")
    assert colors[0] != colors[1]  # text is not drawn in the background colour
    unnamed = page.evaluate("""() => [...document.querySelectorAll('input, textarea, button')]
        .filter(e => e.offsetParent && !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                     && !e.closest('label') && !(e.innerText || '').trim() && !e.title
                     // Gradio's fold arrow sits inside the why-these title, itself a named role=button
                     && !(e.parentElement.closest('[role=button]') || {innerText: ''}).innerText.trim())
        .map(e => e.outerHTML.slice(0, 120))""")
    assert unnamed == []  # every control a screen reader meets has a name
    page.screenshot(path=str(ARTIFACTS / f"ui-phone-{theme}.png"), full_page=True)


def log_in(page, url: str, user: str, password: str) -> None:
    """Fill Gradio's login form, then wait until the page's session is open."""
    page.goto(url)
    page.locator("input[type=text], input:not([type])").first.fill(user)
    page.locator("input[type=password]").first.fill(password)
    page.locator("input[type=password]").first.press("Enter")
    page.wait_for_function(
        "(document.querySelector('#title-box input, #title-box textarea') || {}).value", timeout=LONG
    )


def test_with_login_each_account_sees_only_its_own(page):
    """Two accounts on one browser (a shared computer): after alice logs out and bob logs in, the ids the browser
    kept from alice open nothing of hers; bob gets his own conversation, and alice's comes back when she returns."""
    from recsys.web.accounts import login_check
    from recsys.web.app import build_demo, launch_options
    from tests.engine_fixtures import tiny_engine
    from tests.test_app import free_port

    engine = tiny_engine()
    demo = build_demo(engine)
    demo.queue()
    port = free_port()
    demo.launch(
        server_name="127.0.0.1",
        server_port=port,
        prevent_thread_lock=True,
        quiet=True,
        auth=login_check([("alice", "pw-a"), ("bob", "pw-b")]),
        **launch_options(engine),
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        log_in(page, url, "alice", "pw-a")
        ask(page, "a funny sci-fi film")
        page.get_by_role("radio", name="a funny sci-fi film").wait_for(timeout=LONG)
        page.goto(url + "logout")
        log_in(page, url, "bob", "pw-b")
        page.wait_for_timeout(500)
        assert "a funny sci-fi film" not in " ".join(session_labels(page))
        assert page.locator("#chat").get_by_text("a funny sci-fi film").count() == 0
        ask(page, "a war drama")
        page.get_by_role("radio", name="a war drama").wait_for(timeout=LONG)
        assert session_labels(page) == ["a war drama"]
        page.goto(url + "logout")
        log_in(page, url, "alice", "pw-a")
        page.get_by_role("radio", name="a funny sci-fi film").wait_for(timeout=LONG)
        assert "a war drama" not in " ".join(session_labels(page))
        owners = {s.title: s.user_id for u in ("auth:alice", "auth:bob") for s in engine.store.list_sessions(u)}
        assert owners["a funny sci-fi film"] == "auth:alice" and owners["a war drama"] == "auth:bob"
    finally:
        demo.close()
