"""Learn the ranker from training conversations: `python -m recsys train-ranker`.

    python -m recsys train-ranker                         # data/eval/redial/train_sample.jsonl -> data/ranker/
    python -m recsys train-ranker --table-only            # only the co-mention table (seconds)
    python -m recsys train-ranker --data my.jsonl --out my_comentions.json --model-out my_ranker.txt

Two things, in order: the item-item co-mention table (recsys.catalog.comentions: for each film, the films named
with it in the same training dialogue, mapped to the catalog by title and year), then the learned ranker
(recsys.ranking.learned): the engine replays the training dialogues under both protocols of `eval conversations`,
its feature rows at every point are recorded with co-mentions counted from the other folds
(evaluation/ranker_data.py), and LightGBM LambdaRank is fitted on them (evaluation/ranker_fit.py). Only TRAINING
dialogues go in: the validation sample chooses between variants (`eval conversations`), and ReDial's test split is
never used. The engine reads RECSYS_COMENTIONS and RECSYS_RANKER (default: the shipped files in data/ranker/).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ..core.errors import RecsysError
from ..core.paths import COMENTIONS, DATA, RANKER
from ..ranking.features import FEATURES

log = logging.getLogger(__name__)

DEFAULT_TRAIN = DATA / "eval" / "redial" / "train_sample.jsonl"
DEFAULT_OUT = COMENTIONS


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The verb's own flags."""
    p.add_argument(
        "--data",
        nargs="+",
        default=[str(DEFAULT_TRAIN)],
        help="training dialogues (ReDial jsonl, IARD JSON or CRSLab jsonl; default: the ReDial train sample)",
    )
    p.add_argument("--out", default=str(DEFAULT_OUT), help=f"where to write the table (default {DEFAULT_OUT})")
    p.add_argument(
        "--model-out", default=str(RANKER), help=f"where to write the learned ranker (default {RANKER}, + .json)"
    )
    p.add_argument("--table-only", action="store_true", help="count the co-mention table only; no ranker")
    p.add_argument("--folds", type=int, default=5, help="co-mention folds while recording rows (default 5)")
    p.add_argument("--seed", type=int, default=0, help="LightGBM's seed (default 0)")


def run(args: argparse.Namespace) -> int:
    """Map every training dialogue's films to the catalog and count the pairs."""
    from ..catalog.comentions import CoMentions
    from ..catalog.sources import load_catalog
    from ..core.cli_args import settings_from
    from .conversation_samples import TitleMatcher
    from .dialogues import load_conversations

    settings = settings_from(args)
    conversations = [c for path in args.data for c in load_conversations(path)]  # a bad file fails first
    catalog = load_catalog(settings.catalog, settings.cache)
    matcher = TitleMatcher(catalog)
    mentions = mapped = 0
    dialogues = []
    for conv in conversations:
        ids = [matcher.match_mention(m) for turn in conv.turns for m in turn.mentions]
        mentions += len(ids)
        mapped += sum(i is not None for i in ids)
        dialogues.append([i for i in ids if i is not None])
    meta = {
        "catalog": settings.catalog,
        "catalog_items": len(catalog),
        "source": [Path(p).name for p in args.data],
        "dialogues": len(conversations),
        "mentions": mentions,
        "mapped": mapped,
    }
    table = CoMentions.count(dialogues, meta)
    table.meta["films"] = len(table)
    table.save(Path(args.out))
    print(
        f"co-mentions: {len(table)} films from {len(conversations)} dialogues ({mapped} of {mentions} mentions "
        f"mapped to the catalog) -> {args.out}"
    )
    if args.table_only:
        return 0
    if args.folds < 2:
        raise RecsysError(f"--folds must be at least 2 (got {args.folds}): rows need co-mentions they were not in")
    return _train_model(args, settings, conversations, matcher, meta)


def _train_model(args: argparse.Namespace, settings, conversations, matcher, meta: dict) -> int:
    """Record the engine's rows on the training dialogues, fit LambdaRank, save the model and how it was made."""
    import time

    from ..ranking.learned import LearnedRanker
    from .conversations import quiet_turns
    from .ranker_data import collect
    from .ranker_fit import fit
    from .replay import open_backend

    t0 = time.perf_counter()
    # Rows are recorded from the hand-set ranking (a model being trained must not choose its own lists) and
    # fact-built reasons (nothing is generated: minutes, not hours).
    run_settings = settings.with_overrides(explainer="template", ranker="none")
    with quiet_turns(getattr(args, "verbose", False)), open_backend(run_settings) as backend:
        groups = collect(backend.engine, conversations, matcher, folds=args.folds)
    booster, report = fit(list(groups.values()), seed=args.seed)
    ranker_meta = {
        **{k: meta[k] for k in ("catalog", "catalog_items", "source", "dialogues")},
        "features": list(FEATURES),
        "folds": args.folds,
        "recorded": {name: g.summary() for name, g in groups.items()},
        **report,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    LearnedRanker(booster, ranker_meta).save(Path(args.model_out))
    recorded = ", ".join(f"{n} {g.summary()['groups']} points" for n, g in groups.items())
    print(
        f"ranker: {report['trees']} trees on {recorded}, cross-validated NDCG@10 {report['cv_ndcg@10']:.3f} "
        f"-> {args.model_out} ({ranker_meta['seconds']:.0f} s)"
    )
    return 0
