# Two entry points a newcomer needs: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck imports unit bench bench-quick clean relink redis-server mutate

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
	$(BIN)/ruff check domain ports adapters composition tests benchmarks mutation

typecheck: $(LINKS)
	$(BIN)/mypy -p llmport.domain -p llmport.ports -p llmport.adapters -p llmport.composition
	$(BIN)/mypy mutation

imports: $(LINKS)
	$(BIN)/lint-imports

# The Redis tests need a real redis-server (installed here when missing and run as root).
redis-server:
	@bash .ci/ensure-redis-server

unit: $(LINKS) redis-server
	$(BIN)/pytest

test: redis-server lint typecheck imports unit

bench: $(LINKS) redis-server
	$(BIN)/python -m benchmarks

# fewer rounds and a shorter soak (about a minute)
bench-quick: $(LINKS)
	$(BIN)/python -m benchmarks --quick

# Mutation testing of one module against its focused tests (not part of `make test`):
#   make mutate MODULE=ports/breaker.py TESTS="tests/failover" [JOBS=2] [MUTATE_ARGS="--lines 40-80"]
JOBS ?= 1
mutate: $(LINKS) redis-server
	@test -n "$(MODULE)" -a -n "$(TESTS)" || { echo 'usage: make mutate MODULE=ports/breaker.py TESTS="tests/failover" [JOBS=2]'; exit 2; }
	nice -n 10 $(BIN)/python -m mutation $(MODULE) --tests "$(TESTS)" -j $(JOBS) $(MUTATE_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
