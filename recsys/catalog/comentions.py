"""Films people name together: item-item co-mention counts learned from real recommendation dialogues.

    table = CoMentions.load(Path("data/ranker/comentions.json"))     # built by `python -m recsys train-ranker`
    table.scores(["tt0196229"])                                      # {"tt0357413": 3.0, ...}: Zoolander's company

In ReDial-style conversations a recommender answers "I liked Zoolander" with films that other people named in the
same breath, which neither the film's text nor its genre says; these counts carry that. Ids are catalog item ids,
so a table only means something for the catalog it was built against (its `catalog` field says which).
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from ..core.errors import RecsysError
from ..core.files import atomic_write
from ..core.paths import COMENTIONS, setting_file

log = logging.getLogger(__name__)


class CoMentions:
    """Symmetric co-mention counts: `counts[a][b]` = training dialogues naming both a and b."""

    def __init__(self, counts: dict[str, dict[str, int]], meta: dict | None = None) -> None:
        self.counts = counts
        self.meta = dict(meta or {})
        self._degree = {a: sum(row.values()) for a, row in counts.items()}

    def degree(self, item_id: str) -> int:
        """Co-mentions of a film with every other (0 when never named): how much people recommend it at all."""
        return self._degree.get(item_id, 0)

    @classmethod
    def count(cls, dialogues: Iterable[Iterable[str]], meta: dict | None = None) -> CoMentions:
        """Count pairs over each dialogue's set of catalog ids (a film named twice in one dialogue counts once)."""
        counts: dict[str, Counter] = {}
        for ids in dialogues:
            unique = sorted(set(ids))
            for a in unique:
                row = counts.setdefault(a, Counter())
                row.update(b for b in unique if b != a)
        return cls({a: dict(row) for a, row in counts.items() if row}, meta)

    def __len__(self) -> int:
        """Films with at least one co-mention."""
        return len(self.counts)

    def scores(self, item_ids: Iterable[str]) -> dict[str, float]:
        """Each film's damped co-mention with the given ones: sum over them of log(1 + count), so one film named
        with many does not drown one named often with a single liked film."""
        out: dict[str, float] = {}
        for a in item_ids:
            for b, n in self.counts.get(a, {}).items():
                out[b] = out.get(b, 0.0) + math.log1p(n)
        return out

    def save(self, path: Path) -> None:
        """JSON with the meta first (catalog, source, sizes) so a reader sees how it was made."""
        body = {"meta": self.meta, "counts": {a: dict(sorted(row.items())) for a, row in sorted(self.counts.items())}}
        atomic_write(path, json.dumps(body, indent=0, sort_keys=False).encode())

    @classmethod
    def load(cls, path: Path) -> CoMentions:
        """Read a saved table; a damaged file is an error naming it, not an empty table."""
        try:
            body = json.loads(Path(path).read_text())
            counts = {str(a): {str(b): int(n) for b, n in row.items()} for a, row in body["counts"].items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise RecsysError(
                f"co-mention table {path} cannot be read ({exc}); rebuild it with `python -m recsys train-ranker`"
            ) from exc
        return cls(counts, body.get("meta"))


def load_comentions(spec: str, catalog: str) -> CoMentions | None:
    """The table a setting names ("" = the shipped one, "none" = off, else a path) for this catalog; None when off,
    when the shipped one is missing, or when it was built for another catalog (its ids would mean other films)."""
    path = setting_file(spec, COMENTIONS)
    if path is None:
        return None
    if not path.exists():
        raise RecsysError(f"co-mention table {path} not found (RECSYS_COMENTIONS); build it with train-ranker")
    table = CoMentions.load(path)
    built_for = table.meta.get("catalog")
    if built_for != catalog:
        log.warning("co-mention table %s was built for catalog %r, not %r: not used", path, built_for, catalog)
        return None
    log.info("co-mentions: %d films (%s)", len(table), path)
    return table
