"""Bench section "embedding": sentence-transformers (torch float32, the old path) against ONNX Runtime (queries) and
torch in bfloat16 (whole catalogs, on a CPU with AMX), side by side.

All run the same packaged model on the same real catalog texts and the bench's fifty real requests, in one run:
load time, catalog throughput (texts/s, and the full catalog's time at that rate), one-query latency, and quality
kept: the cosine of each text's vectors to the old path's and the top-10 overlap of the requests' neighbours among
the sample.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..bench.util import REQUESTS, ms_since, summary
from ..search.backends import _exact_top

TOP = 10
TORCH = "torch (sentence-transformers)"
ONNX = "onnx (ONNX Runtime)"
BF16 = "torch bfloat16, float32 pooling (catalog builds, AMX)"
ROUNDS = {True: 1, False: 3}  # by quick: rounds in which the backends take turns on the sample, and query rounds
CHUNK = 250  # catalog texts a backend embeds in one turn (~0.5-2 s here), in batches of similar length as in a build


class OldPath:
    """The baseline row: sentence-transformers' own encode in float32, as the app embedded before 2026-12 (batches
    of 64 sorted by characters; SentenceEncoder now batches by token counts)."""

    def __init__(self, encoder: Any) -> None:
        self.model = encoder.model

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.model.encode(list(texts), batch_size=64, convert_to_numpy=True, normalize_embeddings=True)


def _throughput(encoders: dict[str, Any], texts: list[str], rounds: int) -> dict[str, dict[str, Any]]:
    """Each encoder's texts/s on `texts`, the encoders taking turns on every CHUNK texts for `rounds` rounds: this
    VM's speed drifts by tens of percent within a minute (AMX's more than float32's), and in short turns a slow spell
    falls on every backend, not on one. Also each round's ratio to the first encoder's, and the last round's vectors."""
    for encoder in encoders.values():
        encoder.encode(texts[:16])  # first call pays one-off set-up (ORT's arena, torch's kernels)
    per_round: dict[str, list[float]] = {name: [] for name in encoders}
    vectors: dict[str, list[np.ndarray]] = {}
    for _ in range(rounds):
        vectors = {name: [] for name in encoders}
        spent = dict.fromkeys(encoders, 0.0)
        for start in range(0, len(texts), CHUNK):
            for name, encoder in encoders.items():
                t0 = time.perf_counter()
                vectors[name].append(encoder.encode(texts[start : start + CHUNK]))
                spent[name] += time.perf_counter() - t0
        for name in encoders:
            per_round[name].append(spent[name])
    base = per_round[next(iter(encoders))]
    return {
        name: {
            "texts_per_s": round(len(texts) * rounds / max(sum(per_round[name]), 1e-9), 1),
            "round_ratios": [round(a / max(b, 1e-9), 2) for a, b in zip(base, per_round[name], strict=True)],
            "_vectors": np.concatenate(vectors[name]),
        }
        for name in encoders
    }


def _latency(encoder: Any, query_rounds: int) -> dict[str, Any]:
    """One-request latency (each of the bench's requests `query_rounds` times) and the requests' vectors."""
    query_ms = []
    for _ in range(query_rounds):
        for text in REQUESTS:
            t0 = time.perf_counter()
            encoder.encode([text])
            query_ms.append(ms_since(t0))
    return {"query_ms": summary(query_ms), "_queries": encoder.encode(list(REQUESTS))}


def _agreement(ref: dict[str, Any], row: dict[str, Any], queries: np.ndarray) -> dict[str, float]:
    """A row's vectors against the reference (torch float32) row's: each text's cosine, and the top-10 overlap of
    the requests' neighbours among the sample (the row's catalog vectors searched with `queries`)."""
    a, b = ref["_vectors"], row["_vectors"]
    top_a, top_b = _exact_top(a, ref["_queries"], TOP), _exact_top(b, queries, TOP)
    overlap = np.mean([len(set(x) & set(y)) / TOP for x, y in zip(top_a, top_b, strict=True)])
    return {"min_cosine": round(float(np.min(np.sum(a * b, axis=1))), 6), "top10_overlap": round(float(overlap), 4)}


def run_embedding(settings, quick: bool, progress, catalog=None) -> dict[str, Any]:
    """The backends' rows and their ratios to torch float32 (the old path), one run: ONNX Runtime (the query
    backend), and torch in bfloat16 where a whole catalog is embedded in it (search.embedder.catalog_precision: a CPU
    with AMX); `catalog_ratio` is the product's catalog build against the old path."""
    from ..catalog.sources import load_catalog
    from ..search.embedder import catalog_precision
    from ..search.encoder import SentenceEncoder
    from ..search.onnx import OnnxEncoder

    catalog = catalog or load_catalog(settings.catalog, settings.cache, progress=False)
    texts = catalog.texts()
    n = min(500 if quick else 2000, len(texts))
    sample = [texts[i] for i in np.random.default_rng(0).choice(len(texts), n, replace=False)]
    bulk = catalog_precision(settings.embed_precision, "cpu")
    makers = {
        TORCH: lambda: OldPath(SentenceEncoder(settings.embed_model, device="cpu")),
        ONNX: lambda: OnnxEncoder(settings.embed_model, settings.cache),
    }
    if bulk == "bf16":  # without AMX, bfloat16 is slower than float32 on a CPU, and no catalog is embedded in it
        makers[BF16] = lambda: SentenceEncoder(
            settings.embed_model, device="cpu", precision="bf16", cache_dir=settings.cache
        )
    encoders: dict[str, Any] = {}
    rows: dict[str, dict[str, Any]] = {}
    for name, make in makers.items():
        t0 = time.perf_counter()
        encoders[name] = make()  # the ONNX export already in the cache: its one-off export is the startup section's
        rows[name] = {"load_s": round(time.perf_counter() - t0, 2)}
    if BF16 in encoders:
        rows[BF16]["attention"] = encoders[BF16].attention  # "fused" (search.attention's kernel) or "sdpa"
    for name, measured in _throughput(encoders, sample, ROUNDS[quick]).items():
        rows[name].update(measured, **_latency(encoders[name], ROUNDS[quick]))
        rows[name]["catalog_s"] = round(len(texts) / rows[name]["texts_per_s"], 1)
        progress(f"embedding: {name} {rows[name]['texts_per_s']} texts/s")
    torch_row, onnx_row = rows[TORCH], rows[ONNX]
    for name, row in rows.items():
        row["texts_per_s_ratio"] = round(row["texts_per_s"] / torch_row["texts_per_s"], 2)
        if name != TORCH:  # catalog vectors are searched with the query backend's (ONNX) vectors, as in a turn
            row.update(_agreement(torch_row, row, onnx_row["_queries"] if name == BF16 else row["_queries"]))
    for row in rows.values():
        del row["_vectors"], row["_queries"]
        if row is torch_row:
            del row["round_ratios"]  # all 1.0
    builds = BF16 if BF16 in rows else ONNX  # what embeds a whole catalog by default on this machine
    return {
        "texts": n,
        "rounds": ROUNDS[quick],
        "chunk": CHUNK,
        "catalog_items": len(texts),
        "rows": [{"backend": k, **v} for k, v in rows.items()],
        "throughput_ratio": onnx_row["texts_per_s_ratio"],
        "query_p95_ratio": round(torch_row["query_ms"]["p95"] / onnx_row["query_ms"]["p95"], 2),
        "min_cosine": onnx_row["min_cosine"],
        "top10_overlap": onnx_row["top10_overlap"],
        "catalog_backend": builds,
        "catalog_ratio": rows[builds]["texts_per_s_ratio"],
        "catalog_min_cosine": rows[builds]["min_cosine"],
        "catalog_top10_overlap": rows[builds]["top10_overlap"],
    }
