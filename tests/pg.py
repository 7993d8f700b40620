"""A throwaway PostgreSQL server on loopback for the tests that must prove the multi-instance path is real.

    from tests.pg import pg_server, pg_url   # fixtures: import them into a test module
    def test_x(pg_url): Store(pg_url) ...    # a fresh, empty database per test

`RECSYS_TEST_PG_URL` (a scratch server's SQLAlchemy URL) is used when set. Otherwise Debian's server binaries
(`bash scripts/setup.sh --dev` installs the `postgresql` package) start one cluster per test session in a temp
folder, bound to 127.0.0.1 on a free port, with trust auth for a local role, and it is stopped and deleted after.
PostgreSQL refuses to run as root, so as root the cluster runs as the `postgres` user (or `nobody`).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROLE = "recsys"  # the superuser initdb creates; trust auth on loopback only
START_TIMEOUT_S = 60  # initdb + start on a loaded 2-core CI box take a few seconds; this is the ceiling


def pg_bindir() -> Path | None:
    """The folder with initdb and pg_ctl (Debian puts them under /usr/lib/postgresql/<v>/bin), or None."""
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    return Path(versions[-1]).parent if versions else None


def _free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _runner() -> tuple[list[str], int | None, int | None]:
    """(command prefix, uid, gid) to run the server binaries as an unprivileged user when we are root."""
    if os.geteuid() != 0:
        return [], None, None
    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return ["runuser", "-u", name, "--"], entry.pw_uid, entry.pw_gid
    raise RuntimeError("running as root and neither a 'postgres' nor a 'nobody' user exists to run PostgreSQL")


class PgServer:
    """A running throwaway cluster; `database()` makes a fresh empty database and returns its URL."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.prefix, uid, gid = _runner()
        self.root = Path(tempfile.mkdtemp(prefix="recsys-pg-"))  # not under pytest's root-only tmp folders
        self.data = self.root / "data"
        self.port = _free_port()
        if uid is not None:
            os.chown(self.root, uid, gid)
        self._run("initdb", "-D", str(self.data), "-U", ROLE, "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
        # Loopback TCP only, the socket in our own folder, fsync off: a test cluster need not survive power cuts.
        options = f"-h 127.0.0.1 -p {self.port} -k {self.root} -F -c max_connections=200"
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.root / "server.log"),
            "-w",
            "-t",
            str(START_TIMEOUT_S),
            "start",
        )
        self.admin_url = f"postgresql+psycopg://{ROLE}@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        """Run a server binary as the unprivileged user; RuntimeError with its output if it fails."""
        cmd = [*self.prefix, str(self.bindir / tool), *args]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=START_TIMEOUT_S + 30, cwd=self.root)
        if done.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr or done.stdout}\n{tail}")

    def database(self) -> str:
        """A new empty database's SQLAlchemy URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user={ROLE} dbname=postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://{ROLE}@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        """Stop the cluster at once and delete its folder."""
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


class ScratchServer:
    """RECSYS_TEST_PG_URL's server: each test gets a fresh database created on it."""

    def __init__(self, url: str) -> None:
        self.url = url

    def database(self) -> str:
        """A new empty database on the scratch server (its URL with the database name replaced)."""
        import psycopg
        from sqlalchemy.engine import make_url

        base = make_url(self.url)
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(
            host=base.host,
            port=base.port,
            user=base.username,
            password=base.password,
            dbname=base.database or "postgres",
            autocommit=True,
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return base.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer | ScratchServer]:
    """One PostgreSQL for the whole test session; skipped with the reason when none can be had."""
    scratch = os.environ.get("RECSYS_TEST_PG_URL")
    if scratch:
        yield ScratchServer(scratch)
        return
    bindir = pg_bindir()
    if bindir is None:
        pytest.skip(
            "PostgreSQL server binaries (initdb, pg_ctl) not found: `bash scripts/setup.sh --dev` installs "
            "Debian's postgresql, or set RECSYS_TEST_PG_URL to a scratch server"
        )
    server = PgServer(bindir)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture()
def pg_url(pg_server: PgServer | ScratchServer) -> str:
    """A fresh, empty PostgreSQL database for one test (SQLAlchemy URL, psycopg 3 driver)."""
    return pg_server.database()
