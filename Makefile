# make demo: set up (with the CPU build of torch), then BC and ArCHer on the Twenty Questions
#            Subset, ending with a summary and the learning curve (runs/demo/).
# make test: set up (with the CPU build of torch) and run the whole test suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH ?= torch==2.13.0

.PHONY: demo test lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# the envs alone need no torch (the demo scores WebShop too: its extra)
$(VENV)/.installed-base: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[webshop]"
	touch $@

# the agents need torch: install the CPU build first so that no CUDA packages are pulled
$(VENV)/.installed-agents: pyproject.toml | $(BIN)/python
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e ".[agents,plots]"
	touch $@ $(VENV)/.installed-base

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e ".[dev]"
	$(BIN)/pip install --quiet -e ".[jericho]" || echo "jericho could not be installed: tests/archer_envs/detective/test_jericho_env.py will be skipped"
	touch $@ $(VENV)/.installed-base $(VENV)/.installed-agents

demo: $(VENV)/.installed-agents
	$(BIN)/python -m baselines.demo

test: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2 --durations=10 tests

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
