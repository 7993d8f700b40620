"""A lean client for a served page's HTTP API, for load tests and the server bench.

It speaks Gradio's documented curl protocol (POST /gradio_api/call/<api_name> gives an event id; GET
/gradio_api/call/<api_name>/<event_id> streams `generating` / `complete` / `error` events) over one keep-alive
httpx connection, with one session hash per client like a browser tab. gradio_client (which testers' replay
uses) polls for messages every 50 ms and opens a connection per call: fine for replaying dialogues, but on a
2-core machine that client-side cost lands in the server's latency figures, which this client avoids.
"""

from __future__ import annotations

import html
import json
import secrets
from collections.abc import Callable
from typing import Any

import httpx


class ApiError(RuntimeError):
    """The server answered a call with an error event, or not at all."""


def _find(result: Any, test: Callable[[Any], bool]) -> Any:
    """The first output of an endpoint's result that passes `test`, or None."""
    outputs = result if isinstance(result, (list, tuple)) else [result]
    return next((x for x in outputs if test(x)), None)


def _is_ids(x: Any) -> bool:
    """[user_id, session_id]: two non-empty strings."""
    return isinstance(x, list) and len(x) == 2 and all(isinstance(v, str) and v for v in x)


def _is_history(x: Any) -> bool:
    """A chat history: a list of {"role", "content"} messages."""
    return isinstance(x, list) and bool(x) and all(isinstance(m, dict) and "role" in m for m in x)


class PageClient:
    """One visitor's calls to a served page. Not thread-safe: one per thread, as one per browser tab."""

    def __init__(self, url: str, timeout_s: float = 120.0) -> None:
        self.url = url.rstrip("/") + "/gradio_api/call/"
        self.session_hash = secrets.token_hex(8)
        self._http = httpx.Client(timeout=timeout_s)

    def call(self, api_name: str, *data: Any) -> list:
        """Run one named endpoint to the end; its final outputs (the `complete` event's data)."""
        name = api_name.lstrip("/")
        try:
            body = json.dumps({"data": list(data), "session_hash": self.session_hash}, ensure_ascii=True)
            # ASCII escapes, as a browser's JSON.stringify: undecodable text (lone surrogates) still travels
            joined = self._http.post(self.url + name, content=body, headers={"content-type": "application/json"})
            joined.raise_for_status()
            event_id = joined.json()["event_id"]
            event, payload = "", None
            with self._http.stream("GET", f"{self.url}{name}/{event_id}") as stream:
                for line in stream.iter_lines():
                    if line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:") and event in ("complete", "error"):
                        payload = line[5:].strip()
                        break
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            raise ApiError(f"/{name}: {type(exc).__name__}: {exc}") from exc
        if event != "complete" or payload is None:
            raise ApiError(f"/{name} ended with {event or 'no event'}: {str(payload)[:200]}")
        return json.loads(payload)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> PageClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PageTurns:
    """One browser tab's turns as the page itself sends them: the echo (the browser's own, made here as its
    JavaScript makes it), then the turn and the side panels on the server.

    These events are private (the page triggers them, the API does not list them), so they are called the way the
    page's JavaScript calls them: by their index in /config, through the queue (/queue/join, then the session's
    /queue/data stream until the event completes). Each input gets what the page would send: the message (the
    hidden text the echo fills), the browser-stored ids, the chat history; server-side State is None.
    """

    STEPS = ("turn", "side_after_turn")  # the main box's server events (their api_name in /config)

    def __init__(self, url: str, ids: list, timeout_s: float = 120.0) -> None:
        self.base = url.rstrip("/") + "/gradio_api/"
        self.ids = ids
        self.session_hash = secrets.token_hex(8)
        self.history: list = []
        self._http = httpx.Client(timeout=timeout_s)
        config = self._http.get(url.rstrip("/") + "/config").json()
        types = {c["id"]: c.get("type") for c in config["components"]}
        deps = {d.get("api_name"): (i, d) for i, d in enumerate(config["dependencies"])}
        missing = [s for s in self.STEPS if s not in deps]
        if missing:
            raise ApiError(f"the page has no {', '.join(missing)} event (read from /config)")
        self.steps = {s: (deps[s][0], [types[x] for x in deps[s][1]["inputs"]]) for s in self.STEPS}

    def _data(self, step: str, text: str, history: list) -> list:
        kinds = {"textbox": text, "browserstate": self.ids, "chatbot": history}
        return [kinds.get(kind) for kind in self.steps[step][1]]  # State and anything else: None

    def _body(self, step: str, text: str, history: list) -> dict:
        index = self.steps[step][0]
        return {"data": self._data(step, text, history), "fn_index": index, "session_hash": self.session_hash}

    def _queued(self, step: str, text: str, history: list) -> list:
        joined = self._http.post(self.base + "queue/join", json=self._body(step, text, history))
        joined.raise_for_status()
        event_id = joined.json()["event_id"]
        with self._http.stream("GET", f"{self.base}queue/data?session_hash={self.session_hash}") as stream:
            for line in stream.iter_lines():
                if not line.startswith("data:"):
                    continue
                message = json.loads(line[5:])
                if message.get("event_id") == event_id and message.get("msg") == "process_completed":
                    if not message.get("success", True):
                        raise ApiError(f"{step} failed: {str(message.get('output'))[:200]}")
                    return message["output"]["data"]
        raise ApiError(f"{step}: the queue stream ended before the event completed")

    def turn(self, text: str) -> list:
        """One message: the echo, then its two server events in turn; returns the history after it."""
        say = lambda role, t: {"role": role, "metadata": None, "content": [{"type": "text", "text": t}]}  # noqa: E731
        history = [*self.history, say("user", html.escape(text, quote=False)), say("assistant", "…")]
        try:
            self.history = _find(self._queued("turn", text, history), _is_history) or history
            self._queued("side_after_turn", text, self.history)
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            raise ApiError(f"page turn: {type(exc).__name__}: {exc}") from exc
        return self.history

    def close(self) -> None:
        self._http.close()
