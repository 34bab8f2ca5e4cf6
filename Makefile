# caseapp — `make run` serves the embedded default, `make test` runs the whole suite.
PY ?= python3.11
PORT ?= 5000
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export FLASK_APP := caseapp

.PHONY: help run test lint bench translations install init prod-check clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' Makefile | sed 's/:.*##/ —/'

$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null 2>&1 || { echo "Python 3.11+ is required ($(PY) not found)"; exit 1; }
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install caseapp with its dev tools

translations: $(STAMP)  ## compile the message catalogues
	$(BIN)/pybabel compile -f -d caseapp/translations 2>/dev/null

init: install translations  ## migrate, create keys and demo users (idempotent)
	$(BIN)/flask db upgrade
	$(BIN)/flask init
	$(BIN)/flask demo

run: init  ## serve on http://127.0.0.1:5000 (SQLite, inline jobs)
	$(BIN)/flask run --host 127.0.0.1 --port $(PORT)

test: install translations  ## the whole suite (SQLite; also PostgreSQL/Redis when TEST_* are set)
	$(BIN)/python -m pytest -n auto $(PYTEST_ARGS)

lint: install  ## ruff + mypy
	$(BIN)/ruff check caseapp tests bench
	$(BIN)/mypy

prod-check: install translations  ## e2e scenario on gunicorn -w 2 + rq + PostgreSQL + Redis
	$(BIN)/python -m tests.e2e.prod_check $(PRODCHECK_ARGS)

export BENCH_PG ?= postgresql+psycopg://postgres@127.0.0.1:5432
bench: install translations  ## benchmarks (local PostgreSQL + Redis), each printing a same-run ratio
	@$(BIN)/python bench/benchhttp.py createdb bench_cases
	@failed=""; for f in bench/bench_*.py; do echo "== $$f"; \
	  BENCH_DATABASE_URL=$(BENCH_PG)/bench_cases $(BIN)/python $$f $(BENCH_ARGS) \
	    || failed="$$failed $$f"; done; \
	  test -z "$$failed" || { echo "failed:$$failed"; exit 1; }

clean:  ## remove the virtualenv and local instance
	rm -rf $(VENV) instance
