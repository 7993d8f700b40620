"""A transformers causal LM run in this process: greedy decoding with a KV cache and a reused prompt-head cache.

gen = LocalGenerator.from_folder(Path("models/SmolLM2-135M"), device="auto")
gen.complete([{"role": "user", "content": "Hi"}], max_new_tokens=20)
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from ..core.errors import ConfigError, ModelError
from .stream import Messages, StopScanner, join_stream

log = logging.getLogger(__name__)


class LocalGenerator:
    """A transformers causal LM run in this process with a greedy token loop and a KV cache."""

    thread_safe = False  # one forward pass at a time; the engine serialises calls

    def __init__(self, model, tokenizer, name: str) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.name = name
        self.device = next(model.parameters()).device
        end_ids = {tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|im_end|>")}
        self.end_ids = {i for i in end_ids if isinstance(i, int) and i >= 0 and i != tokenizer.unk_token_id}
        self._prefix: tuple[tuple[int, ...], object] | None = None  # (prompt-head token ids, its KV cache)

    @classmethod
    def from_folder(cls, folder: Path, device: str = "cpu", name: str | None = None) -> LocalGenerator:
        """Load an HF causal-LM folder (config, weights, tokenizer)."""
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        device = _resolve_device(device)
        dtype = torch.bfloat16 if device == "cuda" else torch.float32  # CPUs are fastest in fp32
        t0 = time.perf_counter()
        try:
            tokenizer = AutoTokenizer.from_pretrained(folder)
            model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype).to(device)
        except Exception as e:  # missing files, corrupt weights (safetensors has its own error type), bad config
            raise ModelError(f"could not load the model folder {folder}: {type(e).__name__}: {e}") from e
        log.info("loaded %s on %s in %.1f s", folder, device, time.perf_counter() - t0)
        return cls(model, tokenizer, name or Path(folder).name)

    def _encode(self, text: str):
        """(1, T) token ids of already chat-formatted text."""
        return self.tokenizer(text, return_tensors="pt", add_special_tokens=False).input_ids.to(self.device)

    def _forward(self, ids, past):
        """One forward pass without autograd: (next-token logits (V,), updated KV cache)."""
        import torch

        with torch.inference_mode():  # entered per call, never held across a yield to the caller
            out = self.model(input_ids=ids, past_key_values=past, use_cache=True)
        return out.logits[0, -1], out.past_key_values

    def _prefill(self, messages: Messages):
        """(ids still to feed (1, T), KV cache of everything before them or None).

        Every prompt is fed in two fixed parts, the messages before the last one and the rest, and the first
        part's KV cache is kept: explain's system prompt and few-shot examples are the same for every item, so
        only the item's own message is computed again. Splitting the same way every time, cached or not, keeps
        the output a function of the prompt alone.
        """
        template = self.tokenizer.apply_chat_template
        full = template(messages, tokenize=False, add_generation_prompt=True)
        try:
            head = template(messages[:-1], tokenize=False) if len(messages) > 1 else ""
        except Exception:  # some templates refuse a conversation that does not end with a user turn
            head = ""
        if not head or not full.startswith(head):
            return self._encode(full), None
        head_ids = self._encode(head)  # (1, H)
        key = tuple(head_ids[0].tolist())
        if self._prefix is None or self._prefix[0] != key:
            self._prefix = None  # never keep a half-built entry if the forward pass fails
            self._prefix = (key, self._forward(head_ids, None)[1])
        return self._encode(full[len(head) :]), copy.deepcopy(self._prefix[1])

    def stream(self, messages: Messages, max_new_tokens: int = 64, stop: Sequence[str] = ()) -> Iterator[str]:
        """Greedy decoding, one token per step with the KV cache; stops at an end token or a stop string."""
        import torch

        # A manual loop (not generate + TextIteratorStreamer + thread): no thread left running when the caller
        # stops early, stop strings checked on the decoded text, and less per-token overhead on a 135M model.
        scanner = StopScanner(stop)
        new: list[int] = []
        ids, past = self._prefill(messages)  # (1, T)
        for _ in range(max_new_tokens):
            logits, past = self._forward(ids, past)  # (V,)
            token = int(logits.argmax())
            if token in self.end_ids:
                break
            new.append(token)
            piece = scanner.feed(self.tokenizer.decode(new, skip_special_tokens=True))
            if piece:
                yield piece
            if scanner.stopped:
                return
            ids = torch.tensor([[token]], device=self.device)  # (1, 1)
        rest = scanner.flush()
        if rest:
            yield rest

    def complete(self, messages: Messages, max_new_tokens: int = 64, stop: Sequence[str] = ()) -> str:
        """The whole greedy reply."""
        return join_stream(self, messages, max_new_tokens, stop)


def _resolve_device(device: str) -> str:
    """ "auto" -> cuda when there is one; "cuda" without one is a ConfigError."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device is 'cuda' but torch sees no CUDA device; use cpu or auto")
    return device
