# Two entry points a newcomer needs: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck imports unit bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# strict editable mode: a link tree that holds only llmport.*, so mypy and editors resolve the
	# namespace package exactly as a wheel installs it (no stray top-level `domain` on sys.path).
	$(BIN)/pip install -q -e '.[dev]' --config-settings editable_mode=strict
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m llmport.composition.demo

lint: $(STAMP)
	$(BIN)/ruff check domain ports adapters composition tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy -p llmport.domain -p llmport.ports -p llmport.adapters -p llmport.composition

imports: $(STAMP)
	$(BIN)/lint-imports

unit: $(STAMP)
	$(BIN)/pytest

test: lint typecheck imports unit

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) build *.egg-info
