"""The recommender on real human dialogues: `python -m recsys eval conversations`.

    python -m recsys eval conversations --json out.json --md out.md --png out.png    # ReDial valid sample
    python -m recsys eval conversations --data data/eval/redial/train_sample.jsonl --limit 150
    python -m recsys eval conversations --data test.jsonl --protocol transcript       # a CRSLab file

At every recommender message that names films not mentioned before, those films (mapped to the catalog) are the
targets (evaluation/conversation_samples.py); the app's list there (evaluation/conversation_protocols.py: replay
sends the seeker's messages only, transcript rebuilds the whole context) and three baselines on the same samples
(evaluation/baselines.py: popularity, raw embedding retrieval, co-mention counts from --train) are scored with
Recall@1/5/10/50, NDCG@10 and MRR per target, with 95% bootstrap intervals over dialogues
(evaluation/conversation_metrics.py). Reasons are fact-built (explainer "template"): nothing is generated, so a
run over 98 dialogues takes minutes on 2 CPU cores. Layouts read: ReDial jsonl, UserSimCRS/IARD JSON, CRSLab
jsonl (evaluation/dialogues.py). Exit 0 when figures were written.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from ..core.config import settings_from_args
from ..core.errors import RecsysError
from ..core.paths import DATA
from .baselines import CoMention, Embedding, Popularity
from .conversation_metrics import DEPTH, METRICS, paired_difference, summarise, target_scores
from .conversation_protocols import replay_lists, transcript_lists
from .conversation_report import HEADLINE, plot_recall, to_markdown, write_json
from .conversation_samples import Sample, TitleMatcher, extract_samples
from .dialogues import load_conversations

log = logging.getLogger(__name__)

REDIAL = DATA / "eval" / "redial"
DEFAULT_DATA = REDIAL / "valid_sample.jsonl"
DEFAULT_TRAIN = REDIAL / "train_sample.jsonl"
PROTOCOLS = {"replay": replay_lists, "transcript": transcript_lists}


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Flags of `eval conversations`."""
    p.add_argument(
        "--data",
        default=str(DEFAULT_DATA),
        help="dialogues: ReDial jsonl, IARD JSON or CRSLab jsonl (default: the ReDial valid sample)",
    )
    p.add_argument(
        "--train",
        default=str(DEFAULT_TRAIN),
        help="dialogues the co-mention baseline counts (default: the ReDial train sample)",
    )
    p.add_argument(
        "--protocol",
        choices=("replay", "transcript", "both"),
        default="both",
        help="replay: the seeker's messages only; transcript: the whole context rebuilt (default both)",
    )
    p.add_argument("--json", metavar="PATH", help="write every figure as JSON")
    p.add_argument("--md", metavar="PATH", help="write a Markdown summary")
    p.add_argument("--png", metavar="PATH", help="write a Recall@10 bar plot with 95%% intervals")
    p.add_argument("--limit", type=int, metavar="N", help="only the first N dialogues of --data")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap draws (default 0)")
    p.add_argument("--draws", type=int, default=1000, help="bootstrap draws (default 1000)")


@contextmanager
def open_engine(settings) -> Iterator:
    """An engine in this process over a throwaway database (tests replace this with a tiny engine)."""
    from .replay import open_backend

    with open_backend(settings) as backend:
        yield backend.engine


@contextmanager
def quiet_turns(verbose: bool) -> Iterator[None]:
    """The engine's one INFO line per turn is thousands of lines here: WARNING and up unless --verbose."""
    engine_log = logging.getLogger("recsys.engine")
    old = engine_log.level
    if not verbose:
        engine_log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        engine_log.setLevel(old)


def score(lists: Mapping[tuple[int, int], Sequence[str]], samples: Sequence[Sample]) -> dict[str, list[float]]:
    """Per-target metric columns of one method, in the samples' target order."""
    columns: dict[str, list[float]] = {m: [] for m in METRICS}
    for s in samples:
        for row in target_scores(lists.get((s.dialogue, s.turn), []), s.targets):
            for m in METRICS:
                columns[m].append(row[m])
    return columns


def evaluate(
    engine,
    conversations: Sequence,
    train: Sequence,
    protocols: Sequence[str],
    seed: int = 0,
    draws: int = 1000,
    progress: bool = True,
) -> dict:
    """Every method's figures on the same samples, per protocol: the result dict the report writers take."""
    matcher = TitleMatcher(engine.catalog)
    samples, counts = extract_samples(conversations, matcher)
    if not samples:
        raise RecsysError(f"no sample to score: none of {counts.targets} target films maps to the catalog")
    groups = [s.dialogue for s in samples for _ in s.targets]
    baselines = [Popularity(engine.catalog), Embedding(engine.index), CoMention.fit(train, matcher, engine.catalog)]
    columns = {b.name: score({(s.dialogue, s.turn): b.rank(s, DEPTH) for s in samples}, samples) for b in baselines}
    result: dict = {"counts": counts.to_dict(), "methods": {}, "vs_popularity": {}, "app_stats": {}, "seconds": {}}
    for protocol in protocols:
        t0 = time.perf_counter()
        lists, stats = PROTOCOLS[protocol](engine, conversations, samples, progress=progress)
        result["seconds"][protocol] = round(time.perf_counter() - t0, 1)
        result["app_stats"][protocol] = stats.to_dict()
        methods = {"app": score(lists, samples), **columns}
        result["methods"][protocol] = {n: summarise(c, groups, draws, seed) for n, c in methods.items()}
        result["vs_popularity"][protocol] = {
            n: paired_difference(c[HEADLINE], columns["popularity"][HEADLINE], groups, draws, seed)
            for n, c in methods.items()
            if n != "popularity"
        }
        log.info(
            "%s: app %s = %.3f over %d targets (%.0f s)",
            protocol,
            HEADLINE,
            result["methods"][protocol]["app"][HEADLINE]["value"],
            len(groups),
            result["seconds"][protocol],
        )
    return result


def _notes(args: argparse.Namespace, same_train: bool) -> list[str]:
    """What a reader of the figures must know."""
    notes = [
        "Baselines do not depend on the protocol: their rows are the same in each table.",
        "Recall@k counts each target on its own (CRSLab); MRR is within the 50-deep list.",
        "The app's lists are its own (count = Settings.max_count); Recall@50 and MRR extend them with the "
        "same ranking run 50 deep (see evaluation/conversation_protocols.py).",
        "Films after the catalog's last year (2014) cannot map; samples with no mapped target are not scored.",
    ]
    if same_train:
        notes.append("WARNING: --train is the evaluated file: the co-mention baseline has seen these dialogues.")
    if args.limit:
        notes.append(f"Only the first {args.limit} dialogues of the file (--limit).")
    return notes


def run(args: argparse.Namespace) -> int:
    """Load the dialogues and the engine, score every method under each protocol, write what was asked."""
    settings = settings_from_args(args, explainer="template")  # fact-built reasons: nothing generated, minutes
    conversations = load_conversations(args.data)  # a bad file fails before any model loads
    if args.limit:
        conversations = conversations[: args.limit]
    train = load_conversations(args.train)
    same_train = Path(args.train).resolve() == Path(args.data).resolve()
    if same_train:
        log.warning("--train is the evaluated file: the co-mention baseline has seen these dialogues")
    protocols = ("replay", "transcript") if args.protocol == "both" else (args.protocol,)
    t0 = time.perf_counter()
    with quiet_turns(getattr(args, "verbose", False)), open_engine(settings) as engine:
        result = evaluate(engine, conversations, train, protocols, seed=args.seed, draws=args.draws)
        result["settings"] = {
            "catalog": settings.catalog,
            "catalog_items": len(engine.catalog),
            "explainer": settings.explainer,
            "parser": settings.parser,
            "head": settings.head or "default",
            "ranker": settings.ranker or "default",
            "count": settings.max_count,
            "candidates": settings.candidates,
        }
    result.update(
        data=_shown(args.data),
        train=_shown(args.train),
        protocols=list(protocols),
        seed=args.seed,
        draws=args.draws,
        limit=args.limit,
        total_seconds=round(time.perf_counter() - t0, 1),
        notes=_notes(args, same_train),
    )
    if args.png:
        plot_recall(result, Path(args.png))
        result["plot"] = str(Path(args.png).name)
    if args.json:
        write_json(result, Path(args.json))
    if args.md:
        Path(args.md).parent.mkdir(parents=True, exist_ok=True)
        Path(args.md).write_text(to_markdown(result), encoding="utf-8")
    _print_summary(result)
    return 0


def _shown(path: str | Path) -> str:
    """A path as a reader would type it: relative to the working folder when inside it."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _print_summary(result: dict) -> None:
    """The headline figures on stdout: counts, then Recall@10 with its interval per method and protocol."""
    c = result["counts"]
    print(f"{c['dialogues']} dialogues, {c['samples']} samples, targets mapped {c['targets_mapped']}/{c['targets']}")
    for protocol, methods in result["methods"].items():
        for name, table in methods.items():
            cell = table[HEADLINE]
            print(f"  {protocol:<10} {name:<11} {HEADLINE} {cell['value']:.3f} [{cell['low']:.3f}, {cell['high']:.3f}]")
