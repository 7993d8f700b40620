"""The learned ranker: feature rows, the saved model, and learning from dialogues through the engine's own turns."""

import math

import numpy as np
import pytest

from recsys.catalog.catalog import Catalog
from recsys.catalog.comentions import CoMentions
from recsys.core.errors import RecsysError
from recsys.evaluation.conversation_samples import TitleMatcher
from recsys.evaluation.dialogues import RECOMMENDER, SEEKER, Conversation, Mention, Turn
from recsys.evaluation.ranker_data import collect
from recsys.evaluation.ranker_fit import fit
from recsys.ranking.features import COLUMN, FEATURES, CatalogFeatures, RankInputs, candidate_features
from recsys.ranking.learned import LearnedRanker, load_ranker
from tests.engine_fixtures import tiny_engine
from tests.fakes import tiny_items


def _inputs(items, **kw):
    vectors = np.eye(len(items), 4, dtype=np.float32)  # (C, d) unit rows, orthogonal
    return RankInputs(items, np.linspace(0.9, 0.1, len(items)).astype(np.float32), vectors, searched=2, **kw)


def test_rows_leave_absent_signals_nan_and_measure_links_to_the_films_named():
    items = tiny_items()
    catalog = Catalog(items)
    table = CoMentions.count([["t1", "t4"], ["t1", "t4"], ["t1", "t2"]])
    static = CatalogFeatures(catalog, table)
    picked = [items[3], items[1], items[5]]  # Moon Laughs (t4), Robot Roommate (t2), Harbor Heist (t6)
    rows = candidate_features(_inputs(picked, query="space comedy"), static)
    assert rows.shape == (3, len(FEATURES))
    for name in ("liked_sim", "disliked_sim", "anchor_sim", "head_prior", "year_gap", "genre_overlap"):
        assert np.isnan(rows[:, COLUMN[name]]).all(), name  # nothing liked, named or learned: not "0 similar"
    assert rows[:, COLUMN["search_rank"]][:2].tolist() == [0.0, 0.5] and math.isnan(rows[2, COLUMN["search_rank"]])
    assert rows[:, COLUMN["query_empty"]].tolist() == [0.0, 0.0, 0.0]
    degree = rows[:, COLUMN["comention_degree"]]
    assert degree[0] == pytest.approx(math.log1p(2)) and degree[2] == 0.0  # t4 named twice with t1, t6 never
    assert rows[:, COLUMN["year"]].tolist() == [2005.0, 1999.0, 1995.0]

    galaxy = items[0]  # t1: Comedy, Sci-Fi, 1985, Ann Lee (also Moon Laughs' director)
    anchored = _inputs(picked, anchors=np.eye(1, 4, dtype=np.float32), anchor_items=[galaxy])
    rows = candidate_features(anchored, static)
    assert rows[:, COLUMN["anchor_sim"]].tolist() == [1.0, 0.0, 0.0]
    assert rows[:, COLUMN["year_gap"]].tolist() == [20.0, 14.0, 10.0]
    assert rows[:, COLUMN["genre_overlap"]].tolist() == [1.0, 1.0, 0.0]
    assert rows[0, COLUMN["shared_people"]] >= 2  # Ann Lee and the shared cast member
    assert rows[2, COLUMN["shared_people"]] == 1  # only the cast member all tiny films share


def _booster(rows: np.ndarray, labels: np.ndarray, sizes: list[int]):
    import lightgbm as lgb

    params = {"objective": "lambdarank", "min_data_in_leaf": 1, "verbose": -1, "num_threads": 1, "seed": 0}
    return lgb.train(params, lgb.Dataset(rows, labels, group=sizes, feature_name=list(FEATURES)), 5)


def test_a_saved_ranker_round_trips_and_one_for_other_features_or_another_catalog_is_refused(tmp_path):
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(40, len(FEATURES))).astype(np.float32)
    labels = (rows[:, 0] > 0.5).astype(np.float32)
    ranker = LearnedRanker(_booster(rows, labels, [10] * 4), {"catalog": "movies", "features": list(FEATURES)})
    path = tmp_path / "ranker.txt"
    ranker.save(path)
    back = load_ranker(str(path), "movies")
    score = back.score(rows[:10])
    assert np.allclose(score, ranker.score(rows[:10])) and score.min() == 0.0 and score.max() == 1.0
    assert load_ranker(str(path), "other.jsonl") is None  # trained for another catalog: the blend is used
    assert load_ranker("none", "movies") is None
    with pytest.raises(RecsysError, match="not found"):
        load_ranker(str(tmp_path / "missing.txt"), "movies")
    path.with_suffix(".json").write_text('{"catalog": "movies", "features": ["relevance"]}')
    with pytest.raises(RecsysError, match="other features"):
        load_ranker(str(path), "movies")
    path.write_text("not a model")
    with pytest.raises(RecsysError, match="cannot be read"):
        load_ranker(str(path), "movies")


def _dialogues(pairs, copies: int) -> list[Conversation]:
    """ReDial-like dialogues: the seeker likes the first film of a pair, the recommender answers with the second."""
    items = {it.item_id: it for it in tiny_items()}
    out = []
    for n in range(copies):
        for a, b in pairs:
            liked = Mention(items[a].title, items[a].year, liked=True)
            turns = (
                Turn(SEEKER, f"hi, I really liked {items[a].title}, what else?", (liked,)),
                Turn(RECOMMENDER, f"then try {items[b].title}", (Mention(items[b].title, items[b].year),)),
            )
            out.append(Conversation(f"c{n}-{a}", turns, "redial"))
    return out


def test_the_ranker_learns_from_dialogues_which_film_people_recommend_after_a_liked_one():
    """Rows recorded from the engine's own turns (co-mentions from the other folds) teach LambdaRank that a film
    named with the liked one is the answer; served, the model puts it first. The hand-set blend is given no
    co-mention weight here, so the weight the model finds is learned, not copied."""
    engine = tiny_engine(mmr_lambda=1.0, comention_weight=0.0)
    pairs = [("t1", "t12"), ("t9", "t6"), ("t5", "t3"), ("t7", "t10")]  # the answer is never the obvious neighbour
    conversations = _dialogues(pairs, copies=6)
    groups = collect(engine, conversations, TitleMatcher(engine.catalog), folds=3, progress=False)
    assert engine.chooser.observer is None and engine.chooser.comentions is None  # put back as it was
    replay = groups["replay"].summary()
    assert replay["points"] == len(conversations) and replay["candidate_recall"] == 1.0
    booster, report = fit(list(groups.values()), seed=0)
    assert report["groups"] == 2 * len(conversations) and report["feature_gain_share"]["comention"] > 0.3

    table = CoMentions.count([[a, b] for a, b in pairs for _ in range(6)])
    engine.chooser.use(table)
    served = []
    for ranker in (None, LearnedRanker(booster, {})):
        engine.chooser.ranker = ranker
        firsts = []
        for a, b in pairs:
            sid = engine.new_session()
            done = [e for e in engine.respond(sid, f"I liked {engine.catalog.get(a).title}, what else?")][-1]
            firsts.append(done.items[0].item.item_id == b)
        served.append(sum(firsts))
    assert served[1] == len(pairs) and served[1] > served[0]


def test_the_shipped_ranker_was_trained_on_the_train_sample_only_and_loads_for_the_default_catalog():
    shipped = load_ranker("", "movies")  # data/ranker/ranker.txt, built by `python -m recsys train-ranker`
    assert shipped is not None and shipped.meta["source"] == ["train_sample.jsonl"]
    assert shipped.meta["features"] == list(FEATURES) and shipped.booster.num_trees() == shipped.meta["trees"]
