"""The per-user head: shapes, adaptation moving scores the right way, checkpoints, the serving cache, and the
shipped checkpoint itself (real MiniLM vectors of the catalog)."""

from pathlib import Path

import numpy as np
import pytest
import torch

from recsys.core.errors import ModelError
from recsys.personal.head import DEFAULT_CHECKPOINT, Head, HeadConfig, load_head, save_head
from recsys.personal.inputs import head_inputs, item_features, item_tags
from recsys.personal.serving import Personalizer, latest_votes, personal_score, rounded
from tests.fakes import HashingEncoder, tiny_items


def unit(rng, n, d):
    v = rng.standard_normal((n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


VARIANTS = {  # the adaptation modes HeadConfig offers: MeLU weights, Meta-SGD + ranking inner loss, CAVIA context
    "weights": {},
    "meta_sgd": {"lr_per_weight": True, "inner_centered": 1.0, "inner_rank": 1.0},
    "context": {"adapt": "context", "context": 4, "inner_lr": 1.0, "inner_centered": 1.0},
    "ridge": {"ridge": 1.0},  # preference vector and offset solved in closed form first
}


def small_head(seed=0, **kw) -> Head:
    torch.manual_seed(seed)
    return Head(HeadConfig(dim=16, hidden=12, decision=8, **kw))


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_score_and_adapt_shapes(variant):
    rng = np.random.default_rng(0)
    head = small_head(**VARIANTS[variant])
    v, x, q = unit(rng, 7, 16), np.zeros((7, 4), np.float32), np.zeros(16, np.float32)
    params = head.init_params()
    assert head.score(params, v, x, q).shape == (7,)
    fast = head.adapt(params, v[:3], x[:3], q, [5.0, 1.0, 4.0])
    assert set(fast) == set(params) and all(fast[k].shape == params[k].shape for k in fast)
    assert all(not t.requires_grad for t in fast.values())
    assert head.adapt(params, v[:0], x[:0], q, []).keys() == params.keys()  # no votes: the initialisation
    assert head.sensitivity(params, v, x).shape == (7,)
    assert head.score(params, v[:0], x[:0], q).shape == (0,)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_adaptation_moves_scores_towards_the_labels(variant):
    # two clusters of items: liking cluster A and disliking cluster B must raise A's unseen items above B's
    rng = np.random.default_rng(1)
    centre_a, centre_b = unit(rng, 1, 16)[0], unit(rng, 1, 16)[0]
    a = unit(rng, 6, 16) * 0.3 + centre_a
    b = unit(rng, 6, 16) * 0.3 + centre_b
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    head = small_head(**VARIANTS[variant])
    x, q = np.zeros((2, 4), np.float32), np.zeros(16, np.float32)
    params = head.init_params()
    before = head.score(params, a[2:], np.zeros((4, 4), np.float32), q) - head.score(
        params, b[2:], np.zeros((4, 4), np.float32), q
    )
    fast = head.adapt(params, np.concatenate([a[:2], b[:2]]), np.zeros((4, 4), np.float32), q, [5, 5, 1, 1])
    after = head.score(fast, a[2:], np.zeros((4, 4), np.float32), q) - head.score(
        fast, b[2:], np.zeros((4, 4), np.float32), q
    )
    assert after.mean() > before.mean()
    assert head.score(fast, a[:2], x, q).mean() > head.score(fast, b[:2], x, q).mean()


def test_ridge_step_is_the_closed_form_solution():
    rng = np.random.default_rng(2)
    head = small_head(ridge=0.5)
    with torch.no_grad():
        head.log_ridge[1] = float(np.log(0.1))  # the offset's own penalty
    v, x, q = unit(rng, 4, 16), np.zeros((4, 4), np.float32), np.zeros(16, np.float32)
    y = np.array([5.0, 1.0, 4.0, 2.0], np.float32)
    hidden = head.body(*(torch.from_numpy(a) for a in (v, x, q))).detach()
    params = {k: t.detach() for k, t in head.init_params().items()}
    solved = head.ridge_step(params, hidden, torch.from_numpy(y))
    # numpy: ridge regression of the residuals on [taste features, 1], penalties 0.5 (taste) and 0.1 (offset)
    t = head.config.taste  # the taste features follow the 12 mixed ones
    design = np.concatenate([hidden[:, 12 : 12 + t].numpy(), np.ones((4, 1), np.float32)], axis=1).astype(np.float64)
    residual = y - head.score(params, v, x, q)
    w = np.linalg.solve(design.T @ design + np.diag([0.5] * t + [0.1]), design.T @ residual)
    assert np.allclose((solved["user"] - params["user"]).detach().numpy(), w[:t], atol=1e-4)
    assert np.allclose((solved["out.bias"] - params["out.bias"]).detach().numpy(), w[t:], atol=1e-4)
    assert all(torch.equal(solved[k], params[k]) for k in params if k not in ("user", "out.bias"))
    with pytest.raises(ValueError, match="adapt='weights'"):
        small_head(ridge=1.0, adapt="bias")


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_checkpoint_round_trip_and_clear_errors(tmp_path, variant):
    head = small_head(3, **VARIANTS[variant])
    save_head(head, tmp_path / "h.pt", {"note": "test"})
    loaded, meta = load_head(tmp_path / "h.pt")
    assert meta == {"note": "test"} and loaded.config == head.config
    for (k, a), (_, b) in zip(head.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), k
    with pytest.raises(ModelError, match="not found"):
        load_head(tmp_path / "missing.pt")
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="not a usable head checkpoint"):
        load_head(tmp_path / "bad.pt")


def test_features_and_tags_of_items():
    items = tiny_items()
    feats = item_features(items)
    assert feats.shape == (len(items), 3) and np.isfinite(feats).all()
    assert item_tags(items[8])[:2] == ["genre:War", "genre:Drama"] and "person:Fay Orr" in item_tags(items[8])
    v = HashingEncoder().encode([it.title for it in items])
    assert head_inputs(feats, v, v[0])[0, 3] == pytest.approx(1.0)  # cosine to the request is the last column


def test_votes_and_personal_score():
    assert latest_votes([("a", True), ("b", False), ("a", False)]) == [("b", False), ("a", False)]
    assert personal_score(np.array([1.0, 3.0, 5.0, 9.0])).tolist() == [-1.0, 0.0, 1.0, 1.0]


def test_personalizer_caches_by_vote_list_and_reads_profiles():
    items = tiny_items()
    vectors = HashingEncoder().encode([it.title + " " + " ".join(it.tags) for it in items])
    torch.manual_seed(0)
    personal = Personalizer(Head(HeadConfig(dim=64, hidden=16, decision=8)), items, vectors)
    assert personal.params_for("u", []) is personal.init
    first = personal.params_for("u", [("t9", False), ("t10", False)])
    assert personal.params_for("u", [("t9", False), ("t10", False)]) is first  # cached
    assert personal.params_for("u", [("t9", False), ("t10", True)]) is not first  # a new vote, new weights
    taste = personal.taste(first)
    names = {g["name"] for g in taste["genres"]}
    assert {"War", "Comedy"} <= names and all({"name", "score", "change"} <= set(g) for g in taste["genres"])
    picks = personal.onboarding(personal.init, exclude={"t1"}, n=4)
    assert len(picks) == 4 and "t1" not in {p.item_id for p in picks} and len({p.item_id for p in picks}) == 4


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_scores_under_several_weights_are_each_weights_own_scores(variant):
    """The ranker scores a person's weights and the prior in one pass (the items' part once): the same numbers as
    one pass each."""
    rng = np.random.default_rng(3)
    head = small_head(**VARIANTS[variant])
    v, x, q = unit(rng, 9, 16), rng.standard_normal((9, 4)).astype(np.float32), unit(rng, 1, 16)[0]
    init = head.init_params()
    fast = head.adapt(init, v[:3], x[:3], q, [5.0, 1.0, 4.0])
    both = head.score_under([fast, init], v, x, q)
    assert np.allclose(both[0], head.score(fast, v, x, q), atol=1e-6)
    assert np.allclose(both[1], head.score(init, v, x, q), atol=1e-6)
    assert not np.allclose(both[0], both[1])  # the votes moved the scores: the two are not one set twice
    assert [a.shape for a in head.score_under([fast, init], v[:0], x[:0], q)] == [(0,), (0,)]


def test_onboarding_without_votes_reuses_the_pools_sensitivity_and_picks_what_a_fresh_pass_picks():
    """Everyone without votes has the same weights, so the pool's sensitivity is computed once; a person's
    exclusions take rows out of it. The picks must be those of a pass over the remaining films alone."""
    items = tiny_items()
    vectors = HashingEncoder().encode([it.title + " " + " ".join(it.tags) for it in items])
    torch.manual_seed(0)
    personal = Personalizer(Head(HeadConfig(dim=64, hidden=16, decision=8)), items, vectors)
    exclude = {"t1", "t4"}
    first = personal.onboarding(personal.init, exclude=exclude, n=4)
    cached = personal._init_sensitivity
    assert cached is not None and len(cached) == len(personal._pool)
    assert personal.onboarding(personal.init, exclude=exclude, n=4) == first
    assert personal._init_sensitivity is cached  # not computed again
    keep = np.array([items[p].item_id not in exclude for p in personal._pool])
    fresh = personal._sensitivity(personal.init, personal._pool[keep])  # what the pass did before the cache
    assert np.allclose(cached[keep], fresh, atol=1e-6)
    voted = personal.params_for("u", [("t2", True), ("t3", False)])  # a person's own weights: their own pass
    assert personal.onboarding(voted, exclude=exclude, n=4) and personal._init_sensitivity is cached


def test_rounded_is_pythons_round_half_way_points_included():
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(0, 0.5, 20000), [0.0005, 0.0015, -0.0025, 1.2345, 2.675, 0.5, -0.0, 1e-9]])
    assert rounded(values, 3).tolist() == [round(x, 3) for x in values.tolist()]


def test_taste_lists_the_people_the_votes_taught_most_and_least_in_order():
    items = tiny_items()
    vectors = HashingEncoder().encode([it.title + " " + " ".join(it.tags) for it in items])
    personal = Personalizer(Head(HeadConfig(dim=vectors.shape[1])), items, vectors)
    params = personal.params_for("u", [(it.item_id, k % 2 == 0) for k, it in enumerate(items[:6])])
    everyone = personal.taste(params, people=10_000)["people"]  # all people tags, most taught first
    assert len(everyone) >= 2 and personal.taste(personal.init)["people"] == []
    changes = [r["change"] for r in everyone]
    assert changes == sorted(changes, reverse=True)
    assert personal.taste(params, people=2)["people"] == [everyone[0], everyone[-1]]  # most and least
    genres = personal.taste(params)["genres"]
    assert [g["score"] for g in genres] == sorted((g["score"] for g in genres), reverse=True)


def test_collaborative_vectors_travel_with_the_checkpoint_and_reach_serving(tmp_path):
    """The table of who-likes-which-film is part of the model: saved with it, looked up by item id when serving,
    zeros for a film it does not know."""
    items = tiny_items()
    vectors = HashingEncoder().encode([it.title + " " + " ".join(it.tags) for it in items])
    torch.manual_seed(0)
    head = Head(HeadConfig(dim=64, hidden=16, decision=8, collab=3))
    table = np.array([[1.0, -0.5, 0.2], [0.0, 0.7, -1.0]], np.float32)
    head.set_collab(["t1", "t2"], table)
    save_head(head, tmp_path / "h.pt")
    loaded, _ = load_head(tmp_path / "h.pt")
    assert np.array_equal(loaded.collab_rows(["t2", "nope", "t1"]), np.stack([table[1], np.zeros(3), table[0]]))
    blind = Head(HeadConfig(dim=64, hidden=16, decision=8, collab=3))
    blind.load_state_dict(head.state_dict())  # the same weights, no table: every film looks unrated
    ids = ["t1", "t2", "t3"]
    with_table = Personalizer(loaded, items, vectors)
    without = Personalizer(blind, items, vectors)
    a, b = with_table.scores(with_table.init, ids, None), without.scores(without.init, ids, None)
    assert a[0] != pytest.approx(b[0]) and a[1] != pytest.approx(b[1]) and a[2] == pytest.approx(b[2])
    votes = [("t1", True), ("t2", False)]
    assert (
        with_table.scores(with_table.params_for("u", votes), ids, None).tolist()
        != without.scores(without.params_for("u", votes), ids, None).tolist()
    )
    with pytest.raises(ValueError, match="does not fit"):
        head.set_collab(["t1"], table)


@pytest.mark.slow
def test_shipped_checkpoint_loads_and_adapts_within_its_shape():
    head, meta = load_head(DEFAULT_CHECKPOINT)
    assert head.config.dim == 384 and meta["config"]["second_order"] is False  # first-order is served
    assert head.config.collab == 17 and len(head.collab_ids) > 1000  # the films the training users rated
    assert DEFAULT_CHECKPOINT.stat().st_size < 400_000
    assert Path(DEFAULT_CHECKPOINT.with_name("split.json")).is_file()


# --- through the engine, real parts --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def real_engine(tmp_path_factory):
    """Engine over the real catalog, MiniLM index and the shipped head; the generator is scripted (not under test).

    Module-scoped (built once), so it sets its own home and the shared model cache: the autouse per-test
    RECSYS_HOME fixture has not run yet when it is built."""
    from recsys.catalog.sources import load_catalog
    from recsys.core.config import Settings
    from recsys.engine import Engine
    from recsys.search.encoder import SentenceEncoder
    from recsys.search.index import ItemIndex
    from recsys.storage.store import Store
    from tests.conftest import SHARED_CACHE
    from tests.fakes import ScriptedGenerator

    settings = Settings.from_env().with_overrides(
        explainer="template", home=str(tmp_path_factory.mktemp("home")), cache_dir=str(SHARED_CACHE), head=""
    )
    catalog = load_catalog(settings.catalog, settings.cache, progress=False)
    index = ItemIndex.build(catalog, SentenceEncoder(settings.embed_model), settings.cache, progress=False)
    head, _ = load_head(DEFAULT_CHECKPOINT)
    return Engine(settings, catalog, index, ScriptedGenerator(), Store(settings.database_url), head=head)


def war_count(engine, sid, text):
    done = list(engine.respond(sid, text))[-1]
    assert done.kind == "done" and done.items, done.text
    return sum("War" in r.item.tags for r in done.items), done.items


@pytest.mark.slow
def test_two_war_dislikes_push_war_films_down_in_the_next_answer(real_engine):
    engine = real_engine
    request = "ten films about soldiers and their families"
    fresh = engine.new_session()
    before, items = war_count(engine, fresh, request)
    assert before >= 2, [r.item.label() for r in items]  # the request does draw war films
    voter = engine.new_session()
    war = [r.item.item_id for r in items if "War" in r.item.tags][:2]
    for item_id in war:
        engine.feedback(voter, item_id, liked=False)
    after, items_after = war_count(engine, voter, request)
    assert after < before, ([r.item.label() for r in items], [r.item.label() for r in items_after])
    assert not set(war) & {r.item.item_id for r in items_after}  # the disliked films never come back
    assert all(isinstance(r.personal, float) for r in items_after)
    genres = {g["name"]: g["change"] for g in engine.taste_profile(voter)["genres"]}
    assert genres["War"] < np.median(list(genres.values()))  # the taste profile learned it too


@pytest.mark.slow
def test_taste_profile_and_onboarding_are_plain_data(real_engine):
    engine = real_engine
    sid = engine.new_session()
    empty = engine.taste_profile(sid)
    assert empty["liked"] == [] and empty["people"] == [] and len(empty["genres"]) > 10
    picks = engine.onboarding_items(sid, n=5)
    assert len(picks) == 5 and len({p.item_id for p in picks}) == 5
    engine.feedback(sid, picks[0].item_id, liked=True)
    profile = engine.taste_profile(sid)
    assert profile["liked"][0]["item_id"] == picks[0].item_id and profile["people"]
    assert picks[0].item_id not in {p.item_id for p in engine.onboarding_items(sid, n=5)}


def _ranks(x: np.ndarray) -> np.ndarray:
    return np.argsort(np.argsort(x)).astype(np.float64)


@pytest.mark.slow
def test_shipped_head_still_ranks_films_that_have_no_ratings(real_engine):
    """Most catalog films have no collaborative vector. Scored as if unrated, the films the head knows must keep
    about the order and spread they have with their vectors. A head trained without collab_dropout flattened them
    (rank correlation 0.65, spread a quarter), and a "mafia saga" request drew a kids' cartoon."""
    head, catalog, index = real_engine.personal.head, real_engine.catalog, real_engine.index
    ids = list(head.collab_ids)
    rows = np.array([catalog.position(i) for i in ids])
    vectors, zero = index.vectors[rows], np.zeros(index.vectors.shape[1], np.float32)
    extras = head_inputs(item_features([catalog.items[r] for r in rows]), vectors, None)
    shown = head.score(head.init_params(), head.item_vectors(ids, vectors), extras, zero)
    hidden = head.score(head.init_params(), head.text_only(vectors), extras, zero)
    assert np.corrcoef(_ranks(shown), _ranks(hidden))[0, 1] > 0.85
    assert hidden.std() > 0.5 * shown.std()
