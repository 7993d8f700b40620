"""Learn the ranker's dialogue statistics from training conversations: `python -m recsys train-ranker`.

    python -m recsys train-ranker                                   # data/eval/redial/train_sample.jsonl
    python -m recsys train-ranker --data my_dialogues.jsonl --out my_comentions.json

Today that is the item-item co-mention table (recsys.catalog.comentions): for each film, the films named with it
in the same training dialogue, mapped to the catalog by title and year. Only TRAINING dialogues go in: the
validation sample chooses between variants (`eval conversations`), and ReDial's test split is never used.
The engine reads the table named by RECSYS_COMENTIONS (default: the shipped data/ranker/comentions.json).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ..core.paths import COMENTIONS, DATA

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
    return 0
