"""Evidence for a recommendation and the claim checker: what a reason may say, and what it may not."""

from __future__ import annotations

from recsys.core.types import DialogueState, Item
from recsys.explain.claims import unsupported
from recsys.explain.evidence import Evidence, collect, evidence_reason, genre_phrase, made_by

ALIEN = Item(
    item_id="alien",
    title="Alien",
    year=1979,
    tags=("Horror", "Sci-Fi"),
    attributes={"director": ["Ridley Scott"], "top_cast": ["Sigourney Weaver", "Harry Dean Stanton"]},
)
REPO = Item(
    item_id="repo",
    title="Repo Man",
    year=1984,
    tags=("Comedy", "Sci-Fi"),
    attributes={
        "director": ["Alex Cox"],
        "top_cast": ["Emilio Estevez", "Harry Dean Stanton"],
        "runtime": 92,
        "tomato_meter": 98,
        "tomato_reviews": 50,
        "popularity": 0.4,
    },
)
WAYNE = Item(
    item_id="searchers",
    title="The Searchers",
    year=1956,
    tags=("Western",),
    attributes={"director": ["John Ford"], "cast": ["John Wayne", "Jeffrey Hunter"], "oscars": 0},
)
SCI_FI_COMEDY_80S = DialogueState(
    genres_include=("Comedy", "Sci-Fi"), genres_all=("Comedy", "Sci-Fi"), year_min=1980, year_max=1989
)


def test_genre_phrase_puts_the_noun_last():
    assert genre_phrase(("Comedy", "Sci-Fi")) == "sci-fi comedy"
    assert genre_phrase(("Western",)) == "western"


def test_evidence_holds_request_matches_taste_links_and_support():
    ev = collect(REPO, SCI_FI_COMEDY_80S, liked=[ALIEN])
    assert [c.kind for c in ev.asked] == ["genre", "era"]
    assert ev.asked[0].text == "sci-fi comedy"
    assert ev.taste[0].kind == "liked" and ev.taste[0].names == ("Harry Dean Stanton", "Alien")
    assert [c.kind for c in ev.support] == ["rating"]
    assert ev.cites() and "Alien" in ev.names()
    assert evidence_reason(REPO, ev) == (
        "A 1984 sci-fi comedy, as you asked; it shares Harry Dean Stanton with Alien, which you liked."
    )


def test_a_person_asked_for_is_cited_with_the_role_the_catalog_gives():
    ev = collect(WAYNE, DialogueState(genres_include=("Western",), people=("john wayne",)))
    assert [c.text for c in ev.asked] == ["western", "with John Wayne"]
    assert evidence_reason(WAYNE, ev).startswith("A 1956 western with John Wayne, as you asked")


def test_a_film_with_nothing_to_cite_falls_back_to_its_makers():
    ev = collect(WAYNE, DialogueState())
    assert not ev.cites()
    assert evidence_reason(WAYNE, ev) == "A 1956 western directed by John Ford, starring John Wayne and Jeffrey Hunter."


def test_the_fallback_passes_its_own_checker():
    braveheart = Item("bh", "Braveheart", 1995, tags=("Biography", "War"), attributes={"oscars": 5})
    laura = Item("laura", "Laura", 1944, tags=("Film-Noir", "Mystery"))
    for item, state, liked in [
        (REPO, SCI_FI_COMEDY_80S, [ALIEN]),
        (WAYNE, DialogueState(), []),
        (REPO, DialogueState(), []),
        (braveheart, DialogueState(genres_include=("Biography",)), []),  # "A 1995 biopic, as you asked"
        (laura, DialogueState(genres_include=("Film-Noir",)), []),
    ]:
        ev = collect(item, state, liked=liked)
        assert unsupported(evidence_reason(item, ev), item, ev, "a funny sci-fi film") == [], item.title


def test_checker_accepts_a_phrasing_of_the_evidence():
    ev = collect(REPO, SCI_FI_COMEDY_80S, liked=[ALIEN])
    text = "A funny 1984 sci-fi comedy, just as you asked, with Harry Dean Stanton from Alien, which you liked."
    assert unsupported(text, REPO, ev, "a funny sci-fi film from the 80s") == []


def test_checker_rejects_what_the_catalog_does_not_say():
    ev = collect(REPO, SCI_FI_COMEDY_80S, liked=[ALIEN])
    request = "a funny sci-fi film from the 80s"
    rejected = {
        "plot": "A sci-fi comedy about a punk who repossesses cars in Los Angeles.",
        "role": "Emilio Estevez plays the main character in this 1984 comedy.",
        "superlative": "The best sci-fi comedy of the decade.",
        "popularity": "A huge hit worldwide, this 1984 sci-fi comedy stars Emilio Estevez.",
        "number": "A 1984 sci-fi comedy that runs 120 minutes.",
        "name": "A 1984 sci-fi comedy starring Tom Hanks.",
        "tone": "A terrifying 1984 sci-fi comedy with Emilio Estevez.",
    }
    for kind, text in rejected.items():
        assert unsupported(text, REPO, ev, request), kind


def test_standing_claims_pass_only_with_a_fact_behind_them():
    ev = Evidence()
    assert unsupported("A critically acclaimed 1984 sci-fi comedy.", REPO, ev) == []  # 98% on Rotten Tomatoes
    assert unsupported("A popular 1984 sci-fi comedy.", REPO, ev)  # popularity 0.4 backs no "popular"


def test_a_liked_film_is_claimed_only_when_there_is_one():
    text = "A 1956 western like the films you liked."
    assert unsupported(text, WAYNE, collect(WAYNE, DialogueState()))


def test_checker_rejects_misattributions_wrong_sources_and_other_films():
    ev = collect(REPO, SCI_FI_COMEDY_80S, liked=[ALIEN])
    request = "a funny sci-fi film from the 80s"
    ok = [
        "A 1984 sci-fi comedy; it shares Harry Dean Stanton with Alien, which you liked.",
        "A 1984 sci-fi comedy, rated 98% on Rotten Tomatoes.",
        "A 1984 sci-fi comedy, as you asked, and I'm glad you asked.",
    ]
    for text in ok:
        assert unsupported(text, REPO, ev, request) == [], text
    bad = [
        "A 1984 sci-fi comedy, which you liked.",  # the pick itself was not liked
        "A 1984 sci-fi comedy, rated 98% on IMDb.",  # that number is the Rotten Tomatoes meter
        "A 1984 sci-fi comedy from Alien.",  # another film as its maker
        "A 1984 sci-fi comedy, and Alien, a classic horror film.",  # describes another film
        "A 1984 sci-fi comedy I loved.",  # the recommender's own experience
        "A 1984 sci-fi comedy, but not funny at all.",  # denies its own genre
        "A 1984 sci-fi comedy, the winner of 1984.",  # an award it has none of
        "A 1984 superhero comedy.",  # a kind of film the catalog does not record
    ]
    for text in bad:
        assert unsupported(text, REPO, ev, request), text


def test_as_you_asked_must_close_a_phrase_that_states_what_was_asked():
    """Like "which you liked", "as you asked" is a claim about the phrase it closes."""
    ev = collect(WAYNE, DialogueState(genres_include=("Western",), people=("john wayne",)))
    request = "westerns with John Wayne"
    assert unsupported("A 1956 western, as you asked.", WAYNE, ev, request) == []
    assert unsupported("Starring John Wayne, which you asked for.", WAYNE, ev, request) == []
    assert unsupported("A 1956 film starring Jeffrey Hunter, as you asked.", WAYNE, ev, request)  # not what was asked
    assert unsupported("The Searchers, which you asked for.", WAYNE, ev, request)  # the film itself was not asked for
    assert unsupported("A 1956 western. Starring Jeffrey Hunter, as you asked.", WAYNE, ev, request)  # another phrase
    jackson = Item("jb", "Jackie Brown", 1997, tags=("Crime",), attributes={"top_cast": ["Samuel L. Jackson"]})
    ev = collect(jackson, DialogueState(people=("samuel l. jackson",)))
    assert unsupported("Starring Samuel L. Jackson, as you asked.", jackson, ev, "with samuel l. jackson") == []


def test_the_makers_line_puts_the_people_asked_for_first():
    ryan = Item(
        "spr",
        "Saving Private Ryan",
        1998,
        tags=("War", "Drama"),
        attributes={"director": ["Steven Spielberg"], "top_cast": ["Matt Damon", "Paul Giamatti", "Tom Hanks"]},
    )
    ev = collect(ryan, DialogueState(genres_include=("War",), people=("tom hanks",)))
    assert made_by(ryan) == "directed by Steven Spielberg, starring Matt Damon and Paul Giamatti"
    assert made_by(ryan, ev) == "directed by Steven Spielberg, starring Tom Hanks and Matt Damon"


def write_labels(path, rows):
    """Labelled reasons for Repo Man against the 80s sci-fi comedy request, plus one unlabelled row to skip."""
    import json

    ev = collect(REPO, SCI_FI_COMEDY_80S, liked=[ALIEN]).to_dict()
    lines = [
        {"id": f"r{i}", "request": "a funny sci-fi film from the 80s", "item_id": "repo", "evidence": ev, "reason": t}
        | {"grounded": g}
        for i, (t, g) in enumerate(rows)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in lines) + '{"id": "x", "grounded": null}\n')
    return path


LABELLED = [
    ("A 1984 sci-fi comedy, as you asked.", True),  # passes, grounded
    ("A 1984 sci-fi comedy about a punk.", False),  # flagged, not grounded
    ("A 1984 sci-fi comedy, a huge hit worldwide.", False),  # flagged (no popularity behind it), not grounded
    ("A 1984 sci-fi comedy with heart.", False),  # passes, but labelled not grounded: a miss
]


def test_eval_reasons_reports_precision_and_recall_on_labels(tmp_path):
    from recsys.catalog.catalog import Catalog
    from recsys.evaluation.reasons import check, read_labels
    from recsys.explain.grounding import TitleGuard

    path = write_labels(tmp_path / "reasons.jsonl", LABELLED)
    catalog = Catalog([ALIEN, REPO])
    result = check(read_labels(path), catalog, TitleGuard(it.title for it in catalog.items))
    assert result["rows"] == 4 and result["not grounded (labels)"] == 3
    assert result["precision"] == 1.0 and result["recall"] == 2 / 3 and len(result["misses"]) == 1


def test_eval_reasons_cli_reports_each_labelled_set_and_refuses_a_missing_one(tmp_path, capsys):
    """The development and held-out sets are reported side by side, never pooled; a wrong path is one clear line."""
    import json

    from recsys.catalog.files import write_jsonl
    from recsys.cli import main

    catalog = tmp_path / "films.jsonl"
    write_jsonl([ALIEN, REPO], catalog)
    dev = write_labels(tmp_path / "dev.jsonl", LABELLED)
    held = write_labels(tmp_path / "held.jsonl", LABELLED[:2])
    out = tmp_path / "figures.json"
    args = ["eval", "reasons", "--catalog", str(catalog), "--data", str(dev), "--data", str(held), "--json", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "== dev.jsonl" in printed and "== held.jsonl" in printed
    figures = json.loads(out.read_text())
    assert figures["dev.jsonl"]["recall"] == 2 / 3 and figures["held.jsonl"]["recall"] == 1.0
    low, high = figures["dev.jsonl"]["recall 95% CI"]
    assert 0.0 <= low <= 2 / 3 <= high <= 1.0 and "recall 95% CI: [" in printed
    assert main(["eval", "reasons", "--catalog", str(catalog), "--data", str(tmp_path / "nope.jsonl")]) == 1
    assert "no labelled reasons at" in capsys.readouterr().err
