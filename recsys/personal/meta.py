"""MAML meta-training of the per-user head on rating data mapped to the catalog.

    data = task_data(mapped_ratings, catalog, index.vectors)      # recsys.personal.tasks
    split = split_users(data, seed=0, eval_fraction=0.2, min_ratings=20)
    head = meta_train(data, split.train, MetaConfig(), out=Path("data/head/head.pt"))  # first-order, collaborative

Each episode is one user: k ~ U{0..10} of their ratings are the support set, up to 40 others the query set. The
decision layers take a few gradient steps on the support set (create_graph for second-order MAML, plain
gradients for first-order); the query loss (ratings, plus the multi-task loss on the user's mean rating of each
genre and person in the query set, predicted from tag prototypes) updates the body, the initial decision
weights and the inner learning rates. `accelerate` places the work on a GPU when there is one. With
`collab_factors`, a matrix factorisation of the training users' ratings (recsys.personal.mf) gives every rated film a
collaborative vector beside its text; the table is saved in the checkpoint. An outer step whose loss or gradient is
not finite (an inner loop that diverged on one user) is skipped and counted; many of them stop the run.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np
import torch

from ..core.errors import RecsysError
from .head import Head, HeadConfig, save_head
from .mf import FACTORS, MatrixFactors
from .tasks import TaskData

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MetaConfig:
    """Everything that decides a meta-training run; dumped as JSON beside the checkpoint."""

    seed: int = 0  # fixes the user split, the episodes and the initial weights
    # first-order MAML (no create_graph) by default: on validation users it adapts better than second-order at every
    # k, and it is what the app serves (data/head/README.md); True = second-order
    second_order: bool = False
    iterations: int = 1500  # outer steps; ~2-4 min on 2 CPU cores for ML-100K
    tasks: int = 32  # users per outer step
    outer_lr: float = 2e-3  # Adam on body, initial decision weights and inner learning rates
    weight_decay: float = 0.1  # decoupled (AdamW); strong: with 1e-4 the head memorised training users' tastes
    max_support: int = 10  # the largest support set evaluated (k = 10)
    query: int = 40  # query ratings per episode
    min_ratings: int = 20  # users with fewer mapped ratings are skipped (ML-100K guarantees 20 before mapping)
    eval_fraction: float = 0.2  # held-out users, never seen in training
    # which block of the seeded user order is held out: 0 is the shipped split; 1..folds-1 are the other folds of
    # cross-validation (`eval coldstart --folds`), so every user can be held out once
    fold: int = 0
    request_prob: float = 0.5  # episodes with a simulated request (one of the user's films), as in serving
    tag_weight: float = 0.3  # multi-task: taste-profile loss relative to the rating loss
    rank_weight: float = 1.0  # pairwise loss on query items: MSE alone rewards fitting the user's mean, not order
    # how its pairs weigh: "all" equally (RankNet, the recipe before 2026-11-26); "lambda" by how much swapping them
    # would change the user's DCG at the current predicted ranks (LambdaRank: the top of the list counts most, as
    # in nDCG@10; more gain from a few votes on validation users, data/head/README.md)
    rank_pairs: str = "lambda"
    min_tag_items: int = 2  # a tag's target needs this many of the user's query films
    checkpoint_every: int = 250  # resume state is written this often
    hidden: int = HeadConfig.hidden
    decision: int = HeadConfig.decision
    inner_steps: int = HeadConfig.inner_steps
    inner_lr: float = HeadConfig.inner_lr
    taste: int = HeadConfig.taste
    adapt: str = HeadConfig.adapt
    context: int = HeadConfig.context
    lr_per_weight: bool = HeadConfig.lr_per_weight
    inner_centered: float = HeadConfig.inner_centered
    inner_rank: float = HeadConfig.inner_rank
    inner_mse: float = HeadConfig.inner_mse
    dropout: float = 0.5  # on the item representation, in training mode only (load_head returns eval mode)
    raw_user: bool = HeadConfig.raw_user
    ridge: float = HeadConfig.ridge
    # Matrix factors of the training users' ratings appended to each film's text vector (0 = text only): the
    # held-out evaluation's adaptation gains come from these (data/head/README.md, "Collaborative item vectors")
    collab_factors: int = FACTORS
    # share of films whose collaborative vector is zeroed in each episode (as DropoutNet does for cold items): most
    # catalog films have no ratings, and the head must still rank them from text instead of reading zeros as "average"
    collab_dropout: float = 0.5

    def head_config(self, dim: int) -> HeadConfig:
        """The head's shape for item vectors of size dim."""
        return HeadConfig(
            dim=dim,
            hidden=self.hidden,
            decision=self.decision,
            inner_steps=self.inner_steps,
            inner_lr=self.inner_lr,
            taste=self.taste,
            adapt=self.adapt,
            context=self.context,
            lr_per_weight=self.lr_per_weight,
            inner_centered=self.inner_centered,
            inner_rank=self.inner_rank,
            inner_mse=self.inner_mse,
            dropout=self.dropout,
            raw_user=self.raw_user,
            ridge=self.ridge,
            collab=self.collab_factors + 1 if self.collab_factors else 0,
        )  # factors + bias

    @classmethod
    def from_dict(cls, data: dict) -> MetaConfig:
        """Inverse of asdict; unknown keys are ignored."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    @classmethod
    def saved(cls, data: dict) -> MetaConfig:
        """The config saved beside a checkpoint. One saved before rank_pairs existed weighed all pairs alike, so
        that is what it means (eval coldstart --folds and train-meta --config retrain by a head's own recipe)."""
        return cls.from_dict({"rank_pairs": "all", **data} if data else data)


# --- episodes -------------------------------------------------------------------------------------------------------
@dataclass
class Batch:
    """One outer step's tasks as padded tensors."""

    support: tuple[torch.Tensor, ...]  # vectors (B, S, d), extras (B, S, 4), ratings (B, S), mask (B, S)
    query: tuple[torch.Tensor, ...]  # same with Q
    request: torch.Tensor  # (B, d), zero rows = no request
    tags: tuple[torch.Tensor, torch.Tensor]  # targets (B, T), mask (B, T)


def make_batch(
    data: TaskData,
    users: Sequence[str],
    config: MetaConfig,
    rng: np.random.Generator,
    device: torch.device | str = "cpu",
) -> Batch:
    """Sample one episode per user: k ~ U{0..max_support} support ratings, up to `query` others as query."""
    B, S, Q, d = len(users), config.max_support, config.query, data.vectors.shape[1]
    s_rows, s_y, s_m = np.zeros((B, S), np.int64), np.zeros((B, S), np.float32), np.zeros((B, S), np.float32)
    q_rows, q_y, q_m = np.zeros((B, Q), np.int64), np.zeros((B, Q), np.float32), np.zeros((B, Q), np.float32)
    request = np.zeros((B, d), np.float32)
    for b, user in enumerate(users):
        rows, ratings = data.users[user]
        perm = rng.permutation(len(rows))
        k = int(rng.integers(0, min(S, len(rows) - 1) + 1))
        sup, qry = perm[:k], perm[k : k + Q]
        s_rows[b, :k], s_y[b, :k], s_m[b, :k] = rows[sup], ratings[sup], 1.0
        q_rows[b, : len(qry)], q_y[b, : len(qry)], q_m[b, : len(qry)] = rows[qry], ratings[qry], 1.0
        if rng.random() < config.request_prob:  # a request near one of the person's films, as a chat would be
            request[b] = data.vectors[rows[perm[int(rng.integers(len(perm)))]]]
    counts = np.einsum("bq,bqt->bt", q_m, data.tag_matrix[q_rows])  # (B, T) query films per tag
    sums = np.einsum("bq,bqt->bt", q_m * q_y, data.tag_matrix[q_rows])
    t_mask = (counts >= config.min_tag_items).astype(np.float32)
    t_y = np.where(t_mask > 0, sums / np.maximum(counts, 1.0), 0.0).astype(np.float32)

    def side(rows: np.ndarray, y: np.ndarray, m: np.ndarray) -> tuple[torch.Tensor, ...]:
        """One side of the episodes (support or query) as tensors: vectors, extras, ratings, mask."""
        vecs = data.vectors[rows]  # (B, n, d)
        sim = np.einsum("bnd,bd->bn", vecs, request)[..., None]  # (B, n, 1) cosine to the request
        extras = np.concatenate([data.features[rows], sim], axis=-1)
        if data.collab.shape[-1]:  # who likes each film rides along (unless dropped); the request stays text
            kept = rng.random(rows.shape)[..., None] >= config.collab_dropout
            vecs = np.concatenate([vecs, data.collab[rows] * kept], axis=-1)
        return tuple(torch.as_tensor(a, device=device) for a in (vecs, extras, y, m))

    return Batch(
        side(s_rows, s_y, s_m),
        side(q_rows, q_y, q_m),
        torch.as_tensor(request, device=device),
        (torch.as_tensor(t_y, device=device), torch.as_tensor(t_mask, device=device)),
    )


def episode_loss(
    head: Head, batch: Batch, tag_vectors: torch.Tensor, tag_extras: torch.Tensor, config: MetaConfig
) -> tuple[torch.Tensor, dict[str, float]]:
    """Query loss after adapting on the support set, plus the taste-profile loss; and its parts for logging."""
    sv, sx, sy, sm = batch.support
    qv, qx, qy, qm = batch.query
    B = sv.shape[0]
    hidden_s = head.body(sv, sx, batch.request)  # (B, S, h)
    if not config.second_order:
        hidden_s = hidden_s.detach()  # first-order: no gradient through the inner loop
    start = {k: p.unsqueeze(0).expand(B, *p.shape) for k, p in head.init_params().items()}  # (B, ...)
    fast = head.adapt_hidden(start, hidden_s, sy, sm, second_order=config.second_order)
    pred = head.decide(fast, head.body(qv, qx, batch.request))  # (B, Q)
    rating_loss = (((pred - qy) ** 2 * qm).sum(-1) / qm.sum(-1).clamp(min=1.0)).mean()
    t_y, t_m = batch.tags
    zero = torch.zeros(tag_vectors.shape[-1], device=tag_vectors.device)
    tag_hidden = head.body(tag_vectors, tag_extras, zero)  # (T, h): prototypes, no request
    tag_pred = head.decide(fast, tag_hidden.unsqueeze(0).expand(B, *tag_hidden.shape))  # (B, T)
    tag_loss = (((tag_pred - t_y) ** 2 * t_m).sum(-1) / t_m.sum(-1).clamp(min=1.0)).mean()
    # pairs (i, j) of one user's query items with y_i > y_j: -log sigmoid(pred_i - pred_j), as in BPR / RankNet
    better = ((qy.unsqueeze(-1) > qy.unsqueeze(-2)) & (qm.unsqueeze(-1) > 0) & (qm.unsqueeze(-2) > 0)).float()
    better = better * pair_weights(pred.detach(), qy, qm, config.rank_pairs)
    margin = pred.unsqueeze(-1) - pred.unsqueeze(-2)  # (B, Q, Q)
    rank_loss = (torch.nn.functional.softplus(-margin) * better).sum() / better.sum().clamp(min=1.0)
    loss = rating_loss + config.tag_weight * tag_loss + config.rank_weight * rank_loss
    return loss, {
        "rating_mse": float(rating_loss.detach()),
        "tag_mse": float(tag_loss.detach()),
        "rank": float(rank_loss.detach()),
    }


def pair_weights(pred: torch.Tensor, y: torch.Tensor, mask: torch.Tensor, kind: str) -> torch.Tensor | float:
    """(B, Q, Q) weight of each query pair in the ranking loss (see MetaConfig.rank_pairs); 1.0 for "all"."""
    if kind == "all":
        return 1.0
    if kind != "lambda":
        raise RecsysError(f"unknown rank_pairs {kind!r}: all or lambda")
    gap = (y.unsqueeze(-1) - y.unsqueeze(-2)).abs()
    ranks = torch.argsort(torch.argsort(torch.where(mask > 0, -pred, torch.inf), dim=-1), dim=-1)  # 0 = top
    discount = 1.0 / torch.log2(ranks.to(pred.dtype) + 2.0)
    ideal = (
        torch.sort(y * mask, dim=-1, descending=True).values
        / torch.log2(torch.arange(y.shape[-1], device=y.device, dtype=pred.dtype) + 2.0)
    ).sum(-1)
    return gap * (discount.unsqueeze(-1) - discount.unsqueeze(-2)).abs() / ideal.clamp(min=1e-9)[:, None, None]


# --- the training loop ----------------------------------------------------------------------------------------------
def meta_train(
    data: TaskData,
    train_users: Sequence[str],
    config: MetaConfig,
    out: Path,
    resume: bool = False,
    progress: bool = True,
    extra_meta: dict | None = None,
) -> Head:
    """Meta-train a head on the training users, write it to `out` (+ `out`.json config) and return it."""
    from accelerate import Accelerator
    from tqdm.auto import tqdm

    if not train_users:
        raise RecsysError("no training users")
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed + 1)
    head = Head(config.head_config(data.vectors.shape[1]))
    if config.collab_factors:
        data = _with_collab(data, train_users, config, head)
    optimizer = torch.optim.AdamW(head.parameters(), lr=config.outer_lr, weight_decay=config.weight_decay)
    out.parent.mkdir(parents=True, exist_ok=True)  # the resume state is written there long before the checkpoint
    state_path = out.with_name(f".{out.stem}-resume.pt")
    start, history, skipped = _resume(state_path, config, head, optimizer, rng) if resume else (0, [], 0)
    head, optimizer = accelerator.prepare(head, optimizer)
    model = accelerator.unwrap_model(head)
    device = accelerator.device
    tag_vectors = torch.as_tensor(model.text_only(data.tag_vectors), device=device)
    tag_extras = torch.as_tensor(data.tag_extras, device=device)
    users = list(train_users)
    t0 = time.perf_counter()
    bar = tqdm(
        range(start, config.iterations), desc="meta-train", disable=not progress, initial=start, total=config.iterations
    )
    for it in bar:
        chosen = [users[i] for i in rng.choice(len(users), size=min(config.tasks, len(users)), replace=False)]
        batch = make_batch(data, chosen, config, rng, device)
        loss, parts = episode_loss(model, batch, tag_vectors, tag_extras, config)
        optimizer.zero_grad()
        finite = bool(torch.isfinite(loss))
        if finite:
            accelerator.backward(loss)
            finite = bool(torch.isfinite(accelerator.clip_grad_norm_(head.parameters(), 5.0)))
        if finite:
            optimizer.step()
            history.append(parts["rating_mse"])
        else:  # an inner loop diverged on some user's support set: no update from this batch
            skipped = _skip_step(skipped, it, config)
        if it % 25 == 0 and history:
            bar.set_postfix(mse=f"{np.mean(history[-100:]):.3f}", tag=f"{parts['tag_mse']:.3f}")
        if (it + 1) % config.checkpoint_every == 0 and it + 1 < config.iterations:
            _save_resume(state_path, model, optimizer, it + 1, rng, history, skipped, config)
    seconds = time.perf_counter() - t0
    model = model.cpu().eval()
    meta = {
        "config": asdict(config),
        "train_seconds": round(seconds, 1),
        "device": str(device),
        "iterations": config.iterations,
        "skipped_steps": skipped,
        "final_query_mse": round(float(np.mean(history[-100:])), 4),
        "fingerprint": data.fingerprint,
        "train_users": len(users),
        "items": len(data.item_ids),
        **(extra_meta or {}),
    }
    _write(model, out, meta)
    state_path.unlink(missing_ok=True)
    log.info("meta-trained in %.0f s (%s); query MSE %.3f; wrote %s", seconds, device, meta["final_query_mse"], out)
    return model


def _with_collab(data: TaskData, train_users: Sequence[str], config: MetaConfig, head: Head) -> TaskData:
    """The task data with collaborative item vectors, also set on the head (which keeps only films that have one).
    Factored from the training users only: held-out people's ratings never shape them."""
    table = MatrixFactors.of_users(
        data.users, list(train_users), len(data.item_ids), config.seed, config.collab_factors
    ).item_vectors()
    rated = np.flatnonzero(np.any(table != 0, axis=1))  # the checkpoint keeps only films with a vector
    head.set_collab([data.item_ids[r] for r in rated], table[rated])
    return replace(data, collab=table)


def _save_resume(
    state_path: Path,
    model: Head,
    optimizer: torch.optim.Optimizer,
    iteration: int,
    rng: np.random.Generator,
    history: list[float],
    skipped: int,
    config: MetaConfig,
) -> None:
    """Everything `_resume` needs to go on from `iteration` after an interruption."""
    torch.save(
        {
            "head": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "iteration": iteration,
            "rng": rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
            "history": history,
            "skipped": skipped,
            "config": asdict(config),
        },
        state_path,
    )


def _resume(
    state_path: Path, config: MetaConfig, head: Head, optimizer: torch.optim.Optimizer, rng: np.random.Generator
) -> tuple[int, list[float], int]:
    """Load an interrupted run's state into head, optimizer and generators; (next iteration, history, skipped)."""
    if not state_path.is_file():
        raise RecsysError(f"--resume: no saved training state at {state_path}")
    state = torch.load(state_path, map_location="cpu", weights_only=False)  # our own file, written by meta_train
    if state["config"] != asdict(config):
        raise RecsysError(f"--resume: {state_path} was written with a different config; drop --resume")
    head.load_state_dict(state["head"])
    optimizer.load_state_dict(state["optimizer"])
    rng.bit_generator.state = state["rng"]
    torch.set_rng_state(state["torch_rng"])
    log.info("resuming at iteration %d of %d", state["iteration"], config.iterations)
    return state["iteration"], state["history"], state.get("skipped", 0)


def _write(model: Head, out: Path, meta: dict) -> None:
    """The checkpoint and its JSON beside it; nothing at all when training diverged."""
    if not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
        raise RecsysError(
            f"meta-training diverged (non-finite weights); nothing written to {out}. "
            "Try a smaller inner_lr or outer_lr in --config, or another --seed"
        )
    save_head(model, out, meta)
    out.with_suffix(".json").write_text(json.dumps(meta, indent=1) + "\n")


def _skip_step(skipped: int, iteration: int, config: MetaConfig) -> int:
    """Count a skipped outer step (non-finite loss or gradient); give up when they stop being rare."""
    skipped += 1
    log.warning("iteration %d: non-finite loss or gradient (an inner loop diverged); step skipped", iteration)
    if skipped > max(10, config.iterations // 20):
        raise RecsysError(
            f"meta-training is unstable: {skipped} of {iteration + 1} outer steps had a non-finite "
            "loss or gradient. Try a smaller inner_lr or outer_lr in --config, or another --seed"
        )
    return skipped
