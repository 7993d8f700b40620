"""train-meta and eval coldstart end to end on a tiny own-written ratings file over the tiny catalog (real MiniLM),
plus the metrics on cases with known answers."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from recsys.cli import main
from recsys.evaluation.coldstart_methods import KS, METHODS, auc, ndcg, summary

REPO = Path(__file__).resolve().parent.parent
TINY = REPO / "data" / "catalogs" / "tiny.jsonl"
CONFIG = {"iterations": 30, "tasks": 4, "query": 6, "min_ratings": 12, "eval_fraction": 0.34, "checkpoint_every": 10}


def write_ratings(path: Path) -> None:
    """Twelve users, two tastes: comedy fans and the rest (a known structure), 14 of the 16 films each."""
    catalog = [json.loads(line) for line in TINY.read_text().splitlines() if line.strip()]
    rng = np.random.default_rng(0)
    lines = ["user_id,item_id,rating"]
    for user in range(12):
        fan = user % 2 == 0
        for film in rng.permutation(catalog)[:14]:
            funny = "Comedy" in film["genres"]
            rating = 5 if funny == fan else 2
            lines.append(f"u{user},{film['id']},{rating if rng.random() > 0.15 else 3}")
    path.write_text("\n".join(lines) + "\n")


def test_metrics_on_known_cases():
    assert auc(np.array([3.0, 2.0, 1.0]), np.array([True, True, False])) == 1.0
    assert auc(np.array([1.0, 1.0]), np.array([True, False])) == 0.5
    assert math.isnan(auc(np.array([1.0, 2.0]), np.array([True, True])))
    assert ndcg(np.array([3.0, 2.0, 1.0]), np.array([5.0, 3.0, 1.0])) == pytest.approx(1.0)
    assert ndcg(np.array([1.0, 2.0, 3.0]), np.array([5.0, 3.0, 1.0])) < 1.0
    s = summary([1.0, 2.0, 3.0, math.nan])
    assert s["n"] == 3 and s["mean"] == 2.0 and s["ci"] > 0


@pytest.mark.slow
def test_train_meta_then_eval_coldstart_on_a_tiny_file(tmp_path, capsys):
    ratings, config = tmp_path / "ratings.csv", tmp_path / "config.json"
    write_ratings(ratings)
    config.write_text(json.dumps(CONFIG))
    common = ["--catalog", str(TINY), "--data", str(ratings), "--config", str(config), "--no-progress"]
    assert main(["train-meta", *common, "--out", str(tmp_path / "head.pt")]) == 0
    assert main(["train-meta", *common, "--second-order", "--out", str(tmp_path / "head-so.pt")]) == 0
    meta = json.loads((tmp_path / "head.json").read_text())
    assert meta["config"]["second_order"] is False and meta["mapping"]["ratings_mapped"] == 12 * 14
    assert meta["config"]["rank_pairs"] == "lambda"
    # the JSON beside a head trained before rank_pairs existed retrains that head's recipe: every pair alike
    older = tmp_path / "old" / "head.json"
    older.parent.mkdir()
    older.write_text(json.dumps({**meta, "config": {k: v for k, v in meta["config"].items() if k != "rank_pairs"}}))
    args = ["train-meta", "--catalog", str(TINY), "--data", str(ratings), "--no-progress", "--config", str(older)]
    assert main([*args, "--out", str(tmp_path / "old" / "again.pt")]) == 0
    assert json.loads((tmp_path / "old" / "again.json").read_text())["config"]["rank_pairs"] == "all"
    split = json.loads((tmp_path / "split.json").read_text())
    assert len(split["held_out"]) == 4 and not set(split["held_out"]) & set(split["train"])
    out_json, out_png = tmp_path / "cs.json", tmp_path / "cs.png"
    assert (
        main(
            [
                "eval",
                "coldstart",
                "--catalog",
                str(TINY),
                "--data",
                str(ratings),
                "--head",
                str(tmp_path / "head.pt"),
                "--json",
                str(out_json),
                "--png",
                str(out_png),
                "--scratch-steps",
                "5",
            ]
        )
        == 0
    )
    report = json.loads(out_json.read_text())
    assert report["users"] == 4 and report["split_reused"] is True and report["support"] == "random"
    assert set(report["results"]) == set(METHODS)
    for method in METHODS:
        assert set(report["results"][method]) == {str(k) for k in KS}
        assert set(report["results"][method]["3"]) == {"auc", "ndcg@10", "mae"}
    assert "beats_by_more_than_ci" in report["comparisons"]["3"]["popularity"]["auc"]
    assert report["served"] == "maml_first_order" and "maml_second_order" in report["comparisons"]["3"]
    assert out_png.read_bytes()[:4] == b"\x89PNG"
    assert "| maml_first_order | 10 |" in capsys.readouterr().out
    assert (
        main(
            [
                "eval",
                "coldstart",
                "--catalog",
                str(TINY),
                "--data",
                str(ratings),
                "--head",
                str(tmp_path / "head.pt"),
                "--twin",
                str(tmp_path / "head.pt"),
            ]
        )
        == 1
    )  # the twin must be the other order
    assert "must be the other order" in capsys.readouterr().err
    assert (
        main(
            [
                "eval",
                "coldstart",
                "--catalog",
                str(TINY),
                "--data",
                str(ratings),
                "--head",
                str(tmp_path / "head.pt"),
                "--support",
                "informative",
                "--json",
                str(out_json),
                "--scratch-steps",
                "5",
            ]
        )
        == 0
    )
    informative = json.loads(out_json.read_text())
    assert informative["support"] == "informative" and set(informative) == set(report)
    assert "informative support" in capsys.readouterr().out
    assert (
        main(
            [
                "eval",
                "coldstart",
                "--catalog",
                str(TINY),
                "--data",
                str(ratings),
                "--head",
                str(tmp_path / "head.pt"),
                "--ks",
                "0,2,4",
                "--json",
                str(out_json),
                "--scratch-steps",
                "5",
            ]
        )
        == 0
    )
    other_ks = json.loads(out_json.read_text())  # the query set is then everything after the first 4
    assert other_ks["ks"] == [0, 2, 4] and set(other_ks["results"]["mf_fold_in"]) == {"0", "2", "4"}
    assert set(other_ks["comparisons"]) == {"0", "2", "4"} and "mf_fold_in" in other_ks["comparisons"]["2"]
    assert set(other_ks["gain_over_k0"]["mf_fold_in"]) == {"2", "4"}  # each method against itself without support


@pytest.mark.slow
def test_cross_validation_trains_each_fold_by_the_served_recipe(tmp_path, capsys):
    import torch

    from recsys.core.config import Settings

    ratings, config = tmp_path / "ratings.csv", tmp_path / "config.json"
    write_ratings(ratings)
    config.write_text(json.dumps(CONFIG))
    common = ["--catalog", str(TINY), "--data", str(ratings), "--no-progress"]
    for order in ("--first-order", "--second-order"):
        name = "head.pt" if order == "--first-order" else "head-so.pt"
        assert main(["train-meta", *common, "--config", str(config), order, "--out", str(tmp_path / name)]) == 0
    evaluate = [
        "eval",
        "coldstart",
        "--catalog",
        str(TINY),
        "--data",
        str(ratings),
        "--head",
        str(tmp_path / "head.pt"),
        "--scratch-steps",
        "5",
        "--json",
        str(tmp_path / "cs.json"),
    ]
    capsys.readouterr()
    assert main([*evaluate, "--folds", "3", "--draws", "2"]) == 0  # 12 users in blocks of 4: three folds
    trained = capsys.readouterr().out
    assert trained.count("meta-training the") == 4  # folds 1 and 2, both orders; fold 0 is the given pair
    report = json.loads((tmp_path / "cs.json").read_text())
    assert report["folds"] == 3 and report["draws"] == 2 and report["fold_users"] == {"0": 4, "1": 4, "2": 4}
    assert report["users"] == 12 and report["results"]["popularity"]["3"]["mae"]["n"] == 12
    assert report["fold_checkpoints"]["0"]["maml_first_order"] == str(tmp_path / "head.pt")
    fold1 = Path(report["fold_checkpoints"]["1"]["maml_second_order"])
    assert fold1.parent.parent == Settings.from_env().home / "coldstart-folds"
    assert main([*evaluate, "--folds", "3", "--draws", "2"]) == 0
    assert "meta-training" not in capsys.readouterr().out  # the fold heads are reused
    # a fold head is exactly what `train-meta --fold` trains
    assert (
        main(
            [
                "train-meta",
                *common,
                "--config",
                str(config),
                "--second-order",
                "--fold",
                "1",
                "--out",
                str(tmp_path / "f1" / "head-so.pt"),
            ]
        )
        == 0
    )
    mine, theirs = (torch.load(f, weights_only=True)["state"] for f in (tmp_path / "f1" / "head-so.pt", fold1))
    assert all(torch.equal(mine[k], theirs[k]) for k in mine)
    assert json.loads((tmp_path / "f1" / "split.json").read_text())["fold"] == 1
    capsys.readouterr()
    for bad, says in ((["--folds", "4"], "only 3 folds"), (["--draws", "2", "--support", "informative"], "random")):
        assert main([*evaluate, *bad]) == 1
        assert says in capsys.readouterr().err
    assert main(["train-meta", *common, "--config", str(config), "--fold", "1"]) == 1  # would replace the app's head
    assert "needs --out" in capsys.readouterr().err
    (tmp_path / "f1" / "head.pt").write_bytes((tmp_path / "head.pt").read_bytes())  # a fold-0 head by a fold-1 split
    (tmp_path / "f1" / "head.json").write_bytes((tmp_path / "head.json").read_bytes())
    assert main([*evaluate[:-4], "--head", str(tmp_path / "f1" / "head.pt")]) == 1
    assert "its own folder" in capsys.readouterr().err


@pytest.mark.slow
def test_resume_continues_an_interrupted_run(tmp_path, monkeypatch):
    import recsys.personal.meta as meta

    ratings, config = tmp_path / "ratings.csv", tmp_path / "config.json"
    write_ratings(ratings)
    config.write_text(json.dumps({**CONFIG, "iterations": 25}))
    args = [
        "train-meta",
        "--catalog",
        str(TINY),
        "--data",
        str(ratings),
        "--no-progress",
        "--config",
        str(config),
        "--out",
        str(tmp_path / "h.pt"),
    ]
    assert main([*args, "--resume"]) == 1  # nothing to resume yet: a one-line error
    real, calls = meta.make_batch, []

    def dies_at_15(*a, **k):
        calls.append(1)
        if len(calls) > 15:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(meta, "make_batch", dies_at_15)
    assert main(args) == 130  # interrupted after the state saved at iteration 10
    assert (tmp_path / ".h-resume.pt").is_file() and not (tmp_path / "h.pt").exists()
    monkeypatch.setattr(meta, "make_batch", real)
    assert main([*args, "--resume"]) == 0
    assert (tmp_path / "h.pt").is_file() and not (tmp_path / ".h-resume.pt").exists()  # removed once complete


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["eval", "coldstart", "--data", str(tmp_path / "nope"), "--head", str(tmp_path / "h.pt")]) == 1
    assert "head checkpoint not found" in capsys.readouterr().err
    for bad in ("3,x", "-1,3", ""):
        with pytest.raises(SystemExit):  # argparse's usage error, naming the flag
            main(["eval", "coldstart", "--data", str(tmp_path), "--ks", bad])
        assert "--ks" in capsys.readouterr().err


# --- the support protocols (fast: hashed vectors, a small untrained head) ---------------------------------------------
def support_data(identical: bool = False):
    """Thirty films (tiny_items with varied popularity), two users rating 24 and 14 of them, a small head."""
    from dataclasses import replace

    import torch

    from recsys.personal.head import Head, HeadConfig
    from recsys.personal.inputs import item_features
    from recsys.personal.tasks import TaskData
    from tests.fakes import HashingEncoder, tiny_items

    base, rng = tiny_items(), np.random.default_rng(3)
    items = [
        replace(
            base[0 if identical else i % 12],
            item_id=f"f{i}",
            attributes={**base[i % 12].attributes, "popularity": 0.5 if identical else float(rng.uniform())},
        )
        for i in range(30)
    ]
    vectors = HashingEncoder().encode([f"{it.title} {it.text} {' '.join(it.tags)}" for it in items])
    users = {
        u: (rng.permutation(30)[:n].astype(np.int64), rng.integers(1, 6, n).astype(np.float32))
        for u, n in (("a", 24), ("b", 14))
    }
    torch.manual_seed(0)
    head = Head(HeadConfig(dim=64, hidden=16, decision=8))
    return TaskData([it.item_id for it in items], vectors, item_features(items), users), items, head


def test_random_support_is_the_seeded_shuffle_as_before():
    from recsys.evaluation.coldstart_methods import user_order

    data, _, _ = support_data()
    for number, user in enumerate(["a", "b"]):
        expected = np.random.default_rng([7, number]).permutation(len(data.users[user][0]))
        assert np.array_equal(user_order(data, user, number, 7), expected)


def test_draws_average_each_users_metrics_over_other_shuffles():
    from recsys.evaluation.coldstart_methods import evaluate, user_order

    data, _, _ = support_data()

    class ByRow:  # scores that depend on which films are queried, so every draw gives another AUC
        def run(self, method, s_rows, s_y, q_rows):
            return -q_rows.astype(np.float64), np.full(len(q_rows), 3.0)

    one, three = evaluate(data, ["a", "b"], ByRow(), 0), evaluate(data, ["a", "b"], ByRow(), 0, draws=3)
    for number, user in enumerate(["a", "b"]):
        rows, ratings = data.users[user]
        orders = [user_order(data, user, number, 0, draw=d) for d in range(3)]
        assert np.array_equal(orders[0], user_order(data, user, number, 0))  # draw 0 is the usual shuffle
        assert not np.array_equal(orders[1], orders[0]) and not np.array_equal(orders[2], orders[1])
        per_draw = [auc(-rows[o[10:]].astype(np.float64), ratings[o[10:]] >= 4) for o in orders]
        assert one["popularity"][3]["auc"][number] == per_draw[0]
        assert three["popularity"][3]["auc"][number] == pytest.approx(np.mean(per_draw))
    assert all(len(three[m][k]["auc"]) == 2 for m in METHODS for k in KS)  # one value per user
    # only some methods (model selection): the same values for those, nothing run for the rest
    calls = []

    class Counted(ByRow):
        def run(self, method, *args):
            calls.append(method)
            return super().run(method, *args)

    head_only = evaluate(data, ["a", "b"], Counted(), 0, draws=3, only=("maml_first_order",))
    assert set(head_only) == set(calls) == {"maml_first_order"}
    assert head_only["maml_first_order"] == three["maml_first_order"]


def test_informative_support_is_what_onboarding_asks_first():
    from recsys.evaluation.coldstart_methods import AskFirst, user_order
    from recsys.personal.inputs import head_inputs
    from recsys.personal.serving import Personalizer

    data, items, head = support_data()
    ask = AskFirst(head, items)
    for number, user in enumerate(["a", "b"]):
        rows = data.users[user][0]
        order = user_order(data, user, number, 0, ask)
        shuffle = user_order(data, user, number, 0)
        assert sorted(order.tolist()) == list(range(len(rows)))  # every rating once
        v = data.vectors[rows]
        evidence = (
            head.sensitivity(head.init_params(), v, head_inputs(data.features[rows], v, None))
            * (data.features[rows, 1] + 1.0)
            / 2.0
        )  # gradient norm x popularity, as onboarding scores
        assert order[0] == int(np.argmax(evidence))  # the most informative rated film is asked first
        assert evidence[order[:10]].mean() > evidence[order[10:]].mean()
        personal = Personalizer(head, [items[r] for r in rows], v)  # the app's own picks, MMR spread included
        asked = [it.item_id for it in personal.onboarding(personal.init, set(), 10)]
        assert [items[r].item_id for r in rows[order[:10]]] == asked
        # the query set (after the first 10) is everything else, in the shuffle's order
        assert order[10:].tolist() == [p for p in shuffle if p not in set(order[:10].tolist())]


def test_informative_ties_follow_the_seeded_shuffle():
    from recsys.evaluation.coldstart_methods import AskFirst, user_order

    data, items, head = support_data(identical=True)  # thirty copies of one film: every score ties
    for seed in (0, 1):
        order = user_order(data, "a", 0, seed, AskFirst(head, items))
        assert np.array_equal(order, user_order(data, "a", 0, seed))


def test_every_method_gets_the_same_informative_split():
    from recsys.evaluation.coldstart_methods import AskFirst, evaluate, user_order

    data, items, head = support_data()
    seen = {}

    class Recorder:
        def run(self, method, s_rows, s_y, q_rows):
            seen.setdefault(method, set()).add((tuple(s_rows), tuple(q_rows)))
            return np.arange(len(q_rows), dtype=np.float64), np.full(len(q_rows), 3.0)

    ask = AskFirst(head, items)
    out = evaluate(data, ["a"], Recorder(), 0, ask)
    rows = data.users["a"][0]
    order = user_order(data, "a", 0, 0, ask)
    splits = {(tuple(rows[order[:k]]), tuple(rows[order[10:]])) for k in KS}  # support = first k, query fixed
    assert set(seen) == set(METHODS) and all(seen[m] == splits for m in METHODS)
    assert all(len(out[m][k]["auc"]) == 1 for m in METHODS for k in KS)
