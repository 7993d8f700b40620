"""Take the README screenshot (docs/screenshot.png) of a running app with Playwright and Debian's chromium.

python app.py --port 7999 &                      # the real app, real models
python docs/take_screenshot.py http://127.0.0.1:7999/ docs/screenshot.png
"""

from __future__ import annotations

import shutil
import sys

from playwright.sync_api import sync_playwright

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
WAIT_MS = 180_000  # the real generator on a busy 2-core machine can take a while


def main(url: str, out: str) -> None:
    """Ask two things, open the last "why these?" panel, and save a full-page screenshot."""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless=new", "--no-sandbox"])
        page = browser.new_page(viewport={"width": 1360, "height": 1180})
        page.goto(url)
        for n, text in enumerate(["A funny science fiction film, nothing with horror", "something older"], start=1):
            page.locator("#msg textarea").fill(text)
            page.locator("#msg textarea").press("Enter")
            page.wait_for_function(f"document.querySelectorAll('#chat .thought').length >= {n}", timeout=WAIT_MS)
        page.locator("#like-0").click()
        page.get_by_text("liked").first.wait_for(timeout=WAIT_MS)
        page.locator("#chat").get_by_text("Why these?").last.click()
        page.locator("#chat").get_by_text("candidates considered").last.wait_for(timeout=WAIT_MS)
        page.wait_for_timeout(1500)  # let the panel finish sliding open (a script, not a test)
        page.evaluate("""() => { for (const el of document.querySelectorAll('#chat *'))
            if (el.scrollHeight > el.clientHeight + 4) el.scrollTop = el.scrollHeight; }""")  # show the table
        page.wait_for_timeout(300)
        page.screenshot(path=out)  # not full_page: resizing the window re-renders the chat and folds the panel
        browser.close()


if __name__ == "__main__":
    main(
        sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:7860/",
        sys.argv[2] if len(sys.argv) > 2 else "docs/screenshot.png",
    )
