"""A fused attention kernel for bfloat16 encoders on the CPU, for the short texts a catalog is made of.

    use_fused_attention(auto_model, cache_dir)   # True: the model's attention now runs attention.c's kernel

torch's flash attention spends ~7 µs on each (text, head) of a catalog batch (64 texts of ~38 tokens, 12 heads of
32 dimensions): blocks this small are all overhead. attention.c does one (text, head) in one pass in fp32
registers, dropping padded keys first; a layer's attention takes 1.2 against 3.5 ms, and a whole bfloat16 catalog
embeds 1.04-1.33x as fast (three windows, alternating with sdpa in one process), its vectors as close to float32's
as before (tests/test_attention.py).

The C source is compiled once per source, flags and compiler into cache_dir/kernels (~1 s, by `cc` or $CC) and
loaded with ctypes; it runs on torch's own OpenMP threads (libgomp is loaded once per process, by its soname).
Where anything is missing (a compiler, a CPU with AVX-512 BF16, a shape or mask the kernel takes) or a probe on
random inputs disagrees with sdpa, the model keeps sdpa, as before.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

from ..core.files import one_builder

log = logging.getLogger(__name__)

NAME = "recsys_fused_cpu"  # the attention implementation's name in transformers' registries
SOURCE = Path(__file__).with_name("attention.c")
FLAGS = ("-O3", "-fPIC", "-shared", "-fopenmp", "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512bf16", "-mfma")
CPU_FLAGS = ("avx512f", "avx512bw", "avx512vl", "avx512_bf16")  # /proc/cpuinfo's names for what FLAGS use
MAX_LEN, HEAD_DIMS = 512, (16, 32, 48, 64)  # what attention.c takes (MAXL, MAXD)
PROBE_TOLERANCE = 2e-2  # largest difference to float32 sdpa on the probe: bfloat16 rounding of outputs near 1
BUILD_TIMEOUT_S = 120

COUNTS: Counter[str] = Counter()  # "fused" / "sdpa" calls since start: which path a model's layers really took
_kernel: ctypes.CDLL | None = None


def cpu_supported() -> bool:
    """True where the CPU has the AVX-512 parts the kernel is compiled for (Linux's /proc/cpuinfo says)."""
    try:
        flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags"))
    except (OSError, StopIteration):
        return False
    return set(CPU_FLAGS) <= set(flags.split())


def _compiler() -> str | None:
    return shutil.which(os.environ.get("CC", "cc"))


def build(cache_dir: Path) -> Path | None:
    """The compiled kernel in cache_dir/kernels, built once per source, flags and compiler (other processes wait
    for the one building); None, logged, where there is no compiler or it fails."""
    compiler = _compiler()
    if compiler is None:
        log.warning("fused attention: no C compiler (%s): bfloat16 embeddings keep sdpa", os.environ.get("CC", "cc"))
        return None
    try:
        version = subprocess.run([compiler, "--version"], capture_output=True, timeout=30).stdout
        key = hashlib.sha256(SOURCE.read_bytes() + " ".join(FLAGS).encode() + version).hexdigest()[:12]
    except (OSError, subprocess.SubprocessError) as e:
        log.warning("fused attention: cannot use %s (%s): bfloat16 embeddings keep sdpa", compiler, e)
        return None
    target = Path(cache_dir) / "kernels" / f"attention-{key}.so"
    if target.is_file():
        return target
    try:
        with one_builder(target):
            return target if target.is_file() else _compile(compiler, target)
    except (OSError, subprocess.SubprocessError) as e:  # a read-only cache, a compiler that hangs or vanishes
        log.warning("fused attention: could not build %s (%s): bfloat16 embeddings keep sdpa", target, e)
        return None


def _compile(compiler: str, target: Path) -> Path | None:
    """Compile SOURCE into a temporary file beside target, then rename it there (no half-written kernel)."""
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        out = Path(tmp) / target.name
        command = [compiler, *FLAGS, str(SOURCE), "-o", str(out), "-lm"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
        if done.returncode != 0:
            tail = done.stderr.strip()[-2000:]
            log.warning(
                "fused attention: %s could not compile %s: bfloat16 embeddings keep sdpa\n%s",
                compiler,
                SOURCE.name,
                tail,
            )
            return None
        os.replace(out, target)
    log.info("fused attention kernel compiled into %s", target)
    return target


def load(path: Path) -> ctypes.CDLL:
    """The compiled kernel with its C signature declared (ctypes lets go of the GIL while it runs)."""
    lib = ctypes.CDLL(str(path))
    lib.attend_bf16.restype = ctypes.c_int
    lib.attend_bf16.argtypes = [ctypes.c_void_p] * 5 + [ctypes.c_long] * 7 + [ctypes.c_float, ctypes.c_int]
    return lib


def _key_flags(mask, batch: int, length: int):
    """(batch, length) uint8 key flags from an sdpa padding mask (None: all keys); False where the mask is not one
    (a float bias, or rows that differ from query to query)."""
    import torch

    if mask is None:
        return None
    if mask.dtype != torch.bool or mask.dim() != 4 or mask.shape[1] != 1 or mask.shape[-1] != length:
        return False
    if mask.shape[0] not in (1, batch) or not torch.equal(mask, mask[:, :, :1, :].expand_as(mask)):
        return False
    return mask[:, 0, 0, :].expand(batch, length).to(torch.uint8).contiguous()


def attend(lib: ctypes.CDLL, query, key, value, mask, scaling: float):
    """softmax(q k^T * scaling) v by the kernel, as (batch, length, heads, dim) bfloat16, from (batch, heads,
    length, dim) inputs and an sdpa padding mask; None where the kernel does not take them (then sdpa does)."""
    import torch

    batch, heads, length, dim = query.shape
    same = query.stride() == key.stride() == value.stride() and key.shape == value.shape == query.shape
    tensors = (query, key, value)
    plain = all(t.dtype == torch.bfloat16 and t.device.type == "cpu" and not t.requires_grad for t in tensors)
    if not (same and plain and query.stride(-1) == 1 and dim in HEAD_DIMS and 1 <= length <= MAX_LEN):
        return None
    flags = _key_flags(mask, batch, length)
    if flags is False:
        return None
    out = torch.empty(batch, length, heads, dim, dtype=torch.bfloat16)
    sb, sh, sl, _ = query.stride()
    keep = None if flags is None else flags.data_ptr()
    pointers = (query.data_ptr(), key.data_ptr(), value.data_ptr(), keep, out.data_ptr())
    sizes = (batch, heads, length, dim, sb, sl, sh)
    if lib.attend_bf16(*pointers, *sizes, float(scaling), torch.get_num_threads()) != 0:
        return None
    return out


def _forward(module, query, key, value, attention_mask, dropout: float = 0.0, scaling: float | None = None, **kwargs):
    """transformers' attention interface: the kernel where it takes the call, sdpa's own function otherwise."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    causal = kwargs.get("is_causal", getattr(module, "is_causal", False))
    plain = dropout == 0.0 and not causal and not kwargs.get("output_attentions") and kwargs.get("softcap") is None
    if _kernel is not None and plain:
        scale = query.shape[-1] ** -0.5 if scaling is None else scaling
        out = attend(_kernel, query, key, value, attention_mask, scale)
        if out is not None:
            COUNTS["fused"] += 1
            return out, None
    COUNTS["sdpa"] += 1
    return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs)


def probe(lib: ctypes.CDLL) -> float:
    """The kernel's largest difference to float32 sdpa on random bfloat16 inputs: padded and unpadded texts, every
    head width it takes, lengths across its 16-key steps, strides as a linear layer's output gives them."""
    import torch
    import torch.nn.functional as F

    gen = torch.Generator().manual_seed(0)
    worst = 0.0
    for dim, length in [(16, 5), (32, 33), (48, 16), (64, 71)]:
        qkv = torch.randn(3, 2, length, 3 * dim, generator=gen).to(torch.bfloat16)
        query, key, value = (t.view(2, length, 3, dim).transpose(1, 2) for t in qkv)
        keep = torch.ones(2, length, dtype=torch.bool)
        keep[1, length // 2 + 1 :] = False
        mask = keep[:, None, None, :].expand(2, 1, length, length)
        out = attend(lib, query, key, value, mask, dim**-0.5)
        if out is None:
            return float("inf")
        want = F.scaled_dot_product_attention(query.float(), key.float(), value.float(), attn_mask=mask)
        worst = max(worst, float((out.float() - want.transpose(1, 2)).abs().max()))
    return worst


def _install(cache_dir: Path) -> bool:
    """Build, load, probe and register the kernel once per process; whether it is usable."""
    global _kernel
    if _kernel is not None:
        return True
    if not cpu_supported():
        log.info("fused attention: this CPU lacks %s: bfloat16 embeddings keep sdpa", "/".join(CPU_FLAGS))
        return False
    path = build(cache_dir)
    if path is None:
        return False
    try:
        lib = load(path)
        error = probe(lib)
    except (OSError, AttributeError, RuntimeError) as e:
        log.warning("fused attention: %s does not load or run (%s): bfloat16 embeddings keep sdpa", path, e)
        return False
    if not error <= PROBE_TOLERANCE:
        log.warning("fused attention: probe differs from sdpa by %.3g: bfloat16 embeddings keep sdpa", error)
        return False
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(NAME, _forward)
    AttentionMaskInterface.register(NAME, sdpa_mask)  # the padding masks sdpa gets; _key_flags reads them
    _kernel = lib
    return True


def use_fused_attention(model, cache_dir: Path | None) -> bool:
    """Switch a transformers model's attention to the kernel (whose calls fall back to sdpa one by one where it
    does not take them); False, the model unchanged, where the kernel is not usable here, the model is not on the
    CPU, or it cannot switch (an attention that does not go through transformers' registry)."""
    on_cpu = getattr(getattr(model, "device", None), "type", "cpu") == "cpu"
    if cache_dir is None or not on_cpu or not _install(Path(cache_dir)):
        return False
    before = model.config._attn_implementation
    try:
        model.set_attn_implementation(NAME)
        if _reaches_kernel(model):
            return True
        why = "its layers do not call the registered attention"
    except Exception as e:  # a model that cannot switch, or fails a two-token forward once switched
        why = str(e)
    log.info("fused attention: %s keeps %s attention (%s)", type(model).__name__, before, why)
    if model.config._attn_implementation != before:
        model.set_attn_implementation(before)
    return False


def _reaches_kernel(model) -> bool:
    """A two-token forward goes through the kernel: some models take any registered name and still choose their
    attention themselves."""
    import torch

    calls = COUNTS["fused"]
    ids = torch.zeros(1, 2, dtype=torch.long)
    with torch.inference_mode():
        model(input_ids=ids, attention_mask=torch.ones_like(ids))
    return COUNTS["fused"] > calls
