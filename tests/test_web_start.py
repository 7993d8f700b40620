"""What the served page waits for: no model code before the page, and Gradio imported without its stub writer."""

import json
import os
import subprocess
import sys

from recsys.core.paths import CHECKOUT, DATA

PROBE = """
import json, sys
import app  # the entry point: skips Gradio's stub writer, then imports recsys.web.app (its main is not run)
from recsys.core.config import Settings
from recsys.web.app import build_demo, open_engine
import gradio.component_meta as meta
engine = open_engine(Settings.from_env())
demo = build_demo(engine)
heavy = sorted(m for m in ("torch", "onnxruntime", "lightgbm", "sklearn", "transformers") if m in sys.modules)
print(json.dumps({
    "heavy": heavy,
    "loading": type(engine).__name__,
    "writer": meta.create_or_modify_pyi.__module__,
    "events": callable(getattr(__import__("gradio").Button, "click", None)),
    "max_size": demo._queue.max_size,
    "limit": demo._queue.default_concurrency_limit,
}))
"""


def test_the_page_is_built_without_model_code_and_without_gradio_stub_writer(tmp_path):
    """open_engine + build_demo (what app.py does before serving) import no torch, ONNX Runtime or LightGBM: the
    engine module is imported on the loader's thread. Gradio's components keep their event methods."""
    env = {
        **os.environ,
        "RECSYS_HOME": str(tmp_path),
        "RECSYS_CATALOG": str(DATA / "catalogs" / "tiny.jsonl"),
        "RECSYS_CONCURRENCY": "3",
        "PYTHONPATH": str(CHECKOUT),
    }
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["loading"] == "LoadingEngine" and seen["heavy"] == []
    assert seen["writer"] == "recsys.web.stubs" and seen["events"]
    assert seen["max_size"] == 256 and seen["limit"] == 3  # the queue set in build_demo, before the components


def test_skipping_the_stub_writer_is_idempotent_and_leaves_other_imports_alone():
    """A second call adds no second finder; the finder answers for gradio.component_meta alone."""
    from recsys.web.stubs import _StubSkipper, skip_stub_writer

    skip_stub_writer()
    assert sum(isinstance(f, _StubSkipper) for f in sys.meta_path) <= 1
    assert _StubSkipper().find_spec("json", None) is None
