"""The methods and the per-user protocol of the cold-start evaluation (eval coldstart, coldstart.py).

    methods = Methods(data, split.train, {"fo": head, "so": twin}, scratch_steps=50, seed=0, served="fo")
    per_user = evaluate(data, users, methods, seed=0)   # method -> k -> metric -> [value per user]
    summary(per_user["maml_first_order"][10]["auc"])    # {"mean": ..., "ci": ..., "n": ...}

Every method scores the same query items of a user from the same k support ratings; the metrics are AUC of liked
vs the rest, nDCG@10 with the rating as gain and MAE of predicted ratings (the list of methods is in coldstart.py).
"""

from __future__ import annotations

import math
import time
from dataclasses import replace

import numpy as np

# numpy only here: the torch-backed modules load inside the methods, so the CLI's parser (which imports every
# verb's module) stays fast
from ..personal.mf import MatrixFactors

KS = (0, 1, 3, 5, 10)
LIKED = 4.0  # a rating of 4 or 5 counts as liked
METRICS = ("auc", "ndcg@10", "mae")
METHODS = (
    "popularity",
    "content_centroid",
    "head_no_adaptation",
    "head_from_scratch",
    "maml_first_order",
    "maml_second_order",
    "mf_fold_in",
)
MAML = {"fo": "maml_first_order", "so": "maml_second_order"}  # checkpoint order -> method
ORDER = {method: order for order, method in MAML.items()}
REFERENCES = ("mf_fold_in",)  # not servable (needs ratings of every film it scores): how far k ratings can go
Z95 = 1.96


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


# --- the methods ------------------------------------------------------------------------------------------------------
class Methods:
    """Scores (ranking) and predicted ratings of query items given a support set, for every method."""

    def __init__(
        self, data, train_users: list[str], heads: dict, scratch_steps: int, seed: int, served: str = "so"
    ) -> None:
        """Fit the popularity line and the matrix factors on the training users' ratings."""
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

    def run(
        self, method: str, s_rows: np.ndarray, s_y: np.ndarray, q_rows: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(scores, predicted ratings) of the query rows."""
        from ..personal.tasks import inputs_for

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
        from ..personal.tasks import inputs_for

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
        """`items`: the catalog Item of each data row."""
        self.head, self.items = head, items

    def __call__(self, data, rows: np.ndarray, n: int) -> np.ndarray:
        """Positions into `rows` of the n films asked first, in the order asked (ties: the order of `rows`)."""
        from ..personal.serving import Personalizer

        personal = Personalizer(self.head, [self.items[r] for r in rows], data.vectors[rows])
        return personal.positions([it.item_id for it in personal.onboarding(personal.init, set(), n)])


def user_order(
    data, user: str, number: int, seed: int, ask: AskFirst | None = None, asked: int = max(KS), draw: int = 0
) -> np.ndarray:
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


def evaluate(
    data,
    users: list[str],
    methods: Methods,
    seed: int,
    ask: AskFirst | None = None,
    ks: tuple[int, ...] = KS,
    draws: int = 1,
    desc: str = "users",
    only: tuple[str, ...] = METHODS,
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
            q_rows, q_y = rows[perm[max(ks) :]], ratings[perm[max(ks) :]]
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


def merge(a: dict, b: dict) -> dict:
    """Per-user metrics of two disjoint groups of users as one (method -> k -> metric -> values)."""
    return {m: {k: {name: a[m][k][name] + b[m][k][name] for name in by_k} for k, by_k in a[m].items()} for m in a}
