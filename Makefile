# The two commands: `make run` and `make test` (and `make check`, the quick loop while editing).
# All bootstrap .venv themselves on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
EMULATOR_PORT ?= 8765
PARTNER_PORT ?= 8000
DASHBOARD_PORT ?= 8501

CHROMIUM := /usr/bin/chromium

# Python may cache compiled modules (and pytest its rewritten test modules) even where the
# environment says not to: every test, server, worker and notebook kernel process would
# otherwise compile the whole toolkit again at start-up. The caches are git-ignored.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: run test check lint typecheck docs unit browser-deps clean notebooks

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --editable ".[all]" --group dev
	touch $(STAMP)

# Emulator, partner endpoints and dashboard on 127.0.0.1 with a seeded demo world; Ctrl-C stops.
run: $(STAMP)
	$(BIN)/sotk run --emulator-port $(EMULATOR_PORT) --partner-port $(PARTNER_PORT) \
		--dashboard-port $(DASHBOARD_PORT)

# JupyterLab on the notebooks (no browser opened: it prints the URL with its token). With
# `make run` up in another terminal they work in its world (emulator, store, dashboard);
# without it each starts a private emulator and a throw-away store.
NOTEBOOK_PORT ?= 8888
notebooks: $(STAMP)
	$(BIN)/jupyter lab --no-browser --ip 127.0.0.1 --port $(NOTEBOOK_PORT) \
		--ServerApp.root_dir=notebooks

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# The API reference built from the docstrings (pdoc) into build/api (git-ignored); fails on an
# import error, a pdoc warning or a docstring naming a toolkit.X that does not exist.
docs: $(STAMP)
	$(BIN)/python docs/api_reference.py build/api

# Browser tests drive Debian's chromium through Playwright; Playwright never downloads a browser.
browser-deps:
	@test -x $(CHROMIUM) || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# Screenshots of every dashboard page for both roles into docs/screenshots/ (re-run when pages
# change): a fresh `make run` world in a throw-away home, Debian's chromium through Playwright.
.PHONY: screenshots
screenshots: $(STAMP) browser-deps
	$(BIN)/python docs/make_screenshots.py

# The folders in XDIST_TESTS run on TEST_WORKERS processes (pytest-xdist, work stealing, so one
# long test does not hold the end); a folder joins the list once its fixtures share nothing
# between processes (ports 0 or support.ports, files under tmp_path, PostgreSQL schemas named per
# session, an emulator per process) and repeated `pytest <folder> -n 2` runs on a loaded machine
# passed every time. The rest run one test at a time: the kill tests (tests/durability: they
# time SIGKILLs to land inside applies and start worker processes of their own), the benchmark
# smoke runs, the browser tests (a chromium and a Streamlit server each) and the notebooks.
# Each run prints its 20 slowest tests.
TEST_WORKERS ?= 2
XDIST_TESTS := tests/store tests/unit tests/web tests/emulator tests/dashboard tests/flows \
	tests/hostile tests/examples
unit: $(STAMP) browser-deps
	$(BIN)/python -m pytest tests notebooks --nbmake -p no:xdist \
		$(addprefix --ignore=,$(XDIST_TESTS)) --durations=20
	$(if $(XDIST_TESTS),$(BIN)/python -m pytest $(XDIST_TESTS) -n $(TEST_WORKERS) \
		--dist worksteal -p no:nbmake --durations=20)

test: lint typecheck docs unit

# The edit-and-check loop: lint, types and the tests that need no server, browser or PostgreSQL
# (tests/conftest.py sorts them out: --no-servers). On an idle 2-core machine: 53 s with mypy's
# cache cold (a fresh clone), 43 s with it warm (the edit loop: mypy under a second); the tests
# take about 41 s of that. Without the notebook plugin: it imports nbformat, whose schema
# validator takes seconds in every process.
check: lint typecheck
	$(BIN)/python -m pytest tests --no-servers -n $(TEST_WORKERS) --dist worksteal -p no:nbmake -q

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# Scale benchmarks (issue 8; not part of `make test`, which runs a smoke run of each case):
# N = 100, 500, 1000 tenants at 50 ms latency, 3 repeats; JSON lines on stdout and in the file.
.PHONY: bench
bench: $(STAMP)
	$(BIN)/python -m benchmarks --json-out benchmarks/results/latest.jsonl
