"""Model selection for the per-user head without touching the held-out users.

    python scripts/val_coldstart.py --seeds 0,1,2                          # the default config (first-order)
    python scripts/val_coldstart.py --seeds 0,1,2 --set collab_factors=0   # e.g. text only, to compare
    python scripts/val_coldstart.py --seeds 0 --draws 5                    # tighter CIs, 5x the time

The training users of the shipped split (data/head/split.json) are split again, seeded: 200 of them become
validation users, the rest train a head with the product's own `meta_train` (the default MetaConfig, changed by
--set). Each validation user is scored exactly as `eval coldstart` scores a held-out one (random support), and the
script prints the adapted head's paired gain over its own k = 0, mean ± 95% CI, per seed. Takes ~3 min per seed.
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

from recsys import eval_coldstart as ec  # noqa: E402
from recsys.config import Settings  # noqa: E402
from recsys.meta import MetaConfig, Split, load_task_data, meta_train  # noqa: E402
from recsys.movielens import movielens_dir  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", help="ML-100K folder (default: the fetched one in the cache)")
    p.add_argument("--seeds", default="0", help="training seeds, comma-separated")
    p.add_argument("--set", action="append", default=[], help="MetaConfig field=JSON value, e.g. collab_factors=0")
    p.add_argument("--val-users", type=int, default=200)
    p.add_argument("--draws", type=int, default=1, help="support shuffles per validation user (as eval coldstart's)")
    args = p.parse_args()
    torch.set_num_threads(1)
    settings = Settings.from_env()
    _, data, _ = load_task_data(settings, Path(args.data) if args.data else movielens_dir(settings.cache), False)
    train = Split.load(ROOT / "data" / "head" / "split.json").train
    order = np.random.default_rng(7).permutation(len(train))
    val = sorted((train[i] for i in order[:args.val_users]), key=int)
    fit = sorted((train[i] for i in order[args.val_users:]), key=int)
    changes = {k: json.loads(v) for k, v in (s.split("=", 1) for s in args.set)}
    users = [u for u in val if len(data.users[u][0]) > max(ec.KS) + 1]
    for seed in (int(s) for s in args.seeds.split(",")):
        config = replace(MetaConfig(), seed=seed, **changes)
        with tempfile.TemporaryDirectory() as tmp:
            head = meta_train(data, fit, config, Path(tmp) / "h.pt", progress=False)
        served = "so" if config.second_order else "fo"
        methods = ec.Methods(data, fit, {"so": head, "fo": head}, 50, 0, served)  # one head stands in for both
        per_user = ec.evaluate(data, users, methods, 0, draws=args.draws)
        gain = ec.gains(per_user)[ec.MAML[served]]
        cells = [f"k={k} {m} {gain[str(k)][m]['mean']:+.4f}±{gain[str(k)][m]['ci']:.4f}"
                 for k in ec.KS[1:] for m in ("auc", "ndcg@10")]
        print(f"seed {seed} {changes or 'default'} ({len(fit)} train / {len(users)} val users): " + " | ".join(cells),
              flush=True)


if __name__ == "__main__":
    main()
