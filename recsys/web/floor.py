"""The server bench's floor: a Gradio page whose /new_session and /send take what app.py's take and do no work.

    python -m recsys.web.floor          # RECSYS_HOST, RECSYS_PORT and RECSYS_CONCURRENCY, as app.py reads them

Why: a burst of sessions through the served page costs, for every turn, the HTTP calls, Gradio's queue and event
stream and the history's JSON, whatever the app does, and on a small machine the load test's own client shares
the cores. The bench (recsys/bench/serve.py) runs the same burst with the same client against this page in the
same run, so its report says how much of the app's burst latency is the app's. The page has app.py's queue
settings, its /send takes the same inputs and returns the history in the same shape but no cards (Gradio pre- and
postprocesses them; app.py's /send does that in its handler's thread), and each message gets the same fixed
answer: a three-film reply's length.
"""

from __future__ import annotations

import secrets
import sys

import gradio as gr

from ..core.config import Settings
from ..core.errors import RecsysError
from .app import QUEUE_MAX, lighter_analytics

ANSWER = (
    "Here are 3 films for you:\n"
    "1. Galaxy Quest (1999), comedy, science fiction. Actors in a space show meet real aliens who take it as true.\n"
    "2. Spaceballs (1987), comedy, science fiction. Mel Brooks's spoof of Star Wars, with Rick Moranis.\n"
    "3. Paul (2011), comedy, science fiction. Two British fans drive across America with an alien on the run."
)


def new_session(ids: list[str]) -> list[str]:
    """[user_id, session_id], as app.py's /new_session returns it; nothing is stored."""
    return [ids[0] if ids and ids[0] else secrets.token_hex(8), secrets.token_hex(8)]


def send(text: str, ids: list[str], history: list[dict] | None) -> tuple[str, list[str], list[dict]]:
    """The box emptied, the ids, and the history with the message and the fixed answer: no work (app.py's /send
    returns the history too, with the cards)."""
    return "", ids, [*(history or []), {"role": "user", "content": text}, {"role": "assistant", "content": ANSWER}]


def build_floor(concurrency: int) -> gr.Blocks:
    """The page: app.py's queue settings, the three inputs of its /send, and nothing else."""
    lighter_analytics()
    with gr.Blocks(title="recsys — the server bench's floor") as demo:
        demo.queue(default_concurrency_limit=concurrency, max_size=QUEUE_MAX)
        ids = gr.BrowserState(["", ""], storage_key="recsys-floor-ids")
        box = gr.Textbox(label="Message")
        chatbot = gr.Chatbot(label="Chat")
        new_btn, send_btn = gr.Button("New"), gr.Button("Send")
        new_btn.click(new_session, [ids], [ids], api_name="new_session")
        send_btn.click(send, [box, ids, chatbot], [box, ids, chatbot], api_name="send")
    return demo


def main() -> int:
    """Serve the floor page until stopped (the bench starts it as a subprocess and stops it)."""
    try:
        settings = Settings.from_env()
    except RecsysError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    build_floor(settings.concurrency).launch(server_name=settings.host, server_port=settings.port, quiet=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
