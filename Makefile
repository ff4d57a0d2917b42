# The two set-up commands: `make demo` and `make test`. Each creates .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo reproduce-demo serve test install bench lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/persona-iaa demo --output runs/demo

# `reproduce table2` on the demo world: 3 seeds x (aesthetic only, multi-task), paired statistics (CPU,
# a few minutes); resumable: run it again after an interruption
reproduce-demo: $(STAMP)
	test -f runs/reproduce-demo/data/personality/traits.csv || \
		$(BIN)/persona-iaa demo --data-only --output runs/reproduce-demo
	$(BIN)/persona-iaa reproduce table2 --config configs/demo.yaml --seeds 3 --output runs/reproduce-demo/table2 \
		--aesthetic-data aadb:runs/reproduce-demo/data/aesthetic \
		--personality-data csv:runs/reproduce-demo/data/personality/traits.csv

# the web page and API with the demo model (runs `make demo` first if there is none); Ctrl-C stops it
serve: $(STAMP)
	test -f runs/demo/multitask/model.json || $(BIN)/persona-iaa demo --output runs/demo
	$(BIN)/persona-iaa serve --checkpoint runs/demo/multitask --open

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python bench/score_throughput.py

lint: $(STAMP)
	$(BIN)/python -m ruff check src tests bench studies
	$(BIN)/python -m mypy

clean:
	rm -rf runs .pytest_cache build dist src/*.egg-info test-output
