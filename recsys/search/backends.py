"""Top-k search backends over unit vectors: exact (one matmul) and FAISS (IVF or HNSW), and which one a catalog gets.

    backend = choose_backend(vectors)                    # exact below 200k items, tuned FAISS IVF above
    positions, scores = backend.search(query, 10, allowed)   # best first, only allowed positions

An allowed mask is applied before top-k in every backend, so k results come back whenever k items are allowed.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from ..core.errors import ModelError
from ..core.paths import INTENTS
from .encoder import Encoder

log = logging.getLogger(__name__)


class VectorIndex(Protocol):
    """Top-k by inner product over unit vectors; a FAISS backend can implement the same call."""

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(positions, scores) best first, only allowed positions, fewer than k only if fewer are allowed."""
        ...


class ExactIndex:
    """Brute-force search: every score, exact, no build step; ~1.3 ms for 17k x 384 on one core."""

    def __init__(self, vectors: np.ndarray) -> None:
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)  # (N, d)
        self._kernel = _inner_products()

    def scores(self, query: np.ndarray) -> np.ndarray:
        """(N,) float32 inner products of every row with a (d,) query."""
        query = np.ascontiguousarray(query, dtype=np.float32)
        if query.shape != self.vectors.shape[1:]:
            raise ValueError(f"query has shape {query.shape}, expected ({self.vectors.shape[1]},)")
        return self._kernel(self.vectors, query)

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(positions, scores) best first, only allowed positions, fewer than k only if fewer are allowed."""
        scores = self.scores(query)
        if allowed is not None:
            allowed = np.asarray(allowed, dtype=bool)
            if allowed.shape != scores.shape:
                raise ValueError(f"allowed has shape {allowed.shape}, expected {scores.shape}")
            scores = np.where(allowed, scores, -np.inf)
        k = min(int(k), int(np.count_nonzero(allowed)) if allowed is not None else len(scores))
        if k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        top = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
        top = top[np.lexsort((top, -scores[top]))]  # best first; equal scores in catalog order
        return top.astype(np.int64), scores[top]


def _inner_products():
    """The (vectors, query) -> scores kernel: FAISS's SIMD loop (fvec_inner_products_ny) when faiss imports, else
    numpy's einsum.

    Why not BLAS (vectors @ query): OpenBLAS's gemv called from many threads at once (Gradio's workers) made 32
    concurrent 17k searches take 5-10 s on 2 cores instead of 0.4-0.6 s (concurrency bench). Both kernels here run
    in the calling thread. In a turn the 27 MB matrix is no longer in the CPU's cache, and there einsum's loop took
    3.8 ms and FAISS's 1.3 ms (same scores to 1e-7); FAISS also lets go of the GIL, so searches run in parallel.
    """
    try:
        import faiss
    except ImportError:
        return lambda vectors, query: np.einsum("nd,d->n", vectors, query)

    def faiss_kernel(vectors: np.ndarray, query: np.ndarray) -> np.ndarray:
        out = np.empty(len(vectors), dtype=np.float32)
        n, d = vectors.shape
        faiss.fvec_inner_products_ny(faiss.swig_ptr(out), faiss.swig_ptr(query), faiss.swig_ptr(vectors), d, n)
        return out

    return faiss_kernel


# ANN is tuned to a little above the 0.95 recall@10 promised: the requests it then serves are not the tuning set
# (bench 2026-11-25: 0.962 on the tuning set was 0.922 on the bench's own 50 requests at the same nprobe).
TUNE_TARGET = 0.98


class FaissIndex:
    """Approximate top-k with FAISS (IVF-flat or HNSW, inner product) for catalogs too big for one matmul.

    Filters keep the exact index's guarantee: the allowed mask is applied inside the ANN search (an ID selector,
    so hard constraints act before top-k), and when the ANN pass finds fewer than k allowed items, or few items
    are allowed at all, the allowed subset is searched exactly instead.
    """

    def __init__(
        self,
        vectors: np.ndarray,
        kind: str = "ivf",
        nlist: int | None = None,
        nprobe: int | None = None,
        hnsw_m: int = 32,
        ef_search: int = 128,
        exact_below: int = 20_000,
        seed: int = 0,
    ) -> None:
        try:
            import faiss
        except ImportError as e:
            raise ModelError(f"the FAISS index needs faiss-cpu: pip install faiss-cpu==1.15.1 ({e})") from e
        self.faiss = faiss
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)  # (N, d); exact fallback reads these
        n, d = self.vectors.shape
        self.kind = kind
        self.exact_below = exact_below  # allowed sets this small cost about one 17k matmul to score exactly
        t0 = time.perf_counter()
        if kind == "ivf":
            # ~2 sqrt(N) lists (2,000 at 1M): cheap to train on 2 cores; at least 39 training points per list.
            self.nlist = int(nlist or max(1, min(int(2 * np.sqrt(n)), n // 39)))
            quantizer = faiss.IndexFlatIP(d)
            self.index = faiss.IndexIVFFlat(quantizer, d, self.nlist, faiss.METRIC_INNER_PRODUCT)
            sample = self.vectors
            if n > 64 * self.nlist:  # k-means needs a sample (64 per list), not the whole catalog
                sample = self.vectors[np.random.default_rng(seed).choice(n, 64 * self.nlist, replace=False)]
            self.index.cp.seed = seed
            self.index.cp.niter = 10  # 10 k-means rounds: the lists barely move after that; 25 cost 2.5x the build
            self.index.train(sample)
            self.index.add(self.vectors)
            self.nprobe = int(nprobe or max(1, self.nlist // 16))
        elif kind == "hnsw":
            self.index = faiss.IndexHNSWFlat(d, hnsw_m, faiss.METRIC_INNER_PRODUCT)
            self.index.hnsw.efConstruction = 2 * hnsw_m
            self.index.add(self.vectors)
            self.nprobe = 0
        else:
            raise ValueError(f"FAISS index kind must be ivf or hnsw, got {kind!r}")
        self.ef_search = ef_search
        self.build_seconds = time.perf_counter() - t0
        log.info("FAISS %s index over %d x %d built in %.1f s", kind, n, d, self.build_seconds)

    def _params(self, selector):
        """Search parameters carrying the filter and the speed/recall knob (nprobe or efSearch)."""
        if self.kind == "ivf":
            return self.faiss.SearchParametersIVF(sel=selector, nprobe=self.nprobe)
        return self.faiss.SearchParametersHNSW(sel=selector, efSearch=max(self.ef_search, 1))

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(positions, scores) best first, only allowed positions, fewer than k only if fewer are allowed."""
        n = len(self.vectors)
        q = np.asarray(query, dtype=np.float32).reshape(1, -1)  # (1, d)
        selector, count = None, n
        if allowed is not None:
            allowed = np.asarray(allowed, dtype=bool)
            if allowed.shape != (n,):
                raise ValueError(f"allowed has shape {allowed.shape}, expected {(n,)}")
            count = int(np.count_nonzero(allowed))
            if count < n:
                bits = np.packbits(allowed, bitorder="little")  # bit i of byte i // 8 = position i
                selector = self.faiss.IDSelectorBitmap(n, self.faiss.swig_ptr(bits))
        k = min(int(k), count)
        if k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        if count <= max(self.exact_below, k):
            return self._exact(q[0], k, allowed)
        if self.kind == "hnsw":
            self.ef_search = max(self.ef_search, k)  # HNSW returns at most efSearch results
        scores, positions = self.index.search(q, k, params=self._params(selector))  # (1, k) each
        keep = positions[0] >= 0  # -1 pads a result list the probed lists could not fill
        if int(keep.sum()) < k:  # too few allowed items in the probed part: exact over the allowed subset
            return self._exact(q[0], k, allowed)
        return positions[0].astype(np.int64), scores[0].astype(np.float32)

    def tune(self, queries: np.ndarray, k: int = 10, target_recall: float = TUNE_TARGET) -> float:
        """Set the smallest nprobe (IVF) or efSearch (HNSW) whose recall@k against exact search on `queries`
        (q, d) reaches `target_recall`; returns the recall reached (below target only at the largest setting)."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)  # (q, d)
        truth = _exact_top(self.vectors, queries, k)  # (q, k)
        if self.kind == "ivf":  # half-powers of two: nprobe 128 vs 256 is the difference between fast and exhaustive
            knobs = [n for n in sorted({int(2 ** (i / 2)) for i in range(40)}) if n < self.nlist] + [self.nlist]
        else:  # HNSW's filtered walk needs headroom, so efSearch stays on powers of two
            knobs = [2**i for i in range(4, 12)]
        recall = 0.0
        for knob in knobs:
            if self.kind == "ivf":
                self.nprobe = knob
            else:
                self.ef_search = knob
            found = self.index.search(queries, k, params=self._params(None))[1]  # (q, k)
            recall = float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth)]))
            if recall >= target_recall:
                break
        log.info(
            "FAISS %s tuned: %s=%d, recall@%d %.3f",
            self.kind,
            "nprobe" if self.kind == "ivf" else "efSearch",
            self.nprobe if self.kind == "ivf" else self.ef_search,
            k,
            recall,
        )
        return recall

    def _exact(self, query: np.ndarray, k: int, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-k over the allowed rows only (gathered, so a small subset costs little)."""
        rows = np.flatnonzero(allowed) if allowed is not None else np.arange(len(self.vectors))
        top, scores = ExactIndex(self.vectors[rows]).search(query, k)
        return rows[top].astype(np.int64), scores


def _exact_top(vectors: np.ndarray, queries: np.ndarray, k: int, chunk: int = 32) -> np.ndarray:
    """(q, k) exact top-k positions for a batch of queries, a few at a time so (q, N) scores stay small."""
    out = np.zeros((len(queries), min(k, len(vectors))), dtype=np.int64)
    for start in range(0, len(queries), chunk):
        scores = queries[start : start + chunk] @ vectors.T  # (c, N)
        top = np.argpartition(-scores, out.shape[1] - 1, axis=1)[:, : out.shape[1]]
        out[start : start + chunk] = top
    return out


TUNING_TEXTS = INTENTS  # people's requests


def tuning_requests(limit: int = 256) -> list[str]:
    """Request texts people write (the labelled intent set), to tune ANN on: requests embed far from the item
    texts they look for, so tuning on perturbed items alone over-states recall (0.95 there was 0.92 on real
    requests, bench 2026-11-25). Empty when the file is not there (an installed package without data/)."""
    try:
        lines = TUNING_TEXTS.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    texts = [json.loads(line).get("text", "") for line in lines if line.strip()]
    return [t for t in texts if t.strip()][:limit]


def tuning_queries(
    vectors: np.ndarray, encoder: Encoder | None = None, seed: int = 0, exclude: Sequence[str] = ()
) -> np.ndarray:
    """(q, d) unit queries to tune ANN on: encoded request texts (when an encoder is given; `exclude` keeps a
    bench's measured requests out) plus catalog vectors with a little noise (the "more like this film" queries)."""
    rng = np.random.default_rng(seed)
    near = vectors[rng.choice(len(vectors), min(64, len(vectors)), replace=False)]  # (64, d)
    near = near + rng.normal(0.0, 0.05, near.shape).astype(np.float32)  # near items, not on them
    parts = [near / np.linalg.norm(near, axis=1, keepdims=True)]
    texts = [t for t in tuning_requests() if t not in set(exclude)] if encoder is not None else []
    if texts:
        parts.append(np.asarray(encoder.encode(texts), dtype=np.float32))
    return np.ascontiguousarray(np.concatenate(parts))


def choose_backend(
    vectors: np.ndarray,
    backend: str = "auto",
    ann_min_items: int = 200_000,
    target_recall: float = TUNE_TARGET,
    seed: int = 0,
    encoder: Encoder | None = None,
) -> VectorIndex:
    """The search backend for a catalog: exact below `ann_min_items` (or when asked), FAISS IVF above, tuned on
    request-like queries (tuning_queries) so recall@10 against exact search reaches `target_recall`."""
    if backend not in ("auto", "exact", "faiss"):
        raise ValueError(f"index backend must be auto, exact or faiss, got {backend!r}")
    if backend == "exact" or (backend == "auto" and len(vectors) < ann_min_items):
        return ExactIndex(vectors)
    index = FaissIndex(vectors, kind="ivf", seed=seed)
    index.tune(tuning_queries(vectors, encoder, seed), target_recall=target_recall)
    return index
