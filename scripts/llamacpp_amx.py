"""Make llama-cpp-python's vendored ggml usable with AMX when GCC < 14 builds it (scripts/llamacpp.sh runs this).

    python scripts/llamacpp_amx.py SOURCE_DIR     # exit 0: patched (or already fixed); 1: the code is not there

Why: ggml's AMX matrix kernels load their tile configuration from a struct on the stack (`ggml_tile_config_init`
in ggml-cpu/amx/mmq.cpp). GCC 12 does not see that `ldtilecfg` reads that struct and drops the stores that fill
it, so the tiles are loaded unconfigured and the first tile instruction is illegal (SIGILL). A compiler barrier
that takes the struct's address keeps the stores. It changes no arithmetic: the kernels then run as written.
"""

from __future__ import annotations

import sys
from pathlib import Path

FILE = "vendor/llama.cpp/ggml/src/ggml-cpu/amx/mmq.cpp"
ANCHOR = "    _tile_loadconfig(&tc);\n"
BARRIER = '    __asm__ __volatile__("" : : "r"(&tc) : "memory");  // recsys: ldtilecfg reads tc (GCC < 14 drops it)\n'


def patch(source: Path) -> str:
    """Insert the barrier before the tile configuration's load; what was done, or ValueError when it cannot be."""
    path = source / FILE
    text = path.read_text()
    if BARRIER in text:
        return "already patched"
    if text.count(ANCHOR) != 1:
        raise ValueError(f"{FILE} has {text.count(ANCHOR)} tile configuration loads, expected 1")
    path.write_text(text.replace(ANCHOR, BARRIER + ANCHOR))
    return "patched"


if __name__ == "__main__":
    try:
        print(f"{FILE}: {patch(Path(sys.argv[1]))}")
    except (OSError, ValueError, IndexError) as e:
        print(f"cannot patch for AMX: {e}", file=sys.stderr)
        sys.exit(1)
