"""The co-mention table: counting, damped scores, save/load, and the train-ranker verb on the tiny catalog."""

import json
import math

import pytest

from recsys.catalog.comentions import CoMentions
from recsys.cli import main
from recsys.core.errors import RecsysError

TINY = "data/catalogs/tiny.jsonl"


def test_counts_are_symmetric_and_a_film_named_twice_counts_once():
    table = CoMentions.count([["a", "b", "a"], ["a", "b", "c"], ["c"]])
    assert table.counts == {"a": {"b": 2, "c": 1}, "b": {"a": 2, "c": 1}, "c": {"a": 1, "b": 1}}
    assert len(table) == 3


def test_scores_sum_damped_counts_over_the_films_given():
    table = CoMentions({"a": {"x": 3, "y": 1}, "b": {"y": 1}})
    got = table.scores(["a", "b", "unknown"])
    assert got == pytest.approx({"x": math.log1p(3), "y": 2 * math.log1p(1)})


def test_save_and_load_round_trip_and_a_damaged_file_is_named(tmp_path):
    table = CoMentions.count([["a", "b"]], {"catalog": "tiny"})
    table.save(tmp_path / "t.json")
    back = CoMentions.load(tmp_path / "t.json")
    assert back.counts == table.counts and back.meta == {"catalog": "tiny"}
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(RecsysError, match="bad.json"):
        CoMentions.load(tmp_path / "bad.json")


def test_train_ranker_maps_dialogue_films_to_the_catalog(tmp_path):
    """Two ReDial-layout dialogues over the tiny catalog's films: the table counts the pairs that map."""
    films = [json.loads(line) for line in open(TINY)][:3]
    labels = {str(i): f"{f['title']} ({f['year']})" for i, f in enumerate(films)}
    labels["99"] = "A Film Not In The Catalog (2019)"

    def dialogue(ids):
        return {
            "conversationId": "c" + "".join(ids),
            "initiatorWorkerId": 1,
            "respondentWorkerId": 2,
            "movieMentions": {i: labels[i] for i in ids},
            "messages": [
                {"text": f"I liked @{ids[0]}", "senderWorkerId": 1, "messageId": 1},
                {"text": " and ".join(f"@{i}" for i in ids[1:]), "senderWorkerId": 2, "messageId": 2},
            ],
        }

    data = tmp_path / "train.jsonl"
    data.write_text("\n".join(json.dumps(dialogue(ids)) for ids in (["0", "1", "99"], ["0", "2"])) + "\n")
    out = tmp_path / "comentions.json"
    assert main(["train-ranker", "--catalog", TINY, "--data", str(data), "--out", str(out), "--table-only"]) == 0
    table = CoMentions.load(out)
    first, second, third = (f["id"] for f in films)
    assert table.counts[first] == {second: 1, third: 1} and table.counts[second] == {first: 1}
    assert table.meta["mapped"] == 4 and table.meta["mentions"] == 5 and table.meta["dialogues"] == 2


def test_the_engine_loads_the_table_for_its_own_catalog_only(tmp_path):
    from recsys.catalog.comentions import load_comentions

    path = tmp_path / "t.json"
    CoMentions.count([["a", "b"]], {"catalog": "movies"}).save(path)
    assert load_comentions(str(path), "movies").counts == {"a": {"b": 1}, "b": {"a": 1}}
    assert load_comentions(str(path), "other.jsonl") is None  # built for another
    assert load_comentions("none", "movies") is None
    with pytest.raises(RecsysError, match="not found"):
        load_comentions(str(tmp_path / "missing.json"), "movies")
    shipped = load_comentions("", "movies")  # data/ranker/comentions.json, built from the ReDial train sample
    assert shipped is not None and len(shipped) > 500 and shipped.meta["source"] == ["train_sample.jsonl"]
