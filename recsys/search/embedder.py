"""Which backend runs the sentence-embedding model: ONNX Runtime on CPU by default, sentence-transformers otherwise.

encoder = encoder_for(settings)    # engine, CLI, bench and jobs alike (Settings.embed_backend)
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

from ..core.config import EMBED_BACKENDS
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
