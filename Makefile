# Two set-up commands: `make up` and `make test`. Both bootstrap a virtualenv when it is missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
WEB_STAMP := web/node_modules/.installed

.PHONY: up test lint bench clean web

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# The web client's player libraries (hls.js, dashjs) from the npm registry, when npm is here.
$(WEB_STAMP): web/package.json web/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  npm ci --prefix web --no-audit --no-fund --loglevel=error && touch $@; \
	else \
	  echo "web client: npm not found, so hls.js and dashjs are not installed: the site will" \
	       "browse but not play. Install Node.js and npm (Debian: apt-get install nodejs npm)" \
	       "and run make again." >&2; \
	fi

web: $(WEB_STAMP)

up: $(STAMP) web
	$(BIN)/reelcloud up

test: $(STAMP) web
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(STAMP)
	for b in benchmarks/*.py; do $(BIN)/python $$b --quick || exit 1; done

clean:
	rm -rf $(VENV) .reelcloud .pytest_cache .mypy_cache .ruff_cache
