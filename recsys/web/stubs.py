"""Gradio without its import-time stub writer: about 1.5 s less to import it, so the page is served sooner.

Gradio 6 defines each component class through a metaclass that calls `component_meta.create_or_modify_pyi`: it
reads the class's source file, parses it with `ast` (templates.py once per class in it), renders a Jinja template
and compares the result with the `.pyi` stub beside the file, rewriting the stub when they differ. That is a tool
for Gradio's own developers (the stubs give editors the event methods); the installed package ships its stubs and
nothing at run time reads them. On 2 cores it is ~45% of `import gradio` (3.0-3.5 s -> 1.5-2.0 s, measured here).

`skip_stub_writer()` must run before the first `import gradio`: the entry points (app.py, `recsys serve`) call it.
It wraps the loader of `gradio.component_meta` alone, so the module is Gradio's own, with that one function
replaced by a no-op after the module runs and before any component class is made. Where Gradio is imported
already, or a later Gradio has no such function, it changes nothing.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import logging
import sys
from types import ModuleType

log = logging.getLogger(__name__)

MODULE = "gradio.component_meta"
WRITER = "create_or_modify_pyi"


def _no_stub(*args: object, **kwargs: object) -> None:
    """Stands in for the stub writer: no stub is read or written."""


class _StubSkipper(importlib.abc.MetaPathFinder):
    """Finds gradio.component_meta once, through the normal finders, and replaces its stub writer once it ran."""

    def find_spec(self, name: str, path: object, target: ModuleType | None = None):
        """The usual spec of gradio.component_meta with a wrapped exec_module; None for every other module."""
        if name != MODULE:
            return None
        sys.meta_path.remove(self)  # one module, once
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        run = spec.loader.exec_module

        def exec_module(module: ModuleType) -> None:
            run(module)
            if callable(getattr(module, WRITER, None)):
                setattr(module, WRITER, _no_stub)
            else:
                log.debug("%s has no %s: nothing to skip", MODULE, WRITER)

        spec.loader.exec_module = exec_module
        return spec


def skip_stub_writer() -> None:
    """Install the finder before Gradio is imported (idempotent; nothing to do once Gradio is in sys.modules)."""
    if MODULE in sys.modules or any(isinstance(f, _StubSkipper) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _StubSkipper())
