"""The page's events, panel by panel: which handler each load, click, submit or vote runs, with its inputs and
outputs. Only /open_session, /new_session and /send are named endpoints here; every other event is the page's own.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import gradio as gr

from .layout import Page
from .sessions import Sessions
from .turn import PLACEHOLDER, Turns
from .votes import Votes

PAGE = "private"  # api_visibility of the events only the page itself triggers


def wire_sessions(demo: gr.Blocks, page: Page, sessions: Sessions) -> None:
    """Page load, and the conversations panel: new, resume from the list, rename, delete, forget me."""
    page_in, outputs = [page.ids], page.page_outputs
    demo.load(sessions.open_session, page_in, outputs, api_name="open_session")
    page.new_btn.click(sessions.new_conversation, page_in, outputs, api_name="new_session")
    page.sessions.input(sessions.resume, [page.ids, page.sessions], outputs, api_visibility=PAGE)
    page.rename_btn.click(sessions.rename, [page.ids, page.title_box], outputs, api_visibility=PAGE)
    page.title_box.submit(sessions.rename, [page.ids, page.title_box], outputs, api_visibility=PAGE)
    page.delete_btn.click(sessions.delete, page_in, outputs, api_visibility=PAGE)
    page.forget_btn.click(show_forget_box, None, page.forget_box, queue=False, api_visibility=PAGE)
    page.forget_no.click(hide_forget_box, None, page.forget_box, queue=False, api_visibility=PAGE)
    page.forget_yes.click(sessions.forget, page_in, [*outputs, page.forget_box], api_visibility=PAGE)


def wire_exports(page: Page, sessions: Sessions) -> None:
    """Each download button writes its file, then clicks its hidden download button to fetch it."""
    for btn, fmt, file_btn in ((page.md_btn, "markdown", page.md_dl), (page.json_btn, "json", page.json_dl)):
        btn.click(sessions.export(fmt, file_btn), [page.ids], [file_btn, page.status], api_visibility=PAGE).success(
            None,
            None,
            None,
            js=f"() => {{ const b = document.querySelector('#{file_btn.elem_id}'); "
            f"if (b) (b.querySelector('button') || b).click(); }}",
        )


def wire_controls(page: Page, sessions: Sessions) -> None:
    """Each control saves its value into the session's dialogue state when let go of or left."""
    outputs = [page.state_md, page.status]
    page.count_sl.release(sessions.set_control("count"), [page.ids, page.count_sl], outputs, api_visibility=PAGE)
    page.lam_sl.release(sessions.set_control("mmr_lambda"), [page.ids, page.lam_sl], outputs, api_visibility=PAGE)
    for number, key in ((page.ymin, "year_min"), (page.ymax, "year_max")):
        number.submit(sessions.set_control(key), [page.ids, number], outputs, api_visibility=PAGE)
        number.blur(sessions.set_control(key), [page.ids, number], outputs, api_visibility=PAGE)
    page.gex.input(sessions.set_control("genres_exclude"), [page.ids, page.gex], outputs, api_visibility=PAGE)


def wire_chat(page: Page, turns: Turns) -> None:
    """The box, Send, the example chips and quick replies send a message; /send runs a turn for API clients."""
    sends_on(page.box.submit, page, turns)
    sends_on(page.send_btn.click, page, turns)
    for chip in page.chips + page.follows:  # the chip's text into the box, in the browser
        sends_on(chip.click(None, [chip], [page.box], js="(text) => text", queue=False).then, page, turns)
    send_inputs = [page.box, page.ids, page.chatbot, page.shown, page.answers, page.card_state]
    # Turns.unwire and Turns.wire pre- and postprocess in the handler's thread (see there)
    page.api_send.click(
        turns.send, send_inputs, page.send_outputs, api_name="send", preprocess=False, postprocess=False
    )  # never clicked: /send


def sends_on(trigger: Callable, page: Page, turns: Turns) -> None:
    """A trigger that sends the box: the lock and the echo (in the browser), the turn, the side panels, then the
    unlock (in the browser). The server's two skip Gradio's pre- and postprocessing, which the handlers do
    themselves (Turns.wire: a worker thread per input and output, and a component built per gr.update, were
    ~30 ms of the server's time per browser turn). The lock, echo and unlock are the browser's own: on the server
    each control's gr.update rebuilt its component (~0.5 ms each, 22 a turn), each event costs Gradio's own work,
    and the message shows, and the box is off, before any round trip. The turn puts the server's echo, the text
    cleaned and cut as the engine reads it, in place of the browser's (Turns.turn)."""
    lock, unlock = turns.screen.sending(False), turns.screen.sending(True)
    turn_inputs = [page.pending, page.ids, page.chatbot, page.shown, page.answers, page.card_state]
    lean = {"api_visibility": PAGE, "preprocess": False, "postprocess": False}  # Turns.unwire/wire do it
    browser = {"queue": False, "show_progress": "hidden"}
    trigger(None, None, list(lock), js=sending_js(lock), **browser).then(
        None,
        [page.box, page.chatbot],
        [page.box, page.chatbot, page.status, page.follow_row, page.pending],
        js=echo_js(turns.engine.settings.max_message_chars),
        **browser,
    ).then(turns.turn, turn_inputs, page.send_outputs, **lean).then(
        turns.side_after_turn, [page.ids], list(dict.fromkeys([*page.side_outputs, page.status])), **lean
    ).then(None, None, list(unlock), js=sending_js(unlock), **browser)


def echo_js(limit: int) -> str:
    """The browser's echo, (box text, chat history) -> (box emptied, history + the message + a "…" placeholder for
    the answer, status cleared, quick replies hidden, the text for the turn). The message is shown HTML-escaped
    (Markdown still renders) and cut at `limit` characters, as the server's echo shows it; the turn replaces it with
    the server's (Turns.with_echo), so that one stays the only cleaning."""
    return (
        (
            "(text, history) => { "
            "const typed = (text || '').trim(); "
            "const shown = typed.length > LIMIT ? typed.slice(0, LIMIT) + '…' : typed; "
            "const say = (role, t) => ({role, metadata: null, content: [{type: 'text', text: t}], options: null}); "
            "const escaped = shown.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;'); "
            "return ['', [...(history || []), say('user', escaped), say('assistant', PLACEHOLDER)], '', "
            "{__type__: 'update', visible: false}, text || '']; }"
        )
        .replace("LIMIT", str(int(limit)))
        .replace("PLACEHOLDER", json.dumps(PLACEHOLDER))
    )


def sending_js(updates: dict) -> str:
    """A browser-only event's function returning Screen.sending's updates, one per output in the dict's order:
    Gradio's frontend applies a returned {"__type__": "update"} to its output's props, as it does the server's."""
    return f"() => {json.dumps(list(updates.values()))}"


def wire_votes(page: Page, votes: Votes) -> None:
    """Each card's 👍/👎, the Chatbot's 👍/👎 under an answer, and taking ticked votes back."""
    vote_inputs = [page.ids, page.shown, page.card_state]
    for i in range(page.slots):
        vote_outputs = [page.htmls[i], page.card_state, page.status, page.taste_md, page.taste_votes]
        page.likes[i].click(votes.vote(i, True), vote_inputs, vote_outputs, api_visibility=PAGE)
        page.dislikes[i].click(votes.vote(i, False), vote_inputs, vote_outputs, api_visibility=PAGE)
    page.chatbot.like(
        votes.on_like, [page.ids, page.answers], [page.status, page.taste_md, page.taste_votes], api_visibility=PAGE
    )
    page.unvote_btn.click(
        votes.unvote, [page.ids, page.taste_votes], [page.taste_md, page.taste_votes, page.status], api_visibility=PAGE
    )


def show_forget_box() -> dict:
    """Show the "forget me" confirmation."""
    return gr.update(visible=True)


def hide_forget_box() -> dict:
    """Hide the "forget me" confirmation."""
    return gr.update(visible=False)
