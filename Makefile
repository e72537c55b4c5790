# The README's commands. `make` alone lists them.
.DEFAULT_GOAL := help
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
VENV := .venv/bin

.PHONY: help setup demo run migrate lint format test test-sqlite test-postgres

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

setup: ## install system packages, uv and the locked Python environment
	@bash scripts/setup.sh

demo: setup ## set up, start API + worker on SQLite, make one real video, print its path
	$(VENV)/python scripts/demo.py

run: setup ## set up and serve the API and one worker on http://127.0.0.1:8080 (SQLite)
	$(VENV)/moneyprinter serve

migrate: setup ## bring the database to the newest schema
	$(VENV)/moneyprinter migrate

lint: ## ruff (lint and format check) and mypy
	$(VENV)/ruff check .
	$(VENV)/ruff format --check .
	$(VENV)/mypy

format: ## apply ruff's fixes and formatting
	$(VENV)/ruff check --fix .
	$(VENV)/ruff format .

test: setup lint ## set up, lint, and run every test on SQLite and on Postgres
	$(VENV)/pytest

test-sqlite: setup ## the tests on SQLite alone (no Postgres needed)
	MONEYPRINTER_TEST_DATABASES=sqlite $(VENV)/pytest
