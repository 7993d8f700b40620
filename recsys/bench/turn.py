"""Bench sections that drive the engine in-process: "turn" (latency breakdown), "adapt" (the per-user head),
"concurrency" (sessions at once through the engine) and "generation" (backends side by side).
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import partial
from typing import Any

import numpy as np

from ..bench.util import REQUESTS, TimedGenerator, cores_busy, cpu_mark, ms_since, summary
from ..engine import Engine
from ..replies import REPLIES

log = logging.getLogger(__name__)

THINK_S = 2.0  # mean pause between a person's messages in the paced runs (people read replies for longer)


class Probe:
    """Times named stages of a turn by wrapping bound methods on the instances the engine uses."""

    def __init__(self) -> None:
        self.current: dict[str, float] = {}

    def wrap(self, obj: Any, attr: str, stage: str) -> None:
        """Replace obj.attr (a bound method) by a timed call that adds its milliseconds to `stage`."""
        inner = getattr(obj, attr)

        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.current[stage] = self.current.get(stage, 0.0) + ms_since(t0)

        setattr(obj, attr, timed)


def _head(engine: Engine | None) -> Any:
    """The engine's per-user head (inside its Personalizer), or None."""
    personal = getattr(engine, "personal", None)
    head = getattr(personal, "head", None) if personal is not None else None
    return head if head is not None else getattr(engine, "head", None)


def _fast(engine: Engine) -> Engine | None:
    """The same engine with fact-built reasons (no generation), or None if this build has no such setting."""
    if not hasattr(engine.settings, "explainer"):
        return None
    clone = copy.copy(engine)  # shares catalog, index, store and locks; only the settings differ
    clone.settings = replace(engine.settings, explainer="template")
    return clone


class _OneAtATime:
    """The engine's generator as if it could not take concurrent calls, so that the engine writes one reply at a
    time, as it did before llama.cpp's batch took other sessions' prompts: the side-by-side row."""

    thread_safe = False

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.inner, attr)


def _one_at_a_time(engine: Engine) -> Engine:
    """The same engine, its generator calls serialised by the engine's lock."""
    clone = copy.copy(engine)  # shares everything else, the lock included
    clone.generator = _OneAtATime(engine.generator)
    return clone


def _dialogues(
    engine: Engine, requests: tuple[str, ...], probe: Probe | None, gen: TimedGenerator | None, per_session: int = 5
) -> list[dict[str, Any]]:
    """Run requests as dialogues of `per_session` turns; one record of stage timings per turn."""
    records = []
    sid = ""
    for i, text in enumerate(requests):
        if i % per_session == 0:
            sid = engine.new_session()
        if probe:
            probe.current = {}
        calls_before = len(gen.calls) if gen else 0
        t0 = time.perf_counter()
        events = list(engine.respond(sid, text))
        total = ms_since(t0)
        done = events[-1]
        rec: dict[str, Any] = {
            "text": text,
            "total": total,
            "items": len(done.items),
            "engine": dict(done.timings_ms or {}),
            "stages": dict(probe.current) if probe else {},
        }
        calls = gen.calls[calls_before:] if gen else []
        if calls and "first" in calls[0]:
            rec["ttft"] = (float(calls[0]["first"]) - t0) * 1000.0
            decode_s = sum(float(c["end"]) - float(c["first"]) for c in calls if "first" in c)
            tokens = sum(max(gen.tokens(str(c["text"])) - 1, 0) for c in calls if "first" in c)
            rec["tokens"] = tokens
            rec["tokens_per_s"] = tokens / decode_s if decode_s > 0 else None
        records.append(rec)
    return records


def _stage_table(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Summaries per stage over turns that reached retrieval."""
    full = [r for r in records if r["items"]]
    stages: dict[str, list[float]] = {}
    for r in full:
        for key in ("parse", "rank", "explain", "store"):
            if key in r["engine"]:
                stages.setdefault(key, []).append(r["engine"][key])
        for key, value in r["stages"].items():
            stages.setdefault(key, []).append(value)
        if "ttft" in r:
            stages.setdefault("ttft", []).append(r["ttft"])
        if r.get("tokens_per_s"):
            stages.setdefault("tokens_per_s", []).append(r["tokens_per_s"])
        if r["items"] == 3 and "explain" in r["engine"]:
            stages.setdefault("explain_3_items", []).append(r["engine"]["explain"])
        stages.setdefault("turn_total", []).append(r["total"])
        non_gen = r["total"] - r["engine"].get("explain", 0.0)
        stages.setdefault("turn_without_generation", []).append(non_gen)
    return {k: summary(v) for k, v in stages.items()}


def run_turn(engine: Engine, quick: bool, progress: Callable[[str], None]) -> dict[str, Any]:
    """50 requests without generation (the non-generation budget), and with generation (TTFT, tokens/s)."""
    probe = Probe()
    probe.wrap(engine.index.encoder, "encode", "query_embedding")  # ItemIndex remembers repeats: misses only
    probe.wrap(engine.catalog, "mask", "filters")
    probe.wrap(engine.index.backend, "search", "vector_search")
    probe.wrap(engine.store, "record_turn", "db_write")
    head = _head(engine)
    for attr, stage in (("adapt", "head_adapt"), ("score", "head_score")):
        if head is not None and hasattr(head, attr):
            probe.wrap(head, attr, stage)
    gen = TimedGenerator(engine.generator)
    engine.generator = gen
    out: dict[str, Any] = {
        "requests": len(REQUESTS),
        "head": "recsys.personal.head in the engine"
        if head is not None
        else "not available (rank = liked/disliked profile + popularity + MMR)",
        "backend": type(engine.index.backend).__name__,
        "catalog_items": len(engine.catalog),
    }
    fast = _fast(engine)
    if fast is not None:
        records = _dialogues(fast, REQUESTS, probe, None)
        out["without_generation"] = _stage_table(records)
        progress("turn: 50 requests without generation done")
    else:
        out["without_generation"] = "not available: Settings has no explainer='template'"
    n_gen = 6 if quick else len(REQUESTS)
    records = _dialogues(engine, REQUESTS[:n_gen], probe, gen)
    first = records[0]
    out["first_turn_after_load"] = {k: round(first[k], 1) for k in ("total", "ttft") if k in first}
    out["with_generation"] = _stage_table(records[1:] if len(records) > 1 else records)
    out["with_generation_turns"] = n_gen
    progress(f"turn: {n_gen} requests with generation done")
    engine.generator = gen.inner
    return out


def run_adapt(engine: Engine | None, quick: bool, progress: Callable[[str], None]) -> dict[str, Any]:
    """Head adaptation from 1/5/20/100 feedback events, then scoring 200 candidates."""
    try:
        from ..personal import head as head_module
        from ..personal import inputs as inputs_module
    except ImportError as e:
        return {"status": f"not available: recsys.personal.head does not import ({e})"}
    head, source = _head(engine), "the engine's head"
    dim = engine.index.vectors.shape[1] if engine is not None else head_module.HeadConfig().dim
    if not isinstance(head, head_module.Head):
        head = head_module.Head(head_module.HeadConfig(dim=dim))
        source = f"untrained Head(dim={dim}) (same shapes as a trained one, so the same cost)"
    head.eval()
    rng = np.random.default_rng(0)
    if engine is not None:
        vectors, items = engine.index.vectors, engine.catalog.items
    else:
        vectors = rng.standard_normal((5000, head.config.dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        items = None
    query = vectors[0]
    repeats = 10 if quick else 50
    out: dict[str, Any] = {"head": source, "candidates": 200, "repeats": repeats, "rows": []}

    def inputs(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        feats = (
            inputs_module.item_features([items[r] for r in rows])
            if items is not None
            else np.zeros((len(rows), inputs_module.N_EXTRA - 1), np.float32)
        )
        ids = [items[r].item_id for r in rows] if items is not None else [""] * len(rows)
        return head.item_vectors(ids, vectors[rows]), inputs_module.head_inputs(feats, vectors[rows], query)

    for events in (1, 5, 20, 100):
        adapt_ms, score_ms, both_ms = [], [], []
        for rep in range(repeats + 1):
            support = rng.choice(len(vectors), events, replace=len(vectors) < events)
            cands = rng.choice(len(vectors), 200, replace=len(vectors) < 200)
            ratings = rng.choice([head_module.LIKE_RATING, head_module.DISLIKE_RATING], events)
            t0 = time.perf_counter()
            sv, sx = inputs(support)
            fast = head.adapt(head.init_params(), sv, sx, query, ratings)
            t1 = time.perf_counter()
            cv, cx = inputs(cands)
            head.score(fast, cv, cx, query)
            if rep:  # the first call pays torch's one-off set-up
                adapt_ms.append((t1 - t0) * 1000)
                score_ms.append(ms_since(t1))
                both_ms.append(ms_since(t0))
        out["rows"].append(
            {
                "events": events,
                "adapt_ms": summary(adapt_ms),
                "score_200_ms": summary(score_ms),
                "adapt_plus_score_ms": summary(both_ms),
            }
        )
        progress(f"adapt: {events} events done")
    return out


def _session_worker(
    engine: Engine, turns: int, texts: tuple[str, ...], barrier: threading.Barrier, think_s: float = 0.0, seed: int = 0
) -> tuple[list[float], int, list[float]]:
    """One simulated person: a new session, then `turns` turns, each after a random pause averaging `think_s`
    (0 = all sessions send at the same instant); (latencies ms, errors, ms to the first change of the reply after
    its first text: the first generated words, where reasons are generated)."""
    latencies, errors, changed = [], 0, []
    rng = np.random.default_rng(seed)
    try:
        sid = engine.new_session()
        barrier.wait(timeout=60)
        for text in texts[:turns]:
            if think_s:
                time.sleep(rng.exponential(think_s))
            t0 = time.perf_counter()
            shown, event, change = None, None, None
            for event in engine.respond(sid, text):  # noqa: B007 (the last event is read after the loop)
                if event.kind != "text":
                    continue
                if shown is None:
                    shown = event.text  # the header and the films with fact lines, before any generation
                elif change is None and event.text != shown:
                    change = ms_since(t0)
            latencies.append(ms_since(t0))
            changed += [change] if change is not None else []
            errors += event is None or event.text == REPLIES["error"]
    except Exception:
        log.exception("concurrent session failed")
        errors += 1
    return latencies, errors, changed


def engine_concurrency(
    engine: Engine, levels: tuple[int, ...], turns: int, think_s: float = 0.0
) -> list[dict[str, Any]]:
    """Sessions at once through Engine.respond (threads, as Gradio's workers call it): throughput, p95, errors.

    think_s = 0: every session sends at the same instant (a burst, the worst case); > 0: people pause a random
    time averaging think_s between messages, so the turns overlap the way real ones do."""
    rows = []
    for n in levels:
        marks: list[tuple[float, float, float]] = []  # cpu_mark's, once every session is open
        barrier = threading.Barrier(n, action=partial(cpu_mark, marks))
        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=n) as pool:
            futures = [
                pool.submit(
                    _session_worker, engine, turns, REQUESTS[(5 * i) % 50 : (5 * i) % 50 + 5], barrier, think_s, i
                )
                for i in range(n)
            ]
            results = [f.result() for f in futures]
        wall = time.perf_counter() - t0
        latencies = [x for lat, _, _ in results for x in lat]
        changed = [x for _, _, ch in results for x in ch]
        errors = sum(e for _, e, _ in results)
        rows.append(
            {
                "sessions": n,
                "mode": f"paced, {think_s:g} s think time" if think_s else "burst",
                "turns": len(latencies),
                "errors": errors,
                "wall_s": round(wall, 2),
                "turns_per_s": round(len(latencies) / wall, 2) if wall > 0 else None,
                "latency_ms": summary(latencies),
                **({"first_words_ms": summary(changed)} if changed else {}),
            }
        )
        if marks and latencies:  # the turns alone: the sessions' openings came before the barrier
            cpu, wall = time.process_time() - marks[0][1], time.perf_counter() - marks[0][2]
            rows[-1]["cpu_ms_per_turn"] = round(cpu * 1000 / len(latencies), 1)
            rows[-1]["cores_busy"] = cores_busy(cpu, wall)
    return rows


def run_concurrency(engine: Engine, quick: bool, progress: Callable[[str], None]) -> dict[str, Any]:
    """1/8/32 sessions through the engine: the non-generation part (template reasons), then with generation."""
    out: dict[str, Any] = {"turns_per_session": 2 if quick else 5}
    fast = _fast(engine)
    if fast is not None:
        out["engine_without_generation"] = engine_concurrency(fast, (1, 8, 32), out["turns_per_session"])
        out["engine_without_generation_paced"] = engine_concurrency(fast, (1, 8, 32), out["turns_per_session"], THINK_S)
        progress("concurrency: engine without generation done")
    else:
        out["engine_without_generation"] = "not available: Settings has no explainer='template'"
    levels = (1, 2) if quick else (1, 8)  # generation is serialised on one CPU model: 32 at once only queue
    out["engine_with_generation"] = engine_concurrency(engine, levels, 1)
    if getattr(engine.generator, "thread_safe", False):  # llama.cpp's: the same turns, one reply at a time
        out["engine_with_generation_one_at_a_time"] = engine_concurrency(_one_at_a_time(engine), levels, 1)
    progress("concurrency: engine with generation done")
    return out
