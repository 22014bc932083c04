# Generative Models for Physics: every target creates .venv first if it is missing.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
QUICK_FLAG := $(if $(filter 1 true yes TRUE YES True,$(QUICK)),--quick,)
JOBS   ?= auto

.PHONY: venv lab run test exercises bench lint doctor clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

lab: venv  ## open JupyterLab at the course root
	$(VENV)/bin/jupyter lab --notebook-dir=.

run: venv  ## execute every lecture and solution headless (QUICK=1 for quick mode)
	$(PY) -m gm_helpers run $(QUICK_FLAG)

test: venv  ## lint, then the whole test suite (unit tests, doctests, notebooks), quick mode, no network
	$(VENV)/bin/ruff check gm_helpers tests bench conftest.py
	GM_QUICK=1 $(PY) -m pytest -n $(JOBS) --dist loadfile --nbval-lax --doctest-modules gm_helpers tests lectures solutions

exercises: venv  ## regenerate exercises/ from solutions/
	$(PY) -m gm_helpers exercises

bench: venv  ## quick-mode timing of every notebook (figures go to bench/RESULTS.md)
	$(PY) -m gm_helpers run --quick

lint: venv
	$(VENV)/bin/ruff check gm_helpers tests bench conftest.py
	$(VENV)/bin/ruff format --check gm_helpers tests bench conftest.py

doctor: venv
	$(PY) -m gm_helpers doctor

clean:
	rm -rf build .pytest_cache
