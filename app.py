"""The chat page: `python app.py [flags]`, the same as `python -m recsys serve` or `recsys serve`.

The page itself is recsys/web/app.py (layout, handlers, main); this file only keeps the old entry point.
"""

import sys

from recsys.web.stubs import skip_stub_writer

skip_stub_writer()  # before Gradio is imported: ~1.5 s off every start (recsys/web/stubs.py says why)

from recsys.web.app import main  # noqa: E402  (after the line above, which must run first)

if __name__ == "__main__":
    sys.exit(main())
