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

One more edit makes the build faster with the same numbers: the largest score of a softmax row (attention's, in
ggml-cpu/vec.h) is found 16 floats at a time with AVX-512 instead of one at a time. It was ~2/3 of softmax's time
and softmax ~10% of reading a reason's prompt; with it a 48-token tail reads ~7% sooner, and logits and reasons
are bit-identical (a maximum is exact in any order).
"""

from __future__ import annotations

import sys
from pathlib import Path

MMQ = "vendor/llama.cpp/ggml/src/ggml-cpu/amx/mmq.cpp"
VEC = "vendor/llama.cpp/ggml/src/ggml-cpu/vec.h"
EDITS = (  # (file, what is there, what it becomes): each must be there exactly once
    (
        MMQ,
        "    _tile_loadconfig(&tc);\n",
        '    __asm__ __volatile__("" : : "r"(&tc) : "memory");  // recsys: ldtilecfg reads tc (GCC < 14 drops it)\n'
        "    _tile_loadconfig(&tc);\n",
    ),
    (
        MMQ,
        "    if (done) {\n        return;\n    }\n",
        "    // recsys: loaded on every call, since other libraries' AMX kernels (oneDNN) release the tiles\n",
    ),
    (
        VEC,
        "    float max = -INFINITY;\n    for (int i = 0; i < n; ++i) {\n        max = MAX(max, x[i]);\n    }\n",
        "    float max = -INFINITY;\n"
        "    int i = 0;\n"
        "#if defined(__AVX512F__)  // recsys: 16 at a time (one at a time, each waits for the last max)\n"
        "    __m512 acc = _mm512_set1_ps(-INFINITY);\n"
        "    for (; i + 16 <= n; i += 16) {\n"
        "        acc = _mm512_max_ps(acc, _mm512_loadu_ps(x + i));\n"
        "    }\n"
        "    max = _mm512_reduce_max_ps(acc);\n"
        "#endif\n"
        "    for (; i < n; ++i) {\n        max = MAX(max, x[i]);\n    }\n",
    ),
)


def patch(source: Path) -> str:
    """Apply EDITS to the source tree; what was done, or ValueError when the code is not as expected (then no file
    is written)."""
    texts = {name: (source / name).read_text() for name in dict.fromkeys(name for name, _, _ in EDITS)}
    if all(new in texts[name] for name, _, new in EDITS):
        return "already patched"
    for name, old, new in EDITS:
        if texts[name].count(old) != 1:
            raise ValueError(f"{name} has {texts[name].count(old)} copies of {old.strip()!r}, expected 1")
        texts[name] = texts[name].replace(old, new)
    for name, text in texts.items():
        (source / name).write_text(text)
    return "patched"


if __name__ == "__main__":
    try:
        print(f"ggml: {patch(Path(sys.argv[1]))}")
    except (OSError, ValueError, IndexError) as e:
        print(f"cannot patch for AMX: {e}", file=sys.stderr)
        sys.exit(1)
