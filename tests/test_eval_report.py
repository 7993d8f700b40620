"""The evaluation report: metric functions on known answers, the report's sections and plots from a synthetic
run, and the real report over the corpus (template reasons) and over a few scripts with the real generator."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from recsys.catalog.catalog import Catalog
from recsys.cli import main
from recsys.core.types import DialogueState, Item
from recsys.evaluation.expectations import Outcome
from recsys.evaluation.quality import (
    claims,
    coverage,
    distinct_n,
    genre_distance,
    intra_list_distance,
    ndcg_at_k,
    recall_at_k,
)
from recsys.evaluation.replay import CORPUS
from recsys.evaluation.replay_results import ScriptResult, TurnResult
from recsys.evaluation.report import write
from recsys.evaluation.report_figures import measure
from recsys.explain.evidence import collect, evidence_reason
from recsys.explain.grounding import TitleGuard
from tests.fakes import tiny_items

REPO = Path(__file__).resolve().parent.parent
ITEMS = {it.title: it for it in tiny_items()}

WEIRD = Item(
    "w1",
    "Weird Science",
    1985,
    tags=("Sci-Fi", "Comedy"),
    attributes={"director": ["John Hughes"], "cast": ["Robert Downey Jr.", "Bill Paxton"], "runtime": 94},
)


def test_claims_are_checked_against_the_facts():
    right = claims("Directed by John Hughes, this 1985 sci-fi comedy runs 94 minutes, starring Bill Paxton.", WEIRD)
    assert {(c.kind, c.value) for c in right} == {
        ("director", "John Hughes"),
        ("year", "1985"),
        ("genre", "Sci-Fi"),
        ("genre", "Comedy"),
        ("runtime", "94 minutes"),
        ("cast", "Bill Paxton"),
    }
    assert all(c.correct for c in right)
    wrong = claims(
        "A 1990s horror film directed by Ridley Scott, starring Robert Downey Jr. and Viola Davis, "
        "120 minutes long, nothing like a western.",
        WEIRD,
    )
    verdict = {(c.kind, c.value): c.correct for c in wrong}
    assert verdict == {
        ("decade", "1990s"): False,
        ("genre", "Horror"): False,
        ("director", "Ridley Scott"): False,
        ("cast", "Robert Downey Jr."): True,
        ("cast", "Viola Davis"): False,
        ("runtime", "120 minutes"): False,
    }
    # a known name with lower-case words is taken whole, not cut at "the"
    kings = Item(
        "k",
        "The Original Kings of Comedy",
        2000,
        tags=("Documentary", "Comedy"),
        attributes={"director": ["Spike Lee"], "cast": ["Cedric the Entertainer", "Bernie Mac"]},
    )
    found = claims("Directed by Spike Lee, starring Cedric the Entertainer and Bernie Mac.", kings)
    assert {(c.kind, c.value) for c in found} == {
        ("director", "Spike Lee"),
        ("cast", "Cedric the Entertainer"),
        ("cast", "Bernie Mac"),
    } and all(c.correct for c in found)
    text = "Under 100 minutes, and over 120 minutes, with John Hughes's cast."
    bounds = {c.value: c.correct for c in claims(text, WEIRD)}
    assert bounds == {"Under 100 minutes": True, "over 120 minutes": False, "John Hughes": False}  # he directs


def test_evidence_reasons_make_only_true_claims():
    state = DialogueState(genres_include=("Comedy",))
    for item in tiny_items():
        ev = collect(item, state, liked=[ITEMS["Galaxy Giggles"]])
        made = claims(evidence_reason(item, ev), item, ev.names())
        assert made and all(c.correct for c in made), made


def test_ranking_and_list_metrics_on_known_answers():
    assert recall_at_k(["a", "b", "c"], ["b", "z"]) == 0.5
    assert ndcg_at_k(["a", "b"], ["a"]) == 1.0
    assert ndcg_at_k(["x", "a"], ["a"]) == pytest.approx(1 / math.log2(3))
    assert math.isnan(recall_at_k(["a"], []))
    assert coverage([["a", "b"], ["b", "c"]], 10) == 0.3
    same = np.array([[1.0, 0.0], [1.0, 0.0]])
    apart = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert intra_list_distance(same) == 0.0 and intra_list_distance(apart) == 1.0
    assert genre_distance([ITEMS["Galaxy Giggles"], ITEMS["Robot Roommate"]]) == 0.0
    assert genre_distance([ITEMS["Galaxy Giggles"], ITEMS["The Quiet Lake"]]) == 1.0
    assert distinct_n(["a b a b"], 1) == 0.5 and distinct_n(["a b", "a b"], 2) == 0.5


def synthetic_results() -> list[ScriptResult]:
    """Two turns: one honest list, one whose reply names a film outside its list and claims a wrong year."""
    giggles, robot, heist = ITEMS["Galaxy Giggles"], ITEMS["Robot Roommate"], ITEMS["Harbor Heist"]
    ev = collect(giggles, DialogueState(genres_include=("Comedy",)))
    honest = Outcome(
        reply=f"**{giggles.title}** (1985) — {evidence_reason(giggles, ev)}",
        items=(giggles,),
        reasons=(evidence_reason(giggles, ev),),
        evidence=(ev.to_dict(),),
        sources=("template",),
        intent="recommend",
        latency_ms=20.0,
        timings_ms={"parse": 1.0, "search": 5.0, "total": 18.0},
    )
    lying = Outcome(
        reply=f"**{robot.title}** — better than **{heist.title}**, a 1975 film.",
        items=(robot,),
        reasons=("Better than Harbor Heist, a 1975 film.",),
        sources=("trimmed",),  # the model's sentence ended early: generated, and counted apart
        intent="recommend",
        latency_ms=40.0,
        timings_ms={"parse": 2.0, "search": 7.0, "total": 38.0},
    )
    return [
        ScriptResult(
            "a",
            "a.yaml",
            [
                TurnResult(
                    1, "x", keys=("min_items",), outcome=honest, targets=(giggles.item_id,), message="a funny film"
                )
            ],
        ),
        ScriptResult(
            "b",
            "b.yaml",
            [
                TurnResult(
                    1, "y", keys=("min_items", "year_max"), outcome=lying, failures=["year_max: no"], message="robots"
                )
            ],
        ),
    ]


def test_report_figures_sections_and_plots(tmp_path):
    catalog = Catalog(tiny_items())
    results = synthetic_results()
    rep = measure(results, catalog, TitleGuard(it.title for it in catalog.items))
    h = rep.headline
    assert h["scripts"] == 2 and h["scripts passed"] == 1
    assert h["constraint satisfaction"] == 0.0 and h["expectations held (all keys)"] == pytest.approx(2 / 3)
    assert h["hallucinated-title rate"] == 0.5 and "Harbor Heist" in rep.hallucinations[0]
    assert rep.claims["year"] == (1, 2)  # the template's 1985 is right, "a 1975 film" about a 1999 film is not
    assert h["generated reasons share"] == 0.5 and h["fallback rate"] == 0.5 and h["reasons shown"] == 2
    assert h["generated trimmed share"] == 0.5 and h["generated whole share"] == 0.0
    assert h["unsupported-claim rate"] == 0.5 and "1975" in rep.unsupported[0] and "Harbor Heist" in rep.unsupported[0]
    assert h["reasons citing a request match or taste link"] == 0.5  # the honest one says "comedy, as you asked"
    assert h["recall@k (target turns)"] == 1.0 and h["catalog coverage"] == pytest.approx(2 / 12)
    assert rep.latency["search"][2] == 2 and rep.latency["turn (wall)"][0] == pytest.approx(30.0)
    write(rep, results, tmp_path)
    md = (tmp_path / "report.md").read_text()
    for section in (
        "## Headline",
        "## Constraint satisfaction",
        "## Recommendation quality",
        "## Explanation quality",
        "## Latency per stage (ms)",
        "## Problems",
    ):
        assert section in md
    for png in ("constraints.png", "latency.png", "novelty.png", "claims.png"):
        assert (tmp_path / png).read_bytes()[:4] == b"\x89PNG" and f"]({png})" in md
    page = (tmp_path / "report.html").read_text()
    assert "<h2>Latency per stage (ms)</h2>" in page and "<img src='latency.png'" in page
    assert json.loads((tmp_path / "headline.json").read_text())["hallucinated-title rate"] == 0.5


@pytest.mark.slow
def test_report_over_the_corpus_with_real_parts(capsys):
    """The CI artifact: the whole corpus with fact-built reasons (fast), then explanations from the real generator
    on a few scripts."""
    out = REPO / "artifacts" / "eval-template"
    assert main(["eval", "report", "--explainer", "template", "--out", str(out)]) == 0, capsys.readouterr().out
    headline = json.loads((out / "headline.json").read_text())
    assert headline["hallucinated-title rate"] == 0 and headline["attribute-claim accuracy"] == 1.0
    assert headline["lists"] > 40 and headline["scripts"] >= 40
    assert "## Latency per stage (ms)" in (out / "report.md").read_text()

    out = REPO / "artifacts" / "eval-generate"
    scripts = [str(CORPUS / "recommend-90s-crime-thriller.yaml"), str(CORPUS / "recommend-eighties-war.yaml")]
    assert main(["eval", "report", *scripts, "--explainer", "generate", "--out", str(out)]) == 0
    headline = json.loads((out / "headline.json").read_text())
    assert headline["hallucinated-title rate"] == 0 and headline["lists"] == 2
    assert (out / "claims.png").exists() or headline["attribute claims"] == 0


def test_a_linked_title_with_lower_case_words_is_no_cast_claim():
    """ "shares X with Singin' in the Rain": the linked title is not read as a cast name ("Singin'")."""
    from recsys.core.types import Item
    from recsys.evaluation.quality import claims

    item = Item("w", "White Christmas", 1954, tags=("Musical",), attributes={"cast": ["Bess Flowers", "Bing Crosby"]})
    found = claims(
        "A 1954 musical; it shares Bess Flowers with Singin' in the Rain, which you liked.",
        item,
        linked=["Singin' in the Rain"],
    )
    assert all(c.correct for c in found) and {c.kind for c in found} == {"year", "genre"}
    wrong = claims("Starring Bess Flowers and Tom Reed.", item)
    assert ("cast", "Tom Reed", False) in [(c.kind, c.value, c.correct) for c in wrong]
