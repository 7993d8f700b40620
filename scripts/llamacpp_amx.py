"""Make llama-cpp-python's vendored ggml usable with AMX when GCC < 14 builds it (scripts/llamacpp.sh runs this).

    python scripts/llamacpp_amx.py SOURCE_DIR     # exit 0: patched (or already); 1: the code is not as expected

ggml's AMX matrix kernels load their tile configuration from a struct on the stack (`ggml_tile_config_init` in
ggml-cpu/amx/mmq.cpp), once a thread. Two things make the next tile instruction illegal (SIGILL):
- GCC 12 does not see that `ldtilecfg` reads that struct and drops the stores that fill it, so the tiles are loaded
  unconfigured. A compiler barrier that takes the struct's address keeps the stores.
- Another library's AMX kernels on the same thread release the tiles when they finish (torch's oneDNN does, e.g.
  for bfloat16 embeddings), and ggml would not load its configuration again. It is loaded on every call instead
  (one instruction per kernel call).
Neither changes any arithmetic: the kernels then run as written.
"""

from __future__ import annotations

import sys
from pathlib import Path

FILE = "vendor/llama.cpp/ggml/src/ggml-cpu/amx/mmq.cpp"
EDITS = (  # (what is there, what it becomes): each must be there exactly once
    (
        "    _tile_loadconfig(&tc);\n",
        '    __asm__ __volatile__("" : : "r"(&tc) : "memory");  // recsys: ldtilecfg reads tc (GCC < 14 drops it)\n'
        "    _tile_loadconfig(&tc);\n",
    ),
    (
        "    if (done) {\n        return;\n    }\n",
        "    // recsys: loaded on every call, since other libraries' AMX kernels (oneDNN) release the tiles\n",
    ),
)


def patch(source: Path) -> str:
    """Apply EDITS to the source tree; what was done, or ValueError when the code is not as expected."""
    path = source / FILE
    text = path.read_text()
    if all(new in text for _, new in EDITS):
        return "already patched"
    for old, new in EDITS:
        if text.count(old) != 1:
            raise ValueError(f"{FILE} has {text.count(old)} copies of {old.strip()!r}, expected 1")
        text = text.replace(old, new)
    path.write_text(text)
    return "patched"


if __name__ == "__main__":
    try:
        print(f"{FILE}: {patch(Path(sys.argv[1]))}")
    except (OSError, ValueError, IndexError) as e:
        print(f"cannot patch for AMX: {e}", file=sys.stderr)
        sys.exit(1)
