"""Greedy decoding of several prompts at once in one llama.cpp context (continuous batching), from one caller or
from several at once.

    batch = Batch(model)          # one per context: LlamaCppGenerator makes it
    streams = batch.add(prompts, max_new_tokens=40, stop=("\\n",))
    for piece in streams[0]: ...      # the others run alongside; their pieces wait in a queue until read

Why: on a 2-core CPU one decoding step of SmolLM2-135M is mostly fixed cost (30 layers of small matrix-vector
products and the threads' barriers), so a step that carries three sequences' next tokens costs ~1.5x one that
carries one: a three-film reply's reasons written together take ~0.7x the time of writing them one after another.
Each step feeds every running sequence's last token and at most one waiting prompt's tail, so the first prompt's
first token comes as soon as it would alone, and the later tails are read while the first reason is written.

Several sessions at once: prompts added while others run join the same steps (up to SEQUENCES sequences), so a
second person's reasons start while the first person's are written instead of after the whole reply. Whichever
reader needs a piece takes the next step, under the batch's lock; pieces a step makes for other readers wait in
their queues. A prompt whose reader waits for it starts before the others: another session's first reason before
the later reasons of a reply already being written. A prompt runs until its stream is read to the end or closed
(the explainer closes every stream it opened); one whose stream is dropped unread stops at the next step. The
bench's 8 sessions at once: first generated words p95 2.2 s, against 9.2 s when the engine wrote one reply at a
time; whole replies p95 9.1 against 9.8 s, but median 8.9 against 5.5 s, since the replies now share the cores.

Prompts that share a head (explain's system prompt and few-shot examples) run together: the head's KV cells are
in sequence 0 and shared by every sequence (a unified KV cache). A prompt with another head waits until the
running ones end, and the prompts added after it wait behind it. The model side (head cache, tokenizer, logits) is
LlamaCppGenerator's; this module only owns the schedule. A row's logits depend on where it sits in a batch (the
matrix kernels add in another order), so a reason written beside others can differ from the one written alone
where two tokens nearly tie (6 of the bench's 30 reasons; on the replay corpus the share of generated reasons went
0.750 -> 0.738, unsupported claims 0 both). Alone, the schedule is a function of the prompts added together (a call's
prompts start in their order, whichever stream is read first), so the same request still gives the same reply; beside
another session's turn, a near tie may go the other way (none of 6 reasons in the two-session test did).

Each running sequence may also put draft tokens in a step (draft.Lookup: what followed the latest earlier
occurrence of its newest tokens in its prompt and reply), as many as the model's `drafts` allows for the number of
sequences in the step. The logits of every draft's slot are read; the run of drafts the model would have picked is
kept, with the token after it, and the other drafts' KV cells are removed. One reason alone is written ~1.4x as
fast.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from ..core.errors import ModelError
from .draft import Lookup
from .stream import Messages, StopScanner

# Sequences decoded together (n_seq_max of the context): a reply's three reasons, and those of other sessions'
# turns that arrive meanwhile. A step costs ~11 ms plus ~3.5 ms a token it carries (2 cores): sharing it pays less
# the more sequences it has, and the cores are shared among the replies.
SEQUENCES = 8
BATCH_TOKENS = 512  # tokens one llama_decode call may carry (= the context's n_batch)
# Draft tokens (draft.Lookup) a running sequence adds to a step, by how many sequences the step carries: a guess
# costs ~3.5 ms of compute, and it pays where it saves a step that few sequences share.
DRAFTS = (2, 1, 1, 0)


class Model(Protocol):
    """What Batch needs from the generator that owns the llama.cpp context (LlamaCppGenerator)."""

    llm: Any  # llama_cpp.Llama, its context built with n_seq_max = SEQUENCES and a unified KV cache
    n_ctx: int
    drafts: Sequence[int]  # DRAFTS, or () for none

    def split(self, messages: Messages) -> tuple[tuple[int, ...], list[int]]: ...

    def load_head(self, head: tuple[int, ...]) -> None: ...

    def argmax(self, index: int) -> int: ...

    def is_end(self, token: int) -> bool: ...

    def stepped(self, wall_s: float, cpu_s: float) -> None: ...  # after each llama_decode (threads.Threads)


class FairLock:
    """A lock handed to its waiters in the order they asked (a ticket lock). threading.Lock is not: a reader
    that steps, gets its piece and asks again at once can keep it for a whole reply while another session's
    reader, which only needed its turn to see the pieces waiting for it, is never woken in time."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._next = 0  # the next ticket to hand out
        self._serving = 0  # the ticket that holds the lock
        self._skipped: set[int] = set()  # tickets whose waiter was interrupted

    def __enter__(self) -> FairLock:
        with self._cond:
            ticket, self._next = self._next, self._next + 1
            try:
                self._cond.wait_for(lambda: self._serving == ticket)
            except BaseException:  # interrupted while waiting: give the turn up, or all after it would wait forever
                if self._serving == ticket:
                    self._pass()
                else:
                    self._skipped.add(ticket)
                raise
        return self

    def __exit__(self, *exc: object) -> None:
        with self._cond:
            self._pass()

    def _pass(self) -> None:
        """The turn goes to the next waiter still there (under _cond)."""
        self._serving += 1
        while self._serving in self._skipped:
            self._skipped.discard(self._serving)
            self._serving += 1
        self._cond.notify_all()


class Job:
    """One prompt in the schedule (waiting -> running -> done): the tokens it wrote and the pieces not yet read."""

    def __init__(self, messages: Messages, max_new: int, stop: Sequence[str], call: object) -> None:
        self.messages = messages
        self.call = call  # the add() it came from: a reply's prompts start in their order (Batch._startable)
        self.max_new = max_new
        self.scanner = StopScanner(stop)
        self.made: list[int] = []
        self.pending: deque[str] = deque()
        self.error: ModelError | None = None
        self.state = "waiting"
        self.abandoned = False  # its stream was dropped unread: the next step stops it
        self.wanted = False  # its reader waits for a piece: it starts before prompts nobody reads yet
        self.split: tuple[tuple[int, ...], list[int]] | None = None
        # while running:
        self.seq = -1  # its sequence id
        self.pos = 0  # the position of its next token
        self.feed: int | None = None  # the token to feed at the next step
        self.todo: deque[int] = deque()  # tail tokens not fed yet
        self.cells = 0  # KV cells it may use (its tail + max_new)
        self.lookup: Lookup | None = None  # its tokens, for drafts

    def abandon(self) -> None:
        """Called when its stream is garbage-collected: only a flag, since that may happen in the middle of a step."""
        self.abandoned = True


class Batch:
    """The prompts of every caller of one llama.cpp context, decoded together; `add` gives one piece iterator
    per prompt, in order.

    Reading any stream runs steps for all; closing a stream (or reading it to the end) frees its sequence.
    """

    def __init__(self, model: Model) -> None:
        import llama_cpp

        self.model = model
        self.lock = FairLock()  # the context is used by one step at a time; readers take turns
        self.waiting: deque[Job] = deque()
        self.running: list[Job] = []  # in the order they started
        self.head: tuple[int, ...] | None = None  # the head in sequence 0 now
        self.head_lookup: tuple[tuple[int, ...], Lookup] | None = None  # the latest head's draft index (_start)
        self.steps = 0  # llama_decode calls so far (with drafts, fewer than the tokens written)
        self.lib = llama_cpp
        self.raw = llama_cpp.llama_batch_init(BATCH_TOKENS, 0, 1)
        weakref.finalize(self, llama_cpp.llama_batch_free, self.raw)

    def add(self, prompts: Sequence[Messages], max_new_tokens: int, stop: Sequence[str]) -> list[Stream]:
        """Queue the prompts; one lazy piece iterator each. Nothing runs until a stream is read."""
        call = object()
        jobs = [Job(messages, max_new_tokens, stop, call) for messages in prompts]
        with self.lock:
            self.waiting.extend(jobs)
        return [Stream(self, job) for job in jobs]

    def next_piece(self, job: Job) -> str:
        """The job's next piece, running steps until there is one; StopIteration at its end."""
        job.wanted = True
        while True:
            with self.lock:  # another reader's step may have made this one's piece while it waited here
                if job.pending:
                    job.wanted = False
                    return job.pending.popleft()
                error = job.error
                if error is not None:
                    self._drop(job)
                    raise error
                if job.state == "done":
                    self._drop(job)
                    raise StopIteration
                self._step()

    def drop(self, job: Job) -> None:
        """A stream closed or read to the end: its sequence is free, its unread pieces are gone."""
        with self.lock:
            self._drop(job)

    def _drop(self, job: Job) -> None:
        if job.state != "done":
            self._finish(job)
        job.pending.clear()
        job.error = None

    # --- the schedule -----------------------------------------------------------------------------------------
    def _startable(self) -> Job | None:
        """The next waiting prompt, when it may start now: a sequence is free, it has the running prompts' head
        (or none is running) and the KV cache has room for it. Prompts that cannot run at all fail here. The next
        is the first one a reader waits for, else the first: another session's first reason starts before the
        later reasons of a reply already being written, which are not shown until its first is done. Within one
        add() call the prompts start in their order, whichever is read first: the steps, and so the text, do not
        depend on the order a caller reads its streams in."""
        while self.waiting:
            job = next((j for j in self.waiting if j.wanted), self.waiting[0])
            job = next(j for j in self.waiting if j.call is job.call)  # its call's first waiting prompt
            if job.abandoned:
                self._finish(job)
                continue
            if len(self.running) >= SEQUENCES:
                return None
            if job.split is None:
                try:
                    job.split = self.model.split(job.messages)
                except ModelError as e:
                    self._fail(job, e)
                    continue
            head, tail = job.split
            need = len(tail) + job.max_new
            if not tail:  # the chat template always adds the assistant's turn; a prompt with none is not one
                self._fail(job, ModelError("the prompt rendered to no tokens after its head"))
                continue
            if not self.running:
                if len(head) + need > self.model.n_ctx:
                    self._fail(
                        job, ModelError(f"prompt of {len(head) + len(tail)} tokens is too long for {self.model.n_ctx}")
                    )
                    continue
                return job
            if head != self.head or len(head) + sum(j.cells for j in self.running) + need > self.model.n_ctx:
                return None  # after the running ones
            return job
        return None

    def _start(self, job: Job) -> None:
        """Give the job a sequence holding its head; its tail is fed from the next slots (_step)."""
        lib, mem = self.lib, self.model.llm._ctx.memory
        assert job.split is not None
        head, tail = job.split
        if not self.running:
            self.model.load_head(head)  # sequence 0 holds this head alone now (a no-op when it already does)
            self.head = head
        self.waiting.remove(job)
        seq = min(set(range(SEQUENCES)) - {j.seq for j in self.running})
        if seq:
            lib.llama_memory_seq_rm(mem, seq, -1, -1)
            lib.llama_memory_seq_cp(mem, 0, seq, 0, len(head))
        else:
            lib.llama_memory_seq_rm(mem, 0, len(head), -1)
        job.state, job.seq, job.cells = "running", seq, len(tail) + job.max_new
        job.todo, job.pos = deque(tail), len(head)
        if any(self.model.drafts):  # the head's index is made once: ~1.5 ms of each reason's first token otherwise
            if self.head_lookup is None or self.head_lookup[0] != head:
                self.head_lookup = (head, Lookup(head))
            job.lookup = self.head_lookup[1].copy()
            job.lookup.extend(tail)
        self.running.append(job)

    def _put(self, n: int, token: int, job: Job, logits: bool) -> None:
        """Slot n of the raw batch: the job's next position."""
        raw = self.raw
        raw.token[n], raw.pos[n], raw.n_seq_id[n], raw.logits[n] = token, job.pos, 1, logits
        raw.seq_id[n][0] = job.seq
        job.pos += 1

    def _draft(self, job: Job, running: int) -> list[int]:
        """The job's guesses for this step: as many as drafts allows, and none past its last allowed token."""
        drafts = self.model.drafts
        if job.lookup is None or running > len(drafts):
            return []
        return job.lookup.draft(min(drafts[running - 1], job.max_new - len(job.made) - 1))

    def _step(self) -> None:
        """One llama_decode: every running prompt's last token and its drafts, then as much of a new prompt's
        tail as fits (at most one prompt is being read at a time; a waiting one starts when none is)."""
        for job in [j for j in self.running if j.abandoned]:
            self._finish(job)
        outputs: list[tuple[Job, list[int], list[int]]] = []  # (job, slots whose logits give tokens, drafts)
        n = 0
        fed = [j for j in self.running if j.feed is not None]
        for job in fed:
            draft = self._draft(job, len(fed))
            slots = list(range(n, n + 1 + len(draft)))
            for slot, t in zip(slots, (job.feed, *draft), strict=True):
                self._put(slot, t, job, True)
            job.feed = None
            outputs.append((job, slots, draft))
            n += len(slots)
        if not any(j.todo for j in self.running):
            job = self._startable()
            if job is not None:
                try:
                    self._start(job)
                except ModelError as e:  # its head could not be computed: this prompt fails, not the others
                    self._fail(job, e)
        for job in self.running:
            if job.todo:
                while job.todo and n < BATCH_TOKENS:
                    self._put(n, job.todo.popleft(), job, not job.todo)
                    n += 1
                if not job.todo:
                    outputs.append((job, [n - 1], []))
        if n == 0:
            return
        self.raw.n_tokens = n
        t0, cpu0 = time.perf_counter(), time.thread_time()  # this thread is one of ggml's workers (threads.py)
        code = self.lib.llama_decode(self.model.llm._ctx.ctx, self.raw)
        self.model.stepped(time.perf_counter() - t0, time.thread_time() - cpu0)
        self.steps += 1
        if code != 0:
            error = ModelError(f"llama.cpp failed while decoding (llama_decode returned {code})")
            for job in list(self.running):
                self._fail(job, error)
            self.model.load_head(())  # the next prompt starts from an empty cache
            self.head = None
            return
        for job, slots, draft in outputs:
            self._check(job, slots, draft)

    def _check(self, job: Job, slots: list[int], draft: list[int]) -> None:
        """Take the job's tokens from its slots: the first, then one more for each draft token that was the
        model's own choice; the KV cells of the drafts after the first wrong one are dropped."""
        first = job.pos - len(slots)  # the position of the token in slots[0]
        for j, slot in enumerate(slots):
            token = self.model.argmax(slot)
            self._took(job, token)
            if job.state != "running" or j == len(draft) or token != draft[j]:
                break
        if job.state == "running" and j < len(draft):
            job.pos = first + j + 1  # the next token fed goes where the first wrong draft was
            self.lib.llama_memory_seq_rm(self.model.llm._ctx.memory, job.seq, job.pos, -1)

    def _took(self, job: Job, token: int) -> None:
        """The job's next token: queue the text it adds, and stop it at the end token, a stop string or the cap."""
        scanner = job.scanner
        if not self.model.is_end(token):
            job.made.append(token)
            if job.lookup is not None:
                job.lookup.append(token)
            text = self.model.llm.detokenize(job.made).decode("utf-8", errors="replace")
            piece = scanner.feed(text)
            if piece:
                job.pending.append(piece)
            if not scanner.stopped and len(job.made) < job.max_new:
                job.feed = token  # no forward pass for a token nobody will read
                return
        rest = scanner.flush()
        if rest:
            job.pending.append(rest)
        self._finish(job)

    def _fail(self, job: Job, error: ModelError) -> None:
        job.error = error
        self._finish(job)

    def _finish(self, job: Job) -> None:
        """The job is done: out of the queue, and its sequence's cells are free for the next prompt."""
        if job.state == "running":
            self.running.remove(job)
            if self.head is not None:
                mem = self.model.llm._ctx.memory
                self.lib.llama_memory_seq_rm(mem, job.seq, len(self.head) if job.seq == 0 else -1, -1)
        elif job.state == "waiting":
            self.waiting.remove(job)
        job.state, job.feed, job.lookup, job.seq = "done", None, None, -1
        job.todo.clear()


class Stream(Iterator[str]):
    """One prompt's pieces from a Batch; close() (or the end) frees its sequence, even before it was read."""

    def __init__(self, batch: Batch, job: Job) -> None:
        self.batch, self.job = batch, job
        weakref.finalize(self, job.abandon)

    def __next__(self) -> str:
        return self.batch.next_piece(self.job)

    def close(self) -> None:
        self.batch.drop(self.job)
