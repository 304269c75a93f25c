# One command to run with demo data, one to test. Everything else is a helper.
VENV      := .venv
PY        := $(VENV)/bin/python
STAMP     := $(VENV)/.installed
POSTGIS_URL ?= postgresql://postgres@127.0.0.1:5432/fsm_test
FLASK     := $(PY) -m flask --app "server:create_app()"
HOST      ?= 127.0.0.1
PORT      ?= 5000

.PHONY: run test test-postgis test-all check lint format typecheck openapi contract migration seed bench bench-parts bench-dispatch deps spatialite clean

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements-dev.txt
	@touch $(STAMP)

deps: $(STAMP)

spatialite:
	@scripts/ensure-spatialite.sh

run: deps spatialite  ## serve the API with demo data on http://127.0.0.1:5000
	$(FLASK) db-upgrade
	$(FLASK) seed --if-empty
	@echo "API docs: http://$(HOST):$(PORT)/api/docs"
	$(FLASK) run --host $(HOST) --port $(PORT)

test: deps spatialite  ## whole suite (SQLite+SpatiaLite unless DATABASE_URL says otherwise)
	$(PY) -m pytest -q $(PYTEST_ARGS)

test-postgis: deps  ## the same suite on PostgreSQL+PostGIS
	@scripts/ensure-postgis-db.sh "$(POSTGIS_URL)"
	DATABASE_URL="$(POSTGIS_URL)" $(PY) -m pytest -q $(PYTEST_ARGS)

test-all: test test-postgis

lint: deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: deps
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

typecheck: deps
	$(VENV)/bin/mypy

check: lint typecheck test  ## lint, types, tests

openapi: deps  ## regenerate the committed contract
	$(FLASK) openapi write --format=json mobile_contract/openapi.json

contract: openapi  ## regenerate the whole mobile contract: OpenAPI + sync JSON Schemas
	$(PY) -m mobile_contract.sync_schema

migration: deps  ## make migration m="what changed"
	$(VENV)/bin/alembic revision --autogenerate -m "$(m)"

seed: deps spatialite
	$(FLASK) db-upgrade
	$(FLASK) seed

BENCH_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/fsm_bench

bench: deps  ## sync benchmarks on PostgreSQL (wipes BENCH_DATABASE_URL); tables + bench/results/*.json
	BENCH_DATABASE_URL="$(BENCH_DATABASE_URL)" $(PY) bench/sync_bench.py
	$(PY) bench/sync_chaos.py

bench-parts: deps  ## spare-parts ledger benchmark on PostgreSQL (1M movements; wipes the bench database)
	BENCH_DATABASE_URL="$(subst fsm_bench,fsm_parts_bench,$(BENCH_DATABASE_URL))" $(PY) bench/parts_bench.py

bench-dispatch: deps  ## dispatcher benchmarks (Solomon, field vs VROOM, emergency, time limits); QUICK=1 for a smoke run
	$(VENV)/bin/pip install -q -r bench/requirements.txt
	$(PY) bench/dispatch/run_all.py $(if $(QUICK),--quick,)

clean:
	rm -rf instance/*.sqlite3* .pytest_cache .mypy_cache .ruff_cache
