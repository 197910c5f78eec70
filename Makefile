# Topline's entry points. `make demo` and `make test` are all a new user needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
VENDOR := src/topline/web/static/vendor
ASSETS := $(VENDOR)/htmx.min.js $(VENDOR)/Sortable.min.js $(VENDOR)/swagger-ui-bundle.js $(VENDOR)/swagger-ui.css $(VENDOR)/favicon-32x32.png
# PostgreSQL tests run when TOPLINE_TEST_DATABASE_URL is set, or a local server answers.
TOPLINE_TEST_DATABASE_URL ?= $(shell pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && echo postgresql://postgres@127.0.0.1:5432/topline_test)
export TOPLINE_TEST_DATABASE_URL
PYTEST_WORKERS ?= 2

.PHONY: install demo dev serve test test-fast lint lint-check typecheck check migrate revision assets bench screenshots clean

install: $(INSTALLED) $(ASSETS)

$(INSTALLED): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

assets: $(ASSETS)

$(ASSETS) &: package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm is needed to fetch htmx, SortableJS and Swagger UI (apt-get install npm)"; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p $(VENDOR)
	cp node_modules/htmx.org/dist/htmx.min.js node_modules/sortablejs/Sortable.min.js $(VENDOR)/
	cp node_modules/swagger-ui-dist/swagger-ui-bundle.js node_modules/swagger-ui-dist/swagger-ui.css node_modules/swagger-ui-dist/favicon-32x32.png $(VENDOR)/

demo: install
	$(BIN)/topline demo $(DEMO_ARGS)

serve: install
	$(BIN)/topline serve

dev: install
	TOPLINE_SECRET_KEY=dev $(BIN)/uvicorn --factory topline.web.app:create_app --reload

test: install
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

test-fast: install
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) -m "not slow and not browser" $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check --fix src tests benchmarks scripts
	$(BIN)/ruff format src tests benchmarks scripts

lint-check: install
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts

typecheck: install
	$(BIN)/mypy

check: lint-check typecheck test

migrate: install
	$(BIN)/topline db upgrade

revision: install
	$(BIN)/alembic revision --autogenerate -m "$(m)"

bench: install
	$(BIN)/python benchmarks/demo_generation.py

# Every page at 1366x768 in headless Chromium, saved under docs/screenshots/.
screenshots: install
	PYTHONPATH=. $(BIN)/python scripts/screenshots.py

clean:
	rm -rf $(VENV) node_modules $(VENDOR) .pytest_cache .mypy_cache .ruff_cache
