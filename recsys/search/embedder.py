"""Which backend runs the sentence-embedding model: ONNX Runtime on CPU by default, sentence-transformers otherwise;
and which embeds a whole catalog: the same, or torch in bfloat16 where the CPU has AMX.

encoder = encoder_for(settings)          # engine, CLI, bench and jobs alike (Settings.embed_backend)
bulk = catalog_encoder(settings)         # opened only when a catalog is embedded (Settings.embed_precision)
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable
from pathlib import Path

from ..core.config import EMBED_BACKENDS, EMBED_PRECISIONS
from ..core.errors import ModelError
from .encoder import Encoder, SentenceEncoder
from .onnx import OnnxEncoder

log = logging.getLogger(__name__)


def open_encoder(spec: str, device: str = "cpu", backend: str = "auto", cache_dir: Path | None = None) -> Encoder:
    """The embedding model on the backend asked for. "auto" = ONNX Runtime on the CPU (queries ~6x sooner,
    queries without torch) when onnxruntime is installed and a cache folder is given, else sentence-transformers;
    an ONNX failure under "auto" is logged once and falls back to torch, under "onnx" it is the error."""
    if backend not in EMBED_BACKENDS:
        raise ModelError(f"embedding backend must be one of {', '.join(EMBED_BACKENDS)}, got {backend!r}")
    onnx_ok = device == "cpu" and cache_dir is not None and importlib.util.find_spec("onnxruntime") is not None
    if backend == "onnx" and not onnx_ok:
        why = "it runs on the CPU only" if device != "cpu" else "onnxruntime is not installed (scripts/setup.sh)"
        raise ModelError(f"the ONNX embedding backend cannot be used: {why}")
    if backend == "onnx" or (backend == "auto" and onnx_ok):
        try:
            return OnnxEncoder(spec, cache_dir)
        except ModelError as e:
            if backend == "onnx":
                raise
            log.warning("embeddings: ONNX Runtime not usable (%s); using sentence-transformers (torch)", e)
    return SentenceEncoder(spec, device=device)


def encoder_for(settings) -> Encoder:
    """The embedding model the settings name, on the backend they choose (engine, CLI, bench and jobs alike)."""
    return open_encoder(settings.embed_model, settings.device, settings.embed_backend, settings.cache)


def has_amx() -> bool:
    """True where torch's matrix products can use the CPU's AMX tiles: bfloat16 ones ran ~7× float32's there (a
    2-core Intel Xeon; without AMX, bfloat16 on the CPU is no faster than float32)."""
    import torch

    probe = getattr(torch.cpu, "_is_amx_tile_supported", None)  # torch's own check, as its oneDNN uses it
    return bool(probe and probe())


def catalog_precision(precision: str, device: str) -> str:
    """What a whole catalog is embedded in, "fp32" or "bf16" ("auto" = bf16 on a CPU with AMX)."""
    if precision not in EMBED_PRECISIONS:
        raise ModelError(f"embedding precision must be one of {', '.join(EMBED_PRECISIONS)}, got {precision!r}")
    if precision == "auto":
        return "bf16" if device == "cpu" and has_amx() else "fp32"
    return precision


def catalog_encoder(settings) -> Callable[[], Encoder | None]:
    """A maker of the encoder that embeds a whole catalog, called only when one is embedded (a cache miss): torch in
    bfloat16 where catalog_precision says so (~3.7× float32's texts/s, cosine ≥ 0.9999 to the float32 vectors;
    queries stay on encoder_for's float32 backend); it makes None where the query encoder embeds the catalog too."""

    def make() -> Encoder | None:
        if catalog_precision(settings.embed_precision, settings.device) == "fp32":
            return None
        return SentenceEncoder(settings.embed_model, device=settings.device, precision="bf16", cache_dir=settings.cache)

    return make
