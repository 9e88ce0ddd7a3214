#!/usr/bin/env bash
# Sets a fresh machine up for `make dev` and `make test`: uv, the locked virtualenv,
# Redis and PostgreSQL server binaries (apt, when missing), and the Kafka jars (Maven
# Central, cached in ~/.cache/crm). Safe to run again: each step checks first.
#   scripts/setup.sh               what `make dev` needs
#   scripts/setup.sh --test-tools  only what the tests need beyond that (Chromium for the
#                                  page tests, helm for the chart tests); `make test` runs both
#   scripts/setup.sh --bench-tools vegeta, the load generator of bench/throughput.py
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

# Debian's Chromium for the page tests (Playwright drives it; its own browser download
# does not work offline).
ensure_chromium() {
  if ! command -v chromium >/dev/null 2>&1; then apt_install chromium; fi
}

# helm for the chart tests: a helm on PATH, else one built once from the Go module proxy
# (`go install`, ~3 minutes on 2 cores) and kept in the cache. v3.21.4: the newest Helm 3
# known to build here (v3.22.0 is served but not approved for this machine).
HELM_VERSION="v3.21.4"
ensure_helm() {
  local cache="${CRM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/crm}/helm-$HELM_VERSION"
  if command -v helm >/dev/null 2>&1 || [ -x "$cache/helm" ]; then return 0; fi
  command -v go >/dev/null 2>&1 || apt_install golang-go
  echo "== building helm $HELM_VERSION (go install, once; ~3 minutes)"
  mkdir -p "$cache"
  GOBIN="$cache" CGO_ENABLED=0 go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
}

# vegeta for the throughput bench: a steady request rate from a process that costs the
# machine far less CPU per request than a Python client (which took ~3 ms a request).
VEGETA_VERSION="v12.12.0"
ensure_vegeta() {
  local cache="${CRM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/crm}/vegeta-$VEGETA_VERSION"
  if command -v vegeta >/dev/null 2>&1 || [ -x "$cache/vegeta" ]; then return 0; fi
  command -v go >/dev/null 2>&1 || apt_install golang-go
  echo "== building vegeta $VEGETA_VERSION (go install, once; ~1 minute)"
  mkdir -p "$cache"
  GOBIN="$cache" CGO_ENABLED=0 go install "github.com/tsenart/vegeta/v12@$VEGETA_VERSION"
}

if [ "${1:-}" = "--test-tools" ]; then ensure_chromium; ensure_helm; exit 0; fi
if [ "${1:-}" = "--bench-tools" ]; then ensure_vegeta; exit 0; fi

need_python
ensure_uv
export PATH="$HOME/.local/bin:$PATH"
echo "== syncing the virtualenv (uv.lock)"
uv sync --frozen --quiet
ensure_servers
echo "== fetching the Kafka jars (cached)"
uv run --frozen python -c 'from crm_dev.servers import kafka_libs; print(kafka_libs())'
touch .venv/.crm-setup-done
