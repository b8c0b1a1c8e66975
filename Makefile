# inferq developer targets. Every target is safe to run again: work already done is skipped.
#
#   make install     .venv (python3.11 -m venv), the package with its dev and bench extras, Kafka's jars
#   make lint        ruff check, ruff format --check, mypy --strict
#   make demo        the whole system end to end: Kafka, models, `inferq up`, traffic, a summary
#   make test        the whole suite against real Apache Kafka (the test session starts a broker,
#                    or uses KAFKA_BOOTSTRAP_SERVERS when set)
#   make models      the demo/test model repository in models/
#   make kafka-up    a local single-node broker on a free loopback port; prints its address
#   make kafka-down  stops it and removes its data

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMPS := .cache/make
# The launcher is standard-library only: it runs before (and without) the venv.
KAFKA := $(PYTHON) compose/kafka-local/kafkalocal.py

export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install lint test demo models kafka-up kafka-down jars

install: $(STAMPS)/venv jars

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstalled when pyproject.toml changes; the package itself is editable.
$(STAMPS)/venv: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev,bench]'
	@mkdir -p $(STAMPS) && touch $@

# Maven runs only when the jars are missing or the pom changed (the launcher keeps a marker).
jars:
	$(KAFKA) fetch

lint: $(STAMPS)/venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Rebuilt when models/ is missing or the builder changed since the last build.
models: $(STAMPS)/venv
	@if [ ! -d models ] || [ ! -f $(STAMPS)/models ] \
	    || [ -n "$$(find workers/modelbuild -name '*.py' -newer $(STAMPS)/models)" ]; then \
	  echo "$(BIN)/python -m workers.modelbuild --out models"; \
	  $(BIN)/python -m workers.modelbuild --out models && touch $(STAMPS)/models; \
	else echo "models: up to date"; fi

demo: install models
	$(BIN)/python -m inferq.demo

test: install models
	$(BIN)/pytest -q

kafka-up:
	$(KAFKA) up

kafka-down:
	$(KAFKA) down

# The benchmark harness (bench/README.md): every workload and system on one broker, BENCH.md's
# PASS/FAIL table, bench/results/<timestamp>/{report.json,*.png}. bench-quick: small and short.
.PHONY: bench bench-quick
bench: install models
	$(BIN)/python -m bench

bench-quick: install models
	$(BIN)/python -m bench --quick
