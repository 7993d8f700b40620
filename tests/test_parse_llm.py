"""The generator parser: JSON validated by a schema, fallback on bad output, merge precedence, gating."""

import time

import pytest
from pydantic import ValidationError

from recsys.core.types import Intent
from recsys.understanding.generator_parser import LLMParser, MergedParser, ParsedJSON, extract_json, load_prompt, merge
from recsys.understanding.lexicon import LexiconParser
from tests.fakes import ScriptedGenerator

GENRES = ["Action", "Comedy", "Drama", "Horror", "Romance", "Sci-Fi", "Thriller", "Western"]


def test_valid_json_becomes_an_intent_in_catalog_vocabulary():
    gen = ScriptedGenerator(
        [
            '{"want":["comedy","Science Fiction","Cyberpunk"],"avoid":["horror"],"from":1990,'
            '"to":1999,"intent":"recommend"'
        ]
    )  # the stop string cut the closing brace
    intent = LLMParser(gen, GENRES).parse("a funny space film from the 90s, nothing scary")
    assert intent is not None and intent.source == "llm"
    assert intent.genres_include == ("Comedy", "Sci-Fi")  # "Cyberpunk" is not a catalog genre: dropped
    assert intent.genres_exclude == ("Horror",) and (intent.year_min, intent.year_max) == (1990, 1999)
    messages = gen.prompts[0]
    assert messages[:-1] == load_prompt(GENRES)  # the few-shot head is the same every call (KV cache reuse)
    assert messages[-1]["content"].startswith("a funny space film")


@pytest.mark.parametrize(
    "raw",
    ["I think you want a comedy!", '{"intent":"dance"}', '{"want":["Comedy"],"mood":1}', '{"from": 1200}', "{not json"],
)
def test_output_that_does_not_validate_falls_back(raw, caplog):
    assert LLMParser(ScriptedGenerator([raw]), GENRES).parse("a comedy") is None
    assert "lexicon parse" in caplog.text


def test_a_crashing_generator_falls_back():
    class Broken(ScriptedGenerator):
        def complete(self, *a, **k):
            raise RuntimeError("model crashed")

    assert LLMParser(Broken(), GENRES).parse("a comedy") is None


def test_schema_and_extraction():
    assert extract_json('noise {"want": ["Drama"],} trailing') == {"want": ["Drama"]}
    assert ParsedJSON.model_validate({"want": "Drama"}).want == ["Drama"]
    with pytest.raises(ValidationError):
        ParsedJSON.model_validate({"intent": "recommend", "extra": 1})


def test_merge_precedence_exclusions_win():
    lex = Intent(genres_include=("Comedy",), genres_exclude=("Horror",), people=("Tom Hanks",), year_max=1989)
    gen = Intent(
        genres_include=("Drama", "Horror"),
        genres_exclude=("Comedy", "Romance"),
        year_min=2000,
        intent="chitchat",
        source="llm",
    )
    m = merge(lex, gen, lexicon_cued=False)
    assert set(m.genres_exclude) == {"Horror", "Comedy", "Romance"}  # either side's exclusions
    assert m.genres_include == ()  # the lexicon's Comedy was excluded by the generator: exclusions win
    assert (m.year_min, m.year_max) == (None, 1989) and m.people == ("Tom Hanks",)  # lexicon slots stand
    assert m.intent == "recommend" and m.source == "merged"  # small talk cannot override a request with slots
    only_gen = merge(Intent(query="spaceships robots"), Intent(genres_include=("Sci-Fi",), year_max=1989), False)
    assert only_gen.genres_include == ("Sci-Fi",) and only_gen.year_max == 1989
    assert merge(lex, None).genres_include == ("Comedy",)


def test_generator_is_called_only_when_it_can_help():
    gen = ScriptedGenerator(default='{"want":["Sci-Fi"],"intent":"recommend"}')
    parser = MergedParser(LexiconParser(GENRES), LLMParser(gen, GENRES))
    assert parser.parse("a comedy, no horror").genres_include == ("Comedy",)  # the lexicon explained it all
    assert parser.parse("start over").intent == "reset"
    assert parser.calls == 0 and not gen.prompts
    intent = parser.parse("spaceships and robots")  # unexplained content words, no genre found
    assert parser.calls == 1 and intent.genres_include == ("Sci-Fi",) and intent.source == "merged"


@pytest.mark.slow
def test_real_generator_parses_or_falls_back():
    from recsys.core.config import Settings
    from recsys.generation.llm import load_generator

    llm = LLMParser(load_generator(Settings.from_env()), GENRES)
    merged = MergedParser(LexiconParser(GENRES), llm)
    for text in ("spaceships and robots, nothing gory", "a tearjerker about a family", "who directed it?"):
        t0 = time.perf_counter()
        intent = llm.parse(text)
        elapsed = time.perf_counter() - t0  # reported, not asserted (CPU speed varies)
        assert intent is None or set(intent.genres_include) <= set(GENRES), (text, intent, elapsed)
        assert intent is None or intent.intent in (
            "recommend",
            "refine",
            "more",
            "feedback",
            "ask",
            "reset",
            "chitchat",
        )
        assert merged.parse(text).source == "merged"
    assert "Horror" in merged.parse("spaceships and robots, nothing gory").genres_exclude  # lexicon exclusion kept


def test_engine_with_the_merged_parser_uses_the_generators_genres():
    from tests.engine_fixtures import tiny_engine

    gen = ScriptedGenerator(['{"want":["War"],"intent":"recommend"}'])  # the parse; explanations use the default
    engine = tiny_engine(generator=gen, parser="merged")
    sid = engine.new_session()
    done = list(engine.respond(sid, "brothers in the trenches"))[-1]
    assert done.intent.source == "merged" and done.intent.genres_include == ("War",)
    assert done.items and all("War" in r.item.tags for r in done.items)
    assert gen.prompts[0][-1]["content"] == "brothers in the trenches"  # the first call was the parse
