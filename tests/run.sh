#!/usr/bin/env bash
# The project's test command (README, second command; .ci/run calls it). On a fresh machine it
# installs what the tests need: Debian's chromium for the browser tests, a virtual environment with
# the package and its test extras (torch pinned to the CPU build on disk), then runs ruff and pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "tests/run.sh: the browser tests need Debian's chromium: sudo apt-get install chromium" >&2
        exit 1
    fi
fi
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/pip install -q -e '.[test]'
# Lint first: it takes a second and names the file and line (configuration in pyproject.toml).
.venv/bin/ruff check .
exec .venv/bin/python -m pytest -q "$@"
