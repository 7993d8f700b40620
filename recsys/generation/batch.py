"""Greedy decoding of several prompts at once in one llama.cpp context (continuous batching).

    streams = Batch(model, prompts, max_new_tokens=40, stop=("\\n",)).streams()
    for piece in streams[0]: ...      # the others run alongside; their pieces wait in a queue until read

Why: on a 2-core CPU one decoding step of SmolLM2-135M is mostly fixed cost (30 layers of small matrix-vector
products and the threads' barriers), so a step that carries three sequences' next tokens costs ~1.5x one that
carries one: a three-film reply's reasons written together take ~0.7x the time of writing them one after another.
Each step feeds every running sequence's last token and at most one waiting prompt's tail, so the first prompt's
first token comes as soon as it would alone, and the later tails are read while the first reason is written.

Prompts that share a head (explain's system prompt and few-shot examples) run together: the head's KV cells are
in sequence 0 and shared by every sequence (a unified KV cache). A prompt with another head waits until the
running ones end. The model side (head cache, tokenizer, logits) is LlamaCppGenerator's; this module only owns
the schedule. A row's logits depend on where it sits in a batch (the matrix kernels add in another order), so a
reason written beside others can differ from the one written alone where two tokens nearly tie (6 of the bench's
30 reasons; on the replay corpus the share of generated reasons went 0.750 -> 0.738, unsupported claims 0 both).
The schedule is a function of the prompts, so the same request still gives the same reply.

Each running sequence may also put draft tokens in a step (draft.Lookup: what followed the latest earlier
occurrence of its newest tokens in its prompt and reply), as many as DRAFTS allows for the number of sequences in
the step. The logits of every draft's slot are read; the run of drafts the model would have picked is kept, with
the token after it, and the other drafts' KV cells are removed. One reason alone is written ~1.4x as fast.
"""

from __future__ import annotations

import weakref
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from ..core.errors import ModelError
from .draft import Lookup
from .stream import Messages, StopScanner

SEQUENCES = 4  # sequences decoded together (n_seq_max of the context): a reply's three reasons and one spare
BATCH_TOKENS = 512  # tokens one llama_decode call may carry (= the context's n_batch)
# Draft tokens (draft.Lookup) a running sequence adds to a step, by how many sequences the step carries: a guess
# costs ~3.5 ms of compute, and it pays where it saves a step that few sequences share.
DRAFTS = (2, 1, 1, 0)


class Model(Protocol):
    """What Batch needs from the generator that owns the llama.cpp context (LlamaCppGenerator)."""

    llm: Any  # llama_cpp.Llama, its context built with n_seq_max = SEQUENCES and a unified KV cache
    n_ctx: int

    def split(self, messages: Messages) -> tuple[tuple[int, ...], list[int]]: ...

    def load_head(self, head: tuple[int, ...]) -> None: ...

    def argmax(self, index: int) -> int: ...

    def is_end(self, token: int) -> bool: ...


class Batch:
    """One reply's prompts decoded together; `streams()` gives one piece iterator per prompt, in order.

    Reading any stream runs steps for all; closing a stream (or reading it to the end) frees its sequence. The
    owner calls `end()` before it uses the context for anything else, so a reply that was left half-read never
    leaves stale sequences behind.
    """

    def __init__(
        self,
        model: Model,
        prompts: Sequence[Messages],
        max_new_tokens: int,
        stop: Sequence[str],
        drafts: Sequence[int] = DRAFTS,
    ) -> None:
        import llama_cpp

        self.model = model
        self.prompts = list(prompts)
        self.max_new = max_new_tokens
        self.scanners = [StopScanner(stop) for _ in self.prompts]
        self.made: list[list[int]] = [[] for _ in self.prompts]
        self.pending: list[deque[str]] = [deque() for _ in self.prompts]
        self.errors: list[ModelError | None] = [None] * len(self.prompts)
        self.state = ["waiting"] * len(self.prompts)  # waiting -> running -> done
        self.seq: dict[int, int] = {}  # running prompt -> its sequence id
        self.pos: dict[int, int] = {}  # running prompt -> the position of its next token
        self.feed: dict[int, int] = {}  # running prompt -> the token to feed at the next step
        self.todo: dict[int, deque[int]] = {}  # running prompt -> tail tokens not fed yet
        self.cells: dict[int, int] = {}  # running prompt -> KV cells it may use (its tail + max_new)
        self.head: tuple[int, ...] | None = None  # the head in sequence 0 now
        self.split: dict[int, tuple[tuple[int, ...], list[int]]] = {}
        self.drafts = tuple(drafts)
        self.lookups: dict[int, Lookup] = {}  # running prompt -> its tokens, for drafts
        self.steps = 0  # llama_decode calls so far (with drafts, fewer than the tokens written)
        self.lib = llama_cpp
        self.raw = llama_cpp.llama_batch_init(BATCH_TOKENS, 0, 1)
        weakref.finalize(self, llama_cpp.llama_batch_free, self.raw)
        self.ended = False

    def streams(self) -> list[Iterator[str]]:
        """One lazy piece iterator per prompt."""
        return [Stream(self, i) for i in range(len(self.prompts))]

    def next_piece(self, i: int) -> str:
        """Prompt i's next piece, running steps until there is one; StopIteration at its end."""
        while not self.pending[i]:
            error = self.errors[i]
            if error is not None:
                self.drop(i)
                raise error
            if self.state[i] == "done":
                self.drop(i)
                raise StopIteration
            self._step()
        return self.pending[i].popleft()

    # --- the schedule -----------------------------------------------------------------------------------------
    def _startable(self) -> int | None:
        """The next waiting prompt, when it may start now: a sequence is free, it has the running prompts' head
        (or none is running) and the KV cache has room for it."""
        i = next((k for k, s in enumerate(self.state) if s == "waiting"), None)
        if i is None or len(self.seq) >= SEQUENCES:
            return None
        if i not in self.split:
            try:
                self.split[i] = self.model.split(self.prompts[i])
            except ModelError as e:
                self._fail(i, e)
                return self._startable()
        head, tail = self.split[i]
        need = len(tail) + self.max_new
        if not tail:  # the chat template always adds the assistant's turn; a prompt with none is not one
            self._fail(i, ModelError("the prompt rendered to no tokens after its head"))
            return self._startable()
        if not self.seq:
            if len(head) + need > self.model.n_ctx:
                self._fail(
                    i, ModelError(f"prompt of {len(head) + len(tail)} tokens is too long for {self.model.n_ctx}")
                )
                return self._startable()
            return i
        if head != self.head or len(head) + sum(self.cells.values()) + need > self.model.n_ctx:
            return None  # after the running ones
        return i

    def _start(self, i: int) -> None:
        """Give prompt i a sequence holding its head; its tail is fed from the next slots (_step)."""
        lib, mem = self.lib, self.model.llm._ctx.memory
        head, tail = self.split[i]
        if not self.seq and head != self.head:
            self.model.load_head(head)  # sequence 0 holds this head alone now
            self.head = head
        seq = min(set(range(SEQUENCES)) - set(self.seq.values()))
        if seq:
            lib.llama_memory_seq_rm(mem, seq, -1, -1)
            lib.llama_memory_seq_cp(mem, 0, seq, 0, len(head))
        else:
            lib.llama_memory_seq_rm(mem, 0, len(head), -1)
        self.state[i], self.seq[i], self.cells[i] = "running", seq, len(tail) + self.max_new
        self.todo[i], self.pos[i] = deque(tail), len(head)
        if any(self.drafts):
            self.lookups[i] = Lookup((*head, *tail))

    def _put(self, n: int, token: int, i: int, logits: bool) -> None:
        """Slot n of the raw batch: prompt i's next position."""
        raw = self.raw
        raw.token[n], raw.pos[n], raw.n_seq_id[n], raw.logits[n] = token, self.pos[i], 1, logits
        raw.seq_id[n][0] = self.seq[i]
        self.pos[i] += 1

    def _draft(self, i: int, running: int) -> list[int]:
        """Prompt i's guesses for this step: as many as DRAFTS allows, and none past its last allowed token."""
        lookup = self.lookups.get(i)
        if lookup is None or running > len(self.drafts):
            return []
        return lookup.draft(min(self.drafts[running - 1], self.max_new - len(self.made[i]) - 1))

    def _step(self) -> None:
        """One llama_decode: every running prompt's last token and its drafts, then as much of a new prompt's
        tail as fits (at most one prompt is being read at a time; a waiting one starts when none is)."""
        outputs: list[tuple[int, list[int], list[int]]] = []  # (prompt, slots whose logits give tokens, drafts)
        n = 0
        for i, token in self.feed.items():
            draft = self._draft(i, len(self.feed))
            slots = list(range(n, n + 1 + len(draft)))
            for slot, t in zip(slots, (token, *draft), strict=True):
                self._put(slot, t, i, True)
            outputs.append((i, slots, draft))
            n += len(slots)
        self.feed = {}
        if not self.todo:
            i = self._startable()
            if i is not None:
                try:
                    self._start(i)
                except ModelError as e:  # its head could not be computed: this prompt fails, not the others
                    self._fail(i, e)
        for i, todo in list(self.todo.items()):
            while todo and n < BATCH_TOKENS:
                self._put(n, todo.popleft(), i, not todo)
                n += 1
            if not todo:
                del self.todo[i]
                outputs.append((i, [n - 1], []))
        if n == 0:
            return
        self.raw.n_tokens = n
        code = self.lib.llama_decode(self.model.llm._ctx.ctx, self.raw)
        self.steps += 1
        if code != 0:
            error = ModelError(f"llama.cpp failed while decoding (llama_decode returned {code})")
            for i in list(self.seq):
                self._fail(i, error)
            self.model.load_head(())  # the next call starts from an empty cache
            self.head = None
            return
        for i, slots, draft in outputs:
            self._check(i, slots, draft)

    def _check(self, i: int, slots: list[int], draft: list[int]) -> None:
        """Take prompt i's tokens from its slots: the first, then one more for each draft token that was the
        model's own choice; the KV cells of the drafts after the first wrong one are dropped."""
        first = self.pos[i] - len(slots)  # the position of the token in slots[0]
        for j, slot in enumerate(slots):
            token = self.model.argmax(slot)
            self._took(i, token)
            if self.state[i] != "running" or j == len(draft) or token != draft[j]:
                break
        if self.state[i] == "running" and j < len(draft):
            self.pos[i] = first + j + 1  # the next token fed goes where the first wrong draft was
            self.lib.llama_memory_seq_rm(self.model.llm._ctx.memory, self.seq[i], self.pos[i], -1)

    def _took(self, i: int, token: int) -> None:
        """Prompt i's next token: queue the text it adds, and stop it at the end token, a stop string or the cap."""
        scanner = self.scanners[i]
        if not self.model.is_end(token):
            self.made[i].append(token)
            if i in self.lookups:
                self.lookups[i].append(token)
            text = self.model.llm.detokenize(self.made[i]).decode("utf-8", errors="replace")
            piece = scanner.feed(text)
            if piece:
                self.pending[i].append(piece)
            if not scanner.stopped and len(self.made[i]) < self.max_new:
                self.feed[i] = token  # no forward pass for a token nobody will read
                return
        rest = scanner.flush()
        if rest:
            self.pending[i].append(rest)
        self._finish(i)

    def _fail(self, i: int, error: ModelError) -> None:
        self.errors[i] = error
        self._finish(i)

    def _finish(self, i: int) -> None:
        """Prompt i is done: its sequence's cells are free for the next prompt."""
        self.state[i] = "done"
        self.feed.pop(i, None)
        self.todo.pop(i, None)
        self.pos.pop(i, None)
        self.cells.pop(i, None)
        self.lookups.pop(i, None)
        seq = self.seq.pop(i, None)
        if seq is not None and self.head is not None:
            mem = self.model.llm._ctx.memory
            self.lib.llama_memory_seq_rm(mem, seq, len(self.head) if seq == 0 else -1, -1)

    def drop(self, i: int) -> None:
        """A stream closed or read to the end; once all are, the context holds the head alone again."""
        if self.state[i] != "done":
            self._finish(i)
        self.pending[i].clear()
        self.errors[i] = None
        if all(s == "done" for s in self.state):
            self.end()

    def end(self) -> None:
        """Stop every prompt and leave sequence 0 with the head alone (the owner's cache of heads stays valid)."""
        if self.ended:
            return
        for i, s in enumerate(self.state):
            if s != "done":
                self._finish(i)
        self.ended = True


class Stream(Iterator[str]):
    """One prompt's pieces from a Batch; close() (or the end) frees its sequence, even before it was read."""

    def __init__(self, batch: Batch, index: int) -> None:
        self.batch, self.index = batch, index

    def __next__(self) -> str:
        return self.batch.next_piece(self.index)

    def close(self) -> None:
        self.batch.drop(self.index)
