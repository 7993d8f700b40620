"""The one place that picks a text generator from Settings: a local causal LM or an OpenAI-compatible server.

    gen = load_generator(Settings.from_env())      # "smollm2" | model.gguf | HF folder | http(s)://host:port
    for piece in gen.stream([{"role": "user", "content": "Hi"}], max_new_tokens=20, stop=("\\n",)):
        print(piece, end="")

Every generator follows generation.stream.Generator (greedy, so the same prompt gives the same text). A GGUF file
is de-quantized once and cached as an HF folder (generation.gguf); later loads take about a second (plus importing
torch and transformers).
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..core.config import Settings
from ..core.errors import ConfigError
from .gguf import load_gguf, smollm2_path
from .local import LocalGenerator
from .openai import OpenAIGenerator, without_credentials
from .stream import Generator

log = logging.getLogger(__name__)


def load_generator(settings: Settings) -> Generator:
    """The generator named by settings.generator: "smollm2", a .gguf file, an HF folder or an http(s) URL."""
    spec = settings.generator.strip()
    if spec.startswith(("http://", "https://")):
        log.info("generator: OpenAI-compatible server %s", without_credentials(spec))
        return OpenAIGenerator(spec, settings.generator_model, settings.api_key)
    if spec.lower() == "smollm2":
        return load_gguf(smollm2_path(), settings)
    path = Path(spec).expanduser()
    if path.suffix.lower() == ".gguf":
        if not path.is_file():
            raise ConfigError(f"generator {spec!r}: no such GGUF file")
        return load_gguf(path, settings)
    if path.is_dir():
        return LocalGenerator.from_folder(path, settings.device)
    raise ConfigError(
        f"generator {spec!r} is not understood: use 'smollm2', a .gguf file, an HF model folder, "
        "or an http(s):// URL of an OpenAI-compatible server"
    )
