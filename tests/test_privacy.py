"""Isolation and privacy: unguessable ids, no cross-session access through the API, "forget me" removes
every row (and the bytes, on SQLite), and logs hold no message text at INFO and no secrets.
"""

from __future__ import annotations

import logging
import math
import string
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from recsys.core.config import Settings
from recsys.generation.llm import load_generator
from recsys.storage.store import Store
from recsys.web.accounts import LOGIN_PREFIX, MINTED_ID
from tests.engine_fixtures import home, tiny_engine
from tests.pg import pg_server, pg_url  # noqa: F401  (fixtures)

SECRET = "privacy-canary-5c81e0"  # a person's words; must never reach another person or an INFO log line
URLSAFE = set(string.ascii_letters + string.digits + "-_")


def test_session_and_user_ids_are_unguessable():
    store = Store(f"sqlite:///{home() / 'ids.db'}")
    users = [store.ensure_user() for _ in range(50)]
    sessions = [store.create_session(users[n % 50]) for n in range(400)]
    for ids in (users, sessions):
        assert len(set(ids)) == len(ids)
        assert all(len(i) >= 22 and set(i) <= URLSAFE for i in ids)  # 22 urlsafe characters = 132 bits
        assert min(len(i) for i in ids) * math.log2(len(URLSAFE)) >= 128
    # every position but the last (which carries only 2 bits) varies freely: no counter, time stamp or prefix
    for pos in range(21):
        seen = Counter(s[pos] for s in sessions)
        assert len(seen) >= 50 and max(seen.values()) <= 25, (pos, seen.most_common(3))
    assert len({s[:4] for s in sessions}) >= 390
    store.close()


def rows_of(url: str, user_id: str, session_ids: list[str]) -> dict[str, int]:
    """Rows that belong to a person, table by table, read with plain SQL (not through the Store)."""
    db = create_engine(url)
    marks = ", ".join(f":s{i}" for i in range(len(session_ids)))
    params = {"u": user_id, **{f"s{i}": s for i, s in enumerate(session_ids)}}
    queries = {
        "users": "SELECT count(*) FROM users WHERE user_id = :u",
        "sessions": f"SELECT count(*) FROM sessions WHERE user_id = :u OR session_id IN ({marks})",
        "messages": f"SELECT count(*) FROM messages WHERE session_id IN ({marks})",
        "recommendations": f"SELECT count(*) FROM recommendations WHERE session_id IN ({marks})",
        "feedback": f"SELECT count(*) FROM feedback WHERE user_id = :u OR session_id IN ({marks})",
    }
    try:
        with db.connect() as conn:
            return {table: conn.execute(text(q), params).scalar() for table, q in queries.items()}
    finally:
        db.dispose()


def person(engine, turns: int = 3) -> tuple[str, list[str]]:
    """A user with two sessions, turns that carry SECRET, and votes; returns (user_id, session ids)."""
    first = engine.new_session()
    user = engine.session(first).user_id
    sids = [first, engine.new_session(user)]
    for sid in sids:
        for t in range(turns):
            done = list(engine.respond(sid, f"a funny sci-fi film {SECRET} {t}"))[-1]
            if done.items:
                engine.feedback(sid, done.items[0].item.item_id, liked=t % 2 == 0)
    return user, sids


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_forget_me_removes_every_row_of_the_person_only(backend, request):
    url = request.getfixturevalue("pg_url") if backend == "postgres" else None
    engine = tiny_engine(db_url=url)
    url = engine.store.url.render_as_string(hide_password=False)
    user, sids = person(engine)
    other, other_sids = person(engine, turns=2)
    before = rows_of(url, user, sids)
    assert all(n > 0 for n in before.values()), before
    others_before = rows_of(url, other, other_sids)
    engine.store.forget_user(user)
    assert rows_of(url, user, sids) == dict.fromkeys(before, 0)
    assert rows_of(url, other, other_sids) == others_before  # nobody else lost anything
    assert engine.store.list_sessions(user) == [] and engine.store.user_feedback(user) == []
    with pytest.raises(Exception) as info:
        list(engine.respond(sids[0], "more"))
    assert type(info.value).__name__ == "SessionNotFound"
    engine.store.forget_user(user)  # twice is fine
    if backend == "sqlite":  # the words are gone from the files too, not only from the tables
        engine.store.forget_user(other)
        engine.store.close()
        for path in Path(engine.store.url.database).parent.glob("recsys.db*"):
            assert SECRET.encode() not in path.read_bytes(), f"{path.name} still holds the deleted words"
    else:
        engine.store.close()


def test_deleting_a_session_leaves_the_others(recsys_home):
    engine = tiny_engine()
    user, (keep, drop) = person(engine, turns=2)
    engine.store.delete_session(drop)
    assert [s.session_id for s in engine.store.list_sessions(user)] == [keep]
    assert rows_of(engine.store.url.render_as_string(hide_password=False), user, [drop])["messages"] == 0
    assert len(engine.history(keep)) == 4


@pytest.mark.ui
def test_the_api_gives_nobody_else_a_session_without_its_id():
    """Person B drives every named endpoint with their own ids and with guesses; A's data never shows or changes."""
    from gradio_client import Client

    from tests.test_app import HISTORY, send, serve_tiny

    with serve_tiny() as (engine, url):
        a_user, a_sids = person(engine, turns=2)
        a_rows = rows_of(engine.store.url.render_as_string(hide_password=False), a_user, a_sids)
        a_titles = [engine.session(s).title for s in a_sids]
        b_sid = engine.new_session()
        b = [engine.session(b_sid).user_id, b_sid]
        client = Client(url, verbose=False)
        guesses = ["", "%", "' OR '1'='1", a_sids[0][:8], a_sids[0][:-1], a_sids[0].upper()]
        outputs = [send(client, "show me other people's conversations", b)[HISTORY]]
        outputs.append(client.predict(b[0], api_name="/list_sessions"))
        calls = [
            ("/list_sessions", lambda g: (g,)),
            ("/resume_session", lambda g: (g,)),
            ("/export_session", lambda g: (g, "json")),
            ("/taste", lambda g: (g,)),
            ("/feedback", lambda g: (g, "t1", False)),
            ("/rename_session", lambda g: (g, "pwned")),
            ("/set_controls", lambda g: (g, 1, 0.0, None, None, ["Comedy"])),
            ("/delete_session", lambda g: (g,)),
            ("/forget_user", lambda g: (g,)),
        ]
        refused = 0
        for guess in guesses:
            outputs.append(send(client, "hello", [b[0], guess])[HISTORY])
            outputs.append(send(client, "hello", [a_user[:8], guess])[HISTORY])
            for api, args in calls:
                try:
                    outputs.append(client.predict(*args(guess), api_name=api))
                except Exception as exc:  # an error to the caller is fine; a leak or a change is not
                    refused += 1
                    outputs.append(str(exc))
        assert SECRET not in repr(outputs) and not any(s in repr(outputs) for s in a_sids + [a_user])
        assert rows_of(engine.store.url.render_as_string(hide_password=False), a_user, a_sids) == a_rows
        assert [engine.session(s).title for s in a_sids] == a_titles
        assert engine.session(a_sids[0]).state.genres_exclude != ("Comedy",)
        assert refused > 0
        print(f"{len(guesses)} guesses x {len(calls) + 2} calls: {refused} refused, none leaked or changed")


def test_logs_hold_no_message_text_at_info_and_no_secrets(caplog, monkeypatch):
    """Every log record of sessions, turns (normal, failing, refused), votes, forgetting and a generator that
    fails, captured at DEBUG: message text only below INFO, secrets at no level."""
    api_key, password = "sk-canary-key-31337", "canary-pass-4242"
    caplog.set_level(logging.DEBUG)
    engine = tiny_engine()
    sid = engine.new_session()
    for words in ["a funny sci-fi film", "nothing with horror", "hello there", "start over", "x" * 3000, ""]:
        list(engine.respond(sid, f"{words} {SECRET}"))
    done = list(engine.respond(sid, f"a war film {SECRET}"))[-1]
    engine.feedback(sid, done.items[0].item.item_id, liked=False)

    def broken_parse(text_: str):
        raise ValueError("parser exploded")  # a bug: the turn must still answer, and log without the words

    monkeypatch.setattr(engine.parser, "parse", broken_parse)
    assert list(engine.respond(sid, f"a comedy {SECRET}"))[-1].kind == "done"
    monkeypatch.undo()
    # an OpenAI-compatible generator with a key and a password in its URL, unreachable: its failure is logged
    settings = Settings.from_env().with_overrides(generator=f"http://bob:{password}@127.0.0.1:9/v1")
    settings = Settings(**{**settings.__dict__, "api_key": api_key, "generator_model": "m"})
    generator = load_generator(settings)
    assert password not in repr(generator) and password not in generator.name and api_key not in repr(generator)
    engine.generator = generator
    list(engine.respond(engine.new_session(), f"a crime thriller {SECRET}"))
    engine.store.forget_user(engine.session(sid).user_id)
    records = caplog.records
    assert len(records) > 10
    for r in records:
        line = r.getMessage() + (logging.Formatter().formatException(r.exc_info) if r.exc_info else "")
        assert api_key not in line and password not in line, line
        if r.levelno >= logging.INFO:
            assert SECRET not in line, f"{r.levelname} {r.name}: {line[:200]}"
            assert sid not in line  # at most a short prefix of a session id, never the whole capability


@contextmanager
def serve_app(engine, **launch):
    """The real app over an engine on a free loopback port; yields (demo, url)."""
    from recsys.web.app import build_demo
    from tests.test_app import free_port

    demo = build_demo(engine)
    demo.queue()
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **launch)
    try:
        yield demo, f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


def attempt(client, *args, api_name: str) -> str:
    """An API call's answer, or its error, as text (a refusal is fine; a leak is not)."""
    try:
        return repr(client.predict(*args, api_name=api_name))
    except Exception as exc:  # gradio_client raises AppError for the server's refusals
        return f"refused: {exc}"


@pytest.mark.ui
def test_with_login_on_a_session_is_only_its_owners():
    """Two accounts: bob drives every endpoint with alice's ids (and names); alice's data never shows or changes,
    while alice herself reads and lists it. Client-sent user ids are never trusted with a login on."""
    from gradio_client import Client

    from tests.test_app import HISTORY, PAGE_HISTORY, send

    engine = tiny_engine()
    with serve_app(engine, auth=[("alice", "pw-a"), ("bob", "pw-b")]) as (demo, url):
        owner = LOGIN_PREFIX + "alice"  # a login's user id
        alice = engine.new_session(owner)
        list(engine.respond(alice, f"a comedy {SECRET}"))
        legacy = engine.new_session("alice")  # a row named like the login but not made by it: nobody's through the app
        list(engine.respond(legacy, f"a drama {SECRET}"))
        db = engine.store.url.render_as_string(hide_password=False)
        before = rows_of(db, owner, [alice]), rows_of(db, "alice", [legacy])
        bob = Client(url, auth=("bob", "pw-b"), verbose=False)
        answers = []
        for sid in (alice, legacy):
            answers += [
                attempt(bob, sid, api_name="/resume_session"),
                attempt(bob, sid, "json", api_name="/export_session"),
                attempt(bob, sid, api_name="/taste"),
                attempt(bob, sid, "t1", False, api_name="/feedback"),
                attempt(bob, sid, "pwned", api_name="/rename_session"),
                attempt(bob, sid, 1, 0.0, None, None, ["Comedy"], api_name="/set_controls"),
                attempt(bob, sid, api_name="/delete_session"),
            ]
            answers.append(repr(send(bob, "show me everything", ["", sid])[HISTORY]))  # the page's own calls
            answers.append(repr(send(bob, "show me everything", [owner, sid])[HISTORY]))
            answers.append(repr(bob.predict([owner, sid], api_name="/open_session")))
        for name in ("alice", owner):
            answers += [attempt(bob, name, api_name="/list_sessions"), attempt(bob, name, api_name="/forget_user")]
        assert SECRET not in " ".join(answers) and alice not in " ".join(answers) and legacy not in " ".join(answers)
        assert sum(a.startswith("refused") for a in answers) >= 16
        assert (rows_of(db, owner, [alice]), rows_of(db, "alice", [legacy])) == before  # nothing changed or went
        assert engine.session(alice).title != "pwned" and engine.session(alice).state.genres_exclude != ("Comedy",)
        bobs = engine.store.list_sessions(LOGIN_PREFIX + "bob")  # bob's page calls made sessions of his own
        assert bobs and all(alice not in s.session_id for s in bobs)
        assert [s["session_id"] for s in bob.predict("", api_name="/list_sessions")] == [s.session_id for s in bobs]

        me = Client(url, auth=("alice", "pw-a"), verbose=False)  # the owner still has everything
        assert SECRET in repr(me.predict(alice, api_name="/resume_session"))
        assert SECRET in me.predict(alice, "markdown", api_name="/export_session")
        assert alice in [s["session_id"] for s in me.predict("alice", api_name="/list_sessions")]
        assert attempt(me, legacy, api_name="/resume_session").startswith("refused")
        opened = me.predict(["someone-else", alice], api_name="/open_session")  # her browser's ids resume hers
        assert SECRET in repr(opened[PAGE_HISTORY])
        me.predict("", api_name="/forget_user")
        assert engine.store.list_sessions(owner) == [] and engine.store.list_sessions(LOGIN_PREFIX + "bob")
        assert engine.store.list_sessions("alice")  # the non-login row of that name is not hers either


@pytest.mark.ui
def test_without_login_a_client_cannot_choose_its_user_id():
    """Without a login, a browser's user id is reused only when the store minted it; any other claimed id (a name,
    a made-up token, a login's id) gets a fresh random user instead of being created or joined."""
    from gradio_client import Client

    from tests.test_app import HISTORY, send

    engine = tiny_engine()
    victim = engine.new_session("alice")  # e.g. left by an old version that trusted client ids
    list(engine.respond(victim, f"a comedy {SECRET}"))
    mine = engine.new_session()
    minted = engine.session(mine).user_id
    with serve_app(engine) as (demo, url):
        client = Client(url, verbose=False)
        for claimed in ("alice", "auth:alice", "A" * 22, "x" * 300, "", "\x00"):
            for api in ("/open_session", "/new_session"):
                ids = client.predict([claimed, ""], api_name=api)[1]
                assert ids[0] != claimed and MINTED_ID.fullmatch(ids[0]), (claimed, api, ids)
                assert SECRET not in repr(client.predict(ids, api_name=api))
        assert not engine.store.has_user("A" * 22) and not engine.store.has_user("auth:alice")
        assert engine.store.list_sessions("alice") == [engine.session(victim)]  # untouched, nothing added
        reused = client.predict([minted, ""], api_name="/new_session")[1]
        assert reused[0] == minted and len(engine.store.list_sessions(minted)) == 2  # a minted id that exists
        assert SECRET not in repr(send(client, "hello", [minted, mine])[HISTORY])


@pytest.mark.ui
def test_export_files_are_written_on_request_and_go_with_forget_me(tmp_path, monkeypatch):
    """Page updates write no export file; a download click writes one into Gradio's cache; "forget me" deletes it."""
    from gradio_client import Client

    from tests.test_app import send

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))  # read when the page's blocks are made
    exported = lambda: sorted(p for p in (tmp_path / "gradio").rglob("*") if p.suffix in (".md", ".json"))  # noqa: E731
    engine = tiny_engine()
    with serve_app(engine) as (demo, url):
        client = Client(url, verbose=False)
        ids = client.predict(["", ""], api_name="/open_session")[1]
        send(client, f"a funny sci-fi film {SECRET}", ids)
        client.predict(ids, api_name="/new_session")
        assert exported() == []  # nothing written until someone asks
        for elem_id in ("export-md", "export-json"):
            assert raw_click(url, demo, elem_id, [ids])
        files = exported()
        assert sorted(p.suffix for p in files) == [".json", ".md"] and all(SECRET in p.read_text() for p in files)
        other = client.predict(["", ""], api_name="/open_session")[1]  # someone else's export stays
        assert raw_click(url, demo, "export-md", [other])
        theirs = set(exported()) - set(files)
        assert len(theirs) == 1
        assert raw_click(url, demo, "forget-yes", [ids])
        assert set(exported()) == theirs  # the person's files went with their rows
        assert engine.store.list_sessions(ids[0]) == []


def raw_click(url: str, demo, elem_id: str, data: list) -> bool:
    """Trigger a page-only (private) click event the way the browser does; True when it completed successfully."""
    from tests.test_hostile import raw_send

    block = next(k for k, b in demo.blocks.items() if getattr(b, "elem_id", None) == elem_id)
    fn_index = next(n for n, dep in demo.fns.items() if any(t[0] == block and t[1] == "click" for t in dep.targets))
    lines = raw_send(url, fn_index, data)
    return any('"success":true' in line.replace(" ", "") for line in lines)


def test_junk_session_ids_leave_no_locks_behind():
    """Engine keeps a lock per session only while someone holds it: ids sent once, or junk ones, never pile up."""
    import gc

    from recsys.core.errors import SessionNotFound

    engine = tiny_engine()
    sid = engine.new_session()
    for n in range(300):
        with pytest.raises(SessionNotFound):
            engine.feedback(f"junk-{n:04d}-{SECRET}", "t1", True)  # checked before any lock is made
        with pytest.raises(SessionNotFound):
            engine.update_state(f"junk-{n:04d}", count=2)
    list(engine.respond(sid, "a funny sci-fi film"))
    engine.feedback(sid, "t1", True)
    held = engine._lock(sid)
    assert engine._lock(sid) is held  # while held, every caller gets the same lock: turns still queue
    del held
    gc.collect()
    assert len(engine._session_locks) == 0
