"""The chat page: a thin Gradio shell over recsys.engine.Engine.

    python app.py                      # http://127.0.0.1:7860, default catalog and models
    python app.py --host 0.0.0.0 --port 8080 --auth demo:secret --db-url postgresql+psycopg://...

Every flag also reads a RECSYS_* environment variable (see README). Gradio is imported here only: the recsys
package stays importable without it.
"""
from __future__ import annotations

import argparse
import html
import logging
import sys
from collections.abc import Sequence

import gradio as gr

from recsys.cli import settings_from, setup_logging
from recsys.config import Settings
from recsys.dialogue import describe
from recsys.engine import Engine
from recsys.errors import RecsysError, SessionNotFound
from recsys.types import Item

log = logging.getLogger("recsys.app")

MAX_CARDS = 10  # = Settings.max_count: one card slot per possible recommendation
EXAMPLES = [
    "A funny science fiction film, nothing with horror",
    "A tense 90s crime thriller",
    "Something romantic from before 1970",
    "An animated film for the whole family",
]
CSS = """
.rec-card {border: 1px solid var(--border-color-primary); border-radius: 10px; padding: 10px 12px;}
.rec-card h3 {margin: 0 0 4px 0; font-size: 1.05em;}
.rec-meta {opacity: .8; font-size: .9em;}
.rec-reason {margin-top: 6px;}
.rec-state {font-size: .9em; opacity: .85;}
"""


def esc(text: object) -> str:
    """HTML-escape anything shown on the page: no markup from people or catalog fields ever runs."""
    return html.escape("" if text is None else str(text), quote=True)


def card_html(item: Item, reason: str, note: str = "") -> str:
    """One recommendation card: title, year, genres, director, runtime, reason — all escaped."""
    meta = [esc(item.year) if item.year else "", esc(" · ".join(item.tags))]
    directors = item.people("director")
    if directors:
        meta.append("dir. " + esc(", ".join(directors[:2])))
    runtime = item.attributes.get("runtime")
    if runtime:
        meta.append(f"{esc(runtime)} min")
    cast = (item.people("top_cast") or item.people("cast"))[:3]  # the default catalog's cast is alphabetical
    lines = [f'<div class="rec-card"><h3>{esc(item.title)}</h3>',
             f'<div class="rec-meta">{" — ".join(m for m in meta if m)}</div>']
    if cast:
        lines.append(f'<div class="rec-meta">with {esc(", ".join(cast))}</div>')
    if reason:
        lines.append(f'<div class="rec-reason">{esc(reason)}</div>')
    if note:
        lines.append(f'<div class="rec-meta"><b>{esc(note)}</b></div>')
    lines.append("</div>")
    return "".join(lines)


def chat_message(role: str, text: str) -> dict:
    """A Chatbot message with its text escaped (Markdown still renders, HTML never does)."""
    return {"role": role, "content": html.escape(text, quote=False)}  # quotes stay readable in Markdown


def build_demo(engine: Engine) -> gr.Blocks:
    """The page: chat on the left, cards with 👍/👎 on the right, the active constraints under them."""
    with gr.Blocks(title="recsys — films for your mood") as demo:
        ids = gr.BrowserState(["", ""], storage_key="recsys-ids")  # [user_id, session_id], survives reloads
        shown = gr.State([])  # item ids of the cards on screen, in order
        gr.Markdown("## 🎬 What are you in the mood for?\nSay it in your own words; 👍 / 👎 the cards to teach me.")
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=320):
                chatbot = gr.Chatbot(label="Conversation", height=480, feedback_options=None,
                                     placeholder="Try one of the examples below, or type your own request.")
                with gr.Row():
                    box = gr.Textbox(label="Your message", placeholder="e.g. a funny sci-fi film, nothing scary",
                                     scale=5, autofocus=True, max_lines=4, elem_id="msg")
                    send_btn = gr.Button("Send", variant="primary", scale=1, min_width=80)
                with gr.Row():
                    chips = [gr.Button(text, size="sm", elem_classes="chip") for text in EXAMPLES]
                new_btn = gr.Button("New conversation", size="sm")
            with gr.Column(scale=2, min_width=280):
                state_md = gr.Markdown("", elem_classes="rec-state", label="Active constraints")
                slots, htmls, likes, dislikes = [], [], [], []
                for i in range(MAX_CARDS):
                    with gr.Column(visible=False, elem_classes="rec-slot") as slot:
                        htmls.append(gr.HTML(""))
                        with gr.Row():
                            likes.append(gr.Button("👍 Like", size="sm", min_width=40, elem_id=f"like-{i}"))
                            dislikes.append(gr.Button("👎 Dislike", size="sm", min_width=40, elem_id=f"dislike-{i}"))
                    slots.append(slot)
                status = gr.Markdown("")

        def cards(recs: Sequence[tuple[Item, str]]) -> list:
            """Updates for every slot: shown with content for recs, hidden for the rest."""
            out = []
            for i in range(MAX_CARDS):
                if i < len(recs):
                    out += [gr.Column(visible=True), card_html(*recs[i])]
                else:
                    out += [gr.Column(visible=False), ""]
            return out

        card_outputs = [x for pair in zip(slots, htmls) for x in pair]
        keep_cards = [gr.skip()] * len(card_outputs)  # an update that leaves every card as it is

        def state_text(session_id: str) -> str:
            """The constraints the next answer will respect, in words."""
            try:
                text = describe(engine.session(session_id).state)
            except RecsysError:
                return ""
            return f"**Active constraints:** {esc(text)}" if text else ""

        def open_session(saved: list) -> tuple:
            """On page load: resume the browser's session (history and cards), or start a new one."""
            user_id, session_id = (saved or ["", ""]) + [""] * (2 - len(saved or []))
            try:
                info = engine.session(session_id) if session_id else None
            except SessionNotFound:
                info = None
            if info is None:
                session_id = engine.new_session(user_id or None)
                info = engine.session(session_id)
            history, recs = [], []
            for row in engine.history(session_id):
                history.append(chat_message(row.role, row.text))
                if row.role == "assistant" and row.items:
                    recs = [(engine.catalog.get(s.item_id), s.reason) for s in row.items]
            recs = [(item, reason) for item, reason in recs if item is not None]
            return ([info.user_id, session_id], history, [it.item_id for it, _ in recs],
                    state_text(session_id), "", *cards(recs))

        def new_conversation(saved: list) -> tuple:
            """A fresh session for the same person."""
            user_id = (saved or [""])[0] or None
            session_id = engine.new_session(user_id)
            return ([engine.session(session_id).user_id, session_id], [], [], "", "", *cards([]))

        def send(text: str, saved: list, history: list, shown_ids: list):
            """Stream one turn: echo the message, then the reply as it is written; cards when items are chosen."""
            session_id = (saved or ["", ""])[1]
            history = list(history or []) + [chat_message("user", text), {"role": "assistant", "content": "…"}]
            recs: list[tuple[Item, str]] = []
            # Only the first update clears the box and status: later ones must not wipe what is typed meanwhile.
            yield "", history, shown_ids, gr.skip(), "", *keep_cards
            try:
                for event in engine.respond(session_id, text):
                    if event.kind == "items":
                        recs = [(r.item, "") for r in event.items]
                        yield (gr.skip(), history, [it.item_id for it, _ in recs], gr.skip(), gr.skip(), *cards(recs))
                    elif event.kind == "text":
                        history[-1] = chat_message("assistant", event.text)
                        yield gr.skip(), history, gr.skip(), gr.skip(), gr.skip(), *keep_cards
                    elif event.kind == "done":
                        history[-1] = chat_message("assistant", event.text)
                        if event.items:
                            recs = [(r.item, r.reason) for r in event.items]
                            shown_ids = [it.item_id for it, _ in recs]
                        reset = event.intent is not None and event.intent.intent == "reset"
                        if reset:
                            recs, shown_ids = [], []  # a fresh start clears the cards too
                        fresh = bool(event.items) or reset  # other replies without items keep the cards
                        yield (gr.skip(), history, shown_ids, state_text(session_id), gr.skip(),
                               *(cards(recs) if fresh else keep_cards))
            except SessionNotFound:
                history[-1] = chat_message("assistant", "This conversation no longer exists; click “New conversation”.")
                yield gr.skip(), history, shown_ids, gr.skip(), gr.skip(), *keep_cards
            except Exception:  # the UI never shows raw errors
                log.exception("send failed")
                history[-1] = chat_message("assistant", "Sorry, something went wrong on my side. Please try again.")
                yield gr.skip(), history, shown_ids, gr.skip(), gr.skip(), *keep_cards

        def vote(slot: int, liked: bool):
            """Handler for one card's 👍/👎."""
            def handler(saved: list, shown_ids: list):
                session_id = (saved or ["", ""])[1]
                if slot >= len(shown_ids or []):
                    return gr.skip(), "That card is gone; ask again for fresh picks."
                item = engine.catalog.get(shown_ids[slot])
                try:
                    engine.feedback(session_id, shown_ids[slot], liked)
                except RecsysError as exc:
                    return gr.skip(), esc(exc)
                note = "👍 liked: more like this" if liked else "👎 noted: it won't come back"
                return card_html(item, "", note), f"{'👍' if liked else '👎'} {esc(item.label())}"
            return handler

        send_inputs = [box, ids, chatbot, shown]
        send_outputs = [box, chatbot, shown, state_md, status, *card_outputs]
        demo.load(open_session, [ids], [ids, chatbot, shown, state_md, status, *card_outputs], api_name="open_session")
        box.submit(send, send_inputs, send_outputs, api_name="send")
        send_btn.click(send, send_inputs, send_outputs, api_visibility="private")
        for chip in chips:
            chip.click(lambda t: t, [chip], [box], queue=False, api_visibility="private").then(
                send, send_inputs, send_outputs, api_visibility="private")
        for i in range(MAX_CARDS):
            likes[i].click(vote(i, True), [ids, shown], [htmls[i], status], api_visibility="private")
            dislikes[i].click(vote(i, False), [ids, shown], [htmls[i], status], api_visibility="private")
        new_btn.click(new_conversation, [ids], [ids, chatbot, shown, state_md, status, *card_outputs],
                      api_name="new_session")
    return demo


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """App flags; each defaults to its RECSYS_* environment variable."""
    p = argparse.ArgumentParser(prog="python app.py", description="Launch the recsys chat page.")
    p.add_argument("--host", help="interface to bind (default 127.0.0.1; 0.0.0.0 for a network)  [RECSYS_HOST]")
    p.add_argument("--port", type=int, help="port (default 7860)  [RECSYS_PORT]")
    p.add_argument("--share", action="store_true", default=None, help="create a public Gradio share link  [RECSYS_SHARE]")
    p.add_argument("--auth", help="require a login, as user:password  [RECSYS_AUTH]")
    p.add_argument("--root-path", help="URL prefix when behind a reverse proxy  [RECSYS_ROOT_PATH]")
    p.add_argument("--catalog", help='"movies" or a .jsonl/.csv catalog  [RECSYS_CATALOG]')
    p.add_argument("--model", dest="generator", help="generator: smollm2, HF folder, .gguf, or http(s) URL  [RECSYS_GENERATOR]")
    p.add_argument("--db-url", help="SQLAlchemy URL (default SQLite under RECSYS_HOME)  [RECSYS_DB_URL]")
    p.add_argument("--home", help="data and cache folder  [RECSYS_HOME]")
    p.add_argument("--device", choices=("cpu", "cuda", "auto"), help="where models run  [RECSYS_DEVICE]")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Load the engine (building caches on first run), then serve the page until interrupted."""
    args = parse_args(argv)
    setup_logging(args.verbose)
    try:
        settings: Settings = settings_from(args, host=args.host, port=args.port, share=args.share,
                                           auth=args.auth, root_path=args.root_path)
        engine = Engine.load(settings)
    except RecsysError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    demo = build_demo(engine)
    demo.queue(default_concurrency_limit=settings.concurrency, max_size=256)
    auth = tuple(settings.auth.split(":", 1)) if settings.auth else None
    try:
        demo.launch(server_name=settings.host, server_port=settings.port, share=settings.share, auth=auth,
                    root_path=settings.root_path or None, theme=gr.themes.Soft(), css=CSS, footer_links=["api"])
    except OSError as exc:
        print(f"error: cannot serve on {settings.host}:{settings.port} ({exc}); "
              f"is the port in use? try --port {settings.port + 1}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
