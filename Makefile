# Rathaus: `make demo` and `make test` are all a fresh machine with Python 3.11 needs.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000
# xdist workers: one per core; override with `make test WORKERS=1`
WORKERS ?= auto

.PHONY: demo test test-property test-postgres lint install serve worker bench clean openapi

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/rathaus demo --port $(PORT)

serve: $(STAMP)
	$(BIN)/rathaus serve --port $(PORT)

worker: $(STAMP)
	$(BIN)/rathaus worker

test: $(STAMP)
	$(BIN)/python -m pytest -n $(WORKERS) -q -m "not slow_property"

# Thorough property tests over every published form schema (200 examples each, about 3 minutes); the
# fast versions run in `make test`.
test-property: $(STAMP)
	$(BIN)/python -m pytest -n $(WORKERS) -q -m slow_property

# The whole suite against PostgreSQL (DATABASE_URL must name a server; tests create their own database).
test-postgres: $(STAMP)
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/rathaus} $(BIN)/python -m pytest -n $(WORKERS) -q -m "not slow_property"

# Regenerate docs/openapi.json from the code (tests/test_openapi_document.py fails until it is committed).
openapi: $(STAMP)
	RATHAUS_UPDATE_OPENAPI=1 $(BIN)/python -m pytest -q -p no:cacheprovider tests/test_openapi_document.py

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/lint-imports
	$(BIN)/mypy src/rathaus_domain
	DJANGO_SETTINGS_MODULE=rathaus.config.settings.test $(BIN)/python manage.py makemigrations --check --dry-run

bench: $(STAMP)
	$(BIN)/python bench/allocation.py

clean:
	rm -rf $(VENV) var .pytest_cache
