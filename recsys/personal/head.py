"""The per-user scoring head (MeLU-style): a meta-learned item body plus small decision layers adapted per person.

    head, meta = load_head(Path("data/head/head.pt"))           # meta-learned initialisation
    rows = head.item_vectors(item_ids, vectors)                  # (C, d + collab) MiniLM + who likes each film
    x = head_inputs(item_features(items), vectors, query)        # (C, 4) year, popularity, quality, similarity
    fast = head.adapt(head.init_params(), rows[s], x[s], query, ratings)  # a few gradient steps, ~2 ms on CPU
    predicted = head.score(fast, rows, x, query)                 # (C,) predicted ratings on the 1..5 scale

Item vectors are the frozen MiniLM rows of the ItemIndex (so every catalog item can be scored, rated or not) plus,
with `collab`, a collaborative vector: the film's matrix factors and bias from the training users' ratings, kept in
the checkpoint by item id (`item_vectors`; zeros for a film nobody rated). `item_features` (personal/inputs.py)
adds year, popularity and a critics' quality prior; the request adds its embedding and the retrieval similarity.
Only the decision layers (`DECISION`) change per person; the body, the per-layer inner learning rates and the
initial decision weights are what meta-training learns (`HeadConfig` also offers Meta-SGD step sizes, CAVIA-style
context adaptation, a closed-form ridge step and centred / pairwise inner losses). The same network scores "tag
prototypes" (the mean vector of a genre's or a person's films, personal/inputs.py), which is how it predicts taste
profiles.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..core.errors import ModelError
from ..core.paths import HEAD_CHECKPOINT
from .inputs import N_EXTRA

log = logging.getLogger(__name__)

DEFAULT_CHECKPOINT = HEAD_CHECKPOINT  # shipped meta-init
# Adapted per person, as in MeLU's decision layers, plus a linear "user" layer: a preference direction in the
# item representation, so a few votes can move films like the voted ones (not only the person's mean rating).
DECISION = ("fc.weight", "fc.bias", "out.weight", "out.bias", "user")
RATING_MID = 3.0  # the output is a rating; its bias starts at the middle of the 1..5 scale
LIKE_RATING, DISLIKE_RATING = 5.0, 1.0  # a 👍 / 👎 is a strong, explicit signal: the ends of the scale


@dataclass(frozen=True)
class HeadConfig:
    """Shape and adaptation of the head; saved inside every checkpoint."""

    dim: int = 384  # MiniLM item/query vectors
    hidden: int = 64  # item representation: enough for genre, era and tone; ~44k parameters in all
    decision: int = 32  # adapted layer width: ~2k adapted parameters keep adaptation well under 20 ms
    taste: int = 32  # content-only projection the person's preference direction lives in (no popularity, no quality)
    inner_steps: int = 5  # gradient steps per adaptation (MeLU uses 1-5)
    inner_lr: float = 0.3  # initial inner learning rate; meta-training learns one per decision tensor
    # What adapts per person: "weights" = the decision layers and the preference vector (MeLU, the default);
    # "context" = only a per-person context vector fed into the decision layers and preference direction, plus the
    # rating offset (CAVIA), everything else meta-learned; "bias" = the rating offset only (with raw_user: plus a
    # preference vector in the frozen MiniLM space); "preference" = the preference vector and the rating offset.
    # data/head/README.md compares them.
    adapt: str = "weights"
    context: int = 0  # size of the CAVIA context vector (adapt="context")
    lr_per_weight: bool = False  # Meta-SGD: one learned inner learning rate per adapted number, not per tensor
    inner_centered: float = 0.0  # inner loss: weight of the MSE of support-centred predictions vs centred ratings
    inner_rank: float = 0.0  # inner loss: weight of a pairwise (RankNet) loss over the support pairs
    inner_mse: float = 1.0  # inner loss: weight of the plain rating MSE
    dropout: float = 0.0  # on the item representation while meta-training: against memorising training users
    raw_user: bool = False  # also adapt a preference vector in the frozen MiniLM space itself (nothing to memorise)
    # Width of the collaborative item vector appended to the MiniLM row (0 = none): the item's factors and bias from
    # matrix factorisation of the training users' ratings (recsys.personal.mf), zeros for films nobody rated. Text says
    # what a film is about; these say who tends to like it, and that is the direction a new person's ratings can move.
    collab: int = 0
    # > 0: the preference vector and the rating offset are solved in closed form (ridge regression of the support
    # residuals on the taste features, penalty starting at this value and meta-learned, as R2-D2 does for few-shot
    # classifiers) before the gradient steps, which then leave the preference vector alone. Ridge shrinks a direction
    # the few votes barely show, where a fixed gradient step moves it as far as a well-shown one.
    ridge: float = 0.0


class Head(nn.Module):
    """Body (global) -> decision layers (adapted) -> predicted rating."""

    def __init__(self, config: HeadConfig = HeadConfig()) -> None:
        """Randomly initialised layers of the config's shape."""
        super().__init__()
        self.config = config
        self.item = nn.Linear(config.dim, config.hidden)  # shared by items and the request
        self.request = nn.Linear(config.hidden, config.hidden, bias=False)  # how the request shifts an item
        self.extra = nn.Linear(N_EXTRA, config.hidden, bias=False)
        self.fc = nn.Linear(config.hidden, config.decision)
        self.out = nn.Linear(config.decision, 1)
        nn.init.constant_(self.out.bias, RATING_MID)
        self.content = nn.Linear(config.dim, config.taste)  # what a film is about, for the preference direction
        if config.collab:  # who likes the film: into the mixed representation and the preference direction
            self.collab_item = nn.Linear(config.collab, config.hidden, bias=False)
            self.collab_taste = nn.Linear(config.collab, config.taste, bias=False)
        self.collab_ids: dict[str, int] = {}  # item id -> row of collab_table (a catalog's films that had ratings)
        self.collab_table = np.zeros((0, config.collab), dtype=np.float32)
        self.user = nn.Parameter(torch.zeros(config.taste))  # meta-learned start of the preference direction
        if config.raw_user:
            self.raw = nn.Parameter(torch.zeros(config.dim))  # starts at zero: no taste in MiniLM space yet
        if config.adapt == "context":
            if config.context <= 0:
                raise ValueError("adapt='context' needs context > 0")
            self.ctx = nn.Parameter(torch.zeros(config.context))  # CAVIA: starts at zero for everyone
            self.ctx_fc = nn.Linear(config.context, config.decision, bias=False)  # context -> decision layer
            self.ctx_user = nn.Linear(config.context, config.taste, bias=False)  # context -> preference direction
            self.adapted: tuple[str, ...] = ("ctx", "out.bias")
        elif config.adapt == "weights":
            self.adapted = DECISION
        elif config.adapt == "preference":  # the preference vector and the rating offset: a linear fold-in
            self.adapted = ("out.bias", "user")
        elif config.adapt == "bias":  # only the rating offset (with raw_user: and the MiniLM-space preference)
            self.adapted = ("out.bias",)
        else:
            raise ValueError(f"unknown adapt mode {config.adapt!r}")
        if config.raw_user:
            self.adapted = (*self.adapted, "raw")
        if config.ridge:
            if "user" not in self.adapted:
                raise ValueError("ridge solves the preference vector: it needs adapt='weights' or 'preference'")
            self.log_ridge = nn.Parameter(torch.tensor([float(np.log(config.ridge)), 0.0]))  # direction, offset
        log_lr = float(np.log(config.inner_lr))
        if config.lr_per_weight:  # Meta-SGD: a learned inner step size for every adapted number
            shapes = dict(self.named_parameters())
            self.log_lrs = nn.ParameterDict(
                {k.replace(".", "_"): nn.Parameter(torch.full_like(shapes[k], log_lr)) for k in self.adapted}
            )
        else:  # one per adapted tensor
            self.log_lr = nn.Parameter(torch.full((len(self.adapted),), log_lr))

    # --- the network ------------------------------------------------------------------------------------------
    def body(self, vectors: torch.Tensor, extras: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
        """(..., C, d + collab), (..., C, 4), (..., d) -> (..., C, hidden + taste): the item representation, never
        adapted (`item_vectors` makes the input rows; the request is text only).

        The first `hidden` columns mix content, request and priors (for the decision layers); the last `taste`
        columns are content (and who likes the film) only, so a vote teaches "films like this one", not "films
        this popular".
        """
        d = self.config.dim
        vectors, collab = vectors[..., :d], vectors[..., d:]
        query = query[..., :d]
        item = self.item(vectors)  # (..., C, h)
        taste = self.content(vectors)
        if self.config.collab:
            item, taste = item + self.collab_item(collab), taste + self.collab_taste(collab)
        has_query = (query.norm(dim=-1, keepdim=True) > 0).to(item.dtype)  # (..., 1): no request, no shift
        request = (self.request(self.item(query)) * has_query).unsqueeze(-2)  # (..., 1, h)
        mixed = torch.nn.functional.gelu(item + request + self.extra(extras))
        out = torch.cat([mixed, torch.tanh(taste)], dim=-1)
        if self.training and self.config.dropout:
            out = torch.nn.functional.dropout(out, self.config.dropout)
        if self.config.raw_user:  # the raw item vector rides along for the raw preference vector
            out = torch.cat([out, vectors.expand(*out.shape[:-1], vectors.shape[-1])], dim=-1)
        return out

    def decide(self, params: dict[str, torch.Tensor], hidden: torch.Tensor) -> torch.Tensor:
        """(..., C, hidden + taste) -> (..., C) predicted ratings; params may carry a task dimension (B, ...)."""
        h, t = self.config.hidden, self.config.taste
        mixed, content, raw = hidden[..., :h], hidden[..., h : h + t], hidden[..., h + t :]
        own = dict(self.named_parameters())
        p = {k: params[k] if k in params else own[k] for k in DECISION}  # adapted ones from params, the rest global
        fc_bias, user = p["fc.bias"], p["user"]
        if self.config.adapt == "context":  # the person's context shifts the decision layer and preference direction
            ctx = params.get("ctx", self.ctx)  # (..., c)
            fc_bias = fc_bias + ctx @ self.ctx_fc.weight.T
            user = user + ctx @ self.ctx_user.weight.T
        z = torch.relu(mixed @ p["fc.weight"].transpose(-1, -2) + fc_bias.unsqueeze(-2))  # (..., C, dec)
        linear = (content * user.unsqueeze(-2)).sum(-1)  # (..., C): the person's preference direction
        if self.config.raw_user:
            linear = linear + (raw * params.get("raw", self.raw).unsqueeze(-2)).sum(-1)
        return (z @ p["out.weight"].transpose(-1, -2)).squeeze(-1) + p["out.bias"] + linear

    def collab_rows(self, item_ids: Sequence[str]) -> np.ndarray:
        """(C, collab) the items' collaborative vectors; zeros for films the training users never rated."""
        out = np.zeros((len(item_ids), self.config.collab), dtype=np.float32)
        for row, item_id in enumerate(item_ids):
            known = self.collab_ids.get(item_id)
            if known is not None:
                out[row] = self.collab_table[known]
        return out

    def item_vectors(self, item_ids: Sequence[str], vectors: np.ndarray) -> np.ndarray:
        """(C, d + collab) the body's input rows: the items' MiniLM rows plus their collaborative vectors."""
        return with_collab(vectors, self.collab_rows(item_ids))

    def text_only(self, vectors: np.ndarray) -> np.ndarray:
        """Input rows for things with no ratings of their own (tag prototypes): zero collaborative part."""
        return with_collab(vectors, np.zeros((len(vectors), self.config.collab), dtype=np.float32))

    def set_collab(self, item_ids: Sequence[str], table: np.ndarray) -> None:
        """The collaborative vectors this head was trained with, by item id (saved inside its checkpoint)."""
        if table.shape != (len(item_ids), self.config.collab):
            raise ValueError(f"collab table {table.shape} does not fit {len(item_ids)} ids x {self.config.collab}")
        self.collab_ids = {item_id: row for row, item_id in enumerate(item_ids)}
        self.collab_table = np.asarray(table, dtype=np.float32)

    def forward(self, vectors: torch.Tensor, extras: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
        """Predicted ratings with the meta-learned initialisation (no adaptation)."""
        return self.decide(self.init_params(), self.body(vectors, extras, query))

    # --- adaptation -------------------------------------------------------------------------------------------
    def init_params(self) -> dict[str, torch.Tensor]:
        """The meta-learned decision weights, the starting point for every person."""
        named = dict(self.named_parameters())
        return {k: named[k] for k in self.adapted}

    def inner_loss(
        self,
        params: dict[str, torch.Tensor],
        hidden: torch.Tensor,
        ratings: torch.Tensor,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Support loss per task, summed over tasks (one task: its value): weighted rating MSE, MSE of the
        support-centred predictions against the centred ratings (order, not the person's scale), and RankNet."""
        c = self.config
        pred = self.decide(params, hidden)  # (..., S)
        if mask is None:
            mask = torch.ones_like(pred)
        n = mask.sum(-1).clamp(min=1.0)
        loss = c.inner_mse * (((pred - ratings) ** 2 * mask).sum(-1) / n)
        if c.inner_centered:
            centre = lambda v: v - ((v * mask).sum(-1, keepdim=True) / n.unsqueeze(-1))  # noqa: E731
            loss = loss + c.inner_centered * (((centre(pred) - centre(ratings)) ** 2 * mask).sum(-1) / n)
        if c.inner_rank:
            better = (
                (ratings.unsqueeze(-1) > ratings.unsqueeze(-2)).to(pred.dtype) * mask.unsqueeze(-1) * mask.unsqueeze(-2)
            )
            margin = pred.unsqueeze(-1) - pred.unsqueeze(-2)
            rank = (torch.nn.functional.softplus(-margin) * better).sum((-1, -2)) / better.sum((-1, -2)).clamp(min=1.0)
            loss = loss + c.inner_rank * rank
        return loss.sum()

    def inner_lrs(self) -> list[torch.Tensor]:
        """Inner learning rate of each adapted tensor (a scalar, or one per number with Meta-SGD)."""
        if self.config.lr_per_weight:
            return [self.log_lrs[k.replace(".", "_")].exp() for k in self.adapted]
        return list(self.log_lr.exp())

    def adapt_hidden(
        self,
        params: dict[str, torch.Tensor],
        hidden: torch.Tensor,
        ratings: torch.Tensor,
        mask: torch.Tensor | None = None,
        steps: int | None = None,
        second_order: bool = False,
    ) -> dict[str, torch.Tensor]:
        """Gradient steps on the decision weights from support representations; differentiable if second_order."""
        lrs = self.inner_lrs()
        if self.config.ridge:
            params = self.ridge_step(params, hidden, ratings, mask)
            lrs = [lr * 0.0 if k == "user" else lr for k, lr in zip(params, lrs)]  # solved: no gradient steps
        for _ in range(self.config.inner_steps if steps is None else steps):
            # first-order: the gradient is a constant, taken at detached copies (the outer graph stays whole)
            at = params if second_order else {k: p.detach().requires_grad_(True) for k, p in params.items()}
            loss = self.inner_loss(at, hidden, ratings, mask)
            grads = torch.autograd.grad(loss, list(at.values()), create_graph=second_order)
            params = {k: p - lr * g for (k, p), g, lr in zip(params.items(), grads, lrs)}
        return params

    def ridge_step(
        self,
        params: dict[str, torch.Tensor],
        hidden: torch.Tensor,
        ratings: torch.Tensor,
        mask: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Preference vector and rating offset moved by the ridge solution for the support residuals (per task).

        Differentiable in the penalties and the starting weights, whatever the MAML order: it is a linear solve.
        """
        h, t = self.config.hidden, self.config.taste
        residual = ratings - self.decide(params, hidden)  # (..., S)
        if mask is None:
            mask = torch.ones_like(residual)
        x = torch.cat([hidden[..., h : h + t], torch.ones_like(residual).unsqueeze(-1)], dim=-1) * mask.unsqueeze(-1)
        penalty = torch.cat([self.log_ridge[0].exp().expand(t), self.log_ridge[1:].exp()])  # (t + 1,)
        gram = x.transpose(-1, -2) @ x + torch.diag(penalty)  # (..., t + 1, t + 1)
        w = torch.linalg.solve(gram, (x.transpose(-1, -2) @ (residual * mask).unsqueeze(-1))).squeeze(-1)
        return {**params, "user": params["user"] + w[..., :t], "out.bias": params["out.bias"] + w[..., t:]}

    def adapt(
        self,
        params: dict[str, torch.Tensor],
        vectors: np.ndarray,
        extras: np.ndarray,
        query: np.ndarray,
        ratings: Sequence[float],
    ) -> dict[str, torch.Tensor]:
        """Decision weights adapted to a person's rated items; returns detached tensors (serving)."""
        if len(ratings) == 0:
            return {k: v.detach() for k, v in params.items()}
        with torch.enable_grad():
            hidden = self.body(*_tensors(vectors, extras, query)).detach()  # (S, h): the body is frozen here
            start = {k: v.detach().requires_grad_(True) for k, v in params.items()}
            target = torch.as_tensor(np.asarray(ratings, dtype=np.float32))
            fast = self.adapt_hidden(start, hidden, target)
        return {k: v.detach() for k, v in fast.items()}

    def score(
        self, params: dict[str, torch.Tensor], vectors: np.ndarray, extras: np.ndarray, query: np.ndarray
    ) -> np.ndarray:
        """(C,) predicted ratings of candidates under the given (adapted) decision weights."""
        return self.score_under([params], vectors, extras, query)[0]

    @torch.no_grad()
    def score_under(
        self, param_sets: Sequence[dict[str, torch.Tensor]], vectors: np.ndarray, extras: np.ndarray, query: np.ndarray
    ) -> list[np.ndarray]:
        """(C,) predicted ratings under each set of decision weights (a person's and the prior, say): the item
        representation does not depend on them, so it is computed once (it is most of the cost)."""
        if len(vectors) == 0:
            return [np.zeros(0, dtype=np.float32) for _ in param_sets]
        hidden = self.body(*_tensors(vectors, extras, query))
        return [self.decide(params, hidden).numpy().astype(np.float32) for params in param_sets]

    def sensitivity(self, params: dict[str, torch.Tensor], vectors: np.ndarray, extras: np.ndarray) -> np.ndarray:
        """(C,) norm of d(prediction)/d(decision weights) per item: how much one rating of it would teach."""
        with torch.no_grad():
            hidden = self.body(*_tensors(vectors, extras, np.zeros(vectors.shape[1], np.float32)))  # (C, h)
        fixed = {k: v.detach() for k, v in params.items()}

        def grad_norm(h: torch.Tensor) -> torch.Tensor:
            """Norm of the gradient of one item's prediction (hidden row h) over every decision weight."""
            grads = torch.func.grad(lambda p: self.decide(p, h.unsqueeze(0))[0])(fixed)
            return torch.sqrt(sum((g**2).sum() for g in grads.values()))

        with torch.enable_grad():
            return torch.func.vmap(grad_norm)(hidden).detach().numpy()


def with_collab(vectors: np.ndarray, collab: np.ndarray) -> np.ndarray:
    """(C, d + c) MiniLM rows with collaborative columns appended (c may be 0: then the rows unchanged)."""
    if collab.shape[1] == 0:
        return vectors
    return np.concatenate([np.asarray(vectors, dtype=np.float32), collab], axis=1)


def _tensors(vectors: np.ndarray, extras: np.ndarray, query: np.ndarray) -> tuple[torch.Tensor, ...]:
    """numpy inputs as float32 tensors."""
    # copies: the inputs may be read-only
    return tuple(torch.from_numpy(np.array(a, dtype=np.float32)) for a in (vectors, extras, query))


# --- checkpoints ----------------------------------------------------------------------------------------------------
def save_head(head: Head, path: Path, meta: dict | None = None) -> None:
    """Weights and config in one small torch file (float32 state dict; nothing pickled but tensors and JSON)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in head.state_dict().items()}
    blob = {"state": state, "config": json.dumps(asdict(head.config)), "meta": json.dumps(meta or {})}
    if head.config.collab:  # the ids as JSON, the table as a tensor: weights_only loading stays possible
        blob["collab_ids"] = json.dumps(list(head.collab_ids))
        blob["collab_table"] = torch.from_numpy(head.collab_table.copy())
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(blob, tmp)
    tmp.replace(path)


def load_head(path: Path | str) -> tuple[Head, dict]:
    """(head, meta) from a checkpoint written by save_head; ModelError if missing or not a head."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(
            f"head checkpoint not found: {path} (train one with `python -m recsys train-meta`, "
            "or set RECSYS_HEAD=none to rank without the personal head)"
        )
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        head = Head(HeadConfig(**json.loads(blob["config"])))
        head.load_state_dict(blob["state"])
        if head.config.collab:
            head.set_collab(json.loads(blob["collab_ids"]), blob["collab_table"].numpy())
    except Exception as e:  # truncated file, other format, shapes from another version
        raise ModelError(f"{path} is not a usable head checkpoint: {e}") from e
    head.eval()
    return head, json.loads(blob.get("meta") or "{}")
