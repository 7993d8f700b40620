"""Item vectors that ship with the checkout for the default catalog, so a first start does not embed 17k films.

    vectors = shipped_vectors(fields)       # (N, d) float32, or None unless model, catalog and texts all match
    untitled = shipped_untitled(fields)     # (N, d) vectors of item_text(titled=False) (the title-echo check)
    write_shipped(fields, vectors, untitled)   # python -m recsys build-index --ship

`fields` is cache.embedding_fields(catalog, encoder): the same model id, catalog hash and text checksum that key the
cache, so shipped vectors are used exactly when embedding would have produced them. They are stored as float16
(cosines within 1e-4 of the float32 ones, half the size) and are ours to redistribute: computed from the CC0
catalog with the Apache-2.0 MiniLM weights.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
from pathlib import Path
from typing import Any

import numpy as np

from ..core.files import atomic_write
from ..core.paths import DATA

log = logging.getLogger(__name__)

SHIPPED = DATA  # shipped vectors live in data/embeddings/<model>-<catalog hash>/
KEYS = ("model_id", "content_hash", "dim", "count", "texts_sha256")  # what must match for shipped vectors to be used
FILES = {"vectors": "vectors.npy", "untitled": "untitled.npy"}


def folder_name(model_id: str, content_hash: str) -> str:
    """<model-id-slug>-<catalog hash[:16]>: the name of a cache folder and of a shipped one."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", model_id).strip("-")
    return f"{slug}-{content_hash[:16]}"


def _folder(fields: dict[str, Any], root: Path | None) -> Path:
    """data/embeddings/<model-slug>-<catalog hash[:16]>/."""
    return (root or SHIPPED) / "embeddings" / folder_name(fields["model_id"], fields["content_hash"])


def _load(fields: dict[str, Any], kind: str, root: Path | None) -> np.ndarray | None:
    """The shipped (N, d) float32 unit rows of `kind`, or None when absent, stale or damaged."""
    folder = _folder(fields, root)
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
        data = (folder / FILES[kind]).read_bytes()
    except (OSError, ValueError):
        return None
    stale = [k for k in KEYS if manifest.get(k) != fields.get(k)]
    if stale or manifest.get(f"{kind}_sha256") != hashlib.sha256(data).hexdigest():
        log.warning("shipped %s in %s not used (%s differ)", kind, folder, ", ".join(stale) or "checksum")
        return None
    vectors = np.load(io.BytesIO(data), allow_pickle=False).astype(np.float32)
    if vectors.shape != (fields["count"], fields["dim"]):
        return None
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)  # unit rows again after float16
    return vectors


def shipped_vectors(fields: dict[str, Any], root: Path | None = None) -> np.ndarray | None:
    """The catalog's item vectors as shipped, when they are what this model would compute for these texts."""
    return _load(fields, "vectors", root)


def shipped_untitled(fields: dict[str, Any], root: Path | None = None) -> np.ndarray | None:
    """Vectors of every item's text without its title, when shipped for this model and catalog."""
    return _load(fields, "untitled", root)


def write_shipped(fields: dict[str, Any], vectors: np.ndarray, untitled: np.ndarray, root: Path | None = None) -> Path:
    """Write both matrices as float16 with a manifest of the fields they were computed for; the folder."""
    folder = _folder(fields, root)
    manifest = {k: fields[k] for k in KEYS}
    for kind, matrix in (("vectors", vectors), ("untitled", untitled)):
        if matrix.shape != (fields["count"], fields["dim"]):
            raise ValueError(f"{kind} have shape {matrix.shape}, expected {(fields['count'], fields['dim'])}")
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(matrix, dtype=np.float16), allow_pickle=False)
        atomic_write(folder / FILES[kind], buffer.getvalue())
        manifest[f"{kind}_sha256"] = hashlib.sha256(buffer.getvalue()).hexdigest()
    atomic_write(folder / "manifest.json", json.dumps(manifest, indent=1).encode())
    for stale in folder.parent.glob(f"{folder.name.rsplit('-', 1)[0]}-*"):
        if stale != folder and stale.is_dir():  # an older catalog's vectors: they would never match again
            for f in stale.iterdir():
                f.unlink()
            stale.rmdir()
    return folder
