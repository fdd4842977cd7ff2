# MASH Hub. `make demo` runs it, `make test` tests it; both set up whatever is missing.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
STATIC := mash_hub/static
GOVUK := node_modules/govuk-frontend/dist/govuk

.PHONY: setup assets browser wrk demo serve test test-postgres lint format nightly bench soak clean

setup: $(VENV)/.installed assets

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

assets: $(STATIC)/hub.css $(STATIC)/govuk-frontend.min.js $(STATIC)/hub.js

$(STATIC)/hub.css: mash_hub/assets/hub.scss node_modules/.installed
	mkdir -p $(STATIC)
	npm run --silent build

$(STATIC)/govuk-frontend.min.js: node_modules/.installed
	mkdir -p $(STATIC)
	cp $(GOVUK)/govuk-frontend.min.js $@

$(STATIC)/hub.js: mash_hub/assets/hub.js
	mkdir -p $(STATIC)
	cp $< $@

# Browser tests drive Debian's Chromium (never a downloaded browser).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

demo: setup
	$(BIN)/mash-hub init-db
	$(BIN)/mash-hub demo
	@echo "Sign-in details for every demo user: instance/demo-credentials.json"
	@# The scheduler runs beside the web server, as in production; Ctrl-C stops both. It
	@# delivers the outbox too: to the log, unless [notifications] smtp_url names a server.
	@trap 'kill $$scheduler 2>/dev/null; wait $$scheduler 2>/dev/null' EXIT INT TERM; \
	$(BIN)/mash-hub scheduler & scheduler=$$!; \
	$(BIN)/mash-hub serve --host $(HOST) --port $(PORT)

serve: setup
	$(BIN)/mash-hub serve --host $(HOST) --port $(PORT)

lint: $(VENV)/.installed
	$(BIN)/ruff check mash_hub migrations tests benchmarks tools
	$(BIN)/ruff format --check mash_hub migrations tests benchmarks tools
	$(BIN)/mypy mash_hub
	$(BIN)/lint-imports

format: $(VENV)/.installed
	$(BIN)/ruff format mash_hub migrations tests
	$(BIN)/ruff check --fix mash_hub migrations tests

test: setup browser lint
	$(BIN)/pytest

# The same suite against PostgreSQL on 127.0.0.1:5432, database test, user postgres.
test-postgres: setup browser
	MASH_TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test $(BIN)/pytest

nightly: setup browser
	MASH_HYPOTHESIS_PROFILE=nightly MASH_FUZZ_EXAMPLES=1000 $(BIN)/pytest

# The load benchmark and the soak drive the served hub with wrk (Debian's package).
wrk:
	@command -v wrk >/dev/null 2>&1 || { \
	  echo "installing Debian's wrk for the load benchmark"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }

bench: setup wrk
	@for bench in benchmarks/bench_*.py; do echo "== $$bench"; $(BIN)/python $$bench || exit 1; done

# The mixed workload against the served hub on PostgreSQL, with the scheduler and sealer
# running, for SOAK_MINUTES (10); then the trail verified and memory growth reported.
SOAK_MINUTES ?= 10
soak: setup wrk
	$(BIN)/python benchmarks/bench_load.py --soak-minutes $(SOAK_MINUTES)

clean:
	rm -rf $(VENV) node_modules $(STATIC) .pytest_cache .mypy_cache .ruff_cache .import_linter_cache test-artifacts
