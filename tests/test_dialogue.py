"""Dialogue state: constraints accumulate, change and reset across turns."""

import pytest

from recsys.core.errors import RecsysError
from recsys.core.types import DialogueState, Intent, Item
from recsys.dialogue.answers import answer, describe, feedback_line
from recsys.dialogue.controls import apply_controls, clean_controls
from recsys.dialogue.state import Context, apply_intent, filters_for, with_vote
from recsys.understanding.lexicon import LexiconParser

P = LexiconParser(["Comedy", "Sci-Fi", "Horror", "Drama", "War", "Romance"])


def step(state, text, last_years=()):
    return apply_intent(state, P.parse(text), text, list(last_years), default_count=3, max_count=10)


def test_constraints_accumulate_and_change():
    s = step(DialogueState(), "a funny sci-fi film, nothing with horror")
    assert set(s.genres_include) == {"Comedy", "Sci-Fi"} and s.genres_exclude == ("Horror",)
    s = step(s, "something from before 1990")
    assert s.year_max == 1989 and s.genres_exclude == ("Horror",) and set(s.genres_include) == {"Comedy", "Sci-Fi"}
    s = step(s, "a drama, no war")
    assert s.genres_include == ("Drama",) and set(s.genres_exclude) == {"Horror", "War"} and s.year_max == 1989
    s = step(s, "actually a horror film")  # asking for an excluded genre lifts the exclusion
    assert s.genres_include == ("Horror",) and "Horror" not in s.genres_exclude
    s = step(s, "after 1995")  # contradicts year_max 1989: the new bound wins
    assert s.year_min == 1996 and s.year_max is None


def test_older_is_relative_to_what_was_shown():
    s = step(DialogueState(), "a comedy")
    s = step(s, "something older", last_years=[1999, 2004, 2010])
    assert s.year_max == 1998


def test_reset_keeps_votes_but_clears_constraints():
    s = DialogueState(genres_exclude=("Horror",), year_max=1989, disliked_ids=("x",), shown_ids=("y",))
    s = step(s, "start over")
    assert s.genres_exclude == () and s.year_max is None and s.disliked_ids == ("x",) and s.shown_ids == ()


def test_filters_exclude_shown_and_disliked():
    f = filters_for(DialogueState(shown_ids=("a",), disliked_ids=("b",), genres_exclude=("Horror",)))
    assert f.exclude_ids == {"a", "b"} and f.genres_exclude == ("Horror",)
    assert "no Horror" in describe(DialogueState(genres_exclude=("Horror",)))


# --- languages, runtime and people; refinements relative to the last list; clearing; answers from facts ---------


def test_new_slots_persist_until_changed_or_cleared():
    s = apply_intent(DialogueState(), Intent(languages=("French",), runtime_max=120, people=("Ann Lee",)), "x")
    s = apply_intent(s, Intent(genres_include=("Comedy",)), "a comedy")
    assert s.languages == ("French",) and s.runtime_max == 120 and s.people == ("Ann Lee",)
    f = filters_for(s)
    assert f.languages == ("French",) and f.runtime_max == 120 and f.people == ("Ann Lee",)
    s = apply_intent(s, Intent(intent="refine", clear=("languages", "runtime")), "any language, any length")
    assert s.languages == () and s.runtime_max is None and s.people == ("Ann Lee",)
    assert "with Ann Lee" in describe(s)


def test_relative_refinements_use_the_last_list():
    ctx = Context(last_years=(1990, 2001), last_runtimes=(95, 130))
    s = apply_intent(DialogueState(), Intent(intent="refine", refine=("shorter",)), "shorter", context=ctx)
    assert s.runtime_max == 94
    s = apply_intent(s, Intent(intent="refine", refine=("newer",)), "newer", context=ctx)
    assert s.year_min == 2002
    s = apply_intent(s, Intent(intent="refine", refine=("lighter",)), "less dark", context=ctx)
    assert {"Horror", "War"} <= set(s.genres_exclude) and "light" in s.query
    s = apply_intent(
        s,
        Intent(intent="refine", refine=("same_director",)),
        "more by this director",
        context=Context(people=("Ridley Scott",)),
    )
    assert s.people == ("Ridley Scott",) and s.genres_exclude  # exclusions survive a new axis
    s = apply_intent(
        s,
        Intent(intent="refine", refine=("similar",)),
        "more like the second one",
        context=Context(reference="Alien (1979). Horror, Sci-Fi film"),
    )
    assert s.query.startswith("Alien (1979)")


def test_answers_come_from_catalog_facts():
    item = Item(
        "a1",
        "Alien",
        1979,
        tags=("Horror", "Sci-Fi"),
        attributes={
            "director": ["Ridley Scott"],
            "runtime": 117,
            "language": ["English"],
            "cast": ["Sigourney Weaver", "Tom Skerritt"],
            "country": ["United Kingdom"],
        },
    )
    assert answer(item, "director") == "Alien (1979) was directed by Ridley Scott."
    assert "117 minutes" in answer(item, "runtime") and "1979" in answer(item, "year")
    assert answer(item, "language", ["French"]).startswith("No") and answer(item, "language", ["English"])[:3] == "Yes"
    assert "Sigourney Weaver" in answer(item, "cast") and "United Kingdom" in answer(item, "country")
    assert "does not list the writer" in answer(item, "writer") and "no ratings" in answer(item, "rating")


def test_a_compound_genre_needs_all_its_parts_until_changed():
    s = step(DialogueState(), "a rom-com")
    assert set(s.genres_all) == {"Romance", "Comedy"} and set(filters_for(s).genres_all) == {"Romance", "Comedy"}
    assert "Romance and Comedy" in describe(s) or "Comedy and Romance" in describe(s)
    s = step(s, "from the 90s")  # other constraints keep the compound
    assert set(s.genres_all) == {"Romance", "Comedy"} and s.year_min == 1990
    s = step(s, "no comedy please")  # excluding a part dissolves it
    assert s.genres_all == () and s.genres_include == ("Romance",)
    s = step(s, "a rom-com or a war film")  # alternatives stay any-of
    assert s.genres_all == () and set(s.genres_include) == {"Romance", "Comedy", "War"}
    s = step(s, "start over")
    assert s.genres_all == ()


def test_a_new_vote_replaces_the_old_one():
    s = with_vote(DialogueState(liked_ids=("a",)), "a", liked=False)
    assert s.liked_ids == () and s.disliked_ids == ("a",)
    item = Item("a", "Alien", 1979)
    assert "you've seen Alien (1979)" in feedback_line(item, "seen") and "Glad" in feedback_line(item, "liked")
    assert feedback_line(item, "disliked").startswith("Got it, not Alien (1979)")


def test_controls_are_clamped_spelt_and_checked():
    clean = clean_controls(
        {"count": "99", "mmr_lambda": 2, "year_min": "", "genres_exclude": ["horror", "Horror"]},
        max_count=10,
        genres=["Horror", "Comedy"],
    )
    assert clean == {"count": 10, "mmr_lambda": 1.0, "year_min": None, "genres_exclude": ("Horror",)}
    s = apply_controls(DialogueState(genres_include=("Horror", "Comedy"), genres_all=("Horror", "Comedy")), clean)
    assert s.genres_include == ("Comedy",) and s.genres_all == () and s.count == 10
    for bad in ({"query": "x"}, {"count": "many"}, {"genres_exclude": ["Western"]}):
        with pytest.raises(RecsysError):
            clean_controls(bad, max_count=10, genres=["Horror"])
    with pytest.raises(RecsysError, match="year range is empty"):
        apply_controls(DialogueState(year_min=2000), {"year_max": 1990})
