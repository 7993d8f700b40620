"""The page's plain-typed API endpoints (gradio_client drives every action by session or user id) and GET /healthz.

Without a login a session id or user id is the key to its data. With a login, ids are checked against the
account: another person's session is "not found" and another person's user id is refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import gradio as gr

from ..core.errors import SessionNotFound
from ..generation.late import state as generator_state
from .accounts import login_name, own_session, user_for
from .export import ExportFiles, export_text, session_json
from .html import item_id_of
from .views import taste_of

if TYPE_CHECKING:  # the page imports no model code: the engine loads after it is served
    from ..engine import Engine


class Endpoints:
    """The named endpoints besides the page's own (/send, /open_session, /new_session); each method is one."""

    def __init__(self, engine: Engine, exports: ExportFiles | None = None) -> None:
        """Endpoints over the engine; exports, when given, lose a forgotten person's files too."""
        self.engine = engine
        self.exports = exports

    def own(self, session_id: str, request: gr.Request | None) -> str:
        """The session id if the caller may use it, or a RecsysError Gradio reports to the caller."""
        return own_session(self.engine.store, session_id, login_name(request)).session_id

    def feedback(self, session_id: str, item_id: str, liked: bool, request: gr.Request) -> dict:
        """Like (true) or dislike (false) an item in a session; a disliked item never comes back."""
        state = self.engine.feedback(self.own(session_id, request), item_id, bool(liked))
        return {"liked_ids": list(state.liked_ids), "disliked_ids": list(state.disliked_ids)}

    def list_sessions(self, user_id: str, request: gr.Request) -> list[dict]:
        """A person's sessions, most recent first (with a login: the account's own; pass "" or the login name)."""
        return [
            {
                "session_id": s.session_id,
                "title": s.title,
                "messages": s.message_count,
                "updated_at": s.updated_at.isoformat(),
            }
            for s in self.engine.store.list_sessions(user_for(user_id, login_name(request)))
        ]

    def resume_session(self, session_id: str, request: gr.Request) -> dict:
        """A session's transcript and state (what the page shows when it is resumed)."""
        return session_json(self.engine, self.own(session_id, request))

    def rename_session(self, session_id: str, title: str, request: gr.Request) -> dict:
        """Give a session a new title."""
        session_id = self.own(session_id, request)
        self.engine.store.rename_session(session_id, " ".join(str(title).split())[:80] or "Untitled")
        return {"session_id": session_id, "title": self.engine.session(session_id).title}

    def delete_session(self, session_id: str, request: gr.Request) -> dict:
        """Delete a session with its messages and votes."""
        self.engine.store.delete_session(self.own(session_id, request))
        return {"deleted": session_id}

    def export_session(self, session_id: str, fmt: str = "markdown", request: gr.Request = None) -> str:
        """A session as Markdown ("markdown") or JSON text ("json"); no file is written."""
        return export_text(self.engine, self.own(session_id, request), fmt)

    def set_controls(
        self,
        session_id: str,
        count: int | None = None,
        mmr_lambda: float | None = None,
        year_min: int | None = None,
        year_max: int | None = None,
        genres_exclude: list[str] | None = None,
        request: gr.Request = None,
    ) -> dict:
        """Change the session's constraints as the page's controls do; omitted values stay."""
        given = {
            "count": count,
            "mmr_lambda": mmr_lambda,
            "year_min": year_min,
            "year_max": year_max,
            "genres_exclude": genres_exclude,
        }
        changes = {k: v for k, v in given.items() if v is not None}
        return self.engine.update_state(self.own(session_id, request), **changes).to_dict()

    def taste(self, session_id: str, request: gr.Request) -> dict:
        """The person's taste profile and votes."""
        profile = taste_of(self.engine, self.own(session_id, request))
        return {k: ([item_id_of(v) for v in val] if k in ("liked", "disliked") else val) for k, val in profile.items()}

    def forget_user(self, user_id: str, request: gr.Request) -> dict:
        """Delete everything about a person (with a login: the account's own data; pass "" or the login name)."""
        user_id = user_for(user_id, login_name(request))
        self.engine.store.forget_user(user_id)
        if self.exports is not None and user_id:
            self.exports.forget(user_id)
        return {"forgotten": True}


def add_api(engine: Engine, exports: ExportFiles | None = None) -> None:
    """Register every Endpoints method under its own name (call inside Blocks)."""
    api = Endpoints(engine, exports)
    for fn in (
        api.feedback,
        api.list_sessions,
        api.resume_session,
        api.rename_session,
        api.delete_session,
        api.export_session,
        api.set_controls,
        api.taste,
        api.forget_user,
    ):
        gr.api(fn, api_name=fn.__name__)


def health_routes(engine: Engine) -> list:
    """GET /healthz: JSON status for load balancers and uptime checks (503 while the engine loads, when it failed,
    or when the database does not answer)."""
    from fastapi.responses import JSONResponse
    from fastapi.routing import APIRoute

    def healthz() -> JSONResponse:
        """Catalog size, generator and a trivial database round trip."""
        try:
            engine.store.get_session("healthz-probe")  # a real indexed query; a full integrity check is too slow
            database = "ok"
        except SessionNotFound:
            database = "ok"  # the database answered
        except Exception as exc:  # report, never raise: this is what monitors read
            database = f"error: {type(exc).__name__}"
        engine_state = str(getattr(engine, "state", "ready"))  # "loading": the page is up, turns wait for it
        generator = engine.generator  # None while the engine itself loads
        name = engine.settings.generator if generator is None else getattr(generator, "name", type(generator).__name__)
        status = "degraded" if database != "ok" else "ok" if engine_state == "ready" else engine_state.split(":")[0]
        body = {
            "status": status,
            "engine_state": engine_state,
            "items": len(engine.catalog),
            "generator": name,
            "generator_state": generator_state(generator) if generator is not None else "loading",  # facts till then
            "database": database,
        }
        return JSONResponse(body, status_code=200 if status == "ok" else 503)

    return [APIRoute("/healthz", healthz, methods=["GET"])]
