#!/usr/bin/env bash
# Sets a fresh machine up for `make dev` and `make test`: uv, the locked virtualenv,
# Redis and PostgreSQL server binaries (apt, when missing), and the Kafka jars (Maven
# Central, cached in ~/.cache/crm). With --tests: what only the tests need (Chromium).
# Safe to run again: each step checks first.
set -euo pipefail
cd "$(dirname "$0")/.."

need_python() {
  python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || { echo "Python 3.11+ is needed" >&2; exit 1; }
}

ensure_uv() {
  if ! command -v uv >/dev/null 2>&1 && [ ! -x "$HOME/.local/bin/uv" ]; then
    echo "== installing uv (from PyPI)"
    python3 -m pip install --quiet --user uv 2>/dev/null || python3 -m pip install --quiet uv
  fi
}

apt_install() {
  # $@: packages. Only as root (or with sudo); otherwise say what is missing.
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
      echo "missing: $* — install them with your package manager" >&2; return 1; fi
  fi
  echo "== installing $* (apt)"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

ensure_servers() {
  if ! command -v redis-server >/dev/null 2>&1 && ! command -v valkey-server >/dev/null 2>&1; then
    apt_install redis-server
  fi
  if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 && ! command -v postgres >/dev/null 2>&1; then
    apt_install postgresql
  fi
  # apt may start system-wide services; ours run on their own ports, so leave them be.
  command -v java >/dev/null 2>&1 || apt_install openjdk-17-jre-headless
  if ! command -v mvn >/dev/null 2>&1; then apt_install maven || true; fi
}

ensure_test_tools() {
  # Debian's Chromium for the page tests (Playwright drives it; its own browser download
  # does not work offline). Only for `make test`, never before a user's first `make dev`.
  if ! command -v chromium >/dev/null 2>&1; then apt_install chromium; fi
}

if [ "${1:-}" = "--tests" ]; then
  ensure_test_tools
  touch .venv/.crm-test-setup-done
  exit 0
fi

need_python
ensure_uv
export PATH="$HOME/.local/bin:$PATH"
echo "== syncing the virtualenv (uv.lock)"
uv sync --frozen --quiet
ensure_servers
echo "== fetching the Kafka jars (cached)"
uv run --frozen python -c 'from crm_dev.servers import kafka_libs; print(kafka_libs())'
touch .venv/.crm-setup-done
