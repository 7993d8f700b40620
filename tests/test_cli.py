"""`python -m recsys` verbs: help text, the parse contract, errors as one line with exit 1."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TINY = REPO / "data" / "catalogs" / "tiny.jsonl"


def run(*args, stdin="", env_extra=None):
    import os

    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run(
        [sys.executable, "-m", "recsys", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=120,
    )


@pytest.mark.parametrize("verb", ["chat", "build-index", "parse"])
def test_help(verb):
    out = run(verb, "--help")
    assert out.returncode == 0 and "--catalog" in out.stdout and "--db-url" in out.stdout


def test_serve_help_is_the_apps():
    out = run("serve", "--help")
    assert out.returncode == 0 and "--port" in out.stdout and "--auth" in out.stdout


def test_parse_contract_json_and_plain_lines():
    stdin = '{"text": "a funny sci-fi film, nothing scary"}\nsomething from before 1990\n\n{"text": 5}\n{broken\n'
    out = run("parse", "--catalog", str(TINY), stdin=stdin)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(rows) == 4
    for row in rows:
        for key in ("intent", "genres_include", "genres_exclude", "year_min", "year_max", "people", "titles", "query"):
            assert key in row
    assert rows[0]["genres_exclude"] == ["Horror"] and set(rows[0]["genres_include"]) == {"Comedy", "Sci-Fi"}
    assert rows[1]["year_max"] == 1989 and isinstance(rows[1]["year_max"], int)


def test_parse_takes_messages_as_arguments_too():
    """`recsys parse "a funny horror film"`: each argument is one message, stdin is not read."""
    out = run("parse", "--catalog", str(TINY), "a funny horror film from the 80s", "{not json}", stdin="ignored\n")
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [row["text"] for row in rows] == ["a funny horror film from the 80s", "{not json}"]
    assert set(rows[0]["genres_include"]) == {"Comedy", "Horror"} and rows[0]["year_min"] == 1980


def test_errors_are_one_line_and_exit_1(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "title": "A", "year": "nineteen"}\n')
    out = run("parse", "--catalog", str(bad), stdin="a comedy\n")
    assert out.returncode == 1
    assert out.stderr.startswith("error: ") and "line 1" in out.stderr and "year" in out.stderr
    assert "Traceback" not in out.stderr
    out = run("parse", stdin="x\n", env_extra={"RECSYS_PORT": "notaport"})
    assert out.returncode == 1 and "RECSYS_PORT" in out.stderr
