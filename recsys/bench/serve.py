"""Bench sections that start the real app (`python app.py`) as a subprocess: "startup" (first run with empty
caches, warm start, to the page being served; idle and peak RSS) and the server half of "concurrency"
(sessions at once through Gradio on loopback, driven by the lean HTTP client in page_client), and the same bursts
against the floor page (recsys/web/floor.py: Gradio and the client alone, the app doing no work).

The app runs in its own process, so this module never imports Gradio itself (page_client is the client).
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from ..bench.page_client import PageClient, PageTurns, _find, _is_history, _is_ids
from ..bench.util import REQUESTS, cores_busy, cpu_mark, ms_since, peak_rss_mb, process_cpu_s, rss_mb, summary
from ..core.paths import CHECKOUT

log = logging.getLogger(__name__)

APP = CHECKOUT / "app.py"
ERROR_TEXT = "something went wrong"  # the app's friendly error reply
THINK_S = 2.0  # as bench_turn.THINK_S (not imported: sections sit on one layer)
FLOOR = "recsys.web.floor"  # the page whose /send does no work, run with `python -m`
SINGLE_TURNS = 30  # turns of the one-session baseline that the concurrent levels are compared with


def _free_port() -> int:
    """A free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _served(url: str) -> bool:
    """True once the page answers 200."""
    import httpx

    try:
        return httpx.get(url, timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def _ready_s(url: str, started: float, timeout_s: float, part: str = "generator") -> float | str:
    """Seconds from the start until /healthz says `part` ("engine" or "generator") is ready: the page is served
    before both. `started`: time.perf_counter() when the app was started (app_process's seconds ago)."""
    import httpx

    t0 = started
    while time.perf_counter() - t0 < timeout_s:
        try:
            state = httpx.get(url + "healthz", timeout=2.0).json().get(f"{part}_state", "ready")
        except (httpx.HTTPError, ValueError):
            state = "loading"
        if state == "ready":
            return round(time.perf_counter() - t0, 1)
        if state.startswith("failed"):
            return state
        time.sleep(0.1)
    return "not ready in time"


def _die_with_parent() -> None:
    """Linux: the app gets SIGTERM when the bench process dies, so a killed bench leaves no server behind."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the finally below still stops it on a normal exit
        pass


@contextmanager
def app_process(
    env: dict[str, str], timeout_s: float, log_path: Path, module: str | None = None
) -> Iterator[tuple[subprocess.Popen, str, float]]:
    """Start app.py (or `python -m module`, a page served the same way); yield (process, url, seconds until the
    page was served); stop it afterwards."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    full_env = {
        **os.environ,
        **env,
        "RECSYS_PORT": str(port),
        "RECSYS_HOST": "127.0.0.1",
        "HF_HUB_OFFLINE": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
    }
    with log_path.open("w") as logf:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, *(["-m", module] if module else [str(APP)])],
            env=full_env,
            cwd=CHECKOUT if module else None,  # where `-m` finds recsys (app.py's own folder is on its path)
            stdout=logf,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        try:
            while not _served(url):
                if proc.poll() is not None:
                    raise RuntimeError(f"{module or 'app.py'} exited with {proc.returncode}; see {log_path}")
                if time.perf_counter() - t0 > timeout_s:
                    raise TimeoutError(
                        f"{module or 'app.py'} did not serve the page in {timeout_s:.0f} s; see {log_path}"
                    )
                time.sleep(0.2)
            yield proc, url, time.perf_counter() - t0
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


SEND_INPUTS = ("text", "ids", "history")  # app.py's send_inputs without its gr.State ones (kept per session)


def _check_send_inputs(url: str) -> None:
    """Fail clearly when the page's /send takes other inputs than this bench sends (read from /gradio_api/info)."""
    import httpx

    info = httpx.get(url.rstrip("/") + "/gradio_api/info", timeout=30).json()
    params = info["named_endpoints"]["/send"]["parameters"]
    if len(params) != len(SEND_INPUTS):
        raise RuntimeError(
            f"/send takes {len(params)} inputs, the bench sends {len(SEND_INPUTS)}: update "
            "bench_serve.SEND_INPUTS with app.py's send_inputs"
        )


def _reply(history: list) -> str:
    """The last answer's text: the last assistant message that is not a "why these?" panel (those carry metadata)."""
    for message in reversed(history):
        if message.get("role") == "assistant" and not message.get("metadata"):
            return str(message.get("content", ""))
    return ""


def _send_worker(
    url: str, turns: int, texts: tuple[str, ...], barrier: threading.Barrier, think_s: float = 0.0, seed: int = 0
) -> tuple[list[float], int, float, float]:
    """One person through the API as the page sends it (its history goes back with each message): open a
    session, then `turns` sends; (latencies ms, errors, start, end)."""
    latencies, errors, start = [], 0, time.perf_counter()
    try:
        with PageClient(url) as client:
            ids = _find(client.call("new_session", ["", ""]), _is_ids)
            if ids is None:
                raise RuntimeError("/new_session returned no [user_id, session_id]")
            barrier.wait(timeout=300)
            start = time.perf_counter()
            rng = np.random.default_rng(seed)
            history: list = []
            for text in texts[:turns]:
                if think_s:
                    time.sleep(rng.exponential(think_s))
                t0 = time.perf_counter()
                result = client.call("send", text, ids, history)
                latencies.append(ms_since(t0))
                history = _find(result, _is_history) or []
                content = _reply(history)
                errors += ERROR_TEXT in content or not content
    except Exception:
        log.exception("server session failed")
        errors += 1
    return latencies, errors, start, time.perf_counter()


def server_concurrency(
    url: str,
    levels: tuple[int, ...],
    turns: int,
    think_s: float = 0.0,
    single_turns: int = SINGLE_TURNS,
    pid: int | None = None,
    replicas: Sequence[tuple[str, int]] = (),
) -> list[dict[str, Any]]:
    """Sessions at once through the running server: throughput, latency, errors per level (think_s as in
    bench_turn.engine_concurrency: 0 = a burst). With the server's `pid`, also the CPU time per timed turn of the
    server and of this process (the client, which shares the machine's cores with it), and how busy that kept the
    cores: near 1, the level is bound by the CPU, and its latency falls only with the CPU a turn costs.

    `replicas`: (url, pid) of more processes serving the same app and database; sessions take the servers in turn
    (each stays with one, as a sticky load balancer keeps it), and the servers' CPU is added up."""
    rows = []
    urls = [url, *(u for u, _ in replicas)]
    pids = [pid, *(p for _, p in replicas)] if pid else []
    for u in urls:
        _check_send_inputs(u)
        if pids:  # one turn first, so that the CPU time of the first level is not the server's first-call work
            _send_worker(u, 1, REQUESTS[:1], threading.Barrier(1))
    for n in levels:
        marks: list[tuple[float, float, float]] = []
        # sampled as the barrier opens, once every session is open: the timed sends alone, not the openings
        barrier = threading.Barrier(n, action=partial(cpu_mark, marks, pids) if pids else None)
        each = turns if n > 1 else max(turns, single_turns)  # the baseline's p95 needs more than a handful
        with ThreadPoolExecutor(max_workers=n) as pool:
            futures = [
                pool.submit(
                    _send_worker,
                    urls[i % len(urls)],
                    each,
                    tuple(REQUESTS[(5 * i + j) % len(REQUESTS)] for j in range(each)),
                    barrier,
                    think_s,
                    i,
                )
                for i in range(n)
            ]
            results = [f.result() for f in futures]
        wall = max(r[3] for r in results) - min(r[2] for r in results)  # from the barrier to the last reply
        latencies = [x for r in results for x in r[0]]
        rows.append(
            {
                "sessions": n,
                "mode": f"paced, {think_s:g} s think time" if think_s else "burst",
                "turns": len(latencies),
                "errors": sum(r[1] for r in results),
                "wall_s": round(wall, 2),
                "latency_ms": summary(latencies),
                "turns_per_s": round(len(latencies) / wall, 2) if wall > 0 else None,
            }
        )
        if pids and marks and latencies:
            rows[-1].update(_cpu_use(pids, marks[0], len(latencies)))
    return rows


def _cpu_use(pids: Sequence[int], mark: tuple[float, float, float], turns: int) -> dict[str, float]:
    """CPU ms per turn of the servers and of the client since `mark`, and the share of the usable cores' time they
    took together (1.0: every core busy all the while)."""
    server = sum(map(process_cpu_s, pids)) - mark[0]
    client, wall = time.process_time() - mark[1], time.perf_counter() - mark[2]
    return {
        "server_cpu_ms_per_turn": round(server * 1000 / turns, 1),
        "client_cpu_ms_per_turn": round(client * 1000 / turns, 1),
        "cores_busy": cores_busy(server + client, wall),
    }


def page_turns(url: str, pid: int, turns: int, warm: int = 3) -> dict[str, Any]:
    """One person's turns as the browser sends them (its own echo, then the turn and the side panels; PageTurns):
    latency and the server's CPU time per turn, which is what bounds how many people one process serves. /send,
    which the concurrency rows use, is one event; a browser turn is two."""
    with PageClient(url) as client:
        ids = _find(client.call("new_session", ["", ""]), _is_ids)
    page = PageTurns(url, ids)
    try:
        texts = [REQUESTS[i % len(REQUESTS)] for i in range(warm + turns)]
        for text in texts[:warm]:  # first turns pay one-off costs (caches, the session's first rows)
            page.turn(text)
        latencies, cpu0 = [], process_cpu_s(pid)
        for text in texts[warm:]:
            t0 = time.perf_counter()
            page.turn(text)
            latencies.append(ms_since(t0))
        cpu = process_cpu_s(pid) - cpu0
    finally:
        page.close()
    return {
        "turns": turns,
        "latency_ms": summary(latencies),
        "server_cpu_ms_per_turn": round(cpu / turns * 1000, 1) if cpu else None,
        "history_messages": len(page.history),
    }


def _tree_rss(pid: int) -> tuple[float, float]:
    """(RSS now, peak RSS) in MB of the app process (its children are gradio helpers, counted too)."""
    now, peak = rss_mb(pid), peak_rss_mb(pid)
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    for child in children:
        now += rss_mb(child)
        peak += peak_rss_mb(child)
    return round(now, 1), round(peak, 1)


def run_startup(
    settings,
    quick: bool,
    workdir: Path,
    progress: Callable[[str], None],
    server_levels: tuple[int, ...] = (1, 8, 32),
    cold: bool | None = None,
) -> dict[str, Any]:
    """Cold start (empty caches; skipped in --quick unless asked), warm start, idle RSS, and the server
    concurrency rows with peak RSS under that load."""
    out: dict[str, Any] = {}
    base = {"RECSYS_CATALOG": settings.catalog, "RECSYS_GENERATOR": settings.generator}
    timeout = 900.0
    if cold if cold is not None else not quick:
        with tempfile.TemporaryDirectory(prefix="recsys-cold-") as tmp:
            env = {**base, "RECSYS_HOME": tmp, "RECSYS_CACHE_DIR": str(Path(tmp) / "cache")}
            try:
                with app_process(env, timeout, workdir / "app-cold.log") as (proc, url, seconds):
                    started = time.perf_counter() - seconds
                    out["cold_start_s"] = round(seconds, 1)
                    out["cold_engine_ready_s"] = _ready_s(url, started, timeout, "engine")
                    out["cold_generator_ready_s"] = _ready_s(url, started, timeout)
                    out["cold_peak_rss_mb"] = _tree_rss(proc.pid)[1]
            except (RuntimeError, TimeoutError) as e:
                out["cold_start_s"] = f"failed: {e}"
        progress("startup: cold start done")
    else:
        out["cold_start_s"] = "skipped in --quick (minutes: conversion + embedding); run without --quick"
    with tempfile.TemporaryDirectory(prefix="recsys-warm-") as tmp:
        env = {**base, "RECSYS_HOME": tmp, "RECSYS_CACHE_DIR": str(settings.cache)}
        # the old path first: sentence-transformers embeddings and a page that waits for the generator
        old = {**env, "RECSYS_EMBED_BACKEND": "torch", "RECSYS_BACKGROUND_LOAD": "0"}
        with app_process(old, timeout, workdir / "app-warm-old.log") as (proc, url, seconds):
            out["warm_start_old_path_s"] = round(seconds, 1)
        with app_process(env, timeout, workdir / "app-warm.log") as (proc, url, seconds):
            started = time.perf_counter() - seconds
            out["warm_start_s"] = round(seconds, 1)
            out["warm_engine_ready_s"] = _ready_s(url, started, timeout, "engine")
            out["warm_generator_ready_s"] = _ready_s(url, started, timeout)
            out["warm_start_ratio"] = round(out["warm_start_old_path_s"] / max(seconds, 1e-9), 2)
            time.sleep(2.0)
            out["idle_rss_mb"], _ = _tree_rss(proc.pid)
            progress("startup: warm start done")
            # two turns with generation, one person, then as many at once as the page computes (Settings.concurrency)
            rows = server_concurrency(url, (1, settings.concurrency), 2, single_turns=2)
            out["server_with_generation"] = rows
            out["peak_rss_after_generation_mb"] = _tree_rss(proc.pid)[1]
        with app_process({**env, "RECSYS_EXPLAINER": "template"}, timeout, workdir / "app-template.log") as (
            proc,
            url,
            served_s,
        ):
            # turns timed once the whole app is up: the generator still loads behind a ready engine (even with
            # template reasons), and its load would share the cores with the first timed turns
            _ready_s(url, time.perf_counter() - served_s, timeout)
            turns = 2 if quick else 5
            out["server_page_turn"] = page_turns(url, proc.pid, 10 if quick else 30)
            progress("startup: page turns done")
            out["server_without_generation"] = server_concurrency(url, server_levels, turns, pid=proc.pid)
            # paced rows are mostly think time: twice the turns for a steadier p95 at little cost
            out["server_without_generation_paced"] = server_concurrency(url, server_levels, 2 * turns, THINK_S)
            out["server_turns_per_session"] = turns
            out["peak_rss_under_load_mb"] = _tree_rss(proc.pid)[1]
            progress("concurrency: server done")
            # the burst over two processes sharing the database, as replicas behind a sticky load balancer: one
            # process does about one core's work (Gradio's loop and the engine share one interpreter lock)
            out["server_two_replicas"] = _two_replicas(
                (url, proc.pid),
                {**env, "RECSYS_EXPLAINER": "template"},
                timeout,
                workdir / "app-replica.log",
                server_levels[-1],
                turns,
            )
            progress("concurrency: two replicas done")
        # the same bursts against a page that does no work (recsys/web/floor.py): Gradio's and the client's share,
        # in one process and in two
        with app_process(env, timeout, workdir / "floor.log", module=FLOOR) as (proc, url, _):
            out["server_floor"] = server_concurrency(url, (server_levels[0], server_levels[-1]), turns, pid=proc.pid)
            out["server_floor_two_replicas"] = _two_replicas(
                (url, proc.pid), env, timeout, workdir / "floor-replica.log", server_levels[-1], turns, module=FLOOR
            )
        progress("concurrency: the server's floor done")
    out["app_logs"] = str(workdir)
    return out


def _two_replicas(
    first: tuple[str, int],
    env: dict[str, str],
    timeout: float,
    log: Path,
    sessions: int,
    turns: int,
    module: str | None = None,
) -> list[dict[str, Any]] | str:
    """A burst of `sessions` over `first` (url, pid) and a second process started here with `env` (app.py, or the
    page `module`): sessions take the two in turn, each staying with one. A second process that cannot start is
    reported as failed, and the rest of the section still counts."""
    try:
        with app_process(env, timeout, log, module=module) as (other, other_url, other_s):
            if module is None:  # the app: its turns are timed once it is wholly up, as the first process's were
                _ready_s(other_url, time.perf_counter() - other_s, timeout)
            return server_concurrency(first[0], (sessions,), turns, pid=first[1], replicas=[(other_url, other.pid)])
    except (RuntimeError, TimeoutError) as e:
        return f"failed: {e}"
