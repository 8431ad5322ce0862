# The two commands a newcomer needs: `make run` and `make test`. Everything installs into .venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
COMPONENTS := shared services/participants services/matching services/clauses services/funding gateway cli
INSTALLED := $(VENV)/.installed

.PHONY: install run test lint format unit bench-bus bench-matching bench-funding bench-gateway clean

$(INSTALLED): requirements.lock $(foreach c,$(COMPONENTS),$(c)/pyproject.toml)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps $(foreach c,$(COMPONENTS),-e $(c))
	touch $@

install: $(INSTALLED)

## Whole stack on the embedded default (Tansu broker, SQLite under var/), demo territory, foreground.
run: install
	$(VENV)/bin/tremplin run

## Lint, then the whole suite against real PostgreSQL, Redis and the embedded broker.
test: install
	deploy/dev/ensure-services.sh
	$(MAKE) --no-print-directory lint
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

## Event path benchmark: raw aiokafka vs outbox → relay → Kafka → consumer → projection.
bench-bus: install
	deploy/dev/ensure-services.sh
	$(PY) -m bench.bus --writer import
	$(PY) -m bench.bus --writer api

## Ranking benchmark: the service's spatial index vs brute-force NumPy vs PostGIS (installs PostGIS if missing).
bench-matching: install
	deploy/dev/ensure-services.sh
	$(PY) -m bench.matching

## Funding benchmark: a CDE run for 10 000 workers vs one bulk INSERT of as many rows, same database.
bench-funding: install
	deploy/dev/ensure-services.sh
	$(PY) -m bench.funding

## Gateway benchmark: the same GET direct to a service and through the gateway, same load.
bench-gateway: install
	deploy/dev/ensure-services.sh
	$(PY) -m bench.gateway

clean:
	rm -rf var/ .pytest_cache .ruff_cache
