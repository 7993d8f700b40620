"""The chat page: `python app.py [flags]`, the same as `python -m recsys serve` or `recsys serve`.

The page itself is recsys/web/app.py (layout, handlers, main); this file only keeps the old entry point.
"""

import sys

from recsys.web.app import main

if __name__ == "__main__":
    sys.exit(main())
