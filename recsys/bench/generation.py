"""Bench section "generation": time to first token and tokens/s of the default generator, backends side by side.

CPU: the product's own token loop on transformers (LocalGenerator.stream) in fp32, with the prompt-prefix KV cache
cold and warm, against the same model in bf16, and against transformers' `generate`; then llama.cpp on the GGUF
file itself (LlamaCppGenerator, the default on CPU when it is installed) on the same prompts in the same run, each
row with its tokens/s as a multiple of the first (today's transformers default) and a three-film reply's time
(three reasons for one request, as the explainer asks them: stop at a newline, Settings.max_new_tokens each;
written together where the backend can, as the product does, and one after another beside it).
CUDA (when torch sees a device): bf16 with the dynamic cache, and bf16 with a static cache + `torch.compile` (the
path for the ≤150 ms / ≥150 tok/s target).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..bench.util import count_tokens, summary
from ..core.config import Settings
from ..core.paths import CHECKOUT

log = logging.getLogger(__name__)

DECODE_TOKENS = 40  # = Settings.max_new_tokens: one reason
REPLY_FILMS = 3  # films in a three-film reply (Settings.count)


def _prompts(settings: Settings, n: int) -> list[list[dict[str, str]]]:
    """Explanation prompts for n catalog items (the real job), with the bench's requests."""
    from ..bench.util import REQUESTS
    from ..catalog.sources import load_catalog
    from ..explain.explainer import item_messages

    catalog = load_catalog(settings.catalog, settings.cache, progress=False)
    step = max(1, len(catalog) // max(n, 1))
    return [item_messages(catalog.items[(i * step) % len(catalog)], REQUESTS[i % len(REQUESTS)]) for i in range(n)]


def _reply_prompts(settings: Settings, n: int) -> list[list[list[dict[str, str]]]]:
    """n replies' explanation prompts: REPLY_FILMS films for one request each (other films than _prompts')."""
    from ..bench.util import REQUESTS
    from ..catalog.sources import load_catalog
    from ..explain.explainer import item_messages

    catalog = load_catalog(settings.catalog, settings.cache, progress=False)
    step = max(1, len(catalog) // max(n * REPLY_FILMS, 1))
    return [
        [
            item_messages(catalog.items[((r * REPLY_FILMS + k) * step + 1) % len(catalog)], REQUESTS[r % len(REQUESTS)])
            for k in range(REPLY_FILMS)
        ]
        for r in range(n)
    ]


def _replies(gen, replies: list) -> dict[str, Any]:
    """Milliseconds per three-film reply, as the explainer writes it: with a generator that decodes several prompts
    at once (llama.cpp's stream_many), the reasons written together (the product) and one after another, each
    reply both ways in turn; else one after another. Also the reply's first token (its first film's)."""
    from ..explain.explainer import STOP

    many = getattr(gen, "stream_many", None)
    ways: dict[str, Callable[[list], list]] = {
        "one_by_one": lambda films: [gen.stream(m, DECODE_TOKENS, STOP) for m in films]
    }
    if many is not None:
        ways = {"together": lambda films: many(films, DECODE_TOKENS, STOP), **ways}
    ms: dict[str, list[float]] = {way: [] for way in ways}
    first: dict[str, list[float]] = {way: [] for way in ways}
    for films in replies:
        for way, streams_of in ways.items():
            t0 = time.perf_counter()
            seen = None
            for pieces in streams_of(films):  # lazy: a stream runs when it is read
                for _ in pieces:
                    seen = seen or time.perf_counter()
            ms[way].append((time.perf_counter() - t0) * 1000)
            first[way].append(((seen or time.perf_counter()) - t0) * 1000)
    main = next(iter(ways))  # together where the backend can (the product's way), else one by one
    out = {"three_film_reply_ms": summary(ms[main]), "reply_first_token_ms": summary(first[main])}
    if main == "together":
        out["three_film_reply_one_by_one_ms"] = summary(ms["one_by_one"])
    return out


def _stream_variant(gen, prompts: list, tokens: int) -> dict[str, Any]:
    """The product loop: TTFT per prompt (first = prefix cache cold) and decode tokens/s with no stop string."""
    ttft, rates, counts = [], [], []
    for messages in prompts:
        t0 = time.perf_counter()
        first = None
        text = ""
        for piece in gen.stream(messages, tokens, ()):
            first = first or time.perf_counter()
            text += piece
        end = time.perf_counter()
        n = count_tokens(gen, text)
        ttft.append((first - t0) * 1000 if first else (end - t0) * 1000)
        if first and n > 1:
            rates.append((n - 1) / (end - first))
        counts.append(n)
    return {
        "ttft_cold_prefix_ms": round(ttft[0], 1),
        "ttft_ms": summary(ttft[1:] or ttft),
        "tokens_per_s": summary(rates),
        "tokens": summary(counts),
    }


def _generate_variant(
    model, tokenizer, prompts: list, tokens: int, device: str, static: bool = False, compiled: bool = False
) -> dict[str, Any]:
    """transformers' generate: TTFT = a 1-token generate; tokens/s from a `tokens`-token one (greedy, no EOS stop)."""
    import torch

    kwargs: dict[str, Any] = {"do_sample": False, "pad_token_id": tokenizer.eos_token_id}
    if static:
        kwargs["cache_implementation"] = "static"
    warm_s = 0.0
    if compiled:
        model.forward = torch.compile(model.forward, mode="reduce-overhead", fullgraph=True)
    ttft, rates = [], []
    for i, messages in enumerate([prompts[0], *prompts]):  # the extra first run warms (and compiles)
        ids = tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )["input_ids"].to(device)
        sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
        t0 = time.perf_counter()
        with torch.inference_mode():
            model.generate(ids, max_new_tokens=1, **kwargs)
            sync()
            t1 = time.perf_counter()
            out = model.generate(ids, max_new_tokens=tokens, min_new_tokens=tokens, **kwargs)
            sync()
        t2 = time.perf_counter()
        if i == 0:
            warm_s = t2 - t0
            continue
        made = out.shape[1] - ids.shape[1]
        ttft.append((t1 - t0) * 1000)
        rates.append((made - 1) / max((t2 - t1) - (t1 - t0), 1e-9))  # the long run minus its own prefill
    return {"warm_up_s": round(warm_s, 2), "ttft_ms": summary(ttft), "tokens_per_s": summary(rates)}


def _folder(settings: Settings) -> Path | None:
    """The local HF folder of the configured generator (converted GGUF for smollm2), None for an HTTP one."""
    from ..generation.gguf import converted_folder, smollm2_path

    spec = settings.generator.strip()
    if spec.startswith(("http://", "https://")):
        return None
    if spec.lower() == "smollm2":
        return converted_folder(smollm2_path(), settings.cache)
    path = Path(spec).expanduser()
    return converted_folder(path, settings.cache) if path.suffix.lower() == ".gguf" else path


def _guard(name: str, fn: Callable[[], dict[str, Any]], progress: Callable[[str], None]) -> dict[str, Any]:
    """Run one variant; a failure is reported in its row, not raised (the other rows still stand)."""
    try:
        row = fn()
    except Exception as e:
        log.warning("generation variant %s failed: %s", name, e)
        row = {"error": f"{type(e).__name__}: {e}"[:300]}
    progress(f"generation: {name} done")
    return {"variant": name, **row}


CPU_VARIANTS = (  # (name, dtype, torch threads, OpenMP wait policy); each runs in a fresh process
    ("cpu fp32, product loop, 2 threads, passive wait (product default)", "float32", 0, "PASSIVE"),
    ("cpu fp32, product loop, 2 threads, spinning wait (torch default)", "float32", 0, "ACTIVE"),
    ("cpu fp32, product loop, 1 thread", "float32", 1, "PASSIVE"),
    ("cpu bf16, product loop, 2 threads, passive wait", "bfloat16", 0, "PASSIVE"),
)


# (name, threads: 0 = every core, as the product; the Q8_0 copy; draft tokens); each runs in a fresh process
LLAMACPP_VARIANTS = (
    ("llama.cpp, Q8_0 copy of the Q4_1 GGUF, product loop, 2 threads (product default)", 0, True, True),
    ("llama.cpp, Q8_0 copy, product loop without draft tokens, 2 threads", 0, True, False),
    ("llama.cpp, the Q4_1 GGUF as shipped, product loop, 2 threads", 0, False, True),
    ("llama.cpp, Q8_0 copy, product loop, 1 thread", 1, True, True),
)


def _child(spec: dict[str, Any]) -> dict[str, Any]:
    """One CPU variant, in this (fresh) process: the product loop on the explanation prompts, then the replies."""
    if spec.get("backend") == "llamacpp":
        from ..generation.llamacpp import LlamaCppGenerator, amx_build

        gen = LlamaCppGenerator.from_gguf(Path(spec["gguf"]), threads=spec["threads"], requantize=spec["requantize"])
        if not spec["drafts"]:
            gen.drafts = ()
        row = _stream_variant(gen, spec["prompts"], DECODE_TOKENS)
        return {**row, **_replies(gen, spec["replies"]), "threads": gen.llm.n_threads, "amx": amx_build()}
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ..generation.local import LocalGenerator

    if spec["threads"]:
        torch.set_num_threads(spec["threads"])
    folder = Path(spec["folder"])
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=getattr(torch, spec["dtype"]))
    gen = LocalGenerator(model, tokenizer, folder.name)
    row = _stream_variant(gen, spec["prompts"], DECODE_TOKENS)
    replies = _replies(gen, spec["replies"]) if spec.get("replies") else {}
    return {**row, **replies, "torch_threads": torch.get_num_threads()}


def _in_subprocess(name: str, spec: dict[str, Any], wait_policy: str, timeout_s: float = 900) -> dict[str, Any]:
    """Run _child in `python -m recsys.bench.generation` with OMP_WAIT_POLICY set (torch reads it only at import)."""
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "OMP_WAIT_POLICY": wait_policy}
    done = subprocess.run(
        [sys.executable, "-m", "recsys.bench.generation"],
        input=json.dumps(spec),
        env=env,
        text=True,
        capture_output=True,
        timeout=timeout_s,
        cwd=CHECKOUT,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{name} exited {done.returncode}: {done.stderr.strip()[-300:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_generation(settings: Settings, quick: bool, progress: Callable[[str], None]) -> dict[str, Any]:
    """Every variant this machine can run, on the same prompts."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ..generation.local import LocalGenerator

    folder = _folder(settings)
    if folder is None:
        return {"status": "not measured: the generator is an HTTP endpoint (measure it on its own server)"}
    n = 3 if quick else 12
    prompts = _prompts(settings, n + 1)
    replies = _reply_prompts(settings, 4 if quick else 10)
    out: dict[str, Any] = {
        "model": folder.name,
        "prompts": len(prompts),
        "decode_tokens": DECODE_TOKENS,
        "threads": torch.get_num_threads(),
        "rows": [],
    }
    variants = CPU_VARIANTS[:1] + CPU_VARIANTS[2:] if quick else CPU_VARIANTS
    for i, (name, dtype, threads, wait) in enumerate(variants):
        spec = {"folder": str(folder), "dtype": dtype, "threads": threads, "prompts": prompts}
        if i == 0:  # today's default: the baseline of the ratios and of the three-film reply
            spec["replies"] = replies
        out["rows"].append(
            _guard(name, lambda name=name, spec=spec, wait=wait: _in_subprocess(name, spec, wait), progress)
        )
    out["rows"] += _llamacpp_rows(settings, prompts, replies, progress)
    _ratios(out["rows"])
    tokenizer = AutoTokenizer.from_pretrained(folder)
    if not quick:
        out["rows"].append(
            _guard(
                "cpu fp32, transformers generate",
                lambda: _generate_variant(
                    AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32),
                    tokenizer,
                    prompts,
                    DECODE_TOKENS,
                    "cpu",
                ),
                progress,
            )
        )
    if not torch.cuda.is_available():
        out["cuda"] = "no CUDA device"
        return out
    out["cuda"] = torch.cuda.get_device_name(0)

    def gpu():
        return AutoModelForCausalLM.from_pretrained(folder, dtype=torch.bfloat16).to("cuda").eval()

    out["rows"].append(
        _guard(
            "cuda bf16, product loop",
            lambda: _stream_variant(LocalGenerator(gpu(), tokenizer, folder.name), prompts, DECODE_TOKENS),
            progress,
        )
    )
    out["rows"].append(
        _guard(
            "cuda bf16, generate, dynamic cache",
            lambda: _generate_variant(gpu(), tokenizer, prompts, DECODE_TOKENS, "cuda"),
            progress,
        )
    )
    out["rows"].append(
        _guard(
            "cuda bf16, generate, static cache + torch.compile",
            lambda: _generate_variant(gpu(), tokenizer, prompts, DECODE_TOKENS, "cuda", static=True, compiled=True),
            progress,
        )
    )
    return out


def _gguf(settings: Settings) -> Path | None:
    """The configured generator's GGUF file (the packaged one for smollm2), None for an HF folder or a URL."""
    from ..generation.gguf import smollm2_path

    spec = settings.generator.strip()
    if spec.lower() == "smollm2":
        return smollm2_path()
    return Path(spec).expanduser() if spec.lower().endswith(".gguf") else None


def _llamacpp_rows(settings: Settings, prompts: list, replies: list, progress) -> list[dict[str, Any]]:
    """The llama.cpp variants, or one row saying why there are none (not built, not a GGUF model)."""
    from ..generation.llm import llamacpp_problem

    gguf = _gguf(settings)
    problem = "the generator is not a GGUF file" if gguf is None else llamacpp_problem()
    if problem:
        return [{"variant": "llama.cpp", "error": f"not measured: {problem}"[:300]}]
    from ..generation.llamacpp import amx_build

    rows = []
    amx = amx_build()  # scripts/llamacpp.sh builds with AMX where the CPU has it: the rows say which build ran
    for name, threads, requantize, drafts in LLAMACPP_VARIANTS:
        name = name.replace("llama.cpp", "llama.cpp with AMX", 1) if amx else name
        spec = {
            "backend": "llamacpp",
            "gguf": str(gguf),
            "threads": threads,
            "requantize": requantize,
            "drafts": drafts,
            "prompts": prompts,
            "replies": replies,
        }
        rows.append(_guard(name, lambda name=name, spec=spec: _in_subprocess(name, spec, "PASSIVE"), progress))
    return rows


def _ratios(rows: list[dict[str, Any]]) -> None:
    """Each row's median tokens/s as a multiple of the first row's (today's transformers default), in place."""
    base = (rows[0].get("tokens_per_s") or {}).get("median") if rows else None
    for row in rows:
        rate = (row.get("tokens_per_s") or {}).get("median")
        if base and rate:
            row["tokens_per_s_ratio"] = round(rate / base, 2)


if __name__ == "__main__":  # a CPU variant's own process (see _in_subprocess): spec on stdin, JSON row on stdout
    import json
    import sys

    print(json.dumps(_child(json.load(sys.stdin))))
