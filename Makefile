# kube-herald: `make demo` and `make test` set up everything they need on a fresh machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
KAFKA := compose/kafka-local
WITH_KAFKA := compose/with-kafka
FAULT_RUNS ?= 1
PYTEST_ARGS ?=

.PHONY: help setup venv kafka-jars kafka-start kafka-stop lint unit test faults e2e demo schemas clean bench quality postgres browser compose-schema

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

$(INSTALLED): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "kube-herald needs Python >= 3.11, found " + sys.version' 
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,rocksdb]'
	@touch $@

venv: $(INSTALLED) ## create .venv and install kube-herald with its dev tools

kafka-jars: ## resolve the Kafka broker's jars from Maven Central (cached)
	$(KAFKA) fetch

postgres: ## install Debian's PostgreSQL server unless present (the analytics sink's tests start their own)
	compose/postgres-local install

browser: ## install Debian's Chromium and a CJK font unless present (the web page test drives it headless, in en and zh)
	@{ command -v chromium >/dev/null && fc-list :lang=zh | grep -q .; } || { \
	  [ "$$(id -u)" = 0 ] || { echo "make browser: run as root, or: sudo apt-get install chromium fonts-dejavu-core fonts-wqy-microhei" >&2; exit 1; }; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core fonts-wqy-microhei; }

compose-schema: venv ## fetch the Compose Specification schema the compose file is checked against (cached)
	$(BIN)/python -m tests.support.compose_schema

setup: venv kafka-jars ## what the demo and a local pipeline need: the virtualenv and the broker's jars (no root)

kafka-start: kafka-jars ## start the local broker (127.0.0.1:19092)
	$(KAFKA) start

kafka-stop: ## stop the local broker this checkout started
	$(KAFKA) stop

lint: venv ## ruff, mypy (strict), import contracts, JSON Schema files up to date
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m tools.check_code
	$(BIN)/python -m schemas.export --check
	$(BIN)/python -m herald.config_reference --check
	$(BIN)/python -m herald.template_reference --check

unit: venv ## fast tests, no broker
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

test: setup postgres browser compose-schema lint ## lint, then every test against a real broker (installs the test-only system packages)
	$(WITH_KAFKA) $(BIN)/pytest -ra --ignore=tests/cluster $(PYTEST_ARGS)

faults: setup postgres ## the fault suite (pytest -m fault: kill -9, failover, rebalance, broker and receiver outages), FAULT_RUNS times in a row (default 1)
	for run in $$(seq $(FAULT_RUNS)); do \
	  echo "fault suite: run $$run of $(FAULT_RUNS)"; \
	  $(WITH_KAFKA) $(BIN)/pytest -ra -m fault tests/integration tests/e2e $(PYTEST_ARGS) || exit 1; \
	done

e2e: venv kafka-jars ## the pipeline and the Helm chart against a real Kubernetes control plane (it and helm built once with Go, cached)
	tests/e2e/control-plane build
	tests/e2e/helm build
	$(WITH_KAFKA) $(BIN)/pytest -ra tests/cluster $(PYTEST_ARGS)

demo: venv kafka-jars ## run the pipeline on sample events and print the alerts it delivers
	$(WITH_KAFKA) $(BIN)/herald demo

schemas: venv ## regenerate schemas/json, docs/configuration.md and docs/templates.md from the models
	$(BIN)/python -m schemas.export
	$(BIN)/python -m herald.config_reference
	$(BIN)/python -m herald.template_reference

clean: kafka-stop ## remove the virtualenv and local state (not the jar cache)
	rm -rf $(VENV) .run .mypy_cache .ruff_cache .pytest_cache

bench: setup ## run every benchmark against a real broker, then write docs/benchmarks.md and its plot
	$(BIN)/pip install --quiet -e '.[bench]'
	$(WITH_KAFKA) bash -c '$(BIN)/python -m bench.producer_bench && \
	  $(BIN)/python -m bench.processor_bench && \
	  $(BIN)/python -m bench.processor_bench --workers 2 && \
	  $(BIN)/python -m bench.processor_bench --events 1000000 --profile-seconds 0 && \
	  $(BIN)/python -m bench.processor_ab && \
	  $(BIN)/python -m bench.notifier_bench && \
	  $(BIN)/python -m bench.pipeline_bench'
	$(BIN)/python -m bench.report

quality: venv kafka-jars ## replay the quality scenarios through the pipeline, score what pages, write docs/benchmarks.md's Quality section
	$(WITH_KAFKA) $(BIN)/python -m bench.quality
