# The two commands: `make run` and `make test`. Both bootstrap .venv themselves on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
EMULATOR_PORT ?= 8765
PARTNER_PORT ?= 8000
DASHBOARD_PORT ?= 8501

CHROMIUM := /usr/bin/chromium

.PHONY: run test lint typecheck unit browser-deps clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --editable ".[all]" --group dev
	touch $(STAMP)

# Emulator, partner endpoints and dashboard on 127.0.0.1 with a seeded demo world; Ctrl-C stops.
run: $(STAMP)
	$(BIN)/sotk run --emulator-port $(EMULATOR_PORT) --partner-port $(PARTNER_PORT) \
		--dashboard-port $(DASHBOARD_PORT)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# Browser tests drive Debian's chromium through Playwright; Playwright never downloads a browser.
browser-deps:
	@test -x $(CHROMIUM) || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

unit: $(STAMP) browser-deps
	$(BIN)/python -m pytest tests notebooks --nbmake

test: lint typecheck unit

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# Scale benchmarks (issue 8; not part of `make test`, which runs a smoke run of each case):
# N = 100, 500, 1000 tenants at 50 ms latency, 3 repeats; JSON lines on stdout and in the file.
.PHONY: bench
bench: $(STAMP)
	$(BIN)/python -m benchmarks --json-out benchmarks/results/latest.jsonl
