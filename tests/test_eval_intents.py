"""`python -m recsys eval intents` on a small labelled file: figures present, bad input explained."""

import json

import pytest

from recsys.cli import main
from recsys.evaluation.intents import LabelError, load_labels, pairs, score
from tests.engine_fixtures import home


def tiny_catalog(tmp_path):
    """The tiny test films plus one with Tom Hanks, as a JSONL catalog (fast to load)."""
    from recsys.catalog.files import write_jsonl
    from recsys.core.types import Item
    from tests.fakes import tiny_items

    path = tmp_path / "tiny.jsonl"
    write_jsonl(
        [*tiny_items(), Item("t99", "Big", 1988, tags=("Comedy", "Thriller"), attributes={"cast": ["Tom Hanks"]})], path
    )
    return str(path)


def write(path, rows):
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


ROWS = [
    {
        "text": "a funny sci-fi film, nothing scary",
        "intent": "recommend",
        "genres_include": ["Comedy", "Sci-Fi"],
        "genres_exclude": ["Horror"],
    },
    {
        "text": "a 90s thriller",
        "intent": "recommend",
        "genres_include": ["Thriller"],
        "year_min": 1990,
        "year_max": 1999,
    },
    {"text": "something with Tom Hanks", "intent": "recommend", "people": ["Tom Hanks"]},
    {"text": "who directed it?", "intent": "ask", "ask": "director"},
    {"text": "start over", "intent": "reset"},
]


def test_scoring_counts_pairs():
    assert pairs({"genres_include": ["Comedy"], "year_min": 1990, "titles": ["Amélie"], "count": None}) == {
        ("genres_include", "comedy"),
        ("year_min", 1990),
        ("titles", "amelie"),
    }
    gold = [{"text": "x", "intent": "recommend", "genres_exclude": ["Horror"], "year_min": 1990}]
    res = score(gold, [{"intent": "recommend", "genres_exclude": ["Horror", "War"]}], [5.0])
    assert res["intent_accuracy"] == 1.0 and res["exclusion_recall"] == 1.0
    assert res["slots"]["genres_exclude"]["precision"] == 0.5 and res["slots"]["year_min"]["recall"] == 0.0
    assert res["latency_ms"]["p95"] == 5.0 and len(res["errors"]) == 1


def test_eval_intents_cli_prints_and_writes_every_figure(tmp_path, capsys):
    data = write(tmp_path / "small.jsonl", ROWS)
    out = tmp_path / "out.json"
    assert (
        main(
            [
                "eval",
                "intents",
                "--parsers",
                "lexicon",
                "--data",
                str(data),
                "--json",
                str(out),
                "--catalog",
                tiny_catalog(tmp_path),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    for label in ("intent accuracy", "slot micro F1", "exclusion recall", "latency p95"):
        assert label in printed
    result = json.loads(out.read_text())["lexicon"]
    assert result["n"] == 5 and result["intent_accuracy"] == 1.0
    assert {"precision", "recall", "f1"} <= set(result["micro"]) and "genres_exclude" in result["slots"]
    assert result["exclusion_recall"] == 1.0 and result["latency_ms"]["mean"] > 0
    assert home().exists()


def test_eval_intents_with_a_scripted_generator_side_by_side(tmp_path, monkeypatch):
    """All three columns in one run (the generator is scripted here; the CLI uses the real one)."""
    import recsys.generation.llm
    from tests.fakes import ScriptedGenerator

    monkeypatch.setattr(
        recsys.generation.llm, "load_generator", lambda s: ScriptedGenerator(default='{"intent":"recommend"}')
    )
    data = write(tmp_path / "small.jsonl", ROWS)
    out = tmp_path / "out.json"
    assert main(["eval", "intents", "--data", str(data), "--json", str(out), "--catalog", tiny_catalog(tmp_path)]) == 0
    result = json.loads(out.read_text())
    assert list(result) == ["lexicon", "llm", "merged"] and result["merged"]["exclusion_recall"] == 1.0
    assert result["llm"]["slots"]["genres_include"]["recall"] == 0.0  # it answered without genres


@pytest.mark.parametrize(
    "rows, message",
    [
        ([{"text": "a comedy"}], "'intent' must be one of"),
        ([{"text": "a comedy", "intent": "recommend", "genre": ["Comedy"]}], "unknown keys"),
        ([{"intent": "recommend"}], "'text' string"),
    ],
)
def test_bad_labels_are_explained(tmp_path, rows, message, capsys):
    data = write(tmp_path / "bad.jsonl", rows)
    with pytest.raises(LabelError, match=message):
        load_labels(data)
    assert main(["eval", "intents", "--parsers", "lexicon", "--data", str(data)]) == 1
    assert message.split("'")[0] in capsys.readouterr().err


def test_unknown_parser_is_an_error(tmp_path, capsys):
    assert main(["eval", "intents", "--parsers", "lexicon,gpt5", "--data", str(write(tmp_path / "a.jsonl", ROWS))]) == 1
    assert "--parsers" in capsys.readouterr().err


def test_parse_cli_keeps_the_contract_with_each_parser(tmp_path, monkeypatch, capsys):
    import io

    import recsys.generation.llm
    from tests.fakes import ScriptedGenerator

    monkeypatch.setattr(
        recsys.generation.llm, "load_generator", lambda s: ScriptedGenerator(default='{"want":["War"]}')
    )
    for parser in ("lexicon", "llm", "merged"):
        monkeypatch.setattr(
            "sys.stdin", io.StringIO('{"text": "a 90s comedy with Tom Hanks, no horror"}\nstart over\n')
        )
        assert main(["parse", "--parser", parser, "--catalog", tiny_catalog(tmp_path)]) == 0
        lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
        assert len(lines) == 2
        for d in lines:
            for key in (
                "intent",
                "genres_include",
                "genres_exclude",
                "year_min",
                "year_max",
                "people",
                "titles",
                "query",
            ):
                assert key in d
        if parser != "llm":
            assert lines[0]["genres_include"] == ["Comedy"] and lines[0]["genres_exclude"] == ["Horror"]
            assert (lines[0]["year_min"], lines[0]["year_max"]) == (1990, 1999) and lines[0]["people"] == ["Tom Hanks"]
            assert lines[1]["intent"] == "reset"
