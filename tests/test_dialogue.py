"""Dialogue state: constraints accumulate, change and reset across turns."""
from recsys.dialogue import apply_intent, describe, filters_for
from recsys.intent import LexiconParser
from recsys.types import DialogueState

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
