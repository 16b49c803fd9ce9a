# Two entry points a newcomer needs: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck imports unit bench bench-quick clean relink

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# strict editable mode: a link tree that holds only llmport.*, so mypy and editors resolve the
	# namespace package exactly as a wheel installs it (no stray top-level `domain` on sys.path).
	$(BIN)/pip install -q -e '.[dev]' --config-settings editable_mode=strict
	touch $(STAMP)

# Strict editable installs link file by file: re-link when modules are added or removed.
LINKS := $(VENV)/.linked
$(LINKS): $(STAMP) $(shell find domain ports adapters composition -type d -not -name __pycache__)
	$(BIN)/pip install -q --no-deps -e . --config-settings editable_mode=strict
	touch $(LINKS)

relink: $(LINKS)

demo: $(LINKS)
	$(BIN)/python -m llmport.composition.demo

lint: $(LINKS)
	$(BIN)/ruff check domain ports adapters composition tests benchmarks

typecheck: $(LINKS)
	$(BIN)/mypy -p llmport.domain -p llmport.ports -p llmport.adapters -p llmport.composition

imports: $(LINKS)
	$(BIN)/lint-imports

unit: $(LINKS)
	$(BIN)/pytest

test: lint typecheck imports unit

bench: $(LINKS)
	$(BIN)/python -m benchmarks

# fewer rounds and a shorter soak (about a minute)
bench-quick: $(LINKS)
	$(BIN)/python -m benchmarks --quick

clean:
	rm -rf $(VENV) build *.egg-info
