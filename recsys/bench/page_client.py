"""A lean client for a served page's HTTP API, for load tests and the server bench.

It speaks Gradio's documented curl protocol (POST /gradio_api/call/<api_name> gives an event id; GET
/gradio_api/call/<api_name>/<event_id> streams `generating` / `complete` / `error` events) over one keep-alive
httpx connection, with one session hash per client like a browser tab. gradio_client (which testers' replay
uses) polls for messages every 50 ms and opens a connection per call: fine for replaying dialogues, but on a
2-core machine that client-side cost lands in the server's latency figures, which this client avoids.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

import httpx


class ApiError(RuntimeError):
    """The server answered a call with an error event, or not at all."""


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
