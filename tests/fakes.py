"""Fakes for tests about something else: a hashing encoder and a scripted generator.

Every capability they stand in for also has a test through the real models (marked `slow`).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterator

import numpy as np

from recsys.core.types import Item


class HashingEncoder:
    """Bag-of-words hashed into a fixed-size unit vector: deterministic, instant, no weights."""

    model_id = "test-hashing-64"
    dim = 64

    def encode(self, texts: list[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """(n, dim) float32, L2-normalised rows."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"[a-z0-9]+", text.lower()):
                h = int(hashlib.md5(word.encode()).hexdigest(), 16)
                out[row, h % self.dim] += 1.0 if (h >> 8) % 2 else -1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return out / norms


class ScriptedGenerator:
    """A generator that replays queued replies (or echoes a fixed one), streaming word by word."""

    name = "scripted"

    def __init__(self, replies: list[str] | None = None, default: str = "A fine pick for tonight.") -> None:
        self.replies = list(replies or [])
        self.default = default
        self.prompts: list[list[dict[str, str]]] = []

    def enqueue(self, *replies: str) -> None:
        """Queue replies returned in order by the next calls."""
        self.replies.extend(replies)

    def stream(
        self, messages: list[dict[str, str]], max_new_tokens: int = 64, stop: tuple[str, ...] = ()
    ) -> Iterator[str]:
        """Yield the next reply in word-sized pieces."""
        self.prompts.append(messages)
        text = self.replies.pop(0) if self.replies else self.default
        yield from re.findall(r"\S+\s*", text)

    def complete(self, messages: list[dict[str, str]], max_new_tokens: int = 64, stop: tuple[str, ...] = ()) -> str:
        """The whole next reply."""
        return "".join(self.stream(messages, max_new_tokens, stop))


class SlowGenerator(ScriptedGenerator):
    """A scripted generator that takes `delay_s` per word, for tests of what happens while an answer is coming."""

    def __init__(self, delay_s: float = 0.2, **kwargs) -> None:
        super().__init__(**kwargs)
        self.delay_s = delay_s

    def stream(
        self, messages: list[dict[str, str]], max_new_tokens: int = 64, stop: tuple[str, ...] = ()
    ) -> Iterator[str]:
        for piece in super().stream(messages, max_new_tokens, stop):
            time.sleep(self.delay_s)
            yield piece


def tiny_items() -> list[Item]:
    """Twelve hand-written films with known genres and years, for fast tests."""
    rows = [
        (
            "t1",
            "Galaxy Giggles",
            1985,
            ("Comedy", "Sci-Fi"),
            "Ann Lee",
            "A clumsy crew of space cadets bumbles across the galaxy.",
        ),
        (
            "t2",
            "Robot Roommate",
            1999,
            ("Comedy", "Sci-Fi"),
            "Bo Park",
            "A household robot and a slacker share a flat.",
        ),
        ("t3", "Night of the Crawlers", 1982, ("Horror", "Sci-Fi"), "Cy Dunn", "Alien insects terrorise a small town."),
        ("t4", "Moon Laughs", 2005, ("Comedy", "Sci-Fi"), "Ann Lee", "Stand-up comedians stranded on a lunar base."),
        ("t5", "The Quiet Lake", 1975, ("Drama",), "Di Moss", "A widow returns to the lake house of her childhood."),
        ("t6", "Harbor Heist", 1995, ("Crime", "Thriller"), "Ed Vale", "A crew plans one last robbery at the docks."),
        ("t7", "Laugh Track", 1988, ("Comedy",), "Bo Park", "A sitcom writer loses his sense of humour."),
        (
            "t8",
            "Screaming Stars",
            2010,
            ("Horror", "Comedy", "Sci-Fi"),
            "Cy Dunn",
            "A comet turns campers into zombies.",
        ),
        ("t9", "War of the Valleys", 1965, ("War", "Drama"), "Fay Orr", "Two brothers on opposite sides of a war."),
        ("t10", "Trench Diaries", 1970, ("War",), "Fay Orr", "Letters home from the front line."),
        ("t11", "Cosmic Chef", 2012, ("Comedy", "Sci-Fi", "Family"), "Ann Lee", "A cook feeds an alien delegation."),
        ("t12", "Sky Pirates", 1979, ("Adventure", "Sci-Fi"), "Gus Hale", "Smugglers race through an asteroid field."),
    ]
    return [
        Item(
            item_id=i,
            title=t,
            year=y,
            text=d,
            tags=g,
            attributes={
                "director": [dr],
                "cast": ["Pat Star"],
                "runtime": 95,
                "language": ["English"],
                "country": ["United States"],
                "popularity": 0.5,
            },
        )
        for i, t, y, g, dr, d in rows
    ]
