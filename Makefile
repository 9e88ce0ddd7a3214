# The project's commands. Every target sets a fresh machine up first (scripts/setup.sh).
SHELL := /bin/bash
export PATH := $(HOME)/.local/bin:$(PATH)
UV := uv run --frozen
PYTEST_ARGS ?=

.PHONY: setup dev test test-fast lint fmt i18n bench clean

setup: .venv/.crm-setup-done

.venv/.crm-setup-done: uv.lock scripts/setup.sh devtools/src/crm_dev/kafka-pom.xml
	@bash scripts/setup.sh

## make dev: Kafka, Redis, SMTP sink and every service; Ctrl-C stops all
dev: setup
	@$(UV) python -m crm_dev.supervisor

## make test: the whole suite against real Kafka, Redis, PostgreSQL and SMTP
test: setup
	@bash scripts/setup.sh --test-tools
	@$(UV) pytest $(PYTEST_ARGS)

## make test-fast: every service's rules and the shared plumbing, no servers (under a minute)
test-fast: setup
	@$(UV) pytest -q shared/tests/unit services/*/tests/unit

## make lint: ruff, mypy, import boundaries
lint: setup
	$(UV) ruff check .
	$(UV) ruff format --check .
	$(UV) mypy shared/src devtools/src services/*/src ops/src
	$(UV) lint-imports --no-cache

## make i18n: extract the pages' texts and update the English catalogue (then translate)
i18n: setup
	$(UV) python -m crm_dev.i18n

fmt: setup
	$(UV) ruff format .
	$(UV) ruff check --fix .

bench: setup
	$(UV) python bench/e2e_latency.py

clean:
	rm -rf .venv .crm .pytest_cache .mypy_cache .ruff_cache
