"""Meta-training pieces (episodes, split, one MAML step of either order) on synthetic data with a known answer,
and the shipped head through the real engine: two war-film dislikes push war films down in the next answer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recsys.personal.meta import MetaConfig, episode_loss, make_batch
from recsys.personal.tasks import TaskData, split_users

D = 8


def synthetic(users: int = 20, items: int = 30, seed: int = 0) -> TaskData:
    """Items in two clusters; half the users love cluster 0, half cluster 1 (a checkerboard of taste)."""
    rng = np.random.default_rng(seed)
    centres = np.eye(D, dtype=np.float32)[:2]
    cluster = np.arange(items) % 2
    vectors = centres[cluster] + 0.2 * rng.standard_normal((items, D)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    data = {}
    for u in range(users):
        rows = rng.permutation(items)[:20]
        data[str(u)] = (rows, np.where(cluster[rows] == u % 2, 5.0, 1.0).astype(np.float32))
    tag_matrix = np.stack([cluster == 0, cluster == 1], axis=1).astype(np.float32)
    return TaskData(
        [f"i{i}" for i in range(items)],
        vectors,
        np.zeros((items, 3), np.float32),
        data,
        ["genre:A", "genre:B"],
        tag_matrix,
        centres.copy(),
        np.zeros((2, 4), np.float32),
        "synthetic",
    )


def test_episodes_hide_the_collaborative_vector_of_about_the_chosen_share_of_films():
    data = synthetic()
    data.collab = np.ones((len(data.item_ids), 3), np.float32)
    config = MetaConfig(max_support=5, query=8, collab_dropout=0.5)
    batch = make_batch(data, [str(u) for u in range(20)], config, np.random.default_rng(0))
    sv, _, _, sm = batch.support
    qv, _, _, qm = batch.query
    assert sv.shape[-1] == D + 3
    shown = np.concatenate([sv[..., D:].numpy()[sm.numpy() > 0], qv[..., D:].numpy()[qm.numpy() > 0]])[:, 0]
    assert set(shown.tolist()) == {0.0, 1.0} and 0.35 < shown.mean() < 0.65
    kept = make_batch(data, ["0"], MetaConfig(max_support=5, query=8, collab_dropout=0.0), np.random.default_rng(0))
    assert kept.query[0][..., D:].numpy()[kept.query[3].numpy() > 0].min() == 1.0


def test_split_is_seeded_disjoint_and_covers_everyone():
    data = synthetic()
    a, b = split_users(data, 0, 0.25, 10), split_users(data, 0, 0.25, 10)
    assert a == b and len(a.held_out) == 5 and not set(a.held_out) & set(a.train)
    assert sorted(a.held_out + a.train, key=int) == sorted(data.users, key=int)
    assert split_users(data, 1, 0.25, 10).held_out != a.held_out


def test_folds_hold_every_user_out_exactly_once():
    from recsys.core.errors import RecsysError
    from recsys.personal.tasks import fold_count

    data = synthetic()
    assert fold_count(data, 0.25, 10) == 4
    splits = [split_users(data, 0, 0.25, 10, fold) for fold in range(4)]
    assert splits[0] == split_users(data, 0, 0.25, 10)  # fold 0 is the split as it always was
    order = np.random.default_rng(0).permutation(20)  # ... the first block of the seeded order
    assert splits[0].held_out == sorted((sorted(data.users, key=int)[i] for i in order[:5]), key=int)
    held = [u for s in splits for u in s.held_out]
    assert sorted(held, key=int) == sorted(data.users, key=int)  # every user once
    assert all(
        not set(s.held_out) & set(s.train) and len(s.held_out) == 5 and s.fold == f for f, s in enumerate(splits)
    )
    uneven = [split_users(data, 0, 0.3, 10, fold).held_out for fold in range(fold_count(data, 0.3, 10))]
    assert [len(h) for h in uneven] == [6, 6, 8]  # the last block takes the rest
    with pytest.raises(RecsysError, match="3 folds"):
        split_users(data, 0, 0.3, 10, 3)


def test_episodes_have_the_right_shapes_and_masks():
    data = synthetic()
    config = MetaConfig(max_support=5, query=8, request_prob=1.0)
    batch = make_batch(data, ["0", "1", "2"], config, np.random.default_rng(0))
    sv, sx, sy, sm = batch.support
    qv, qx, qy, qm = batch.query
    assert sv.shape == (3, 5, D) and sx.shape == (3, 5, 4) and qv.shape == (3, 8, D) and qm.shape == (3, 8)
    assert batch.request.abs().sum(-1).gt(0).all()  # every episode got a request
    t_y, t_m = batch.tags
    assert t_y.shape == (3, 2) and set(t_y[t_m > 0].tolist()) <= {1.0, 5.0}  # one taste per cluster


@pytest.mark.parametrize(
    "second_order,extra",
    [
        (False, {}),
        (True, {}),
        (True, {"dropout": 0.2, "lr_per_weight": True, "inner_centered": 1.0}),  # Meta-SGD, centred inner loss
        (True, {"adapt": "context", "context": 4, "inner_lr": 1.0}),  # CAVIA
        (False, {"ridge": 1.0}),
        (True, {"ridge": 1.0}),  # preference vector solved in closed form (R2-D2)
        (False, {"rank_pairs": "lambda"}),
        (False, {"adapt": "preference"}),  # LambdaRank pairs; linear fold-in
    ],
    ids=[
        "first-order",
        "second-order",
        "meta-sgd-dropout",
        "context",
        "ridge-first-order",
        "ridge-second-order",
        "lambda-pairs",
        "preference-only",
    ],
)
def test_meta_training_learns_to_adapt(second_order, extra):
    from recsys.personal.head import Head

    data = synthetic()
    config = MetaConfig(
        max_support=6,
        query=10,
        second_order=second_order,
        hidden=8,
        decision=8,
        inner_steps=3,
        collab_factors=0,
        **{"dropout": 0.0, **extra},
    )  # text only: the clusters are in the vectors
    torch.manual_seed(0)
    head = Head(config.head_config(D))
    opt = torch.optim.Adam(head.parameters(), lr=1e-2)
    rng = np.random.default_rng(0)
    tags = torch.as_tensor(data.tag_vectors), torch.as_tensor(data.tag_extras)
    users = list(data.users)
    losses = []
    for _ in range(120):
        loss, parts = episode_loss(head, make_batch(data, users[:16], config, rng), *tags, config)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(parts["rating_mse"])
    assert np.mean(losses[-20:]) < 0.5 * np.mean(losses[:20])
    if config.ridge:  # the penalties are meta-learned too, by either order
        assert not torch.allclose(head.log_ridge, torch.tensor([0.0, 0.0]))
    head.eval()  # no dropout when serving
    # after meta-training, two ratings of a user adapt the head to their cluster
    rows, ratings = data.users["1"]
    x = np.zeros((2, 4), np.float32)
    q = np.zeros(D, np.float32)
    fast = head.adapt(head.init_params(), data.vectors[rows[:2]], x, q, ratings[:2])
    rest = rows[2:]
    pred = head.score(fast, data.vectors[rest], np.zeros((len(rest), 4), np.float32), q)
    liked = ratings[2:] > 3
    assert pred[liked].mean() > pred[~liked].mean()


def test_lambda_pairs_weigh_a_swap_at_the_top_more_than_one_further_down():
    from recsys.core.errors import RecsysError
    from recsys.personal.meta import pair_weights

    y = torch.tensor([[5.0, 4.0, 2.0, 1.0, 3.0]])
    pred = torch.tensor([[0.9, 0.8, 0.2, 0.1, 0.0]])  # ranks 0, 1, 2, 3, 4
    mask = torch.tensor([[1.0, 1.0, 1.0, 1.0, 0.0]])  # the last item is padding
    assert pair_weights(pred, y, mask, "all") == 1.0
    w = pair_weights(pred, y, mask, "lambda")[0]
    discount = 1.0 / np.log2(np.arange(4) + 2.0)
    ideal = float((np.array([5.0, 4.0, 2.0, 1.0]) * discount).sum())
    assert w[0, 1] == pytest.approx(1.0 * (discount[0] - discount[1]) / ideal)  # |Δy| x |Δdiscount| / ideal DCG
    assert w[0, 1] > w[2, 3]  # the same rating gap, one place apart: the top pair matters more
    assert torch.allclose(w, w.T)
    with pytest.raises(RecsysError, match="rank_pairs"):
        pair_weights(pred, y, mask, "listwise")


def test_a_config_saved_before_rank_pairs_keeps_its_recipe():
    from dataclasses import asdict

    from recsys.personal.meta import MetaConfig

    old = {k: v for k, v in asdict(MetaConfig()).items() if k != "rank_pairs"}
    assert MetaConfig.saved(old).rank_pairs == "all"  # trained with every pair alike
    assert MetaConfig.saved(asdict(MetaConfig())) == MetaConfig()
    assert MetaConfig.saved({}) == MetaConfig()  # no saved config: today's defaults
    assert MetaConfig.from_dict({"seed": 3}).rank_pairs == "lambda"  # a hand-written config: today's defaults


def _with_exploding_user(data: TaskData) -> TaskData:
    """One user whose ratings overflow float32 once squared: any batch holding them has a non-finite loss."""
    rows, ratings = data.users["0"]
    data.users["0"] = (rows, np.full_like(ratings, 1e20))
    return data


def test_a_diverging_batch_is_skipped_and_the_checkpoint_stays_finite(tmp_path):
    """An inner loop that blows up on one user's support set must not poison the weights (it did: NaN checkpoint)."""
    import json

    from recsys.personal.head import load_head
    from recsys.personal.meta import meta_train

    config = MetaConfig(
        max_support=6,
        query=10,
        hidden=8,
        decision=8,
        inner_steps=2,
        iterations=60,
        tasks=2,
        checkpoint_every=1000,
        collab_factors=0,
    )
    meta_train(
        _with_exploding_user(synthetic()), [str(u) for u in range(20)], config, tmp_path / "h.pt", progress=False
    )
    meta = json.loads((tmp_path / "h.json").read_text())
    assert 0 < meta["skipped_steps"] <= 10 and np.isfinite(meta["final_query_mse"])
    head, _ = load_head(tmp_path / "h.pt")
    assert all(bool(torch.isfinite(p).all()) for p in head.parameters())


def test_training_that_keeps_diverging_stops_with_a_clear_error_and_writes_nothing(tmp_path):
    from recsys.core.errors import RecsysError
    from recsys.personal.meta import meta_train

    config = MetaConfig(
        max_support=6, query=10, hidden=8, decision=8, inner_steps=2, iterations=40, tasks=20, collab_factors=0
    )
    with pytest.raises(RecsysError, match="unstable: 11 of 11 outer steps"):
        meta_train(
            _with_exploding_user(synthetic()), [str(u) for u in range(20)], config, tmp_path / "h.pt", progress=False
        )
    assert not (tmp_path / "h.pt").exists()


def test_collaborative_vectors_let_a_new_person_be_read_where_the_text_says_nothing(tmp_path):
    """Item vectors of pure noise, tastes in two camps: only who-rated-what (matrix factors of the training users,
    fitted inside meta_train and saved in the checkpoint) can tell a held-out person's camp from two ratings."""
    from recsys.personal.head import load_head
    from recsys.personal.meta import meta_train

    data = synthetic(users=40, seed=1)
    data.vectors = np.random.default_rng(5).standard_normal(data.vectors.shape).astype(np.float32)
    data.vectors /= np.linalg.norm(data.vectors, axis=1, keepdims=True)
    config = MetaConfig(
        max_support=6,
        query=10,
        hidden=8,
        decision=8,
        taste=4,
        inner_steps=3,
        iterations=150,
        tasks=16,
        dropout=0.0,
        weight_decay=0.0,
        outer_lr=1e-2,
        collab_factors=2,
    )
    meta_train(data, [str(u) for u in range(32)], config, tmp_path / "h.pt", progress=False)
    head, _ = load_head(tmp_path / "h.pt")
    assert head.config.collab == 3 and len(head.collab_ids) == 30  # 2 factors + bias for each rated film
    separations = []
    for user in map(str, range(32, 40)):  # never trained on, and not in the matrix factorisation
        rows, ratings = data.users[user]
        ids = [data.item_ids[r] for r in rows]
        x, q = np.zeros((len(rows), 4), np.float32), np.zeros(D, np.float32)
        support = [0, int(np.flatnonzero(ratings != ratings[0])[0])]  # one film of each camp
        inputs = head.item_vectors(ids, data.vectors[rows])
        fast = head.adapt(head.init_params(), inputs[support], x[support], q, ratings[support])
        pred = head.score(fast, inputs, x, q)
        liked = ratings > 3
        separations.append(pred[liked].mean() - pred[~liked].mean())
    assert min(separations) > 0.5, separations
