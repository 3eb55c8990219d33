# anigate: `make run` starts the service with its embedded defaults, `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PG_TEST_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
HTTP_HOST ?= $(or $(ANIGATE_HTTP_HOST),127.0.0.1)
HTTP_PORT ?= $(or $(ANIGATE_HTTP_PORT),8000)

.PHONY: run test test-postgres lint venv venv-dev bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

venv: $(VENV)/.runtime
venv-dev: $(VENV)/.dev

## run: migrate, load the demo estate on first start (ANIGATE_DEMO=0 turns it off), serve on :8000
run: venv
	$(BIN)/flask --app app db upgrade
	$(BIN)/flask --app app demo load --first-start
	@echo "anigate on http://$(HTTP_HOST):$(HTTP_PORT)/api/v1/openapi.json  (Ctrl-C stops)"
	exec $(BIN)/gunicorn --bind $(HTTP_HOST):$(HTTP_PORT) --workers 2 --access-logfile - wsgi:app

## lint: ruff (lint + format) and import-linter (layering contracts of STYLE.md)
lint: venv-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

## test: the whole suite (lint, unit, integration, e2e) against SQLite
test: lint
	$(BIN)/pytest -q

## test-postgres: the suite again against PostgreSQL (each test in its own schema)
test-postgres: venv-dev
	ANIGATE_TEST_DATABASE_URL=$(PG_TEST_URL) $(BIN)/pytest -q

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
