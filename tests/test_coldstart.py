"""train-meta and eval coldstart end to end on a tiny own-written ratings file over the tiny catalog (real MiniLM),
plus the metrics on cases with known answers."""
import json
import math
from pathlib import Path

import numpy as np
import pytest

from recsys.cli import main
from recsys.eval_coldstart import KS, METHODS, auc, ndcg, summary

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
    assert main(["train-meta", *common, "--first-order", "--out", str(tmp_path / "head-fo.pt")]) == 0
    meta = json.loads((tmp_path / "head.json").read_text())
    assert meta["config"]["second_order"] is True and meta["mapping"]["ratings_mapped"] == 12 * 14
    split = json.loads((tmp_path / "split.json").read_text())
    assert len(split["held_out"]) == 4 and not set(split["held_out"]) & set(split["train"])
    out_json, out_png = tmp_path / "cs.json", tmp_path / "cs.png"
    assert main(["eval", "coldstart", "--catalog", str(TINY), "--data", str(ratings), "--head",
                 str(tmp_path / "head.pt"), "--json", str(out_json), "--png", str(out_png), "--scratch-steps", "5"]) == 0
    report = json.loads(out_json.read_text())
    assert report["users"] == 4 and report["split_reused"] is True
    assert set(report["results"]) == set(METHODS)
    for method in METHODS:
        assert set(report["results"][method]) == {str(k) for k in KS}
        assert set(report["results"][method]["3"]) == {"auc", "ndcg@10", "mae"}
    assert "beats_by_more_than_ci" in report["comparisons"]["3"]["popularity"]["auc"]
    assert out_png.read_bytes()[:4] == b"\x89PNG"
    assert "| maml_second_order | 10 |" in capsys.readouterr().out


@pytest.mark.slow
def test_resume_continues_an_interrupted_run(tmp_path, monkeypatch):
    import recsys.meta as meta

    ratings, config = tmp_path / "ratings.csv", tmp_path / "config.json"
    write_ratings(ratings)
    config.write_text(json.dumps({**CONFIG, "iterations": 25}))
    args = ["train-meta", "--catalog", str(TINY), "--data", str(ratings), "--no-progress", "--config", str(config),
            "--out", str(tmp_path / "h.pt")]
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
