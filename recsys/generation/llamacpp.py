"""A GGUF model run by llama.cpp (llama-cpp-python) in this process: greedy decoding and a cache of prompt heads.

    gen = LlamaCppGenerator.from_gguf(smollm2_path(), threads=0)    # ~0.1 s to load; no conversion
    gen.complete([{"role": "user", "content": "Hi"}], max_new_tokens=20, stop=("\\n",))

The default backend for `.gguf` files and the packaged SmolLM2 on CPU (generation.llm picks it). llama-cpp-python
is built from source by scripts/setup.sh; when it is not importable the transformers path is used instead.

Threads and waiting. ggml's worker threads spin at the barriers inside one token's forward pass (a few ms) and
are gone between tokens and between calls, so an idle generator costs nothing and a busy one does not starve the
rest of the server for long (scripts/setup.sh builds without OpenMP, whose threads would stay spinning after a
call, like torch's did: config.py sets OMP_WAIT_POLICY=PASSIVE for that). Generation calls are serialised by
the engine, so one reply at a time uses the threads: `threads=0` means all cores for the prompt (one burst) and
for decoding (see decode_threads).
"""

from __future__ import annotations

import ctypes
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path

from ..core.errors import ModelError
from .stream import Messages, StopScanner, join_stream

log = logging.getLogger(__name__)

N_CTX = 2048  # prompt + reply tokens: explain's prompt is ~350, the parser's few-shot ~600; KV cache ~47 MB at f16
HEADS_KEPT = 4  # prompt heads whose KV state is kept (explain's and the parser's are the two in use)


def decode_threads(threads: int) -> int:
    """Threads for decoding: `threads`, or for 0 every core this process may use (a 135M model is compute-bound
    on 2 cores; the bench's generation section measures 2 threads against 1)."""
    if threads > 0:
        return threads
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class LlamaCppGenerator:
    """A llama.cpp context over one GGUF file with a greedy token loop and saved KV states of prompt heads."""

    thread_safe = False  # one context, one call at a time; the engine serialises calls

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
        self._is_end = lambda token: bool(self._lib.llama_vocab_is_eog(vocab, token))
        self._heads: OrderedDict[tuple[int, ...], bytes] = OrderedDict()  # head ids -> KV state of sequence 0
        self._kv_head: tuple[int, ...] | None = None  # the head the KV cache holds now, computed the cached way

    @property
    def _lib(self):
        """The llama_cpp ctypes module."""
        import llama_cpp

        return llama_cpp

    @classmethod
    def from_gguf(cls, path: Path, threads: int = 0, gpu_layers: int = 0) -> LlamaCppGenerator:
        """Load a GGUF file (memory-mapped, so loading is quick and the pages are shared between processes)."""
        try:
            from llama_cpp import Llama
        except (ImportError, OSError) as e:  # not built, or a shared library that does not load
            raise ModelError(f"llama-cpp-python is not usable ({e}); run scripts/setup.sh to build it") from e
        n = decode_threads(threads)
        t0 = time.perf_counter()
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
        except (ValueError, RuntimeError, OSError) as e:
            raise ModelError(f"llama.cpp could not load {path}: {e}") from e
        log.info("loaded %s with llama.cpp (%d threads) in %.2f s", path.name, n, time.perf_counter() - t0)
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

    def _prefill(self, messages: Messages) -> list[int]:
        """Put the prompt's head in the KV cache; return the tail's token ids, still to be fed.

        As in LocalGenerator, every prompt is split in two fixed parts, the messages before the last one (the
        head: explain's system prompt and few-shot examples, the same for every film) and the rest. The head is
        always computed alone from an empty cache and its KV state kept, so a later prompt with the same head
        restores it (a memory copy) instead of computing it, and the output is a function of the prompt alone,
        whatever ran before.
        """
        full = self._render(messages, True)
        head = self._render(messages[:-1], False) if len(messages) > 1 else ""
        if not head or not full.startswith(head):
            self._kv_head = None
            self.llm.reset()
            return self._encode(full)
        key = tuple(self._encode(head))
        if self._kv_head != key:
            self._kv_head = None  # never trust a half-restored cache if what follows fails
            state = self._heads.get(key)
            if state is None:
                self.llm.reset()
                self.llm.eval(list(key))
                self._heads[key] = self._save()
                while len(self._heads) > HEADS_KEPT:
                    self._heads.popitem(last=False)
            else:
                self._heads.move_to_end(key)
                self._restore(key, state)
            self._kv_head = key
        self.llm.n_tokens = len(key)  # the next eval drops everything after the head from the KV cache
        return self._encode(full[len(head) :])

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

    def _logits_argmax(self) -> int:
        """The greedy next token: argmax of the last evaluated position's logits (V,)."""
        import numpy as np

        ptr = self._lib.llama_get_logits_ith(self.llm._ctx.ctx, -1)
        return int(np.ctypeslib.as_array(ptr, shape=(self.llm.n_vocab(),)).argmax())

    # --- the generator protocol -------------------------------------------------------------------------------
    def stream(self, messages: Messages, max_new_tokens: int = 64, stop: Sequence[str] = ()) -> Iterator[str]:
        """Greedy decoding, one token per step; stops at an end-of-generation token or a stop string."""
        scanner = StopScanner(stop)
        new: list[int] = []
        try:
            tail = self._prefill(messages)
            if self.llm.n_tokens + len(tail) + max_new_tokens > N_CTX:
                raise ModelError(f"prompt of {self.llm.n_tokens + len(tail)} tokens is too long for {N_CTX}")
            self.llm.eval(tail)
        except ModelError:
            raise
        except Exception as e:  # llama_decode failures come back as RuntimeError
            self._kv_head = None
            raise ModelError(f"llama.cpp failed on the prompt: {type(e).__name__}: {e}") from e
        for step in range(max_new_tokens):
            token = self._logits_argmax()
            if self._is_end(token):
                break
            new.append(token)
            text = self.llm.detokenize(new).decode("utf-8", errors="replace")
            piece = scanner.feed(text)
            if piece:
                yield piece
            if scanner.stopped or step == max_new_tokens - 1:  # no forward pass for a token nobody will read
                break
            try:
                self.llm.eval([token])
            except Exception as e:
                self._kv_head = None
                raise ModelError(f"llama.cpp failed while decoding: {type(e).__name__}: {e}") from e
        rest = scanner.flush()
        if rest:
            yield rest

    def complete(self, messages: Messages, max_new_tokens: int = 64, stop: Sequence[str] = ()) -> str:
        """The whole greedy reply."""
        return join_stream(self, messages, max_new_tokens, stop)

    def count_tokens(self, text: str) -> int:
        """How many tokens `text` is (the bench's tokens/s)."""
        return len(self._encode(text))
