"""The package installs outside the checkout: a built wheel carries data/ and prompts/, and its command runs."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BUILD_INPUTS = (
    "recsys",
    "data",
    "prompts",
    "pyproject.toml",
    "setup.py",
    "README.md",
    "requirements.txt",
    "requirements-llamacpp.txt",
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from a copy of the checkout (the build writes build/ and egg-info where it runs)."""
    src = tmp_path_factory.mktemp("src")
    for name in BUILD_INPUTS:
        (shutil.copytree if (REPO / name).is_dir() else shutil.copy)(
            REPO / name,
            src / name,
            **({"ignore": shutil.ignore_patterns("__pycache__")} if (REPO / name).is_dir() else {}),
        )
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out), str(src)],
        check=True,
        capture_output=True,
        text=True,
    )
    return next(out.glob("recsys-*.whl"))


def test_the_wheel_ships_the_data_prompts_and_a_console_script(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "recsys/_data/head/head.pt" in names and "recsys/_prompts/explain_system.txt" in names
    assert "recsys/search/attention.c" in names  # the fused attention kernel compiles from it on first use
    assert any(n.startswith("recsys/_data/dialogues/") and n.endswith(".yaml") for n in names)
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "recsys = recsys.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()


def test_the_installed_package_runs_away_from_the_checkout(wheel, tmp_path):
    """Installed into a plain folder and run from elsewhere: --help works and shipped files resolve inside it."""
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    env = {"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "recsys", "--help"], cwd=tmp_path, env=env, capture_output=True, text=True, check=True
    )
    assert "serve" in run.stdout and "eval" in run.stdout
    code = "from recsys.core import paths; print(paths.DATA); print(paths.HEAD_CHECKPOINT.exists())"
    where = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert Path(where[0]).is_relative_to(target) and where[1] == "True"
