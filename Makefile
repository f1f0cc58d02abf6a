# Two commands for a fresh machine: `make serve` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
ARGS ?=

.PHONY: install serve test lint typecheck pytest bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## Start the gateway on embedded defaults (SQLite + the simulated provider) at 127.0.0.1:8080.
serve: $(STAMP)
	$(BIN)/videogate serve $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

## Lint, type-check, then the whole suite on SQLite and again (store tests) on PostgreSQL.
test: lint typecheck
	scripts/test.sh

bench: $(STAMP)
	$(BIN)/python -m bench $(ARGS)

clean:
	rm -rf $(VENV) .videogate .pytest_cache .mypy_cache .ruff_cache

## Deployment (docs/deployment.md): the image, the Compose stack, and their offline checks.
.PHONY: image compose-up compose-down deploy-check
image:
	docker build -t videogate:local .

compose-up:
	test -f deploy/.env || { echo "cp deploy/.env.example deploy/.env and set its values first" >&2; exit 1; }
	docker compose -f deploy/compose.yaml up --build

compose-down:
	docker compose -f deploy/compose.yaml down

deploy-check: $(STAMP)
	$(BIN)/pytest -q tests/test_deploy_files.py
