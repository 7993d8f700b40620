"""The one place that picks a text generator from Settings: a local causal LM or an OpenAI-compatible server.

    gen = load_generator(Settings.from_env())      # "smollm2" | model.gguf | HF folder | http(s)://host:port
    for piece in gen.stream([{"role": "user", "content": "Hi"}], max_new_tokens=20, stop=("\\n",)):
        print(piece, end="")

Every generator follows generation.stream.Generator (greedy, so the same prompt gives the same text). A GGUF file
runs on llama.cpp (generation.llamacpp) on CPU when llama-cpp-python is installed (scripts/setup.sh builds it);
otherwise, on CUDA, or with RECSYS_GENERATOR_BACKEND=transformers, it is de-quantized once and cached as an HF
folder for transformers (generation.gguf); later loads take about a second (plus importing torch and transformers).
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..core.config import Settings
from ..core.errors import ConfigError, ModelError
from .gguf import load_gguf, smollm2_path
from .llamacpp import LlamaCppGenerator
from .local import LocalGenerator
from .openai import OpenAIGenerator, without_credentials
from .stream import Generator

log = logging.getLogger(__name__)
_fallback_said = False  # why the transformers path runs a GGUF file is logged once a process, not per load


def load_generator(settings: Settings) -> Generator:
    """The generator named by settings.generator: "smollm2", a .gguf file, an HF folder or an http(s) URL."""
    spec = settings.generator.strip()
    if spec.startswith(("http://", "https://")):
        log.info("generator: OpenAI-compatible server %s", without_credentials(spec))
        return OpenAIGenerator(spec, settings.generator_model, settings.api_key)
    if spec.lower() == "smollm2":
        return _load_gguf_file(smollm2_path(), settings)
    path = Path(spec).expanduser()
    if path.suffix.lower() == ".gguf":
        if not path.is_file():
            raise ConfigError(f"generator {spec!r}: no such GGUF file")
        return _load_gguf_file(path, settings)
    if path.is_dir():
        if settings.generator_backend == "llamacpp":
            raise ConfigError(f"generator_backend=llamacpp runs .gguf files; {spec!r} is a folder (use transformers)")
        return LocalGenerator.from_folder(path, settings.device)
    raise ConfigError(
        f"generator {spec!r} is not understood: use 'smollm2', a .gguf file, an HF model folder, "
        "or an http(s):// URL of an OpenAI-compatible server"
    )


def gguf_backend(settings: Settings) -> tuple[str, str]:
    """(backend, why) for a GGUF file: "llamacpp" or "transformers", and the reason when it is not llama.cpp."""
    if settings.generator_backend == "transformers":
        return "transformers", "RECSYS_GENERATOR_BACKEND=transformers"
    if settings.generator_backend == "llamacpp":
        return "llamacpp", ""
    if settings.device != "cpu" and _cuda(settings.device):
        return "transformers", "CUDA runs on transformers (this llama.cpp build is for the CPU)"
    problem = llamacpp_problem()
    if problem:
        return "transformers", f"llama-cpp-python is not usable ({problem}); bash scripts/setup.sh builds it"
    return "llamacpp", ""


def llamacpp_problem() -> str:
    """Empty when llama_cpp imports (its shared library loads too), else why not."""
    try:
        import llama_cpp  # noqa: F401
    except (ImportError, OSError) as e:
        return f"{type(e).__name__}: {e}"
    return ""


def _cuda(device: str) -> bool:
    """Whether `device` means a CUDA device ("cuda", or "auto" on a machine where torch sees one)."""
    if device == "cuda":
        return True
    import torch

    return torch.cuda.is_available()


def _load_gguf_file(path: Path, settings: Settings) -> Generator:
    """A GGUF file on the backend gguf_backend picks; a forced llamacpp that cannot load is a ConfigError."""
    global _fallback_said
    backend, why = gguf_backend(settings)
    if backend == "llamacpp":
        gpu_layers = -1 if settings.device == "cuda" else 0  # offloads only if this llama.cpp build has CUDA
        try:
            return LlamaCppGenerator.from_gguf(path, settings.generator_threads, gpu_layers, settings.cache)
        except ModelError as e:
            if settings.generator_backend == "llamacpp":
                raise ConfigError(f"generator_backend=llamacpp: {e}") from e
            why = str(e)
    if why and settings.generator_backend == "auto" and not _fallback_said:
        _fallback_said = True
        log.warning("generator: transformers on a converted copy of %s, not llama.cpp: %s", path.name, why)
    return load_gguf(path, settings)
