# One place for every developer command; CI calls `make test`, as the README does.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run stop test test-fast check lint format typecheck bench bench-api clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,embedded]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/tenders run

# Stop the embedded PostgreSQL and Redis that `make run` (or any command) started.
stop: $(STAMP)
	$(BIN)/tenders stop

test: $(STAMP)
	$(BIN)/python -m pytest

# All but the tests marked slow (worker processes, servers, fuzzing, much data): under a minute
# on two cores. `make test`, as CI, runs everything.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

# Throughput and memory, side by side with PostgreSQL's COPY, and the read API under load
# (prints a table, writes JSON). BENCH_DATABASE_URL / BENCH_REDIS_URL pick the servers; unset,
# the embedded ones. `make bench-api`: the API case alone, in about two minutes.
bench: $(STAMP)
	$(BIN)/python -m tests.benchmarks.bench --json bench-results.json --markdown bench-results.md

bench-api: $(STAMP)
	$(BIN)/python -m tests.benchmarks.bench --api-only --json bench-api.json

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy configs src workers tests

check: lint typecheck test

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
