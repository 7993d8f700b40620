"""Every test gets its own RECSYS_HOME; real-model caches are shared so each model converts once per machine."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_CACHE = Path(os.environ.get("RECSYS_TEST_CACHE", REPO / ".recsys" / "cache"))


@pytest.fixture(autouse=True)
def recsys_home(tmp_path, monkeypatch) -> Path:
    """Point RECSYS_HOME at a temp folder; keep the shared model cache."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("RECSYS_HOME", str(home))
    monkeypatch.setenv("RECSYS_CACHE_DIR", str(SHARED_CACHE))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return home
