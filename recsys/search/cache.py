"""The embedding cache: item vectors on disk beside a manifest (model id, catalog hash, ordered ids, checksums).

    vectors = load_or_build_embeddings(catalog, encoder, cache_dir)   # (N, d): embeds once, then loads the cache
                                                                      # (or takes the vectors shipped in data/)

A cache is used only when every manifest field and the vectors' checksum match; anything else is rebuilt.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..catalog.catalog import Catalog
from ..core.errors import ModelError
from ..core.files import atomic_write, one_builder
from .encoder import Encoder
from .shipped import folder_name, shipped_vectors

log = logging.getLogger(__name__)


def _sha256(data: bytes) -> str:
    """Hex sha256 of bytes."""
    return hashlib.sha256(data).hexdigest()


def cache_folder(cache_dir: Path, model_id: str, content_hash: str) -> Path:
    """cache_dir/embeddings/<model-id-slug>-<content hash[:16]>/."""
    return Path(cache_dir) / "embeddings" / folder_name(model_id, content_hash)


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


def embedding_fields(catalog: Catalog, encoder: Encoder) -> dict[str, Any]:
    """What item vectors are a function of (model, catalog, item texts): the cache's and the shipped files' key."""
    texts = catalog.texts()
    return {
        "model_id": encoder.model_id,
        "content_hash": catalog.content_hash,
        "dim": int(encoder.dim),
        "count": len(texts),
        "item_ids": [it.item_id for it in catalog.items],
        "texts_sha256": _sha256(json.dumps(texts, ensure_ascii=False).encode()),  # item_text changes rebuild too
    }


def load_or_build_embeddings(
    catalog: Catalog,
    encoder: Encoder,
    cache_dir: Path,
    progress: bool = True,
    fields: dict[str, Any] | None = None,
    bulk: Callable[[], Encoder | None] | None = None,
) -> np.ndarray:
    """(N, d) float32 unit rows for the catalog: from the cache when it is intact, else from the vectors shipped
    for the default catalog (search.shipped), else embedded (by bulk's encoder when it makes one: _bulk_or); cached
    either way. `fields`: embedding_fields of this catalog and encoder, when the caller has them already."""
    expected = fields or embedding_fields(catalog, encoder)
    folder = cache_folder(cache_dir, encoder.model_id, catalog.content_hash)
    vectors = _cached(folder, expected)
    if vectors is not None:
        return vectors
    with one_builder(folder):
        vectors = _cached(folder, expected, warn=False)  # a process we waited for may have built it
        if vectors is not None:
            return vectors
        vectors = shipped_vectors(expected)
        if vectors is not None:
            log.info("using the %d item vectors shipped for this catalog", len(vectors))
            _write_cache(vectors, folder, expected, seconds=0.0)
            return vectors
        return _embed_and_cache(catalog.texts(), _bulk_or(encoder, bulk), folder, expected, progress)


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


def _bulk_or(encoder: Encoder, bulk: Callable[[], Encoder | None] | None) -> Encoder:
    """The encoder to embed a whole catalog with: bulk's (search.embedder.catalog_encoder) when it makes one of the
    same model, else `encoder`; one that fails to load is logged and `encoder` embeds instead."""
    if bulk is None:
        return encoder
    try:
        made = bulk()
    except ModelError as e:
        log.warning("catalog embedding: %s; embedding with %s instead", e, encoder.model_id)
        return encoder
    if made is None:
        return encoder
    if (made.model_id, made.dim) != (encoder.model_id, encoder.dim):  # the cache is keyed on the query encoder's
        raise ModelError(f"catalog encoder {made.model_id} is not the query encoder's model {encoder.model_id}")
    return made


def _embed_and_cache(
    texts: list[str], encoder: Encoder, folder: Path, expected: dict[str, Any], progress: bool
) -> np.ndarray:
    """Embed every text and write the cache (vectors, then the manifest that makes it whole)."""
    precision = getattr(encoder, "precision", "fp32")
    log.info(
        "embedding %d items with %s in %s (cached afterwards in %s)", len(texts), encoder.model_id, precision, folder
    )
    t0 = time.perf_counter()
    vectors = np.asarray(encoder.encode(texts, progress=progress), dtype=np.float32)  # (N, d)
    seconds = time.perf_counter() - t0
    if vectors.shape != (len(texts), encoder.dim):
        raise ModelError(f"{encoder.model_id} returned shape {vectors.shape}, expected {(len(texts), encoder.dim)}")
    _write_cache(vectors, folder, expected, seconds, precision)
    log.info("embedded %d items in %.1f s (%.0f texts/s)", len(texts), seconds, len(texts) / max(seconds, 1e-9))
    return vectors


def _write_cache(
    vectors: np.ndarray, folder: Path, expected: dict[str, Any], seconds: float, precision: str = "fp32"
) -> None:
    """Vectors first, manifest last: a manifest means a whole cache. `precision` is what the model ran in: said, not
    part of the key (bfloat16 and float32 vectors of one model are within 1e-4 in cosine, as the shipped float16
    ones are)."""
    buffer = io.BytesIO()
    np.save(buffer, vectors, allow_pickle=False)
    data = buffer.getvalue()
    atomic_write(folder / "vectors.npy", data)
    manifest = {**expected, "vectors_sha256": _sha256(data), "seconds": round(seconds, 2), "precision": precision}
    atomic_write(folder / "manifest.json", json.dumps(manifest, ensure_ascii=False).encode())
