# relint: the two commands a new user needs are `make run` and `make test`.
# Everything is installed from this repository's own files: uv.lock for Python,
# package-lock.json for the Node tools (buf).

SHELL := /bin/bash
.DEFAULT_GOAL := help
UV ?= uv
UV_VERSION := 0.13.9
PYTHON_DIRS := packages/relint/src packages/devstack/src services/ingest/src services/scoring/src services/playbook/src services/gateway/src
CUSTOMERS ?= 200
SEED ?= 7

.PHONY: help install run test check lint format contracts schema bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

install: ## install uv if missing, the locked Python workspace and the Node tools
	@command -v $(UV) >/dev/null 2>&1 || python3 -m pip install --quiet "uv==$(UV_VERSION)"
	$(UV) sync --frozen
	npm ci --no-audit --no-fund --loglevel=error

run: install ## start the four services on SQLite with demo data (Ctrl-C stops them)
	$(UV) run relint-stack run --data-dir var --customers $(CUSTOMERS) --seed $(SEED)

test: install ## the whole suite: unit, SQLite and PostgreSQL/Redis, e2e, deploy validation, lint
	scripts/install-browser.sh
	$(MAKE) --no-print-directory check
	$(UV) run pytest -n 2 --dist loadgroup

check: ## formatting, lint, types, proto lint and generated-code freshness
	$(UV) run ruff format --check .
	$(UV) run ruff check .
	$(UV) run mypy $(PYTHON_DIRS)
	node_modules/.bin/buf lint
	$(UV) run python scripts/generate_contracts.py --check

format: ## rewrite files with ruff
	$(UV) run ruff format .
	$(UV) run ruff check --fix .

contracts: ## regenerate Python code from proto/
	$(UV) run python scripts/generate_contracts.py

schema: ## export the gateway's GraphQL SDL to services/gateway/schema.graphql
	$(UV) run gateway export-schema

bench: install ## run the benchmarks under bench/
	scripts/install-debian-tool.sh wrk wrk "bench/gateway_360.py's load generator"
	@for script in bench/*.py; do echo "== $$script"; $(UV) run python "$$script" || exit 1; done

clean: ## remove local databases, logs and caches
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
