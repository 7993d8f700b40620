"""Chat completions streamed from an OpenAI-compatible server (vLLM, TGI, llama.cpp server, OpenAI) over HTTP.

gen = OpenAIGenerator("http://localhost:8000", model="", api_key="")   # "" model: the server's first one
for piece in gen.stream([{"role": "user", "content": "Hi"}], max_new_tokens=20):
    print(piece, end="")
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator, Sequence

from ..core.errors import ModelError
from .stream import Messages, StopScanner, join_stream

HTTP_TIMEOUT_S = 60.0  # per read: a busy server may queue a request for a while
CONNECT_TIMEOUT_S = 5.0  # a server that does not answer in 5 s is down, not busy


def without_credentials(url: str) -> str:
    """The URL with any user:password@ removed, for names, logs and errors."""
    return re.sub(r"//[^/@]*@", "//", url)


class OpenAIGenerator:
    """Chat completions streamed (SSE) from an OpenAI-compatible server: vLLM, TGI, llama.cpp server, OpenAI."""

    thread_safe = True  # the server batches concurrent requests

    def __init__(self, base_url: str, model: str = "", api_key: str = "", timeout_s: float = HTTP_TIMEOUT_S) -> None:
        import httpx

        base = base_url.rstrip("/")
        self.base_url = base if base.endswith("/v1") else base + "/v1"
        self.where = without_credentials(self.base_url)
        self.model = model
        self.name = f"openai:{model or '?'}@{self.where}"
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(headers=headers, timeout=httpx.Timeout(timeout_s, connect=CONNECT_TIMEOUT_S))
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        """The server and model, never the key."""
        return f"OpenAIGenerator({self.where!r}, model={self.model!r})"  # never the key

    def _model_name(self) -> str:
        """The configured model, or the server's first listed model when none was configured."""
        if not self.model:
            with self._lock:
                if not self.model:
                    data = self._request("GET", "/models").json().get("data") or []
                    if not data:
                        raise ModelError(f"{self.where} lists no models; set RECSYS_GENERATOR_MODEL")
                    self.model = str(data[0]["id"])
                    self.name = f"openai:{self.model}@{self.where}"
        return self.model

    def _request(self, method: str, path: str, **kwargs):
        """A non-streamed request; transport and HTTP errors become ModelError."""
        import httpx

        try:
            response = self._client.request(method, self.base_url + path, **kwargs)
        except httpx.HTTPError as e:
            raise self._failure(e) from e
        self._check(response.status_code, response.text)
        return response

    def _failure(self, e: Exception) -> ModelError:
        """A transport error (refused, timed out, cut off) as a ModelError naming the server, never the key."""
        return ModelError(f"generator server {self.where} unreachable or failed: {type(e).__name__}: {e}")

    def _check(self, status: int, body: str) -> None:
        """Raise ModelError for an HTTP error status, with the start of the server's explanation."""
        if status >= 400:
            raise ModelError(f"generator server {self.where} answered HTTP {status}: {body[:200]}")

    def stream(self, messages: Messages, max_new_tokens: int = 64, stop: Sequence[str] = ()) -> Iterator[str]:
        """POST /chat/completions with stream=true and temperature 0; yield the content deltas."""
        import httpx

        body = {
            "model": self._model_name(),
            "messages": messages,
            "stream": True,
            "temperature": 0,
            "max_tokens": max_new_tokens,
        }
        if stop:
            body["stop"] = list(stop)[:4]  # OpenAI accepts at most 4; the scanner below honours them all anyway
        scanner = StopScanner(stop)
        url = self.base_url + "/chat/completions"
        try:
            with self._client.stream("POST", url, json=body) as response:
                if response.status_code >= 400:
                    self._check(response.status_code, response.read().decode("utf-8", "replace"))
                for line in response.iter_lines():
                    delta = _sse_delta(line, self.where)
                    if delta is None:
                        break
                    piece = scanner.feed(scanner.text + delta) if delta else ""
                    if piece:
                        yield piece
                    if scanner.stopped:
                        return
        except httpx.HTTPError as e:
            raise self._failure(e) from e
        rest = scanner.flush()
        if rest:
            yield rest

    def complete(self, messages: Messages, max_new_tokens: int = 64, stop: Sequence[str] = ()) -> str:
        """The whole reply."""
        return join_stream(self, messages, max_new_tokens, stop)


def _sse_delta(line: str, where: str) -> str | None:
    """The text in one SSE line ("" for keep-alives and non-content events), or None at the end of the stream."""
    if not line.startswith("data:"):
        return ""
    data = line[5:].strip()
    if data == "[DONE]":
        return None
    try:
        event = json.loads(data)
    except json.JSONDecodeError as e:
        raise ModelError(f"generator server {where} sent a malformed event: {data[:100]!r}") from e
    if event.get("error"):
        raise ModelError(f"generator server {where} reported an error: {str(event['error'])[:200]}")
    choices = event.get("choices") or [{}]
    return (choices[0].get("delta") or {}).get("content") or ""
