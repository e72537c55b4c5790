# MoneyPrinter's commands (the README's). `make` alone lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# No network to fetch Pythons from: uv must use the system's.
export UV_PYTHON_DOWNLOADS := never

BIN := .venv/bin
# Which databases the tests run on (tests/conftest.py reads it): sqlite, postgres or both.
MONEYPRINTER_TEST_DATABASES ?= sqlite,postgres
export MONEYPRINTER_TEST_DATABASES
PYTEST_ARGS ?=

.PHONY: help setup setup-tests run demo test pytest lint format api-types clean

help: ## list the commands
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-7s %s\n", $$1, $$2}' \
		$(MAKEFILE_LIST)

setup: ## install ffmpeg, espeak-ng, fonts, Node.js (as root), uv, the virtualenv (.venv), the web build
	@scripts/setup.sh

setup-tests: ## setup, and Chromium for the browser tests
	@scripts/setup.sh --tests

run: setup ## set up, migrate, and serve the API and one worker (http://127.0.0.1:8080)
	$(BIN)/moneyprinter migrate
	@echo
	@echo "  web page:      http://127.0.0.1:8080/       (MONEYPRINTER_HOST / MONEYPRINTER_PORT)"
	@echo "  API docs:      http://127.0.0.1:8080/docs"
	@echo "  from a shell:  $(BIN)/moneyprinter generate \"Octopuses\" --script \"Octopuses have three hearts.\""
	@echo "  a video:       make demo                    (in another terminal)"
	@echo "  or with curl:  curl -s http://127.0.0.1:8080/api/generate \\"
	@echo "                   -H 'Content-Type: application/json' \\"
	@echo "                   -d '{\"videoSubject\": \"Octopuses\", \"script\": \"Octopuses have three hearts.\"}'"
	@echo
	$(BIN)/moneyprinter serve --no-migrate

demo: setup ## set up, queue a short video, follow it until it is done, print its path
	$(BIN)/python scripts/demo.py

test: setup-tests lint pytest ## set up, lint, and run every test (Python on SQLite and Postgres, web)

pytest: setup-tests ## run the tests alone (PYTEST_ARGS='-k claim' to pick some), then the web's
	@if [[ ",$(MONEYPRINTER_TEST_DATABASES)," == *,postgres,* ]]; then scripts/postgres.sh; fi
	scripts/pytest.sh $(PYTEST_ARGS)
	cd web && npm test --silent

lint: setup ## ruff check, ruff format --check, mypy, and the web page's type check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy app worker
	cd web && npm run --silent typecheck

format: setup ## rewrite the code in the project's format and fix what ruff can fix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# No setup step first: it builds the web page, which fails while the types are stale.
api-types: ## after an API change (and make setup): web/openapi.json, then the web page's types from it
	$(BIN)/python scripts/openapi.py
	cd web && npm run --silent api:types

clean: ## remove caches and test output (keeps .venv and data/)
	rm -rf .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -path ./.venv -prune -o -name __pycache__ -type d -exec rm -rf {} +
