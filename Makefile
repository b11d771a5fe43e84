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

.PHONY: help bootstrap system-deps node-deps run test check unit requirements clean

help:
	@echo "make run     serve the whole stack on http://127.0.0.1:$${PORT:-3284}"
	@echo "make test    lint, type-check and run every test"
	@echo "make check   ruff + mypy --strict only"
	@echo "make system-deps   apt-get install what the tests need (Chromium), when missing"
	@echo "make node-deps     npm ci the pinned Node 20 test clients in tests/node, when changed"

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet "uv==$(UV_VERSION)"

$(VENV)/.synced: pyproject.toml uv.lock $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

bootstrap: $(VENV)/.synced

# System packages the tests need, from Debian: headless Chromium for tests/test_browser.py.
# Installed only when missing, so a second run costs nothing.
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

system-deps:
	@if [ ! -x $(CHROMIUM) ]; then \
		echo "installing chromium (apt-get) for the browser tests"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	fi

# The real Node clients the tests drive (Anthropic SDK, Claude Code CLI, Vercel AI SDK), pinned in
# tests/node/package-lock.json to versions whose engines allow Node 20. npm ci runs only when the
# manifest or the lock changed since the last install (the stamp lives inside node_modules, so
# deleting node_modules reinstalls).
NODE_DIR := tests/node
NODE_STAMP := $(NODE_DIR)/node_modules/.installed

$(NODE_STAMP): $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json $(NODE_DIR)/.npmrc
	cd $(NODE_DIR) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

node-deps: $(NODE_STAMP)

run: bootstrap
	$(VENV)/bin/python -m local.stack

check: bootstrap
	$(VENV)/bin/ruff check functions local tests
	$(VENV)/bin/mypy functions local

test: check system-deps node-deps
	$(VENV)/bin/pytest

requirements: $(UV)
	$(UV) export --frozen --no-dev --no-hashes --no-header --no-emit-project -o functions/requirements.txt

clean:
	rm -rf $(VENV) $(TOOLS) .mypy_cache .ruff_cache .pytest_cache .hypothesis

# The benchmark (bench/): vertexchat against a direct call and LiteLLM, results in bench/results/.
# LiteLLM, matplotlib and py-spy live in a bench-only environment, never in uv.lock.
BENCH_VENV := bench/.venv-litellm

.PHONY: bench bench-smoke

$(BENCH_VENV)/.installed: bench/requirements-litellm.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet --disable-pip-version-check -r bench/requirements-litellm.txt
	@touch $@

bench: bootstrap $(BENCH_VENV)/.installed
	$(VENV)/bin/python -m bench
	$(VENV)/bin/python -m bench.caching_cost

bench-smoke: bootstrap
	$(VENV)/bin/python -m bench --smoke
