"""`python -m recsys <verb>`: serve, chat, build-index, parse, replay, train-meta, eval, bench.

Each verb is a short function over the library. Verbs that live in their own module (replay, train-meta, bench and
the `eval` sub-verbs) are plugged in through PLUGINS: the module exposes `add_arguments(parser)` and
`run(args) -> int`, and keeps heavy imports inside `run` so `--help` stays fast.

Errors from the library (RecsysError) are printed as one line and exit 1; nothing else prints tracebacks.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence

from .core.cli_args import add_common_flags, settings_from, setup_logging
from .core.errors import RecsysError

log = logging.getLogger("recsys")


def serve(argv: Sequence[str]) -> int:
    """Launch the Gradio app (same as `python app.py`); the app parses its own flags."""
    from .web.stubs import skip_stub_writer

    skip_stub_writer()  # before Gradio is imported, as app.py: ~1.5 s off the start
    from .web.app import main as serve_page  # Gradio is imported only here, not by `recsys --help`

    return serve_page(list(argv))


def _prompt_lines():
    """Lines typed at a "> " prompt until Ctrl-D."""
    while True:
        try:
            yield input("> ")
        except EOFError:
            print()
            return


def cmd_chat(args: argparse.Namespace) -> int:
    """Chat in the terminal: type a request; /like N, /dislike N, /new, /quit."""
    from .engine import Engine

    engine = Engine.load(settings_from(args))
    sid = args.session or engine.new_session(args.user)
    print(f"session {sid} — type what you are in the mood for; /like N, /dislike N, /new, /quit", flush=True)
    last: list = []
    for line in sys.stdin if not sys.stdin.isatty() else _prompt_lines():
        line = line.strip()
        if not line:
            continue
        if line in ("/quit", "/exit"):
            break
        if line == "/new":
            sid = engine.new_session(args.user)
            print(f"new session {sid}")
            continue
        if line.split()[0] in ("/like", "/dislike"):
            parts = line.split()
            try:
                rec = last[int(parts[1]) - 1]
            except (IndexError, ValueError):
                print("usage: /like N or /dislike N, N = a number from the last list")
                continue
            engine.feedback(sid, rec.item.item_id, parts[0] == "/like")
            print(f"noted: {'👍' if parts[0] == '/like' else '👎'} {rec.item.label()}")
            continue
        shown = ""
        for event in engine.respond(sid, line):
            if event.kind == "text" and event.text.startswith(shown):
                sys.stdout.write(event.text[len(shown) :])
                sys.stdout.flush()
                shown = event.text
            elif event.kind == "done":
                if event.text != shown:  # a line was rewritten (rejected reason): show the final reply whole
                    sys.stdout.write("\n" + event.text if shown else event.text)
                print(flush=True)
                last = list(event.items) or last
    return 0


def cmd_build_index(args: argparse.Namespace) -> int:
    """Build (or verify) the catalog cache and its embeddings, with progress."""
    from .catalog.sources import load_catalog
    from .search.embedder import catalog_encoder, encoder_for
    from .search.index import ItemIndex

    settings = settings_from(args)
    t0 = time.perf_counter()
    catalog = load_catalog(settings.catalog, settings.cache, progress=True)
    encoder = encoder_for(settings)
    bulk = None if args.ship else catalog_encoder(settings)  # shipped vectors are the query encoder's float32 ones
    index = ItemIndex.build(catalog, encoder, settings.cache, progress=True, bulk=bulk)
    print(
        f"{len(catalog)} items, {index.vectors.shape[1]}-d embeddings, ready in {time.perf_counter() - t0:.1f} s "
        f"(cache: {settings.cache})"
    )
    if args.ship:
        from .catalog.text import item_text
        from .search.cache import embedding_fields
        from .search.shipped import write_shipped

        untitled = encoder.encode([item_text(it, titled=False) for it in catalog.items], progress=True)
        folder = write_shipped(embedding_fields(catalog, encoder), index.vectors, untitled)
        print(f"shipped vectors written to {folder}: commit them so first starts skip the embedding")
    return 0


def cmd_parse(args: argparse.Namespace) -> int:
    """Parse the messages given as arguments, else JSON lines {"text": ...} or plain lines on stdin; write one
    JSON intent a line."""
    from .evaluation.intents import build_parsers

    settings = settings_from(args)
    which = args.parser or settings.parser  # default: Settings.parser ("lexicon"; RECSYS_PARSER)
    parser = build_parsers(settings, [which])[which]
    for raw in args.messages or sys.stdin:
        line = raw.rstrip("\n")
        if not line.strip():
            continue
        text = line
        if not args.messages and line.lstrip().startswith("{"):  # an argument is always the message itself
            try:
                obj = json.loads(line)
                text = str(obj.get("text", "")) if isinstance(obj, dict) else line
            except json.JSONDecodeError:
                text = line
        print(json.dumps({"text": text, **parser.parse(text).to_dict()}, ensure_ascii=False), flush=True)
    return 0


PLUGINS: dict[str, tuple[str, str]] = {  # verb -> (module in recsys, help)
    "replay": ("evaluation.replay", "replay scripted dialogues and check their expectations"),
    "train-meta": ("evaluation.train_meta", "meta-train the per-user head (MAML) on rating files"),
    "train-ranker": ("evaluation.train_ranker", "learn the ranker's co-mention table from training dialogues"),
    "bench": ("bench.runner", "measure speed and memory; write JSON and Markdown reports"),
}
EVAL_PLUGINS: dict[str, tuple[str, str]] = {  # eval sub-verb -> (module in recsys, help)
    "intents": ("evaluation.intents", "intent parsing: lexicon vs generator vs merged"),
    "coldstart": ("evaluation.coldstart", "per-user head on held-out users, by number of support ratings"),
    "report": ("evaluation.report", "replay corpus + catalog: recommendation and explanation quality report"),
    "conversations": ("evaluation.conversations", "real dialogues (ReDial): the app vs baselines, Recall@k, CIs"),
    "reasons": ("evaluation.reasons", "the claim checker on hand-labelled reasons: precision and recall"),
}


def _plugin(module: str):
    """The verb's module, or None while it is not written yet (the verb is then not offered)."""
    import importlib

    try:
        return importlib.import_module(f".{module}", __package__)
    except ModuleNotFoundError as exc:
        if exc.name == f"{__package__}.{module}":
            return None
        raise


def _add_plugin(sub, verb: str, module: str, help_text: str) -> None:
    """Register one plugin verb with the common flags and the module's own."""
    mod = _plugin(module)
    if mod is None:
        return
    p = sub.add_parser(verb, help=help_text, description=(mod.__doc__ or help_text).strip().splitlines()[0])
    add_common_flags(p)
    mod.add_arguments(p)
    p.set_defaults(func=mod.run)


def build_parser() -> argparse.ArgumentParser:
    """The argparse tree (also the source of the README's usage text)."""
    top = argparse.ArgumentParser(prog="python -m recsys", description="Conversational film recommender.")
    sub = top.add_subparsers(dest="verb", required=True, metavar="VERB")
    p = sub.add_parser(
        "serve", help="launch the web app (same as python app.py; see python app.py --help)", add_help=False
    )
    p = sub.add_parser("chat", help="chat in the terminal")
    add_common_flags(p)
    p.add_argument("--user", help="user id (default: a new anonymous user)")
    p.add_argument("--session", help="resume this session id")
    p.set_defaults(func=cmd_chat)
    p = sub.add_parser("build-index", help="build the catalog and embedding caches with progress")
    add_common_flags(p)
    p.add_argument(
        "--ship",
        action="store_true",
        help="also write the vectors (and the title-free ones) into data/embeddings/, for the checkout to ship",
    )
    p.set_defaults(func=cmd_build_index)
    p = sub.add_parser("parse", help="parse messages (arguments or stdin) into JSON intents (stdout)")
    add_common_flags(p)
    p.add_argument("messages", nargs="*", metavar="MESSAGE", help="messages to parse (default: one a line on stdin)")
    p.add_argument(
        "--parser",
        choices=("lexicon", "llm", "merged"),
        help="lexicon (default, ~1 ms), llm (generator alone) or merged (lexicon + generator when it "
        "can help)  [RECSYS_PARSER]",
    )
    p.set_defaults(func=cmd_parse)
    for verb, (module, help_text) in PLUGINS.items():
        _add_plugin(sub, verb, module, help_text)
    p = sub.add_parser("eval", help="evaluation harnesses (intents, coldstart, report)")
    evals = p.add_subparsers(dest="what", required=True, metavar="WHAT")
    for verb, (module, help_text) in EVAL_PLUGINS.items():
        _add_plugin(evals, verb, module, help_text)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse flags, run the verb, turn RecsysError into a message and exit 1."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["serve"]:  # the app has its own flags (host, port, share, auth...)
            return serve(argv[1:])
        args = build_parser().parse_args(argv)
        setup_logging(getattr(args, "verbose", False))
        return args.func(args)
    except RecsysError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
