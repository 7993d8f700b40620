"""A small knowledge graph over catalog fields: people <-> films <-> genres, with fuzzy name and title lookup.

    graph = Graph.from_catalog(catalog)
    graph.match_title("the godfater")          # -> "tt0068646" (typos, missing articles, "(1972)")
    graph.match_person("nolan", loose=True)     # -> "Christopher Nolan" (best known bearer of a surname)
    graph.films_by("Ridley Scott", roles=("director",))   # item ids, best known first
    graph.related("tt0078748", "director")      # other films by Alien's director

Built in about two seconds from the catalog's director / writer / cast / language / country attributes; no files.
Fuzzy matching uses character trigrams to find candidates and difflib's ratio to rank them (no extra dependency).
"""

from __future__ import annotations

import difflib
import re
import threading
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

from .catalog import Catalog
from .text import normalise_title

ROLES = ("director", "writer", "cast")
ARTICLES = ("the", "a", "an")
FUZZY_MIN = 0.84  # difflib ratio accepted for a typo ("godfater" vs "godfather" is 0.94; unrelated titles < 0.7)
TRIGRAM_DF_MAX = 4000  # trigrams in more names than this ("the") carry no signal and cost time
MIN_FUZZY_FILMS = 2  # cast members with one film are not fuzzy-matched (53k names, mostly obscure)


def norm(text: str) -> str:
    """Lower-case ASCII words joined by spaces ("Amélie" -> "amelie")."""
    return normalise_title(text)


def strip_article(key: str) -> str:
    """A normalised title without its leading article ("the matrix" -> "matrix")."""
    head, _, rest = key.partition(" ")
    return rest if head in ARTICLES and rest else key


def _trigrams(key: str) -> set[str]:
    """Character trigrams of a padded key."""
    padded = f" {key} "
    return {padded[i : i + 3] for i in range(len(padded) - 2)}


class FuzzyIndex:
    """Normalised strings -> values, exact or by trigram candidates ranked with difflib. The trigram table is built
    on first use (~0.4 s for 17k titles): a start does not wait for it, and prepare() builds it ahead."""

    def __init__(self, keys: Iterable[str]) -> None:
        self.keys: list[str] = list(dict.fromkeys(keys))
        self._grams: dict[str, list[int]] | None = None
        self._lock = threading.Lock()

    @property
    def grams(self) -> dict[str, list[int]]:
        """Trigram -> positions of the keys that have it (built once, by whichever thread asks first)."""
        if self._grams is None:
            with self._lock:
                if self._grams is None:
                    grams: dict[str, list[int]] = defaultdict(list)
                    for i, key in enumerate(self.keys):
                        for g in _trigrams(key):
                            grams[g].append(i)
                    self._grams = {g: ids for g, ids in grams.items() if len(ids) <= TRIGRAM_DF_MAX}
        return self._grams

    def prepare(self) -> None:
        """Build the trigram table now (the served app does, right after its engine is ready)."""
        self.grams  # noqa: B018

    def best(self, key: str, cutoff: float = FUZZY_MIN, candidates: int = 30) -> tuple[str, float] | None:
        """The closest stored key and its ratio, or None below the cutoff."""
        if not key:
            return None
        counts: Counter[int] = Counter()
        for g in _trigrams(key):
            counts.update(self.grams.get(g, ()))
        best: tuple[str, float] | None = None
        for i, _ in counts.most_common(candidates):
            ratio = difflib.SequenceMatcher(None, key, self.keys[i]).ratio()
            if ratio >= cutoff and (best is None or ratio > best[1]):
                best = (self.keys[i], ratio)
        return best


class Graph:
    """People, films and genres of one catalog, as adjacency dicts."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.films: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))  # name -> role -> ids
        fame: Counter[str] = Counter()
        pops = dict(zip((it.item_id for it in catalog.items), catalog.popularity.tolist()))  # plain floats: fast
        for item in catalog.items:
            pop = pops[item.item_id] + 0.01
            for role in ROLES:
                for name in item.people(role):
                    if len(name) > 3 or " " in name:  # "Jr." and other split artefacts are not people
                        self.films[name][role].append(item.item_id)
                        fame[name] += pop
        self.fame = fame
        rank = {it.item_id: r for r, it in enumerate(sorted(catalog.items, key=lambda it: -pops[it.item_id]))}
        for roles in self.films.values():
            for role in roles:
                roles[role] = sorted(set(roles[role]), key=rank.__getitem__)  # best known first
        # names: normalised full name -> best known spelling; surnames -> best known bearer
        self.names: dict[str, str] = {}
        self.surnames: dict[str, str] = {}
        for name in sorted(self.films, key=lambda n: -fame[n]):
            key = norm(name)
            if key:
                self.names.setdefault(key, name)
                parts = key.split()
                if len(parts) >= 2 and len(parts[-1]) > 3:
                    self.surnames.setdefault(parts[-1], name)
        fuzzy_people = [
            k
            for k, n in self.names.items()
            if sum(len(v) for v in self.films[n].values()) >= MIN_FUZZY_FILMS or "cast" not in self.films[n]
        ]
        self.people_index = FuzzyIndex(fuzzy_people)
        self.surname_index = FuzzyIndex(k for k in self.surnames if len(k) >= 5)
        # titles: normalised title (and without its article) -> ids, best known first
        titles: dict[str, list[str]] = defaultdict(list)
        bare_titles: dict[str, list[str]] = defaultdict(list)  # "matrix" -> The Matrix; exact titles win
        for item in sorted(catalog.items, key=lambda it: rank[it.item_id]):
            key = norm(item.title)
            if key:
                titles[key].append(item.item_id)
                if strip_article(key) != key:
                    bare_titles[strip_article(key)].append(item.item_id)
        self.bare_titles = dict(bare_titles)
        self.titles = {**self.bare_titles, **titles}
        self.title_index = FuzzyIndex(self.titles)
        self.max_title_words = max((len(k.split()) for k in self.titles), default=1)
        self.languages = sorted({v for it in catalog.items for v in it.people("language")})
        self.countries = sorted({v for it in catalog.items for v in it.people("country")})

    def prepare(self) -> None:
        """Build the fuzzy lookups' tables now instead of in the first turn that spells a name or title loosely."""
        for index in (self.title_index, self.people_index, self.surname_index):
            index.prepare()

    @classmethod
    def from_catalog(cls, catalog: Catalog) -> Graph:
        """Build the graph of a catalog."""
        return cls(catalog)

    # --- lookup -----------------------------------------------------------------------------------------------
    def title_ids(self, key: str, year: int | None = None) -> list[str]:
        """Ids of films whose normalised title (article optional) is exactly `key`; a year narrows them."""
        ids = self.titles.get(key) or self.bare_titles.get(strip_article(key)) or []
        if year is not None:
            ids = [i for i in ids if self.catalog.get(i).year == year] or ids
        return list(ids)

    def match_title(self, phrase: str, year: int | None = None, fuzzy: bool = True) -> str | None:
        """Best film id for a phrase: exact (article optional, year-aware), else the closest title by spelling."""
        key = norm(phrase)
        m = re.fullmatch(r"(.+?) (1[89]\d\d|20\d\d)", key)
        if m and year is None:
            key, year = m.group(1), int(m.group(2))
        ids = self.title_ids(key, year)
        if not ids and fuzzy and len(key) >= 4:
            hit = self.title_index.best(key) or self.title_index.best(strip_article(key))
            ids = self.title_ids(hit[0], year) if hit else []
        return ids[0] if ids else None

    def match_person(self, phrase: str, loose: bool = False, fuzzy: bool = True) -> str | None:
        """Best-known person for a phrase: full name, else (loose) a surname, else (fuzzy) the closest name."""
        key = norm(phrase)
        if key in self.names:
            return self.names[key]
        if loose and key in self.surnames:
            return self.surnames[key]
        if loose and fuzzy and " " not in key and len(key) >= 5:
            hit = self.surname_index.best(key, cutoff=0.86)
            return self.surnames[hit[0]] if hit else None
        if fuzzy and " " in key and len(key) >= 7:
            hit = self.people_index.best(key)
            return self.names[hit[0]] if hit else None
        return None

    def famous(self, key: str) -> bool:
        """A surname known well enough to stand alone uncued ("a spielberg adventure"): a director of 5+ films."""
        name = self.surnames.get(key)
        return bool(name) and len(key) >= 5 and len(self.films[name].get("director", ())) >= 5

    def title(self, item_id: str) -> str:
        """The catalog title of an id ("" if unknown)."""
        item = self.catalog.get(item_id)
        return item.title if item else ""

    # --- neighbours -------------------------------------------------------------------------------------------
    def roles_of(self, name: str) -> list[str]:
        """Roles a person has in the catalog, most films first."""
        roles = self.films.get(name, {})
        return sorted(roles, key=lambda r: -len(roles[r]))

    def films_by(self, name: str, roles: Sequence[str] = ROLES) -> list[str]:
        """Film ids a person worked on in any of `roles`, best known first."""
        found = self.films.get(name, {})
        ids = [i for role in roles for i in found.get(role, [])]
        return sorted(set(ids), key=lambda i: -self.catalog.popularity[self.catalog.position(i)])

    def people_of(self, item_id: str, role: str) -> list[str]:
        """Names in a role of one film ("top_cast" order for the cast when the catalog has it)."""
        item = self.catalog.get(item_id)
        if item is None:
            return []
        if role == "cast":
            return item.lead_cast()
        return item.people(role)

    def related(self, item_id: str, role: str, limit: int = 20) -> list[str]:
        """Other films sharing a person in `role` with this one ("more by this director"), best known first."""
        people = self.people_of(item_id, role)[:3]
        ids = [i for name in people for i in self.films_by(name, (role,)) if i != item_id]
        return list(dict.fromkeys(ids))[:limit]

    def genres_of(self, name: str) -> Counter[str]:
        """How often each genre appears in a person's films (what they are known for)."""
        return Counter(g for i in self.films_by(name) for g in self.catalog.get(i).tags)
