"""Measure speed and memory and write JSON + Markdown reports: `python -m recsys bench [--quick] [--sections ...]`.

    python -m recsys bench --quick                        # minutes: smaller sizes, fewer repeats, no cold start
    python -m recsys bench                                # the full run (1M-item index, cold start): ~30+ minutes
    python -m recsys bench --sections turn,adapt --out bench/results

Sections: turn (latency breakdown over 50 fixed requests), index (exact vs FAISS at 10k/100k/1M), embedding
(sentence-transformers vs ONNX Runtime: throughput, query latency, top-10 overlap),
adapt (per-user head), concurrency (1/8/32 sessions through the engine and the Gradio server), startup (cold and
warm start, RSS), generation (TTFT and tokens/s per backend). Reports are named <date>-<machine>[-quick].json/.md.
Figures are medians and p95 over repeats; nothing here asserts a time: the targets table says met or missed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..bench.report import merges
from ..bench.targets import targets
from ..bench.util import machine_info, machine_slug
from ..core.config import settings_from_args

log = logging.getLogger(__name__)

SECTIONS = ("turn", "index", "embedding", "adapt", "concurrency", "startup", "generation")
ENGINE_SECTIONS = {"turn", "adapt", "concurrency"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The bench's own flags (the common ones come from the CLI)."""
    p.add_argument("--quick", action="store_true", help="smaller sizes and fewer repeats; skips the cold start")
    p.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}")
    p.add_argument("--out", default="bench/results", help="folder for the JSON and Markdown reports")
    p.add_argument("--sizes", help="index sizes, comma-separated (default 10000,100000[,1000000 without --quick])")
    p.add_argument("--cold", action="store_true", help="measure the cold start even with --quick")
    p.add_argument("--label", default="", help="extra word in the report names (e.g. before, after)")
    p.add_argument(
        "--merge",
        help="an earlier JSON report: the sections run now replace or join its own, and the "
        "reports are rewritten under its name (e.g. to finish a run cut short)",
    )


def _sections(text: str) -> list[str]:
    """Validated section names, in the canonical order."""
    wanted = {s.strip() for s in text.split(",") if s.strip()}
    unknown = wanted - set(SECTIONS)
    if unknown:
        from ..core.errors import ConfigError

        raise ConfigError(f"unknown bench sections: {', '.join(sorted(unknown))} (choose from {', '.join(SECTIONS)})")
    return [s for s in SECTIONS if s in wanted]


def measure(
    args: argparse.Namespace,
    settings,
    engine_factory: Callable[[], Any] | None = None,
    on_section: Callable[[dict[str, Any]], Any] | None = None,
) -> dict[str, Any]:
    """Run the chosen sections; each section's failure is recorded in the report instead of ending the run.
    `on_section(report)` runs after each section (the CLI rewrites the reports, so a cut-short run keeps its rows)."""
    from tqdm import tqdm

    sections = _sections(args.sections)
    report: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "quick": bool(args.quick),
        "sections": sections,
        "machine": machine_info(),
        "settings": {
            "catalog": settings.catalog,
            "generator": settings.generator,
            "device": settings.device,
            "candidates": settings.candidates,
            "index_backend": getattr(settings, "index_backend", "exact"),
            "max_new_tokens": settings.max_new_tokens,
        },
        "results": {},
    }
    bar = tqdm(total=len(sections), desc="bench", unit="section")
    progress = bar.set_postfix_str
    engine = None
    workdir = Path(tempfile.mkdtemp(prefix="recsys-bench-"))
    for name in sections:
        bar.set_description(f"bench: {name}")
        t0 = time.perf_counter()
        try:
            if name in ENGINE_SECTIONS and engine is None:
                engine = engine_factory() if engine_factory else _load_engine(settings)
                report["engine_load_s"] = round(time.perf_counter() - t0, 1)
            report["results"][name] = _run_section(name, args, settings, engine, workdir, progress)
        except Exception as e:  # a missing package or model: say so in the report, go on with the rest
            log.exception("bench section %s failed", name)
            report["results"][name] = {"error": f"{type(e).__name__}: {e}"[:500]}
        report["results"][name]["section_s"] = round(time.perf_counter() - t0, 1)
        report["targets"] = targets(report)
        if on_section:
            on_section(report)
        bar.update(1)
    bar.close()
    report["targets"] = targets(report)
    return report


def _load_engine(settings):
    """The product engine, loaded as the app loads it."""
    from ..engine import Engine

    return Engine.load(settings, progress=True)


def _run_section(name: str, args, settings, engine, workdir: Path, progress) -> dict[str, Any]:
    """Dispatch one section (imports stay here so --help and unrelated sections stay fast)."""
    if name == "turn":
        from ..bench.turn import run_turn

        return run_turn(engine, args.quick, progress)
    if name == "adapt":
        from ..bench.turn import run_adapt

        return run_adapt(engine, args.quick, progress)
    if name == "concurrency":
        from ..bench.turn import run_concurrency

        out = run_concurrency(engine, args.quick, progress)
        if "startup" not in args.sections:
            out["server"] = "measured with the startup section (it starts the server)"
        return out
    if name == "index":
        from ..bench.index import run_index

        sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else None
        parts = (engine.catalog, engine.index.encoder, engine.index.vectors) if engine is not None else None
        return run_index(settings, args.quick, sizes, progress, parts=parts)
    if name == "embedding":
        from ..bench.embedding import run_embedding

        return run_embedding(settings, args.quick, progress, catalog=engine.catalog if engine is not None else None)
    if name == "startup":
        from ..bench.serve import run_startup

        return run_startup(settings, args.quick, workdir, progress, cold=True if args.cold else None)
    from ..bench.generation import run_generation

    return run_generation(settings, args.quick, progress)


def write_reports(report: dict[str, Any], out: Path, label: str = "") -> tuple[Path, Path]:
    """<date>-<machine>[-quick][-label].json and .md under `out`."""
    from ..bench.report import markdown

    out.mkdir(parents=True, exist_ok=True)
    parts = [report["date"][:10], machine_slug(report["machine"])] + (["quick"] if report["quick"] else [])
    stem = "-".join(parts + ([label] if label else []))
    json_path, md_path = out / f"{stem}.json", out / f"{stem}.md"
    json_path.write_text(json.dumps(report, indent=1, ensure_ascii=False, default=str) + "\n")
    md_path.write_text(markdown(report))
    return json_path, md_path


def merged_report(base: dict[str, Any] | None, rep: dict[str, Any]) -> dict[str, Any]:
    """This run's sections on top of an earlier report's (same machine assumed; no earlier report: this one).
    Every merge is listed with its date and load, earlier merges included, so a report says which of its sections
    ran when."""
    if base is None:
        return rep
    out = {**base, "results": {**base["results"], **rep["results"]}}
    out["sections"] = [s for s in SECTIONS if s in out["results"]]
    out["merged"] = [
        *merges(base),
        {
            "sections": rep["sections"],
            "date": rep["date"],
            "load_average_at_start": rep["machine"]["load_average_at_start"],
        },
    ]
    out["targets"] = targets(out)
    return out


def run(args: argparse.Namespace) -> int:
    """The `bench` verb: measure, write both reports, print their paths and the targets."""
    settings = settings_from_args(args)
    base = json.loads(Path(args.merge).read_text()) if args.merge else None

    def save(rep: dict[str, Any]) -> tuple[Path, Path]:
        """Write the (combined) reports; a merge keeps the earlier report's file names."""
        rep = merged_report(base, rep)
        if base is not None:
            stem = Path(args.merge).with_suffix("")
            stem.with_suffix(".json").write_text(json.dumps(rep, indent=1, ensure_ascii=False, default=str) + "\n")
            from ..bench.report import markdown

            stem.with_suffix(".md").write_text(markdown(rep))
            return stem.with_suffix(".json"), stem.with_suffix(".md")
        return write_reports(rep, Path(args.out), args.label)

    report = measure(args, settings, on_section=save)
    json_path, md_path = save(report)
    report = merged_report(base, report)
    for t in report["targets"]:
        print(f"{t['status']:>6}  {t['target']}: {t['value']}")
    print(f"wrote {json_path} and {md_path}")
    return 0
