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
	$(RUN) mypy libs services tools tests benchmarks deploy
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
	$(RUN) pytest -m "integration and not docker" tests

.PHONY: reliability
reliability: install ## Only the reliability tests (kill -9, Temporal restart, soak, hostile input, mTLS)
	$(RUN) pytest tests/test_reliability_*.py

.PHONY: test
test: lint unit integration ## Everything CI runs: lint, unit and integration tests

# testcontainers without its Ryuk reaper (the fixture removes what it starts), ports on loopback.
TESTCONTAINERS_ENV := TESTCONTAINERS_RYUK_DISABLED=true TESTCONTAINERS_CONNECTION_MODE=docker_host TC_HOST=127.0.0.1

.PHONY: images
images: install ## Build the project's images offline (local Debian base, wheels from this host)
	docker/build-images.sh

.PHONY: test-containers
test-containers: install ## Integration tests against the images through testcontainers (needs make images)
	$(TESTCONTAINERS_ENV) $(RUN) pytest -m "integration and not processes_only" --stack=containers tests

.PHONY: compose-check
compose-check: install ## Validate compose.yaml (+ the PostgreSQL override) and the collector config
	$(RUN) pytest tests/test_compose.py

# TRACES=0: no trace viewer (Phoenix) for make demo / make up.
NO_TRACES := $(if $(filter 0 false no,$(TRACES)),--no-traces)

.PHONY: demo
demo: install ## Start Temporal, the four services and Phoenix, run examples/hello-agent.yaml, print the output and a link to its trace, stop; TRACES=0 without Phoenix
	$(RUN) devstack $(if $(REPLICAS),--replicas $(REPLICAS)) demo $(NO_TRACES)

.PHONY: up
up: install ## Start the stack in the background (state in .state/); Temporal UI on :8233, traces (Phoenix) on :6006; PROMETHEUS=1 adds Prometheus on :9090; TRACES=0 without Phoenix; REPLICAS=2 (or stigma-api=2,...) runs more instances
	$(RUN) devstack $(if $(REPLICAS),--replicas $(REPLICAS)) up $(if $(PROMETHEUS),--prometheus) $(NO_TRACES)

.PHONY: down
down: install ## Stop the stack started by make up
	$(RUN) devstack down

.PHONY: bench
bench: install ## Benchmarks on the local stack (BENCH_QUICK=1 for the 3-minute run); writes benchmarks/results/
	$(RUN) python -m handshake_bench

.PHONY: clean
clean: ## Remove the virtualenv and local state
	rm -rf .venv .state
