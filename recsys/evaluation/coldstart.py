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

Methods, all in one run:

  popularity           ratings count among training users (rating = fitted line on log count + support offset)
  content_centroid     cosine to the mean vector of liked support films (popularity while none is liked)
  head_no_adaptation   the served head (--head), never adapted
  head_from_scratch    the same network, randomly initialised and trained on the support set only (Adam)
  maml_first_order     the first-order MAML checkpoint, adapted on the support set
  maml_second_order    the second-order MAML checkpoint, adapted on the support set
                       (one of these two is --head, the one the app serves; the other is its twin, --twin)
  mf_fold_in           reference, not a baseline: matrix factorisation of the training users' ratings (recsys.personal.mf),
                       the person folded in from their support ratings. It scores only films others rated, so the
                       app cannot serve it; it shows how far k ratings can move a ranking on this data at all
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import time
from pathlib import Path

import numpy as np

from ..personal.mf import MatrixFactors

log = logging.getLogger(__name__)

KS = (0, 1, 3, 5, 10)
LIKED = 4.0  # a rating of 4 or 5 counts as liked
METRICS = ("auc", "ndcg@10", "mae")
SUPPORTS = ("random", "informative")
METHODS = ("popularity", "content_centroid", "head_no_adaptation", "head_from_scratch", "maml_first_order",
           "maml_second_order", "mf_fold_in")
MAML = {"fo": "maml_first_order", "so": "maml_second_order"}  # checkpoint order -> method
ORDER = {method: order for order, method in MAML.items()}
REFERENCES = ("mf_fold_in",)  # not servable (needs ratings of every film it scores): how far k ratings can go
Z95 = 1.96


def add_arguments(p: argparse.ArgumentParser) -> None:
    """eval coldstart's own flags."""
    p.add_argument("--data", required=True, help="ratings: ml-100k folder (parquet or u.data/u.item), ml-latest "
                                                  "folder (ratings/movies/links.csv) or a user_id,item_id,rating CSV")
    p.add_argument("--json", help="write every method's figures per k here")
    p.add_argument("--png", help="write the adaptation curves (metric vs k, one line per method) here")
    p.add_argument("--head", help="the served checkpoint (default data/head/head.pt)")
    p.add_argument("--twin", help="the other MAML order's checkpoint (default beside --head: head-so.pt for a "
                                  "first-order head, head-fo.pt for a second-order one)")
    p.add_argument("--max-users", type=int, help="evaluate at most this many held-out users per fold (default all)")
    p.add_argument("--seed", type=int, default=0, help="seed of the support/query shuffles (default 0)")
    p.add_argument("--support", choices=SUPPORTS, default="random",
                   help="support set: a random k of the person's ratings, or the k films the app would ask them "
                        "to rate first (onboarding's evidence order) (default random)")
    p.add_argument("--scratch-steps", type=int, default=50, help="Adam steps of the from-scratch head (default 50)")
    p.add_argument("--draws", type=positive, default=1,
                   help="support/query shuffles per user, metrics averaged per user (random support; default 1)")
    p.add_argument("--folds", type=positive, default=1,
                   help="cross-validation: score this many held-out blocks of users, training heads for the blocks "
                        "the given head was not held out from (~40 s each; kept under RECSYS_HOME) (default 1)")
    p.add_argument("--ks", type=support_sizes, default=KS, metavar="K,K,...",
                   help="support sizes; the query set is everything after the largest (default 0,1,3,5,10; "
                        "e.g. 0,10,20,40 shows how adaptation grows with more ratings)")


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


# --- metrics ----------------------------------------------------------------------------------------------------------
def auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Probability that a liked item outscores a not-liked one (ties count half); NaN with one class only."""
    pos, neg = scores[positive], scores[~positive]
    if len(pos) == 0 or len(neg) == 0:
        return math.nan
    ranks = _average_ranks(np.concatenate([pos, neg]))
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks with ties sharing their average rank."""
    order = np.argsort(values, kind="mergesort")
    sorted_vals = values[order]
    ranks = np.empty(len(values), dtype=np.float64)
    start = 0
    for end in range(1, len(values) + 1):
        if end == len(values) or sorted_vals[end] != sorted_vals[start]:
            ranks[order[start:end]] = (start + end + 1) / 2.0
            start = end
    return ranks


def ndcg(scores: np.ndarray, gains: np.ndarray, k: int = 10) -> float:
    """nDCG@k with the true ratings as gains; ties in scores broken by position (stable)."""
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    top = np.argsort(-scores, kind="stable")[:k]
    ideal = np.sort(gains)[::-1][:k]
    best = float((ideal * discount[: len(ideal)]).sum())
    return float((gains[top] * discount[: len(top)]).sum()) / best if best > 0 else math.nan


def summary(values: list[float]) -> dict[str, float]:
    """Mean, 95% CI half-width and count of the finite values."""
    v = np.array([x for x in values if np.isfinite(x)], dtype=np.float64)
    if len(v) == 0:
        return {"mean": math.nan, "ci": math.nan, "n": 0}
    ci = Z95 * v.std(ddof=1) / math.sqrt(len(v)) if len(v) > 1 else math.nan
    return {"mean": round(float(v.mean()), 4), "ci": round(float(ci), 4), "n": int(len(v))}


# --- the methods -------------------------------------------------------------------------------------------------------
class Methods:
    """Scores (ranking) and predicted ratings of query items given a support set, for every method."""

    def __init__(self, data, train_users: list[str], heads: dict, scratch_steps: int, seed: int,
                 served: str = "so") -> None:
        self.data, self.heads, self.scratch_steps, self.seed = data, heads, scratch_steps, seed
        self.served = served  # key of the served head in `heads`: "fo" or "so"
        counts = np.zeros(len(data.item_ids), dtype=np.float64)
        all_y, all_rows = [], []
        for user in train_users:
            rows, ratings = data.users[user]
            np.add.at(counts, rows, 1.0)
            all_rows.append(rows)
            all_y.append(ratings)
        self.counts = counts  # (I,) ratings per item among training users
        x, y = np.log1p(counts[np.concatenate(all_rows)]), np.concatenate(all_y)
        self.slope, self.intercept = np.polyfit(x, y, 1) if len(set(x.tolist())) > 1 else (0.0, float(y.mean()))
        self.mean_rating = float(y.mean())
        self.adapt_ms: list[float] = []
        self.mf = MatrixFactors.of_users(data.users, train_users, len(data.item_ids), seed)

    def run(self, method: str, s_rows: np.ndarray, s_y: np.ndarray, q_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(scores, predicted ratings) of the query rows."""
        from ..personal.meta import inputs_for

        data = self.data
        if method in ("popularity", "content_centroid"):
            fit = lambda rows: self.intercept + self.slope * np.log1p(self.counts[rows])  # noqa: E731
            offset = float((s_y - fit(s_rows)).mean()) if len(s_rows) else 0.0
            pred = fit(q_rows) + offset
            liked = s_rows[s_y >= LIKED]
            if method == "popularity" or len(liked) == 0:
                return self.counts[q_rows].astype(np.float64), pred
            centroid = data.vectors[liked].mean(axis=0)
            rating = np.full(len(q_rows), float(s_y.mean()))
            return data.vectors[q_rows] @ (centroid / np.linalg.norm(centroid)), rating
        if method == "mf_fold_in":
            pred = self.mf.predict(q_rows, *self.mf.fold_in(s_rows, s_y))
            return pred, pred
        if method == "head_from_scratch":
            pred = self._scratch(s_rows, s_y, q_rows)
            return pred, pred
        head = self.heads[self.served if method == "head_no_adaptation" else ORDER[method]]
        params = head.init_params()
        if method != "head_no_adaptation" and len(s_rows):
            t = time.perf_counter()
            params = head.adapt(params, *inputs_for(data, s_rows, head), s_y)
            if method == MAML[self.served]:
                self.adapt_ms.append((time.perf_counter() - t) * 1000.0)
        pred = head.score(params, *inputs_for(data, q_rows, head)).astype(np.float64)
        return pred, pred

    def _scratch(self, s_rows: np.ndarray, s_y: np.ndarray, q_rows: np.ndarray) -> np.ndarray:
        """A randomly initialised head trained with Adam on the support ratings alone."""
        import torch

        from ..personal.head import Head
        from ..personal.meta import inputs_for

        from dataclasses import replace

        torch.manual_seed(self.seed)
        served = self.heads[self.served]
        head = Head(replace(served.config, dropout=0.0))  # the same network, plain training on k ratings
        # the same inputs too: the served head's collaborative item vectors, if it has them
        if len(s_rows):
            opt = torch.optim.Adam(head.parameters(), lr=1e-2)
            x = [torch.as_tensor(a) for a in inputs_for(self.data, s_rows, served)]
            y = torch.as_tensor(s_y)
            for _ in range(self.scratch_steps):
                loss = ((head(*x) - y) ** 2).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
        with torch.no_grad():
            return head(*[torch.as_tensor(a) for a in inputs_for(self.data, q_rows, served)]).numpy().astype(np.float64)


class AskFirst:
    """The films the app would ask a new person to rate first, among the films a user rated.

    Personalizer.onboarding itself (gradient norm under the served head's meta-learned initialisation x popularity,
    normalised over its pool, MMR spread, pool = the most popular ONBOARD_POOL films), run on a Personalizer over
    this user's rated films only: the app's own pool of the catalog's most popular films holds almost no
    MovieLens film, and a film the person never rated cannot be a support rating.
    """

    def __init__(self, head, items: list) -> None:
        self.head, self.items = head, items  # items: the catalog Item of each data row

    def __call__(self, data, rows: np.ndarray, n: int) -> np.ndarray:
        """Positions into `rows` of the n films asked first, in the order asked (ties: the order of `rows`)."""
        from ..personal.serving import Personalizer

        personal = Personalizer(self.head, [self.items[r] for r in rows], data.vectors[rows])
        return personal.positions([it.item_id for it in personal.onboarding(personal.init, set(), n)])


def user_order(data, user: str, number: int, seed: int, ask: AskFirst | None = None, asked: int = max(KS),
               draw: int = 0) -> np.ndarray:
    """Order of a user's ratings (positions): the first k are the support set, those after max(ks) the query set.

    The seeded shuffle (`draw` > 0: another one, for --draws); with `ask`, the films asked first move to the front
    (in the order asked), the rest keep the shuffle's order.
    """
    rows, _ = data.users[user]
    perm = np.random.default_rng([seed, number] if draw == 0 else [seed, number, draw]).permutation(len(rows))
    if ask is None:
        return perm
    first = ask(data, rows[perm], asked)
    rest = np.ones(len(perm), dtype=bool)
    rest[first] = False
    return np.concatenate([perm[first], perm[rest]])


def evaluate(data, users: list[str], methods: Methods, seed: int, ask: AskFirst | None = None,
             ks: tuple[int, ...] = KS, draws: int = 1, desc: str = "users", only: tuple[str, ...] = METHODS
             ) -> dict[str, dict[int, dict[str, list[float]]]]:
    """Per-user metrics: method -> k -> metric -> [value per user, its mean over the draws]; support by
    `user_order`. `only` some methods (model selection skips the slow baselines). A progress bar on a terminal."""
    from tqdm.auto import tqdm

    out = {m: {k: {name: [] for name in METRICS} for k in ks} for m in only}
    for number, user in enumerate(tqdm(users, desc=desc, disable=None, leave=False)):
        rows, ratings = data.users[user]
        mine = {m: {k: {name: [] for name in METRICS} for k in ks} for m in only}
        for draw in range(draws):
            perm = user_order(data, user, number, seed, ask, max(ks), draw)
            q_rows, q_y = rows[perm[max(ks):]], ratings[perm[max(ks):]]
            for k in ks:
                s_rows, s_y = rows[perm[:k]], ratings[perm[:k]]
                for method in only:
                    scores, pred = methods.run(method, s_rows, s_y, q_rows)
                    cell = mine[method][k]
                    cell["auc"].append(auc(scores, q_y >= LIKED))
                    cell["ndcg@10"].append(ndcg(scores, q_y))
                    cell["mae"].append(float(np.abs(np.clip(pred, 1.0, 5.0) - q_y).mean()))
        for method, by_k in mine.items():
            for k, cell in by_k.items():
                for name, values in cell.items():
                    finite = [v for v in values if np.isfinite(v)]  # AUC: a draw whose query set has one class
                    out[method][k][name].append(float(np.mean(finite)) if finite else math.nan)
    return out


BASELINES = ("popularity", "content_centroid", "head_no_adaptation", "head_from_scratch")  # issue 4's list


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
                    "beats_by_more_than_ci": beats, "paired_diff": diff}
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
                    for metric in ("auc", "ndcg@10")}
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
            ax.errorbar(ks, means, yerr=cis, marker="o", capsize=3, label=method,
                        linestyle=":" if method in REFERENCES else "-")
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


def run(args: argparse.Namespace) -> int:
    """Load data and checkpoints, evaluate every method (per fold), print the table, write JSON and PNG."""
    from dataclasses import asdict

    from ..core.config import settings_from_args
    from ..core.errors import RecsysError
    from ..evaluation.folds import fold_folder, fold_plan
    from ..personal.head import DEFAULT_CHECKPOINT, load_head
    from ..personal.meta import MetaConfig, Split, fold_count, load_task_data, split_users

    import torch

    torch.set_num_threads(1)  # thousands of tiny adaptations: one thread is faster than several that wait
    if args.draws > 1 and args.support == "informative":
        raise RecsysError("--draws needs random support: informative support asks the same films on every draw")
    settings = settings_from_args(args)
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
    catalog, data, report = load_task_data(settings, Path(args.data), progress=False)
    if data.vectors.shape[1] != head.config.dim:
        raise RecsysError(f"the head expects {head.config.dim}-d item vectors, the index has "
                          f"{data.vectors.shape[1]}-d (another embedding model?)")
    split_path = head_path.with_name("split.json")
    split = Split.load(split_path) if split_path.is_file() else None
    reused = split is not None and split.fingerprint == data.fingerprint
    if reused and (split.seed, split.fold) != (config.seed, config.fold):
        raise RecsysError(f"{split_path} holds the split of seed {split.seed}, fold {split.fold}, but {head_path} "
                          f"was trained with seed {config.seed}, fold {config.fold}: keep each head in its own folder")
    if not reused:  # other data: none of its users was trained on; a fresh split gives popularity its counts
        split = split_users(data, args.seed, config.eval_fraction, config.min_ratings)
    if args.folds > 1:
        available = fold_count(data, config.eval_fraction, config.min_ratings)
        if not reused:
            raise RecsysError("--folds needs the ratings the head was trained on (its split.json beside it): "
                              "the other folds' heads are trained by its recipe on the same data")
        if args.folds > available:
            raise RecsysError(f"--folds {args.folds}: these users make only {available} folds")
    ks = tuple(args.ks)
    given = (split, {served: head, other: twin}, {served: str(head_path), other: str(twin_path)})
    plan = fold_plan(data, args.folds, given, {served: config, other: twin_config},
                     fold_folder(settings.home, data)) if args.folds > 1 else iter([(config.fold, *given)])
    items = [catalog.items[catalog.position(i)] for i in data.item_ids]
    print(f"{report.line()}; held out: {'the split saved with the checkpoint' if reused else 'a fresh seeded split'}"
          + (f" and {args.folds - 1} more fold(s)" if args.folds > 1 else ""), flush=True)
    per_user, latency, fold_users, checkpoints, t0 = None, [], {}, {}, time.perf_counter()
    for fold, split_f, heads, paths in plan:
        users = [u for u in split_f.held_out if len(data.users[u][0]) > max(ks) + 1][: args.max_users]
        if not users:
            raise RecsysError(f"no held-out users with more than {max(ks) + 1} ratings of catalog films")
        print(f"fold {fold}: {len(users)} held-out users; {args.support} support, {args.draws} draw(s)", flush=True)
        methods = Methods(data, split_f.train, heads, args.scratch_steps, args.seed, served)
        ask = AskFirst(heads[served], items) if args.support == "informative" else None
        part = evaluate(data, users, methods, args.seed, ask, ks, args.draws, desc=f"fold {fold}")
        per_user = part if per_user is None else merge(per_user, part)
        latency += methods.adapt_ms
        fold_users[str(fold)], checkpoints[str(fold)] = len(users), {MAML[o]: path for o, path in paths.items()}
    results = {m: {str(k): {name: summary(per_user[m][k][name]) for name in METRICS} for k in ks} for m in METHODS}
    payload = {
        "data": str(args.data), "mapping": asdict(report), "users": sum(fold_users.values()), "split_reused": reused,
        "support": args.support, "draws": args.draws, "folds": args.folds, "fold_users": fold_users,
        "ks": list(ks), "liked_threshold": LIKED, "served": MAML[served],
        "checkpoints": {MAML[served]: str(head_path), MAML[other]: str(twin_path)}, "fold_checkpoints": checkpoints,
        "results": results, "comparisons": comparisons(per_user, MAML[served]), "gain_over_k0": gains(per_user),
        "adapt_ms": {"median": round(float(np.median(latency)), 2) if latency else None,
                     "p95": round(float(np.percentile(latency, 95)), 2) if latency else None},
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


def merge(a: dict, b: dict) -> dict:
    """Per-user metrics of two disjoint groups of users as one (method -> k -> metric -> values)."""
    return {m: {k: {name: a[m][k][name] + b[m][k][name] for name in by_k} for k, by_k in a[m].items()} for m in a}


def table(results: dict, ks: tuple[int, ...] = KS) -> str:
    """Markdown table: one row per method and k, mean ± CI per metric."""
    lines = ["| method | k | AUC | nDCG@10 | MAE |", "|---|---|---|---|---|"]
    for method in METHODS:
        for k in ks:
            cells = [f"{results[method][str(k)][m]['mean']:.3f} ± {results[method][str(k)][m]['ci']:.3f}"
                     for m in METRICS]
            lines.append(f"| {method} | {k} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
