"""Who is who and who may touch what: login accounts (--auth, --auth-file, RECSYS_AUTH) with a constant-time
check, and the ownership rules the page and the API apply to the user and session ids a client sends.

Gradio-free: the page's handlers pass the logged-in name (login_name of their gr.Request, None without a login).
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from ..core.errors import ConfigError, RecsysError, SessionNotFound
from ..storage.rows import SessionInfo
from ..storage.store import Store

LOGIN_PREFIX = "auth:"  # a login's user id is "auth:<name>"; ":" never occurs in a minted id, so they cannot clash
MINTED_ID = re.compile(r"[A-Za-z0-9_-]{22,64}")  # Store.ensure_user's ids: secrets.token_urlsafe(16), 128 bits


def parse_accounts(spec: str = "", file: str | None = None) -> list[tuple[str, str]]:
    """Login accounts from "user:pass[,user:pass...]" and/or a file of user:pass lines; ConfigError on a bad one."""
    entries = [
        (f"--auth / RECSYS_AUTH entry {n}", e.strip()) for n, e in enumerate(spec.split(","), start=1) if e.strip()
    ]
    if file:
        try:
            lines = Path(file).expanduser().read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ConfigError(f"cannot read the auth file {file}: {exc.strerror or exc}") from None
        entries += [
            (f"{file} line {n}", line.strip())
            for n, line in enumerate(lines, start=1)
            if line.strip() and not line.lstrip().startswith("#")
        ]
    accounts: dict[str, str] = {}
    for where, entry in entries:
        user, sep, password = entry.partition(":")
        if not sep or not user.strip() or not password:
            raise ConfigError(f"{where}: a login must look like user:password")  # never echo the password
        if user.strip() in accounts:
            raise ConfigError(f"{where}: user {user.strip()!r} is listed twice")
        accounts[user.strip()] = password
    return list(accounts.items())


def login_check(accounts: Sequence[tuple[str, str]]) -> Callable[[str, str], bool]:
    """Gradio's auth callable: True for a listed user with their password (compared in constant time)."""
    known = {user: password.encode("utf-8") for user, password in accounts}

    def check(username: str, password: str) -> bool:
        """Whether this login may enter."""
        matches = hmac.compare_digest(str(password).encode("utf-8", "replace"), known.get(username, b""))
        return matches and username in known  # passwords are never empty, so b"" matches no real login

    return check


def login_name(request: object) -> str | None:
    """The logged-in account's name from a Gradio request, or None without a login (or outside a request)."""
    return getattr(request, "username", None)


def saved_ids(saved: object) -> tuple[object, object]:
    """The browser's [user_id, session_id], whatever shape the client sent (both are only claims)."""
    pair = (list(saved) if isinstance(saved, (list, tuple)) else []) + ["", ""]
    return pair[0], pair[1]


def login_user(username: str | None) -> str | None:
    """The user id of the logged-in account ("auth:<name>"), or None when the app runs without a login."""
    return f"{LOGIN_PREFIX}{username}" if username else None


def owner_of(store: Store, claimed: object, username: str | None) -> str | None:
    """Whose page this is. With a login: the account's id, whatever the client sends. Without: the browser's id
    only if it is one we minted and it exists; otherwise None, and the caller mints a fresh one (nobody can claim
    "alice" or another login's id by sending it)."""
    login = login_user(username)
    if login:
        return login
    if isinstance(claimed, str) and MINTED_ID.fullmatch(claimed) and store.has_user(claimed):
        return claimed
    return None


def own_session(store: Store, session_id: object, username: str | None) -> SessionInfo:
    """The session, if the caller may use it: without a login its id is the key; with one, only the owner's.
    Someone else's session raises the same SessionNotFound as a missing one, so nothing tells them apart."""
    info = store.get_session(session_id)  # type: ignore[arg-type]  # the store refuses non-str ids as not found
    login = login_user(username)
    if login and info.user_id != login:
        raise SessionNotFound(f"no session {str(session_id)[:8]!r}")
    return info


def user_for(claimed: object, username: str | None) -> str:
    """The user id an API call may act on: with a login, the caller's own (naming anyone else is refused)."""
    login = login_user(username)
    if login is None:
        return claimed if isinstance(claimed, str) else ""
    if claimed not in ("", None, login, username):
        raise RecsysError("you can only see or change your own data")
    return login
