"""The conversation evaluation: readers of each layout, title mapping, targets, metrics and CIs, the co-mention
baseline on a known answer, the verb end to end on the tiny engine, and (slow) on real models and ReDial."""

from __future__ import annotations

import json
import math
from contextlib import contextmanager
from pathlib import Path

import pytest

import recsys.evaluation.conversations as conversations_verb
from recsys.catalog.catalog import Catalog
from recsys.cli import main
from recsys.core.types import Item
from recsys.evaluation import dialogues
from recsys.evaluation.baselines import CoMention, Popularity
from recsys.evaluation.conversation_metrics import summarise, target_scores
from recsys.evaluation.conversation_samples import Sample, TitleMatcher, extract_samples
from recsys.evaluation.dialogues import RECOMMENDER, SEEKER, Conversation, DialogueFileError, load_conversations
from tests.engine_fixtures import tiny_engine
from tests.fakes import tiny_items

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data" / "conversations"
VALID = REPO / "data" / "eval" / "redial" / "valid_sample.jsonl"


def tiny_matcher() -> TitleMatcher:
    """A matcher over the tiny catalog."""
    return TitleMatcher(Catalog(tiny_items()))


def test_redial_reader_replaces_ids_with_titles_and_keeps_the_seekers_answers():
    convs = load_conversations(DATA / "redial.jsonl")
    assert [c.conversation_id for c in convs] == ["c1", "c2"] and convs[0].layout == "redial"
    turns = convs[0].turns
    assert [t.speaker for t in turns] == [SEEKER, RECOMMENDER, SEEKER, RECOMMENDER, RECOMMENDER, SEEKER]
    assert turns[1].text == "Have you seen Galaxy Giggles (1985) ?"
    assert turns[2].text == "Yes I loved Galaxy Giggles (1985) and also Robot Roommate (1999)"  # odd spacing fixed
    loved = turns[2].mentions
    assert [(m.title, m.year, m.source_id, m.liked, m.seen) for m in loved] == [
        ("Galaxy Giggles", 1985, "101", True, True),
        ("Robot Roommate", 1999, "102", True, True),
    ]
    assert all(m.liked is None for m in turns[1].mentions)  # the recommender's mentions carry no seeker answers
    assert turns[4].mentions[0].label() == "Future Film (2019)"
    hated = convs[1].turns[2].mentions[0]
    assert (hated.title, hated.liked) == ("Night of the Crawlers", False)


def test_iard_reader_finds_inline_titles_slot_titles_and_item_lists():
    convs = load_conversations(DATA / "iard.json")
    assert [c.conversation_id for c in convs] == ["i1", "i2"] and convs[0].layout == "iard"
    first = convs[0].turns
    assert [t.speaker for t in first] == [SEEKER, RECOMMENDER, SEEKER, RECOMMENDER]
    assert [m.label() for m in first[0].mentions] == ["Galaxy Giggles (1985)"]
    assert [m.label() for m in first[1].mentions] == ["Moon Laughs (2005)", "Laugh Track (1988)"]
    assert first[2].mentions == ()
    assert [m.label() for m in first[3].mentions] == ["Sky Pirates (1979)"]
    assert convs[1].turns[0].speaker == SEEKER and convs[1].turns[1].mentions[0].title == "Harbor Heist"


def test_crslab_reader_scores_only_the_reply():
    convs = load_conversations(DATA / "crslab.jsonl")
    assert convs[0].layout == "crslab" and convs[0].conversation_id == "k1"
    turns = convs[0].turns
    assert [t.speaker for t in turns] == [SEEKER, RECOMMENDER, SEEKER, RECOMMENDER]  # alternating back from the end
    assert [t.scored for t in turns] == [False, False, False, True]
    assert [m.label() for m in turns[2].mentions] == ["Galaxy Giggles (1985)"]
    assert [m.label() for m in turns[3].mentions] == ["Moon Laughs (2005)"]
    rec = convs[1].turns[-1].mentions
    assert [(m.title, m.year, m.source_id) for m in rec] == [("Cosmic Chef", None, ""), ("", None, "40123")]


def test_a_file_of_no_known_layout_names_the_line_and_keys(tmp_path):
    with pytest.raises(DialogueFileError, match=r"bad.jsonl line 1: not a known dialogue layout.*conversationId"):
        load_conversations(DATA / "bad.jsonl")
    broken = tmp_path / "broken.jsonl"
    broken.write_text((DATA / "redial.jsonl").read_text().splitlines()[0] + "\n{not json\n")
    with pytest.raises(DialogueFileError, match="broken.jsonl line 2: invalid JSON"):
        load_conversations(broken)
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text((DATA / "redial.jsonl").read_text().splitlines()[0] + "\n" + '{"context": [], "rec": []}\n')
    with pytest.raises(DialogueFileError, match="mixed.jsonl line 2: expected the redial layout"):
        load_conversations(mixed)
    with pytest.raises(DialogueFileError, match="not found"):
        load_conversations(tmp_path / "missing.jsonl")


def test_titles_map_by_normalised_title_and_year():
    items = tiny_items() + [
        Item("old", "Laugh Track", 1950, attributes={"popularity": 0.9}),  # same title, better known, other year
        Item("sub", "Sky Pirates: The Return", 1983, attributes={"popularity": 0.1}),
    ]
    m = TitleMatcher(Catalog(items))
    assert m.match("Galaxy Giggles", 1985) == "t1"
    assert m.match("galaxy giggles!", 1986) == "t1"  # case, punctuation, year +1
    assert m.match("Galaxy Giggles", 1984) == "t1"  # year -1
    assert m.match("Galaxy Giggles", 1987) is None  # two years off: another film
    assert m.match("Quiet Lake, The", 1975) == "t5"  # the article moved back
    assert m.match("Quiet Lake", 1975) == "t5"  # and dropped
    assert m.match("A Quiet Lake", None) == "t5"
    assert m.match("Laugh Track", None) == "old"  # no year: the most popular of that title
    assert m.match("Laugh Track", 1988) == "t7"  # a year picks that one
    assert m.match("Sky Pirates", 1983) == "sub"  # the main title of "Sky Pirates: The Return" with its year
    assert m.match("Sky Pirates", 1979) == "t12"  # the exact title first
    assert m.match("Nothing Like It", 1990) is None
    assert m.match("I think Harbor Heist", 1995) is None
    assert m.match("I think Harbor Heist", 1995, loose=True) == "t6"  # text found inline: word-tails tried


def test_targets_are_new_mapped_films_at_recommender_turns():
    convs = load_conversations(DATA / "redial.jsonl")
    samples, counts = extract_samples(convs, tiny_matcher())
    got = [(s.conversation_id, s.turn, s.targets) for s in samples]
    assert got == [("c1", 1, ("t1",)), ("c1", 3, ("t4",)), ("c2", 1, ("t10",)), ("c2", 3, ("t5",))]
    # Galaxy Giggles at turn 3 and Trench Diaries at c2's turn 3 were mentioned before: not targets again
    second = samples[1]
    assert second.mentioned == ("t1", "t2") and second.recommended == ("t1",) and second.last_recommended == ("t1",)
    assert second.liked == ("t1", "t2")  # the seeker named both and liked them (the dataset's answers)
    assert second.seeker_texts == (
        "Hi! I want a funny sci-fi film",
        "Yes I loved Galaxy Giggles (1985) and also Robot Roommate (1999)",
    )
    assert samples[3].disliked == ("t3",) and samples[3].liked == ("t9",)
    # the "or Future Film (2019)" turn is a point whose only target is outside the catalog
    assert (counts.points, counts.samples, counts.targets, counts.targets_mapped) == (5, 4, 5, 4)
    assert counts.targets_after_catalog == 1 and counts.unmapped_examples == ["Future Film (2019) ×1"]
    assert counts.dialogues == 2 and counts.dialogues_scored == 2


def test_metrics_on_a_hand_computed_case():
    rows = target_scores(["a", "b", "c"], ["b", "z"])
    assert [r["recall@1"] for r in rows] == [0.0, 0.0]
    assert [r["recall@5"] for r in rows] == [1.0, 0.0]
    assert rows[0]["ndcg@10"] == pytest.approx(1 / math.log2(3)) and rows[1]["ndcg@10"] == 0.0
    assert [r["mrr"] for r in rows] == [0.5, 0.0]
    deep = [f"x{i}" for i in range(60)]
    far = target_scores(deep, ["x11", "x49", "x55"])
    assert [r["recall@10"] for r in far] == [0.0, 0.0, 0.0]
    assert [r["recall@50"] for r in far] == [1.0, 1.0, 0.0]  # rank 50 is in, 56 beyond the scored depth
    assert far[0]["mrr"] == pytest.approx(1 / 12) and far[2]["mrr"] == 0.0


def test_bootstrap_interval_holds_the_estimate_and_is_fixed_by_the_seed():
    values = {"recall@10": [1, 0, 0, 1, 1, 0, 0, 0, 1, 0], "mrr": [0.5, 0, 0, 1, 0.25, 0, 0, 0, 1, 0]}
    groups = [0, 0, 1, 2, 2, 3, 4, 5, 6, 6]
    a = summarise(values, groups, draws=1000, seed=7)
    assert a == summarise(values, groups, draws=1000, seed=7)
    assert a != summarise(values, groups, draws=1000, seed=8)
    for cell in a.values():
        assert cell["low"] <= cell["value"] <= cell["high"] and cell["low"] < cell["high"]
    assert a["recall@10"]["value"] == pytest.approx(0.4)
    same = summarise({"recall@10": [1.0, 1.0, 1.0]}, [0, 1, 2], draws=200, seed=0)["recall@10"]
    assert same == {"value": 1.0, "low": 1.0, "high": 1.0}


def _said(speaker: str, *titles: str) -> dialogues.Turn:
    """A turn naming tiny-catalog films (year-less titles)."""
    return dialogues.Turn(speaker, " and ".join(titles), tuple(dialogues.Mention(t) for t in titles))


def test_co_mention_ranks_what_training_dialogues_name_together():
    catalog = Catalog(tiny_items())
    first = (_said(SEEKER, "Galaxy Giggles"), _said(RECOMMENDER, "Moon Laughs", "Laugh Track"))
    train = [
        Conversation("a", first, "t"),
        Conversation("b", (_said(SEEKER, "Galaxy Giggles", "Moon Laughs"),), "t"),
        Conversation("c", (_said(SEEKER, "Harbor Heist", "Sky Pirates"),), "t"),
    ]
    model = CoMention.fit(train, TitleMatcher(catalog), catalog)
    sample = Sample(0, "x", 1, targets=("t4",), mentioned=("t1",))
    ranked = model.rank(sample, k=5)
    assert ranked[:2] == ["t4", "t7"]  # Moon Laughs twice with Galaxy Giggles, Laugh Track once
    assert "t1" not in ranked and len(ranked) == 5  # never a mentioned film; popularity fills the rest
    both = model.rank(Sample(0, "x", 1, targets=("t6",), mentioned=("t1", "t12")), k=3)
    assert both[0] == "t4" and set(both[1:]) == {"t7", "t6"}  # Sky Pirates' partner joins Laugh Track at 1
    cold = model.rank(Sample(0, "x", 1, targets=("t6",), mentioned=("t9",)), k=4)
    assert cold == Popularity(catalog).rank(Sample(0, "x", 1, targets=("t6",), mentioned=("t9",)), k=4)


def test_verb_end_to_end_on_the_tiny_engine(tmp_path, monkeypatch, capsys):
    @contextmanager
    def fake_open(settings):
        """The tiny engine with the verb's settings (template reasons)."""
        engine = tiny_engine(explainer=settings.explainer)
        yield engine
        engine.store.close()

    monkeypatch.setattr(conversations_verb, "open_engine", fake_open)
    out = {k: tmp_path / f"conv.{k}" for k in ("json", "md", "png")}
    rc = main(
        [
            "eval",
            "conversations",
            "--data",
            str(DATA / "redial.jsonl"),
            "--train",
            str(DATA / "iard.json"),
            "--json",
            str(out["json"]),
            "--md",
            str(out["md"]),
            "--png",
            str(out["png"]),
            "--draws",
            "50",
        ]
    )
    assert rc == 0 and all(p.stat().st_size > 0 for p in out.values())
    result = json.loads(out["json"].read_text())
    assert result["counts"]["samples"] == 4 and result["counts"]["targets_mapped"] == 4
    assert result["protocols"] == ["replay", "transcript"]
    for protocol in ("replay", "transcript"):
        methods = result["methods"][protocol]
        assert set(methods) == {"app", "popularity", "embedding", "co-mention"}
        for table in methods.values():
            assert set(table) == {"recall@1", "recall@5", "recall@10", "recall@50", "ndcg@10", "mrr"}
            assert all(c["low"] <= c["value"] <= c["high"] for c in table.values())
            # 12 films: a 50-deep list holds every target left, except where the app itself already showed a target
            # in an earlier list of the replay (what it showed is not shown again, and only the latest list counts)
            replayed_app = protocol == "replay" and table is methods["app"]
            assert table["recall@50"]["value"] >= 0.75 if replayed_app else table["recall@50"]["value"] == 1.0
        assert result["app_stats"][protocol]["points"] == 4
        assert set(result["vs_popularity"][protocol]) == {"app", "embedding", "co-mention"}
    assert result["app_stats"]["replay"]["deep_lists_agree"] == result["app_stats"]["replay"]["deep_lists"] > 0
    md = out["md"].read_text()
    assert "## Protocol: replay" in md and "targets mapped / total | 4 / 5" in md and "conv.png" in md
    assert "replay     app" in capsys.readouterr().out


@pytest.mark.slow
def test_verb_on_real_models_and_three_redial_dialogues(tmp_path):
    path = tmp_path / "conv.json"
    rc = main(["eval", "conversations", "--data", str(VALID), "--limit", "3", "--json", str(path), "--draws", "100"])
    assert rc == 0
    result = json.loads(path.read_text())
    counts = result["counts"]
    assert counts["dialogues"] == 3 and 0 < counts["samples"] <= counts["points"]
    assert 0 < counts["targets_mapped"] <= counts["targets"] and result["settings"]["catalog_items"] > 17000
    for protocol in ("replay", "transcript"):
        assert set(result["methods"][protocol]) == {"app", "popularity", "embedding", "co-mention"}
        assert result["app_stats"][protocol]["points"] == counts["samples"]
        for table in result["methods"][protocol].values():
            cell = table["recall@10"]
            assert 0.0 <= cell["low"] <= cell["value"] <= cell["high"] <= 1.0
