"""Bench section "embedding": sentence-transformers (torch, the old path) against ONNX Runtime, side by side.

Both run the same packaged model on the same real catalog texts and the bench's fifty real requests, in one run:
load time, catalog throughput (texts/s, and the full catalog's time at that rate), one-query latency, and quality
kept: the cosine of each text's two vectors and the top-10 overlap of the requests' neighbours among the sample.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..bench.util import REQUESTS, ms_since, summary
from ..search.backends import _exact_top

TOP = 10


def _one(encoder: Any, texts: list[str], query_rounds: int) -> dict[str, Any]:
    """Throughput on `texts` and one-request latency (each request `query_rounds` times) of one encoder."""
    encoder.encode(texts[:16])  # first call pays one-off set-up (ORT's arena, torch's kernels)
    t0 = time.perf_counter()
    vectors = encoder.encode(texts)
    seconds = time.perf_counter() - t0
    query_ms = []
    for _ in range(query_rounds):
        for text in REQUESTS:
            t0 = time.perf_counter()
            encoder.encode([text])
            query_ms.append(ms_since(t0))
    return {
        "texts_per_s": round(len(texts) / max(seconds, 1e-9), 1),
        "query_ms": summary(query_ms),
        "_vectors": vectors,
        "_queries": encoder.encode(list(REQUESTS)),
    }


def run_embedding(settings, quick: bool, progress, catalog=None) -> dict[str, Any]:
    """The two backends' rows and the ONNX/torch ratios (needs onnxruntime; the torch row is always measured)."""
    from ..catalog.sources import load_catalog
    from ..search.encoder import SentenceEncoder
    from ..search.onnx import OnnxEncoder

    catalog = catalog or load_catalog(settings.catalog, settings.cache, progress=False)
    texts = catalog.texts()
    n = min(500 if quick else 2000, len(texts))
    sample = [texts[i] for i in np.random.default_rng(0).choice(len(texts), n, replace=False)]
    rows: dict[str, dict[str, Any]] = {}
    for name, make in (
        ("torch (sentence-transformers)", lambda: SentenceEncoder(settings.embed_model, device="cpu")),
        ("onnx (ONNX Runtime)", lambda: OnnxEncoder(settings.embed_model, settings.cache)),
    ):
        t0 = time.perf_counter()
        encoder = make()  # the ONNX export already in the cache: its one-off export is the startup section's
        load_s = round(time.perf_counter() - t0, 2)
        rows[name] = {"load_s": load_s, **_one(encoder, sample, 1 if quick else 3)}
        rows[name]["catalog_s"] = round(len(texts) / rows[name]["texts_per_s"], 1)
        progress(f"embedding: {name} {rows[name]['texts_per_s']} texts/s")
    torch_row, onnx_row = rows.values()
    a, b = torch_row.pop("_vectors"), onnx_row.pop("_vectors")
    qa, qb = torch_row.pop("_queries"), onnx_row.pop("_queries")
    top_a, top_b = _exact_top(a, qa, TOP), _exact_top(b, qb, TOP)
    overlap = np.mean([len(set(x) & set(y)) / TOP for x, y in zip(top_a, top_b, strict=True)])
    return {
        "texts": n,
        "catalog_items": len(texts),
        "rows": [{"backend": k, **v} for k, v in rows.items()],
        "throughput_ratio": round(onnx_row["texts_per_s"] / torch_row["texts_per_s"], 2),
        "query_p95_ratio": round(torch_row["query_ms"]["p95"] / onnx_row["query_ms"]["p95"], 2),
        "min_cosine": round(float(np.min(np.sum(a * b, axis=1))), 6),
        "top10_overlap": round(float(overlap), 4),
    }
