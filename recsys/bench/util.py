"""Shared pieces of `python -m recsys bench`: summary statistics, memory readings, machine facts, the fixed
request list, and a timing wrapper around a generator (to see the first generated token inside a turn).

Nothing here loads a model; the section modules (bench_index, bench_turn, bench_serve) do.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..generation.stream import close_stream

# Fifty requests, in ten five-turn dialogues: constraints accumulate across a dialogue as they do for people.
REQUESTS: tuple[str, ...] = (
    "A funny science fiction film, nothing with horror",
    "something older",
    "more like that, but from the 80s",
    "no comedies this time",
    "start over",
    "A tense 90s crime thriller",
    "with a heist",
    "something shorter",
    "anything from before 1990?",
    "more",
    "Something romantic from before 1970",
    "a musical maybe",
    "in colour, after 1955",
    "no war films",
    "another one",
    "An animated film for the whole family",
    "something with talking animals",
    "newer please",
    "not Disney",
    "start over",
    "a dark psychological drama",
    "nothing violent",
    "from the 2000s",
    "set in Europe",
    "show me five",
    "a classic western",
    "from the 50s",
    "with John Wayne",
    "something less famous",
    "more",
    "a feel-good sports movie",
    "about boxing",
    "no dramas",
    "before 2000",
    "another",
    "a scary film for Halloween",
    "not too gory",
    "older, from the 70s",
    "with a haunted house",
    "more like that",
    "a smart mystery with a twist",
    "no horror",
    "something from the 40s",
    "film noir",
    "more",
    "an epic war film",
    "about the second world war",
    "not too long",
    "something newer",
    "start over",
)
PACKAGES = (
    "torch",
    "transformers",
    "sentence-transformers",
    "faiss-cpu",
    "numpy",
    "gradio",
    "gradio_client",
    "sqlalchemy",
    "tqdm",
)


def summary(samples: Sequence[float]) -> dict[str, float | int]:
    """n, median, p95, mean, min, max of samples (milliseconds or any unit), rounded for reports."""
    a = np.asarray(list(samples), dtype=np.float64)
    if a.size == 0:
        return {"n": 0}
    return {
        "n": int(a.size),
        "median": _r(np.median(a)),
        "p95": _r(np.percentile(a, 95)),
        "mean": _r(a.mean()),
        "min": _r(a.min()),
        "max": _r(a.max()),
    }


def _r(x: float) -> float:
    """Three significant decimals are plenty for timings."""
    return float(round(float(x), 3))


def ms_since(t0: float) -> float:
    """Milliseconds since a perf_counter reading."""
    return (time.perf_counter() - t0) * 1000.0


def _status(pid: int | str = "self") -> dict[str, int]:
    """VmRSS / VmHWM (peak RSS) of a process in kB from /proc (Linux); empty elsewhere."""
    out: dict[str, int] = {}
    try:
        for row in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = row.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    except OSError:
        pass
    return out


def rss_mb(pid: int | str = "self") -> float:
    """Resident memory of a process now, in MB (0.0 where /proc is missing)."""
    return round(_status(pid).get("VmRSS", 0) / 1024.0, 1)


def peak_rss_mb(pid: int | str = "self") -> float:
    """Peak resident memory of a process since it started (VmHWM), in MB."""
    return round(_status(pid).get("VmHWM", 0) / 1024.0, 1)


def cpu_model() -> str:
    """The CPU's marketing name, from /proc/cpuinfo where there is one."""
    try:
        for row in Path("/proc/cpuinfo").read_text().splitlines():
            if row.startswith("model name"):
                return row.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def usable_cores() -> int:
    """Cores this process may run on (its affinity, which a container or taskset narrows), else all of them."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) the process has used so far (Linux /proc; 0.0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_mark(marks: list[tuple[float, float, float]], pids: Sequence[int] = ()) -> None:
    """Append (the processes `pids`' CPU s together, this process's CPU s, time): where a level's CPU is counted
    from, as a barrier's action once every session is open (their openings are not the level's turns)."""
    marks.append((sum(map(process_cpu_s, pids)), time.process_time(), time.perf_counter()))


def cores_busy(cpu_s: float, wall_s: float) -> float:
    """The share of the usable cores' time that `cpu_s` of CPU took in `wall_s`: near 1.0, the work was bound by the
    CPU, and only less CPU a turn makes it faster; near 1 / cores, one thread (or one interpreter lock) did it all."""
    return round(cpu_s / max(wall_s * usable_cores(), 1e-9), 2)


def machine_info() -> dict[str, Any]:
    """CPU, cores, RAM, GPU, load and package versions: what a reader needs to compare two reports."""
    ram_gb = 0.0
    try:
        for row in Path("/proc/meminfo").read_text().splitlines():
            if row.startswith("MemTotal:"):
                ram_gb = round(int(row.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    gpu = "no CUDA device"
    try:
        import torch

        if torch.cuda.is_available():
            gpu = f"{torch.cuda.get_device_name(0)} (CUDA {torch.version.cuda})"
        torch_threads = torch.get_num_threads()
    except ImportError:
        torch_threads = None
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "host": socket.gethostname(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": usable_cores(),
        "torch_threads": torch_threads,
        "ram_gb": ram_gb,
        "gpu": gpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": [round(x, 2) for x in load],
        "versions": versions,
    }


def machine_slug(info: dict[str, Any]) -> str:
    """A file-name-safe machine label: CPU family and core count ("intel-xeon-2c")."""
    words = [
        w
        for w in info.get("cpu", "cpu").replace("(R)", "").replace("(TM)", "").lower().split()
        if w.isalnum() and w not in ("processor", "cpu", "core")
    ][:3]
    return "-".join(words + [f"{info.get('cores') or 0}c"])


def unit_vectors(n: int, dim: int, seed: int, chunk: int = 100_000) -> np.ndarray:
    """(n, dim) float32 random unit rows, made in chunks so 1M x 384 never needs a float64 copy."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, chunk):
        block = rng.standard_normal((min(chunk, n - start), dim), dtype=np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[start : start + len(block)] = block
    return out


def recall_at_k(found: Sequence[Sequence[int]], truth: Sequence[Sequence[int]], k: int = 10) -> float:
    """Mean fraction of the true top-k found in the approximate top-k."""
    hits = [len(set(list(f)[:k]) & set(list(t)[:k])) / max(1, min(k, len(t))) for f, t in zip(found, truth)]
    return float(np.mean(hits)) if hits else 0.0


class TimedGenerator:
    """Wraps a generator: records when each stream started, its first piece, its end and the text it made.

    The engine's own timings see the reply's header (written before any generation); this sees the model.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = getattr(inner, "name", "?")
        self.thread_safe = getattr(inner, "thread_safe", False)
        self.calls: list[dict[str, float | str]] = []
        if hasattr(inner, "stream_many"):  # the explainer writes a reply's reasons together where it can
            self.stream_many = self._stream_many

    def stream(
        self, messages: list[dict[str, str]], max_new_tokens: int = 64, stop: Sequence[str] = ()
    ) -> Iterator[str]:
        """The inner stream, timed."""
        return self._timed(lambda: self.inner.stream(messages, max_new_tokens, stop))

    def _stream_many(self, prompts: Sequence[list[dict[str, str]]], max_new_tokens: int = 64, stop=()) -> list:
        """The inner streams written together, each timed as it is read (the explainer reads them in order)."""
        streams = self.inner.stream_many(prompts, max_new_tokens, stop)
        return [self._timed(lambda s=s: s) for s in streams]

    def _timed(self, open_pieces: Callable[[], Iterator[str]]) -> Iterator[str]:
        call: dict[str, float | str] = {"start": time.perf_counter(), "text": ""}
        self.calls.append(call)
        pieces = open_pieces()
        try:
            for piece in pieces:
                call.setdefault("first", time.perf_counter())
                call["text"] = str(call["text"]) + piece
                yield piece
        finally:
            call["end"] = time.perf_counter()
            close_stream(pieces)

    def complete(self, messages: list[dict[str, str]], max_new_tokens: int = 64, stop: Sequence[str] = ()) -> str:
        """The whole reply, through the timed stream."""
        return "".join(self.stream(messages, max_new_tokens, stop))

    def tokens(self, text: str) -> int:
        """Tokens in text by the inner model's tokenizer (pieces approximate it for a remote model)."""
        return count_tokens(self.inner, text)


def count_tokens(gen, text: str) -> int:
    """Tokens in text by a generator's own tokenizer: llama.cpp's (count_tokens), transformers', else words (a
    remote model's pieces approximate them)."""
    if hasattr(gen, "count_tokens"):
        return gen.count_tokens(text)
    tokenizer = getattr(gen, "tokenizer", None)
    if tokenizer is None:
        return len(text.split())
    return len(tokenizer(text, add_special_tokens=False).input_ids)
