"""Where the files the package ships are: prompts, shipped data (head, eval sets, dialogues), the app entry.

In a checkout they sit beside the package (`data/`, `prompts/`); an installed wheel carries them inside it as
`recsys/_data` and `recsys/_prompts` (see pyproject.toml), so every module asks here instead of walking up
from its own `__file__`.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent  # recsys/
CHECKOUT = PACKAGE.parent  # the repository root when running from a clone


def _shipped(name: str) -> Path:
    """The installed copy inside the package if there is one, else the checkout's folder."""
    inside = PACKAGE / f"_{name}"
    return inside if inside.is_dir() else CHECKOUT / name


DATA = _shipped("data")  # data/: shipped head, eval sets, replay corpus, tiny catalogs
PROMPTS = _shipped("prompts")  # prompts/: the generator's system prompts and few-shot examples
DIALOGUES = DATA / "dialogues"  # the replay corpus
INTENTS = DATA / "eval" / "intents.jsonl"  # hand-labelled requests (intent eval, encoder tuning texts)
HEAD_CHECKPOINT = DATA / "head" / "head.pt"  # the shipped meta-learned initialisation
COMENTIONS = DATA / "ranker" / "comentions.json"  # films named together in the ReDial train sample (train-ranker)
RANKER = DATA / "ranker" / "ranker.txt"  # the learned ranker (LightGBM text) beside ranker.json (train-ranker)


def setting_file(spec: str, shipped: Path) -> Path | None:
    """The file a setting names: "" = the shipped one, "none" = off, else the user's path.

    None when off or when nothing is shipped (a checkout without the file runs without that part); a user's path
    comes back even when it is missing, so the caller's error can name the setting that pointed there.
    """
    if spec.lower() == "none":
        return None
    if not spec:
        return shipped if shipped.exists() else None
    return Path(spec)
