"""Build hook: the wheel carries the checkout's data/ and prompts/ inside the package, as recsys/_data and
recsys/_prompts, where recsys.core.paths looks first. Everything else about the build is in pyproject.toml."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SHIPPED = ("data", "prompts")  # folders the package reads at run time (head checkpoint, eval sets, prompts)


class BuildWithShippedFiles(build_py):
    """build_py, then copy the shipped folders next to the built package."""

    def run(self) -> None:
        """Copy after the modules so a rebuild refreshes the files too."""
        super().run()
        for name in SHIPPED:
            shutil.copytree(
                ROOT / name,
                Path(self.build_lib) / "recsys" / f"_{name}",
                dirs_exist_ok=True,
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
            )


setup(cmdclass={"build_py": BuildWithShippedFiles})
