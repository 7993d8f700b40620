"""A session exported as Markdown or JSON (the page's download buttons and the export_session API), and the
record of which export files each person was handed, so "forget me" can delete them at once."""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the page imports no model code: the engine loads after it is served
    from ..engine import Engine


def session_json(engine: Engine, session_id: str) -> dict:
    """A session as plain data: metadata, dialogue state, messages with the items shown."""
    info = engine.session(session_id)
    messages = []
    for row in engine.history(session_id):
        items = []
        for shown in row.items:
            item = engine.catalog.get(shown.item_id)
            items.append(
                {
                    "item_id": shown.item_id,
                    "rank": shown.rank,
                    "score": shown.score,
                    "reason": shown.reason,
                    "title": item.title if item else None,
                    "year": item.year if item else None,
                }
            )
        messages.append(
            {
                "role": row.role,
                "text": row.text,
                "intent": row.intent,
                "created_at": row.created_at.isoformat(),
                "items": items,
            }
        )
    return {
        "session_id": info.session_id,
        "title": info.title,
        "created_at": info.created_at.isoformat(),
        "updated_at": info.updated_at.isoformat(),
        "state": info.state.to_dict(),
        "messages": messages,
    }


def session_markdown(engine: Engine, session_id: str) -> str:
    """A session as a readable Markdown transcript."""
    data = session_json(engine, session_id)
    out = [f"# {data['title']}", "", f"_exported from recsys; started {data['created_at'][:16]} UTC_", ""]
    for m in data["messages"]:
        out += [f"**{'You' if m['role'] == 'user' else 'recsys'}:** {m['text']}", ""]
        for it in m["items"]:
            year = f" ({it['year']})" if it["year"] else ""
            reason = f" — {it['reason']}" if it["reason"] else ""
            out.append(f"{it['rank']}. {it['title'] or it['item_id']}{year}{reason}")
        if m["items"]:
            out.append("")
    return "\n".join(out)


def export_text(engine: Engine, session_id: str, fmt: str) -> str:
    """A session as Markdown ("markdown") or JSON ("json") text."""
    if fmt == "json":
        return json.dumps(session_json(engine, session_id), ensure_ascii=False, indent=2)
    return session_markdown(engine, session_id)


def write_export(engine: Engine, session_id: str, fmt: str, folder: Path) -> Path:
    """Write one export (fmt "markdown" or "json") into a fresh private subfolder of folder; returns its path."""
    slug = re.sub(r"[^a-z0-9]+", "-", engine.session(session_id).title.lower()).strip("-")[:40] or "conversation"
    folder.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(dir=folder)) / f"{slug}.{'json' if fmt == 'json' else 'md'}"
    path.write_text(export_text(engine, session_id, fmt), encoding="utf-8")
    return path


class ExportFiles:
    """Export files handed to each person, so "forget me" deletes them at once (the web server's cache ages out
    the rest)."""

    def __init__(self) -> None:
        """No files handed out yet."""
        self._paths: dict[str, set[str]] = {}  # user_id -> files in the server's cache
        self._guard = threading.Lock()

    def add(self, user_id: str, path: str) -> None:
        """Remember a file given to a person (files already aged out are dropped, so this stays small)."""
        with self._guard:
            if len(self._paths) > 1000:  # now and then, drop people whose files the server has aged out
                self._paths = {u: ps for u, ps in self._paths.items() if any(os.path.exists(p) for p in ps)}
            kept = {p for p in self._paths.get(user_id, ()) if os.path.exists(p)}
            self._paths[user_id] = kept | {path}

    def forget(self, user_id: str, caches: Sequence[set] = ()) -> int:
        """Delete every export file of a person (and their private folders); returns how many there were.
        caches: the server's records of its cached files (Gradio's temp_files), so it never ages out a deleted one."""
        with self._guard:
            paths = self._paths.pop(user_id, set())
        for path in paths:
            for cache in caches:
                cache.discard(path)
            Path(path).unlink(missing_ok=True)
            try:
                Path(path).parent.rmdir()
            except OSError:
                pass  # not empty (another export with the same content) or already gone
        return len(paths)
