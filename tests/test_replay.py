"""Replay: scripts validated with file/turn/field errors (exit 2), expectation checks, runs in-process and over
HTTP, and the shipped corpus through the real parts (template reasons) and a few scripts with the real generator."""

from __future__ import annotations

import json
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from recsys.catalog.catalog import Catalog
from recsys.catalog.files import write_jsonl
from recsys.cli import main
from recsys.core.types import INTENTS
from recsys.evaluation.expectations import Outcome, Seen, Vocabulary, check, resolve
from recsys.evaluation.replay import CORPUS, EngineBackend, run_scripts
from recsys.evaluation.replay_results import table, to_json, to_junit
from recsys.evaluation.script import Expect, load_scripts
from recsys.explain.grounding import TitleGuard
from recsys.understanding.lexicon import LexiconParser
from tests.engine_fixtures import tiny_engine
from tests.fakes import tiny_items

ITEMS = {it.title: it for it in tiny_items()}
CATALOG = Catalog(tiny_items())

PASSING = """
name: tiny-funny-sci-fi
turns:
  - user: "a funny science fiction film, nothing scary"
    expect: {intent: recommend, min_items: 3, max_items: 3, genres_any: [comedy, scifi], genres_none: [Horror],
             mentions_only_recommended: true}
  - feedback: {item: 1, liked: false}
  - user: "something else"
    expect: {min_items: 1, genres_none: [Horror], excludes_disliked: true, no_repeats: true}
"""
FAILING = """
name: tiny-wrong-decade
turns:
  - user: "a comedy"
    expect: {min_items: 1, year_max: 1950}
"""


def write(folder: Path, name: str, text: str) -> Path:
    """A script file under folder."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


@pytest.fixture()
def tiny_catalog_file(tmp_path) -> Path:
    """The fake engine's catalog as a file, so CLI runs resolve names against the same films."""
    path = tmp_path / "tiny.jsonl"
    write_jsonl(tiny_items(), path)
    return path


# --- invalid scripts ---------------------------------------------------------------------------------------------
BAD = [
    ("turns:\n  - user: hi\n", "name: Field required"),
    ("name: x\nturns: []\n", "turns: List should have at least 1 item"),
    ("name: x\nturns:\n  - user: hi\n    expect: {min_itemz: 1}\n", "turn 1: expect.min_itemz: Extra inputs"),
    ("name: x\nturns:\n  - user: hi\n  - user: there\n    expect: {year_max: nineteen}\n", "turn 2: expect.year_max:"),
    ("name: x\nturns:\n  - user: hi\n    feedback: {item: 1, liked: true}\n", "turn 1: a turn has exactly one"),
    (
        "name: x\nturns:\n  - user: hi\n    expect: {reply_matches: '(unclosed'}\n",
        "turn 1: expect.reply_matches: invalid regular expression",
    ),
    ("name: x\nturns:\n  - user: hi\n    expect: {intent: shout}\n", "turn 1: expect.intent: unknown intent 'shout'"),
    ("name: x\nturns:\n  - user: hi\n  - feedback: {item: 0, liked: true}\n", "turn 2: feedback.item"),
    (
        "name: x\nturns:\n  - user: hi\n    expect: {min_items: 3, max_items: 1}\n",
        "turn 1: expect: min_items is larger",
    ),
    (
        "name: x\nturns:\n  - user: hi\n    expect: {genres_any: [Scifi-x]}\n",
        "turn 1: expect.genres_any: unknown genre 'Scifi-x'",
    ),
    (
        "name: x\nturns:\n  - user: hi\n  - user: yo\n    expect: {titles_exclude: [Nope Movie]}\n",
        "turn 2: expect.titles_exclude: title 'Nope Movie' is not in the catalog",
    ),
    (
        "name: x\nturns:\n  - user: hi\n    expect: {people_any: [Nobody Atall]}\n",
        "turn 1: expect.people_any: nobody called 'Nobody Atall'",
    ),
    ("name: x\nturns: [unclosed\n", "not valid YAML"),
]


@pytest.mark.parametrize("text, message", BAD)
def test_invalid_script_exits_2_naming_file_turn_and_field(tmp_path, tiny_catalog_file, capsys, text, message):
    path = write(tmp_path / "scripts", "bad", text)
    assert main(["replay", str(path), "--catalog", str(tiny_catalog_file)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and message in err


def test_duplicate_script_names_are_invalid(tmp_path, tiny_catalog_file, capsys):
    write(tmp_path / "s", "a", FAILING)
    write(tmp_path / "s", "b", FAILING)
    assert main(["replay", str(tmp_path / "s"), "--catalog", str(tiny_catalog_file)]) == 2
    assert "tiny-wrong-decade" in capsys.readouterr().err


def test_script_genres_resolve_through_the_chat_synonyms():
    vocab = Vocabulary(CATALOG)
    assert vocab.genres(["sci-fi", "Science Fiction", "funny", "scary"]) == ["Sci-Fi", "Comedy", "Horror"]
    parsed = LexiconParser(CATALOG.genres).parse("a funny scifi film")
    assert vocab.genres(["funny", "scifi"]) == list(parsed.genres_include)


# --- expectation checks on synthetic outcomes --------------------------------------------------------------------
def run_check(expect: dict, titles: list[str], reply: str = "", seen: Seen | None = None, **outcome) -> list[str]:
    """check() for one turn whose list is the tiny films with these titles."""
    from recsys.evaluation.script import LoadedScript, Script

    script = Script.model_validate({"name": "t", "turns": [{"user": "x", "expect": expect}]})
    bound = resolve(LoadedScript(Path("t.yaml"), script), Vocabulary(CATALOG))
    items = tuple(ITEMS[t] for t in titles)
    guard = TitleGuard(ITEMS)
    out = Outcome(reply=reply or " ".join(f"**{t}**" for t in titles), items=items, **outcome)
    return check(script.turns[0].expect, bound, 0, out, seen or Seen(), guard)


CASES = [  # expectation, titles shown, the failure expected ("" = passes)
    ({"min_items": 2}, ["Galaxy Giggles"], "min_items: 1 items"),
    ({"min_items": 1}, ["Galaxy Giggles"], ""),
    ({"max_items": 1}, ["Galaxy Giggles", "Laugh Track"], "max_items: 2 items"),
    ({"genres_any": ["Sci-Fi", "War"]}, ["Galaxy Giggles", "Laugh Track"], "genres_any: Laugh Track (1988)"),
    (
        {"genres_all": ["comedy", "sci-fi"]},
        ["Galaxy Giggles", "Laugh Track"],
        "genres_all: Laugh Track (1988) lacks Sci-Fi",
    ),
    ({"genres_none": ["scary"]}, ["Screaming Stars"], "genres_none: Screaming Stars (2010) is Horror"),
    ({"genres_none": ["Horror"]}, ["Galaxy Giggles"], ""),
    ({"year_min": 1980}, ["Trench Diaries"], "year_min: Trench Diaries (1970)"),
    ({"year_max": 1980}, ["Cosmic Chef"], "year_max: Cosmic Chef (2012)"),
    ({"people_any": ["Ann Lee"]}, ["Galaxy Giggles", "Laugh Track"], "people_any: Laugh Track (1988)"),
    ({"people_any": ["ann lee"]}, ["Galaxy Giggles", "Moon Laughs"], ""),
    ({"titles_include": ["Harbor Heist"]}, ["Galaxy Giggles"], "titles_include: Harbor Heist is not in the list"),
    ({"titles_exclude": ["Harbor Heist (1995)"]}, ["Harbor Heist"], "titles_exclude: Harbor Heist (1995)"),
    ({"reply_matches": "(?i)galaxy"}, ["Galaxy Giggles"], ""),
    ({"reply_matches": "nebula"}, ["Galaxy Giggles"], "reply_matches: /nebula/"),
    ({"reply_not_matches": "Giggles"}, ["Galaxy Giggles"], "reply_not_matches: /Giggles/"),
    ({"runtime_max": 90}, ["Galaxy Giggles"], "runtime_max: Galaxy Giggles (1985) runs 95"),
    ({"languages_any": ["french"]}, ["Galaxy Giggles"], "languages_any: Galaxy Giggles (1985) is in English"),
    ({"languages_any": ["English"]}, ["Galaxy Giggles"], ""),
]


@pytest.mark.parametrize("expect, titles, failure", CASES)
def test_each_expectation_key(expect, titles, failure):
    fails = run_check(expect, titles)
    assert (fails == []) if not failure else any(f.startswith(failure) for f in fails), fails


def test_history_keys_use_what_the_script_saw():
    giggles, heist = ITEMS["Galaxy Giggles"], ITEMS["Harbor Heist"]
    seen = Seen(shown_ids={giggles.item_id}, disliked_ids={heist.item_id}, last=(ITEMS["Laugh Track"],))
    assert run_check({"no_repeats": True}, ["Galaxy Giggles"], seen=seen)[0].startswith("no_repeats: Galaxy")
    assert run_check({"no_repeats": True}, ["Moon Laughs", "Moon Laughs"], seen=seen) == [
        "no_repeats: the list has duplicates"
    ]
    assert run_check({"excludes_disliked": True}, ["Harbor Heist"], seen=seen)[0].startswith("excludes_disliked")
    # a dislike in words is known from the session's state, not from a feedback turn
    assert run_check(
        {"excludes_disliked": True}, ["Moon Laughs"], seen=seen, disliked_ids=(ITEMS["Moon Laughs"].item_id,)
    )
    assert run_check({"older_than_last": True}, ["Trench Diaries"], seen=seen) == []  # 1970 < 1988
    assert run_check({"older_than_last": True}, ["Cosmic Chef"], seen=seen)[0].startswith("older_than_last")
    assert run_check({"newer_than_last": True}, ["Cosmic Chef"], seen=seen) == []
    assert run_check({"feedback_recorded": True}, [], seen=seen, liked_ids=(), disliked_ids=()) == [
        "feedback_recorded: the message added no like or dislike to the session"
    ]
    assert run_check({"feedback_recorded": True}, [], seen=seen, liked_ids=(giggles.item_id,)) == []


def test_intent_and_latency_checks():
    assert run_check({"intent": ["refine", "more"]}, [], intent="recommend") == [
        "intent: parsed as 'recommend', wanted refine or more"
    ]
    assert run_check({"intent": "recommend"}, [], intent="recommend") == []
    assert run_check({"intent": "ask"}, []) == []  # over HTTP the intent may be unknown: not checked
    assert run_check({"max_latency_ms": 100}, [], latency_ms=250.0) == ["max_latency_ms: took 250 ms, limit 100"]


def test_mentions_only_recommended_uses_the_title_guard():
    fails = run_check(
        {"mentions_only_recommended": True},
        ["Galaxy Giggles"],
        reply="**Galaxy Giggles** — by Ann Lee, funnier than **Harbor Heist**.",
    )
    assert fails == ["mentions_only_recommended: the reply names Harbor Heist"]
    assert (
        run_check(
            {"mentions_only_recommended": True},
            ["Galaxy Giggles"],
            reply="**Galaxy Giggles** (1985) — a comedy from Ann Lee about space cadets.",
        )
        == []
    )


# --- replay on the tiny engine -----------------------------------------------------------------------------------
def test_replay_in_process_reports_passes_and_failures(tmp_path):
    write(tmp_path / "s", "a", PASSING)
    write(tmp_path / "s", "b", FAILING)
    scripts = load_scripts([tmp_path / "s"])
    results = run_scripts(scripts, EngineBackend(tiny_engine()))
    assert [r.passed for r in results] == [True, False]
    assert results[1].failures and all(f.startswith("turn 1: year_max:") for f in results[1].failures)
    assert "2 scripts: 1 passed, 1 failed" in table(results)
    data = to_json(results)
    assert data["summary"] == {"scripts": 2, "passed": 1, "failed": 1}
    first = data["scripts"][0]["turns"][0]
    assert first["intent"] == "recommend" and len(first["items"]) == 3 and "total" in first["timings_ms"]
    suite = ET.fromstring(to_junit(results))
    assert suite.get("tests") == "2" and suite.get("failures") == "1"
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["tiny-funny-sci-fi", "tiny-wrong-decade"]
    assert cases[0].find("failure") is None and "year_max" in cases[1].find("failure").text


def test_each_script_gets_a_fresh_user_unless_it_names_one(tmp_path):
    write(tmp_path / "s", "a", PASSING)
    write(tmp_path / "s", "b", "user: tester-7\n" + textwrap.dedent(FAILING).lstrip())
    write(tmp_path / "s", "c", textwrap.dedent(FAILING).replace("tiny-wrong-decade", "again"))
    engine = tiny_engine()
    sessions: list[str] = []

    class Recording(EngineBackend):
        def start(self, user):
            sessions.append(super().start(user))
            return sessions[-1]

    run_scripts(load_scripts([tmp_path / "s"]), Recording(engine))
    users = [engine.session(s).user_id for s in sessions]
    assert users[1] == "tester-7" and len(set(users)) == 3


def test_feedback_to_a_position_not_shown_is_a_failure(tmp_path):
    write(
        tmp_path / "s",
        "a",
        """
        name: too-far
        turns:
          - user: "two comedies"
          - feedback: {item: 3, liked: false}
        """,
    )
    result = run_scripts(load_scripts([tmp_path / "s"]), EngineBackend(tiny_engine()))[0]
    assert result.failures == ["turn 2: feedback.item: position 3, but the last list had 2 items"]


def test_corpus_is_valid_and_covers_the_issue():
    scripts = load_scripts([CORPUS])
    assert len(scripts) >= 40
    intents = {i for s in scripts for t in s.script.turns for i in t.expect.intent}
    assert set(INTENTS) <= intents
    keys = {k for s in scripts for t in s.script.turns for k in t.expect.model_dump(exclude_defaults=True)}
    assert set(Expect.model_fields) - {"max_latency_ms"} <= keys  # latency is a timed check: unit-tested only
    assert any(t.feedback for s in scripts for t in s.script.turns)
    assert sum("hostile" in s.script.tags for s in scripts) >= 5
    assert any(t.targets for s in scripts for t in s.script.turns)


# --- through a served app (ui) -----------------------------------------------------------------------------------
@pytest.mark.ui
def test_replay_against_a_served_app(tmp_path, tiny_catalog_file, capsys):
    from tests.test_app import serve_tiny

    ok = write(tmp_path / "ok", "a", PASSING)
    bad = write(tmp_path / "bad", "b", FAILING)
    with serve_tiny() as (engine, url):
        common = ["--url", url, "--catalog", str(tiny_catalog_file)]
        assert main(["replay", str(ok), *common, "--json", str(tmp_path / "r.json")]) == 0, capsys.readouterr()
        assert main(["replay", str(bad), *common, "--junit", str(tmp_path / "r.xml")]) == 1
    data = json.loads((tmp_path / "r.json").read_text())
    turns = data["scripts"][0]["turns"]
    assert data["summary"]["passed"] == 1 and turns[0]["intent"] == "recommend" and len(turns[0]["items"]) == 3
    assert turns[2]["items"] and turns[0]["items"][0]["id"] not in {i["id"] for i in turns[2]["items"]}
    assert "year_max" in (tmp_path / "r.xml").read_text()


# --- the corpus through the real parts (slow) ---------------------------------------------------------------------
@pytest.mark.slow
def test_corpus_passes_with_real_parts_and_template_reasons(tmp_path, capsys):
    rc = main(
        [
            "replay",
            str(CORPUS),
            "--explainer",
            "template",
            "--json",
            str(tmp_path / "r.json"),
            "--junit",
            str(tmp_path / "r.xml"),
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0, out
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["summary"]["scripts"] == len(load_scripts([CORPUS])) and data["summary"]["failed"] == 0
    assert len(ET.parse(tmp_path / "r.xml").getroot().findall("testcase")) == data["summary"]["scripts"]


GENERATED = ["recommend-funny-scifi-no-horror.yaml", "hostile-injection-asks-for-other-titles.yaml"]


@pytest.mark.slow
def test_a_few_scripts_pass_with_the_real_generator(tmp_path, capsys):
    rc = main(
        [
            "replay",
            *(str(CORPUS / name) for name in GENERATED),
            "--explainer",
            "generate",
            "--json",
            str(tmp_path / "r.json"),
        ]
    )
    assert rc == 0, capsys.readouterr().out
    data = json.loads((tmp_path / "r.json").read_text())
    reasons = [i["reason"] for s in data["scripts"] for t in s["turns"] for i in t.get("items", [])]
    assert reasons and all(reasons)


# --- the fast explainer mode replay uses in CI ---------------------------------------------------------------------
def test_template_explainer_writes_fact_reasons_without_the_generator(monkeypatch):
    from recsys.core.config import Settings
    from recsys.core.errors import ConfigError
    from recsys.explain.evidence import Evidence, evidence_reason
    from tests.fakes import ScriptedGenerator

    monkeypatch.setenv("RECSYS_EXPLAINER", "template")
    assert Settings.from_env().explainer == "template"
    monkeypatch.setenv("RECSYS_EXPLAINER", "poetry")
    with pytest.raises(ConfigError, match="explainer"):
        Settings.from_env()
    monkeypatch.delenv("RECSYS_EXPLAINER")
    generator = ScriptedGenerator()
    engine = tiny_engine(generator=generator, explainer="template")
    done = list(engine.respond(engine.new_session(), "a funny sci-fi film"))[-1]
    assert done.items and generator.prompts == []
    evidence = [Evidence.from_dict(d) for d in done.details["evidence"]]
    assert [r.reason for r in done.items] == [evidence_reason(r.item, ev) for r, ev in zip(done.items, evidence)]
    assert done.details["sources"] == ["template"] * len(done.items)
    assert all(ev.asked for ev in evidence)  # sci-fi comedies, as asked: the reason says so
    assert all(r.item.title in done.text and r.reason in done.text for r in done.items)
