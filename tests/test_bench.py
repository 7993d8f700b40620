"""The bench runs end to end on a tiny catalog and writes both reports; FaissIndex keeps ExactIndex's
contract (same top results, hard filters before top-k). No timed assertions: speed is the bench's report."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from recsys.bench import runner as bench
from recsys.bench import targets as bench_targets
from recsys.catalog.catalog import Catalog
from recsys.core.config import Settings
from recsys.core.errors import ConfigError
from recsys.core.types import Filters
from recsys.search.backends import ExactIndex, FaissIndex, choose_backend
from recsys.search.index import ItemIndex
from tests.engine_fixtures import tiny_engine
from tests.fakes import HashingEncoder, tiny_items


def unit(n: int, d: int, seed: int = 0) -> np.ndarray:
    """(n, d) random unit rows."""
    v = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_faiss_returns_the_exact_top_results_when_tuned(kind):
    vectors, queries = unit(3000, 32), unit(20, 32, seed=1)
    exact = ExactIndex(vectors)
    ann = FaissIndex(vectors, kind=kind, exact_below=0)
    assert ann.tune(queries, k=10, target_recall=1.0) == 1.0
    for q in queries:
        want, want_scores = exact.search(q, 10)
        got, got_scores = ann.search(q, 10)
        assert got.tolist() == want.tolist()
        np.testing.assert_allclose(got_scores, want_scores, atol=1e-5)


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_faiss_applies_filters_before_top_k(kind):
    vectors = unit(3000, 32)
    rng = np.random.default_rng(2)
    exact = ExactIndex(vectors)
    ann = FaissIndex(vectors, kind=kind, exact_below=0)
    ann.tune(unit(20, 32, seed=3), k=10, target_recall=1.0)
    for share in (0.5, 0.02, 0.002):  # common, rare (too few in the probed lists: exact fallback), very rare
        allowed = rng.random(3000) < share
        for q in unit(5, 32, seed=4):
            got, _ = ann.search(q, 10, allowed)
            assert allowed[got].all()
            assert len(got) == min(10, int(allowed.sum()))  # k results whenever k items are allowed
            found = set(got.tolist()) & set(exact.search(q, 10, allowed)[0].tolist())
            if kind == "ivf":  # tuned to probe every list: exact; HNSW's filtered walk is approximate
                assert len(found) == len(got)
            else:
                assert len(found) >= 0.7 * len(got)
    assert len(ann.search(unit(1, 32)[0], 10, np.zeros(3000, dtype=bool))[0]) == 0


def test_small_ivf_probe_still_fills_k_by_falling_back_to_exact():
    vectors = unit(2000, 16)
    ann = FaissIndex(vectors, kind="ivf", nlist=40, nprobe=1, exact_below=0)
    allowed = np.zeros(2000, dtype=bool)
    allowed[np.random.default_rng(5).choice(2000, 30, replace=False)] = True  # ~1 allowed item per list
    got, _ = ann.search(vectors[0], 10, allowed)
    assert len(got) == 10 and allowed[got].all()
    assert set(got.tolist()) == set(ExactIndex(vectors).search(vectors[0], 10, allowed)[0].tolist())


def test_item_index_with_faiss_backend_matches_exact_search_with_filters(recsys_home):
    catalog = Catalog(tiny_items())
    settings = Settings.from_env()
    exact = ItemIndex.build(catalog, HashingEncoder(), settings.cache, progress=False, backend="exact")
    ann = ItemIndex.build(catalog, HashingEncoder(), settings.cache, progress=False, backend="faiss")
    assert isinstance(ann.backend, FaissIndex) and isinstance(exact.backend, ExactIndex)
    filters = Filters(genres_exclude=("Horror",), year_min=1980)
    assert [i.item_id for i, _ in ann.search("space comedy", filters, 5)] == [
        i.item_id for i, _ in exact.search("space comedy", filters, 5)
    ]


def test_backend_choice_follows_catalog_size_and_settings():
    vectors = unit(500, 16)
    assert isinstance(choose_backend(vectors, "auto", ann_min_items=1000), ExactIndex)
    assert isinstance(choose_backend(vectors, "auto", ann_min_items=100), FaissIndex)
    assert isinstance(choose_backend(vectors, "exact", ann_min_items=100), ExactIndex)
    with pytest.raises(ConfigError):
        Settings(index_backend="annoy").validated()


def test_quick_bench_on_a_tiny_catalog_writes_json_and_markdown(tmp_path):
    engine = tiny_engine()
    args = argparse.Namespace(
        quick=True,
        sections="turn,index,adapt,concurrency",
        out=str(tmp_path / "results"),
        sizes="2000",
        cold=False,
        label="test",
    )
    report = bench.measure(args, engine.settings, engine_factory=lambda: engine)
    json_path, md_path = bench.write_reports(report, tmp_path / "results", "test")
    data = json.loads(json_path.read_text())
    assert {"cpu", "cores", "ram_gb", "gpu", "versions"} <= set(data["machine"])
    assert data["quick"] is True and data["sections"] == ["turn", "index", "adapt", "concurrency"]
    results = data["results"]
    assert all("error" not in results[s] for s in data["sections"]), results
    stages = results["turn"]["without_generation"]
    assert {"parse", "query_embedding", "filters", "vector_search", "rank", "db_write", "turn_total"} <= set(stages)
    assert {"ttft", "turn_total"} <= set(results["turn"]["with_generation"])
    row = results["index"]["synthetic"][0]
    assert row["items"] == 2000 and {"exact", "ivf", "hnsw"} <= set(row)
    assert 0.0 <= row["ivf"]["recall@10"] <= 1.0 and "p95" in row["ivf"]["search"]
    assert results["index"]["real"]["catalog_items"] == 12
    assert [r["events"] for r in results["adapt"]["rows"]] == [1, 5, 20, 100] or "status" in results["adapt"]
    levels = [r["sessions"] for r in results["concurrency"]["engine_without_generation"]]
    assert levels == [1, 8, 32]
    assert all(r["errors"] == 0 for r in results["concurrency"]["engine_without_generation"])
    generated = results["concurrency"]["engine_with_generation"]  # the scripted generator's words replace facts
    assert all(r["errors"] == 0 and 0 < r["first_words_ms"]["max"] <= r["latency_ms"]["max"] for r in generated)
    assert all("first_words_ms" not in r for r in results["concurrency"]["engine_without_generation"])
    assert {t["status"] for t in data["targets"]} <= {"met", "missed", "n/a"}
    text = md_path.read_text()
    for heading in ("## Targets", "## turn", "## index", "## adapt", "## concurrency", "first generated words ms"):
        assert heading in text
    assert json_path.name.endswith("-quick-test.json") and md_path.suffix == ".md"


def test_merging_sections_keeps_every_earlier_merge_in_the_report():
    """A report whose startup section was rerun, then its adapt section: both reruns stay listed (the second
    merge used to overwrite the first's line), and the newer figures replace the older ones."""
    from recsys.bench.report import markdown

    shipped = Path(__file__).resolve().parent.parent / "bench" / "results" / "2026-11-25-intel-xeon-2c.json"
    base = json.loads(shipped.read_text())
    base["merged"] = {"sections": ["startup"], "date": "day 2", "load_average_at_start": [0.1, 0.1, 0.1]}  # old form
    adapt = {**base["results"]["adapt"], "head": "a newer head"}
    out = bench.merged_report(
        base, {"date": "day 3", "sections": ["adapt"], "machine": base["machine"], "results": {"adapt": adapt}}
    )
    assert [m["date"] for m in out["merged"]] == ["day 2", "day 3"]
    assert out["results"]["adapt"]["head"] == "a newer head" and out["results"]["turn"] == base["results"]["turn"]
    text = markdown(out)
    assert "sections startup were run later and merged in (day 2" in text
    assert "sections adapt were run later and merged in (day 3" in text
    assert (
        markdown(
            bench.merged_report(
                out, {"date": "day 4", "sections": ["adapt"], "machine": base["machine"], "results": {"adapt": adapt}}
            )
        ).count("were run later")
        == 3
    )


def test_unknown_section_is_a_config_error():
    with pytest.raises(ConfigError):
        bench._sections("turn,warp")


def test_warm_up_fills_a_local_generators_prompt_cache_and_skips_remote_ones():
    from recsys.explain.explainer import item_messages, warm_up
    from tests.fakes import ScriptedGenerator

    class LocalLike(ScriptedGenerator):
        tokenizer = object()  # what marks a model run in this process

    local = LocalLike()
    warm_up(local)
    assert len(local.prompts) == 1  # one explanation prompt: its shared head is now cached
    assert local.prompts[0][:-1] == item_messages(tiny_items()[0], "x")[:-1]  # same system prompt and examples
    remote = ScriptedGenerator()
    assert warm_up(remote) == 0.0 and remote.prompts == []


def test_server_rows_count_turns_and_read_the_answer_not_the_why_panel():
    """The server half of "concurrency" against the real app on loopback: every turn answered, none an error;
    a reply is the last answer, never the "why these?" panel after it."""
    from recsys.bench import serve as bench_serve
    from recsys.web.html import why_message
    from tests.test_app import serve_tiny

    with serve_tiny() as (engine, url):
        rows = bench_serve.server_concurrency(url, (1, 3), turns=2, single_turns=3)
    assert [(r["sessions"], r["turns"], r["errors"]) for r in rows] == [(1, 3, 0), (3, 6, 0)]
    assert all(r["latency_ms"]["n"] == r["turns"] and r["turns_per_s"] > 0 for r in rows)
    answer = {"role": "assistant", "content": "Here are 3 picks"}
    assert bench_serve._reply([{"role": "user", "content": "hi"}, answer, why_message("why")]) == "Here are 3 picks"
    assert bench_serve._reply([{"role": "user", "content": "hi"}]) == ""


def test_server_rows_spread_the_sessions_over_replicas_sharing_one_database():
    """Two real pages over two engines on the same SQLite file, as replicas behind a sticky balancer: the sessions
    take the servers in turn, each stays with its own, and every turn is answered."""
    from recsys.bench import serve as bench_serve
    from tests.test_app import serve_tiny

    with serve_tiny() as (first, url), serve_tiny() as (second, other_url):
        turns = {}
        for name, engine in (("first", first), ("second", second)):
            respond = engine.respond

            def counted(session_id, *args, _respond=respond, _name=name, **kwargs):
                turns.setdefault(_name, set()).add(session_id)
                return _respond(session_id, *args, **kwargs)

            engine.respond = counted
        rows = bench_serve.server_concurrency(url, (1, 4), turns=2, single_turns=2, replicas=[(other_url, 0)])
    assert [(r["sessions"], r["turns"], r["errors"]) for r in rows] == [(1, 2, 0), (4, 8, 0)]
    assert len(turns["first"]) == 3 and len(turns["second"]) == 2  # the lone session and two of four; no session
    assert not turns["first"] & turns["second"]  # ... went to both


def test_the_servers_cpu_is_added_up_over_replicas(monkeypatch):
    from recsys.bench import serve as bench_serve

    cpu = {11: 1.0, 12: 3.0}
    from recsys.bench import util as bench_util

    for module in (bench_util, bench_serve):  # cpu_mark's and _cpu_use's
        monkeypatch.setattr(module, "process_cpu_s", lambda pid: cpu[pid])
    marks = []
    bench_util.cpu_mark(marks, [11, 12])
    cpu.update({11: 1.5, 12: 3.5})  # each server used 0.5 s
    assert bench_serve._cpu_use([11, 12], marks[0], turns=10)["server_cpu_ms_per_turn"] == 100.0


def test_the_servers_floor_page_answers_what_the_app_is_sent_and_the_rows_count_both_sides_cpu(tmp_path):
    """The floor page (recsys/web/floor.py), started as the bench starts it: its /send takes app.py's inputs (the
    bench checks that first), every turn gets the fixed answer, and with the server's pid a row has the CPU time
    per turn of the server and of the client."""
    from recsys.bench import serve as bench_serve
    from recsys.bench.page_client import PageClient
    from recsys.web.floor import ANSWER

    with bench_serve.app_process({}, 120, tmp_path / "floor.log", module=bench_serve.FLOOR) as (proc, url, _):
        rows = bench_serve.server_concurrency(url, (1, 3), turns=2, single_turns=3, pid=proc.pid)
        with PageClient(url) as client:
            ids = client.call("new_session", ["", ""])[0]
            history = client.call("send", "something like Alien", ids, [])[2]
    assert [(r["sessions"], r["turns"], r["errors"]) for r in rows] == [(1, 3, 0), (3, 6, 0)]
    assert all(r["server_cpu_ms_per_turn"] > 0 and r["client_cpu_ms_per_turn"] > 0 for r in rows)
    assert all(0 < r["cores_busy"] < 1.5 for r in rows)  # the server's CPU is read in 10 ms clock ticks
    assert [m["role"] for m in history] == ["user", "assistant"]
    assert history[1]["content"] == [{"type": "text", "text": ANSWER}]  # Gradio's message format, as app.py's


def test_a_burst_over_two_floor_pages_starts_the_second_and_spreads_the_sessions(tmp_path):
    """The bench's second process for a burst over two (here the page that does no work, which starts in seconds):
    it is started, every session's turns are answered, and the CPU of both servers is counted; a second process
    that cannot start is a failed row, not a failed section."""
    from recsys.bench import serve as bench_serve

    with bench_serve.app_process({}, 120, tmp_path / "floor.log", module=bench_serve.FLOOR) as (proc, url, _):
        rows = bench_serve._two_replicas((url, proc.pid), {}, 120, tmp_path / "two.log", 4, 2, module=bench_serve.FLOOR)
        failed = bench_serve._two_replicas(
            (url, proc.pid), {"RECSYS_CONCURRENCY": "lots"}, 120, tmp_path / "bad.log", 4, 2, module=bench_serve.FLOOR
        )
    assert [(r["sessions"], r["turns"], r["errors"]) for r in rows] == [(4, 8, 0)]
    assert rows[0]["server_cpu_ms_per_turn"] > 0
    assert isinstance(failed, str) and failed.startswith("failed:")


def test_the_floor_rows_are_reported_beside_the_servers_and_in_the_burst_targets_note():
    def row(n, p95):
        return {
            "sessions": n,
            "turns": 5 * n,
            "errors": 0,
            "turns_per_s": 10.0,
            "latency_ms": {"median": p95, "p95": p95},
        }

    cpu = {"server_cpu_ms_per_turn": 20.0, "client_cpu_ms_per_turn": 8.0, "cores_busy": 0.97}
    app = [row(1, 30.0), row(32, 750.0) | cpu]
    floor = [row(1, 10.0) | {"server_cpu_ms_per_turn": 8.0, "client_cpu_ms_per_turn": 4.0}, row(32, 300.0)]
    startup = {"server_without_generation": app, "server_floor": floor, "server_two_replicas": [row(32, 450.0)]}
    startup["server_floor_two_replicas"] = [row(32, 180.0)]
    engine = {"engine_without_generation": [row(1, 10.0), row(32, 320.0) | {"cpu_ms_per_turn": 9.0, "cores_busy": 0.5}]}
    found = bench_targets._concurrency_targets({"startup": startup, "concurrency": engine})
    notes = {t["target"]: t["note"] for t in found}
    assert notes["32 sessions (engine, burst): p95 ≤ 4× one session, no errors"] == (
        "errors: 0; cores 50% busy (CPU a turn: 9.0 ms)"
    )
    burst = notes["32 sessions (server, burst): p95 ≤ 8× one session, no errors"]
    assert burst == (
        "errors: 0; cores 97% busy (CPU a turn: server 20.0 ms, client 8.0 ms); "
        "two replicas sharing the database, same run: 15.0 × (450 ms p95); "
        "a page that does no work, same client, same run: 30.0 × (300 ms p95, 125% of the app's 8× budget, 240 ms); "
        "two such pages: 180 ms p95, 75% of that budget"
    )
    four = notes["32 sessions (server, burst): p95 ≤ 4× one session, no errors"]
    assert "(300 ms p95, 250% of the app's 4× budget, 120 ms); two such pages: 180 ms p95, 150%" in four
    paced = notes["32 sessions (server, paced): p95 ≤ 4× one session, no errors"]
    assert "does no work" not in paced and "busy" not in paced
    from recsys.bench.report import _startup

    text = "\n".join(_startup(startup))
    assert "| server CPU ms a turn | client CPU ms a turn | share of the cores busy |" in text
    assert "| 32 | 160 | 0 | 10 | 750 | 750 | 20 | 8 | 0.97 |" in text
    assert "The server's floor" in text and "| server CPU ms a turn | client CPU ms a turn |" in text
    assert "over two app processes sharing the database" in text and "| 32 | 160 | 0 | 10 | 450 | 450 |" in text
    assert "over two such pages" in text and "| 32 | 160 | 0 | 10 | 180 | 180 |" in text
    assert "| 1 | 5 | 0 | 10 | 10 | 10 | 8 | 4 |" in text  # a row from a report without the share
    from recsys.bench.report import _concurrency

    rows = "\n".join(_concurrency("engine", engine["engine_without_generation"]))
    assert "| p95 ms | CPU ms a turn | share of the cores busy |" in rows and "| 320 | 9 | 0.5 |" in rows


def test_page_turns_send_what_the_browser_sends_and_time_it():
    """The bench's browser-shaped turns against the real page on loopback: the browser's echo made here, then turn
    and side panels by their /config index, each message answered in one growing history."""
    import os

    from recsys.bench import serve as bench_serve
    from recsys.bench.page_client import PageTurns
    from tests.test_app import serve_tiny

    with serve_tiny() as (engine, url):
        row = bench_serve.page_turns(url, os.getpid(), turns=3, warm=1)
        page = PageTurns(url, [None, engine.new_session()])
        assert set(page.steps) == {"turn", "side_after_turn"}
        assert page._data("turn", "hi", [])[:3] == [
            "hi",
            page.ids,
            [],
        ]  # pending (the echo's hidden text), ids, history
        history = page.turn("a <b>comedy</b>")
        users = [m["content"][0]["text"] for m in history if m["role"] == "user"]
        assert users == ["a &lt;b&gt;comedy&lt;/b&gt;"] and history[-1]["content"][0]["text"] != "…"  # answered once
        page.close()
    assert row["turns"] == 3 and row["latency_ms"]["n"] == 3 and row["server_cpu_ms_per_turn"] > 0
    assert row["history_messages"] >= 8  # four messages and their answers (with why-panels)


def test_generation_rows_side_by_side_give_ratios_targets_and_a_table():
    from recsys.bench.generation import _ratios
    from recsys.bench.report import _generation

    rows = [
        {"variant": "cpu fp32, product loop (product default)", "tokens_per_s": {"median": 10.0, "p95": 11.0}},
        {
            "variant": "llama.cpp Q4_1 GGUF, product loop, 2 threads (product default)",
            "tokens_per_s": {"median": 65.0, "p95": 70.0},
            "ttft_ms": {"median": 20.0, "p95": 30.0},
            "three_film_reply_ms": {"median": 900.0, "p95": 1200.0},
        },
    ]
    _ratios(rows)
    assert rows[0]["tokens_per_s_ratio"] == 1.0 and rows[1]["tokens_per_s_ratio"] == 6.5
    report = {"results": {"generation": {"rows": rows}}}
    checks = {t["target"]: t for t in bench_targets._llamacpp_targets(report["results"])}
    assert [t["status"] for t in checks.values()] == ["met", "met", "met"]
    assert checks["llama.cpp three-film reply ≤ 1.5 s (p95)"]["value"] == "1.2 s"
    text = "\n".join(
        _generation({"rows": rows, "model": "m", "prompts": 4, "decode_tokens": 40, "threads": 2, "cuda": "no"})
    )
    assert "× first row's tokens/s" in text and "6.5" in text
    failed = {"generation": {"rows": [rows[0], {"variant": "llama.cpp", "error": "x"}]}}
    missing = bench_targets._llamacpp_targets(failed)
    assert {t["status"] for t in missing} == {"n/a"}


@pytest.mark.slow
def test_embedding_section_measures_the_backends_on_real_texts(tmp_path):
    """The real models side by side (quick: 500 texts): ratios, quality kept, targets and the table from them; the
    bfloat16 row where this CPU embeds catalogs in it (AMX), its absence said otherwise."""
    from recsys.bench.embedding import BF16, run_embedding
    from recsys.bench.report import _embedding
    from recsys.search.embedder import has_amx
    from tests.conftest import SHARED_CACHE

    seen = []
    result = run_embedding(Settings(cache_dir=SHARED_CACHE), quick=True, progress=seen.append)
    amx = has_amx()
    backends = [r["backend"] for r in result["rows"]]
    assert [b.split()[0] for b in backends] == ["torch", "onnx", *(["torch"] if amx else [])]
    assert len(seen) == len(backends) and (result["catalog_backend"] == BF16) == amx
    assert result["texts"] == 500 and result["top10_overlap"] >= 0.98 and result["min_cosine"] > 0.9999
    assert result["catalog_top10_overlap"] >= 0.98 and result["catalog_min_cosine"] > 0.999
    assert all(r["texts_per_s"] > 0 and r["query_ms"]["n"] == 50 for r in result["rows"])
    assert result["rows"][0]["texts_per_s_ratio"] == 1.0 and "min_cosine" not in result["rows"][0]
    checks = bench_targets._embedding_targets({"embedding": result})
    assert len(checks) == 3 + amx and all(c["status"] != "n/a" for c in checks)
    assert all(c["status"] == "met" for c in checks if "overlap" in c["target"])
    text = "\n".join(_embedding(result))
    assert "top-10 overlap" in text and "A whole catalog is embedded by" in text
    assert ("no AMX" in text) != amx
    if amx:  # the row says which attention ran: the fused kernel where it compiles and this CPU takes it
        from recsys.search.attention import build, cpu_supported

        fused = cpu_supported() and build(SHARED_CACHE) is not None  # the bench's own build, found in the cache
        assert result["rows"][-1]["attention"] == ("fused" if fused else "sdpa")
        assert ("Its attention: the fused kernel." in text) == fused
    assert {c["status"] for c in bench_targets._embedding_targets({})} == {"n/a"}


def test_server_burst_has_both_limits_and_turn_both_targets():
    """A 32-session burst through the server is checked at 4× and at 8× one session's p95 (6× meets only the
    second); the non-generation turn at 60 ms and 20 ms."""
    one = {"sessions": 1, "errors": 0, "latency_ms": {"p95": 50.0}}
    many = {"sessions": 32, "errors": 0, "latency_ms": {"p95": 300.0}}
    rows = bench_targets._concurrency_targets({"startup": {"server_without_generation": [one, many]}})
    burst = {t["target"]: t["status"] for t in rows if "server, burst" in t["target"]}
    assert burst == {
        "32 sessions (server, burst): p95 ≤ 4× one session, no errors": "missed",
        "32 sessions (server, burst): p95 ≤ 8× one session, no errors": "met",
    }
    turn = {"turn": {"catalog_items": 17470, "without_generation": {"turn_total": {"p95": 25.0}}}}
    status = {t["target"]: t["status"] for t in bench_targets.targets({"results": turn})}
    assert status["non-generation turn p95 ≤ 60 ms (17k items)"] == "met"
    assert status["non-generation turn p95 ≤ 20 ms (the fast-path target)"] == "missed"


def test_the_one_reply_at_a_time_row_runs_the_same_engine_behind_its_lock():
    """The side-by-side row for a generator that takes concurrent calls (llama.cpp's shared batch): the same turns
    with the engine serialising the calls, as it did before; both rows answer every turn."""
    from recsys.bench.turn import _one_at_a_time, engine_concurrency
    from tests.fakes import ScriptedGenerator

    class Concurrent(ScriptedGenerator):
        thread_safe = True

    engine = tiny_engine(generator=Concurrent())
    serial = _one_at_a_time(engine)
    assert serial.generator.thread_safe is False and serial.generator.name == "scripted"
    assert serial.store is engine.store and engine.generator.thread_safe is True
    for e in (engine, serial):
        rows = engine_concurrency(e, (1, 3), 1)
        assert [r["turns"] for r in rows] == [1, 3] and all(r["errors"] == 0 for r in rows)
        assert all(r["first_words_ms"]["n"] == r["turns"] for r in rows)
        assert all(r["cpu_ms_per_turn"] > 0 and 0 < r["cores_busy"] < 1.5 for r in rows)  # every thread counts
