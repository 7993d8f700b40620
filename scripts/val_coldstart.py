"""Model selection for the per-user head without touching the held-out users.

    python scripts/val_coldstart.py --seeds 0,1,2                          # the default config (first-order)
    python scripts/val_coldstart.py --seeds 0,1,2 --set collab_factors=0   # e.g. text only, to compare
    python scripts/val_coldstart.py --seeds 0 --draws 5                    # tighter CIs, 5x the time
    python scripts/val_coldstart.py --folds 4 --draws 5 --save base.json   # every training user validated once
    python scripts/val_coldstart.py --folds 4 --draws 5 --set rank_weight=3 --against base.json   # paired

The training users of the shipped split (data/head/split.json) are split again, seeded: 200 of them become
validation users, the rest train a head with the product's own `meta_train` (the default MetaConfig, changed by
--set). Each validation user is scored exactly as `eval coldstart` scores a held-out one (random support), and the
script prints the adapted head's paired gain over its own k = 0, mean ± 95% CI, per seed. Takes ~3 min per seed.

With --folds F the training users are cut into F blocks instead and each block is validated by a head trained on
the others (cross-validation inside the training users: all 722 are validated once, ~1 min per fold head plus
scoring). Only the head is scored (unadapted and adapted), not the slow baselines. --save writes each user's
gains; --against FILE prints this variant's gain minus FILE's, paired over the same users and draws: selection
between variants whose difference is smaller than either one's CI.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from recsys.catalog.movielens import movielens_dir  # noqa: E402
from recsys.core.config import Settings  # noqa: E402
from recsys.evaluation import coldstart as cs  # noqa: E402
from recsys.evaluation import coldstart_methods as cm  # noqa: E402
from recsys.personal.meta import MetaConfig, meta_train  # noqa: E402
from recsys.personal.tasks import Split, load_task_data  # noqa: E402

CELLS = [(k, m) for k in cm.KS[1:] for m in ("auc", "ndcg@10")]


def head_gains(data, fit: list[str], head, users: list[str], draws: int) -> dict[str, dict[str, float]]:
    """user -> "k metric" -> the adapted head's gain over its own k = 0 (its means over the draws), as
    `eval coldstart` measures it, with only the head scored."""
    methods = cm.Methods(data, fit, {"fo": head}, 0, 0, "fo")
    per = cm.evaluate(data, users, methods, 0, draws=draws, only=(cm.MAML["fo"],))[cm.MAML["fo"]]
    return {
        user: {f"{k} {m}": per[k][m][i] - per[0][m][i] for k, m in CELLS if np.isfinite(per[k][m][i])}
        for i, user in enumerate(users)
    }


def report(label: str, per_user: dict[str, dict[str, float]]) -> str:
    """One line: mean ± CI over users of each cell."""
    parts = []
    for k, m in CELLS:
        s = cm.summary([g[f"{k} {m}"] for g in per_user.values() if f"{k} {m}" in g])
        parts.append(f"k={k} {m} {s['mean']:+.4f}±{s['ci']:.4f}")
    return f"{label}: " + " | ".join(parts)


def main() -> None:
    """Train on part of the training users, score the rest; one line per seed (or per block with --folds)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", help="ML-100K folder (default: the fetched one in the cache)")
    p.add_argument("--seeds", default="0", help="training seeds, comma-separated")
    p.add_argument("--set", action="append", default=[], help="MetaConfig field=JSON value, e.g. collab_factors=0")
    p.add_argument("--val-users", type=int, default=200)
    p.add_argument("--draws", type=int, default=1, help="support shuffles per validation user (as eval coldstart's)")
    p.add_argument("--folds", type=int, default=0, help="cross-validate over F blocks of the training users")
    p.add_argument("--save", type=Path, help="with --folds: write each user's gains (JSON)")
    p.add_argument("--against", type=Path, help="with --folds: print the paired difference to a --save file")
    args = p.parse_args()
    torch.set_num_threads(1)
    settings = Settings.from_env()
    _, data, _ = load_task_data(settings, Path(args.data) if args.data else movielens_dir(settings.cache), False)
    train = Split.load(ROOT / "data" / "head" / "split.json").train
    order = np.random.default_rng(7).permutation(len(train))
    changes = {k: json.loads(v) for k, v in (s.split("=", 1) for s in args.set)}
    if args.folds:
        cross_validate(data, train, order, changes, args)
        return
    val = sorted((train[i] for i in order[: args.val_users]), key=int)
    fit = sorted((train[i] for i in order[args.val_users :]), key=int)
    users = [u for u in val if len(data.users[u][0]) > max(cm.KS) + 1]
    for seed in (int(s) for s in args.seeds.split(",")):
        config = replace(MetaConfig(), seed=seed, **changes)
        with tempfile.TemporaryDirectory() as tmp:
            head = meta_train(data, fit, config, Path(tmp) / "h.pt", progress=False)
        served = "so" if config.second_order else "fo"
        methods = cm.Methods(data, fit, {"so": head, "fo": head}, 50, 0, served)  # one head stands in for both
        per_user = cm.evaluate(data, users, methods, 0, draws=args.draws)
        gain = cs.gains(per_user)[cm.MAML[served]]
        cells = [f"k={k} {m} {gain[str(k)][m]['mean']:+.4f}±{gain[str(k)][m]['ci']:.4f}" for k, m in CELLS]
        print(
            f"seed {seed} {changes or 'default'} ({len(fit)} train / {len(users)} val users): " + " | ".join(cells),
            flush=True,
        )


def cross_validate(data, train: list[str], order: np.ndarray, changes: dict, args: argparse.Namespace) -> None:
    """Every training user validated once by a head trained on the other blocks; per seed, pooled over blocks."""
    blocks = np.array_split(order, args.folds)
    per_user: dict[str, dict[str, float]] = {}
    for seed in (int(s) for s in args.seeds.split(",")):
        config = replace(MetaConfig(), seed=seed, **changes)
        for f, block in enumerate(blocks):
            held = {train[i] for i in block}
            fit = [u for u in train if u not in held]
            users = sorted((u for u in held if len(data.users[u][0]) > max(cm.KS) + 1), key=int)
            with tempfile.TemporaryDirectory() as tmp:
                head = meta_train(data, fit, config, Path(tmp) / "h.pt", progress=False)
            block_gains = head_gains(data, fit, head, users, args.draws)
            per_user.update({f"{seed}:{user}": cells for user, cells in block_gains.items()})
            print(report(f"seed {seed} block {f} ({len(fit)} train / {len(users)} val)", block_gains), flush=True)
    print(report(f"ALL {changes or 'default'} ({len(per_user)} user-seeds, {args.draws} draws)", per_user), flush=True)
    if args.save:
        args.save.write_text(json.dumps({"changes": changes, "draws": args.draws, "per_user": per_user}) + "\n")
    if args.against:
        other = json.loads(args.against.read_text())["per_user"]
        both = sorted(set(per_user) & set(other))
        diff = {u: {c: per_user[u][c] - other[u][c] for c in per_user[u] if c in other[u]} for u in both}
        print(report(f"MINUS {args.against.name} ({len(both)} paired)", diff), flush=True)


if __name__ == "__main__":
    main()
