"""The claim checker against reasons labelled by hand: `python -m recsys eval reasons`.

    python -m recsys eval reasons                                   # P/R on the development and held-out sets
    python -m recsys eval reasons --sample OUT.jsonl --limit 40     # new unlabelled reasons from the generator
    python -m recsys eval reasons --sample OUT.jsonl --skip 40      # ... from dialogues the labelled sets left out

A labelled row holds what the checker sees (the request, the film, its evidence) and what the generator wrote,
with `grounded` (true: every claim in it is backed by the evidence, the catalog facts or the request) and `why`,
written by a person reading the reason against its facts. The report is the checker's (explain/claims.py
`unsupported`, the product's own rule, with the catalog's title guard) precision and recall on "not grounded".

Three sets, each reported on its own: `reasons.jsonl` (corpus scripts and ReDial dialogues 1-40) is the development
set the checker's rules were written against; `reasons_heldout.jsonl` (scripts and dialogues 41-67, `--skip 40`)
was held out until its figures showed one rule missing ("as you asked" after what was not asked), which was then
written, so it is no longer unseen; `reasons_heldout2.jsonl` (ReDial dialogues 68-98, `--skip 67`) was sampled
after that, labelled before the checker's verdicts were read, and is never tuned on: its figures are the honest
ones. Intervals are bootstrapped over dialogues.

Sampling replays dialogues with fact-built reasons (fast) and, at the last recommending turn of each, asks the
generator for every pick's sentence exactly as the explainer prompts it, but keeps what it wrote whole (the
explainer would stop a stream at its first problem): both the corpus scripts (data/dialogues) and the seeker's
messages of ReDial dialogues (data/eval/redial).
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

from ..core.errors import RecsysError
from ..core.paths import DATA
from ..explain.claims import unsupported
from ..explain.evidence import Evidence
from ..explain.explainer import STOP, clean_reason, finish, item_messages
from ..explain.grounding import TitleGuard
from ..generation.stream import close_stream

log = logging.getLogger(__name__)

LABELS = DATA / "eval" / "reasons.jsonl"
HELDOUT = DATA / "eval" / "reasons_heldout.jsonl"
HELDOUT2 = DATA / "eval" / "reasons_heldout2.jsonl"
REDIAL = DATA / "eval" / "redial" / "valid_sample.jsonl"
SCRIPTS = DATA / "dialogues"
REDIAL_MESSAGES = 4  # seeker messages played per ReDial dialogue (the first ones say what they want)


# --- measuring the checker ----------------------------------------------------------------------------------------
def read_labels(path: Path) -> list[dict]:
    """The labelled rows (rows without a `grounded` label are skipped)."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in rows if isinstance(r.get("grounded"), bool)]


def check(rows: Sequence[dict], catalog: Any, guard: TitleGuard, draws: int = 1000) -> dict[str, Any]:
    """The checker on every labelled row: counts, precision and recall on "not grounded" with 95% bootstrap
    intervals over dialogues (one dialogue's reasons share a request and repeat each other), and the disagreements."""
    outcomes: list[tuple[str, bool, bool]] = []  # (dialogue, labelled not grounded, flagged)
    misses, false_alarms = [], []
    for r in rows:
        item = catalog.get(r["item_id"])
        if item is None:
            continue
        problems = unsupported(r["reason"], item, Evidence.from_dict(r.get("evidence")), r.get("request", ""), guard)
        bad = not r["grounded"]
        outcomes.append((str(r.get("source", r["id"])).split(" #")[0], bad, bool(problems)))
        if bad and not problems:
            misses.append(f"{r['id']}: “{r['reason']}” ({r.get('why', '')})")
        elif problems and not bad:
            false_alarms.append(f"{r['id']}: {', '.join(problems)} in “{r['reason']}”")
    tp, fp, fn = _counts(outcomes)
    (p_low, p_high), (r_low, r_high) = _intervals(outcomes, draws)
    return {
        "rows": len(outcomes),
        "dialogues": len({d for d, _, _ in outcomes}),
        "not grounded (labels)": tp + fn,
        "flagged by the checker": tp + fp,
        "precision": _ratio(tp, tp + fp),
        "precision 95% CI": [p_low, p_high],
        "recall": _ratio(tp, tp + fn),
        "recall 95% CI": [r_low, r_high],
        "misses": misses,
        "false alarms": false_alarms,
    }


def _counts(outcomes: Sequence[tuple[str, bool, bool]]) -> tuple[int, int, int]:
    """(true positives, false positives, false negatives) on "not grounded"."""
    tp = sum(bad and flagged for _, bad, flagged in outcomes)
    fp = sum(flagged and not bad for _, bad, flagged in outcomes)
    fn = sum(bad and not flagged for _, bad, flagged in outcomes)
    return tp, fp, fn


def _ratio(num: int, den: int) -> float:
    return num / den if den else float("nan")


def _intervals(outcomes: Sequence[tuple[str, bool, bool]], draws: int, seed: int = 0) -> list[tuple[float, float]]:
    """[(low, high) of precision, (low, high) of recall]: the 2.5th and 97.5th percentiles over the same seeded
    draws of dialogues with replacement."""
    import math

    import numpy as np

    by_dialogue: dict[str, list[tuple[str, bool, bool]]] = {}
    for o in outcomes:
        by_dialogue.setdefault(o[0], []).append(o)
    groups = list(by_dialogue.values())
    values: list[list[float]] = [[], []]  # precision, recall per draw
    rng = np.random.default_rng(seed)
    for _ in range(draws if groups else 0):
        tp, fp, fn = _counts([o for i in rng.integers(0, len(groups), len(groups)) for o in groups[i]])
        for kept, value in zip(values, (_ratio(tp, tp + fp), _ratio(tp, tp + fn))):
            if not math.isnan(value):  # a draw with no flagged (or no ungrounded) row has none
                kept.append(value)
    nan = (float("nan"), float("nan"))
    return [tuple(round(float(v), 3) for v in np.percentile(kept, [2.5, 97.5])) if kept else nan for kept in values]


# --- sampling new reasons -----------------------------------------------------------------------------------------
def script_steps(path: Path) -> list[tuple]:
    """A corpus script as steps: ("say", text) and ("vote", position, liked)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    steps: list[tuple] = []
    for turn in data.get("turns") or []:
        if "user" in turn:
            steps.append(("say", str(turn["user"])))
        elif "feedback" in turn and isinstance(turn["feedback"].get("item"), int):
            steps.append(("vote", turn["feedback"]["item"], bool(turn["feedback"].get("liked"))))
    return steps


def redial_steps(path: Path, limit: int, skip: int = 0) -> Iterator[tuple[str, list[tuple]]]:
    """(name, steps) per ReDial dialogue after the first `skip`: its first seeker messages, films written as titles."""
    from .dialogues import SEEKER, load_conversations

    for conv in load_conversations(path)[skip : skip + limit]:
        said = [("say", t.text) for t in conv.turns if t.speaker == SEEKER and len(t.text.split()) > 2]
        if said:
            yield f"redial {conv.conversation_id}", said[:REDIAL_MESSAGES]


def facts(item: Any) -> dict[str, Any]:
    """The catalog facts a labeller reads a reason against."""
    a = item.attributes
    keep = ("runtime", "language", "country", "oscars", "awards", "imdb_rating", "tomato_meter", "popularity")
    return {
        "genres": list(item.tags),
        "director": item.people("director"),
        "cast": item.lead_cast()[:6],
        **{k: a[k] for k in keep if a.get(k) not in (None, "", [])},
    }


def raw_reason(generator: Any, item: Any, request: str, ev: Evidence, max_new_tokens: int) -> str:
    """What the generator writes for one pick, prompted as the explainer does, cleaned but not checked."""
    pieces = generator.stream(item_messages(item, request, ev), max_new_tokens, STOP)
    try:
        return finish(clean_reason("".join(pieces), item.title))
    finally:
        close_stream(pieces)


def sample_dialogue(engine: Any, name: str, steps: Sequence[tuple]) -> list[dict]:
    """Play one dialogue (fact-built reasons), then generate every pick's reason at its last recommending turn."""
    sid, last, done = engine.new_session(), [], None
    for step in steps:
        if step[0] == "vote":
            if 0 < step[1] <= len(last):
                engine.feedback(sid, last[step[1] - 1].item_id, step[2])
            continue
        end = list(engine.respond(sid, step[1]))[-1]
        if end.items:
            last, done = [r.item for r in end.items], (step[1], end)
    if done is None:
        return []
    request, end = done
    rows = []
    for n, (rec, ev_dict) in enumerate(zip(end.items, end.details.get("evidence") or [])):
        ev = Evidence.from_dict(ev_dict)
        text = raw_reason(engine.generator, rec.item, request, ev, engine.settings.max_new_tokens)
        rows.append(
            {
                "id": "",
                "source": f"{name} #{n + 1}",
                "request": request,
                "item_id": rec.item.item_id,
                "title": rec.item.label(),
                "facts": facts(rec.item),
                "evidence": ev_dict,
                "reason": text,
                "checker": unsupported(text, rec.item, ev, request, engine.guard),
                "grounded": None,
                "why": "",
            }
        )
    return rows


def sample(settings: Any, limit: int, out: Path, skip: int = 0) -> int:
    """Write unlabelled reasons from `limit` corpus scripts and `limit` ReDial dialogues, each after the first
    `skip` (in name / file order); returns the row count."""
    from .replay import open_backend

    dialogues = [(p.stem, script_steps(p)) for p in sorted(SCRIPTS.glob("*.yaml"))[skip : skip + limit]]
    dialogues += list(redial_steps(REDIAL, limit, skip))
    rows: list[dict] = []
    with open_backend(settings.with_overrides(explainer="template")) as backend:
        for name, steps in dialogues:
            rows += sample_dialogue(backend.engine, name, steps)
            print(f"{len(rows)} reasons ({name})", flush=True)
    for n, row in enumerate(rows, start=1):
        row["id"] = f"s{n:03d}"
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return len(rows)


# --- CLI ---------------------------------------------------------------------------------------------------------
def add_arguments(p: argparse.ArgumentParser) -> None:
    """Flags of `eval reasons`."""
    p.add_argument(
        "--data",
        action="append",
        help="labelled reasons (JSON lines); repeatable (default: the development and both held-out sets)",
    )
    p.add_argument("--sample", metavar="OUT", help="instead: write unlabelled reasons from the generator to OUT")
    p.add_argument("--limit", type=int, default=30, help="with --sample: corpus scripts and ReDial dialogues each")
    p.add_argument("--skip", type=int, default=0, help="with --sample: start after this many of each")
    p.add_argument("--json", metavar="PATH", help="also write the figures as JSON")


def run(args: argparse.Namespace) -> int:
    """Print the checker's precision and recall on the labels (or write a new sample); 0 when it ran."""
    from ..catalog.sources import load_catalog
    from ..core.config import settings_from_args

    settings = settings_from_args(args)
    if args.sample:
        print(f"{sample(settings, args.limit, Path(args.sample), args.skip)} reasons written to {args.sample}")
        return 0
    paths = [Path(p) for p in args.data] if args.data else [p for p in (LABELS, HELDOUT, HELDOUT2) if p.exists()]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise RecsysError(f"no labelled reasons at {', '.join(missing)}")
    catalog = load_catalog(settings.catalog, settings.cache, progress=False)
    guard = TitleGuard(it.title for it in catalog.items)
    results = {p.name: check(read_labels(p), catalog, guard) for p in paths}
    for name, result in results.items():
        print(f"== {name}")
        for key, value in result.items():
            if key.endswith("CI"):
                print(f"{key}: [{value[0]:.3f}, {value[1]:.3f}]")
            elif isinstance(value, list):
                print(f"{key} ({len(value)}):" + "".join(f"\n  {v}" for v in value))
            else:
                print(f"{key}: {value:.3f}" if isinstance(value, float) else f"{key}: {value}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0
