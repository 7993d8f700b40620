"""A GGUF model run by llama.cpp (llama-cpp-python) in this process: greedy decoding and a cache of prompt heads.

    gen = LlamaCppGenerator.from_gguf(smollm2_path(), threads=0)    # ~0.1-0.3 s to load (a Q8_0 copy made once)
    gen.complete([{"role": "user", "content": "Hi"}], max_new_tokens=20, stop=("\\n",))
    gen.stream_many([film1, film2, film3], 40, ("\\n",))   # three piece streams, decoded together (batch.Batch)

The default backend for `.gguf` files and the packaged SmolLM2 on CPU (generation.llm picks it). llama-cpp-python
is built from source by scripts/setup.sh; when it is not importable the transformers path is used instead. A Q4_1
file (the packaged one) runs as a Q8_0 copy written once into the cache (fast_copy: the same weights, and a prompt
read ~1.8x as fast on CPU without AMX).

Threads and waiting. ggml's worker threads spin at the barriers inside one token's forward pass (a few ms) and
are gone between tokens and between calls, so an idle generator costs nothing and a busy one does not starve the
rest of the server for long (scripts/setup.sh builds without OpenMP, whose threads would stay spinning after a
call, like torch's did: config.py sets OMP_WAIT_POLICY=PASSIVE for that). One step runs at a time and uses the
threads: `threads=0` means all cores for the prompt (one burst) and for decoding (see decode_threads); while other
work takes the cores, one thread (threads.py: spinning threads would wait for descheduled ones). The
explainer's prompts for a reply's films, and those of other sessions' turns that arrive meanwhile, run as
sequences of one context (stream_many): every stream, a single one included, goes through batch.Batch's loop, so
the engine need not serialise calls (thread_safe). Its steps also check draft tokens looked up in the prompt
(draft.py; `drafts = ()` turns them off, as the bench's side-by-side row does).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path

from ..core.errors import ModelError
from ..core.files import one_builder
from .batch import DRAFTS, SEQUENCES, Batch
from .stream import Messages, join_stream
from .threads import Threads

log = logging.getLogger(__name__)

N_CTX = 2048  # prompt + reply tokens: explain's prompt is ~350, the parser's few-shot ~600; KV cache ~47 MB at f16
HEADS_KEPT = 4  # prompt heads whose KV state is kept (explain's and the parser's are the two in use)
FTYPE_Q4_1 = 3  # llama_ftype of a mostly-Q4_1 file (the packaged SmolLM2): no batched CPU kernel without AMX, fast_copy
FTYPE_Q8_0 = 7  # llama_ftype the Q4_1 weights are copied to: tinyBLAS reads prompts ~1.8x as fast (same weights)
CONTENT_MARK = "\x00"  # rendered in place of the last message's content, to find where its opening ends (split)


def decode_threads(threads: int) -> int:
    """Threads for decoding: `threads`, or for 0 every core this process may use (a 135M model is compute-bound
    on 2 cores; the bench's generation section measures 2 threads against 1)."""
    if threads > 0:
        return threads
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _load(path: Path, threads: int, gpu_layers: int):
    """A llama_cpp.Llama over one GGUF file."""
    from llama_cpp import Llama

    n = decode_threads(threads)
    try:
        llm = Llama(
            model_path=str(path),
            n_ctx=N_CTX,
            n_batch=512,  # prompt tokens per forward pass: a whole explain prompt in one
            n_threads=n,
            n_threads_batch=decode_threads(0) if threads == 0 else n,
            n_gpu_layers=gpu_layers,
            seed=0,
            verbose=False,  # llama.cpp's own log lines to stderr; our log says what matters
        )
        _parallel_context(llm)
    except (ValueError, RuntimeError, OSError) as e:
        raise ModelError(f"llama.cpp could not load {path}: {e}") from e
    return llm


def _parallel_context(llm) -> None:
    """Give `llm` a context for batch.SEQUENCES sequences over one unified KV cache (the reply's reasons share
    the head's cells). llama_cpp.Llama sets n_seq_max only for embedding models, so the context it made (~50 MB,
    a few ms) is swapped for one with these settings."""
    from llama_cpp import _internals

    params = llm.context_params
    params.n_seq_max, params.kv_unified = SEQUENCES, True
    ctx = llm._stack.enter_context(
        contextlib.closing(_internals.LlamaContext(model=llm._model, params=params, verbose=False))
    )
    old, llm._ctx = llm._ctx, ctx
    old.close()


def amx_build() -> bool:
    """True when this llama.cpp was built with AMX (scripts/llamacpp.sh, on a CPU that has it; the bench says so)."""
    import llama_cpp

    return b"AMX_INT8 = 1" in llama_cpp.llama_print_system_info()


def q8_path(gguf: Path, cache: Path | None = None) -> Path:
    """Where the Q8_0 copy of `gguf` lives (whether or not it is there yet): keyed by the file and the llama.cpp
    version, whose quantizer wrote it."""
    import llama_cpp

    from ..core.config import Settings
    from .gguf import gguf_key

    folder = (cache if cache is not None else Settings.from_env().cache) / "models"
    return folder / f"{gguf.stem}-{gguf_key(gguf)}-llamacpp{llama_cpp.__version__}.Q8_0.gguf"


def fast_copy(gguf: Path, target: Path) -> Path:
    """Write the Q8_0 copy of a Q4_1 GGUF to `target` (once; ~0.5 s and 145 MB for SmolLM2-135M), atomically.

    Why: without AMX, this llama.cpp has batched CPU kernels (llamafile's tinyBLAS, AVX2/AVX-512) for Q8_0 and Q4_0
    but none for Q4_1, whose prompt tokens go through the one-row dot product: on 2 cores the explain prompt's tail
    is read at ~200 tokens/s as Q4_1 and ~380 as Q8_0. Q8_0 keeps every Q4_1 weight to within 1/254 of its block's
    largest (Q4_1's own step is 1/15 of the block's range), so it is the same model, where Q4_0 would quantize it
    again. With AMX both read prompts alike and Q4_1 decodes ~25% faster, but the copy's reasons were usable more
    often on the replay corpus (generated share 0.772 against 0.706), so the copy stays the default there too.
    """
    import llama_cpp

    with one_builder(target):  # processes starting at once write it once
        if target.is_file():
            return target
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        params = llama_cpp.llama_model_quantize_default_params()
        params.ftype = FTYPE_Q8_0
        params.allow_requantize = True  # from Q4_1; the Q8_0 token embeddings are copied as they are
        t0 = time.perf_counter()
        try:
            if llama_cpp.llama_model_quantize(str(gguf).encode(), str(tmp).encode(), params) != 0:
                raise ModelError(f"llama.cpp could not write a Q8_0 copy of {gguf}")
            tmp.replace(target)
        finally:
            tmp.unlink(missing_ok=True)
        log.info("wrote %s (Q8_0 copy of %s) in %.1f s", target.name, gguf.name, time.perf_counter() - t0)
    return target


class LlamaCppGenerator:
    """A llama.cpp context over one GGUF file with a greedy token loop and saved KV states of prompt heads."""

    thread_safe = True  # calls from several threads share one batch.Batch, whose lock guards the context

    def __init__(self, llm, name: str) -> None:
        import jinja2.sandbox

        self.llm = llm  # llama_cpp.Llama
        self.name = name
        self.tokenizer = llm.tokenizer()  # llama.cpp's own tokenizer (explain.warm_up checks that there is one)
        template = llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise ModelError(f"{name}: the GGUF file has no chat template (tokenizer.chat_template)")
        env = jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)  # as transformers
        self._template = env.from_string(template)
        vocab = llm._model.vocab
        self.is_end = lambda token: bool(self._lib.llama_vocab_is_eog(vocab, token))
        self.n_ctx = N_CTX
        self.threads = Threads(llm.n_threads)  # one thread while other work takes the cores (threads.py)
        self.drafts: tuple[int, ...] = DRAFTS  # draft tokens a step checks (batch.DRAFTS); () decodes without
        self._heads: OrderedDict[tuple[int, ...], bytes] = OrderedDict()  # head ids -> KV state of sequence 0
        self._openings: OrderedDict[tuple[str, str], tuple[str, tuple[int, ...]]] = OrderedDict()  # see _opening
        self._kv_head: tuple[int, ...] | None = None  # the head the KV cache holds now, computed the cached way
        self._batch = Batch(self)  # every call's prompts, decoded together; its lock guards the context

    @property
    def _lib(self):
        """The llama_cpp ctypes module."""
        import llama_cpp

        return llama_cpp

    @classmethod
    def from_gguf(
        cls, path: Path, threads: int = 0, gpu_layers: int = 0, cache: Path | None = None, requantize: bool = True
    ) -> LlamaCppGenerator:
        """Load a GGUF file (memory-mapped, so loading is quick and the pages are shared between processes); a
        Q4_1 file runs as its Q8_0 copy, made once under `cache` (default: Settings.from_env().cache), unless
        `requantize` is False (the bench's side-by-side row of the file as shipped)."""
        try:
            import llama_cpp  # noqa: F401
        except (ImportError, OSError) as e:  # not built, or a shared library that does not load
            raise ModelError(f"llama-cpp-python is not usable ({e}); run scripts/setup.sh to build it") from e
        t0 = time.perf_counter()
        copy = q8_path(path, cache) if gpu_layers == 0 and requantize else None  # a GPU build has Q4_1 kernels
        llm = _load(copy if copy and copy.is_file() else path, threads, gpu_layers)
        if copy and not copy.is_file() and llama_cpp.llama_model_ftype(llm._model.model) == FTYPE_Q4_1:
            try:
                llm = _load(fast_copy(path, copy), threads, gpu_layers)
            except (ModelError, OSError) as e:  # a planned fallback: slower prompts, same replies near enough
                log.warning("running %s as Q4_1 (its Q8_0 copy failed: %s)", path.name, e)
        log.info(
            "loaded %s with llama.cpp (%d threads) in %.2f s",
            Path(llm.model_path).name,
            llm.n_threads,
            time.perf_counter() - t0,
        )
        return cls(llm, path.stem)

    # --- prompt -----------------------------------------------------------------------------------------------
    def _render(self, messages: Messages, add_generation_prompt: bool) -> str:
        """The chat template applied to messages (the same text transformers' apply_chat_template makes)."""
        return self._template.render(
            messages=messages,
            add_generation_prompt=add_generation_prompt,
            bos_token=self.llm._model.token_get_text(self.llm.token_bos()) if self.llm.token_bos() >= 0 else "",
            eos_token=self.llm._model.token_get_text(self.llm.token_eos()) if self.llm.token_eos() >= 0 else "",
        )

    def _encode(self, text: str) -> list[int]:
        """Token ids of already chat-formatted text (special tokens such as <|im_start|> parsed, no BOS added)."""
        return self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True) if text else []

    def split(self, messages: Messages) -> tuple[tuple[int, ...], list[int]]:
        """(head, tail) token ids of a prompt: the head is cached, the tail is fed each time.

        As in LocalGenerator, every prompt is split in two fixed parts, the messages before the last one (the
        head: explain's system prompt and few-shot examples, the same for every film; here also the last one's
        opening, see _opening) and the rest. The head is
        always computed alone from an empty cache and its KV state kept (load_head), so a later prompt with the
        same head restores it (a memory copy) instead of computing it, and the output is a function of the prompt
        alone, whatever ran before. A prompt of one message has an empty head.
        """
        full = self._render(messages, True)
        head = self._render(messages[:-1], False) if len(messages) > 1 else ""
        if not head or not full.startswith(head):
            return (), self._encode(full)
        opened = self._opening(messages, head, full)
        if opened is not None:
            return opened
        return tuple(self._encode(head)), self._encode(full[len(head) :])

    def _opening(self, messages: Messages, head: str, full: str) -> tuple[tuple[int, ...], list[int]] | None:
        """The split with the last message's opening (its role header, "<|im_start|>user\n") in the head: the
        same for every prompt, so its ~3 tokens are restored with the head instead of read with each film's tail
        (~6% of it). None where the template puts the message's content elsewhere, or where the tokens at the new
        boundary would differ from the whole prompt's."""
        key = (head, messages[-1].get("role", ""))
        known = self._openings.get(key)
        if known is None:  # the opening's text and ids, once per head and role (every film's prompt shares them)
            marked = self._render([*messages[:-1], {**messages[-1], "content": CONTENT_MARK}], True)
            opening = marked[: max(marked.find(CONTENT_MARK), 0)]
            known = self._openings[key] = (opening, tuple(self._encode(opening)))
            while len(self._openings) > HEADS_KEPT:
                self._openings.popitem(last=False)
        self._openings.move_to_end(key)
        opening, ids = known
        if len(opening) <= len(head) or not opening.startswith(head) or not full.startswith(opening):
            return None
        tail = self._encode(full[len(opening) :])
        if list(ids) + tail != self._encode(full):
            return None
        return ids, tail

    def load_head(self, key: tuple[int, ...]) -> None:
        """Leave the KV cache holding `key` alone, in sequence 0: computed once, then restored from its state."""
        lib = self._lib
        mem = self.llm._ctx.memory
        if self._kv_head != key:
            self._kv_head = None  # never trust a half-restored cache if what follows fails
            state = self._heads.get(key)
            if not key:
                self.llm.reset()
                lib.llama_memory_clear(mem, True)
            elif state is None:
                self.llm.reset()
                try:
                    self.llm.eval(list(key))
                except Exception as e:  # llama_decode failures come back as RuntimeError
                    raise ModelError(f"llama.cpp failed on the prompt: {type(e).__name__}: {e}") from e
                self._heads[key] = self._save()
                while len(self._heads) > HEADS_KEPT:
                    self._heads.popitem(last=False)
            else:
                self._heads.move_to_end(key)
                self._restore(key, state)
            self._kv_head = key
        lib.llama_memory_seq_rm(mem, -1, len(key), -1)  # what a previous reply added after the head
        for seq in range(1, SEQUENCES):
            lib.llama_memory_seq_rm(mem, seq, -1, -1)
        self.llm.n_tokens = len(key)

    def _save(self) -> bytes:
        """The KV state of sequence 0 (the head just computed): ~23 KB a token for SmolLM2-135M."""
        lib, ctx = self._lib, self.llm._ctx.ctx
        size = lib.llama_state_seq_get_size(ctx, 0)
        buf = (ctypes.c_uint8 * size)()
        written = lib.llama_state_seq_get_data(ctx, buf, size, 0)
        return bytes(buf[:written])

    def _restore(self, key: tuple[int, ...], state: bytes) -> None:
        """Load a saved head's KV state into an emptied cache."""
        lib, ctx = self._lib, self.llm._ctx.ctx
        lib.llama_memory_clear(lib.llama_get_memory(ctx), True)
        buf = (ctypes.c_uint8 * len(state)).from_buffer_copy(state)
        if lib.llama_state_seq_set_data(ctx, buf, len(state), 0) != len(state):
            raise ModelError(f"{self.name}: llama.cpp refused a saved prompt state")
        self.llm.input_ids[: len(key)] = key
        self.llm.n_tokens = len(key)

    def stepped(self, wall_s: float, cpu_s: float) -> None:
        """After each step: fewer threads while the cores are taken, the full count again once they are free."""
        n = self.threads.after_step(wall_s, cpu_s)
        if n is not None:
            self._lib.llama_set_n_threads(self.llm._ctx.ctx, n, self.llm.n_threads_batch if n > 1 else n)

    def argmax(self, index: int) -> int:
        """The greedy next token: argmax of the logits (V,) of slot `index` of the last llama_decode batch."""
        import numpy as np

        ptr = self._lib.llama_get_logits_ith(self.llm._ctx.ctx, index)
        return int(np.ctypeslib.as_array(ptr, shape=(self.llm.n_vocab(),)).argmax())

    # --- the generator protocol -------------------------------------------------------------------------------
    def stream(self, messages: Messages, max_new_tokens: int = 64, stop: Sequence[str] = ()) -> Iterator[str]:
        """Greedy decoding (one prompt through stream_many); stops at an end-of-generation token or a stop string."""
        yield from self.stream_many([messages], max_new_tokens, stop)[0]

    def stream_many(
        self, prompts: Sequence[Messages], max_new_tokens: int = 64, stop: Sequence[str] = ()
    ) -> list[Iterator[str]]:
        """One greedy piece stream per prompt, decoded together (batch.Batch): a reply's reasons in ~0.7x the
        time of one after another, and beside those of other calls still running (other sessions' turns).
        Nothing runs until a stream is read; closing (or dropping) a stream stops its prompt."""
        return self._batch.add(prompts, max_new_tokens, stop)

    def complete(self, messages: Messages, max_new_tokens: int = 64, stop: Sequence[str] = ()) -> str:
        """The whole greedy reply."""
        return join_stream(self, messages, max_new_tokens, stop)

    def count_tokens(self, text: str) -> int:
        """How many tokens `text` is (the bench's tokens/s)."""
        return len(self._encode(text))
