"""Which films a message points at: titles named, "the second one", "it", "like Heat", "more by this director".

refs = References(catalog, graph)
refs.targets(state, intent)             # [Item]: what a question or feedback in words is about
context, ids = refs.context(state, intent)  # for apply_intent, and the ids never to recommend back
"""

from __future__ import annotations

from collections.abc import Sequence

from ..catalog.catalog import Catalog
from ..catalog.graph import Graph
from ..catalog.text import item_text
from ..core.types import DialogueState, Intent, Item
from .state import Context

SAME_PEOPLE = frozenset({"same_director", "same_cast"})  # refinements that follow a referenced film's people


class References:
    """Resolves a message's references against the catalog and the last list shown."""

    def __init__(self, catalog: Catalog, graph: Graph) -> None:
        """Resolve against this catalog's items and this graph's titles and people."""
        self.catalog = catalog
        self.graph = graph

    def items(self, ids: Sequence[str]) -> list[Item]:
        """Catalog items for ids, skipping any no longer in the catalog."""
        return [it for it in (self.catalog.get(i) for i in ids) if it is not None]

    def targets(self, state: DialogueState, intent: Intent) -> list[Item]:
        """Items a message points at: named titles, list positions ("the second one"), else what was last
        talked about ("it"), else the first of the last list."""
        named = (self.graph.match_title(t, fuzzy=False) for t in intent.titles)
        items = [self.catalog.get(i) for i in named if i]
        last = self.items(state.last_ids)
        for pos in intent.positions:
            if last and (1 <= pos <= len(last) or pos == -1):
                items.append(last[pos - 1] if pos > 0 else last[-1])
        if not items and not intent.titles:
            focus = self.catalog.get(state.focus_id) if state.focus_id else None
            items = [focus] if focus else last[:1]
        return [it for it in items if it is not None]

    def context(self, state: DialogueState, intent: Intent) -> tuple[Context, list[str]]:
        """Facts of the last list and resolved references for apply_intent, and the referenced ids."""
        last = self.items(state.last_ids)
        refs: list[Item] = []
        people: list[str] = []
        ops = set(intent.refine)
        if intent.titles or "similar" in ops or ops & SAME_PEOPLE:
            refs = self.targets(state, intent)
        if refs and ops & SAME_PEOPLE:
            role = "director" if "same_director" in ops else "cast"
            people = [n for it in refs for n in self.graph.people_of(it.item_id, role)[: 1 if role == "cast" else 2]]
        reference = " ".join(item_text(it) for it in refs) if refs and not people else ""
        ctx = Context(
            last_years=[it.year for it in last if it.year],
            last_runtimes=[it.attributes["runtime"] for it in last if it.attributes.get("runtime")],
            reference=reference,
            people=people,
        )
        return ctx, [it.item_id for it in refs]
