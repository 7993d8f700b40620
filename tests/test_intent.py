"""The lexicon parser: genres with synonyms and negation scope, years, counts, intents."""

import pytest

from recsys.understanding.lexicon import LexiconParser

GENRES = [
    "Action",
    "Adventure",
    "Animation",
    "Biography",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Family",
    "Fantasy",
    "Film-Noir",
    "History",
    "Horror",
    "Music",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Sport",
    "Thriller",
    "War",
    "Western",
]


@pytest.fixture(scope="module")
def parser():
    return LexiconParser(GENRES, newest_year=2014)


@pytest.mark.parametrize(
    "text, include, exclude",
    [
        ("a funny sci-fi film, but nothing scary", {"Comedy", "Sci-Fi"}, {"Horror"}),
        ("A funny science fiction film, nothing with horror please", {"Comedy", "Sci-Fi"}, {"Horror"}),
        ("anything but musicals, maybe a thriller", {"Thriller"}, {"Musical"}),
        ("no horror but funny", {"Comedy"}, {"Horror"}),
        ("a rom-com", {"Romance", "Comedy"}, set()),
        ("scifi without romance or comedy", {"Sci-Fi"}, {"Romance", "Comedy"}),
        ("i don't want anything scary", set(), {"Horror"}),
        ("a WESTERN please", {"Western"}, set()),
        ("film noir", {"Film-Noir"}, set()),
    ],
)
def test_genres_and_negation(parser, text, include, exclude):
    intent = parser.parse(text)
    assert set(intent.genres_include) == include
    assert set(intent.genres_exclude) == exclude
    assert not set(intent.genres_include) & set(intent.genres_exclude)


@pytest.mark.parametrize(
    "text, lo, hi",
    [
        ("something from before 1990", None, 1989),
        ("a 90s thriller", 1990, 1999),
        ("films from the 1980s", 1980, 1989),
        ("after 2000", 2001, None),
        ("since 1995", 1995, None),
        ("between 1970 and 1979", 1970, 1979),
        ("made in 1985", 1985, 1985),
        ("the late seventies", 1976, 1979),
        ("a recent comedy", 2005, None),
        ("a classic western", None, 1979),
        ("a comedy", None, None),
    ],
)
def test_years(parser, text, lo, hi):
    intent = parser.parse(text)
    assert (intent.year_min, intent.year_max) == (lo, hi)


@pytest.mark.parametrize(
    "text, intent_name",
    [
        ("a funny sci-fi film", "recommend"),
        ("something older", "refine"),
        ("something else", "more"),
        ("start over", "reset"),
        ("hello!", "chitchat"),
        ("thanks", "chitchat"),
        ("who directed it?", "ask"),
        ("I've seen Alien", "feedback"),
        ("a quiet film about grief", "recommend"),
    ],
)
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


# --- catalog-aware slots over the real catalog (people, titles, languages...) --------------------------------
@pytest.fixture(scope="module")
def full():
    from tests.catalog_fixtures import real_catalog, real_graph

    return LexiconParser(real_catalog().genres, newest_year=2014, graph=real_graph())


@pytest.mark.parametrize(
    "text, slots",
    [
        (
            "something like Heat but funnier, no horror",
            {"titles": ("Heat",), "genres_include": ("Comedy",), "genres_exclude": ("Horror",)},
        ),
        ("like the godfater", {"titles": ("The Godfather",)}),  # a typo
        ("a film like Heat (1995)", {"titles": ("Heat",), "year_min": None}),  # the year picks the film, not a filter
        ("anything with Bruce Willis but not Die Hard", {"people": ("Bruce Willis",), "titles": ()}),
        ("a film by cristopher nolan", {"people": ("Christopher Nolan",)}),
        ("anything by scorsese", {"people": ("Martin Scorsese",)}),
        ("a French film", {"countries": ("France",), "languages": ()}),
        ("something in Spanish", {"languages": ("Spanish",), "countries": ()}),
        ("a comedy under 90 minutes", {"runtime_max": 89}),  # "under" is strict; bounds are inclusive
        ("nothing longer than an hour and a half", {"runtime_max": 90, "refine": ()}),
        ("a long epic war film", {"runtime_min": 150}),
        ("something from the forties or fifties", {"year_min": 1940, "year_max": 1959}),
        ("give me your best sci-fi, nothing made after 1990", {"year_max": 1990, "year_min": None}),
        ("horror? no. comedy? yes.", {"genres_exclude": ("Horror",), "genres_include": ("Comedy",)}),
        ("thrillers w/o gore pls", {"genres_exclude": ("Horror",)}),
        ("funy scifi plz", {"genres_include": ("Comedy", "Sci-Fi")}),
    ],
)
def test_catalog_slots(full, text, slots):
    intent = full.parse(text)
    for key, value in slots.items():
        got = getattr(intent, key)
        assert (set(got) == set(value)) if isinstance(value, tuple) else got == value, (text, key, got)


@pytest.mark.parametrize(
    "text, intent_name, extra",
    [
        ("how long is Heat?", "ask", {"ask": "runtime", "titles": ("Heat",)}),
        ("who's in the second one?", "ask", {"ask": "cast", "positions": (2,)}),
        ("is it in French?", "ask", {"ask": "language", "languages": ("French",)}),
        ("how old is the first one?", "ask", {"ask": "year", "year_max": None}),  # asks, does not constrain
        ("not the third one", "feedback", {"feedback": "disliked", "positions": (3,)}),
        ("loved it", "feedback", {"feedback": "liked"}),
        (
            "I've already watched Heat and Casablanca",
            "feedback",
            {"feedback": "seen", "titles": ("Heat", "Casablanca")},
        ),
        ("more like the second one", "refine", {"refine": ("similar",), "positions": (2,)}),
        ("more by this director", "refine", {"refine": ("same_director",)}),
        ("less dark please", "refine", {"refine": ("lighter",)}),
        ("shorter", "refine", {"refine": ("shorter",)}),
        ("any decade is fine", "refine", {"clear": ("years",)}),
        ("something else", "more", {}),
        ("what is the capital of france?", "chitchat", {"countries": ()}),
        ("can you order me a pizza", "chitchat", {}),
        ("surprise me", "recommend", {}),
    ],
)
def test_intents_with_targets(full, text, intent_name, extra):
    intent = full.parse(text)
    assert intent.intent == intent_name, (text, intent)
    for key, value in extra.items():
        assert getattr(intent, key) == value, (text, key, getattr(intent, key))


def test_contract_keeps_old_keys_and_adds_new(full):
    d = full.parse("a 90s French comedy with Gérard Depardieu, under two hours").to_dict()
    assert d["genres_include"] == ["Comedy"] and (d["year_min"], d["year_max"]) == (1990, 1999)
    assert d["people"] == ["Gérard Depardieu"] and d["countries"] == ["France"] and d["runtime_max"] == 119
    assert isinstance(d["titles"], list) and isinstance(d["query"], str)


@pytest.mark.parametrize(
    "text, added, kept",
    [
        ("a sad film set in paris", "drama", "sad"),
        ("something uplifting for a rainy monday", "comedy", "uplifting"),
        ("something gritty", "crime", "gritty"),
    ],
)
def test_mood_words_lean_the_query_not_the_filters(parser, text, added, kept):
    """A mood adds genre words to the embedding query (the catalog has no plot for "sad" to match) but no filter."""
    intent = parser.parse(text)
    assert added in intent.query.split() and kept in intent.query.split()
    assert intent.genres_include == () and intent.genres_exclude == ()


def test_a_negated_mood_adds_nothing(parser):
    intent = parser.parse("a drama, nothing too depressing")
    assert intent.genres_include == ("Drama",) and "depressing" not in intent.query
