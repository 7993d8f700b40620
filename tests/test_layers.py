"""House rules checked by parsing imports: recsys never imports Gradio; modules import only lower layers."""
import ast
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "recsys"
LAYER = {"types": 0, "errors": 0, "config": 0, "files": 0, "db": 0.5, "catalog": 1, "index": 1, "llm": 1, "head": 1, "store": 1, "http_api": 1,
         "movielens": 1, "mf": 1,
         "intent_words": 1, "intent": 2, "grounding": 1.5, "explain": 2, "dialogue": 2, "parse_llm": 2, "graph": 2, "meta": 2, "personal": 2, "engine": 3,
         "accounts": 2, "present": 3,  # the page's Gradio-free parts: who may touch what, what it shows as text
         "view": 4, "export": 4,  # ... and what it shows of a session, read through the engine
         "replay": 4, "bench": 4.5, "train_meta": 4,
         # the bench: helpers (3.5) under its sections (4) under the driver (4.5)
         "bench_util": 3.5, "bench_report": 3.5, "bench_index": 4, "bench_turn": 4, "bench_gen": 4, "bench_serve": 4, "eval_intents": 4, "eval_coldstart": 4, "eval_folds": 3.5,
         "eval_report": 5, "dialogue_script": 3, "quality": 3,  # the report runs the replay corpus
         "cli": 5, "__main__": 6, "__init__": 0}


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                names.add("recsys." + (node.module or ""))
            elif node.module:
                names.add(node.module)
    return names


def test_recsys_never_imports_gradio():
    for path in PKG.glob("*.py"):
        assert not any(n.split(".")[0] == "gradio" for n in imports(path)), path.name


def test_modules_import_only_lower_layers():
    for path in PKG.glob("*.py"):
        mine = LAYER.get(path.stem)
        assert mine is not None, f"{path.name}: add it to LAYER"
        for name in imports(path):
            if name.startswith("recsys.") and name != "recsys.":
                other = name.split(".")[1]
                assert LAYER[other] < mine or (mine == 0 and other in ("errors",)), f"{path.stem} imports {other}"
