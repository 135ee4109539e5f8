.DEFAULT_GOAL := help
SHELL := /bin/bash
UV ?= uv
RUN := $(UV) run --frozen
PROTO_OUT := libs/stigma-proto/src

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: install
install: ## Install uv (if missing) and the workspace into .venv
	@command -v $(UV) >/dev/null || python3 -m pip install --quiet uv
	$(UV) sync --frozen --all-packages

.PHONY: proto
proto: install ## Regenerate the Python code under libs/stigma-proto from proto/
	$(RUN) python proto/codegen.py $(PROTO_OUT)

.PHONY: lint
lint: install ## ruff (lint + format check), mypy, buf lint, generated-code drift
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy libs services tools tests
	$(RUN) buf lint
	$(RUN) python proto/codegen.py --check $(PROTO_OUT)

.PHONY: fmt
fmt: install ## Format and auto-fix
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

.PHONY: unit
unit: install ## Unit tests of every lib and service
	$(RUN) pytest -m "not integration" -n 2

.PHONY: integration
integration: install ## Integration tests: real Temporal dev server, the four services as processes
	$(RUN) pytest -m integration tests

.PHONY: test
test: lint unit integration ## Everything CI runs: lint, unit and integration tests

.PHONY: demo
demo: install ## Start Temporal and the four services, run examples/hello-agent.yaml, print the output, stop
	$(RUN) devstack demo

.PHONY: up
up: install ## Start the stack in the background (state in .state/); Temporal UI on :8233
	$(RUN) devstack up

.PHONY: down
down: install ## Stop the stack started by make up
	$(RUN) devstack down

.PHONY: clean
clean: ## Remove the virtualenv and local state
	rm -rf .venv .state
