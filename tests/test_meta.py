"""Meta-training pieces (episodes, split, one MAML step of either order) on synthetic data with a known answer,
and the shipped head through the real engine: two war-film dislikes push war films down in the next answer."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from recsys.meta import MetaConfig, TaskData, episode_loss, make_batch, split_users

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
    return TaskData([f"i{i}" for i in range(items)], vectors, np.zeros((items, 3), np.float32), data,
                    ["genre:A", "genre:B"], tag_matrix, centres.copy(), np.zeros((2, 4), np.float32), "synthetic")


def test_split_is_seeded_disjoint_and_covers_everyone():
    data = synthetic()
    a, b = split_users(data, 0, 0.25, 10), split_users(data, 0, 0.25, 10)
    assert a == b and len(a.held_out) == 5 and not set(a.held_out) & set(a.train)
    assert sorted(a.held_out + a.train, key=int) == sorted(data.users, key=int)
    assert split_users(data, 1, 0.25, 10).held_out != a.held_out


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


@pytest.mark.parametrize("second_order,extra", [
    (False, {}), (True, {}),
    (True, {"dropout": 0.2, "lr_per_weight": True, "inner_centered": 1.0}),  # Meta-SGD, centred inner loss
    (True, {"adapt": "context", "context": 4, "inner_lr": 1.0}),  # CAVIA
], ids=["first-order", "second-order", "meta-sgd-dropout", "context"])
def test_meta_training_learns_to_adapt(second_order, extra):
    from recsys.head import Head

    data = synthetic()
    config = MetaConfig(max_support=6, query=10, second_order=second_order, hidden=8, decision=8, inner_steps=3,
                        **{"dropout": 0.0, **extra})
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
