# Generative Models for Physics: every target creates .venv first if it is missing.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
QUICK_FLAG := $(if $(filter 1 true yes TRUE YES True,$(QUICK)),--quick,)
JOBS   ?= auto

.PHONY: venv lab run test exercises pretrain bench lint doctor clean site

NBGRADER_SERVER := formgrader validate_assignment assignment_list course_list
# JupyterLab refuses to start as root without --allow-root (containers, many hub images run as root)
IS_ROOT ?= $(shell [ "$$(id -u)" = 0 ] && echo 1)
LAB_ARGS ?=

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev,instructor]'
	@# nbgrader only generates exercises here: hide its JupyterLab menus and its "Validate" button,
	@# which would contradict the course's own checks
	@$(VENV)/bin/jupyter labextension disable --level=sys_prefix @jupyter/nbgrader >/dev/null 2>&1
	@for e in $(NBGRADER_SERVER); do \
	  $(VENV)/bin/jupyter server extension disable --sys-prefix nbgrader.server_extensions.$$e >/dev/null 2>&1; done
	@touch $(STAMP)

venv: $(STAMP)

lab: venv  ## open JupyterLab at the course root (extra arguments: LAB_ARGS="--ip=0.0.0.0 --no-browser")
	$(VENV)/bin/jupyter lab --notebook-dir=. $(if $(IS_ROOT),--allow-root,) $(LAB_ARGS)

run: venv  ## execute every lecture and solution headless (QUICK=1 for quick mode)
	$(PY) -m gm_helpers run $(QUICK_FLAG)

test: venv  ## lint, then the whole test suite (unit tests, doctests, notebooks), quick mode, no network
	$(VENV)/bin/ruff check gm_helpers tests bench conftest.py
	GM_QUICK=1 $(PY) -m pytest -n $(JOBS) --dist loadfile --nbval-lax --doctest-modules gm_helpers tests lectures solutions

exercises: venv  ## regenerate exercises/ from solutions/
	$(PY) -m gm_helpers exercises

pretrain: venv  ## remake the shipped checkpoints of the long trainings (full mode, ~30 min on 2 cores)
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-2} $(PY) -m gm_helpers pretrain $(NAMES)

bench: venv  ## quick-mode timing of every notebook (figures go to bench/RESULTS.md)
	$(PY) -m gm_helpers run --quick

lint: venv
	$(VENV)/bin/ruff check gm_helpers tests bench conftest.py
	$(VENV)/bin/ruff format --check gm_helpers tests bench conftest.py

doctor: venv
	$(PY) -m gm_helpers doctor

# the course as a static website: every notebook executed in quick mode, rendered by Sphinx + myst-nb
SITE_STAMP := $(VENV)/.installed-site
SITE_SRC   := build/site-src
SITE_HTML  := build/site/html
SITE_NOTEBOOKS := $(wildcard lectures/*.ipynb exercises/*.ipynb solutions/*.ipynb)

$(SITE_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev,instructor,site]'
	@touch $(SITE_STAMP)

# executed again only when a notebook or the package changed
$(SITE_SRC)/.executed: $(SITE_STAMP) $(SITE_NOTEBOOKS) $(shell find gm_helpers -name '*.py') site/execute.py
	rm -rf $(SITE_SRC)
	OMP_NUM_THREADS=1 $(PY) site/execute.py --out $(SITE_SRC)
	@touch $@

site: $(SITE_SRC)/.executed  ## the course as a website in build/site/html (quick-mode outputs, no network)
	$(PY) site/make_index.py README.md $(SITE_SRC)/index.md
	rm -rf $(SITE_HTML)
	$(VENV)/bin/sphinx-build -b html -q -W --keep-going -c site $(SITE_SRC) $(SITE_HTML)
	$(PY) site/check_links.py $(SITE_HTML)
	@echo "open $(SITE_HTML)/index.html"

clean:
	rm -rf build .pytest_cache
