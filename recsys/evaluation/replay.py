"""Replay scripted dialogues and check their expectations: `python -m recsys replay PATH...`.

    python -m recsys replay data/dialogues                        # in-process, real models, throwaway database
    python -m recsys replay data/dialogues --explainer template   # fact-built reasons: ~6 s less per turn on CPU
    python -m recsys replay data/dialogues/x.yaml --url http://127.0.0.1:7860/ --json out.json --junit out.xml

Deterministic: greedy decoding, seeds fixed before every script, a fresh user per script unless it names one,
and (in-process) a temporary SQLite database unless --db-url or RECSYS_DB_URL names one. Exit 0 when every
expectation holds, 1 when one fails, 2 when a script is invalid (the message names file, turn and field).
The script format is in script.py and data/dialogues/README.md; the checks in expectations.py; the table, JSON
and JUnit output in replay_results.py.
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from ..core.config import settings_from_args
from ..core.errors import RecsysError
from ..core.paths import DIALOGUES
from ..core.types import Item
from ..explain.grounding import TitleGuard
from .expectations import Bound, Outcome, Seen, Vocabulary, check, resolve
from .replay_results import ScriptResult, TurnResult, table, write_outputs
from .script import LoadedScript, ScriptError, load_scripts

log = logging.getLogger(__name__)

CORPUS = DIALOGUES
SHOWN_TEXT = 60  # characters of a message shown in the table (huge hostile inputs stay readable)


class Backend(Protocol):
    """Where turns run: the engine in this process, or a served app over HTTP."""

    catalog: Any
    guard: TitleGuard

    def start(self, user: str | None) -> str:
        """A new session (for a new user unless one is named); returns its id."""
        ...

    def send(self, session: str, text: str) -> Outcome:
        """One message, run to its end."""
        ...

    def feedback(self, session: str, item_id: str, liked: bool) -> None:
        """A like or dislike of an item."""
        ...


class EngineBackend:
    """Turns through an Engine object in this process: items, intent and stage timings are all known."""

    def __init__(self, engine: Any) -> None:
        """Turns through `engine` (an Engine), which the caller loads and closes."""
        self.engine = engine
        self.catalog = engine.catalog
        self.guard = engine.guard

    def start(self, user: str | None) -> str:
        """A new session (for a new user unless one is named)."""
        return self.engine.new_session(user)

    def send(self, session: str, text: str) -> Outcome:
        """Run one turn to its end."""
        t0 = time.perf_counter()
        done = None
        for event in self.engine.respond(session, text):
            done = event
        latency = (time.perf_counter() - t0) * 1000.0
        if done is None or done.kind != "done":
            raise RecsysError("the turn ended without a 'done' event")
        state = self.engine.session(session).state
        return Outcome(
            reply=done.text,
            items=tuple(r.item for r in done.items),
            reasons=tuple(r.reason for r in done.items),
            intent=done.intent.intent if done.intent is not None else None,
            latency_ms=latency,
            timings_ms=dict(done.timings_ms),
            disliked_ids=tuple(state.disliked_ids),
            liked_ids=tuple(state.liked_ids),
            evidence=tuple((done.details or {}).get("evidence") or ()),
            sources=tuple((done.details or {}).get("sources") or ()),
        )

    def feedback(self, session: str, item_id: str, liked: bool) -> None:
        """The 👍/👎 button."""
        self.engine.feedback(session, item_id, liked)


class ServerBackend:
    """Turns through a served app's named API with gradio_client: /new_session and /send as the page calls them,
    /resume_session for what the turn stored (reply, items, intent, votes), /feedback for the 👍/👎 buttons.
    Items are looked up in the local catalog, so pass the server's --catalog."""

    def __init__(self, url: str, catalog: Any) -> None:
        """Connect to the app at `url`; `catalog` must be the one it serves."""
        from gradio_client import Client  # only --url needs it

        self.client = Client(url, verbose=False)
        self.catalog = catalog
        self.guard = TitleGuard(it.title for it in catalog.items)
        self.ids: dict[str, list[str]] = {}  # session -> [user_id, session_id], as the page keeps them

    def _call(self, *args: Any, api_name: str) -> Any:
        """One API call; the server's errors become RecsysError, so the script (not the run) fails."""
        try:
            return self.client.predict(*args, api_name=api_name)
        except Exception as e:  # gradio_client raises its own types (AppError, ValueError for unknown endpoints)
            raise RecsysError(
                f"{api_name} failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            ) from None

    def start(self, user: str | None) -> str:
        """A new conversation through the page's "New conversation" endpoint."""
        result = self._call([user or "", ""], api_name="/new_session")
        ids = next(
            (
                list(x)
                for x in result
                if isinstance(x, (list, tuple)) and len(x) == 2 and all(isinstance(v, str) and v for v in x)
            ),
            None,
        )
        if ids is None:
            raise RecsysError("the server's /new_session returned no [user_id, session_id]")
        self.ids[ids[1]] = ids
        return ids[1]

    def send(self, session: str, text: str) -> Outcome:
        """One message through /send, then the stored turn through /resume_session."""
        t0 = time.perf_counter()
        self._call(text, self.ids[session], api_name="/send")
        latency = (time.perf_counter() - t0) * 1000.0
        data = self._call(session, api_name="/resume_session")
        messages = data.get("messages") or []
        reply = messages[-1] if messages and messages[-1].get("role") == "assistant" else {}
        asked = messages[-2] if len(messages) >= 2 and messages[-2].get("role") == "user" else {}
        items = []
        for shown in reply.get("items") or []:
            item = self.catalog.get(shown["item_id"])
            if item is None:
                raise RecsysError(
                    f"the server showed item {shown['item_id']!r}, which is not in the local catalog: "
                    "pass the server's --catalog"
                )
            items.append(item)
        state = data.get("state") or {}
        return Outcome(
            reply=str(reply.get("text", "")),
            items=tuple(items),
            reasons=tuple(str(s.get("reason") or "") for s in reply.get("items") or []),
            intent=(asked.get("intent") or {}).get("intent"),
            latency_ms=latency,
            disliked_ids=tuple(state.get("disliked_ids") or ()),
            liked_ids=tuple(state.get("liked_ids") or ()),
        )

    def feedback(self, session: str, item_id: str, liked: bool) -> None:
        """The 👍/👎 buttons' endpoint."""
        self._call(session, item_id, liked, api_name="/feedback")


def _seed(seed: int) -> None:
    """Fix every random generator a turn might touch."""
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed)
    except ImportError:
        pass
    torch = sys.modules.get("torch")  # only when a model already loaded it
    if torch is not None:
        torch.manual_seed(seed)


def _short(text: str) -> str:
    """A message as shown in tables: one line, at most SHOWN_TEXT characters."""
    one = " ".join(text.split())
    return one if len(one) <= SHOWN_TEXT else one[: SHOWN_TEXT - 1] + "…"


def _feedback_item(item: int | str, last: Sequence[Item], vocab: Vocabulary) -> Item:
    """The item a feedback turn means: a 1-based position in the last list, or a title (the last list first)."""
    if isinstance(item, int):
        if not 1 <= item <= len(last):
            raise ValueError(f"feedback.item: position {item}, but the last list had {len(last)} items")
        return last[item - 1]
    options = vocab.titles(item)
    ids = {it.item_id for it in options}
    return next((it for it in last if it.item_id in ids), options[0])


def run_script(loaded: LoadedScript, bound: Bound, backend: Backend, vocab: Vocabulary, seed: int = 0) -> ScriptResult:
    """Replay one script from a fresh session; expectation failures are collected, errors stop the script."""
    _seed(seed)
    result = ScriptResult(loaded.name, str(loaded.path), tags=tuple(loaded.script.tags))
    t0 = time.perf_counter()
    seen = Seen()
    last: tuple[Item, ...] = ()
    try:
        session = backend.start(loaded.script.user)
        for i, turn in enumerate(loaded.script.turns):
            if turn.feedback is not None:
                fb = turn.feedback
                step = TurnResult(i + 1, f"{'👍' if fb.liked else '👎'} {fb.item}")
                result.turns.append(step)
                try:
                    item = _feedback_item(fb.item, last, vocab)
                except ValueError as e:
                    step.failures.append(str(e))
                    continue
                backend.feedback(session, item.item_id, fb.liked)
                (seen.disliked_ids.discard if fb.liked else seen.disliked_ids.add)(item.item_id)
                seen.votes = {v for v in seen.votes if v[0] != item.item_id} | {(item.item_id, fb.liked)}
                continue
            step = TurnResult(
                i + 1,
                _short(turn.text),
                targets=bound.targets[i],
                message=turn.text,
                keys=tuple(turn.expect.model_dump(exclude_defaults=True)),
            )
            result.turns.append(step)
            out = backend.send(session, turn.text)
            step.outcome = out
            step.failures = check(turn.expect, bound, i, out, seen, backend.guard)
            seen.shown_ids.update(it.item_id for it in out.items)
            last = out.items or last  # a reply without items (chit-chat, a question) keeps the cards on screen
            seen.last = last
            if out.liked_ids is not None:
                seen.votes = {(x, True) for x in out.liked_ids} | {(x, False) for x in out.disliked_ids}
    except RecsysError as e:
        result.error = str(e)
    result.seconds = time.perf_counter() - t0
    return result


def bind(scripts: Sequence[LoadedScript], catalog: Any) -> list[Bound]:
    """Resolve every script against the catalog, so a bad one fails (ScriptError) before any turn runs."""
    vocab = Vocabulary(catalog)
    return [resolve(s, vocab) for s in scripts]


def run_scripts(
    scripts: Sequence[LoadedScript], backend: Backend, seed: int = 0, progress: bool = False
) -> list[ScriptResult]:
    """Replay every script, each from a fresh session, in order."""
    vocab = Vocabulary(backend.catalog)
    bound = bind(scripts, backend.catalog)
    results = []
    for s, b in zip(scripts, bound):
        results.append(run_script(s, b, backend, vocab, seed))
        if progress:
            print(
                f"{'PASS' if results[-1].passed else 'FAIL'} {s.name} ({results[-1].seconds:.1f} s)",
                file=sys.stderr,
                flush=True,
            )
    return results


# --- CLI -------------------------------------------------------------------------------------------------------------
def add_arguments(p: argparse.ArgumentParser) -> None:
    """Flags of `replay` (the common ones come from the CLI)."""
    p.add_argument("paths", nargs="*", metavar="PATH", help=f"scripts or folders of .yaml scripts (default {CORPUS})")
    p.add_argument("--url", help="replay against a served app (e.g. http://127.0.0.1:7860/) instead of in-process")
    p.add_argument("--json", metavar="PATH", help="write every turn's reply, items, intent, timings and failures")
    p.add_argument("--junit", metavar="PATH", help="write JUnit XML, one testcase per script")
    p.add_argument(
        "--explainer",
        choices=("generate", "template"),
        help="how reasons are written in-process (template: fast, from facts)  [RECSYS_EXPLAINER]",
    )
    p.add_argument("-k", dest="match", metavar="TEXT", help="only scripts whose name contains TEXT")
    p.add_argument("--limit", type=int, metavar="N", help="only the first N scripts (sorted by file name)")


def select(scripts: list[LoadedScript], match: str | None, limit: int | None) -> list[LoadedScript]:
    """Scripts filtered by name and count."""
    chosen = [s for s in scripts if not match or match in s.name]
    return chosen[:limit] if limit else chosen


@contextmanager
def open_backend(settings: Any, url: str | None = None) -> Iterator[Backend]:
    """The backend for a run: a served app when `url` is given, else an engine in this process with a throwaway
    SQLite database (unless settings name a database), closed and removed afterwards."""
    from ..catalog.sources import load_catalog

    if url:
        yield ServerBackend(url, load_catalog(settings.catalog, settings.cache, progress=False))
        return
    from ..engine import Engine

    with tempfile.TemporaryDirectory(prefix="recsys-replay-") as tmp:
        if not settings.db_url:
            settings = settings.with_overrides(db_url=f"sqlite:///{Path(tmp) / 'replay.db'}")
        engine = Engine.load(settings, progress=False)
        try:
            yield EngineBackend(engine)
        finally:
            engine.store.close()  # before the temporary database goes


def load_and_bind(
    paths: Sequence[str], settings: Any, match: str | None = None, limit: int | None = None
) -> list[LoadedScript]:
    """Scripts from paths (the corpus by default), selected, and checked against the catalog: ScriptError if any
    is invalid. The catalog load is cheap; it happens before any model loads so a typo fails in a second."""
    from ..catalog.sources import load_catalog

    scripts = select(load_scripts(paths or [CORPUS]), match, limit)
    bind(scripts, load_catalog(settings.catalog, settings.cache, progress=False))
    return scripts


def settings_and_scripts(args: argparse.Namespace) -> tuple[Any, list[LoadedScript] | None]:
    """Settings from the flags and the selected, catalog-checked scripts; None (after printing why) if invalid."""
    settings = settings_from_args(args, explainer=args.explainer)
    try:
        return settings, load_and_bind(args.paths, settings, args.match, args.limit)
    except ScriptError as e:
        print(f"invalid script: {e}", file=sys.stderr)
        return settings, None


def run(args: argparse.Namespace) -> int:
    """Replay the scripts; print the table; 0 all pass, 1 a failure, 2 an invalid script."""
    settings, scripts = settings_and_scripts(args)
    if scripts is None:
        return 2
    with open_backend(settings, args.url) as backend:
        results = run_scripts(scripts, backend, seed=settings.seed, progress=True)
    print(table(results))
    write_outputs(results, args.json, args.junit)
    return 0 if all(r.passed for r in results) else 1
