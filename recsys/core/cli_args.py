"""What every command line shares: the common flags (each with its RECSYS_* variable) and logging set-up.

`python -m recsys <verb>` and the page's own flags (`python app.py`) both take them from here, so their help texts
cannot drift apart. Handlers are configured only by entry points (the CLI and the page), never by the library.
"""

from __future__ import annotations

import argparse
import logging

from .config import settings_from_args

QUIET_LOGGERS = ("httpx", "urllib3", "sentence_transformers", "transformers", "filelock", "httpcore")  # chatty at INFO

settings_from = settings_from_args  # the verbs, the plugin modules and the page build Settings the same way


def add_common_flags(p: argparse.ArgumentParser) -> None:
    """Flags shared by every verb and the page; each also has a RECSYS_* environment variable."""
    p.add_argument("--catalog", help='"movies" (default, CC0 films) or a .jsonl/.csv file  [RECSYS_CATALOG]')
    p.add_argument(
        "--model",
        dest="generator",
        help='generator: "smollm2" (default), an HF folder, a .gguf file or an http(s) OpenAI-compatible '
        "URL  [RECSYS_GENERATOR]",
    )
    p.add_argument("--db-url", help="SQLAlchemy database URL (default: SQLite under RECSYS_HOME)  [RECSYS_DB_URL]")
    p.add_argument("--home", help="folder for the database and caches (default ~/.cache/recsys)  [RECSYS_HOME]")
    p.add_argument("--device", choices=("cpu", "cuda", "auto"), help="where models run (default cpu)  [RECSYS_DEVICE]")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging (includes message text)")


def setup_logging(verbose: bool = False) -> None:
    """One readable line per event on stderr; message text only at DEBUG."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    for noisy in QUIET_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)
