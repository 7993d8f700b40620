"""What every text generator shares: the chat message type, the Generator protocol, and stop-string scanning.

    scanner = StopScanner(("\\n",))
    scanner.feed("Hello wor")      # "Hello wor": nothing here can start a stop string
    scanner.feed("Hello world\\nmore")   # "ld": the reply ends before the stop string

Every generator has `name`, `stream(messages, max_new_tokens, stop) -> Iterator[str]` (greedy, so the same prompt
gives the same text) and `complete(...) -> str`, which joins the stream.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

Messages = list[dict[str, str]]


class Generator(Protocol):
    """What explain and intent need from a model (tests use tests/fakes.ScriptedGenerator)."""

    name: str

    def stream(self, messages: Messages, max_new_tokens: int = 64, stop: Sequence[str] = ()) -> Iterator[str]:
        """Yield the reply in pieces, greedy, ending before any stop string."""
        ...

    def complete(self, messages: Messages, max_new_tokens: int = 64, stop: Sequence[str] = ()) -> str:
        """The whole reply."""
        ...


class StopScanner:
    """Turns a growing text into safe-to-show pieces, holding back what could be the start of a stop string."""

    def __init__(self, stop: Sequence[str]) -> None:
        self.stop = tuple(s for s in stop if s)
        self.text = ""  # everything received
        self.sent = 0  # characters of text already handed out
        self.stopped = False

    def feed(self, text: str) -> str:
        """Take the whole text so far; return the new piece that may be shown ("" if none yet)."""
        self.text = text
        hits = [i for i in (text.find(s) for s in self.stop) if i >= 0]
        if hits:
            self.stopped = True
            end = min(hits)
        else:
            end = len(text)
            for s in self.stop:  # hold back a tail that may grow into a stop string
                for k in range(min(len(s) - 1, len(text)), 0, -1):
                    if text.endswith(s[:k]):
                        end = min(end, len(text) - k)
                        break
        if text.endswith("\ufffd") and not self.stopped:  # an incomplete UTF-8 character: wait for its bytes
            end = min(end, len(text) - 1)
        piece = text[self.sent : end] if end > self.sent else ""
        self.sent = max(self.sent, end)
        return piece

    def flush(self) -> str:
        """What is left once the model has finished without meeting a stop string."""
        if self.stopped:
            return ""
        piece, self.sent = self.text[self.sent :], len(self.text)
        return piece


def close_stream(pieces: Iterator[str]) -> None:
    """Close a piece stream where it can be closed: that stops a local model's loop, closes an HTTP stream or
    frees a batched sequence; a plain iterator has nothing to close."""
    close = getattr(pieces, "close", None)
    if close:
        close()


def join_stream(gen: Generator, messages: Messages, max_new_tokens: int, stop: Sequence[str]) -> str:
    """Join a generator's stream (shared by every backend's `complete`)."""
    return "".join(gen.stream(messages, max_new_tokens, stop))
