"""The conversation evaluation's outputs: the JSON figures, a Markdown summary and a Recall@10 bar plot.

    write_json(result, path); path.write_text(to_markdown(result)); plot_recall(result, png)

`result` is the plain dict built by evaluation/conversations.py: counts, per-protocol metrics with 95% CIs for
every method, the paired differences to popularity, and what happened while the app was asked.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from .conversation_metrics import METRICS

HEADLINE = "recall@10"


def _clean(value: Any) -> Any:
    """NaN as null, recursively, so the JSON is standard."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def write_json(result: dict, path: Path) -> None:
    """The whole result as indented JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_clean(result), ensure_ascii=False, indent=1), encoding="utf-8")


def _ci(cell: dict[str, float]) -> str:
    """ "0.123 [0.100, 0.150]", or n/a."""
    if cell is None or cell.get("value") is None or math.isnan(cell["value"]):
        return "n/a"
    return f"{cell['value']:.3f} [{cell['low']:.3f}, {cell['high']:.3f}]"


def to_markdown(result: dict) -> str:
    """The figures as Markdown: counts, one metrics table per protocol, then the notes."""
    c = result["counts"]
    lines = [
        "# Conversations: the recommender on real dialogues",
        "",
        f"Data: `{result['data']}` ({c['dialogues']} dialogues); co-mention trained on `{result['train']}`. "
        f"95% bootstrap intervals over dialogues ({result['draws']} draws, seed {result['seed']}).",
        "",
        "| count | value |",
        "|---|---|",
    ]
    share = c["targets_mapped"] / c["targets"] if c["targets"] else math.nan
    rows = [
        ("dialogues (with a scored point)", f"{c['dialogues']} ({c['dialogues_scored']})"),
        ("recommender turns naming new films", c["points"]),
        ("samples scored (≥1 target in the catalog)", c["samples"]),
        ("targets mapped / total", f"{c['targets_mapped']} / {c['targets']} ({share:.1%})"),
        ("unmapped targets from after the catalog's last year", c["targets_after_catalog"]),
        ("mentions mapped / total", f"{c['mentions_mapped']} / {c['mentions']}"),
    ]
    lines += [f"| {k} | {v} |" for k, v in rows]
    for protocol, methods in result["methods"].items():
        lines += [
            "",
            f"## Protocol: {protocol}",
            "",
            "| method | " + " | ".join(METRICS) + f" | {HEADLINE} − popularity |",
            "|---|" + "---|" * (len(METRICS) + 1),
        ]
        diffs = result.get("vs_popularity", {}).get(protocol, {})
        for name, table in methods.items():
            diff = _ci(diffs[name]) if name in diffs else ""
            lines.append(f"| {name} | " + " | ".join(_ci(table.get(m)) for m in METRICS) + f" | {diff} |")
        stats = result.get("app_stats", {}).get(protocol)
        if stats:
            lines += [
                "",
                f"App turns run: {stats['turns']}; points without a list: {stats['points_without_list']} "
                f"of {stats['points']}; deep lists agreeing with the shown list: "
                f"{stats['deep_lists_agree']} of {stats['deep_lists']}.",
            ]
    if result.get("plot"):
        lines += ["", f"![Recall@10 by method and protocol]({result['plot']})"]
    if c.get("unmapped_examples"):
        lines += ["", "Most frequent unmapped targets: " + ", ".join(c["unmapped_examples"]) + "."]
    lines += [""] + [f"- {note}" for note in result.get("notes", [])]
    return "\n".join(lines) + "\n"


def plot_recall(result: dict, path: Path) -> None:
    """A bar per method and protocol of Recall@10 with its 95% interval as error bars (matplotlib, Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    protocols = list(result["methods"])
    names = list(dict.fromkeys(n for p in protocols for n in result["methods"][p]))
    width = 0.8 / max(len(protocols), 1)
    fig, ax = plt.subplots(figsize=(1.3 * len(names) + 2, 3.6))
    for j, protocol in enumerate(protocols):
        cells = [result["methods"][protocol].get(n, {}).get(HEADLINE) or {} for n in names]
        values = [c.get("value") or 0.0 for c in cells]
        low = [max(0.0, v - (c.get("low") or v)) for v, c in zip(values, cells)]
        high = [max(0.0, (c.get("high") or v) - v) for v, c in zip(values, cells)]
        xs = [i + (j - (len(protocols) - 1) / 2) * width for i in range(len(names))]
        ax.bar(xs, values, width, yerr=[low, high], capsize=3, label=protocol)
    ax.set_xticks(range(len(names)), names)
    ax.set_ylabel("Recall@10 (95% CI)")
    ax.set_title(f"{result['counts']['samples']} points, {result['counts']['targets_mapped']} targets")
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
