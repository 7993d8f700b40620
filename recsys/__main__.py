"""`python -m recsys`: see recsys.cli."""

import sys

from .cli import main

sys.exit(main())
