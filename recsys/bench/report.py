"""The Markdown side of a bench report: the machine, the targets, then one table per section.

It reads only the JSON-shaped dict that `recsys.bench.runner` builds, so an old JSON report can be re-rendered.
"""

from __future__ import annotations

import json
from typing import Any


def _fmt(x: Any) -> str:
    """A cell: numbers trimmed, dicts of statistics as "median / p95", None as a dash."""
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:,.3g}" if abs(x) < 100 else f"{x:,.0f}"
    if isinstance(x, int):
        return f"{x:,}"
    if isinstance(x, dict) and "median" in x:
        return f"{_fmt(x['median'])} / {_fmt(x['p95'])}"
    if isinstance(x, dict):
        return ", ".join(f"{k} {_fmt(v)}" for k, v in x.items())
    return str(x).replace("|", "\\|").replace("\n", " ")


def table(header: list[str], rows: list[list[Any]]) -> list[str]:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
    return lines + [""]


def _stages(title: str, stages: Any) -> list[str]:
    """A stage-per-row table of summaries (ms unless the stage says otherwise)."""
    if not isinstance(stages, dict):
        return [f"{title}: {_fmt(stages)}", ""]
    rows = [
        [k, v.get("n"), v.get("median"), v.get("p95"), v.get("max")] for k, v in stages.items() if isinstance(v, dict)
    ]
    return [f"**{title}** (ms; tokens_per_s in tokens/s)", ""] + table(["stage", "n", "median", "p95", "max"], rows)


def _concurrency(title: str, rows: Any) -> list[str]:
    """Sessions-at-once rows; with generation, also when each turn's first generated words appeared."""
    if not isinstance(rows, list):
        return [f"{title}: {_fmt(rows)}", ""]
    words = any("first_words_ms" in r for r in rows)
    cpu = any("server_cpu_ms_per_turn" in r for r in rows)
    own = any("cpu_ms_per_turn" in r for r in rows)  # the engine's rows: one process, bench and engine
    busy = any("cores_busy" in r for r in rows)  # not in older reports, whose CPU included the sessions' openings
    body = [
        [
            r["sessions"],
            r["turns"],
            r["errors"],
            r.get("turns_per_s"),
            _fmt(r["latency_ms"].get("median")),
            _fmt(r["latency_ms"].get("p95")),
            *([r.get("first_words_ms")] if words else []),  # table's _fmt writes a summary as "median / p95"
            *([r.get("server_cpu_ms_per_turn"), r.get("client_cpu_ms_per_turn")] if cpu else []),
            *([r.get("cpu_ms_per_turn")] if own else []),
            *([r.get("cores_busy")] if busy else []),
        ]
        for r in rows
    ]
    head = ["sessions", "turns", "errors", "turns/s", "median ms", "p95 ms"]
    head += ["first generated words ms (median / p95)"] if words else []
    head += ["server CPU ms a turn", "client CPU ms a turn"] if cpu else []
    head += ["CPU ms a turn"] if own else []
    head += ["share of the cores busy"] if busy else []
    return [f"**{title}**", ""] + table(head, body)


def _turn(r: dict[str, Any]) -> list[str]:
    """The turn section."""
    out = [
        f"Catalog: {_fmt(r.get('catalog_items'))} items, search backend {r.get('backend')}; head: {r.get('head')}.",
        "",
    ]
    out += _stages("Without generation (explainer=template), 50 requests", r.get("without_generation"))
    out += _stages(
        f"With generation, {r.get('with_generation_turns')} requests (first turn excluded)", r.get("with_generation")
    )
    out += [f"First turn after load: {_fmt(r.get('first_turn_after_load'))} (ms)", ""]
    return out


def _index(r: dict[str, Any]) -> list[str]:
    """The index section."""
    rows = []
    for row in r.get("synthetic", []):
        for kind in ("exact", "ivf", "hnsw"):
            e = row.get(kind)
            if e:
                rows.append(
                    [
                        row["items"],
                        kind,
                        e.get("setting", ""),
                        e.get("build_s"),
                        e.get("memory_mb"),
                        e["search"],
                        e["search_filtered"],
                        e.get("recall@10"),
                    ]
                )
    out = [r.get("note", ""), ""] + table(
        [
            "items",
            "index",
            "setting",
            "build s",
            "memory MB",
            "search ms (median / p95)",
            "filtered ms (median / p95)",
            "recall@10",
        ],
        rows,
    )
    real = r.get("real", {})
    if "ivf" in real:
        out += [
            f"Real catalog ({_fmt(real['catalog_items'])} items, {real.get('encoder')}): encoder "
            f"{_fmt(real['embed_items_per_s'])} items/s embedded ({real['embed_texts']} texts), query embedding "
            f"{_fmt(real['query_embedding_ms'])} ms, exact search {_fmt(real['exact_search_ms'])} ms.",
            "",
        ]
        out += table(
            ["index", "setting", "search ms (median / p95)", "recall@10"],
            [[k, real[k]["setting"], real[k]["search"], real[k]["recall@10"]] for k in ("ivf", "hnsw")],
        )
    elif real:
        out += [f"Real catalog: {_fmt(real)}", ""]
    derived = r.get("derived") or []
    if derived:
        rows = [
            [
                row["items"],
                kind,
                row[kind].get("setting", ""),
                row[kind].get("build_s"),
                row[kind]["search"],
                row[kind]["search_filtered"],
                row[kind].get("recall@10"),
            ]
            for row in derived
            for kind in ("exact", "ivf", "hnsw")
            if row.get(kind)
        ]
        out += ["", r.get("derived_note", ""), ""] + table(
            [
                "items",
                "index",
                "setting",
                "build s",
                "search ms (median / p95)",
                "filtered ms (median / p95)",
                "recall@10 (real requests)",
            ],
            rows,
        )
    return out


def _adapt(r: dict[str, Any]) -> list[str]:
    """The adapt section."""
    if "rows" not in r:
        return [_fmt(r), ""]
    return [f"Head: {r['head']}; {r['repeats']} repeats.", ""] + table(
        ["events", "adapt ms", "score 200 ms", "adapt + score ms (median / p95)"],
        [[x["events"], x["adapt_ms"], x["score_200_ms"], x["adapt_plus_score_ms"]] for x in r["rows"]],
    )


def _embedding(r: dict[str, Any]) -> list[str]:
    """The embedding section: old path and new, same texts, same run."""
    if "rows" not in r:
        return [_fmt(r), ""]
    builds = r.get("catalog_backend")
    lines = [
        f"{r['texts']} catalog texts of {r['catalog_items']:,}; the bench's 50 requests one at a time. ONNX/torch: "
        f"{r['throughput_ratio']}× texts/s, {r['query_p95_ratio']}× lower query p95; top-10 overlap "
        f"{r['top10_overlap']}, min cosine {r['min_cosine']}."
    ]
    if builds:
        lines.append(
            f"A whole catalog is embedded by {builds}: {r['catalog_ratio']}× torch float32's texts/s, top-10 overlap "
            f"{r['catalog_top10_overlap']}, min cosine {r['catalog_min_cosine']}"
            + (
                " (no bfloat16 row: no AMX on this CPU, or RECSYS_EMBED_PRECISION=fp32)."
                if builds.startswith("onnx")
                else "."
            )
        )
    attention = next((x.get("attention") for x in r["rows"] if x["backend"] == builds), None)
    if attention:  # reports before the fused kernel have no such field
        lines[-1] += f" Its attention: {'the fused kernel' if attention == 'fused' else 'sdpa'}."
    rounds = next((x.get("round_ratios") for x in r["rows"] if x["backend"] == builds), None)
    chunk = r.get("chunk")  # the first reports with rounds took turns on the whole sample
    if rounds and len(rounds) > 1:  # reports before 2026-12-06 have no rounds
        lines.append(
            f"The backends took turns on {f'every {chunk} texts of ' if chunk else ''}the sample, {len(rounds)} rounds "
            f"(this VM's speed drifts within a minute): {builds.split(',')[0]} against torch float32 by round "
            f"{', '.join(f'{x}×' for x in rounds)}."
        )
    return (
        lines
        + [""]
        + table(
            [
                "backend",
                "load s",
                "texts/s",
                "× torch",
                "full catalog s (at that rate)",
                "query ms (median / p95)",
                "min cosine",
                "top-10 overlap",
            ],
            [
                [
                    x["backend"],
                    x["load_s"],
                    x["texts_per_s"],
                    x.get("texts_per_s_ratio", ""),
                    x["catalog_s"],
                    x["query_ms"],
                    x.get("min_cosine", ""),
                    x.get("top10_overlap", ""),
                ]
                for x in r["rows"]
            ],
        )
    )


def _generation(r: dict[str, Any]) -> list[str]:
    """The generation section."""
    if "rows" not in r:
        return [_fmt(r), ""]
    rows = [
        [
            x["variant"],
            x.get("ttft_cold_prefix_ms", x.get("warm_up_s")),
            x.get("ttft_ms"),
            x.get("tokens_per_s"),
            x.get("tokens_per_s_ratio", ""),
            x.get("three_film_reply_ms", ""),
            x.get("three_film_reply_one_by_one_ms", ""),
            x.get("error", ""),
        ]
        for x in r["rows"]
    ]
    return [
        f"Model {r['model']}, {r['prompts']} explanation prompts, {r['decode_tokens']} new tokens, "
        f"{r['threads']} torch threads; CUDA: {r.get('cuda')}. A three-film reply is three reasons for one request, "
        "as the explainer asks for them; llama.cpp writes them together (the product), and the next column times "
        "the same prompts one after another in the same process.",
        "",
    ] + table(
        [
            "variant",
            "cold-prefix TTFT ms / warm-up s",
            "TTFT ms (median / p95)",
            "tokens/s (median / p95)",
            "× first row's tokens/s",
            "three-film reply ms (median / p95)",
            "the same, reasons one after another",
            "error",
        ],
        rows,
    )


def _startup(r: dict[str, Any]) -> list[str]:
    """The startup section (with the server's concurrency rows)."""
    keys = (
        "cold_start_s",
        "cold_engine_ready_s",
        "cold_generator_ready_s",
        "cold_peak_rss_mb",
        "warm_start_old_path_s",
        "warm_start_s",
        "warm_start_ratio",
        "warm_engine_ready_s",
        "warm_generator_ready_s",
        "idle_rss_mb",
        "peak_rss_after_generation_mb",
        "peak_rss_under_load_mb",
    )
    out = table(["measure", "value"], [[k, r.get(k)] for k in keys if k in r])
    out += _concurrency("Server, with generation", r.get("server_with_generation"))
    page = r.get("server_page_turn")
    if isinstance(page, dict):
        lat = page.get("latency_ms") or {}
        out += [
            f"**One person's turns as the browser sends them** (echo, turn, side panels, each where the page runs it; "
            f"template reasons; "
            f"{page.get('turns')} turns, the history growing to {page.get('history_messages')} messages): latency "
            f"median {lat.get('median')} ms, p95 {lat.get('p95')} ms; "
            f"the server's CPU {page.get('server_cpu_ms_per_turn')} ms per turn.",
            "",
        ]
    out += _concurrency(
        f"Server without generation (explainer=template), {r.get('server_turns_per_session')} "
        "turns per session, all at once",
        r.get("server_without_generation"),
    )
    out += _concurrency(
        f"Server without generation, paced (random think time between messages), "
        f"{2 * (r.get('server_turns_per_session') or 0)} turns per session",
        r.get("server_without_generation_paced"),
    )
    if "server_two_replicas" in r:
        out += _concurrency(
            "The same burst over two app processes sharing the database (replicas; each session stays with one)",
            r.get("server_two_replicas"),
        )
    if "server_floor" in r:
        out += _concurrency(
            "The server's floor: the same bursts against a Gradio page whose /send does no work "
            "(recsys/web/floor.py; same client, same run)",
            r.get("server_floor"),
        )
    if "server_floor_two_replicas" in r:
        out += _concurrency(
            "The same burst over two such pages (each session staying with one)", r.get("server_floor_two_replicas")
        )
    return out


def merges(report: dict) -> list[dict]:
    """The report's later merges, oldest first (a report written before the list was one dict)."""
    merged = report.get("merged") or []
    return [merged] if isinstance(merged, dict) else list(merged)


def markdown(report: dict[str, Any]) -> str:
    """The whole Markdown report."""
    m = report["machine"]
    lines = [
        f"# recsys bench {'(quick) ' if report['quick'] else ''}— {report['date']}",
        "",
        f"- machine: {m['cpu']}, {m['cores']} cores ({m['cores_usable']} usable, torch threads "
        f"{m['torch_threads']}), {m['ram_gb']} GB RAM, GPU: {m['gpu']}; host {m['host']}",
        f"- load average at start: {m['load_average_at_start']} (a shared machine makes every figure pessimistic)",
        f"- python {m['python']}; " + ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v),
        f"- settings: {_fmt(report['settings'])}; engine load {report.get('engine_load_s', '–')} s",
        *[
            f"- sections {', '.join(m['sections'])} were run later and merged in ({m['date']}, load average "
            f"{m['load_average_at_start']})"
            for m in merges(report)
        ],
        "",
        "## Targets",
        "",
    ]
    lines += table(
        ["target", "value", "status", "note"],
        [[t["target"], t["value"], t["status"], t.get("note", "")] for t in report["targets"]],
    )
    render = {"turn": _turn, "index": _index, "embedding": _embedding, "adapt": _adapt, "startup": _startup}
    render["generation"] = _generation
    for name, result in report["results"].items():
        lines += [f"## {name} ({_fmt(result.get('section_s'))} s)", ""]
        if "error" in result:
            lines += [f"failed: {result['error']}", ""]
        elif name == "concurrency":
            lines += [f"{result.get('turns_per_session')} turns per session.", ""]
            lines += _concurrency(
                "Engine, without generation, all sessions at once", result.get("engine_without_generation")
            )
            lines += _concurrency(
                "Engine, without generation, paced (random think time between messages)",
                result.get("engine_without_generation_paced"),
            )
            lines += _concurrency("Engine, with generation (1 turn each)", result.get("engine_with_generation"))
            if "engine_with_generation_one_at_a_time" in result:
                lines += _concurrency(
                    "Engine, with generation, one reply at a time (the engine's lock, as before the shared batch)",
                    result["engine_with_generation_one_at_a_time"],
                )
            if isinstance(result.get("server"), str):
                lines += [f"Server: {result['server']}", ""]
        elif name in render:
            lines += render[name](result)
        else:
            lines += ["```json", json.dumps(result, indent=1, default=str), "```", ""]
    return "\n".join(lines)
