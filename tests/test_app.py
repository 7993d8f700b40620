"""The Gradio app driven through its named API endpoints with gradio_client (a real server on loopback)."""

import json
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from recsys.web.html import WHY_TITLE
from tests.engine_fixtures import tiny_engine

pytestmark = pytest.mark.ui
APP = Path(__file__).resolve().parent.parent / "app.py"
HISTORY, CONSTRAINTS = 0, 1  # positions of the Chatbot and the constraints panel in /send's API result
PAGE_HISTORY = 2  # ... and of the Chatbot in the whole-page endpoints (/open_session, /new_session)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve_tiny(**overrides):
    """The real app over a tiny engine, served on a free loopback port; yields (engine, url)."""
    from recsys.web.app import build_demo, launch_options

    engine = tiny_engine(**overrides)
    demo = build_demo(engine)
    demo.queue()
    port = free_port()
    demo.launch(
        server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **launch_options(engine)
    )
    try:
        yield engine, f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


@contextmanager
def serve_tiny_in_home(tmp_path_factory, name: str):
    """serve_tiny for a module-scoped fixture, with its own RECSYS_HOME (the per-test autouse one is not active)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RECSYS_HOME", str(tmp_path_factory.mktemp(name)))
        with serve_tiny() as served:
            yield served


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with serve_tiny_in_home(tmp_path_factory, "app-home") as served:
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
    why = [m for m in history if (m.get("metadata") or {}).get("title") == WHY_TITLE]
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
    assert {
        "/send",
        "/open_session",
        "/new_session",
        "/feedback",
        "/list_sessions",
        "/resume_session",
        "/rename_session",
        "/delete_session",
        "/export_session",
        "/set_controls",
        "/taste",
        "/forget_user",
    } <= names


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
    assert body["generator_state"] == "ready"  # loaded up front here; the served app loads it in the background


def test_health_endpoint_says_degraded_when_the_database_fails(server, monkeypatch):
    from recsys.core.errors import StoreError

    engine, url = server

    def broken(session_id):
        raise StoreError("database error at file x: disk I/O error")

    monkeypatch.setattr(engine.store, "get_session", broken)
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(url + "healthz", timeout=30)
    assert caught.value.code == 503
    assert json.loads(caught.value.read())["status"] == "degraded"


def page_text(message: dict) -> str:
    """A Chatbot message's text (Gradio 6 may send content as a list of parts)."""
    content = message["content"]
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) if isinstance(part, dict) else str(part) for part in content)
    return str(content)


def test_broken_or_long_text_is_cleaned_and_cut_before_the_echo(server):
    engine = server[0]
    client, sid, ids = client_and_ids(server)
    limit = engine.settings.max_message_chars
    history = send(client, "a\x00 funny\x1b[31m film\u200b " + "x" * (3 * limit), ids)[HISTORY]
    echoed = page_text(history[0])
    assert "\x00" not in echoed and "\x1b" not in echoed and "\u200b" not in echoed
    assert echoed.startswith("a funny[31m film") and len(echoed) == limit + 1 and echoed.endswith("…")
    assert "too long" in page_text(history[-1])  # the engine's friendly refusal, and the turn is stored
    assert [m.role for m in engine.history(sid)] == ["user", "assistant"]
    from recsys.web.app import build_demo

    box = next(b for b in build_demo(engine).blocks.values() if getattr(b, "elem_id", None) == "msg")
    assert box.max_length == limit  # the browser stops typing at the limit


def test_accounts_from_flags_environment_and_file(tmp_path, monkeypatch):
    import gradio as gr

    from recsys.core.errors import ConfigError
    from recsys.engine import Engine
    from recsys.web.accounts import login_check, parse_accounts
    from recsys.web.app import main

    accounts = tmp_path / "accounts.txt"
    accounts.write_text("# demo logins\ncarol:pw:with:colons\n\n  dave:pw-d  \n", encoding="utf-8")
    assert parse_accounts("alice:pw-a, bob:pw-b", str(accounts)) == [
        ("alice", "pw-a"),
        ("bob", "pw-b"),
        ("carol", "pw:with:colons"),
        ("dave", "pw-d"),
    ]
    assert parse_accounts("demo:secret") == [("demo", "secret")]  # the single form still works
    for bad in ("alice", "alice:", ":pw-secret", "alice:pw-secret,alice:pw-secret2", "bob:pw-b,carol"):
        with pytest.raises(ConfigError) as info:
            parse_accounts(bad)
        assert "pw-" not in str(info.value)  # the message names the entry, never a password
    with pytest.raises(ConfigError, match="cannot read the auth file"):
        parse_accounts("", str(tmp_path / "missing.txt"))
    check = login_check([("alice", "pw-a"), ("bob", "pw-b")])
    assert check("alice", "pw-a") and check("bob", "pw-b")
    assert not any([check("alice", "pw-b"), check("eve", "pw-a"), check("eve", ""), check("alice", "")])

    seen = {}

    def fake_launch(self, **kwargs):
        seen.update(kwargs)
        raise OSError("stop here")  # main() then exits 1 without serving

    monkeypatch.setattr(Engine, "load", classmethod(lambda cls, settings, **kw: tiny_engine()))
    monkeypatch.setattr(gr.Blocks, "launch", fake_launch)
    monkeypatch.setenv("RECSYS_AUTH_FILE", str(accounts))
    assert main(["--auth", "alice:pw-a", "--auth", "bob:pw-b", "--port", str(free_port())]) == 1
    assert seen["auth"]("alice", "pw-a") and seen["auth"]("dave", "pw-d") and not seen["auth"]("bob", "pw-a")
    monkeypatch.delenv("RECSYS_AUTH_FILE")
    monkeypatch.setenv("RECSYS_AUTH", "erin:pw-e,frank:pw-f")
    assert main(["--port", str(free_port())]) == 1
    assert seen["auth"]("frank", "pw-f") and not seen["auth"]("alice", "pw-a")


def test_app_py_help_lists_the_flags():
    """The repository's entry point still answers --help (it only calls recsys.web.app.main)."""
    out = subprocess.run([sys.executable, str(APP), "--help"], capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    assert "--auth-file" in out.stdout and "--concurrency" in out.stdout
