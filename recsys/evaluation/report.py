"""How good are the recommendations and explanations: `python -m recsys eval report [--out DIR]`.

    python -m recsys eval report --explainer template            # whole corpus, fact-built reasons (fast)
    python -m recsys eval report --explainer generate --limit 8  # explanation quality needs the real generator

Replays the dialogue corpus (data/dialogues) in-process and writes report.md, report.html, replay.json and PNG
plots to --out (default artifacts/eval): constraint satisfaction, Recall@k/NDCG@k on turns that name target
titles, catalog coverage, intra-list diversity, novelty; hallucinated-title rate, attribute-claim accuracy,
reply coverage, Distinct-1/2, reply length; the reasons' unsupported-claim rate, share citing a request match or
taste link and fallback rate; latency per stage (p50/p95), as measured by report_figures.py. Exit 1
when a reply names a title outside its list (the hallucinated-title rate must be 0), else 0: failed expectations
are replay's business.
"""

from __future__ import annotations

import argparse
import html
import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .replay import open_backend, run_scripts, settings_and_scripts
from .replay_results import ScriptResult, to_json
from .report_figures import STAGES, Report, measure


# --- plots -------------------------------------------------------------------------------------------------------
def plot(rep: Report, out: Path) -> None:
    """PNG plots next to the report (matplotlib, Agg backend: no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def save(fig, name: str, section: str) -> None:
        """Write one figure and remember which section shows it."""
        fig.tight_layout()
        fig.savefig(out / name, dpi=110)
        plt.close(fig)
        rep.plots[section] = name

    if rep.constraints:
        keys = list(rep.constraints)
        fig, ax = plt.subplots(figsize=(7, 0.3 * len(keys) + 1.2))
        ax.barh(keys, [h / c for h, c in rep.constraints.values()], color="#4c72b0")
        ax.set_xlim(0, 1)
        ax.set_xlabel("share of turns where the expectation held")
        ax.invert_yaxis()
        save(fig, "constraints.png", "constraints")
    if rep.latency:
        stages = [s for s in (*STAGES, "turn (wall)") if s in rep.latency]
        fig, ax = plt.subplots(figsize=(7, 3.2))
        x = range(len(stages))
        ax.bar([i - 0.2 for i in x], [rep.latency[s][0] for s in stages], 0.4, label="p50")
        ax.bar([i + 0.2 for i in x], [rep.latency[s][1] for s in stages], 0.4, label="p95")
        ax.set_xticks(list(x), stages, rotation=20)
        ax.set_ylabel("ms")
        ax.legend()
        save(fig, "latency.png", "latency")
    if rep.popularity:
        fig, ax = plt.subplots(figsize=(7, 3.2))
        ax.hist(rep.catalog_popularity, bins=20, range=(0, 1), density=True, alpha=0.5, label="catalog")
        ax.hist(rep.popularity, bins=20, range=(0, 1), density=True, alpha=0.5, label="shown")
        ax.set_xlabel("popularity (0 = obscure, 1 = best known)")
        ax.legend()
        save(fig, "novelty.png", "recommendations")
    if rep.claims:
        kinds = list(rep.claims)
        fig, ax = plt.subplots(figsize=(7, 3))
        ax.bar(kinds, [c / m for c, m in rep.claims.values()], color="#55a868")
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("claims backed by the facts")
        save(fig, "claims.png", "explanations")


# --- writing -----------------------------------------------------------------------------------------------------
def _fmt(value: Any) -> str:
    """Numbers for tables: ratios with 3 decimals, milliseconds whole, nan as n/a."""
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3f}"
    return str(value)


def sections(rep: Report) -> list[tuple[str, list[str], list[list[Any]], str, str]]:
    """(title, header, rows, plot section, note) of every section: one source for Markdown and HTML."""
    out = [
        ("Headline", ["figure", "value"], [[k, v] for k, v in rep.headline.items()], "", ""),
        ("Settings", ["setting", "value"], [[k, v] for k, v in rep.settings.items()], "", ""),
    ]
    out.append(
        (
            "Constraint satisfaction",
            ["expectation", "held", "checked", "rate"],
            [[k, h, c, h / c] for k, (h, c) in rep.constraints.items()],
            "constraints",
            "Per expectation key over every replayed turn that sets it.",
        )
    )
    out.append(
        (
            "Recommendation quality",
            ["script", "turn", "k", "Recall@k", "NDCG@k"],
            [[x["script"], x["turn"], x["k"], x["recall"], x["ndcg"]] for x in rep.ranking],
            "recommendations",
            "Turns whose script names target titles; coverage, diversity and novelty are in the headline.",
        )
    )
    out.append(
        (
            "Explanation quality",
            ["claim", "backed", "made", "accuracy"],
            [[k, c, m, c / m] for k, (c, m) in rep.claims.items()],
            "explanations",
            "Claims in reasons (director, cast, year, decade, runtime, genre) checked against the item's facts.",
        )
    )
    out.append(
        (
            "Latency per stage (ms)",
            ["stage", "p50", "p95", "turns"],
            [[s, p50, p95, n] for s, (p50, p95, n) in rep.latency.items()],
            "latency",
            "Stage timings from the engine (TurnEvent.timings_ms); 'turn (wall)' as measured by replay.",
        )
    )
    out.append(
        (
            "Problems",
            ["kind", "detail"],
            [["hallucinated title", h] for h in rep.hallucinations]
            + [["wrong claim", w] for w in rep.wrong_claims]
            + [["unsupported reason", u] for u in rep.unsupported]
            + [["failed script", f] for f in rep.failed],
            "",
            "",
        )
    )
    return out


def to_markdown(rep: Report) -> str:
    """The report as Markdown (tables and image links)."""
    lines = ["# recsys evaluation report", ""]
    for title, head, rows, plot_key, note in sections(rep):
        lines += [f"## {title}", ""] + ([note, ""] if note else [])
        if rows:
            lines.append("| " + " | ".join(head) + " |")
            lines.append("|" + "---|" * len(head))
            lines += ["| " + " | ".join(_fmt(v).replace("|", "\\|") for v in row) + " |" for row in rows]
        else:
            lines.append("(none)")
        if plot_key in rep.plots:
            lines += ["", f"![{title}]({rep.plots[plot_key]})"]
        lines.append("")
    return "\n".join(lines)


def to_html(rep: Report) -> str:
    """The same report as a standalone HTML page (every value escaped)."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>recsys evaluation report</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}</style></head><body>",
        "<h1>recsys evaluation report</h1>",
    ]
    for title, head, rows, plot_key, note in sections(rep):
        parts.append(f"<h2>{html.escape(title)}</h2>")
        if note:
            parts.append(f"<p>{html.escape(note)}</p>")
        if rows:
            parts.append("<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>")
            parts += ["<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row) + "</tr>" for row in rows]
            parts.append("</table>")
        else:
            parts.append("<p>(none)</p>")
        if plot_key in rep.plots:
            parts.append(f"<img src='{html.escape(rep.plots[plot_key])}' alt='{html.escape(title)}'>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write(rep: Report, results: Sequence[ScriptResult], out: Path) -> None:
    """report.md, report.html, replay.json, headline.json and the plots under out."""
    out.mkdir(parents=True, exist_ok=True)
    plot(rep, out)
    (out / "report.md").write_text(to_markdown(rep), encoding="utf-8")
    (out / "report.html").write_text(to_html(rep), encoding="utf-8")
    (out / "replay.json").write_text(json.dumps(to_json(results), ensure_ascii=False, indent=1), encoding="utf-8")
    (out / "headline.json").write_text(
        json.dumps(
            {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in rep.headline.items()}, indent=1
        ),
        encoding="utf-8",
    )


# --- CLI ---------------------------------------------------------------------------------------------------------
def add_arguments(p: argparse.ArgumentParser) -> None:
    """Flags of `eval report`."""
    p.add_argument("paths", nargs="*", metavar="PATH", help="scripts or folders (default: the corpus, data/dialogues)")
    p.add_argument("--out", default="artifacts/eval", help="folder for report.md, report.html and plots")
    p.add_argument(
        "--explainer",
        choices=("generate", "template"),
        help="generate (real generator: explanation metrics mean something) or template (fast)",
    )
    p.add_argument("--limit", type=int, metavar="N", help="only the first N scripts")
    p.add_argument("-k", dest="match", metavar="TEXT", help="only scripts whose name contains TEXT")


def run(args: argparse.Namespace) -> int:
    """Replay the corpus in-process, measure, write the report; 1 if any reply names an outside title."""
    settings, scripts = settings_and_scripts(args)
    if scripts is None:
        return 2
    t0 = time.perf_counter()
    with open_backend(settings) as backend:
        results = run_scripts(scripts, backend, seed=settings.seed, progress=True)
        engine = backend.engine
        rep = measure(
            results,
            engine.catalog,
            engine.guard,
            engine.index.vectors_for,
            settings={
                "explainer": settings.explainer,
                "catalog": settings.catalog,
                "generator": settings.generator,
                "scripts": len(scripts),
                "seconds": round(time.perf_counter() - t0, 1),
            },
        )
    out = Path(args.out)
    write(rep, results, out)
    print(f"report: {out / 'report.md'} and {out / 'report.html'}")
    for key, value in rep.headline.items():
        print(f"  {key}: {_fmt(value)}")
    return 1 if rep.headline["hallucinated-title rate"] > 0 else 0
