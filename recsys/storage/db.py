"""The database under the Store: the SQLAlchemy tables, their migrations, and connecting to a URL.

    engine = make_engine(parse_url("sqlite:///recsys.db"))  # SQLite pragmas, or pre-ping for servers
    migrate(engine)                                         # create or upgrade the tables, once per database

Kept apart from store.py, which is the API callers use (short transactions, frozen rows back).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    func,
    insert,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.pool import StaticPool

from ..core.errors import ConfigError, StoreError

DEFAULT_TITLE = "New chat"


def now() -> datetime:
    """Current UTC time (timezone-aware)."""
    return datetime.now(UTC)


# --- schema -----------------------------------------------------------------------------------------------------
class Base(DeclarativeBase):
    """Declarative base of the recsys tables."""

    # Named constraints, so a later migration can drop or alter one by name on any backend.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class DbUser(Base):
    """A person (or a browser, for anonymous use)."""

    __tablename__ = "users"
    user_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class DbSession(Base):
    """One chat, with its dialogue state."""

    __tablename__ = "sessions"
    session_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.user_id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(Text, default=DEFAULT_TITLE)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    state: Mapped[str] = mapped_column(Text, default="{}")  # DialogueState.to_dict() as JSON


class DbMessage(Base):
    """One message; seq numbers it within its session."""

    __tablename__ = "messages"
    # The unique (session_id, seq) index also serves the session_id foreign key.
    __table_args__ = (
        UniqueConstraint("session_id", "seq"),
        CheckConstraint("role IN ('user', 'assistant')", name="role"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.session_id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)  # 1, 2, 3... within the session
    role: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    intent: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON of the parsed Intent (user messages)
    timings: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON {stage: ms} (assistant messages)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class DbShown(Base):
    """An item shown in an assistant message."""

    __tablename__ = "recommendations"
    # An item is shown once per answer; ranks are 1..k. These unique indexes also serve the message_id key.
    __table_args__ = (UniqueConstraint("message_id", "item_id"), UniqueConstraint("message_id", "rank"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.session_id", ondelete="CASCADE"), index=True)
    item_id: Mapped[str] = mapped_column(String(255))
    rank: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    # Why it ranked (explain/evidence.py Evidence.to_dict() as JSON); NULL for rows stored before m002.
    evidence: Mapped[str | None] = mapped_column(Text, nullable=True, default=None)


class DbFeedback(Base):
    """A like or dislike of an item."""

    __tablename__ = "feedback"
    __table_args__ = (CheckConstraint("source IN ('button', 'words')", name="source"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.session_id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.user_id", ondelete="CASCADE"), index=True)
    item_id: Mapped[str] = mapped_column(String(255))
    liked: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class DbMigration(Base):
    """A migration already applied."""

    __tablename__ = "_migrations"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    applied_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


# --- connecting ---------------------------------------------------------------------------------------------------
def parse_url(url: str) -> URL:
    """A SQLAlchemy URL, or ConfigError saying what is wrong with it."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise ConfigError(f"database URL is not valid (expected e.g. sqlite:///path/to/file.db): {exc}") from None
    try:
        parsed.get_dialect()
    except NoSuchModuleError:
        raise ConfigError(
            f"database URL {parsed.render_as_string(hide_password=True)!r}: unknown database kind {parsed.drivername!r}"
        ) from None
    return parsed


def make_engine(url: URL, is_sqlite: bool) -> Engine:
    """An engine with the SQLite pragmas or server pre-ping; ConfigError if the driver is not installed."""
    kwargs: dict[str, Any] = {"pool_pre_ping": not is_sqlite}
    memory = is_sqlite and url.database in (None, "", ":memory:")
    if memory:  # one shared connection, or every thread would see its own empty database
        kwargs.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
    elif is_sqlite:
        kwargs["connect_args"] = {"timeout": 10}  # seconds; covers the pragmas run at connect
        try:
            Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"could not create the folder for database file {url.database}: {exc}") from None
    try:
        engine = create_engine(url, **kwargs)
    except ImportError as exc:
        raise ConfigError(
            f"database URL {url.render_as_string(hide_password=True)!r} needs the Python module "
            f"{exc.name!r}, which is not installed (for PostgreSQL: pip install 'psycopg[binary]')"
        ) from None
    if is_sqlite:
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    """Per-connection SQLite settings; SQLAlchemy, not sqlite3, then decides when transactions begin."""
    dbapi_connection.isolation_level = None  # sqlite3 would otherwise skip BEGIN before DDL and commit implicitly
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=10000")  # ms to wait for another writer before "database is locked"
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer, nor it them
    cursor.execute("PRAGMA synchronous=NORMAL")  # safe with WAL; a power cut loses at most the last commits
    cursor.execute("PRAGMA foreign_keys=ON")  # enforce the references and ON DELETE CASCADE
    cursor.execute("PRAGMA secure_delete=ON")  # deleted rows ("forget me") are zeroed, not left in free pages
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    """BEGIN IMMEDIATE for writes (take the write lock first, so busy_timeout applies); plain BEGIN for reads."""
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("recsys_immediate") else "BEGIN")


# --- migrations (simonw/llm style): append new functions, never edit applied ones -------------------------------
# m001 creates the tables as the models above define them, so a fresh database starts at the newest schema; a later
# migration must therefore check before it changes anything (e.g. add a column only if inspect() does not list it).
def m001_initial(conn: Connection) -> None:
    """Users, sessions, messages, recommendations and feedback, with their indexes."""
    Base.metadata.create_all(conn)


def m002_recommendation_evidence(conn: Connection) -> None:
    """recommendations.evidence: the evidence of why each shown item ranked (JSON text, nullable)."""
    if "evidence" not in {c["name"] for c in inspect(conn).get_columns("recommendations")}:
        conn.execute(text("ALTER TABLE recommendations ADD COLUMN evidence TEXT"))


MIGRATIONS: list[Callable[[Connection], None]] = [m001_initial, m002_recommendation_evidence]


MIGRATION_LOCK = 0x7265637379  # PostgreSQL advisory lock key ("recsy"): one migrating instance at a time


def migrate(engine: Engine) -> list[str]:
    """Apply the migrations not yet recorded in _migrations, each in its own transaction; returns their names.

    Several instances may start at once. SQLite serialises them with BEGIN IMMEDIATE; on PostgreSQL a session-level
    advisory lock does, because CREATE TABLE IF NOT EXISTS is not safe against a concurrent CREATE there."""
    if engine.dialect.name != "postgresql":
        return _apply_migrations(engine)
    with engine.connect() as guard:  # held apart from the migrations' own transactions
        guard.execute(select(func.pg_advisory_lock(MIGRATION_LOCK)))
        guard.commit()
        try:
            return _apply_migrations(engine)
        finally:
            guard.execute(select(func.pg_advisory_unlock(MIGRATION_LOCK)))
            guard.commit()


def _apply_migrations(engine: Engine) -> list[str]:
    """The body of migrate, run while holding its lock."""
    with engine.begin() as conn:
        DbMigration.__table__.create(conn, checkfirst=True)
    applied = []
    for migration in MIGRATIONS:
        with engine.begin() as conn:  # BEGIN IMMEDIATE on SQLite: two processes starting at once apply it once
            done = conn.scalar(select(DbMigration.name).where(DbMigration.name == migration.__name__))
            if done is None:
                migration(conn)
                conn.execute(insert(DbMigration).values(name=migration.__name__, applied_at=now()))
                applied.append(migration.__name__)
    return applied
