"""The chat page: a thin Gradio shell over recsys.engine.Engine. build_demo puts the parts together, main() serves it.

    python app.py                      # http://127.0.0.1:7860, default catalog and models
    python app.py --host 0.0.0.0 --port 8080 --auth demo:secret --db-url postgresql+psycopg://...

The parts: layout (components and CSS), updates (what a session looks like on the page), sessions, turn and votes
(the event handlers), events (which event runs which handler), api (named endpoints and /healthz). Every flag also
reads a RECSYS_* environment variable (see README "Hosting a demo"). Only recsys.web imports Gradio: the rest of
the package stays importable without it. Every action has a named API endpoint (see the page's "Use via API"
link), and GET /healthz answers JSON for load balancers.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import gradio as gr

from ..core.cli_args import add_common_flags, settings_from, setup_logging
from ..core.config import Settings
from ..core.errors import RecsysError
from .accounts import login_check, parse_accounts
from .api import add_api, health_routes
from .events import wire_chat, wire_controls, wire_exports, wire_sessions, wire_votes
from .export import ExportFiles
from .layout import CSS, build_layout
from .loading import LoadingEngine
from .sessions import Sessions
from .turn import Turns
from .updates import Screen
from .votes import Votes

if TYPE_CHECKING:
    from ..engine import Engine

log = logging.getLogger(__name__)

QUEUE_MAX = 256  # turns waiting beyond Settings.concurrency running ones; past it a send is refused at once
EXPORT_TTL_S = 600  # exports hold people's words: written on a download click, gone 10-20 minutes later


def lighter_analytics() -> None:
    """Gradio recomputes its monitoring summary (a pandas group-by over up to 10,000 past events) after every
    event by default: a cost that grows with uptime, ~10% of a turn's server time in the bench. Gradio's queue
    reads these when it is made (demo.queue() or launch()); hosts may still set them."""
    os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "200")
    os.environ.setdefault("GRADIO_ANALYTICS_MAX_EVENTS", "2000")


def build_demo(engine: Engine) -> gr.Blocks:
    """The page: conversations and controls, the chat, and the cards with 👍/👎 (one card slot per possible pick)."""
    lighter_analytics()
    exports = ExportFiles()
    # delete_cache: export files (they hold people's words) leave Gradio's cache EXPORT_TTL_S after a download
    with gr.Blocks(title="recsys — films for your mood", delete_cache=(EXPORT_TTL_S, EXPORT_TTL_S)) as demo:
        # The queue is set before any component: gradio rebuilds its whole FastAPI app on each queue() call
        # (~0.3 s with this page's 80 endpoints), and it builds it again on leaving this block and in launch().
        demo.queue(default_concurrency_limit=engine.settings.concurrency, max_size=QUEUE_MAX)
        page = build_layout(engine.settings, list(engine.catalog.genres))
        screen = Screen(engine, page)
        sessions = Sessions(engine, screen, exports)
        wire_sessions(demo, page, sessions)
        wire_chat(page, Turns(engine, screen))
        wire_votes(page, Votes(engine, screen))
        wire_exports(page, sessions)
        wire_controls(page, sessions)
        add_api(engine, exports)
    return demo


def launch_options(engine: Engine) -> dict:
    """launch() arguments shared by main() and the tests: theme, CSS, the health route."""
    return {
        "theme": gr.themes.Soft(),
        "css": CSS,
        "app_kwargs": {"routes": health_routes(engine)},
        "footer_links": ["api"],
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """App flags; each defaults to its RECSYS_* environment variable."""
    p = argparse.ArgumentParser(prog="python app.py", description="Launch the recsys chat page.")
    p.add_argument("--host", help="interface to bind (default 127.0.0.1; 0.0.0.0 for a network)  [RECSYS_HOST]")
    p.add_argument("--port", type=int, help="port (default 7860)  [RECSYS_PORT]")
    p.add_argument(
        "--share", action="store_true", default=None, help="create a public Gradio share link  [RECSYS_SHARE]"
    )
    p.add_argument(
        "--auth",
        action="append",
        metavar="USER:PASSWORD",
        help="require a login; repeat for several accounts (each sees only its own data)  "
        "[RECSYS_AUTH, comma-separated]",
    )
    p.add_argument(
        "--auth-file",
        default=os.environ.get("RECSYS_AUTH_FILE") or None,
        help="file of user:password lines (# comments) for the login  [RECSYS_AUTH_FILE]",
    )
    p.add_argument("--root-path", help="URL prefix when behind a reverse proxy  [RECSYS_ROOT_PATH]")
    p.add_argument(
        "--concurrency",
        type=int,
        help="turns computed at once; more wait in the queue (default 4)  [RECSYS_CONCURRENCY]",
    )
    add_common_flags(p)
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the page, then load the engine behind it (RECSYS_BACKGROUND_LOAD, on by default: the page is up in
    seconds and turns wait for the engine), or load it first; serve until interrupted."""
    args = parse_args(argv)
    setup_logging(args.verbose)
    try:
        settings: Settings = settings_from(
            args,
            host=args.host,
            port=args.port,
            share=args.share,
            auth=",".join(args.auth) if args.auth else None,
            root_path=args.root_path,
            concurrency=args.concurrency,
        )
        accounts = parse_accounts(settings.auth, args.auth_file)
        engine = open_engine(settings)
    except RecsysError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    demo = build_demo(engine)
    auth = login_check(accounts) if accounts else None
    try:
        _, local_url, share_url = demo.launch(
            server_name=settings.host,
            server_port=settings.port,
            share=settings.share,
            auth=auth,
            root_path=settings.root_path or None,
            prevent_thread_lock=True,
            quiet=True,
            **launch_options(engine),
        )
    except OSError as exc:
        print(
            f"error: cannot serve on {settings.host}:{settings.port} ({exc}); "
            f"is the port in use? try --port {settings.port + 1}",
            file=sys.stderr,
        )
        return 1
    url = share_url or local_url
    try:
        if isinstance(engine, LoadingEngine):
            log.info("page served at %s; loading the engine (turns wait for it, /healthz says)", url)
            engine.start()
            if not engine.wait():
                print(f"error: the engine could not load: {engine.state.removeprefix('failed: ')}", file=sys.stderr)
                demo.close()
                return 1
        log.info(
            "ready: open %s  (health %shealthz, API %s?view=api; %d items; %s; %d turns at once, then a queue)",
            url,
            url,
            url,
            len(engine.catalog),
            f"login required, {len(accounts)} account(s), each sees only its own data" if auth else "no login",
            settings.concurrency,
        )
        demo.block_thread()  # until Ctrl-C
    except KeyboardInterrupt:
        pass
    return 0


def open_engine(settings: Settings) -> Engine | LoadingEngine:
    """The store and catalog now (a bad database URL or catalog file fails before anything is served), then the
    rest: on a thread once the page is up (RECSYS_BACKGROUND_LOAD), else here."""
    from ..catalog.sources import open_catalog
    from ..storage.store import Store

    store = Store(settings.database_url)
    catalog = open_catalog(settings)
    if not settings.background_load:
        from ..engine import Engine

        return Engine.load(settings, store=store, catalog=catalog)

    def load() -> Engine:
        # the engine module imports torch, onnxruntime and lightgbm (~1.5 s): on the loader's thread, so the page
        # is served without them
        from ..engine import Engine

        return Engine.load(settings, background_generator=True, lazy=True, store=store, catalog=catalog)

    return LoadingEngine(settings, store, catalog, load)


if __name__ == "__main__":  # python -m recsys.web.app
    sys.exit(main())
