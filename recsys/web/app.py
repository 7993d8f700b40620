"""The chat page: a thin Gradio shell over recsys.engine.Engine — the layout, its event handlers and main().
What it shows comes from recsys.web.html (escaped HTML/Markdown), recsys.web.views and recsys.web.export; who may touch
what from recsys.web.accounts.

    python app.py                      # http://127.0.0.1:7860, default catalog and models
    python app.py --host 0.0.0.0 --port 8080 --auth demo:secret --db-url postgresql+psycopg://...

Every flag also reads a RECSYS_* environment variable (see README "Hosting a demo"). Gradio is imported here
only: the recsys package stays importable without it. Every action has a named API endpoint (see the page's
"Use via API" link), and GET /healthz answers JSON for load balancers.
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

# Gradio recomputes its monitoring summary (a pandas group-by over up to 10,000 past events) after every event by
# default: a cost that grows with uptime, ~10% of a turn's server time in the bench. Hosts may still set these.
os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "200")
os.environ.setdefault("GRADIO_ANALYTICS_MAX_EVENTS", "2000")

import gradio as gr  # noqa: E402  (after the settings above, which it reads)

from .accounts import (LOGIN_PREFIX, MINTED_ID, login_check, login_user, owner_of, own_session, parse_accounts,
                      user_for)
from ..core.cli_args import add_common_flags, settings_from, setup_logging
from ..core.config import Settings
from ..engine import Engine, clean_text
from ..core.errors import RecsysError, SessionNotFound
from .export import ExportFiles, export_text, session_json, session_markdown, write_export
from .html import (WHY_TITLE, card_html, chat_message, esc, item_id_of, session_choices, state_text,
                            taste_view, why_markdown, why_message, why_rows)
from ..core.types import Item
from .views import WELCOME, first_visit_cards, taste_of, transcript

log = logging.getLogger("recsys.app")

MAX_CARDS = 10  # = Settings.max_count: one card slot per possible recommendation
EXAMPLES = [
    "A funny science fiction film, nothing with horror",
    "A tense 90s crime thriller",
    "Something romantic from before 1970",
    "An animated film for the whole family",
]
FOLLOW_UPS = ["More like this", "Something lighter", "Older"]  # quick replies shown after an answer
EXPORT_TTL_S = 600  # exports hold people's words: written on a download click, gone 10-20 minutes later
STREAM_EVERY_S = 0.1  # a streamed reply updates the page at most 10 times a second (each update costs a server pass)
CSS = """
.rec-card {border: 1px solid var(--border-color-primary); border-radius: 10px; padding: 10px 12px;
           background: var(--block-background-fill); color: var(--body-text-color);}
.rec-card h3 {margin: 0 0 4px 0; font-size: 1.05em;}
.rec-meta {color: var(--body-text-color-subdued); font-size: .9em;}
.rec-desc {margin-top: 4px; font-size: .92em;}
.rec-reason {margin-top: 6px; font-style: italic;}
.rec-state {font-size: .9em;}
.rec-slot:not(:has(.rec-card)) {display: none !important;}  /* an empty card slot takes no space */
#chat .thought td:not(:nth-child(2)), #chat .thought th {white-space: nowrap;}  /* scores stay on one line */
.chips {flex-wrap: wrap; gap: 6px;}
.chips button {flex: 0 1 auto !important; min-width: 0 !important;}
button:focus-visible, input:focus-visible, textarea:focus-visible {outline: 2px solid var(--color-accent);
                                                                   outline-offset: 2px;}
@media (max-width: 720px) {  /* phones: the chat first, then the cards, then sessions and controls */
  .main-row {flex-direction: column;}
  #chat-col {order: 1;} #cards-col {order: 2;} #side-col {order: 3;}
  #chat {height: 60vh !important;}
}
"""


# re-exported: the tests and scripts reach these through app
__all__ = ["LOGIN_PREFIX", "MINTED_ID", "WHY_TITLE", "ExportFiles", "card_html", "export_text", "login_check",
           "parse_accounts", "session_json", "session_markdown", "why_markdown", "write_export",
           "build_demo", "add_api", "launch_options", "main"]


def login_name(request: gr.Request | None) -> str | None:
    """The logged-in account's name, or None when the app runs without a login (or outside a request)."""
    return getattr(request, "username", None)


# --- the page ---------------------------------------------------------------------------------------------------
def build_demo(engine: Engine) -> gr.Blocks:
    """The page: conversations and controls, the chat, and the cards with 👍/👎."""
    settings = engine.settings
    genres = list(engine.catalog.genres)
    exports = ExportFiles()
    # delete_cache: export files (they hold people's words) leave Gradio's cache EXPORT_TTL_S after a download
    with gr.Blocks(title="recsys — films for your mood", delete_cache=(EXPORT_TTL_S, EXPORT_TTL_S)) as demo:
        ids = gr.BrowserState(["", ""], storage_key="recsys-ids")  # [user_id, session_id], survives reloads
        shown = gr.State([])  # item ids of the cards on screen, in order
        pending = gr.State("")  # the message being answered (echo hands it to turn)
        api_send = gr.Button(visible=False)  # the trigger /send hangs on; the page itself chains echo and turn
        card_state = gr.State([""] * MAX_CARDS)  # the card slots' HTML as last sent, to send again unchanged
        answers = gr.State({})  # chatbot message index (as str) -> item ids of that answer, for the Chatbot's 👍/👎
        gr.Markdown("## 🎬 What are you in the mood for?\nSay it in your own words; 👍 / 👎 the cards to teach me.")
        with gr.Row(equal_height=False, elem_classes="main-row"):
            with gr.Column(scale=1, min_width=240, elem_id="side-col"):
                with gr.Accordion("Conversations", open=True, elem_id="sessions-panel"):
                    new_btn = gr.Button("➕ New conversation", size="sm", elem_id="new-btn")
                    sessions = gr.Radio([], label="Your conversations", elem_id="sessions")
                    title_box = gr.Textbox(label="Title of this conversation", max_lines=1, elem_id="title-box")
                    with gr.Row():
                        rename_btn = gr.Button("Rename", size="sm", min_width=60, elem_id="rename-btn")
                        delete_btn = gr.Button("Delete", size="sm", min_width=60, variant="stop", elem_id="delete-btn")
                    with gr.Row():  # the file is written only when asked for, then the hidden button fetches it
                        md_btn = gr.Button("⬇ Markdown", size="sm", min_width=60, elem_id="export-md")
                        json_btn = gr.Button("⬇ JSON", size="sm", min_width=60, elem_id="export-json")
                        md_dl = gr.DownloadButton("Markdown file", visible="hidden", elem_id="export-md-file")
                        json_dl = gr.DownloadButton("JSON file", visible="hidden", elem_id="export-json-file")
                    forget_btn = gr.Button("Forget me…", size="sm", elem_id="forget-btn")
                    with gr.Group(visible=False) as forget_box:
                        gr.Markdown("**Delete all your conversations, votes and taste?** This cannot be undone.")
                        with gr.Row():
                            forget_yes = gr.Button("Yes, delete everything", variant="stop", size="sm",
                                                   elem_id="forget-yes")
                            forget_no = gr.Button("Cancel", size="sm", elem_id="forget-no")
                with gr.Accordion("Controls", open=True, elem_id="controls-panel"):
                    count_sl = gr.Slider(1, settings.max_count, step=1, value=settings.count,
                                         label="Number of results", elem_id="count")
                    lam_sl = gr.Slider(0.0, 1.0, step=0.05, value=settings.mmr_lambda, elem_id="diversity",
                                       label="Relevance vs variety (MMR λ: 1 = most relevant, lower = more varied)")
                    with gr.Row():
                        ymin = gr.Number(label="From year", precision=0, minimum=1800, maximum=2100,
                                         elem_id="year-min", min_width=80)
                        ymax = gr.Number(label="To year", precision=0, minimum=1800, maximum=2100,
                                         elem_id="year-max", min_width=80)
                    gex = gr.Dropdown(genres, value=[], multiselect=True, label="Genres to exclude",
                                      elem_id="genres-exclude")
                with gr.Accordion("Your taste", open=False, elem_id="taste-panel"):
                    taste_md = gr.Markdown("")
                    taste_votes = gr.CheckboxGroup([], label="Your votes (tick to take one back)", elem_id="votes")
                    unvote_btn = gr.Button("Take back ticked votes", size="sm", elem_id="unvote-btn")
            with gr.Column(scale=3, min_width=320, elem_id="chat-col"):
                chatbot = gr.Chatbot(label="Conversation", height=560, elem_id="chat", buttons=["copy", "copy_all"],
                                     placeholder="Try one of the examples below, or type your own request.")
                with gr.Row():
                    box = gr.Textbox(label="Your message", placeholder="e.g. a funny sci-fi film, nothing scary",
                                     scale=5, max_lines=4, elem_id="msg", interactive=False,
                                     max_length=settings.max_message_chars)
                    send_btn = gr.Button("Send", variant="primary", scale=1, min_width=80, interactive=False)
                with gr.Row(elem_classes="chips"):
                    # disabled until the page's session is open, so an early click never goes to no session
                    chips = [gr.Button(text, size="sm", elem_classes="chip", interactive=False) for text in EXAMPLES]
                with gr.Row(visible=False, elem_classes="chips") as follow_row:
                    follows = [gr.Button(text, size="sm", elem_classes="chip follow") for text in FOLLOW_UPS]
            with gr.Column(scale=2, min_width=280, elem_id="cards-col"):
                state_md = gr.Markdown("", elem_classes="rec-state", label="Active constraints")
                status = gr.Markdown("", elem_id="status")
                htmls, likes, dislikes = [], [], []
                for i in range(MAX_CARDS):
                    with gr.Column(elem_classes="rec-slot"):  # hidden by CSS while it holds no card
                        htmls.append(gr.HTML(""))
                        with gr.Row():
                            likes.append(gr.Button("👍 Like", size="sm", min_width=40, elem_id=f"like-{i}"))
                            dislikes.append(gr.Button("👎 Dislike", size="sm", min_width=40, elem_id=f"dislike-{i}"))

        card_outputs = htmls  # a slot shows or hides with its card (CSS), so updates never touch the Columns
        control_outputs = [count_sl, lam_sl, ymin, ymax, gex]
        switches = [new_btn, sessions, delete_btn, forget_btn, forget_yes]  # each opens another conversation
        page_outputs = list(dict.fromkeys([box, ids, chatbot, answers, shown, state_md, status, sessions, title_box,
                                           md_dl, json_dl, taste_md, taste_votes, follow_row, send_btn, *chips,
                                           *control_outputs, *card_outputs, card_state, *switches]))

        def cards(recs: Sequence[tuple[Item, str]]) -> dict:
            """Every slot's HTML (a card for each of recs, empty so hidden for the rest) and card_state."""
            values = [card_html(*recs[i]) if i < len(recs) else "" for i in range(MAX_CARDS)]
            return {**dict(zip(htmls, values)), card_state: values}

        def same_cards(on_screen: object) -> dict:
            """The slots' HTML as last sent, to send again: an output an update leaves out is rebuilt on the
            server (a re-sent value costs nothing: Gradio streams diffs)."""
            ok = isinstance(on_screen, list) and len(on_screen) == MAX_CARDS
            values = list(on_screen) if ok else [""] * MAX_CARDS
            return dict(zip(htmls, values))

        def controls(state) -> dict:
            """Controls mirroring the dialogue state (after a turn, a changed constraint in words shows here)."""
            lam = state.diversity(settings.mmr_lambda)
            return {count_sl: state.count, lam_sl: lam, ymin: state.year_min, ymax: state.year_max,
                    gex: [g for g in state.genres_exclude if g in genres]}

        def side(session_id: str) -> dict:
            """Session list, title, taste panel and constraints for the current session (no export file: those
            are written only on a download click)."""
            info = engine.session(session_id)
            choices = session_choices(engine.store.list_sessions(info.user_id), session_id)
            taste_text, votes = taste_view(engine.catalog, taste_of(engine, session_id))
            return {sessions: gr.update(choices=choices, value=session_id),
                    title_box: info.title, md_dl: None, json_dl: None, taste_md: taste_text,
                    taste_votes: gr.update(choices=votes, value=[]), state_md: state_text(info.state),
                    **controls(info.state)}

        def sending(allowed: bool) -> dict:
            """The box, Send, the example chips and whatever opens another conversation, on or off: off from a
            message's echo until its answer is there. A second message's turn would start from a history without
            the first answer and hide it; another conversation opened meanwhile would get the answer's updates."""
            return {box: gr.update(interactive=allowed, autofocus=allowed),
                    **{c: gr.update(interactive=allowed) for c in (send_btn, *chips, *switches)}}

        def merged(out: dict, extra: dict) -> dict:
            """out with extra's updates on top; a component in both keeps out's value and gets extra's props."""
            for comp, update in extra.items():
                if comp in out:
                    old = out[comp]
                    base = old if isinstance(old, dict) and old.get("__type__") == "update" else gr.update(value=old)
                    update = {**base, **update}
                out[comp] = update
            return out

        def page(session_id: str, note: str = "") -> dict:
            """Every part of the page for a session: history with why-panels, the last cards, the side panels."""
            info = engine.session(session_id)
            history, mapping, recs = transcript(engine, session_id)
            if not history:
                recs = first_visit_cards(engine, session_id, info.user_id, MAX_CARDS)
                note = note or (WELCOME if recs else "")
            return merged({ids: [info.user_id, session_id], chatbot: history, answers: mapping,
                           shown: [it.item_id for it, _ in recs], status: note,
                           follow_row: gr.update(visible=bool(history)), **cards(recs), **side(session_id)},
                          sending(True))

        def saved_ids(saved: object) -> tuple[object, object]:
            """The browser's [user_id, session_id], whatever shape the client sent (both are only claims)."""
            pair = (list(saved) if isinstance(saved, (list, tuple)) else []) + ["", ""]
            return pair[0], pair[1]

        def current(saved: object, request: gr.Request | None) -> str:
            """The page's session id, if the caller may use it (SessionNotFound otherwise; see own_session)."""
            return own_session(engine.store, saved_ids(saved)[1], login_name(request)).session_id

        def owner(saved: object, request: gr.Request | None) -> str | None:
            """Whose page this is: the login's id, or the browser's if we minted it (see accounts.owner_of)."""
            return owner_of(engine.store, saved_ids(saved)[0], login_name(request))

        def open_session(saved: list, request: gr.Request) -> dict:
            """On page load: resume the browser's session (history and cards), or start a new one."""
            user_id, session_id = saved_ids(saved)
            try:
                info = own_session(engine.store, session_id, login_name(request)) if session_id else None
            except SessionNotFound:
                info = None
            if info is None:
                session_id = engine.new_session(owner_of(engine.store, user_id, login_name(request)))
            return page(info.session_id if info else session_id)

        def resume(saved: list, session_id: str, request: gr.Request) -> dict:
            """Open another of the person's sessions from the list (their own only)."""
            mine = owner(saved, request)
            try:
                if not session_id or own_session(engine.store, session_id, login_name(request)).user_id != mine:
                    return {status: "That conversation is not available."}
            except SessionNotFound:
                return {status: "That conversation no longer exists."}
            return page(session_id)

        def new_conversation(saved: list, request: gr.Request) -> dict:
            """A fresh session for the same person."""
            return page(engine.new_session(owner(saved, request)))

        def rename(saved: list, title: str, request: gr.Request) -> dict:
            """Rename the current session."""
            title = " ".join(str(title or "").split())[:80]
            if not title:
                return {status: "A title needs at least one character."}
            try:
                session_id = current(saved, request)
                engine.store.rename_session(session_id, title)
            except SessionNotFound:
                return {status: "This conversation no longer exists; click “New conversation”."}
            return {**side(session_id), status: f"Renamed to “{esc(title)}”."}

        def delete(saved: list, request: gr.Request) -> dict:
            """Delete the current session, then open the person's most recent other one (or a new one)."""
            mine = owner(saved, request)
            try:
                engine.store.delete_session(current(saved, request))
            except SessionNotFound:
                pass
            left = [s for s in engine.store.list_sessions(mine) if s.message_count] if mine else []
            target = left[0].session_id if left else engine.new_session(mine)
            return page(target, "Conversation deleted.")

        def forget(saved: list, request: gr.Request) -> dict:
            """Delete everything about this person (store.forget_user) and their export files; the page starts
            over as a new visitor (with a login: the same account, now empty)."""
            mine = owner(saved, request)
            if mine:
                engine.store.forget_user(mine)
                exports.forget(mine, [md_dl.temp_files, json_dl.temp_files])
                log.info("forgot a user on request")
            fresh = engine.new_session(login_user(login_name(request)))  # a login keeps its (now empty) account
            return {**page(fresh, "Done: everything about you is deleted."),
                    forget_box: gr.update(visible=False)}

        def export(fmt: str, button: gr.DownloadButton):
            """Handler writing one export when its button is clicked; the hidden download button then fetches it."""
            def handler(saved: list, request: gr.Request) -> dict:
                try:
                    info = own_session(engine.store, saved_ids(saved)[1], login_name(request))
                    folder = Path(tempfile.mkdtemp(prefix="recsys-export-"))
                    try:  # straight into Gradio's cache (one copy, aged out by delete_cache), then ours goes
                        cached = button.move_resource_to_block_cache(write_export(engine, info.session_id, fmt,
                                                                                  folder))
                    finally:
                        shutil.rmtree(folder, ignore_errors=True)
                except SessionNotFound:
                    return {button: None, status: "This conversation no longer exists; click “New conversation”."}
                exports.add(info.user_id, str(cached))
                return {button: cached, status: ""}
            return handler

        def with_echo(text: str, history: list) -> tuple[str, list]:
            """(cleaned text, history + the echoed message + a "…" placeholder for the reply).

            Cleaned before anything is echoed: a lone surrogate or control character in the page's update would
            break Gradio's event stream (orjson refuses it) and lose the turn. The echo is cut at the limit the
            engine enforces (it answers an over-long message with a friendly refusal)."""
            text = clean_text(text)
            limit = settings.max_message_chars
            echo = text if len(text) <= limit else text[:limit] + "…"
            return text, list(history or []) + [chat_message("user", echo), {"role": "assistant", "content": "…"}]

        def echo(text: str, history: list) -> dict:
            """The page's first, instant step: show the message, clear and lock the box, hide the quick replies
            until the answer is there."""
            text, history = with_echo(text, history)
            return merged({box: "", chatbot: history, status: "", follow_row: gr.update(visible=False),
                           pending: text}, sending(False))

        def send(text: str, saved: list, history: list, shown_ids: list, mapping: dict, on_screen: list,
                 request: gr.Request):
            """/send for API clients: one whole turn, echo included (the page runs echo, then turn)."""
            text, history = with_echo(text, history)
            yield from turn(text, saved, history, shown_ids, mapping, on_screen, request)

        def turn(text: str, saved: list, history: list, shown_ids: list, mapping: dict, on_screen: list,
                 request: gr.Request):
            """Stream one turn into a history that already ends with its echo: cards as soon as items are chosen,
            the reply as it is written (at most every STREAM_EVERY_S), then the why-panel and reasons. With the
            template explainer all of it is ready at once, so it goes in one update (each costs the server ~5 ms).

            Every update gives the cards' HTML again: a re-sent value costs nothing (Gradio streams diffs), while
            an output an update leaves out is rebuilt on the server each time."""
            history, mapping = list(history or []), dict(mapping or {})
            shown_cards = same_cards(on_screen)
            last = 0.0
            streams = settings.explainer == "generate"  # fact-built reasons come at once: one update, not three
            try:
                session_id = current(saved, request)
                for event in engine.respond(session_id, text):
                    if event.kind == "items" and streams:
                        shown_cards = cards([(r.item, "") for r in event.items])
                        yield {chatbot: history, shown: [r.item.item_id for r in event.items], **shown_cards}
                    elif event.kind == "text" and streams and time.monotonic() - last >= STREAM_EVERY_S:
                        last = time.monotonic()
                        history[-1] = chat_message("assistant", event.text)
                        yield {chatbot: history, **shown_cards}
                    elif event.kind == "done":
                        history[-1] = chat_message("assistant", event.text)
                        out: dict = {}
                        if event.items:
                            item_ids = [r.item.item_id for r in event.items]
                            mapping[str(len(history) - 1)] = item_ids
                            history.append(why_message(why_markdown(
                                event.intent.to_dict() if event.intent else None, event.details.get("constraints", ""),
                                event.details.get("candidates"), event.details.get("mmr_lambda"),
                                why_rows(event.items, event.details))))
                            mapping[str(len(history) - 1)] = item_ids
                            out.update(cards([(r.item, r.reason) for r in event.items]))
                            out[shown] = item_ids
                        elif event.intent is not None and event.intent.intent == "reset":
                            out.update(cards([]))  # a fresh start clears the cards too
                            out[shown] = []
                        yield {chatbot: history, answers: mapping, follow_row: gr.update(visible=bool(event.items)),
                               state_md: state_text(event.state), **shown_cards, **out}
            except SessionNotFound:
                history[-1] = chat_message("assistant", "This conversation no longer exists; click “New conversation”.")
                yield {chatbot: history, **shown_cards}
            except Exception:  # the UI never shows raw errors
                log.exception("send failed")
                history[-1] = chat_message("assistant", "Sorry, something went wrong on my side. Please try again.")
                yield {chatbot: history, **shown_cards}

        def taste_update(session_id: str) -> dict:
            """Just the taste panel, after a vote."""
            taste_text, votes = taste_view(engine.catalog, taste_of(engine, session_id))
            return {taste_md: taste_text, taste_votes: gr.update(choices=votes, value=[])}

        def vote(slot: int, liked: bool):
            """Handler for one card's 👍/👎."""
            def handler(saved: list, shown_ids: list, on_screen: list, request: gr.Request) -> dict:
                if slot >= len(shown_ids or []):
                    return {status: "That card is gone; ask again for fresh picks."}
                item = engine.catalog.get(shown_ids[slot])
                try:
                    session_id = current(saved, request)
                    engine.feedback(session_id, shown_ids[slot], liked)
                except RecsysError as exc:
                    return {status: esc(exc)}
                note = "👍 liked: more like this" if liked else "👎 noted: it won't come back"
                values = list(same_cards(on_screen).values())
                values[slot] = card_html(item, "", note)
                return {htmls[slot]: values[slot], card_state: values, **taste_update(session_id),
                        status: f"{'👍' if liked else '👎'} {esc(item.label())}"}
            return handler

        def on_like(saved: list, mapping: dict, data: gr.LikeData, request: gr.Request) -> dict:
            """The Chatbot's own 👍/👎 under an answer rates every film in it (👎: none of them comes back)."""
            index = data.index if isinstance(data.index, int) else data.index[0]
            item_ids = (mapping or {}).get(str(index), [])
            if data.liked not in (True, False) or not item_ids:
                return {status: "That message has no films to rate." if not item_ids else ""}
            try:
                session_id = current(saved, request)
                for item_id in item_ids:
                    engine.feedback(session_id, item_id, bool(data.liked))
            except RecsysError as exc:
                return {status: esc(exc)}
            mark = "👍 liked" if data.liked else "👎 disliked"
            return {status: f"{mark} all {len(item_ids)} films of that answer.", **taste_update(session_id)}

        def unvote(saved: list, ticked: list, request: gr.Request) -> dict:
            """Take back the ticked votes (Engine.remove_feedback)."""
            try:
                session_id = current(saved, request)
                for item_id in ticked or []:
                    engine.remove_feedback(session_id, item_id)
            except RecsysError as exc:
                return {status: esc(exc)}
            return {**taste_update(session_id), status: f"Took back {len(ticked or [])} vote(s)."}

        def set_control(key: str):
            """Handler saving one control into the session's dialogue state; the next answer follows it."""
            def handler(saved: list, value, request: gr.Request) -> dict:
                try:
                    state = engine.update_state(current(saved, request), **{key: value})
                except RecsysError as exc:
                    return {status: f"Not changed: {esc(exc)}"}
                return {state_md: state_text(state), status: ""}
            return handler

        page_in = [ids]
        send_inputs = [box, ids, chatbot, shown, answers, card_state]
        # A turn streams into as few outputs as it needs (Gradio rebuilds every output an update leaves out, on
        # every streamed chunk); the side panels (session list, taste, controls) follow in one chained update.
        send_outputs = [chatbot, answers, shown, state_md, follow_row, *card_outputs, card_state]
        side_outputs = [sessions, title_box, md_dl, json_dl, taste_md, taste_votes, state_md, *control_outputs]

        def side_after_turn(saved: list, request: gr.Request) -> dict:
            """The side panels after a turn (the session may be gone: then nothing changes)."""
            try:
                return merged(side(current(saved, request)), sending(True))
            except SessionNotFound:
                return merged({status: gr.skip()}, sending(True))

        def on_send(trigger) -> None:
            """A trigger that sends the box: echo (instant, no queue), the turn, then the side panels (which
            unlock the box again)."""
            lock = list(sending(True))
            trigger(echo, [box, chatbot], [*lock, chatbot, status, follow_row, pending], queue=False,
                    api_visibility="private").then(
                turn, [pending, ids, chatbot, shown, answers, card_state], send_outputs, api_visibility="private").then(
                side_after_turn, [ids], list(dict.fromkeys([*side_outputs, status, *lock])), api_visibility="private")

        demo.load(open_session, page_in, page_outputs, api_name="open_session")
        on_send(box.submit)
        on_send(send_btn.click)
        for chip in chips + follows:
            on_send(chip.click(lambda t: t, [chip], [box], queue=False, api_visibility="private").then)
        api_send.click(send, send_inputs, send_outputs, api_name="send")  # never clicked: the /send endpoint
        for i in range(MAX_CARDS):
            likes[i].click(vote(i, True), [ids, shown, card_state], [htmls[i], card_state, status, taste_md,
                                                                     taste_votes], api_visibility="private")
            dislikes[i].click(vote(i, False), [ids, shown, card_state], [htmls[i], card_state, status, taste_md,
                                                                         taste_votes], api_visibility="private")
        chatbot.like(on_like, [ids, answers], [status, taste_md, taste_votes], api_visibility="private")
        new_btn.click(new_conversation, page_in, page_outputs, api_name="new_session")
        sessions.input(resume, [ids, sessions], page_outputs, api_visibility="private")
        rename_btn.click(rename, [ids, title_box], page_outputs, api_visibility="private")
        title_box.submit(rename, [ids, title_box], page_outputs, api_visibility="private")
        delete_btn.click(delete, page_in, page_outputs, api_visibility="private")
        forget_btn.click(lambda: gr.update(visible=True), None, forget_box, queue=False, api_visibility="private")
        forget_no.click(lambda: gr.update(visible=False), None, forget_box, queue=False, api_visibility="private")
        forget_yes.click(forget, page_in, [*page_outputs, forget_box], api_visibility="private")
        unvote_btn.click(unvote, [ids, taste_votes], [taste_md, taste_votes, status], api_visibility="private")
        for btn, fmt, file_btn in ((md_btn, "markdown", md_dl), (json_btn, "json", json_dl)):
            btn.click(export(fmt, file_btn), page_in, [file_btn, status], api_visibility="private").success(
                None, None, None, js=f"() => {{ const b = document.querySelector('#{file_btn.elem_id}'); "
                                     f"if (b) (b.querySelector('button') || b).click(); }}")
        count_sl.release(set_control("count"), [ids, count_sl], [state_md, status], api_visibility="private")
        lam_sl.release(set_control("mmr_lambda"), [ids, lam_sl], [state_md, status], api_visibility="private")
        for number, key in ((ymin, "year_min"), (ymax, "year_max")):
            number.submit(set_control(key), [ids, number], [state_md, status], api_visibility="private")
            number.blur(set_control(key), [ids, number], [state_md, status], api_visibility="private")
        gex.input(set_control("genres_exclude"), [ids, gex], [state_md, status], api_visibility="private")
        add_api(engine, exports)
    return demo


def add_api(engine: Engine, exports: ExportFiles | None = None) -> None:
    """Plain-typed endpoints so gradio_client can drive every action by session or user id (call inside Blocks).

    Without a login a session id or user id is the key to its data. With a login, ids are checked against the
    account: another person's session is "not found" and another person's user id is refused."""
    def own(session_id: str, request: gr.Request | None) -> str:
        """The session id if the caller may use it, or a RecsysError Gradio reports to the caller."""
        return own_session(engine.store, session_id, login_name(request)).session_id

    def feedback(session_id: str, item_id: str, liked: bool, request: gr.Request) -> dict:
        """Like (true) or dislike (false) an item in a session; a disliked item never comes back."""
        state = engine.feedback(own(session_id, request), item_id, bool(liked))
        return {"liked_ids": list(state.liked_ids), "disliked_ids": list(state.disliked_ids)}

    def list_sessions(user_id: str, request: gr.Request) -> list[dict]:
        """A person's sessions, most recent first (with a login: the account's own; pass "" or the login name)."""
        return [{"session_id": s.session_id, "title": s.title, "messages": s.message_count,
                 "updated_at": s.updated_at.isoformat()}
                for s in engine.store.list_sessions(user_for(user_id, login_name(request)))]

    def resume_session(session_id: str, request: gr.Request) -> dict:
        """A session's transcript and state (what the page shows when it is resumed)."""
        return session_json(engine, own(session_id, request))

    def rename_session(session_id: str, title: str, request: gr.Request) -> dict:
        """Give a session a new title."""
        session_id = own(session_id, request)
        engine.store.rename_session(session_id, " ".join(str(title).split())[:80] or "Untitled")
        return {"session_id": session_id, "title": engine.session(session_id).title}

    def delete_session(session_id: str, request: gr.Request) -> dict:
        """Delete a session with its messages and votes."""
        engine.store.delete_session(own(session_id, request))
        return {"deleted": session_id}

    def export_session(session_id: str, fmt: str = "markdown", request: gr.Request = None) -> str:
        """A session as Markdown ("markdown") or JSON text ("json"); no file is written."""
        return export_text(engine, own(session_id, request), fmt)

    def set_controls(session_id: str, count: int | None = None, mmr_lambda: float | None = None,
                     year_min: int | None = None, year_max: int | None = None,
                     genres_exclude: list[str] | None = None, request: gr.Request = None) -> dict:
        """Change the session's constraints as the page's controls do; omitted values stay."""
        given = {"count": count, "mmr_lambda": mmr_lambda, "year_min": year_min, "year_max": year_max,
                 "genres_exclude": genres_exclude}
        return engine.update_state(own(session_id, request), **{k: v for k, v in given.items() if v is not None}
                                   ).to_dict()

    def taste(session_id: str, request: gr.Request) -> dict:
        """The person's taste profile and votes."""
        profile = taste_of(engine, own(session_id, request))
        return {k: ([item_id_of(v) for v in val] if k in ("liked", "disliked") else val) for k, val in profile.items()}

    def forget_user(user_id: str, request: gr.Request) -> dict:
        """Delete everything about a person (with a login: the account's own data; pass "" or the login name)."""
        user_id = user_for(user_id, login_name(request))
        engine.store.forget_user(user_id)
        if exports is not None and user_id:
            exports.forget(user_id)
        return {"forgotten": True}

    for fn in (feedback, list_sessions, resume_session, rename_session, delete_session, export_session,
               set_controls, taste, forget_user):
        gr.api(fn, api_name=fn.__name__)


def health_routes(engine: Engine) -> list:
    """GET /healthz: JSON status for load balancers and uptime checks (503 when the database does not answer)."""
    from fastapi.responses import JSONResponse
    from fastapi.routing import APIRoute

    def healthz() -> JSONResponse:
        """Catalog size, generator and a trivial database round trip."""
        try:
            engine.store.get_session("healthz-probe")  # a real indexed query; a full integrity check is too slow
            database = "ok"
        except SessionNotFound:
            database = "ok"  # the database answered
        except Exception as exc:  # report, never raise: this is what monitors read
            database = f"error: {type(exc).__name__}"
        body = {"status": "ok" if database == "ok" else "degraded", "items": len(engine.catalog),
                "generator": getattr(engine.generator, "name", type(engine.generator).__name__),
                "database": database}
        return JSONResponse(body, status_code=200 if database == "ok" else 503)

    return [APIRoute("/healthz", healthz, methods=["GET"])]


def launch_options(engine: Engine) -> dict:
    """launch() arguments shared by main() and the tests: theme, CSS, the health route."""
    return {"theme": gr.themes.Soft(), "css": CSS, "app_kwargs": {"routes": health_routes(engine)},
            "footer_links": ["api"]}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """App flags; each defaults to its RECSYS_* environment variable."""
    p = argparse.ArgumentParser(prog="python app.py", description="Launch the recsys chat page.")
    p.add_argument("--host", help="interface to bind (default 127.0.0.1; 0.0.0.0 for a network)  [RECSYS_HOST]")
    p.add_argument("--port", type=int, help="port (default 7860)  [RECSYS_PORT]")
    p.add_argument("--share", action="store_true", default=None, help="create a public Gradio share link  [RECSYS_SHARE]")
    p.add_argument("--auth", action="append", metavar="USER:PASSWORD",
                   help="require a login; repeat for several accounts (each sees only its own data)  "
                        "[RECSYS_AUTH, comma-separated]")
    p.add_argument("--auth-file", default=os.environ.get("RECSYS_AUTH_FILE") or None,
                   help="file of user:password lines (# comments) for the login  [RECSYS_AUTH_FILE]")
    p.add_argument("--root-path", help="URL prefix when behind a reverse proxy  [RECSYS_ROOT_PATH]")
    p.add_argument("--concurrency", type=int, help="turns computed at once; more wait in the queue (default 4)  [RECSYS_CONCURRENCY]")
    add_common_flags(p)
    return p.parse_args(argv)



def main(argv: Sequence[str] | None = None) -> int:
    """Load the engine (building caches on first run), then serve the page until interrupted."""
    args = parse_args(argv)
    setup_logging(args.verbose)
    try:
        settings: Settings = settings_from(args, host=args.host, port=args.port, share=args.share,
                                           auth=",".join(args.auth) if args.auth else None,
                                           root_path=args.root_path, concurrency=args.concurrency)
        accounts = parse_accounts(settings.auth, args.auth_file)
        engine = Engine.load(settings)
    except RecsysError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    demo = build_demo(engine)
    demo.queue(default_concurrency_limit=settings.concurrency, max_size=256)  # the rest wait, up to 256
    auth = login_check(accounts) if accounts else None
    try:
        _, local_url, share_url = demo.launch(
            server_name=settings.host, server_port=settings.port, share=settings.share, auth=auth,
            root_path=settings.root_path or None, prevent_thread_lock=True, quiet=True, **launch_options(engine))
    except OSError as exc:
        print(f"error: cannot serve on {settings.host}:{settings.port} ({exc}); "
              f"is the port in use? try --port {settings.port + 1}", file=sys.stderr)
        return 1
    url = share_url or local_url
    log.info("ready: open %s  (health %shealthz, API %s?view=api; %d items; %s; %d turns at once, then a queue)",
             url, url, url, len(engine.catalog),
             f"login required, {len(accounts)} account(s), each sees only its own data" if auth else "no login",
             settings.concurrency)
    try:
        demo.block_thread()  # until Ctrl-C
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":  # python -m recsys.web.app
    sys.exit(main())
