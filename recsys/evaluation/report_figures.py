"""The eval report's figures from a replay run: `measure(results, catalog, guard) -> Report`.

Constraint satisfaction per expectation key, Recall@k/NDCG@k on turns that name target titles, catalog coverage,
intra-list diversity, novelty; hallucinated-title rate, attribute-claim accuracy, reply coverage, Distinct-1/2,
reply length; the reasons' unsupported-claim rate (explain/claims.py, the product's own checker), the share citing a
request match or a taste link, the fallback rate; latency per stage (p50/p95). The report verb
(evaluation/report.py) writes them as pages and plots.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..explain.claims import cited, unsupported
from ..explain.evidence import Evidence
from ..explain.grounding import fact_phrases
from .expectations import Outcome
from .quality import (
    claims,
    coverage,
    covered,
    distinct_n,
    genre_distance,
    intra_list_distance,
    mean,
    ndcg_at_k,
    percentile,
    recall_at_k,
    words,
)
from .replay_results import ScriptResult, outcomes

STAGES = ("parse", "search", "rank", "first_text", "explain", "total")  # TurnEvent.timings_ms keys, in order
# Expectation keys that are hard constraints on the list (the rest check intent, wording, latency...).
CONSTRAINT_KEYS = frozenset(
    {
        "genres_any",
        "genres_all",
        "genres_none",
        "year_min",
        "year_max",
        "people_any",
        "languages_any",
        "countries_none",
        "runtime_min",
        "runtime_max",
        "titles_exclude",
        "excludes_disliked",
        "no_repeats",
        "older_than_last",
        "newer_than_last",
        "shorter_than_last",
    }
)


@dataclass
class Report:
    """Every figure of the report, grouped by section; `headline` is the short list quoted in notes and the README."""

    settings: dict[str, Any]
    headline: dict[str, float] = field(default_factory=dict)
    constraints: dict[str, tuple[int, int]] = field(default_factory=dict)  # key -> (held, checked)
    ranking: list[dict[str, Any]] = field(default_factory=list)  # per target turn
    claims: dict[str, tuple[int, int]] = field(default_factory=dict)  # kind -> (correct, made)
    wrong_claims: list[str] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)  # reasons the claim checker rejects, with why (first 20)
    hallucinations: list[str] = field(default_factory=list)
    latency: dict[str, tuple[float, float, int]] = field(default_factory=dict)  # stage -> (p50, p95, n)
    popularity: list[float] = field(default_factory=list)  # of every item shown
    catalog_popularity: list[float] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    plots: dict[str, str] = field(default_factory=dict)  # section -> png file name


def _given_titles(o: Outcome, catalog: Any) -> list[str]:
    """Titles a reply may name: its list, the films the person said they liked or disliked and those its evidence
    links to (films the person liked or compared to: theirs, not made up)."""
    voted = [catalog.get(i) for i in (*(o.liked_ids or ()), *o.disliked_ids)]
    linked = [n for ev in o.evidence for c in ev.get("taste") or () for n in c.get("names") or ()]  # "like Heat"
    return [it.title for it in o.items] + [it.title for it in voted if it is not None] + linked


def measure(
    results: Sequence[ScriptResult],
    catalog: Any,
    guard: Any,
    vectors_for: Any = None,
    settings: dict[str, Any] | None = None,
) -> Report:
    """All figures from a replay run. `vectors_for(ids) -> (k, d)` unit rows gives embedding diversity."""
    rep = Report(settings=dict(settings or {}))
    held, checked = _expectations(results, rep)

    lists, ild, gdist, cover, replies, reasons, claim_tally = [], [], [], [], [], [], defaultdict(lambda: [0, 0])
    halluc, with_items = 0, 0
    told: Counter = Counter()  # reasons: unsupported, citing a match or link, having one to cite, source known
    stage_ms: dict[str, list[float]] = defaultdict(list)
    for r, t, o in outcomes(results):
        for stage in STAGES:
            if stage in o.timings_ms:
                stage_ms[stage].append(o.timings_ms[stage])
        stage_ms["turn (wall)"].append(o.latency_ms)
        if not o.items:
            continue
        with_items += 1
        ids = [it.item_id for it in o.items]
        lists.append(ids)
        rep.popularity += [float(it.attributes.get("popularity") or 0.0) for it in o.items]
        if vectors_for is not None:
            ild.append(intra_list_distance(vectors_for(ids)))
        gdist.append(genre_distance(o.items))
        cover.append(covered(o.reply, o.items))
        replies.append(o.reply)
        named = guard.violations(o.reply, _given_titles(o, catalog), fact_phrases(o.items))
        if named:
            halluc += 1
            rep.hallucinations.append(f"{r.name} turn {t.number}: {', '.join(named)}")
        for n, (item, why) in enumerate(zip(o.items, o.reasons)):
            reasons.append(why)
            ev = Evidence.from_dict(o.evidence[n] if n < len(o.evidence) else None)
            told["source " + (o.sources[n] if n < len(o.sources) else "unknown")] += 1  # generated/trimmed/template
            told["unsupported"] += _unsupported(rep, why, item, ev, t.message, guard)
            told["cites"] += bool(cited(why, item, ev))
            told["could cite"] += ev.cites()
            told["known source"] += n < len(o.sources)
            for c in claims(why, item, ev.names()):
                claim_tally[c.kind][0] += c.correct
                claim_tally[c.kind][1] += 1
                if not c.correct and len(rep.wrong_claims) < 20:
                    rep.wrong_claims.append(f"{item.label()}: {c.kind} “{c.value}” in “{why}”")
        if t.targets:
            rep.ranking.append(
                {
                    "script": r.name,
                    "turn": t.number,
                    "k": len(ids),
                    "recall": recall_at_k(ids, t.targets),
                    "ndcg": ndcg_at_k(ids, t.targets),
                }
            )
    rep.claims = {k: (v[0], v[1]) for k, v in sorted(claim_tally.items())}
    rep.latency = {s: (percentile(v, 50), percentile(v, 95), len(v)) for s, v in stage_ms.items()}
    rep.catalog_popularity = [float(p) for p in catalog.popularity]
    rep.headline = _headline(
        rep,
        results,
        held,
        checked,
        lists,
        len(catalog),
        ild,
        gdist,
        cover,
        replies,
        reasons,
        _ratio(halluc, with_items),
        told,
    )
    return rep


def _unsupported(rep: Report, why: str, item: Any, ev: Evidence, request: str, guard: Any) -> bool:
    """Whether the claim checker rejects a shown reason (noted in rep.unsupported, the first 20)."""
    problems = unsupported(why, item, ev, request, guard)
    if problems and len(rep.unsupported) < 20:
        rep.unsupported.append(f"{item.label()}: {', '.join(problems)} in “{why}”")
    return bool(problems)


def _expectations(results: Sequence[ScriptResult], rep: Report) -> tuple[Counter, Counter]:
    """(held, checked) per expectation key over every message turn; fills rep.constraints and rep.failed."""
    held: Counter = Counter()
    checked: Counter = Counter()
    for r in results:
        for t in r.turns:
            if t.outcome is None:
                continue
            failed_keys = {f.split(":", 1)[0] for f in t.failures}
            for k in t.keys:
                checked[k] += 1
                held[k] += k not in failed_keys
        if not r.passed:
            rep.failed.append(f"{r.name}: " + ("; ".join(r.failures[:3]) or r.error))
    rep.constraints = {k: (held[k], checked[k]) for k in sorted(checked)}
    return held, checked


def _headline(
    rep: Report,
    results: Sequence[ScriptResult],
    held: Counter,
    checked: Counter,
    lists: list,
    catalog_size: int,
    ild: list,
    gdist: list,
    cover: list,
    replies: list,
    reasons: list,
    halluc_rate: float,
    told: Counter,
) -> dict[str, float]:
    """The headline figures, in the order the report shows them."""
    made = sum(v[1] for v in rep.claims.values())
    return {
        "scripts": len(results),
        "scripts passed": sum(r.passed for r in results),
        "constraint satisfaction": _ratio(
            sum(held[k] for k in CONSTRAINT_KEYS), sum(checked[k] for k in CONSTRAINT_KEYS)
        ),
        "expectations held (all keys)": _ratio(sum(held.values()), sum(checked.values())),
        "lists": len(lists),
        "recall@k (target turns)": mean(x["recall"] for x in rep.ranking),
        "ndcg@k (target turns)": mean(x["ndcg"] for x in rep.ranking),
        "catalog coverage": coverage(lists, catalog_size),
        "intra-list diversity (embedding)": mean(ild),
        "intra-list diversity (genres)": mean(gdist),
        "novelty: mean popularity shown": mean(rep.popularity),
        "novelty: mean popularity catalog": mean(rep.catalog_popularity),
        "hallucinated-title rate": halluc_rate,
        "attribute claims": made,
        "attribute-claim accuracy": _ratio(sum(v[0] for v in rep.claims.values()), made),
        "reasons shown": len(reasons),
        "unsupported-claim rate": _ratio(told["unsupported"], len(reasons)),
        "reasons citing a request match or taste link": _ratio(told["cites"], len(reasons)),
        "reasons with a match or link to cite": _ratio(told["could cite"], len(reasons)),
        # not the fallback: the model's sentence, whole or ended at its last clause that passed the checker
        "generated reasons share": _ratio(told["source generated"] + told["source trimmed"], told["known source"]),
        "generated whole share": _ratio(told["source generated"], told["known source"]),
        "generated trimmed share": _ratio(told["source trimmed"], told["known source"]),
        "fallback rate": _ratio(told["source template"], told["known source"]),
        "reply covers its items": mean(cover),
        "distinct-1": distinct_n(reasons, 1),
        "distinct-2": distinct_n(reasons, 2),
        "mean reply words": mean(len(words(x)) for x in replies),
        "mean reason words": mean(len(words(x)) for x in reasons),
        "turn p50 ms": rep.latency.get("turn (wall)", (math.nan,) * 3)[0],
        "turn p95 ms": rep.latency.get("turn (wall)", (math.nan,) * 3)[1],
    }


def _ratio(a: float, b: float) -> float:
    """a / b, nan when nothing was counted."""
    return a / b if b else math.nan
