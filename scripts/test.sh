#!/usr/bin/env bash
# The whole test suite: install (idempotent), lint, type-check, then every test layer.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --dev
echo "==> ruff"; .venv/bin/ruff check . && .venv/bin/ruff format --check .
echo "==> mypy --strict"; .venv/bin/mypy
echo "==> pytest"; .venv/bin/pytest "$@"
