"""Crash safety: the real app (`python app.py`) is killed with SIGKILL in the middle of turns and restarted.

The server runs as a subprocess on loopback over the tiny catalog with the real embedding model; its generator is a
fake OpenAI-compatible server in this test process (the app's own http backend), so the test decides exactly when
a turn is mid-generation. After each kill: SQLite's integrity check passes, every turn a client saw finish is
stored whole, no half turn is stored, and the session resumes with its constraints.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from recsys.storage.store import Store
from tests.conftest import REPO, SHARED_CACHE
from tests.pg import pg_server, pg_url  # noqa: F401  (fixtures)

pytestmark = pytest.mark.ui
CATALOG = REPO / "data" / "catalogs" / "tiny.jsonl"
READY_TIMEOUT_S = 180  # import gradio + load the embedding model on a busy 2-core box
BURST_CLIENTS = 3
CANARY = "crash-canary-8812"  # in a message: the app's INFO log must not carry it


class FakeLLM:
    """An OpenAI-compatible chat server on loopback; `hold` makes every stream stop after its first word and wait."""

    def __init__(self) -> None:
        self.hold = threading.Event()
        self.started = threading.Event()  # set when a stream is under way
        self.release = threading.Event()
        llm = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                self._send_json({"data": [{"id": "fake"}]})

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                try:
                    for i, word in enumerate(["A ", "tight, ", "well-made ", "pick ", "for ", "tonight."]):
                        chunk = {"choices": [{"delta": {"content": word}}]}
                        self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                        self.wfile.flush()
                        llm.started.set()
                        if i == 0 and llm.hold.is_set():
                            llm.release.wait(60)
                        time.sleep(0.01)
                    self.wfile.write(b"data: [DONE]\n\n")
                except OSError:
                    pass  # the app was killed mid-stream

            def _send_json(self, data: dict) -> None:
                body = json.dumps(data).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        """Stop serving (and free any held stream)."""
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def app_process(home: Path, llm: FakeLLM, port: int, db_url: str) -> Iterator[subprocess.Popen]:
    """`python app.py` on loopback, yielded once it answers HTTP; SIGKILLed on exit if still alive."""
    env = {
        **os.environ,
        "RECSYS_HOME": str(home),
        "RECSYS_CACHE_DIR": str(SHARED_CACHE),
        "HF_HUB_OFFLINE": "1",
        "RECSYS_GENERATOR_MODEL": "fake",
        "RECSYS_DB_URL": db_url,
        "RECSYS_HEAD": "none",
    }  # the personal head is not what this test is about
    log = (home / f"app-{port}.log").open("ab")
    proc = subprocess.Popen(
        [
            sys.executable,
            str(REPO / "app.py"),
            "--catalog",
            str(CATALOG),
            "--model",
            llm.url,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_ready(proc, port, home)
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
        log.close()


def wait_ready(proc: subprocess.Popen, port: int, home: Path) -> None:
    """Poll until the app accepts connections; fail with its log if it exits or never does."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"app exited with {proc.returncode}:\n" + (home / f"app-{port}.log").read_text()[-3000:])
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                time.sleep(0.5)  # the socket opens just before Gradio's routes are mounted
                return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"app did not start in {READY_TIMEOUT_S} s:\n" + (home / f"app-{port}.log").read_text()[-3000:])


def sigkill(proc: subprocess.Popen) -> None:
    """SIGKILL the app's whole process group and reap it."""
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(30)


def check_db(url: str) -> dict[str, int]:
    """Integrity (SQLite's own check), whole turns only, numbering without gaps; returns messages per session."""
    if url.startswith("sqlite"):
        with sqlite3.connect(url.split("///", 1)[1]) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    db = create_engine(url)
    try:
        with db.connect() as conn:
            rows = conn.execute(text("SELECT session_id, count(*), max(seq) FROM messages GROUP BY session_id")).all()
            orphans = conn.execute(
                text(
                    "SELECT count(*) FROM recommendations r LEFT JOIN messages m "
                    "ON m.id = r.message_id WHERE m.id IS NULL"
                )
            ).scalar()
    finally:
        db.dispose()
    assert orphans == 0
    for sid, n, top in rows:
        assert n == top and n % 2 == 0, f"session {sid[:6]}: {n} messages, last seq {top} (a half turn)"
    return {sid: n for sid, n, _ in rows}


def send(client, ids: list[str], text: str) -> str:
    """One turn through the API; the reply as the page shows it."""
    from tests.test_app import HISTORY
    from tests.test_app import send as app_send
    from tests.test_hostile import page_reply

    return page_reply(app_send(client, text, ids)[HISTORY])


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_sigkill_mid_turn_then_restart(recsys_home, backend, request):
    """SQLite: a kill mid-turn, a restart, a kill during a burst, a restart. PostgreSQL (the multi-instance
    path): the first kill and restart only, to keep CI time down."""
    from gradio_client import Client

    llm = FakeLLM()
    db = request.getfixturevalue("pg_url") if backend == "postgres" else f"sqlite:///{recsys_home / 'recsys.db'}"
    port = free_port()
    finished: dict[str, int] = {}
    crashes = 0
    try:
        # 1. three committed turns, then a fourth held mid-generation and the process killed under it
        with app_process(recsys_home, llm, port, db) as proc:
            store = Store(db)  # a second process on the same file, as an admin tool would be
            sid = store.create_session(store.ensure_user())
            ids = [store.get_session(sid).user_id, sid]
            client = Client(f"http://127.0.0.1:{port}/", verbose=False)
            for text in [f"a funny film, nothing with horror {CANARY}", "a comedy", "more please"]:
                assert send(client, ids, text).strip()
            committed = [(m.role, m.text) for m in store.history(sid)]
            llm.hold.set()
            llm.started.clear()
            client.submit("a war drama", ids, [], [], {}, api_name="/send")  # as tests.test_app.send does
            if not llm.started.wait(120):
                pytest.fail(
                    "the held turn never reached the generator; stored: "
                    f"{[(m.role, m.text[:80]) for m in store.history(sid)]}; app log: "
                    + (recsys_home / f"app-{port}.log").read_text()[-1500:]
                )
            sigkill(proc)
            crashes += 1
            store.close()
        llm.hold.clear()
        llm.release.set()
        assert check_db(db)[sid] == 6
        # 2. restart: the committed turns are there, the killed one is not, the session resumes with its state
        with app_process(recsys_home, llm, port, db) as proc:
            store = Store(db)
            assert [(m.role, m.text) for m in store.history(sid)] == committed
            assert "Horror" in store.get_session(sid).state.genres_exclude  # the constraint survived
            client = Client(f"http://127.0.0.1:{port}/", verbose=False)
            from tests.test_app import CONSTRAINTS
            from tests.test_app import send as app_send

            result = app_send(client, "one more please", ids)
            assert "no Horror" in result[CONSTRAINTS]
            assert len(store.history(sid)) == 8
            if backend != "sqlite":
                store.close()
                return
            # 3. a burst of turns from several clients, killed at a random moment (seeded)
            sids = [store.create_session(store.ensure_user()) for _ in range(BURST_CLIENTS)]
            finished: dict[str, int] = {s: 0 for s in sids}  # turns each client saw complete

            def chat(s: str) -> None:
                c = Client(f"http://127.0.0.1:{port}/", verbose=False)
                them = [store.get_session(s).user_id, s]
                try:
                    for t in range(50):
                        send(c, them, ["a crime thriller", "a comedy", "start over", "a western"][t % 4])
                        finished[s] += 1
                except Exception:
                    return  # the server died under this client

            threads = [threading.Thread(target=chat, args=(s,), daemon=True) for s in sids]
            for t in threads:
                t.start()
            deadline = time.monotonic() + 120
            while sum(finished.values()) < 2 * BURST_CLIENTS and time.monotonic() < deadline:
                time.sleep(0.05)  # let every client get going, then kill at a seeded random moment
            time.sleep(random.Random(7).uniform(0.0, 1.0))
            sigkill(proc)
            crashes += 1
            for t in threads:
                t.join(60)
            store.close()
        counts = check_db(db)
        for s in sids:
            stored = counts.get(s, 0) // 2
            # every turn a client saw finish is stored; at most the one in flight committed without the client seeing it
            assert finished[s] <= stored <= finished[s] + 1, (finished[s], stored)
        assert sum(finished.values()) > 0, "the burst finished no turn before the kill"
        # 4. and the app comes back once more over the same file
        with app_process(recsys_home, llm, port, db):
            client = Client(f"http://127.0.0.1:{port}/", verbose=False)
            assert send(client, ids, "a comedy").strip()
        assert check_db(db)[sid] == 10
        logs = "".join(p.read_text(errors="replace") for p in recsys_home.glob("app-*.log"))
        assert "ready" in logs and CANARY not in logs and sid not in logs  # INFO logs: no words, no whole ids
    finally:
        llm.close()
    print(f"crashes survived: {crashes}; burst turns committed before the kill: {sum(finished.values())}")
