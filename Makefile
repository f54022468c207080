# The two commands a new user needs: `make run` and `make test`. Each sets itself up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

# Two pytest-xdist workers, a test file each at a time (its stack and fixtures stay together);
# `make test PYTEST_WORKERS=` runs in one process.
PYTEST_WORKERS ?= -n 2 --dist loadfile

# What mypy checks (pyproject.toml's [tool.mypy]: django-stubs, no blanket ignore): every
# package of the product, the benchmarks (bench/) and the tests, named one by one.
TYPED := cwork simulator core dashboard stations kpis alerts actions accounts audit screens devtools bench manage.py tests

.PHONY: run test lint typecheck format bench soak simulator clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-* && touch $@

simulator: $(STAMP)
	$(BIN)/python -m simulator --host 127.0.0.1 --port 8081 --api-key demo-key

run: $(STAMP)
	$(BIN)/python manage.py compiletranslations
	$(BIN)/python manage.py runembedded

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy $(TYPED)
	$(BIN)/python manage.py compiletranslations
	$(BIN)/python -m pytest $(PYTEST_WORKERS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

typecheck: $(STAMP)
	$(BIN)/mypy $(TYPED)

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	$(BIN)/python bench/client_statuses.py
	$(BIN)/python bench/poll_cycle.py
	$(BIN)/python bench/kpi_review.py
	$(BIN)/python bench/wall_languages.py
	$(BIN)/python bench/wall_fanout.py  # needs PostgreSQL and Redis on 127.0.0.1
	$(BIN)/python bench/load.py  # 500 and 2,000 stations x 200 and 1,000 walls; the same services

# An hour of the whole stack with 200 walls and one Chromium page, watched for growth.
soak: $(STAMP)
	$(BIN)/python bench/soak.py --minutes 60

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .import_linter_cache
