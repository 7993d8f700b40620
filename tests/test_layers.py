"""House rules checked by parsing imports: only recsys.web imports Gradio; every module imports only lower layers.

Two levels, learnt from the folders: each subpackage has a rank (a module may import a lower subpackage's modules),
and inside a subpackage each module has a rank (it may import its lower siblings). Relative imports are resolved
per file, so `from ..core.config import Settings` inside recsys/web/app.py counts as web -> core.
"""

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "recsys"
# Subpackages (and the top-level modules, which are their own layer) by rank: lower never imports higher.
SUBPACKAGE = {
    "__init__": 0,
    "core": 0,
    "storage": 1,
    "catalog": 1,
    "generation": 1,
    "search": 2,
    "understanding": 2,
    "dialogue": 2,
    "explain": 2,
    "personal": 3,
    "ranking": 4,
    "parts": 5,  # the engine's own modules: what it loads, what it says without a model
    "replies": 5,
    "engine": 6,
    "web": 7,
    "evaluation": 7,
    "bench": 7,  # shells and tools over the engine, side by side
    "cli": 8,
    "__main__": 9,
}
# Modules inside each subpackage by rank ("__init__" files are docstrings only, rank 0).
MODULE = {
    "core": {"types": 0, "errors": 0, "paths": 0, "files": 0, "background": 0, "config": 1, "cli_args": 2},
    "storage": {"db": 0, "rows": 0, "queries": 1, "store": 2},
    "catalog": {
        "comentions": 0,
        "text": 0,
        "movielens": 0,
        "catalog": 1,
        "files": 1,
        "moviesdb": 1,
        "sources": 2,
        "graph": 2,
    },
    "generation": {
        "stream": 0,
        "draft": 0,
        "threads": 0,
        "late": 0,
        "local": 1,
        "openai": 1,
        "batch": 1,
        "gguf": 2,
        "llamacpp": 3,
        "llm": 4,
    },
    "search": {
        "attention": 0,
        "packed": 0,
        "shipped": 0,
        "encoder": 1,
        "backends": 2,
        "cache": 2,
        "onnx": 2,
        "embedder": 3,
        "index": 3,
    },
    "understanding": {
        "words": 0,
        "cues": 0,
        "readers": 1,
        "entities": 1,
        "places": 1,
        "lexicon": 2,
        "generator_parser": 3,
    },
    "dialogue": {"state": 0, "answers": 0, "controls": 0, "sessions": 0, "references": 1},
    "explain": {"evidence": 0, "grounding": 0, "claims": 1, "explainer": 2},
    "personal": {"mf": 0, "inputs": 0, "head": 1, "tasks": 2, "serving": 2, "meta": 3},
    "ranking": {"scores": 0, "features": 0, "learned": 1, "chooser": 2},
    "web": {
        "accounts": 0,
        "stubs": 0,
        "loading": 0,
        "html": 0,
        "layout": 0,
        "views": 1,
        "export": 1,
        "updates": 2,
        "api": 2,
        "sessions": 3,
        "turn": 3,
        "votes": 3,
        "events": 4,
        "app": 5,
        "floor": 6,  # the server bench's page: app.py's queue settings
    },
    "evaluation": {
        "quality": 0,
        "script": 0,
        "folds": 0,
        "coldstart_methods": 0,
        "expectations": 1,
        "intents": 1,
        "coldstart": 1,
        "train_meta": 1,
        "replay_results": 2,
        "replay": 3,
        "report_figures": 3,
        "report": 4,
        "reasons": 4,  # the claim checker on labelled reasons (samples through replay's engine)
        # eval conversations: readers and metrics, then samples, baselines and protocols, then the verb
        "dialogues": 0,
        "conversation_metrics": 0,
        "conversation_samples": 1,
        "conversation_report": 1,
        "baselines": 2,
        "conversation_protocols": 2,
        "conversations": 4,
        "ranker_data": 3,
        "ranker_fit": 4,
        "train_ranker": 5,
    },
    "bench": {
        "util": 0,
        "report": 0,
        "targets": 0,
        "page_client": 0,
        "index": 1,
        "embedding": 1,
        "turn": 1,
        "generation": 1,
        "serve": 1,
        "runner": 2,
    },
}


def module_of(path: Path) -> tuple[str, ...]:
    """recsys/web/app.py -> ("web", "app"); recsys/cli.py -> ("cli",); recsys/web/__init__.py -> ("web", "__init__")."""
    return path.relative_to(PKG).with_suffix("").parts


def imports(path: Path) -> set[tuple[str, ...]]:
    """Every recsys module this file imports, as parts under recsys (relative imports resolved); others ("!name",)."""
    me = module_of(path)
    here = list(me[:-1])  # the package this file is in, under recsys
    found: set[tuple[str, ...]] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for a in node.names:
                parts = a.name.split(".")
                found.add(tuple(parts[1:]) if parts[0] == "recsys" else ("!" + parts[0],))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)]
                assert len(base) == len(here) - (node.level - 1), f"{path}: import above recsys"
            elif node.module and node.module.split(".")[0] == "recsys":
                base, node_module = [], ".".join(node.module.split(".")[1:])
                found.update(_targets(base, node_module, node.names))
                continue
            else:
                found.add(("!" + (node.module or "").split(".")[0],))
                continue
            found.update(_targets(base, node.module, node.names))
    return found


def _targets(base: list[str], module: str | None, names) -> set[tuple[str, ...]]:
    """`from <base>.<module> import names`: the module, or each name when it is a module of that package."""
    parts = tuple(base + (module.split(".") if module else []))
    folder = PKG.joinpath(*parts)
    if folder.is_dir():  # `from ..personal import head`: the names are modules
        return {parts + (a.name,) for a in names if (folder / f"{a.name}.py").exists()} or {parts + ("__init__",)}
    return {parts}


def rank(parts: tuple[str, ...]) -> tuple[float, float]:
    """(subpackage rank, module rank inside it) of a module under recsys."""
    top = parts[0]
    assert top in SUBPACKAGE, f"recsys/{top}: add it to SUBPACKAGE"
    if len(parts) == 1:
        return SUBPACKAGE[top], 0
    if parts[1] == "__init__":
        return SUBPACKAGE[top], 0
    table = MODULE.get(top)
    assert table is not None and parts[1] in table, f"recsys/{'/'.join(parts)}.py: add it to MODULE[{top!r}]"
    return SUBPACKAGE[top], table[parts[1]]


def all_modules() -> list[Path]:
    return sorted(p for p in PKG.rglob("*.py") if "__pycache__" not in p.parts)


def test_only_web_imports_gradio():
    for path in all_modules():
        if module_of(path)[0] != "web":
            assert ("!gradio",) not in imports(path), path


def test_subpackage_inits_are_docstrings_only():
    """Nothing runs on `import recsys.x`: a subpackage's __init__ re-exports nothing, so layers cannot cycle there."""
    for path in PKG.glob("*/__init__.py"):
        body = ast.parse(path.read_text()).body
        assert len(body) == 1 and isinstance(body[0], ast.Expr), path


def test_modules_import_only_lower_layers():
    for path in all_modules():
        me = module_of(path)
        mine = rank(me)
        for other in imports(path):
            if other[0].startswith("!") or other == ():
                continue
            theirs = rank(other)
            if other[0] == me[0] and len(me) > 1:  # a sibling: compare ranks inside the subpackage
                assert theirs[1] < mine[1], f"{'.'.join(me)} imports its sibling {'.'.join(other)}"
            else:
                assert theirs[0] < mine[0], f"{'.'.join(me)} imports {'.'.join(other)}"


def test_every_module_has_a_rank():
    """A module added without a rank fails here rather than passing the import check by accident."""
    for path in all_modules():
        rank(module_of(path))


def test_the_layer_check_sees_relative_imports(tmp_path):
    """The resolver itself: `from ..core.config import X` inside web/ is web -> core.config."""
    fake = PKG / "web" / "app.py"
    got = imports(fake)
    assert ("core", "config") in got and ("engine",) in got and ("!gradio",) in got
