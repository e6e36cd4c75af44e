# ShuttleSense make targets. Everything installs into ./.venv; nothing is needed from the Hub.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# torch/torchvision pins that work on our CPU machines (see README, "Installation").
TORCH_PINS := torch==2.14.1 torchvision==0.29.1
# The pip the install was tested with (the one a venv brings may be years older).
PIP_PIN := pip==26.3
PYTEST_ARGS ?=

.PHONY: install browser test test-fast quality format demo bench clean help

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS=":.*## "}; {printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): setup.cfg pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install $(PIP_PIN)
	$(BIN)/pip install $(TORCH_PINS)
	DS_BUILD_OPS=0 $(BIN)/pip install -e ".[dev,web]"
	@touch $(STAMP)

install: $(STAMP)  ## create .venv and install shuttlesense with everything the tests need

BROWSER_PACKAGES := chromium fonts-wqy-microhei

browser:  ## Debian's Chromium (+ a CJK font) for the web-page tests; Playwright cannot download one here
	@if command -v chromium >/dev/null && fc-list :lang=zh | grep -q .; then echo "chromium: $$(command -v chromium)"; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(BROWSER_PACKAGES); \
	elif sudo -n true 2>/dev/null; then sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(BROWSER_PACKAGES); \
	else echo "warning: chromium is not installed and apt needs root: the browser tests will be skipped" >&2; fi

test: install browser  ## run the whole test suite (installs Chromium for the browser tests)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: install  ## run the tests not marked slow
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

quality: install  ## lint and format check with ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install  ## apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

demo: install  ## the main job on the embedded default: synthetic clips -> dataset -> LoRA -> evaluation -> a match (CPU)
	$(BIN)/shuttlesense demo --output outputs/demo

bench: install  ## every benchmark, printing side-by-side ratios (slow: writes synthetic clips and matches)
	$(BIN)/python benchmarks/bench_data.py
	$(BIN)/python benchmarks/bench_scoring.py
	$(BIN)/python benchmarks/bench_analyze.py
	$(BIN)/python benchmarks/bench_hits.py
	$(BIN)/python benchmarks/bench_eval.py

clean:  ## remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
