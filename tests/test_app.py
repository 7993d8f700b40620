"""The Gradio app driven through its named API endpoints with gradio_client (a real server on loopback)."""
import importlib.util
from contextlib import contextmanager
import socket
from pathlib import Path

import pytest

from tests.engine_fixtures import tiny_engine

pytestmark = pytest.mark.ui
APP = Path(__file__).resolve().parent.parent / "app.py"


def load_app():
    spec = importlib.util.spec_from_file_location("recsys_app_test", APP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve_tiny():
    """The real app over a tiny engine, served on a free loopback port; yields (engine, url)."""
    engine = tiny_engine()
    demo = load_app().build_demo(engine)
    demo.queue()
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield engine, f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


@pytest.fixture()
def server():
    with serve_tiny() as served:
        yield served


def client_and_ids(server):
    """A gradio_client on the server and the [user_id, session_id] of a new session."""
    from gradio_client import Client

    engine, url = server
    sid = engine.new_session()
    return Client(url, verbose=False), sid, [engine.session(sid).user_id, sid]


def test_send_through_the_api_streams_a_reply_and_cards(server):
    engine = server[0]
    client, sid, ids = client_and_ids(server)
    result = client.predict("A funny science fiction film, nothing with horror", ids, [], [], api_name="/send")
    history = result[1]  # gr.State outputs are not part of the API result
    assert history[-1]["role"] == "assistant"
    assert "no Horror" in result[2]  # the active-constraints panel
    stored = engine.history(sid)  # the turn is persisted, with its items
    assert [m.role for m in stored] == ["user", "assistant"]
    assert len(stored[1].items) == 3
    for shown in stored[1].items:
        item = engine.catalog.get(shown.item_id)
        assert "Horror" not in item.tags
        assert item.title in str(history[-1]["content"])
        assert item.title in str(result)  # its card was sent to the page


def test_html_in_a_message_is_escaped(server):
    engine = server[0]
    client, sid, ids = client_and_ids(server)
    result = client.predict("<img src=x onerror=alert(1)>", ids, [], [], api_name="/send")
    user_msg = str(result[1][0]["content"])
    assert "<img" not in user_msg and "&lt;img" in user_msg
