PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: install setup demo test lint bench bench-mutation clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

setup:
	bash scripts/bootstrap.sh

demo: setup
	$(BIN)/healcrew replay examples/incidents/pricing-zero-division --out out/pricing-zero-division

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check crew sandbox tests bench
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/run_all.py

bench-mutation: install
	$(BIN)/python bench/mutation.py

clean:
	rm -rf $(VENV) .healcrew out .pytest_cache .mypy_cache .ruff_cache
