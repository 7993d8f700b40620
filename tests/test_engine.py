"""The engine over the tiny catalog: constraints before top-k, feedback respected, turns stored, bad input answered."""

import pytest

from recsys.core.errors import SessionNotFound
from tests.engine_fixtures import tiny_engine
from tests.fakes import ScriptedGenerator


def run(engine, sid, text):
    events = list(engine.respond(sid, text))
    assert events[-1].kind == "done"
    return events


def test_turn_streams_items_then_text_then_done():
    engine = tiny_engine()
    sid = engine.new_session()
    events = run(engine, sid, "a funny science fiction film, nothing with horror")
    kinds = [e.kind for e in events]
    assert kinds[0] == "items" and kinds[-1] == "done" and "text" in kinds
    done = events[-1]
    assert len(done.items) == 3
    for rec in done.items:
        assert {"Comedy", "Sci-Fi"} & set(rec.item.tags)
        assert "Horror" not in rec.item.tags
        assert rec.item.title in done.text and rec.reason
    assert done.timings_ms["total"] > 0


def test_constraints_hold_across_turns_and_nothing_repeats():
    engine = tiny_engine()
    sid = engine.new_session()
    first = run(engine, sid, "a comedy or a science fiction film, nothing with horror")[-1]  # either genre
    second = run(engine, sid, "something from before 1990")[-1]
    assert second.items, second.text
    for rec in second.items:
        assert rec.item.year < 1990 and "Horror" not in rec.item.tags
        assert {"Comedy", "Sci-Fi"} & set(rec.item.tags)
    assert not {r.item.item_id for r in first.items} & {r.item.item_id for r in second.items}


def test_disliked_item_never_comes_back():
    engine = tiny_engine()
    sid = engine.new_session()
    first = run(engine, sid, "a comedy")[-1]
    bad = first.items[0].item.item_id
    engine.feedback(sid, bad, liked=False)
    for _ in range(3):
        run(engine, sid, "start over")
        for rec in run(engine, sid, "a comedy")[-1].items:
            assert rec.item.item_id != bad


def test_liked_items_steer_the_ranking():
    engine = tiny_engine(mmr_lambda=1.0)  # pure score order, so the profile's effect is visible
    sid = engine.new_session()
    found = [(it, 0.1) for it in engine.catalog.items if it.item_id != "t9"]  # equal relevance
    before = [r.item.item_id for r in engine.rank(found, engine.session(sid).state, 11)]
    sims = {it.item_id: float(engine.index.vector(it.item_id) @ engine.index.vector("t9")) for it, _ in found}
    nearest, farthest = max(sims, key=sims.get), min(sims, key=sims.get)
    engine.feedback(sid, "t9", liked=True)
    after = [r.item.item_id for r in engine.rank(found, engine.session(sid).state, 11)]
    assert after[0] == nearest
    assert after.index(farthest) >= before.index(farthest)
    engine.feedback(sid, "t9", liked=False)  # a dislike pushes the same neighbour to the bottom
    disliked = [r.item.item_id for r in engine.rank(found, engine.session(sid).state, 11)]
    assert disliked.index(nearest) > before.index(nearest) or disliked[-1] == nearest


def test_hallucinated_title_is_replaced_by_facts():
    gen = ScriptedGenerator(default="Better than Harbor Heist, a true classic.")  # t6 is never recommended here
    engine = tiny_engine(generator=gen)
    sid = engine.new_session()
    done = run(engine, sid, "a funny sci-fi film")[-1]
    assert "Harbor Heist" not in done.text
    assert all(r.item.title in done.text for r in done.items)


def test_restart_keeps_history_and_constraints():
    engine = tiny_engine()
    sid = engine.new_session()
    run(engine, sid, "a funny sci-fi film, no horror")
    shown = engine.session(sid).state.shown_ids
    engine.store.close()
    again = tiny_engine()  # same RECSYS_HOME, same SQLite file: a restarted app
    info = again.session(sid)
    assert info.state.genres_exclude == ("Horror",) and info.state.shown_ids == shown
    roles = [m.role for m in again.history(sid)]
    assert roles == ["user", "assistant"]
    assert len(again.history(sid)[1].items) == 3


@pytest.mark.parametrize(
    "text, expect",
    [
        ("", "in the mood"),
        ("   \n\t ", "in the mood"),
        ("x" * 5000, "too long"),
        ("hello!", "films"),
        ("\x00\x01 a comedy \x7f", ""),
        ("<img src=x onerror=alert(1)> a comedy", ""),
        ("🎬🍿 風 שלום", ""),
    ],
)
def test_bad_input_gets_a_reply_and_the_session_survives(text, expect):
    engine = tiny_engine()
    sid = engine.new_session()
    done = run(engine, sid, text)[-1]
    assert done.text and expect in done.text
    assert run(engine, sid, "a comedy")[-1].items  # still usable
    assert len(engine.history(sid)) == 4


def test_unknown_session_and_item():
    engine = tiny_engine()
    with pytest.raises(SessionNotFound):
        list(engine.respond("no-such-session", "a comedy"))
    sid = engine.new_session()
    with pytest.raises(Exception, match="unknown item"):
        engine.feedback(sid, "nope", liked=True)


def test_a_second_message_sent_during_a_turn_starts_from_its_state():
    """Two sends in one session at once (a double click, two tabs): the second waits for the first and keeps
    its constraints, instead of starting from the state before it and overwriting it."""
    import threading
    import time

    class Gated(ScriptedGenerator):
        def __init__(self):
            super().__init__()
            self.started, self.go = threading.Event(), threading.Event()

        def stream(self, *a, **k):
            self.started.set()
            self.go.wait(10)
            yield from super().stream(*a, **k)

    gen = Gated()
    engine = tiny_engine(generator=gen)
    sid = engine.new_session()
    first = threading.Thread(target=run, args=(engine, sid, "a comedy"))
    first.start()
    assert gen.started.wait(10)  # the first turn is explaining, holding the session
    second = threading.Thread(target=run, args=(engine, sid, "something from before 1990"))
    second.start()
    time.sleep(0.3)  # the second turn is now waiting for the session
    gen.go.set()
    first.join(10)
    second.join(10)
    state = engine.session(sid).state
    assert state.genres_include == ("Comedy",) and state.year_max is not None and state.year_max < 1990
    assert [m.role for m in engine.history(sid)] == ["user", "assistant"] * 2


@pytest.mark.parametrize("thread_safe", [True, False])
def test_two_sessions_generate_at_once_only_with_a_generator_that_takes_concurrent_calls(thread_safe):
    """llama.cpp's generator writes other sessions' reasons in the same steps (thread_safe): the engine lets two
    sessions' turns call it at once. transformers' cannot: their calls wait for each other. The engine asks when it
    calls, since a generator loaded in the background (here, loaded after the engine was built) says what it is
    only once it is ready."""
    import threading

    from recsys.generation.late import LateGenerator

    class Meeting(ScriptedGenerator):
        """Each session's first call waits (up to 3 s) for the other's to be inside too."""

        def __init__(self):
            super().__init__()
            self.thread_safe = thread_safe
            self.meet, self.met, self.seen = threading.Barrier(2, timeout=3), [], set()

        def stream(self, *a, **k):
            if threading.get_ident() not in self.seen:
                self.seen.add(threading.get_ident())
                try:
                    self.met.append(self.meet.wait() >= 0)
                except threading.BrokenBarrierError:  # the other could not come in while this one was inside
                    self.met.append(False)
            yield from super().stream(*a, **k)

    gen = Meeting()
    late = LateGenerator(lambda: gen, start=False)
    engine = tiny_engine(generator=late)
    late.start()
    assert late.wait(10)
    sessions = [engine.new_session() for _ in range(2)]
    threads = [threading.Thread(target=run, args=(engine, sid, "a comedy")) for sid in sessions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert gen.met == ([True, True] if thread_safe else [False, False])
    assert all(len(engine.history(sid)) == 2 for sid in sessions)


def test_done_carries_the_stored_state():
    engine = tiny_engine()
    sid = engine.new_session()
    for text in ("a comedy", "hello there", ""):
        assert run(engine, sid, text)[-1].state == engine.session(sid).state


def test_nothing_matches_says_so():
    engine = tiny_engine()
    sid = engine.new_session()
    done = run(engine, sid, "a western from before 1950")[-1]
    assert not done.items and "Nothing in the catalog matches" in done.text


def test_generator_failure_falls_back_to_facts():
    class Broken(ScriptedGenerator):
        def stream(self, *a, **k):
            raise RuntimeError("model crashed")
            yield  # pragma: no cover

    engine = tiny_engine(generator=Broken())
    sid = engine.new_session()
    done = run(engine, sid, "a comedy")[-1]
    assert done.items and all(r.item.title in done.text for r in done.items)


def test_films_named_with_a_liked_one_join_the_candidates_and_rank_first():
    """A co-mention table pulls in a film the search did not find and ranks it first once a named film is liked."""
    from recsys.catalog.comentions import CoMentions

    engine = tiny_engine(mmr_lambda=1.0)
    table = CoMentions.count([["t9", "t6"], ["t9", "t6"], ["t9", "t12"]])
    engine.chooser.use(table)
    sid = engine.new_session()
    state = engine.session(sid).state
    searched = engine.candidates(state, "war", named=())
    assert engine.candidates(state, "war") == searched  # nothing liked or named: the search alone
    with_named = engine.candidates(state, "war", named=["t9"])
    ids = [it.item_id for it, _ in with_named]
    assert {"t6", "t12"} <= set(ids) and len(set(ids)) == len(ids)
    engine.feedback(sid, "t9", liked=True)
    state = engine.session(sid).state
    ranked = [r.item.item_id for r in engine.rank(engine.candidates(state, "war"), state, 3)]
    assert ranked[0] == "t6"  # named twice with the liked film: above every film the search ranked higher
    off = tiny_engine(mmr_lambda=1.0, comention_weight=0.0)
    off.chooser.use(table)
    assert [r.item.item_id for r in off.rank(off.candidates(state, "war"), state, 3)][0] != "t6"


def test_naming_liked_films_records_them_and_recommends_in_the_same_reply():
    engine = tiny_engine()
    sid = engine.new_session()
    done = run(engine, sid, "I loved Harbor Heist and Laugh Track")[-1]
    state = engine.session(sid).state
    assert {"t6", "t7"} <= set(state.liked_ids)
    assert len(done.items) == 3 and not {"t6", "t7"} & {r.item.item_id for r in done.items}
    assert done.text.index("Harbor Heist") < done.text.index(done.items[0].item.title)  # the thanks come first


def test_a_new_session_starts_at_the_hosts_default_count():
    """RECSYS_COUNT is the default list length from the first message, not only after "start over"."""
    engine = tiny_engine(count=5)
    sid = engine.new_session()
    assert engine.session(sid).state.count == 5
    assert len(run(engine, sid, "a comedy")[-1].items) == 5


def test_a_dislike_and_a_comparison_in_one_message_apply_to_their_own_films():
    """ "I hated X, show me something like Y": X is disliked, Y is the reference; the reply says so and recommends."""
    from recsys.understanding.readers import comparison_titles

    assert comparison_titles("i hated the notebook, show me something like superbad", ["The Notebook", "Superbad"]) == [
        "Superbad"
    ]
    assert comparison_titles("I like Superbad", ["Superbad"]) == []  # a taste, not a comparison
    engine = tiny_engine()
    sid = engine.new_session()
    done = run(engine, sid, "I hated Harbor Heist, show me something like Laugh Track")[-1]
    state = engine.session(sid).state
    assert state.disliked_ids == ("t6",) and not state.liked_ids
    assert len(done.items) == 3 and not {"t6", "t7"} & {r.item.item_id for r in done.items}
    assert "Harbor Heist" in done.text.split("\n")[0]  # the dislike is acknowledged first
