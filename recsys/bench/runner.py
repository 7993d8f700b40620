"""Measure speed and memory and write JSON + Markdown reports: `python -m recsys bench [--quick] [--sections ...]`.

    python -m recsys bench --quick                        # minutes: smaller sizes, fewer repeats, no cold start
    python -m recsys bench                                # the full run (1M-item index, cold start): ~30+ minutes
    python -m recsys bench --sections turn,adapt --out bench/results

Sections: turn (latency breakdown over 50 fixed requests), index (exact vs FAISS at 10k/100k/1M),
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
from ..bench.util import machine_info, machine_slug
from ..core.config import settings_from_args

log = logging.getLogger(__name__)

SECTIONS = ("turn", "index", "adapt", "concurrency", "startup", "generation")
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
    if name == "startup":
        from ..bench.serve import run_startup

        return run_startup(settings, args.quick, workdir, progress, cold=True if args.cold else None)
    from ..bench.generation import run_generation

    return run_generation(settings, args.quick, progress)


# --- targets --------------------------------------------------------------------------------------------------------
def _get(obj: Any, *path: Any) -> Any:
    """obj[path0][path1]..., None where any step is missing."""
    for key in path:
        try:
            obj = obj[key]
        except (KeyError, IndexError, TypeError):
            return None
    return obj


def _row(rows: Any, key: str, value: Any) -> dict[str, Any] | None:
    """The first row of a list whose `key` equals value."""
    return (
        next((r for r in rows if isinstance(r, dict) and r.get(key) == value), None) if isinstance(rows, list) else None
    )


def _check(
    name: str, value: Any, limit: float, unit: str, higher_is_better: bool = False, note: str = ""
) -> dict[str, Any]:
    """One line of the targets table."""
    if not isinstance(value, (int, float)):
        return {
            "target": name,
            "value": value if isinstance(value, str) else "not measured",
            "status": "n/a",
            "note": note,
        }
    ok = value >= limit if higher_is_better else value <= limit
    return {"target": name, "value": f"{value:g} {unit}", "status": "met" if ok else "missed", "note": note}


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The speed targets against this report's figures (p95 where a target says p95, else the median)."""
    r = report["results"]
    items = _get(r, "turn", "catalog_items")
    at = f"catalog of {items:,} items" if isinstance(items, int) else ""
    out = [
        _check(
            "non-generation turn p95 ≤ 60 ms (17k items)",
            _get(r, "turn", "without_generation", "turn_total", "p95"),
            60,
            "ms",
            note=at,
        )
    ]
    out += _index_targets(r)
    row20 = _row(_get(r, "adapt", "rows"), "events", 20)
    out.append(
        _check(
            "head adaptation (20 events) + scoring 200 ≤ 20 ms (p95)",
            _get(row20, "adapt_plus_score_ms", "p95"),
            20,
            "ms",
            note=_get(r, "adapt", "head") or "",
        )
    )
    out.append(
        _check(
            "time to first streamed token ≤ 1.5 s (p95)",
            _s(_get(r, "turn", "with_generation", "ttft", "p95")),
            1.5,
            "s",
            note=f"first turn after load: {_s(_get(r, 'turn', 'first_turn_after_load', 'ttft'))} s",
        )
    )
    explain_3 = _s(_get(r, "turn", "with_generation", "explain_3_items", "p95"))
    out.append(_check("three-item explanation ≤ 6 s on CPU (p95)", explain_3, 6, "s"))
    out += _llamacpp_targets(r)
    out += _gpu_targets(r)
    out.append(_check("warm start ≤ 20 s", _get(r, "startup", "warm_start_s"), 20, "s"))
    out.append(_check("first run ≤ 5 min", _get(r, "startup", "cold_start_s"), 300, "s"))
    idle = _get(r, "startup", "idle_rss_mb")
    out.append(
        _check("idle RSS ≤ 2.5 GB", round(idle / 1024, 2) if isinstance(idle, (int, float)) else idle, 2.5, "GB")
    )
    return out + _concurrency_targets(r)


def _index_targets(r: dict[str, Any]) -> list[dict[str, Any]]:
    """The largest index size's targets (turn p95 estimate, ANN recall); none until the index section has IVF."""
    derived = _get(r, "index", "derived") or []  # real-like vectors, real requests: the recall that counts
    sizes = derived or _get(r, "index", "synthetic") or []
    big = sizes[-1] if sizes else None
    if not (big and "ivf" in big):
        return []
    kind = "real-like vectors, real requests" if derived else "random vectors"
    turn_p95 = _get(r, "turn", "without_generation", "turn_total", "p95")
    search = _get(r, "turn", "without_generation", "vector_search", "median")
    ivf = _get(big, "ivf", "search_filtered", "p95")
    estimate = (
        turn_p95 - search + ivf
        if all(isinstance(x, (int, float)) for x in (turn_p95, search, ivf))
        else "needs the turn and index sections"
    )
    return [
        _check(
            f"non-generation turn p95 ≤ 100 ms at {big['items']:,} items (estimate)",
            estimate,
            100,
            "ms",
            note=f"17k turn p95 with the search swapped for IVF's filtered p95 ({kind})",
        ),
        _check(
            f"ANN recall@10 ≥ 0.95 at {big['items']:,} items",
            _get(big, "ivf", "recall@10"),
            0.95,
            "",
            higher_is_better=True,
            note=f"IVF {_get(big, 'ivf', 'setting')}, {kind}",
        ),
    ]


def _llamacpp_targets(r: dict[str, Any]) -> list[dict[str, Any]]:
    """The llama.cpp targets: the product's llama.cpp row against today's transformers row, same run."""
    rows = _get(r, "generation", "rows") or []
    row = next((x for x in rows if "llama.cpp" in str(x.get("variant")) and "product default" in x["variant"]), None)
    base = rows[0].get("variant", "") if rows else ""
    why = (row or {}).get("error") or "no generation section"
    return [
        _check(
            "llama.cpp tokens/s ≥ 5× transformers' (median)",
            _get(row, "tokens_per_s_ratio") if row and "error" not in row else why,
            5,
            "×",
            higher_is_better=True,
            note=f"against {base}",
        ),
        _check("llama.cpp first token ≤ 100 ms (p95)", _get(row, "ttft_ms", "p95") if row else why, 100, "ms"),
        _check(
            "llama.cpp three-film reply ≤ 1.5 s (p95)",
            _s(_get(row, "three_film_reply_ms", "p95")) if row else why,
            1.5,
            "s",
        ),
    ]


def _gpu_targets(r: dict[str, Any]) -> list[dict[str, Any]]:
    """Time to first token and tokens/s of the best CUDA variant; one n/a line without a CUDA device."""
    gpu_rows = [x for x in _get(r, "generation", "rows") or [] if str(x.get("variant", "")).startswith("cuda")]
    if not gpu_rows:
        return [_check("GPU TTFT ≤ 150 ms and ≥ 150 tok/s", "no CUDA device", 0, "")]
    best_ttft = min((_get(x, "ttft_ms", "median") or 1e9) for x in gpu_rows)
    best_rate = max((_get(x, "tokens_per_s", "median") or 0) for x in gpu_rows)
    return [
        _check("GPU time to first token ≤ 150 ms", best_ttft, 150, "ms"),
        _check("GPU ≥ 150 tokens/s", best_rate, 150, "tok/s", higher_is_better=True),
    ]


def _concurrency_targets(r: dict[str, Any]) -> list[dict[str, Any]]:
    """32 sessions against one, for the engine and the server, burst and paced: p95 ratio, and no errors."""
    out = []
    for where, key in (
        ("engine, burst", ("concurrency", "engine_without_generation")),
        ("engine, paced", ("concurrency", "engine_without_generation_paced")),
        ("server, burst", ("startup", "server_without_generation")),
        ("server, paced", ("startup", "server_without_generation_paced")),
    ):
        rows = _get(r, *key)
        one, many = _row(rows, "sessions", 1), _row(rows, "sessions", 32)
        if one and many and _get(one, "latency_ms", "p95"):
            ratio = round(many["latency_ms"]["p95"] / one["latency_ms"]["p95"], 2)
            out.append(
                _check(
                    f"32 sessions ({where}): p95 ≤ 4× one session, no errors",
                    ratio,
                    4,
                    "×",
                    note=f"errors: {many['errors']}",
                )
            )
            if many["errors"]:
                out[-1]["status"] = "missed"
        else:
            out.append(_check(f"32 sessions ({where}): p95 ≤ 4× one session, no errors", None, 4, "×"))
    return out


def _s(ms: Any) -> Any:
    """Milliseconds as seconds, passing non-numbers through."""
    return round(ms / 1000, 2) if isinstance(ms, (int, float)) else ms


# --- reports --------------------------------------------------------------------------------------------------------
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
