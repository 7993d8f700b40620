"""Turns.wire and Turns.unwire: the turn's events skip Gradio's own pre- and postprocessing (a worker thread per
input and output), so what the handler sends and reads must be what Gradio would have made of it."""

import gradio as gr

from recsys.web.turn import Turns

PLACEHOLDER = {"role": "assistant", "content": "…"}  # where the answer comes, after the browser's echo
HISTORY = [
    {"role": "user", "content": "a  funny\n   sci-fi film"},
    {"role": "assistant", "content": "Try these:\n\n1. **Alien**"},
    {"role": "assistant", "content": "| film |\n|---|", "metadata": {"title": "Why these?", "status": "done"}},
]


def test_wire_sends_what_each_component_postprocess_gives():
    chat, md, card, state, row = gr.Chatbot(), gr.Markdown(), gr.HTML(), gr.State(), gr.Row()
    update = gr.update(visible=True)
    sent = Turns.wire({chat: HISTORY, md: "  Comedy\n  after 1990", card: "<div>x</div>", state: ["tt1"], row: update})
    assert sent[chat] == chat.postprocess(HISTORY).model_dump()
    assert sent[md] == md.postprocess("  Comedy\n  after 1990") and sent[card] == "<div>x</div>"
    assert sent[state] == ["tt1"] and sent[row] is update  # State values and updates go as they are


def test_unwire_reads_what_gradio_preprocess_gives():
    chat, box, state = gr.Chatbot(), gr.Textbox(), gr.State()
    payload = chat.postprocess(HISTORY).model_dump()  # what the page sends back with the next message
    assert Turns.unwire(chat, payload) == chat.preprocess(chat.data_model.model_validate(payload))
    assert Turns.unwire(chat, None) == [] and Turns.unwire(box, 12) == "12" and Turns.unwire(box, None) is None
    assert Turns.unwire(state, {"a": 1}) == {"a": 1}
    # a history that went out and came back reads as one that was never sent: the next turn appends to it
    assert Turns.unwire(chat, Turns.wire({chat: HISTORY})[chat]) == Turns.unwire(chat, payload)


def test_the_page_turns_updates_carry_values_as_their_postprocess_leaves_them():
    """The page's echo, turn and side-panel events skip Gradio's postprocess, which would also postprocess the value
    inside a gr.update (Turns.wire sends updates as they are): each such value must already be its own result."""
    from recsys.web.layout import build_layout
    from recsys.web.updates import Screen
    from tests.engine_fixtures import tiny_engine

    engine = tiny_engine()
    with gr.Blocks():
        page = build_layout(engine.settings, list(engine.catalog.genres))
        turns = Turns(engine, Screen(engine, page))
    session_id = engine.new_session()
    ids = [engine.session(session_id).user_id, session_id]
    echoed = page.chatbot.postprocess([{"role": "user", "content": "a funny sci-fi film"}, PLACEHOLDER]).model_dump()
    turn = list(turns.turn("a funny sci-fi film", ids, echoed, [], {}, [], None))
    side = turns.side_after_turn(ids, None)
    updates = [(c, v) for out in [*turn, side] for c, v in out.items() if isinstance(v, dict) and "__type__" in v]
    valued = [(c, v["value"]) for c, v in updates if "value" in v]
    assert page.sessions in {c for c, _ in valued}  # the session list at least
    for comp, value in valued:
        done = comp.postprocess(value)
        assert (done.model_dump() if hasattr(done, "model_dump") else done) == value, comp
    assert page.box not in side and all(page.box not in out for out in turn)  # the browser's (events.py)


def test_the_turn_puts_the_servers_echo_in_place_of_the_browsers():
    """The page's echo is the browser's (events.echo_js): the turn replaces it with the text cleaned and cut as the
    engine reads it, once, and answers in the placeholder's place; a history without an echo is left whole."""
    from recsys.web.layout import build_layout
    from recsys.web.turn import without_echo
    from recsys.web.updates import Screen
    from tests.engine_fixtures import tiny_engine

    engine = tiny_engine(max_message_chars=12)
    with gr.Blocks():
        page = build_layout(engine.settings, list(engine.catalog.genres))
        turns = Turns(engine, Screen(engine, page))
    session_id = engine.new_session()
    ids = [engine.session(session_id).user_id, session_id]
    typed = "a  funny\x07 sci-fi film"
    echoed = page.chatbot.postprocess([*HISTORY, {"role": "user", "content": typed}, PLACEHOLDER]).model_dump()
    history = list(turns.turn(typed, ids, echoed, [], {}, [], None))[-1][page.chatbot]
    texts = [(m["role"], m["content"][0]["text"]) for m in history]
    before = texts[:3]  # the earlier messages, as Gradio sent them
    assert before == [(m["role"], m["content"][0]["text"]) for m in page.chatbot.postprocess(HISTORY).model_dump()]
    assert texts[3] == ("user", "a funny sci-…") and [r for r, _ in texts].count("user") == 2  # one echo
    assert texts[4][0] == "assistant" and texts[4][1] != "…"  # the answer, where the placeholder was
    assert [m.text for m in engine.history(session_id) if m.role == "user"] == ["a funny sci-"]
    plain = Turns.unwire(page.chatbot, page.chatbot.postprocess(HISTORY).model_dump())
    assert without_echo(plain) == plain and without_echo([]) == [] and without_echo(plain[:1]) == plain[:1]


def test_the_browser_side_lock_returns_screen_sendings_updates_in_output_order():
    """The lock's JavaScript returns exactly the updates Screen.sending makes (the box off and not focused, Send,
    the chips and the switches off; then all on, the box focused), one per output in order; the browser test runs
    it (tests/test_browser.py::test_the_box_is_locked_until_the_answer_is_there)."""
    import json

    from recsys.web.events import sending_js
    from recsys.web.layout import build_layout
    from recsys.web.updates import Screen
    from tests.engine_fixtures import tiny_engine

    engine = tiny_engine()
    with gr.Blocks():
        page = build_layout(engine.settings, list(engine.catalog.genres))
    screen = Screen(engine, page)
    for allowed in (False, True):
        updates = screen.sending(allowed)
        assert list(updates) == [page.box, page.send_btn, *page.chips, *page.switches]
        returned = json.loads(sending_js(updates).removeprefix("() => "))
        assert returned[0] == {"__type__": "update", "interactive": allowed, "autofocus": allowed}
        assert returned[1:] == [{"__type__": "update", "interactive": allowed}] * (len(updates) - 1)
