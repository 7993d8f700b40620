"""Store on real SQLite files in each test's RECSYS_HOME: migrations, atomic turns, cascades, restarts, threads."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from recsys.core.config import Settings
from recsys.core.errors import ConfigError, SessionNotFound, StoreError
from recsys.core.types import DialogueState
from recsys.storage.db import MIGRATIONS
from recsys.storage.store import Store
from tests.pg import pg_server, pg_url  # noqa: F401  (fixtures)

ITEMS = [("tt1", 0.9, "a reason"), ("tt2", 0.8, "another"), ("tt3", 0.5, "")]


@pytest.fixture
def db_path(recsys_home: Path) -> Path:
    """The database file the app would use."""
    return Settings.from_env().home / "recsys.db"


@pytest.fixture
def store(db_path: Path):
    """A Store on a fresh SQLite file, closed after the test."""
    s = Store(f"sqlite:///{db_path}")
    yield s
    s.close()


def count(db_path: Path, table: str) -> int:
    """Rows in a table, read with plain sqlite3 (not through the Store under test)."""
    with sqlite3.connect(db_path) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def turn(store: Store, sid: str, text: str = "a funny sci-fi film", items=ITEMS, state=None) -> int:
    """One record_turn with defaults."""
    return store.record_turn(
        sid, text, "Try these.", {"intent": "recommend"}, items, state or DialogueState(), {"total": 12.5}
    )


def test_migrations_applied_once_and_wal(store, db_path):
    store.close()
    Store(f"sqlite:///{db_path}").close()  # second start: nothing to apply, nothing breaks
    with sqlite3.connect(db_path) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM _migrations")]
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert names == [m.__name__ for m in MIGRATIONS]


def test_evidence_is_stored_with_each_item_and_old_databases_gain_the_column(store, db_path):
    sid = store.create_session(store.ensure_user())
    why = {"asked": [{"kind": "genre", "text": "sci-fi comedy", "names": []}], "taste": [], "source": "generated"}
    turn(store, sid, items=[("tt1", 0.9, "A sci-fi comedy.", why), ("tt2", 0.8, "old shape")])
    shown = store.history(sid)[1].items
    assert shown[0].evidence == why and shown[1].evidence is None  # 3-tuples still work: no evidence
    store.close()
    with sqlite3.connect(db_path) as conn:  # a database from before m002: no column, m002 not recorded
        conn.execute("ALTER TABLE recommendations DROP COLUMN evidence")
        conn.execute("DELETE FROM _migrations WHERE name = 'm002_recommendation_evidence'")
    again = Store(f"sqlite:///{db_path}")
    try:
        assert [i.evidence for i in again.history(sid)[1].items] == [None, None]  # old rows: no evidence
    finally:
        again.close()


def test_pragmas_on_every_connection(store):
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10000
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    assert store.integrity_check()


def test_sessions_unguessable_and_listed_newest_first(store):
    user = store.ensure_user()
    assert store.ensure_user(user) == user
    ids = [store.create_session(user) for _ in range(50)]
    assert len(set(ids)) == 50 and all(len(i) >= 20 for i in ids)
    turn(store, ids[3])
    listed = store.list_sessions(user)
    assert len(listed) == 50 and listed[0].session_id == ids[3] and listed[0].message_count == 2
    assert store.list_sessions("nobody") == []


def test_record_turn_round_trip(store):
    sid = store.create_session(store.ensure_user("ann"))
    state = DialogueState(
        genres_include=("Comedy",), year_min=1980, shown_ids=("tt1", "tt2", "tt3"), last_ids=("tt1", "tt2", "tt3")
    )
    reply_id = turn(store, sid, "  a funny\nsci-fi film from the eighties, nothing too scary please ", state=state)
    turn(store, sid, "more", items=[], state=state)
    info = store.get_session(sid)
    assert info.state == state and info.user_id == "ann" and info.message_count == 4
    assert info.title == "a funny sci-fi film from the eighties…"  # cut at a word, from the first message only
    assert info.updated_at >= info.created_at and info.created_at.tzinfo is not None
    rows = store.history(sid)
    assert [(m.seq, m.role) for m in rows] == [(1, "user"), (2, "assistant"), (3, "user"), (4, "assistant")]
    assert rows[1].message_id == reply_id and rows[0].intent == {"intent": "recommend"}
    assert [(i.item_id, i.rank, i.score, i.reason) for i in rows[1].items] == [
        ("tt1", 1, 0.9, "a reason"),
        ("tt2", 2, 0.8, "another"),
        ("tt3", 3, 0.5, ""),
    ]
    assert rows[0].items == [] and rows[3].items == []


def test_session_api(store):
    sid = store.create_session(store.ensure_user(), title="Mine")
    store.rename_session(sid, "Renamed 🎬")
    turn(store, sid)
    assert store.get_session(sid).title == "Renamed 🎬"  # a chosen title is never overwritten
    state = DialogueState(liked_ids=("tt9",), count=5)
    store.save_state(sid, state)
    assert store.get_session(sid).state == state
    mid = store.add_message(sid, "assistant", "hello", timings={"total": 1.0})
    assert store.history(sid)[-1].message_id == mid and store.history(sid)[-1].seq == 3
    with pytest.raises(ValueError):
        store.add_message(sid, "system", "no")
    for call in (
        store.get_session,
        store.history,
        store.delete_session,
        lambda s: store.rename_session(s, "x"),
        lambda s: store.save_state(s, DialogueState()),
        lambda s: turn(store, s),
        lambda s: store.add_feedback(s, "tt1", True),
    ):
        with pytest.raises(SessionNotFound):
            call("no-such-session-id-000000")


def test_record_turn_is_atomic(store, db_path):
    sid = store.create_session(store.ensure_user())
    turn(store, sid)
    before = {t: count(db_path, t) for t in ("messages", "recommendations")}
    state_before = store.get_session(sid)
    duplicate_item = [("tt1", 0.9, "x"), ("tt1", 0.8, "y")]  # violates unique (message_id, item_id) after both messages
    with pytest.raises(StoreError, match="UNIQUE"):
        turn(store, sid, "second", items=duplicate_item, state=DialogueState(query="changed"))
    assert {t: count(db_path, t) for t in ("messages", "recommendations")} == before
    after = store.get_session(sid)
    assert after.state == state_before.state and after.updated_at == state_before.updated_at
    assert [m.seq for m in store.history(sid)] == [1, 2]


def test_seq_is_unique_per_session(store, db_path):
    sid = store.create_session(store.ensure_user())
    store.add_message(sid, "user", "one")
    with sqlite3.connect(db_path) as conn, pytest.raises(sqlite3.IntegrityError):
        conn.execute(
            "INSERT INTO messages (session_id, seq, role, text, created_at) VALUES (?, 1, 'user', 'dup', '')", (sid,)
        )


def test_feedback_oldest_first(store):
    user = store.ensure_user("bob")
    s1, s2 = store.create_session(user), store.create_session(user)
    store.add_feedback(s1, "tt1", True)
    store.add_feedback(s2, "tt2", False, source="words")
    store.add_feedback(s1, "tt1", False)  # a change of mind: the caller keeps the latest
    rows = store.user_feedback(user)
    assert [(r.item_id, r.liked, r.source) for r in rows] == [
        ("tt1", True, "button"),
        ("tt2", False, "words"),
        ("tt1", False, "button"),
    ]
    with pytest.raises(ValueError):
        store.add_feedback(s1, "tt1", True, source="telepathy")


def test_delete_session_cascades(store, db_path):
    user = store.ensure_user()
    keep, gone = store.create_session(user), store.create_session(user)
    for sid in (keep, gone):
        turn(store, sid)
        store.add_feedback(sid, "tt1", True)
    store.delete_session(gone)
    assert [s.session_id for s in store.list_sessions(user)] == [keep]
    assert (count(db_path, "messages"), count(db_path, "recommendations"), count(db_path, "feedback")) == (2, 3, 1)
    with pytest.raises(SessionNotFound):
        store.get_session(gone)


def test_forget_user_removes_every_row(store, db_path):
    ann, bob = store.ensure_user("ann"), store.ensure_user("bob")
    for user in (ann, bob):
        sid = store.create_session(user)
        turn(store, sid)
        store.add_feedback(sid, "tt2", False)
    store.forget_user(ann)
    store.forget_user("never-existed")
    assert store.list_sessions(ann) == [] and store.user_feedback(ann) == []
    assert [count(db_path, t) for t in ("users", "sessions", "messages", "recommendations", "feedback")] == [
        1,
        1,
        2,
        3,
        1,
    ]
    assert store.integrity_check()


def test_restart_sees_history_and_state(db_path):
    first = Store(f"sqlite:///{db_path}")
    sid = first.create_session(first.ensure_user("ann"))
    state = DialogueState(genres_exclude=("Horror",), disliked_ids=("tt7",))
    turn(first, sid, state=state)
    first.close()
    second = Store(Settings.from_env().database_url)  # the URL the app builds
    assert second.get_session(sid).state == state
    assert [m.text for m in second.history(sid)] == ["a funny sci-fi film", "Try these."]
    second.close()


def test_unusual_text_is_stored(store, db_path):
    sid = store.create_session(store.ensure_user("用户 🙂"))
    texts = [
        "emoji 🎬🍿👍🏽",
        "中文 日本語 한국어",
        "עברית العربية",
        "nul\x00byte",
        "lone \ud800 surrogate",
        "x" * 100_000,
    ]
    for text in texts:
        store.add_message(sid, "user", text, intent={"query": text})
    got = store.history(sid)
    assert [m.text for m in got[:3]] == texts[:3] and got[5].text == texts[5]
    assert got[3].text == "nulbyte" and got[3].intent == {"query": "nul\x00byte"}  # JSON escapes it as \u0000
    with sqlite3.connect(db_path) as conn:
        assert (
            conn.execute(
                "SELECT count(*) FROM messages WHERE instr(text, char(0)) OR instr(intent, char(0))"
            ).fetchone()[0]
            == 0
        )
    assert got[4].text.startswith("lone ") and got[4].text.endswith(" surrogate")
    assert store.list_sessions("用户 🙂")[0].message_count == 6


@pytest.mark.parametrize("url", ["not a url", "nosuchdb://x/y", ""])
def test_bad_url_is_config_error(url):
    with pytest.raises(ConfigError, match="database URL"):
        Store(url)


def test_unreachable_sqlite_file_names_it(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError, match="a-file"):
        Store(f"sqlite:///{blocker}/sub/recsys.db")  # its folder cannot be created, even by root


def test_unreadable_sqlite_file_names_it(tmp_path):
    bogus = tmp_path / "garbage.db"
    bogus.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="garbage.db"):
        Store(f"sqlite:///{bogus}")


def test_server_url_error_is_clear_and_hides_password():
    url = "postgresql+psycopg://ann:s3cret-pw@127.0.0.1:9/recsys"  # port 9 (discard): nothing listens
    with pytest.raises((ConfigError, StoreError)) as info:
        Store(url)
    message = str(info.value)
    assert "s3cret-pw" not in message
    assert ("not installed" in message) if isinstance(info.value, ConfigError) else ("127.0.0.1:9" in message)


def test_threads_write_concurrently(store, db_path):
    user = store.ensure_user()
    sessions = [store.create_session(user) for _ in range(4)]  # 5 threads share each session: seq contention
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(20):
                turn(store, sessions[n % 4], f"thread {n} turn {i}", items=[(f"tt{n}-{i}", 1.0, "")])
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert count(db_path, "messages") == 800 and count(db_path, "recommendations") == 400
    for sid in sessions:
        assert [m.seq for m in store.history(sid)] == list(range(1, 201))
    assert store.integrity_check()


def test_store_module_imports_without_gradio():
    code = "import sys, recsys.storage.store; assert 'gradio' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_writes_take_the_lock_up_front_and_retry_when_locked(store, db_path, monkeypatch):
    import sqlalchemy
    from sqlalchemy.exc import OperationalError

    import recsys.storage.store as store_module

    seen: list[str] = []
    sqlalchemy.event.listen(store.engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    sid = store.create_session(store.ensure_user())
    store.get_session(sid)
    assert "BEGIN IMMEDIATE" in seen and "BEGIN" in seen  # writes: IMMEDIATE (busy_timeout applies); reads: plain

    real, calls = store_module.next_seq, []

    def flaky(s, session_id):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("SELECT ...", {}, sqlite3.OperationalError("database is locked"))
        return real(s, session_id)

    monkeypatch.setattr(store_module, "next_seq", flaky)
    turn(store, sid)
    assert len(calls) == 2 and count(db_path, "messages") == 2  # the failed try left nothing behind


def test_postgres_contract(pg_url):
    store = Store(pg_url)  # a throwaway server on loopback (tests/pg.py), or RECSYS_TEST_PG_URL when set
    user = store.ensure_user(f"pg-test-{os.getpid()}")
    sid = store.create_session(user)
    state = DialogueState(genres_include=("Comedy",))
    turn(store, sid, "nul\x00 中文 🎬 " + "x" * 100_000, state=state)
    with pytest.raises(StoreError):
        turn(store, sid, "again", items=[("tt1", 1.0, ""), ("tt1", 0.5, "")])
    info = store.get_session(sid)
    assert info.state == state and info.message_count == 2 and len(store.history(sid)[1].items) == 3
    store.add_feedback(sid, "tt1", True)
    store.forget_user(user)
    assert store.list_sessions(user) == [] and store.user_feedback(user) == [] and store.integrity_check()
    store.close()
