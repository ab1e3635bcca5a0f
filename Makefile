# Two set-up commands: `make up` and `make test`. Both install the Debian packages they need
# (scripts/system-deps.sh: apt-get as root, else the command to run) and bootstrap a virtualenv
# when it is missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
WEB_STAMP := web/node_modules/.installed
PYTEST_ARGS ?=

.PHONY: up test test-stress lint bench clean web system-deps-up system-deps-test

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

# Before anything else (prerequisites are made left to right): npm must be there for `web`.
system-deps-up system-deps-test: system-deps-%:
	@PYTHON=$(PYTHON) VENV=$(VENV) sh scripts/system-deps.sh $*

up: system-deps-up $(STAMP) web
	$(BIN)/reelcloud up

test: system-deps-test $(STAMP) web
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest $(PYTEST_ARGS)

# The same suite with one core kept busy by another process, as a loaded CI runner or laptop
# would: tests that wait on conditions pass; tests that lean on timing do not.
test-stress: system-deps-test $(STAMP) web
	@$(BIN)/python -c 'while True: pass' & busy=$$!; \
	trap 'kill $$busy 2>/dev/null' EXIT INT TERM; \
	echo "test-stress: pid $$busy keeps one core busy"; \
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP)
	for b in benchmarks/*.py; do $(BIN)/python $$b --quick || exit 1; done

clean:
	rm -rf $(VENV) .reelcloud .pytest_cache .mypy_cache .ruff_cache
