"""Load (issue 7): 50 concurrent sessions x 20 turns with feedback, through the engine on SQLite and on PostgreSQL
(two engine instances sharing one database, as two replicas would), and a smaller run through the HTTP server.

Afterwards the database must hold exactly what the turns returned: no lost or duplicated messages, items shown or
feedback rows, message numbers 1..2n per session, and no "database is locked" error reaching anyone.
"""
from __future__ import annotations

import logging
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest
from sqlalchemy import create_engine, text

from recsys.engine import Engine
from tests.engine_fixtures import tiny_engine
from tests.pg import pg_server, pg_url  # noqa: F401  (fixtures)

SESSIONS = 50
TURNS = 20
SCRIPT = ["a funny sci-fi film", "something older", "more please", "a war drama", "start over",
          "a crime thriller from the 90s", "nothing with horror", "two more", "hello there", "start over"]


@dataclass
class Expected:
    """What one session's turns returned, to compare with what the database holds."""

    session_id: str
    turns: int = 0
    items: list[list[str]] = field(default_factory=list)  # item ids of each answer, in rank order
    feedback: int = 0
    errors: list[str] = field(default_factory=list)


def converse(engine: Engine, number: int, turns: int, start: threading.Barrier) -> Expected:
    """One person's conversation: `turns` turns, a like or dislike after every answer with items."""
    sid = engine.new_session(f"load-user-{number}")
    seen = Expected(sid)
    start.wait()  # every session starts at once
    for t in range(turns):
        try:
            done = list(engine.respond(sid, SCRIPT[(t + number) % len(SCRIPT)]))[-1]
            seen.turns += 1
            seen.items.append([r.item.item_id for r in done.items])
            if done.items:
                engine.feedback(sid, done.items[t % len(done.items)].item.item_id, liked=(t + number) % 2 == 0)
                seen.feedback += 1
        except Exception as exc:  # recorded, so one failure does not hide the others
            seen.errors.append(f"{type(exc).__name__}: {exc}")
    return seen


def run_load(engines: list[Engine], sessions: int = SESSIONS, turns: int = TURNS) -> list[Expected]:
    """`sessions` conversations at once, spread over the engines (sticky: one session, one engine)."""
    start = threading.Barrier(sessions)
    with ThreadPoolExecutor(max_workers=sessions) as pool:
        futures = [pool.submit(converse, engines[n % len(engines)], n, turns, start) for n in range(sessions)]
        return [f.result(timeout=600) for f in futures]


def check_database(url: str, results: list[Expected]) -> int:
    """Compare every table with what the turns returned; returns the number of rows checked."""
    assert [r.errors for r in results if r.errors] == []
    db = create_engine(url)
    try:
        with db.connect() as conn:
            rows = 0
            for seen in results:
                sid = {"sid": seen.session_id}
                messages = conn.execute(text("SELECT id, seq, role FROM messages WHERE session_id = :sid ORDER BY seq"),
                                        sid).all()
                assert [m.seq for m in messages] == list(range(1, 2 * seen.turns + 1)), "lost or duplicated messages"
                assert [m.role for m in messages] == ["user", "assistant"] * seen.turns
                shown = conn.execute(text("SELECT message_id, item_id FROM recommendations WHERE session_id = :sid "
                                          "ORDER BY message_id, rank"), sid).all()
                by_message: dict[int, list[str]] = {}
                for message_id, item_id in shown:
                    by_message.setdefault(message_id, []).append(item_id)
                assert [by_message.get(m.id, []) for m in messages if m.role == "assistant"] == seen.items
                votes = conn.execute(text("SELECT count(*) FROM feedback WHERE session_id = :sid"), sid).scalar()
                assert votes == seen.feedback, "lost or duplicated feedback"
                rows += len(messages) + len(shown) + votes
            totals = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar()
                      for t in ("sessions", "messages", "recommendations", "feedback")}
        assert totals["sessions"] == len(results)
        assert totals["messages"] == sum(2 * r.turns for r in results)
        assert totals["recommendations"] == sum(len(i) for r in results for i in r.items)
        assert totals["feedback"] == sum(r.feedback for r in results)
        return rows
    finally:
        db.dispose()


def locked_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Log records that report a lock error reaching a caller (retries that succeeded are WARNING, not ERROR)."""
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def test_50_sessions_x_20_turns_on_sqlite(caplog):
    engines = [tiny_engine(), tiny_engine()]  # two instances, two connection pools, one SQLite file
    results = run_load(engines)
    url = engines[0].store.url.render_as_string(hide_password=False)
    assert sum(r.turns for r in results) == SESSIONS * TURNS
    rows = check_database(url, results)
    assert rows > SESSIONS * TURNS * 2
    assert engines[0].store.integrity_check()
    assert locked_errors(caplog) == []
    retries = sum("database is locked" in r.getMessage() for r in caplog.records)
    print(f"sqlite: {SESSIONS}x{TURNS} turns, {rows} rows checked, {retries} lock retries")


def test_50_sessions_x_20_turns_on_postgres(pg_url, caplog):
    engines = [tiny_engine(db_url=pg_url), tiny_engine(db_url=pg_url)]  # two replicas on one PostgreSQL
    try:
        results = run_load(engines)
        assert sum(r.turns for r in results) == SESSIONS * TURNS
        rows = check_database(pg_url, results)
        assert rows > SESSIONS * TURNS * 2
        print(f"postgres: {SESSIONS}x{TURNS} turns, {rows} rows checked")
        assert engines[0].store.integrity_check()
        assert locked_errors(caplog) == []
    finally:
        for e in engines:
            e.store.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_one_session_double_submitted_on_two_instances(backend, request):
    """The same session sent turns by two instances at once (no sticky sessions): turns queue, none is lost."""
    url = request.getfixturevalue("pg_url") if backend == "postgres" else None
    engines = [tiny_engine(db_url=url), tiny_engine(db_url=url)]
    sid = engines[0].new_session()
    start = threading.Barrier(10)

    def one(n: int) -> int:
        start.wait()
        return len(list(engines[n % 2].respond(sid, SCRIPT[n % len(SCRIPT)])))

    with ThreadPoolExecutor(max_workers=10) as pool:
        assert all(n > 0 for n in pool.map(one, range(10)))
    history = engines[1].history(sid)
    assert [m.seq for m in history] == list(range(1, 21))
    assert Counter(m.role for m in history) == {"user": 10, "assistant": 10}
    for e in engines:
        e.store.close()


def test_instances_starting_at_once_on_postgres_migrate_once(pg_url):
    """Eight replicas starting together on an empty database: the migration lock lets exactly one create tables."""
    from recsys.store import MIGRATIONS, Store

    errors: list[str] = []
    stores: list[Store] = []

    def start() -> None:
        try:
            stores.append(Store(pg_url))
        except Exception as exc:
            errors.append(repr(exc))

    threads = [threading.Thread(target=start) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == [] and len(stores) == 8
    with stores[0].engine.connect() as conn:
        names = conn.execute(text("SELECT name FROM _migrations")).scalars().all()
    assert sorted(names) == sorted(m.__name__ for m in MIGRATIONS)
    for s in stores:
        s.close()


SERVER_SESSIONS = 50  # through HTTP: 50 at once x 2 turns (the engine runs do 50 x 20; 1,000 HTTP turns take minutes)
SERVER_TURNS = 2


@pytest.mark.ui
def test_concurrent_sessions_through_the_server():
    from gradio_client import Client

    from tests.test_app import HISTORY, send, serve_tiny
    from tests.test_hostile import page_reply

    with serve_tiny() as (engine, url):
        sids = [engine.new_session(f"http-user-{n}") for n in range(SERVER_SESSIONS)]
        start = threading.Barrier(SERVER_SESSIONS)

        def converse_http(n: int) -> list[str]:
            client = Client(url, verbose=False)
            ids = [engine.session(sids[n]).user_id, sids[n]]
            start.wait()
            replies = []
            for t in range(SERVER_TURNS):
                replies.append(page_reply(send(client, SCRIPT[(t + n) % len(SCRIPT)], ids)[HISTORY]))
            return replies

        with ThreadPoolExecutor(max_workers=SERVER_SESSIONS) as pool:
            replies = list(pool.map(converse_http, range(SERVER_SESSIONS)))
        assert all(len(r) == SERVER_TURNS and all(x.strip() and x != "…" for x in r) for r in replies)
        for sid, theirs in zip(sids, replies):
            history = engine.history(sid)
            assert [m.seq for m in history] == list(range(1, 2 * SERVER_TURNS + 1))
            # what the page showed is what was stored (the page escapes HTML, so compare the escaped text)
            import html

            shown = [html.escape(m.text, quote=False) for m in history if m.role == "assistant"]
            assert shown == theirs
        assert engine.store.integrity_check()
