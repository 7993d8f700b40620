"""Cold-start evaluation of the per-user head on held-out users, by number of support ratings.

    python -m recsys eval coldstart --data ~/.cache/recsys/cache/movielens/ml-100k --json cs.json --png cs.png

For each held-out user (the split saved beside the checkpoint when the data is the one it was trained on, else a
fresh seeded split) the ratings are put in an order once; the first k in {0, 1, 3, 5, 10} (--ks) are the support set
and everything after the largest k is scored, so every k is judged on the same items. The order (--support):

  random       the ratings shuffled once (seeded)
  informative  the films the app would ask a new person to rate first (Personalizer.onboarding under the served
               head's meta-learned initialisation: gradient norm x popularity, spread by MMR), chosen among the
               films this person rated; the rest follow in the seeded shuffle's order (ties too)

Metrics per user, then mean and 95% CI (normal approximation) over users: AUC of liked (rating >= 4) vs the rest,
nDCG@10 with the rating as gain, and MAE of predicted ratings. Two ways to a tighter CI on the same quantity:

  --draws R    each user's ratings are shuffled R times (draw 0 is the shuffle above); a user's metric is its mean
               over the draws, so which k films happened to come first weighs less (random support only)
  --folds N    cross-validation over users: the held-out block of the given heads plus N-1 other blocks of the
               seeded user order, each scored by heads trained without it by the same recipe (recsys.evaluation.folds)

Methods, all in one run (coldstart_methods.py; this module is the CLI, the comparisons, the table and the plot):

  popularity           ratings count among training users (rating = fitted line on log count + support offset)
  content_centroid     cosine to the mean vector of liked support films (popularity while none is liked)
  head_no_adaptation   the served head (--head), never adapted
  head_from_scratch    the same network, randomly initialised and trained on the support set only (Adam)
  maml_first_order     the first-order MAML checkpoint, adapted on the support set
  maml_second_order    the second-order MAML checkpoint, adapted on the support set
                       (one of these two is --head, the one the app serves; the other is its twin, --twin)
  mf_fold_in           reference, not a baseline: matrix factorisation of the training users' ratings
                       (recsys.personal.mf), the person folded in from their support ratings. It scores only films
                       others rated, so the app cannot serve it; it shows how far k ratings can move a ranking on
                       this data at all
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .coldstart_methods import (
    KS,
    LIKED,
    MAML,
    METHODS,
    METRICS,
    REFERENCES,
    AskFirst,
    Methods,
    evaluate,
    merge,
    summary,
)

log = logging.getLogger(__name__)

SUPPORTS = ("random", "informative")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """eval coldstart's own flags."""
    p.add_argument(
        "--data",
        required=True,
        help="ratings: ml-100k folder (parquet or u.data/u.item), ml-latest "
        "folder (ratings/movies/links.csv) or a user_id,item_id,rating CSV",
    )
    p.add_argument("--json", help="write every method's figures per k here")
    p.add_argument("--png", help="write the adaptation curves (metric vs k, one line per method) here")
    p.add_argument("--head", help="the served checkpoint (default data/head/head.pt)")
    p.add_argument(
        "--twin",
        help="the other MAML order's checkpoint (default beside --head: head-so.pt for a "
        "first-order head, head-fo.pt for a second-order one)",
    )
    p.add_argument("--max-users", type=int, help="evaluate at most this many held-out users per fold (default all)")
    p.add_argument("--seed", type=int, default=0, help="seed of the support/query shuffles (default 0)")
    p.add_argument(
        "--support",
        choices=SUPPORTS,
        default="random",
        help="support set: a random k of the person's ratings, or the k films the app would ask them "
        "to rate first (onboarding's evidence order) (default random)",
    )
    p.add_argument("--scratch-steps", type=int, default=50, help="Adam steps of the from-scratch head (default 50)")
    p.add_argument(
        "--draws",
        type=positive,
        default=1,
        help="support/query shuffles per user, metrics averaged per user (random support; default 1)",
    )
    p.add_argument(
        "--folds",
        type=positive,
        default=1,
        help="cross-validation: score this many held-out blocks of users, training heads for the blocks "
        "the given head was not held out from (~40 s each; kept under RECSYS_HOME) (default 1)",
    )
    p.add_argument(
        "--ks",
        type=support_sizes,
        default=KS,
        metavar="K,K,...",
        help="support sizes; the query set is everything after the largest (default 0,1,3,5,10; "
        "e.g. 0,10,20,40 shows how adaptation grows with more ratings)",
    )


def support_sizes(text: str) -> tuple[int, ...]:
    """--ks: distinct whole numbers >= 0, comma-separated (argparse turns ValueError into a usage error)."""
    try:
        ks = tuple(sorted({int(part) for part in text.split(",") if part.strip()}))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers like 0,1,3,5,10, got {text!r}") from None
    if not ks or ks[0] < 0 or ks[-1] > 200:
        raise argparse.ArgumentTypeError(f"support sizes must be between 0 and 200, got {text!r}")
    return ks


def positive(text: str) -> int:
    """--draws, --folds: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


# What the served MAML method must beat (the rest of METHODS are its twin and references, compared for information)
BASELINES = ("popularity", "content_centroid", "head_no_adaptation", "head_from_scratch")


def comparisons(per_user: dict, served: str = "maml_second_order") -> dict:
    """Does the served MAML method beat each baseline at each k (its CI's low end above the baseline's high end)?

    Also the paired difference (same users) with its CI, a tighter test of the same question. The other MAML
    order and the references are compared the same way, for information: they are not baselines.
    """
    out: dict = {}
    twin = tuple(m for m in MAML.values() if m != served)
    for k in per_user[served]:
        for metric in ("auc", "ndcg@10"):
            mine = np.array(per_user[served][k][metric])
            mine_s = summary(list(mine))
            for base in BASELINES + twin + REFERENCES:
                theirs = np.array(per_user[base][k][metric])
                base_s = summary(list(theirs))
                diff = summary(list(mine - theirs))
                beats = bool(mine_s["mean"] - mine_s["ci"] > base_s["mean"] + base_s["ci"])
                out.setdefault(str(k), {}).setdefault(base, {})[metric] = {
                    "beats_by_more_than_ci": beats,
                    "paired_diff": diff,
                }
    return out


def gains(per_user: dict) -> dict:
    """Each method against itself at k = 0 (paired, same users): what the support ratings add to that method."""
    out: dict = {}
    for method, by_k in per_user.items():
        if 0 not in by_k:
            continue
        for k in by_k:
            if k:
                out.setdefault(method, {})[str(k)] = {
                    metric: summary(list(np.array(by_k[k][metric]) - np.array(by_k[0][metric])))
                    for metric in ("auc", "ndcg@10")
                }
    return out


def plot(results: dict, path: Path, support: str = "random support", ks: tuple[int, ...] = KS) -> None:
    """Metric vs k, one line per method, with 95% CI error bars; the title names the support protocol."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(METRICS), figsize=(15, 4.2))
    for ax, metric in zip(axes, METRICS):
        for method in METHODS:
            means = [results[method][str(k)][metric]["mean"] for k in ks]
            cis = [results[method][str(k)][metric]["ci"] for k in ks]
            ax.errorbar(
                ks, means, yerr=cis, marker="o", capsize=3, label=method, linestyle=":" if method in REFERENCES else "-"
            )
        ax.set_xlabel("support ratings k")
        ax.set_title(metric + (" (lower is better)" if metric == "mae" else ""))
        ax.set_xticks(ks)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"cold start on held-out users, {support}")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


@dataclass
class Heads:
    """The served checkpoint and its twin of the other MAML order, by order ("fo"/"so"), with their recipes."""

    served: str  # the order the app serves
    other: str
    models: dict[str, Any]  # order -> Head
    paths: dict[str, str]  # order -> checkpoint file
    configs: dict[str, Any]  # order -> the MetaConfig it was trained with


def load_heads(args: argparse.Namespace) -> Heads:
    """--head and its twin (--twin, else head-fo.pt / head-so.pt beside it); RecsysError if both are one order."""
    from ..core.errors import RecsysError
    from ..personal.head import DEFAULT_CHECKPOINT, load_head
    from ..personal.meta import MetaConfig

    head_path = Path(args.head) if args.head else DEFAULT_CHECKPOINT
    head, meta = load_head(head_path)
    config = MetaConfig.saved(meta.get("config", {}))
    served = "so" if config.second_order else "fo"
    other = "fo" if served == "so" else "so"
    twin_path = Path(args.twin) if args.twin else head_path.with_name(f"head-{other}.pt")
    twin, twin_meta = load_head(twin_path)
    twin_config = MetaConfig.saved(twin_meta.get("config", {}))
    if twin_config.second_order == config.second_order:
        raise RecsysError(f"--twin {twin_path} is {MAML[served]} like --head; it must be the other order")
    return Heads(
        served,
        other,
        {served: head, other: twin},
        {served: str(head_path), other: str(twin_path)},
        {served: config, other: twin_config},
    )


def held_out(data: Any, heads: Heads, args: argparse.Namespace) -> tuple[Any, bool]:
    """(split, reused): the split saved beside the served head when it is of this data, else a fresh seeded one.
    RecsysError when --folds cannot be honoured on it."""
    from ..core.errors import RecsysError
    from ..personal.tasks import Split, fold_count, split_users

    config, head_path = heads.configs[heads.served], Path(heads.paths[heads.served])
    split_path = head_path.with_name("split.json")
    split = Split.load(split_path) if split_path.is_file() else None
    reused = split is not None and split.fingerprint == data.fingerprint
    if reused and (split.seed, split.fold) != (config.seed, config.fold):
        raise RecsysError(
            f"{split_path} holds the split of seed {split.seed}, fold {split.fold}, but {head_path} "
            f"was trained with seed {config.seed}, fold {config.fold}: keep each head in its own folder"
        )
    if not reused:  # other data: none of its users was trained on; a fresh split gives popularity its counts
        split = split_users(data, args.seed, config.eval_fraction, config.min_ratings)
    if args.folds > 1:
        available = fold_count(data, config.eval_fraction, config.min_ratings)
        if not reused:
            raise RecsysError(
                "--folds needs the ratings the head was trained on (its split.json beside it): "
                "the other folds' heads are trained by its recipe on the same data"
            )
        if args.folds > available:
            raise RecsysError(f"--folds {args.folds}: these users make only {available} folds")
    return split, reused


@dataclass
class Scored:
    """Per-user metrics of every fold, pooled, with what the report says about the folds."""

    per_user: dict = field(default_factory=dict)  # method -> k -> metric -> [value per user]
    latency: list[float] = field(default_factory=list)  # ms per adaptation of the served MAML method
    fold_users: dict[str, int] = field(default_factory=dict)
    checkpoints: dict[str, dict[str, str]] = field(default_factory=dict)  # fold -> method -> checkpoint


def score_folds(data: Any, items: list, plan: Iterable, served: str, args: argparse.Namespace) -> Scored:
    """Every method on the held-out users of each planned fold (heads by order, as fold_plan gives them)."""
    from ..core.errors import RecsysError

    ks, scored = tuple(args.ks), Scored()
    for fold, split_f, heads, paths in plan:
        users = [u for u in split_f.held_out if len(data.users[u][0]) > max(ks) + 1][: args.max_users]
        if not users:
            raise RecsysError(f"no held-out users with more than {max(ks) + 1} ratings of catalog films")
        print(f"fold {fold}: {len(users)} held-out users; {args.support} support, {args.draws} draw(s)", flush=True)
        methods = Methods(data, split_f.train, heads, args.scratch_steps, args.seed, served)
        ask = AskFirst(heads[served], items) if args.support == "informative" else None
        part = evaluate(data, users, methods, args.seed, ask, ks, args.draws, desc=f"fold {fold}")
        scored.per_user = part if not scored.per_user else merge(scored.per_user, part)
        scored.latency += methods.adapt_ms
        scored.fold_users[str(fold)] = len(users)
        scored.checkpoints[str(fold)] = {MAML[o]: path for o, path in paths.items()}
    return scored


def run(args: argparse.Namespace) -> int:
    """Load data and checkpoints, evaluate every method (per fold), print the table, write JSON and PNG."""
    import torch

    from ..core.config import settings_from_args
    from ..core.errors import RecsysError
    from ..evaluation.folds import fold_folder, fold_plan
    from ..personal.tasks import load_task_data

    torch.set_num_threads(1)  # thousands of tiny adaptations: one thread is faster than several that wait
    if args.draws > 1 and args.support == "informative":
        raise RecsysError("--draws needs random support: informative support asks the same films on every draw")
    settings = settings_from_args(args)
    heads = load_heads(args)
    dim = heads.models[heads.served].config.dim
    catalog, data, report = load_task_data(settings, Path(args.data), progress=False)
    if data.vectors.shape[1] != dim:
        raise RecsysError(
            f"the head expects {dim}-d item vectors, the index has {data.vectors.shape[1]}-d (another embedding model?)"
        )
    split, reused = held_out(data, heads, args)
    given = (split, heads.models, heads.paths)
    plan = (
        fold_plan(data, args.folds, given, heads.configs, fold_folder(settings.home, data))
        if args.folds > 1
        else iter([(heads.configs[heads.served].fold, *given)])
    )
    items = [catalog.items[catalog.position(i)] for i in data.item_ids]
    print(
        f"{report.line()}; held out: {'the split saved with the checkpoint' if reused else 'a fresh seeded split'}"
        + (f" and {args.folds - 1} more fold(s)" if args.folds > 1 else ""),
        flush=True,
    )
    t0 = time.perf_counter()
    scored = score_folds(data, items, plan, heads.served, args)
    ks = tuple(args.ks)
    results = {
        m: {str(k): {name: summary(scored.per_user[m][k][name]) for name in METRICS} for k in ks} for m in METHODS
    }
    payload = {
        "data": str(args.data),
        "mapping": asdict(report),
        "users": sum(scored.fold_users.values()),
        "split_reused": reused,
        "support": args.support,
        "draws": args.draws,
        "folds": args.folds,
        "fold_users": scored.fold_users,
        "ks": list(ks),
        "liked_threshold": LIKED,
        "served": MAML[heads.served],
        "checkpoints": {MAML[o]: heads.paths[o] for o in (heads.served, heads.other)},
        "fold_checkpoints": scored.checkpoints,
        "results": results,
        "comparisons": comparisons(scored.per_user, MAML[heads.served]),
        "gain_over_k0": gains(scored.per_user),
        "adapt_ms": _latency(scored.latency),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    print(table(results, ks))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(payload, indent=1) + "\n")
    if args.png:
        how = f"{args.support} support" + (f", {args.draws} draws" if args.draws > 1 else "")
        plot(results, Path(args.png), how + (f", {args.folds} folds" if args.folds > 1 else ""), ks)
    return 0


def _latency(ms: list[float]) -> dict[str, float | None]:
    """Median and p95 of the served method's adaptation times (None when nothing was adapted)."""
    return {
        "median": round(float(np.median(ms)), 2) if ms else None,
        "p95": round(float(np.percentile(ms, 95)), 2) if ms else None,
    }


def table(results: dict, ks: tuple[int, ...] = KS) -> str:
    """Markdown table: one row per method and k, mean ± CI per metric."""
    lines = ["| method | k | AUC | nDCG@10 | MAE |", "|---|---|---|---|---|"]
    for method in METHODS:
        for k in ks:
            cells = [
                f"{results[method][str(k)][m]['mean']:.3f} ± {results[method][str(k)][m]['ci']:.3f}" for m in METRICS
            ]
            lines.append(f"| {method} | {k} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
