# anigate: `make run` starts the service with its embedded defaults, `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# RFC 4475 torture messages: read in place from the shared folder beside the checkout
export ANIGATE_SIP_TORTURE_DIR ?= $(abspath $(CURDIR)/../shared/sip-torture)
PG_TEST_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: run test test-postgres lint tools venv venv-dev bench mutation clean

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

## run: migrate, load the demo estate on first start (ANIGATE_DEMO=0 turns it off), then serve
## the web app on :8000 and the worker (SIP on 127.0.0.1:5060) until Ctrl-C
run: venv
	$(BIN)/flask --app app db upgrade
	$(BIN)/flask --app app demo load --first-start
	VENV=$(VENV) exec scripts/run.sh

## lint: ruff (lint + format), import-linter (layering contracts of STYLE.md), mypy --strict on
## the pure SIP library and the call path
lint: venv-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy --strict sip $(wildcard alarms/*.py) registry/events.py registry/outbox.py $(filter-out routing/api.py,$(wildcard routing/*.py))

## tools: sipp and chromium (and later snmptrapd) for the e2e and browser tests, installed when missing
tools:
	scripts/ensure-tools.sh

## test: the whole suite (lint, unit, integration, e2e) against SQLite
test: lint tools
	$(BIN)/pytest -q

## test-postgres: the suite again against PostgreSQL (each test in its own schema)
test-postgres: venv-dev tools
	ANIGATE_TEST_DATABASE_URL=$(PG_TEST_URL) $(BIN)/pytest -q

## mutation: mutmut over the pure core (routing/policy.py, sip/identity.py, alarms/rules.py,
## alarms/lifecycle.py) with the unit tests (by hand, like a benchmark; never in `make test` or CI;
## about 12 min on one core), then the score per module without the mutants of
## mutation-equivalent.md. MUTATION_JOBS=2 uses both cores; MUTATE=alarms/rules.py,alarms/lifecycle.py
## runs the mutants of those modules only.
MUTMUT ?= $(BIN)/mutmut
MUTATION_JOBS ?= 1
MUTATE ?=
comma := ,
MUTANT_GLOBS = $(foreach m,$(subst $(comma), ,$(MUTATE)),'$(subst /,.,$(m:.py=)).*')
mutation: venv-dev
	rm -rf mutants && mkdir mutants
	time $(MUTMUT) run --max-children $(MUTATION_JOBS) $(MUTANT_GLOBS) > mutants/run.log 2>&1 || { tail -c 3000 mutants/run.log; exit 1; }
	$(BIN)/python -m bench.mutation_score --survivors $(if $(MUTATE),--modules $(MUTATE))

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache mutants
