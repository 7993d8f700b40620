"""Load: 50 concurrent sessions x 20 turns with feedback, through the engine on SQLite and on PostgreSQL
(two engine instances sharing one database, as two replicas would), and through the served page over HTTP.

Afterwards the database must hold exactly what the turns returned: no lost or duplicated messages, items shown or
feedback rows, message numbers 1..2n per session, and no "database is locked" error reaching anyone.
"""

from __future__ import annotations

import html
import logging
import re
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest
from sqlalchemy import create_engine, text

from recsys.bench.page_client import PageClient
from recsys.engine import Engine
from tests.engine_fixtures import tiny_engine
from tests.pg import pg_server, pg_url  # noqa: F401  (fixtures)
from tests.test_app import HISTORY
from tests.visitors import visit_at_once

SESSIONS = 50
TURNS = 20
SCRIPT = [
    "a funny sci-fi film",
    "something older",
    "more please",
    "a war drama",
    "start over",
    "a crime thriller from the 90s",
    "nothing with horror",
    "two more",
    "hello there",
    "start over",
]


@dataclass
class Expected:
    """What one session's turns returned, to compare with what the database holds."""

    session_id: str
    turns: int = 0
    items: list[list[str]] = field(default_factory=list)  # item ids of each answer, in rank order
    feedback: int = 0
    errors: list[str] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)  # through HTTP: the answers as the page showed them


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
                messages = conn.execute(
                    text("SELECT id, seq, role FROM messages WHERE session_id = :sid ORDER BY seq"), sid
                ).all()
                assert [m.seq for m in messages] == list(range(1, 2 * seen.turns + 1)), "lost or duplicated messages"
                assert [m.role for m in messages] == ["user", "assistant"] * seen.turns
                shown = conn.execute(
                    text(
                        "SELECT message_id, item_id FROM recommendations WHERE session_id = :sid "
                        "ORDER BY message_id, rank"
                    ),
                    sid,
                ).all()
                by_message: dict[int, list[str]] = {}
                for message_id, item_id in shown:
                    by_message.setdefault(message_id, []).append(item_id)
                assert [by_message.get(m.id, []) for m in messages if m.role == "assistant"] == seen.items
                votes = conn.execute(text("SELECT count(*) FROM feedback WHERE session_id = :sid"), sid).scalar()
                assert votes == seen.feedback, "lost or duplicated feedback"
                rows += len(messages) + len(shown) + votes
            totals = {
                t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar()
                for t in ("sessions", "messages", "recommendations", "feedback")
            }
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
    from recsys.storage.db import MIGRATIONS
    from recsys.storage.store import Store

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


CARD_ID = re.compile(r'data-item-id="([^"]+)"')


def converse_http(url: str, sid: str, ids: list[str], number: int, turns: int, start: threading.Barrier) -> Expected:
    """One visitor through the served page's API, as the page sends it (its history goes back each turn): a turn,
    then a like or dislike of one of the cards it showed, read from the cards' HTML."""
    from tests.test_hostile import page_reply

    seen, history = Expected(sid), []
    with PageClient(url) as client:
        start.wait()
        for t in range(turns):
            try:
                result = client.call("send", SCRIPT[(t + number) % len(SCRIPT)], ids, history)
                history = result[HISTORY]
                seen.turns += 1
                seen.replies.append(page_reply(history))
                # the cards show this answer's films when it has a why-panel (it ends the history); otherwise
                # they are the earlier answer's, sent again unchanged
                answered = bool(history and history[-1].get("metadata"))
                items = (
                    [m.group(1) for out in result if isinstance(out, str) for m in CARD_ID.finditer(out)]
                    if answered
                    else []
                )
                seen.items.append(items)
                if items:
                    client.call("feedback", sid, items[t % len(items)], (t + number) % 2 == 0)
                    seen.feedback += 1
            except Exception as exc:
                seen.errors.append(f"{type(exc).__name__}: {exc}")
    return seen


@pytest.mark.ui
def test_50_sessions_x_20_turns_through_the_server(caplog):
    """The same load through HTTP on loopback: the served page on SQLite, 50 visitors at once, 20 turns each. The
    visitors run in another process, as browsers would: sharing the server's interpreter lock would slow both."""
    from tests.test_app import serve_tiny

    with serve_tiny() as (engine, url):
        sids = [engine.new_session(f"http-user-{n}") for n in range(SESSIONS)]
        results = visit_at_once(
            converse_http, [(url, sid, [engine.session(sid).user_id, sid], n, TURNS) for n, sid in enumerate(sids)]
        )
        assert sum(r.turns for r in results) == SESSIONS * TURNS
        assert sum(r.feedback for r in results) > SESSIONS * TURNS // 5  # the script asks for films every other turn
        rows = check_database(engine.store.url.render_as_string(hide_password=False), results)
        for seen in results:  # what the page showed is what was stored (the page escapes HTML)
            stored = [
                html.escape(m.text, quote=False) for m in engine.history(seen.session_id) if m.role == "assistant"
            ]
            assert stored == seen.replies
        assert engine.store.integrity_check()
        assert locked_errors(caplog) == []
        print(f"http: {SESSIONS}x{TURNS} turns, {rows} rows checked")
