"""The knowledge graph: people <-> films from catalog fields, fuzzy titles and names."""

import pytest

from recsys.catalog.catalog import Catalog
from recsys.catalog.graph import Graph
from tests.catalog_fixtures import real_graph
from tests.fakes import tiny_items


def test_tiny_graph_links_people_and_films():
    g = Graph.from_catalog(Catalog(tiny_items()))
    assert g.films_by("Ann Lee", ("director",)) and set(g.films_by("Ann Lee")) == {"t1", "t4", "t11"}
    assert set(g.related("t1", "director")) == {"t4", "t11"}  # "more by this director"
    assert "t1" not in g.related("t1", "director")
    assert g.people_of("t6", "director") == ["Ed Vale"]
    assert g.match_title("galaxy giggles") == "t1" and g.match_title("Galaxy Gigles") == "t1"  # typo
    assert g.match_title("the quiet lake") == "t5" and g.match_title("quiet lake") == "t5"  # article optional
    assert g.match_person("ann lee") == "Ann Lee"
    assert g.genres_of("Fay Orr")["War"] == 2
    assert g.match_title("zzzz nothing") is None


@pytest.fixture(scope="module")
def graph():
    return real_graph()


def test_real_catalog_lookup(graph):
    alien = graph.match_title("Alien")
    assert graph.title(alien) == "Alien" and graph.people_of(alien, "director") == ["Ridley Scott"]
    assert graph.match_title("heat", year=1972) != graph.match_title("heat")  # the year picks among namesakes
    assert graph.title(graph.match_title("Heat")) == "Heat"  # an exact title beats "The Heat"
    assert graph.match_person("nolan", loose=True) == "Christopher Nolan"  # best-known bearer of a surname
    assert graph.match_person("stanley kubrik") == "Stanley Kubrick"
    assert "Blade Runner" in [graph.title(i) for i in graph.related(alien, "director")] or graph.related(
        alien, "director"
    )
    with_pacino = graph.films_by("Al Pacino", ("cast",))
    assert graph.match_title("Heat", year=1995) in with_pacino
