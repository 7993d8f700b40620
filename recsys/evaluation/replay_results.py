"""What a replay produced, and how it is written out: the table, the --json file and JUnit XML.

    print(table(results))
    write_outputs(results, "out.json", "out.xml")  # either may be None
    for script, turn, outcome in outcomes(results): ...  # every message turn that produced an outcome

Kept apart from replay.py (which runs the scripts) so the evaluation report reads results without the runner.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .expectations import Outcome


# --- results --------------------------------------------------------------------------------------------------------
@dataclass
class TurnResult:
    """One step of a replayed script."""

    number: int  # 1-based, as in error messages
    text: str  # the message (shortened) or the feedback, as written
    keys: tuple[str, ...] = ()  # expectation keys this turn sets
    message: str = ""  # the message as sent (text is shortened for tables)
    failures: list[str] = field(default_factory=list)
    outcome: Outcome | None = None
    targets: tuple[str, ...] = ()  # item ids of the turn's target titles


@dataclass
class ScriptResult:
    """A replayed script: its turns, and an error when it could not run to the end."""

    name: str
    path: str
    turns: list[TurnResult] = field(default_factory=list)
    error: str = ""
    seconds: float = 0.0
    tags: tuple[str, ...] = ()

    @property
    def failures(self) -> list[str]:
        """Every failed expectation as "turn N: ..." lines."""
        return [f"turn {t.number}: {f}" for t in self.turns for f in t.failures]

    @property
    def passed(self) -> bool:
        """Ran to the end with every expectation held."""
        return not self.error and not self.failures

    @property
    def checks(self) -> int:
        """Expectation keys checked over all turns."""
        return sum(len(t.keys) for t in self.turns)


# --- output ---------------------------------------------------------------------------------------------------------
def table(results: Sequence[ScriptResult]) -> str:
    """A readable summary: one row per script, then every failure under its script."""
    width = max([len(r.name) for r in results] + [6])
    lines = [f"{'script':<{width}}  turns  checks  seconds  result"]
    for r in results:
        verdict = "PASS" if r.passed else ("ERROR" if r.error else "FAIL")
        lines.append(f"{r.name:<{width}}  {len(r.turns):>5}  {r.checks:>6}  {r.seconds:>7.1f}  {verdict}")
        for t in r.turns:
            for f in t.failures:
                lines.append(f"    turn {t.number} “{t.text}”: {f}")
        if r.error:
            lines.append(f"    error: {r.error}")
    passed = sum(r.passed for r in results)
    lines.append(f"{len(results)} scripts: {passed} passed, {len(results) - passed} failed")
    return "\n".join(lines)


def to_json(results: Sequence[ScriptResult]) -> dict[str, Any]:
    """Everything a later tool needs: per turn the message, reply, items, intent, timings and failures."""
    scripts = []
    for r in results:
        turns = []
        for t in r.turns:
            row: dict[str, Any] = {"turn": t.number, "text": t.text, "checks": list(t.keys), "failures": t.failures}
            if t.outcome is not None:
                o = t.outcome
                row.update(
                    reply=o.reply,
                    intent=o.intent,
                    latency_ms=round(o.latency_ms, 1),
                    timings_ms={k: round(v, 1) for k, v in o.timings_ms.items()},
                    items=[
                        {"id": it.item_id, "title": it.title, "year": it.year, "reason": why}
                        for it, why in zip(o.items, o.reasons or [""] * len(o.items))
                    ],
                    targets=list(t.targets),
                )
            turns.append(row)
        scripts.append(
            {
                "name": r.name,
                "path": r.path,
                "passed": r.passed,
                "error": r.error,
                "seconds": round(r.seconds, 2),
                "turns": turns,
            }
        )
    passed = sum(r.passed for r in results)
    return {"scripts": scripts, "summary": {"scripts": len(results), "passed": passed, "failed": len(results) - passed}}


def to_junit(results: Sequence[ScriptResult], suite: str = "replay") -> str:
    """JUnit XML: one testcase per script, a <failure> listing its failed expectations, <error> when it broke."""
    import xml.etree.ElementTree as ET

    root = ET.Element(
        "testsuite",
        name=suite,
        tests=str(len(results)),
        failures=str(sum(bool(r.failures) and not r.error for r in results)),
        errors=str(sum(bool(r.error) for r in results)),
        time=f"{sum(r.seconds for r in results):.3f}",
    )
    for r in results:
        case = ET.SubElement(root, "testcase", classname=suite, name=r.name, file=r.path, time=f"{r.seconds:.3f}")
        if r.error:
            ET.SubElement(case, "error", message=r.error[:200]).text = r.error
        elif r.failures:
            ET.SubElement(case, "failure", message=r.failures[0][:200]).text = "\n".join(r.failures)
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


def write_outputs(results: Sequence[ScriptResult], json_path: str | None, junit_path: str | None) -> None:
    """The --json and --junit files."""
    if json_path:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(json_path).write_text(json.dumps(to_json(results), ensure_ascii=False, indent=1), encoding="utf-8")
    if junit_path:
        Path(junit_path).parent.mkdir(parents=True, exist_ok=True)
        Path(junit_path).write_text(to_junit(results), encoding="utf-8")


def outcomes(results: Iterable[ScriptResult]) -> Iterable[tuple[ScriptResult, TurnResult, Outcome]]:
    """Every message turn that produced an outcome (for the evaluation report)."""
    for r in results:
        for t in r.turns:
            if t.outcome is not None:
                yield r, t, t.outcome
