"""The lexicon parser: genres with synonyms and negation scope, years, counts, intents."""
import pytest

from recsys.intent import LexiconParser

GENRES = ["Action", "Adventure", "Animation", "Biography", "Comedy", "Crime", "Documentary", "Drama", "Family",
          "Fantasy", "Film-Noir", "History", "Horror", "Music", "Musical", "Mystery", "Romance", "Sci-Fi", "Sport",
          "Thriller", "War", "Western"]


@pytest.fixture(scope="module")
def parser():
    return LexiconParser(GENRES, newest_year=2014)


@pytest.mark.parametrize("text, include, exclude", [
    ("a funny sci-fi film, but nothing scary", {"Comedy", "Sci-Fi"}, {"Horror"}),
    ("A funny science fiction film, nothing with horror please", {"Comedy", "Sci-Fi"}, {"Horror"}),
    ("anything but musicals, maybe a thriller", {"Thriller"}, {"Musical"}),
    ("no horror but funny", {"Comedy"}, {"Horror"}),
    ("a rom-com", {"Romance", "Comedy"}, set()),
    ("scifi without romance or comedy", {"Sci-Fi"}, {"Romance", "Comedy"}),
    ("i don't want anything scary", set(), {"Horror"}),
    ("a WESTERN please", {"Western"}, set()),
    ("film noir", {"Film-Noir"}, set()),
])
def test_genres_and_negation(parser, text, include, exclude):
    intent = parser.parse(text)
    assert set(intent.genres_include) == include
    assert set(intent.genres_exclude) == exclude
    assert not set(intent.genres_include) & set(intent.genres_exclude)


@pytest.mark.parametrize("text, lo, hi", [
    ("something from before 1990", None, 1989),
    ("a 90s thriller", 1990, 1999),
    ("films from the 1980s", 1980, 1989),
    ("after 2000", 2001, None),
    ("since 1995", 1995, None),
    ("between 1970 and 1979", 1970, 1979),
    ("made in 1985", 1985, 1985),
    ("the late seventies", 1970, 1979),
    ("a recent comedy", 2005, None),
    ("a classic western", None, 1979),
    ("a comedy", None, None),
])
def test_years(parser, text, lo, hi):
    intent = parser.parse(text)
    assert (intent.year_min, intent.year_max) == (lo, hi)


@pytest.mark.parametrize("text, intent_name", [
    ("a funny sci-fi film", "recommend"),
    ("something older", "refine"),
    ("something else", "more"),
    ("start over", "reset"),
    ("hello!", "chitchat"),
    ("thanks", "chitchat"),
    ("who directed it?", "ask"),
    ("I've seen Alien", "feedback"),
    ("a quiet film about grief", "recommend"),
])
def test_intents(parser, text, intent_name):
    assert parser.parse(text).intent == intent_name


def test_count_and_query(parser):
    intent = parser.parse("give me 5 rom-coms from the 80s")
    assert intent.count == 5 and intent.year_min == 1980
    assert parser.parse("two brothers at war").count is None
    # negated words never reach the soft query, so "no horror" cannot pull horror films closer
    assert "horror" not in parser.parse("a space adventure, no horror").query
    assert "space" in parser.parse("a space adventure, no horror").query


def test_contract_keys(parser):
    d = parser.parse("a comedy").to_dict()
    for key in ("intent", "genres_include", "genres_exclude", "year_min", "year_max", "people", "titles", "query"):
        assert key in d
    assert isinstance(d["genres_include"], list)
