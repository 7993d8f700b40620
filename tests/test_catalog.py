"""Catalog: item text, user files and their error messages, the film builder and its cache, filters."""

import json
import logging
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from recsys.catalog import moviesdb, sources
from recsys.catalog.catalog import Catalog
from recsys.catalog.files import read_csv, read_jsonl, write_jsonl
from recsys.catalog.moviesdb import build_movies_catalog
from recsys.catalog.sources import load_catalog
from recsys.catalog.text import item_text, normalise_title, title_echoes
from recsys.core.errors import CatalogError
from recsys.core.types import Filters, Item
from tests.fakes import tiny_items

DATA = Path(__file__).resolve().parent.parent / "data" / "catalogs"


@pytest.fixture
def tiny() -> Catalog:
    return Catalog(tiny_items())


def ids(catalog: Catalog, mask: np.ndarray) -> set[str]:
    return {catalog.items[i].item_id for i in np.flatnonzero(mask)}


# --- item_text --------------------------------------------------------------------------------------------------
def test_item_text_holds_the_facts_in_few_words():
    item = Item(
        "x",
        "Moon Laughs",
        2005,
        "Stand-up comedians stranded on a lunar base.",
        ("Comedy", "Sci-Fi"),
        {
            "director": ["Ann Lee"],
            "cast": ["Al A", "Bo B", "Cy C", "Di D"],
            "top_cast": ["Di D", "Cy C"],
            "language": ["English"],
            "country": ["United States"],
            "awards": "Won 1 Oscar.",
            "runtime": 95,
        },
    )
    text = item_text(item)
    assert text.startswith("Moon Laughs (2005).")
    for fact in ("Comedy, Sci-Fi", "Ann Lee", "Di D, Cy C", "English", "United States", "Won 1 Oscar.", "lunar base"):
        assert fact in text
    assert "Al A" not in text  # top_cast wins over the alphabetical cast list
    assert item_text(item) == text


def test_item_text_truncates_long_descriptions():
    item = Item("x", "Long", 2000, " ".join(["word"] * 500), ("Drama",))
    assert len(item_text(item).split()) <= 62
    assert item_text(Item("y", "Bare")) == "Bare. Film."


def test_item_text_without_its_title_keeps_what_the_film_is():
    item = Item("x", "Singin' in the Rain", 1952, "A silent film star makes the leap to talkies.", ("Musical",))
    text = item_text(item, titled=False)
    assert "Singin" not in text and "Rain" not in text
    assert text.startswith("1952. Musical film.") and "talkies" in text
    assert item_text(Item("y", "Bare"), titled=False) == "Film."


def test_title_echoes_reads_content_words_and_shared_stems():
    assert title_echoes("Singin' in the Rain", ["uplifting", "rainy", "monday"])  # rain / rainy
    assert title_echoes("Paris, je t'aime", ["sad", "drama", "paris"])
    assert not title_echoes("The Rainmaker", ["a", "sad", "film"])
    assert not title_echoes("In the Mood for Love", ["something", "in", "the", "mood"][:3])  # function words only
    assert not title_echoes("Up", ["up"])  # "up" is a function word
    assert not title_echoes("Sad Lot", ["sa"])  # a stem shorter than 4 letters must match whole


def test_normalise_title():
    assert normalise_title("Les Misérables") == "les miserables"
    assert normalise_title("Star Wars: Episode IV – A New Hope") == "star wars episode iv a new hope"


# --- user files -------------------------------------------------------------------------------------------------
def test_example_files_load_the_same_catalog():
    a, b = Catalog(read_jsonl(DATA / "tiny.jsonl")), Catalog(read_csv(DATA / "tiny.csv"))
    assert 12 <= len(a) <= 20 and a.content_hash == b.content_hash
    assert {"Comedy", "Sci-Fi", "War", "Drama"} <= set(a.genres)
    assert any(it.text for it in a.items) and any(it.year is None for it in a.items)
    first = a.items[0]
    assert first.people("cast") == ["Dev Okafor", "Lena Marsh", "Tom Reyes"] and first.attributes["runtime"] == 98
    assert isinstance(first.attributes["popularity"], float)


def test_write_jsonl_round_trips(tmp_path):
    for items in (tiny_items(), read_csv(DATA / "tiny.csv")):
        write_jsonl(items, tmp_path / "out.jsonl")
        assert Catalog(read_jsonl(tmp_path / "out.jsonl")).content_hash == Catalog(items).content_hash
    assert not list(tmp_path.glob(".*tmp"))


GOOD = '{"id": "a", "title": "Alpha", "year": 1990, "genres": "Comedy, Drama"}'


@pytest.mark.parametrize(
    "lines, message",
    [
        (
            [f'{{"id": "a{i}", "title": "A"}}' for i in range(6)] + ['{"id": "b", "title": "B", "year": "nineteen"}'],
            "bad.jsonl line 7: field 'year': expected an integer, got 'nineteen'",
        ),
        ([GOOD, '{"id": "b", "title": "B",'], "bad.jsonl line 2: invalid JSON"),
        ([GOOD, '{"id": "b"}'], "bad.jsonl line 2: field 'title': required"),
        ([GOOD, '{"title": "B"}'], "bad.jsonl line 2: field 'id': required"),
        ([GOOD, "", GOOD], "bad.jsonl line 3: field 'id': duplicate id 'a' (first on line 1)"),
        ([], "bad.jsonl: no items"),
        (["", "  "], "bad.jsonl: no items"),
        ([GOOD, "[1, 2]"], "bad.jsonl line 2: expected a JSON object"),
        (
            ['{"id": "b", "title": "B", "genres": [1, 2]}'],
            "bad.jsonl line 1: field 'genres': expected a list of strings",
        ),
        (['{"id": "b", "title": "B", "runtime": "long"}'], "bad.jsonl line 1: field 'runtime': expected an integer"),
        (
            ['{"id": "b", "title": "B", "popularity": 3}'],
            "bad.jsonl line 1: field 'popularity': expected a number between 0 and 1",
        ),
        (['{"id": "b", "title": "B", "year": true}'], "bad.jsonl line 1: field 'year': expected an integer, got True"),
        (['{"id": "b", "title": "B", "attributes": 5}'], "bad.jsonl line 1: field 'attributes': expected an object"),
    ],
)
def test_malformed_jsonl_names_file_line_and_field(tmp_path, lines, message):
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + ("\n" if lines else ""))
    with pytest.raises(CatalogError) as err:
        read_jsonl(path)
    assert message in str(err.value)


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "id,title,year\na,Alpha,1990\nb,Beta,1991\nc,Gamma,nineteen\n",
            "bad.csv line 4: field 'year': expected an integer, got 'nineteen'",
        ),
        ("id,name\na,Alpha\n", "bad.csv line 1: field 'title': missing column"),
        ("title,year\nAlpha,1990\n", "bad.csv line 1: field 'id': missing column"),
        ("id,title\na,Alpha\nb,\n", "bad.csv line 3: field 'title': required"),
        ("id,title\na,Alpha\na,Again\n", "bad.csv line 3: field 'id': duplicate id 'a' (first on line 2)"),
        ("id,title\na,Alpha,extra\n", "bad.csv line 2: more values than columns"),
        ("", "bad.csv: no items"),
        ("id,title\n", "bad.csv: no items"),
    ],
)
def test_malformed_csv_names_file_line_and_field(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(CatalogError) as err:
        read_csv(path)
    assert message in str(err.value)


def test_lenient_where_it_is_safe(tmp_path):
    path = tmp_path / "ok.jsonl"
    path.write_text(
        '{"item_id": 7, "title": " Seven ", "year": "1995", "tags": "Crime|Thriller", '
        '"description": "Two detectives.", "cast": "A, B", "studio": "X"}\n\n'
    )
    [item] = read_jsonl(path)
    assert (item.item_id, item.title, item.year, item.text) == ("7", "Seven", 1995, "Two detectives.")
    assert item.tags == ("Crime", "Thriller")
    assert item.attributes == {"cast": ["A", "B"], "studio": "X"}
    (tmp_path / "bom.csv").write_bytes("\ufeffid,title,genres\nz,Zed,Drama|War\n".encode())
    assert read_csv(tmp_path / "bom.csv")[0].tags == ("Drama", "War")


def test_load_catalog_reads_files_and_refuses_the_rest(tmp_path):
    assert len(load_catalog(str(DATA / "tiny.csv"), tmp_path)) == 16
    assert len(load_catalog(str(DATA / "tiny.jsonl"), tmp_path)) == 16
    with pytest.raises(CatalogError, match="not found"):
        load_catalog(str(tmp_path / "missing.jsonl"), tmp_path)
    with pytest.raises(CatalogError, match="use 'movies'"):
        load_catalog("films.xlsx", tmp_path)
    (tmp_path / "latin1.csv").write_bytes("id,title\n1,Am\xe9lie\n".encode("latin-1"))
    with pytest.raises(CatalogError, match="latin1.csv: not UTF-8"):
        load_catalog(str(tmp_path / "latin1.csv"), tmp_path)


# --- filters ----------------------------------------------------------------------------------------------------
def test_catalog_arrays(tiny):
    assert len(tiny) == 12 and tiny.get("t1").title == "Galaxy Giggles" and tiny.get("nope") is None
    assert tiny.position("t3") == 2 and tiny.genres == sorted(tiny.genres, key=str.lower)
    assert tiny.genre_matrix.shape == (12, len(tiny.genres)) and tiny.years.shape == tiny.popularity.shape == (12,)
    with pytest.raises(CatalogError, match="duplicate item id 't1'"):
        Catalog(tiny_items() + tiny_items()[:1])


def test_mask_genres(tiny):
    assert ids(tiny, tiny.mask(Filters())) == {it.item_id for it in tiny.items}
    assert ids(tiny, tiny.mask(Filters(genres_include=("War",)))) == {"t9", "t10"}
    assert ids(tiny, tiny.mask(Filters(genres_include=("war", "HORROR")))) == {"t3", "t8", "t9", "t10"}
    comedy_no_horror = tiny.mask(Filters(genres_include=("Comedy",), genres_exclude=("Horror", "Family")))
    assert ids(tiny, comedy_no_horror) == {"t1", "t2", "t4", "t7"}
    assert not tiny.mask(Filters(genres_include=("Telenovela",))).any()  # unknown: matches nothing, no crash
    assert ids(tiny, tiny.mask(Filters(genres_include=("Telenovela", "War")))) == {"t9", "t10"}
    assert tiny.mask(Filters(genres_exclude=("Telenovela",))).all()
    both = tiny.mask(Filters(genres_include=("Comedy", "Horror"), genres_all=("Comedy", "Horror")))
    assert ids(tiny, both) == {"t8"}  # a compound genre needs every part, not any


def test_mask_years_and_ids():
    items = tiny_items() + [Item("u", "Undated", None, tags=("Comedy",))]
    cat = Catalog(items)
    assert ids(cat, cat.mask(Filters(year_min=1985, year_max=1999))) == {"t1", "t2", "t6", "t7"}  # inclusive
    assert "u" not in ids(cat, cat.mask(Filters(year_max=2100))) and "u" in ids(cat, cat.mask(Filters()))
    assert not cat.mask(Filters(year_min=2000, year_max=1990)).any()
    kept = ids(cat, cat.mask(Filters(genres_include=("Comedy",), exclude_ids=frozenset({"t1", "t4", "zzz"}))))
    assert kept == {"t2", "t7", "t8", "t11", "u"}


def test_mask_language_country_people_match_a_pass_over_every_item():
    """The posting lists give exactly what checking each film's own fields gives, on the real 17k catalog."""
    from tests.catalog_fixtures import real_catalog

    cat = real_catalog()

    def brute(role_names, wanted, exact):
        want = set(wanted) if exact else {w.lower() for w in wanted}
        return {
            it.item_id
            for it in cat.items
            if want & {v if exact else v.lower() for r in role_names for v in it.people(r)}
        }

    some = cat.items[123]
    person = (some.people("director") or some.people("cast"))[0]
    cases = [
        (Filters(languages=("french", "Japanese", "Klingon")), ("language",), ("french", "Japanese", "Klingon"), False),
        (Filters(countries=("ITALY",)), ("country",), ("ITALY",), False),
        (Filters(people=(person, "Nobody Atall")), ("director", "writer", "cast"), (person, "Nobody Atall"), True),
    ]
    for filters, roles, wanted, exact in cases:
        got = ids(cat, cat.mask(filters))
        assert got == brute(roles, wanted, exact) and got, filters
    assert not cat.mask(Filters(people=(person.lower() + "x",))).any()  # people match by exact name


def test_content_hash_follows_content():
    items = tiny_items()
    last = items[-1]
    changed = items[:-1] + [Item(last.item_id, last.title, 1980, last.text, last.tags, last.attributes)]
    assert Catalog(items).content_hash == Catalog(tiny_items()).content_hash != Catalog(changed).content_hash
    assert Catalog(items).content_hash != Catalog(items[::-1]).content_hash


# --- the film builder on a small db of the same shape -----------------------------------------------------------
OMDB = (
    "ID",
    "imdbID",
    "Title",
    "Year",
    "Rating",
    "Runtime",
    "Genre",
    "Released",
    "Director",
    "Writer",
    "Cast",
    "Metacritic",
    "imdbRating",
    "imdbVotes",
    "Language",
    "Country",
    "Awards",
    "lastUpdated",
    "Oscars",
)
TOMATOES = (
    "ID",
    "Image",
    "Rating",
    "Meter",
    "Reviews",
    "Fresh",
    "Rotten",
    "Consensus",
    "userMeter",
    "userRating",
    "userReviews",
    "DVD",
    "BoxOffice",
    "Production",
    "Website",
    "lastUpdated",
)


def make_db(path: Path, extra_title: str = "") -> Path:
    """A movies.db with the real schema and the real kinds of mess: N/A, blanks, NULLs, repeats."""
    films = [  # ID, imdbID, Title, Year, Runtime, Genre, Director, Cast, Awards, Oscars, Reviews, Consensus
        (
            1,
            "tt01",
            "Space Farce",
            1985,
            95.0,
            "Comedy, Sci-Fi",
            "Ann Lee",
            "Zed Star, Amy Bit",
            "Won 1 Oscar.",
            1,
            200,
            "Silly fun.",
        ),
        (2, "tt02", "War Story", 1970, None, "War,Drama ", "N/A", "", None, 0, 20, None),
        (3, "tt03", "Noise", 2007, 91.0, "Comedy", "Henry Bean", "Zed Star", "N/A", 0, 50, ""),
        (4, "tt04", "Noise", 2007, None, "", "Matt Saville", None, None, 0, None, None),  # another film
        (5, "tt01", "Space Farce Redux", 2001, None, "Comedy", "Ann Lee", None, None, 0, 5, None),  # same id
        (6, "tt06", "noise!", 2007, None, "Drama", "Henry Bean", None, None, 0, 5, None),  # same film as tt03
        (7, "tt07", "Quiet", 1999, 80.0, "N/A", "", "Amy Bit", None, 0, 20, None),
    ] + ([(8, "tt08", extra_title, 2000, 90.0, "Drama", "X", None, None, 0, 1, None)] if extra_title else [])
    db = sqlite3.connect(path)
    db.execute(f"CREATE TABLE omdb ({', '.join(f'{c!r}' for c in OMDB)})")
    db.execute(f"CREATE TABLE tomatoes ({', '.join(f'{c!r}' for c in TOMATOES)})")
    for i, imdb, title, year, runtime, genre, director, cast, awards, oscars, reviews, consensus in films:
        row = dict.fromkeys(OMDB, None) | {
            "ID": i,
            "imdbID": imdb,
            "Title": title,
            "Year": year,
            "Runtime": runtime,
            "Genre": genre,
            "Director": director,
            "Cast": cast,
            "Awards": awards,
            "Oscars": oscars,
            "Language": "English, N/A",
            "Country": "United States",
        }
        db.execute(f"INSERT INTO omdb VALUES ({', '.join('?' * len(OMDB))})", tuple(row.values()))
        trow = dict.fromkeys(TOMATOES, None) | {"ID": i, "Reviews": reviews, "Consensus": consensus, "Meter": 80}
        db.execute(f"INSERT INTO tomatoes VALUES ({', '.join('?' * len(TOMATOES))})", tuple(trow.values()))
    db.commit()
    db.close()
    return path


def test_builder_cleans_splits_and_dedupes(tmp_path, caplog):
    caplog.set_level(logging.INFO, "recsys.catalog")
    items = build_movies_catalog(make_db(tmp_path / "movies.db"))
    by_id = {it.item_id: it for it in items}
    assert list(by_id) == ["tt01", "tt02", "tt03", "tt04", "tt07"]  # db order; the richer repeat kept in place
    assert "dropped 1 duplicate ids, 1 duplicate title+year rows" in caplog.text
    space, war, quiet = by_id["tt01"], by_id["tt02"], by_id["tt07"]
    assert space.title == "Space Farce" and space.text == "Silly fun." and space.tags == ("Comedy", "Sci-Fi")
    assert war.tags == ("War", "Drama") and "director" not in war.attributes and "cast" not in war.attributes
    assert quiet.tags == () and space.attributes["language"] == ["English"] and space.attributes["runtime"] == 95
    assert space.attributes["awards"] == "Won 1 Oscar." and "awards" not in by_id["tt03"].attributes
    assert "N/A" not in json.dumps([it.attributes for it in items]) + str([it.tags for it in items])
    pops = {k: v.attributes["popularity"] for k, v in by_id.items()}
    assert pops["tt01"] == 1.0 and pops["tt04"] == 0.0 and pops["tt02"] == pops["tt07"] < pops["tt03"]
    assert space.attributes["cast"] == ["Zed Star", "Amy Bit"] and space.attributes["top_cast"][0] == "Zed Star"


def test_load_movies_builds_once_then_uses_the_cache(tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.INFO, "recsys.catalog")
    db = make_db(tmp_path / "movies.db")
    monkeypatch.setattr(sources, "movies_db_path", lambda: db)
    first = load_catalog("movies", tmp_path / "cache")
    assert "building the film catalog" in caplog.text and len(first) == 5
    [cached] = (tmp_path / "cache" / "catalog").glob("movies-*.jsonl")
    caplog.clear()
    second = load_catalog("movies", tmp_path / "cache")
    assert "building" not in caplog.text and second.content_hash == first.content_hash
    cached.write_text(cached.read_text()[:-40])  # a damaged cache is rebuilt, not trusted
    third = load_catalog("movies", tmp_path / "cache")
    assert "rebuilding" in caplog.text and third.content_hash == first.content_hash
    make_db(tmp_path / "v2.db", extra_title="New Film")  # a new db version gets its own cache
    db.write_bytes((tmp_path / "v2.db").read_bytes())
    assert len(load_catalog("movies", tmp_path / "cache")) == 6
    assert len(list((tmp_path / "cache" / "catalog").glob("movies-*.jsonl"))) == 2


def test_missing_sample_data_says_what_to_install(monkeypatch):
    monkeypatch.setattr(moviesdb.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(CatalogError, match=r"pip install bokeh-sampledata==2026\.1"):
        load_catalog("movies", Path("/nonexistent"))


# --- the real films (a couple of seconds) -----------------------------------------------------------------------
@pytest.mark.slow
def test_real_movies_catalog(tmp_path, monkeypatch):
    cat = load_catalog("movies", tmp_path)
    assert 17000 <= len(cat) < 17472 and len(cat.by_id) == len(cat)
    assert {"Sci-Fi", "Comedy", "Horror", "War", "Drama"} <= set(cat.genres) and len(cat.genres) < 30
    assert all("," not in g for g in cat.genres)
    values = [v for it in cat.items for v in (it.title, *it.tags, *it.attributes.values())]
    flat = [x for v in values for x in (v if isinstance(v, list) else [v])]
    assert not [x for x in flat if x is None or (isinstance(x, str) and x.strip() in ("", "N/A"))]
    assert all(it.item_id.startswith("tt") and it.year and 1900 < it.year < 2030 for it in cat.items)
    assert 0.0 <= cat.popularity.min() and cat.popularity.max() <= 1.0 and cat.popularity.std() > 0.2
    alien = next(it for it in cat.items if it.title == "Alien" and it.year == 1979)
    assert "Sigourney Weaver" in item_text(alien) and "Sci-Fi" in alien.tags and alien.attributes["popularity"] > 0.8
    assert np.percentile([len(t.split()) for t in cat.texts()], 99) <= 60
    # the second load reads the cache: building again would fail here
    monkeypatch.setattr(sources, "build_movies_catalog", lambda *a, **k: pytest.fail("rebuilt the catalog"))
    again = load_catalog("movies", tmp_path)
    assert again.content_hash == cat.content_hash
