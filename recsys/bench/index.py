"""Bench section "index": exact search against FAISS IVF and HNSW at growing catalog sizes.

Speed and memory on synthetic random unit vectors (384-d); recall@10 on them (a hard case: random points in
384-d have no clusters) and on the real catalog's embeddings with real request texts; embedding throughput of
the real encoder on a real text subset.
"""

from __future__ import annotations

import gc
import logging
import time
from typing import Any

import numpy as np

from ..bench.util import REQUESTS, ms_since, recall_at_k, rss_mb, summary, unit_vectors
from ..search.backends import ExactIndex, FaissIndex, _exact_top, tuning_queries

log = logging.getLogger(__name__)

DIM = 384  # all-MiniLM-L6-v2
HNSW_MAX = 200_000  # building HNSW over 1M points takes tens of minutes on 2 cores; IVF is the 1M candidate
HNSW_MAX_QUICK = 20_000  # 100k already takes minutes to build on 2 busy cores


def _latency(backend: Any, queries: np.ndarray, k: int, allowed: np.ndarray | None) -> dict[str, Any]:
    """Per-query search latency summary (ms) and the positions found, one query at a time as a turn does."""
    times, found = [], []
    for q in queries:
        t0 = time.perf_counter()
        positions, _ = backend.search(q, k, allowed)
        times.append(ms_since(t0))
        found.append(positions)
    return {"ms": summary(times), "found": found}


def _ann_entry(
    vectors: np.ndarray,
    kind: str,
    tuning: np.ndarray,
    queries: np.ndarray,
    truth: np.ndarray,
    allowed: np.ndarray,
    k: int,
    seed: int,
) -> dict[str, Any]:
    """Build one FAISS index over vectors, tune it on `tuning`, then time `queries` (plain and filtered) and
    measure their recall@k against `truth`: build time and memory, setting, latency, recall."""
    gc.collect()
    before = rss_mb()
    t0 = time.perf_counter()
    ann = FaissIndex(vectors, kind=kind, seed=seed, exact_below=0)
    build_s = time.perf_counter() - t0
    memory = rss_mb() - before
    tuned = ann.tune(tuning, k)
    result = _latency(ann, queries, k, None)
    return {
        "build_s": round(build_s, 2),
        "build_items_per_s": round(len(vectors) / max(build_s, 1e-9)),
        "memory_mb": round(memory, 1),
        "tuning_recall@10": round(tuned, 3),
        "setting": {"nprobe": ann.nprobe, "nlist": ann.nlist}
        if kind == "ivf"
        else {"efSearch": ann.ef_search, "M": 32},
        "search": result["ms"],
        "recall@10": round(recall_at_k(result["found"], truth, k), 3),
        "search_filtered": _latency(ann, queries, k, allowed)["ms"],
    }


def _one_size(n: int, n_queries: int, k: int, seed: int, progress, hnsw_max: int = HNSW_MAX) -> dict[str, Any]:
    """Build exact, IVF (and HNSW when small enough) over n random unit vectors; time, memory, recall."""
    gc.collect()
    base = rss_mb()
    t0 = time.perf_counter()
    vectors = unit_vectors(n, DIM, seed)  # (n, 384)
    row: dict[str, Any] = {
        "items": n,
        "vectors_mb": round(vectors.nbytes / 2**20, 1),
        "generate_s": round(time.perf_counter() - t0, 2),
    }
    queries = unit_vectors(n_queries, DIM, seed + 1)  # (q, 384)
    tune_q = unit_vectors(min(64, n_queries), DIM, seed + 2)  # tuned on other queries than those measured
    allowed = np.random.default_rng(seed).random(n) < 0.5  # a typical hard filter leaves about half the catalog
    row.update(
        _exact_and_ann(
            vectors,
            tune_q,
            queries,
            allowed,
            k,
            seed,
            n <= hnsw_max,
            lambda what: progress(f"index {n:,}: {what}"),
            {"build_s": 0.0, "memory_mb": round(rss_mb() - base, 1)},
        )
    )
    del vectors
    gc.collect()
    return row


def _exact_and_ann(
    vectors: np.ndarray,
    tuning: np.ndarray,
    queries: np.ndarray,
    allowed: np.ndarray,
    k: int,
    seed: int,
    with_hnsw: bool,
    progress,
    exact_extra: dict[str, Any],
) -> dict[str, Any]:
    """{"exact": ..., "ivf": ..., ["hnsw": ...]} over the same vectors and queries, recall against exact."""
    truth = _exact_top(vectors, queries, k)
    exact = ExactIndex(vectors)
    out: dict[str, Any] = {
        "exact": {
            **exact_extra,
            "search": _latency(exact, queries, k, None)["ms"],
            "search_filtered": _latency(exact, queries, k, allowed)["ms"],
            "recall@10": 1.0,
        }
    }
    del exact
    progress("exact done")
    for kind in ["ivf"] + (["hnsw"] if with_hnsw else []):
        out[kind] = _ann_entry(vectors, kind, tuning, queries, truth, allowed, k, seed)
        progress(f"{kind} done (recall {out[kind]['recall@10']})")
    return out


def _real(settings, n_queries: int, k: int, embed_texts: int, seed: int, parts=None) -> dict[str, Any]:
    """Recall on the real catalog's embeddings with real requests; encoder throughput on its texts.

    `parts` = (catalog, encoder, vectors) of an engine already loaded; otherwise they are loaded here."""
    from ..catalog.sources import load_catalog
    from ..search.cache import load_or_build_embeddings
    from ..search.embedder import encoder_for

    t0 = time.perf_counter()
    if parts is None:
        catalog = load_catalog(settings.catalog, settings.cache, progress=False)
        encoder = encoder_for(settings)
        vectors = None
    else:
        catalog, encoder, vectors = parts
    out: dict[str, Any] = {
        "catalog_items": len(catalog),
        "encoder": encoder.model_id,
        "load_s": round(time.perf_counter() - t0, 2),
    }
    texts = catalog.texts()
    subset = [
        texts[i] for i in np.random.default_rng(seed).choice(len(texts), min(embed_texts, len(texts)), replace=False)
    ]
    encoder.encode(subset[:8])  # first call pays one-off set-up
    t0 = time.perf_counter()
    encoder.encode(subset)
    seconds = time.perf_counter() - t0
    out["embed_items_per_s"] = round(len(subset) / max(seconds, 1e-9), 1)
    out["embed_texts"] = len(subset)
    query_ms = []
    for text in REQUESTS[:n_queries]:
        t0 = time.perf_counter()
        encoder.encode([text])
        query_ms.append(ms_since(t0))
    out["query_embedding_ms"] = summary(query_ms)
    if vectors is None:
        vectors = load_or_build_embeddings(catalog, encoder, settings.cache, progress=False)  # (N, d)
    queries = encoder.encode(list(REQUESTS))  # (50, 384)
    truth = _exact_top(vectors, queries, k)
    out["exact_search_ms"] = _latency(ExactIndex(vectors), queries, k, None)["ms"]
    tune_q = tuning_queries(vectors, encoder, seed, exclude=REQUESTS)  # what choose_backend tunes on
    out["tuning_queries"] = len(tune_q)
    for kind in ("ivf", "hnsw"):
        ann = FaissIndex(vectors, kind=kind, seed=seed, exact_below=0)
        tuned = ann.tune(tune_q, k)
        result = _latency(ann, queries, k, None)
        out[kind] = {
            "build_s": round(ann.build_seconds, 2),
            "tuning_recall@10": round(tuned, 3),
            "setting": {"nprobe": ann.nprobe, "nlist": ann.nlist} if kind == "ivf" else {"efSearch": ann.ef_search},
            "search": result["ms"],
            "recall@10": round(recall_at_k(result["found"], truth, k), 3),
        }
    out["_arrays"] = (vectors, queries, tune_q)  # for the real-like sizes (run_index takes them out)
    return out


def derived_vectors(real: np.ndarray, n: int, seed: int, noise: float = 0.03, chunk: int = 100_000) -> np.ndarray:
    """(n, d) unit vectors shaped like the real catalog's: each a random real film's vector plus Gaussian noise
    (0.03 a dimension puts it at cosine ~0.86 to its film), so a big catalog keeps real clusters and real
    requests stay as far from items as they are in use. Built in chunks to bound the temporary memory."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, real.shape[1]), dtype=np.float32)
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        block = real[rng.integers(len(real), size=m)] + rng.normal(0.0, noise, (m, real.shape[1])).astype(np.float32)
        out[start : start + m] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def _derived(
    real: np.ndarray, requests: np.ndarray, tuning: np.ndarray, n: int, k: int, seed: int, progress, hnsw_max: int
) -> dict[str, Any]:
    """Exact vs IVF (and HNSW when small enough) over n derived_vectors, queried with the real requests: speed,
    memory and the recall@10 that real requests get at that size, IVF tuned as choose_backend tunes it."""
    gc.collect()
    base = rss_mb()
    vectors = derived_vectors(real, n, seed)
    row: dict[str, Any] = {"items": n, "memory_mb": round(rss_mb() - base, 1)}
    allowed = np.random.default_rng(seed).random(n) < 0.5
    row.update(
        _exact_and_ann(
            vectors,
            tuning,
            requests,
            allowed,
            k,
            seed,
            n <= hnsw_max,
            lambda what: progress(f"index {n:,} (real-like): {what}"),
            {},
        )
    )
    del vectors
    gc.collect()
    return row


def run_index(settings, quick: bool, sizes: list[int] | None, progress, parts=None, seed: int = 0) -> dict[str, Any]:
    """The index section: per-size rows on synthetic vectors, then the real-catalog row."""
    sizes = sizes or ([10_000, 100_000] if quick else [10_000, 100_000, 1_000_000])
    n_queries = 100 if quick else 200
    k = 10
    rows = []
    for n in sizes:
        rows.append(_one_size(n, n_queries, k, seed, progress, HNSW_MAX_QUICK if quick else HNSW_MAX))
    out: dict[str, Any] = {
        "k": k,
        "queries": n_queries,
        "dim": DIM,
        "synthetic": rows,
        "note": "synthetic = random unit vectors: no cluster structure, so ANN recall there is a "
        "worst case; real = the catalog's own embeddings and the 50 bench requests",
    }
    try:
        out["real"] = _real(settings, 50, k, 256 if quick else 1024, seed, parts)
    except Exception as e:  # no embedding model installed: the synthetic rows still stand
        log.warning("real-catalog index bench skipped: %s", e)
        out["real"] = {"skipped": f"{type(e).__name__}: {e}"}
        return out
    vectors, requests, tuning = out["real"].pop("_arrays")
    out["derived"] = [
        _derived(vectors, requests, tuning, n, k, seed, progress, HNSW_MAX_QUICK if quick else HNSW_MAX)
        for n in sizes
        if n > len(vectors)
    ]
    out["derived_note"] = (
        "real-like = each item a real film's embedding plus noise (cosine ~0.86 to it), "
        "queried with the 50 real requests: the recall real requests get at that size"
    )
    return out
