# Clarity Studio: `make run` starts the app on the bundled sample photo, `make test` runs the suite.
# Both create (or reuse) the virtualenv in $(VENV) and install the project into it.
#   TORCH_SPEC   what pip installs for PyTorch (default: the CPU build torch==2.13.0),
#                e.g. make run TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"
#   PYTHON       interpreter used to create the virtualenv
#   EXTRAS       optional extras installed into the virtualenv
#   SPANDREL_SPEC  the spandrel release used by `clarity plugin import`, installed with --no-deps:
#                its declared torchvision dependency would pull a torch (CUDA) build over TORCH_SPEC;
#                spandrel's other dependencies (einops, safetensors, numpy) come from pyproject.toml,
#                and a missing/broken torchvision is handled by plugins/community/spandrel_compat.py

PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
EXTRAS ?= gui,test,distributed
SPANDREL_SPEC ?= spandrel==0.4.2
SAMPLE ?= resources/sample.jpg
PYTEST_ARGS ?=

BIN := $(VENV)/bin
STAMP := $(VENV)/.clarity-installed

.PHONY: run test lint bootstrap clean help

help:
	@echo "make run    - set up $(VENV) and open the app on $(SAMPLE)"
	@echo "make test   - set up $(VENV) and run the whole test suite"

bootstrap: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip setuptools wheel
	$(BIN)/python -m pip install $(TORCH_SPEC)
	$(BIN)/python -m pip install -e ".[$(EXTRAS)]"
	$(BIN)/python -m pip install --no-deps "$(SPANDREL_SPEC)"
	@touch $(STAMP)

# `clarity open` checks first that Qt can start a window (X11 or Wayland) and, if a system library
# is missing, exits with one line naming it and the `apt-get install` line (gui/platform_check.py).
run: $(STAMP)
	$(BIN)/clarity open $(SAMPLE)

test: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
