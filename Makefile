# vertexchat: `make run` serves the whole stack on 127.0.0.1:3284; `make test` runs everything.
# Both bootstrap what they need on a fresh machine (Python packages from uv.lock).

SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= $(shell command -v python3.11 || command -v python3)
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/$(VENV)

.PHONY: help bootstrap run test check unit requirements clean

help:
	@echo "make run     serve the whole stack on http://127.0.0.1:$${PORT:-3284}"
	@echo "make test    lint, type-check and run every test"
	@echo "make check   ruff + mypy --strict only"

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet "uv==$(UV_VERSION)"

$(VENV)/.synced: pyproject.toml uv.lock $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

bootstrap: $(VENV)/.synced

run: bootstrap
	$(VENV)/bin/python -m local.stack

check: bootstrap
	$(VENV)/bin/ruff check functions local tests
	$(VENV)/bin/mypy functions local

test: check
	$(VENV)/bin/pytest

requirements: $(UV)
	$(UV) export --frozen --no-dev --no-hashes --no-header --no-emit-project -o functions/requirements.txt

clean:
	rm -rf $(VENV) $(TOOLS) .mypy_cache .ruff_cache .pytest_cache .hypothesis
