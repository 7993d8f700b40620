"""Intent parsing evaluation: lexicon vs generator vs merged, side by side on hand-labelled utterances.

    python -m recsys eval intents                         # data/eval/intents.jsonl, all three parsers
    python -m recsys eval intents --parsers lexicon --json out.json
    python -m recsys eval intents --limit 40              # a quick look (the generator takes ~1 s a message)

Label format (one JSON object a line; written by hand, see data/eval/intents.jsonl):
    {"text": "a 90s thriller, no gore", "intent": "recommend",
     "genres_include": ["Thriller"], "genres_exclude": ["Horror"], "year_min": 1990, "year_max": 1999}
`text` and `intent` are required; every other key is a slot of recsys.core.types.Intent (genres_include,
genres_exclude, year_min, year_max, people, titles, languages, countries, runtime_min, runtime_max, count,
refine, positions, feedback, ask, clear) and a missing slot means "empty". Genre, language and country names
are the catalog's; titles are catalog titles (matched case- and accent-insensitively); people are catalog names.
Conventions are in recsys/understanding/words.py's docstring ("a French film" = country, "in French" = language...).

Scoring: intent accuracy; per slot, every list element or non-null scalar is one (slot, value) pair, and
precision / recall / F1 count pairs over all utterances (micro-averaged over slots for the headline);
exclusion recall is the recall of genres_exclude pairs (serving a ruled-out genre is the worst failure);
latency is wall time of each parse call (mean and p95, ms). The query text is not scored (it is free text).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..core.config import settings_from_args
from ..core.errors import RecsysError
from ..core.paths import INTENTS

log = logging.getLogger(__name__)

DEFAULT_DATA = INTENTS
SLOTS = (
    "genres_include",
    "genres_exclude",
    "year_min",
    "year_max",
    "people",
    "titles",
    "languages",
    "countries",
    "runtime_min",
    "runtime_max",
    "count",
    "refine",
    "positions",
    "feedback",
    "ask",
    "clear",
)
INTENTS = ("recommend", "refine", "more", "feedback", "ask", "reset", "chitchat")
PARSERS = ("lexicon", "llm", "merged")


class LabelError(RecsysError):
    """A labelled file is malformed; the message names the file and line."""


def load_labels(path: Path | str) -> list[dict[str, Any]]:
    """Labelled utterances from a JSONL file, checked (LabelError names the line)."""
    path = Path(path)
    if not path.is_file():
        raise LabelError(f"labelled file not found: {path}")
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path.name} line {number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise LabelError(f"{where}: invalid JSON ({e.msg})") from None
        if not isinstance(row, dict) or not isinstance(row.get("text"), str):
            raise LabelError(f"{where}: needs an object with a 'text' string")
        if row.get("intent") not in INTENTS:
            raise LabelError(f"{where}: 'intent' must be one of {', '.join(INTENTS)}, got {row.get('intent')!r}")
        unknown = set(row) - set(SLOTS) - {"text", "intent", "note"}
        if unknown:
            raise LabelError(f"{where}: unknown keys {sorted(unknown)} (slots are {', '.join(SLOTS)})")
        rows.append(row)
    if not rows:
        raise LabelError(f"{path.name}: no labelled utterances")
    return rows


def _norm(value: Any) -> Any:
    """Case- and accent-insensitive strings, so "Amélie" and "amelie" are one title."""
    if isinstance(value, str):
        import unicodedata

        return unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode().lower().strip()
    return value


def pairs(record: dict[str, Any]) -> set[tuple[str, Any]]:
    """(slot, value) pairs of a label or a parsed intent dict; empty lists and nulls give none."""
    out = set()
    for slot in SLOTS:
        value = record.get(slot)
        if value is None or value == [] or value == ():
            continue
        for v in value if isinstance(value, (list, tuple)) else [value]:
            out.add((slot, _norm(v)))
    return out


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    """Precision, recall, F1 (1.0 when there is nothing to find and nothing was claimed)."""
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0, "support": tp + fn}


def score(
    labels: Sequence[dict[str, Any]], predicted: Sequence[dict[str, Any]], latencies_ms: Sequence[float]
) -> dict[str, Any]:
    """Every figure of one parser over the labelled set."""
    counts = {s: [0, 0, 0] for s in SLOTS}  # tp, fp, fn
    correct = 0
    errors = []
    for gold, pred in zip(labels, predicted):
        correct += gold["intent"] == pred.get("intent")
        want, got = pairs(gold), pairs(pred)
        for slot, _ in want & got:
            counts[slot][0] += 1
        for slot, _ in got - want:
            counts[slot][1] += 1
        for slot, _ in want - got:
            counts[slot][2] += 1
        if gold["intent"] != pred.get("intent") or want != got:
            errors.append(
                {
                    "text": gold["text"],
                    "intent": [gold["intent"], pred.get("intent")],
                    "missed": sorted(map(str, want - got)),
                    "extra": sorted(map(str, got - want)),
                }
            )
    total = [sum(c[i] for c in counts.values()) for i in range(3)]
    lat = sorted(latencies_ms)
    p95 = lat[min(len(lat) - 1, int(round(0.95 * (len(lat) - 1))))] if lat else 0.0
    return {
        "n": len(labels),
        "intent_accuracy": correct / len(labels) if labels else 0.0,
        "slots": {s: _prf(*c) for s, c in counts.items()},
        "micro": _prf(*total),
        "exclusion_recall": _prf(*counts["genres_exclude"])["recall"],
        "latency_ms": {"mean": sum(lat) / len(lat) if lat else 0.0, "p95": p95},
        "errors": errors,
    }


def evaluate(parse: Callable[[str], Any], labels: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Run one parser over every utterance, timing each call."""
    predicted, latencies = [], []
    for row in labels:
        t = time.perf_counter()
        intent = parse(row["text"])
        latencies.append((time.perf_counter() - t) * 1000.0)
        predicted.append(intent.to_dict())
    return score(labels, predicted, latencies)


def format_table(results: dict[str, dict[str, Any]]) -> str:
    """Parsers side by side: headline figures, then per-slot F1."""
    names = list(results)
    width = 10
    lines = ["metric".ljust(22) + "".join(n.rjust(width) for n in names)]

    def row(label: str, get: Callable[[dict[str, Any]], float], fmt: str = "{:.3f}") -> None:
        """One figure for every parser, in its column."""
        lines.append(label.ljust(22) + "".join(fmt.format(get(results[n])).rjust(width) for n in names))

    row("intent accuracy", lambda r: r["intent_accuracy"])
    row("slot micro precision", lambda r: r["micro"]["precision"])
    row("slot micro recall", lambda r: r["micro"]["recall"])
    row("slot micro F1", lambda r: r["micro"]["f1"])
    row("exclusion recall", lambda r: r["exclusion_recall"])
    row("latency mean (ms)", lambda r: r["latency_ms"]["mean"], "{:.1f}")
    row("latency p95 (ms)", lambda r: r["latency_ms"]["p95"], "{:.1f}")
    if any("generator_calls" in r for r in results.values()):
        row("generator calls", lambda r: r.get("generator_calls", 0), "{:.0f}")
    lines.append("per-slot F1 (support)")
    first = results[names[0]]["slots"]
    for slot in SLOTS:
        if first[slot]["support"] or any(results[n]["slots"][slot]["precision"] < 1 for n in names):
            row(f"  {slot} ({first[slot]['support']})", lambda r, s=slot: r["slots"][s]["f1"])
    return "\n".join(lines)


def build_parsers(settings, which: Sequence[str]) -> dict[str, Any]:
    """The requested parsers over the configured catalog (the generator is loaded only when needed)."""
    import numpy as np

    from ..catalog.graph import Graph
    from ..catalog.sources import load_catalog
    from ..understanding.lexicon import LexiconParser

    catalog = load_catalog(settings.catalog, settings.cache, progress=False)
    newest = int(np.nanmax(catalog.years)) if np.isfinite(catalog.years).any() else 2014
    lexicon = LexiconParser(catalog.genres, newest_year=newest, graph=Graph.from_catalog(catalog))
    out: dict[str, Any] = {}
    if "lexicon" in which:
        out["lexicon"] = lexicon
    if "llm" in which or "merged" in which:
        from ..core.types import Intent
        from ..generation.llm import load_generator
        from ..understanding.generator_parser import LLMParser, MergedParser

        llm = LLMParser(load_generator(settings), catalog.genres)
        if "llm" in which:

            class Alone:
                """The generator alone: an invalid answer counts as an empty recommend intent."""

                def parse(self, text: str) -> Intent:
                    """The generator's Intent, or an empty recommend one when its JSON did not validate."""
                    return llm.parse(text) or Intent(source="llm")

            out["llm"] = Alone()
        if "merged" in which:
            out["merged"] = MergedParser(lexicon, llm)
    return {name: out[name] for name in which}


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Flags of `eval intents`."""
    p.add_argument("--data", default=str(DEFAULT_DATA), help="labelled JSONL (default data/eval/intents.jsonl)")
    p.add_argument("--parsers", default=",".join(PARSERS), help="comma-separated: lexicon,llm,merged (default all)")
    p.add_argument("--limit", type=int, default=0, help="only the first N utterances (0 = all)")
    p.add_argument("--json", dest="json_out", help="write every figure (and each parser's errors) to this file")
    p.add_argument("--errors", type=int, default=0, help="print the first N mistakes of each parser")


def run(args: argparse.Namespace) -> int:
    """Evaluate the parsers and print the table (and write JSON)."""
    which = [w.strip() for w in args.parsers.split(",") if w.strip()]
    bad = [w for w in which if w not in PARSERS]
    if bad or not which:
        raise RecsysError(f"--parsers takes a comma-separated list of {', '.join(PARSERS)}; got {args.parsers!r}")
    labels = load_labels(args.data)
    if args.limit and args.limit > 0:
        labels = labels[: args.limit]
    parsers = build_parsers(settings_from_args(args), which)
    results = {}
    for name, parser in parsers.items():
        results[name] = evaluate(parser.parse, labels)
        if name != "lexicon":  # the generator alone is asked every time; merged only when it can help
            results[name]["generator_calls"] = getattr(parser, "calls", len(labels))
        log.info("%s: done", name)
    print(f"{len(labels)} labelled utterances from {args.data}")
    print(format_table(results))
    for name in results:
        for err in results[name]["errors"][: args.errors]:
            print(f"[{name}] {json.dumps(err, ensure_ascii=False)}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str))
        print(f"wrote {args.json_out}")
    return 0
