# ChatQL: `make run` starts the server, `make test` runs every check. Both install first.
PYTHON ?= python3.13
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test lint typecheck unit bench bench-compare lock clean

$(STAMP): pyproject.toml constraints.txt web/graphiql/package-lock.json scripts/build_graphiql_assets.py tests/audit/package-lock.json
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 13), "ChatQL needs Python 3.13 (pyenv: see .python-version)"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	$(BIN)/python scripts/build_graphiql_assets.py
	@# the GraphQL-over-HTTP audit the test suite runs (skipped with a warning without npm)
	-cd tests/audit && npm ci --no-audit --no-fund --loglevel=error
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/python -m chatql

lint: install
	$(BIN)/ruff check chatql resolvers tests scripts
	$(BIN)/ruff format --check chatql resolvers tests scripts

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/python -m pytest -q

test: lint typecheck unit

# Regenerate the pinned versions from pyproject's lower bounds (needs the package index).
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --upgrade pip
	.lock-venv/bin/python -m pip install --quiet -e '.[dev]'
	.lock-venv/bin/python -m pip freeze --exclude-editable | sort > constraints.txt
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache

# Benchmarks against ../shared/peer-bench's load generator (README "Benchmarking"). Options come
# from the environment, e.g. `make bench BENCH_SCENARIOS=fanout,query BENCH_QUICK=1`.
bench: install
	$(BIN)/python benchmarks/run.py --target chatql

bench-compare: install
	$(BIN)/python benchmarks/run.py --target both
