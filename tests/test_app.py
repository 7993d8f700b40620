"""The Gradio app driven through its named API endpoints with gradio_client (a real server on loopback)."""
import importlib.util
import json
import socket
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.engine_fixtures import tiny_engine

pytestmark = pytest.mark.ui
APP = Path(__file__).resolve().parent.parent / "app.py"
HISTORY, CONSTRAINTS = 2, 3  # positions of the Chatbot and the constraints panel in /send's API result


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
def serve_tiny(**overrides):
    """The real app over a tiny engine, served on a free loopback port; yields (engine, url)."""
    engine = tiny_engine(**overrides)
    app = load_app()
    demo = app.build_demo(engine)
    demo.queue()
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                **app.launch_options(engine))
    try:
        yield engine, f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:  # module-scoped: the per-test autouse home is not active yet
        mp.setenv("RECSYS_HOME", str(tmp_path_factory.mktemp("app-home")))
        with serve_tiny() as served:
            yield served


def client_and_ids(server):
    """A gradio_client on the server and the [user_id, session_id] of a new session."""
    from gradio_client import Client

    engine, url = server
    sid = engine.new_session()
    return Client(url, verbose=False), sid, [engine.session(sid).user_id, sid]


def send(client, text, ids):
    return client.predict(text, ids, [], [], {}, api_name="/send")


def test_send_through_the_api_streams_a_reply_and_cards(server):
    engine = server[0]
    client, sid, ids = client_and_ids(server)
    result = send(client, "A funny science fiction film, nothing with horror", ids)
    history = result[HISTORY]  # gr.State outputs are not part of the API result
    assert "no Horror" in result[CONSTRAINTS]  # the active-constraints panel
    stored = engine.history(sid)  # the turn is persisted, with its items
    assert [m.role for m in stored] == ["user", "assistant"]
    assert len(stored[1].items) == 3
    answer = next(m for m in history if m["role"] == "assistant" and not m.get("metadata"))
    for shown in stored[1].items:
        item = engine.catalog.get(shown.item_id)
        assert "Horror" not in item.tags
        assert item.title in str(answer["content"])
        assert item.title in str(result)  # its card was sent to the page


def test_why_these_panel_lists_scores_of_what_was_shown(server):
    client, sid, ids = client_and_ids(server)
    history = send(client, "a funny sci-fi film, nothing with horror", ids)[HISTORY]
    why = [m for m in history if (m.get("metadata") or {}).get("title") == load_app().WHY_TITLE]
    assert len(why) == 1
    text = str(why[0]["content"])
    for words in ("candidates considered", "no Horror", "relevance", "personal", "redundancy", "MMR λ"):
        assert words in text
    assert text.count("| ") > 10  # a table row per film


def test_html_in_a_message_is_escaped(server):
    client, sid, ids = client_and_ids(server)
    result = send(client, "<img src=x onerror=alert(1)>", ids)
    user_msg = str(result[HISTORY][0]["content"])
    assert "<img" not in user_msg and "&lt;img" in user_msg


def test_every_action_has_a_named_endpoint(server):
    client = client_and_ids(server)[0]
    names = set(client.view_api(return_format="dict", print_info=False)["named_endpoints"])
    assert {"/send", "/open_session", "/new_session", "/feedback", "/list_sessions", "/resume_session",
            "/rename_session", "/delete_session", "/export_session", "/set_controls", "/taste",
            "/forget_user"} <= names


def test_sessions_feedback_export_and_forget_through_the_api(server):
    engine = server[0]
    client, sid, ids = client_and_ids(server)
    user = ids[0]
    send(client, "a funny sci-fi film", ids)
    other = engine.new_session(user)
    send(client, "a war drama", [user, other])
    listed = client.predict(user, api_name="/list_sessions")
    assert [s["session_id"] for s in listed] == [other, sid]  # most recent first
    assert client.predict(sid, "Sunday laughs", api_name="/rename_session")["title"] == "Sunday laughs"
    first = engine.history(sid)[1].items[0].item_id
    votes = client.predict(sid, first, False, api_name="/feedback")
    assert votes["disliked_ids"] == [first]
    assert client.predict(sid, api_name="/taste")["disliked"] == [first]
    md = client.predict(sid, "markdown", api_name="/export_session")
    assert md.startswith("# Sunday laughs") and "**You:** a funny sci-fi film" in md
    data = json.loads(client.predict(sid, "json", api_name="/export_session"))
    assert [m["role"] for m in data["messages"]] == ["user", "assistant"] and len(data["messages"][1]["items"]) == 3
    resumed = client.predict(sid, api_name="/resume_session")
    assert resumed["title"] == "Sunday laughs" and resumed["messages"][0]["text"] == "a funny sci-fi film"
    client.predict(other, api_name="/delete_session")
    assert [s["session_id"] for s in client.predict(user, api_name="/list_sessions")] == [sid]
    client.predict(user, api_name="/forget_user")
    assert client.predict(user, api_name="/list_sessions") == []
    assert engine.store.user_feedback(user) == []


def test_controls_through_the_api_change_the_next_answer(server):
    engine = server[0]
    client, sid, ids = client_and_ids(server)
    state = client.predict(sid, 5, 0.5, None, None, ["Horror"], api_name="/set_controls")
    assert state["count"] == 5 and state["mmr_lambda"] == 0.5 and state["genres_exclude"] == ["Horror"]
    result = send(client, "a funny film", ids)
    items = engine.history(sid)[1].items
    assert len(items) == 5
    assert all("Horror" not in engine.catalog.get(s.item_id).tags for s in items)
    assert result[CONSTRAINTS].endswith("no Horror")


def test_health_endpoint_answers_json(server):
    engine, url = server
    with urllib.request.urlopen(url + "healthz", timeout=30) as response:
        body = json.loads(response.read())
    assert response.status == 200
    assert body["status"] == "ok" and body["items"] == len(engine.catalog) and body["database"] == "ok"


def test_health_endpoint_says_degraded_when_the_database_fails(server, monkeypatch):
    from recsys.errors import StoreError

    engine, url = server

    def broken(session_id):
        raise StoreError("database error at file x: disk I/O error")

    monkeypatch.setattr(engine.store, "get_session", broken)
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(url + "healthz", timeout=30)
    assert caught.value.code == 503
    assert json.loads(caught.value.read())["status"] == "degraded"
