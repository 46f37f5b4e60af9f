# One-command entry points. `make test` and `make demo` work on a fresh machine: they create their own
# virtualenvs (Airflow 3.3 = newest, Airflow 3.1 = floor, and a demo one) and install everything they need.

PYTHON ?= python3
AIRFLOW_VERSION ?= 3.3.2
AIRFLOW_FLOOR_VERSION ?= 3.1.8
VENV ?= .venv
VENV_FLOOR ?= .venv-floor
VENV_DEMO ?= .venv-demo
PIP_FLAGS ?= --quiet --disable-pip-version-check
PYTEST_FLAGS ?= -q  # warnings policy (FutureWarning/DeprecationWarning = error) is in pyproject.toml

.PHONY: test lint docs package unit unit-floor browser postgres redis screenshots bench demo clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install $(PIP_FLAGS) --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
	$(VENV)/bin/pip install $(PIP_FLAGS) "apache-airflow==$(AIRFLOW_VERSION)" -e ".[test]" 2>&1 | grep -v "^WARNING: Location" || true
	$(VENV)/bin/python -c "import airflow, runtype_provider, pytest, requests_mock, respx, playwright, coverage, psycopg2, asyncpg, hypothesis, airflow.providers.dbt.cloud, airflow.providers.http, airflow.providers.openlineage, sphinx, myst_parser, furo, build, twine"
	touch $@

$(VENV_FLOOR)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV_FLOOR)
	$(VENV_FLOOR)/bin/pip install $(PIP_FLAGS) --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
	# cryptography 51 refuses an attribute Airflow 3.1.8 sets on MultiFernet (the dag-processor crashes once a fernet
	# key is set); Airflow 3.3 works with it. Pinned for the floor only.
	$(VENV_FLOOR)/bin/pip install $(PIP_FLAGS) "apache-airflow==$(AIRFLOW_FLOOR_VERSION)" "cryptography<51" -e ".[test]" 2>&1 | grep -v "^WARNING: Location" || true
	$(VENV_FLOOR)/bin/python -c "import airflow, runtype_provider, pytest, requests_mock, respx, playwright, hypothesis, psycopg2, asyncpg, airflow.providers.dbt.cloud, airflow.providers.http, airflow.providers.openlineage"
	touch $@

## lint: ruff (lint + format), mypy, the import contracts (.importlinter: layers, every import counted;
##       .importlinter-parse: what a DAG file may load) and the import graph (no cycle, no undeclared lazy import).
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check runtype_provider tests example_dags scripts docs
	$(VENV)/bin/ruff format --check runtype_provider tests example_dags scripts docs
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache --no-logo .importlinter
	$(VENV)/bin/lint-imports --no-cache --no-logo .importlinter-parse
	$(VENV)/bin/python scripts/import_graph.py

## browser: Debian's headless Chromium for the Airflow UI test (installed only when missing).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian chromium for the UI test"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

## unit: the whole suite on the newest Airflow, with branch coverage of runtype_provider/ (must stay >= 95.8%).
## postgres: Debian's PostgreSQL server for the two-triggerer tests (installed only when missing; started by the tests).
postgres:
	@ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || { \
	  echo "Installing Debian postgresql for the deployment tests"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq postgresql >/dev/null; }

## redis: Debian's redis-server, the Celery broker of the CeleryExecutor deployment test (installed only when missing;
##        started by the tests on a free loopback port).
redis:
	@command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ] || { \
	  echo "Installing Debian redis-server for the deployment tests"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq redis-server >/dev/null; }

unit: $(VENV)/.installed browser postgres redis
	$(VENV)/bin/python -m coverage run --branch --source=runtype_provider -m pytest $(PYTEST_FLAGS)
	$(VENV)/bin/python -m coverage report --precision=1 --skip-covered --fail-under=95.8

unit-floor: $(VENV_FLOOR)/.installed browser postgres redis
	$(VENV_FLOOR)/bin/python -m pytest $(PYTEST_FLAGS)

## docs: the documentation site (Sphinx + MyST, docs/conf.py) into docs/_build/html, strict: any warning fails it
##       (-W), every reference must resolve (-n: a broken internal link, a missing page or a class that does not
##       exist), and the operator argument tables are generated from the code (docs/_ext/runtype_docs.py).
docs: $(VENV)/.installed
	rm -rf docs/_build
	$(VENV)/bin/sphinx-build -W --keep-going -n -q -b html docs docs/_build/html
	@echo "Docs: $(CURDIR)/docs/_build/html/index.html"

## package: build the sdist and wheel into a temporary directory and check them as a registry would (twine check).
package: $(VENV)/.installed
	@set -e; out=$$(mktemp -d); trap 'rm -rf "$$out"' EXIT; \
	  $(VENV)/bin/python -m build --sdist --wheel --outdir "$$out" . >"$$out/build.log" 2>&1 || { cat "$$out/build.log"; exit 1; }; \
	  $(VENV)/bin/twine check --strict "$$out"/*.whl "$$out"/*.tar.gz

## test: lint, the docs and the package, and the whole suite (incl. the browser UI test) on Airflow 3.3 and on 3.1.
test: lint docs package unit unit-floor

## screenshots: rerun the Airflow UI test, keeping a screenshot of each step in docs/screenshots/.
screenshots: $(VENV)/.installed browser
	RUNTYPE_UI_SCREENSHOTS=docs/screenshots $(VENV)/bin/python -m pytest $(PYTEST_FLAGS) -m ui

## bench: import cost, results collection at scale, many deferred waits in one loop (ratios to baselines),
##        API requests per poll interval of 1/10/100 asset watchers (shared poll vs one poll each); ends with the
##        goal table of issue 18 (each figure, its target, the measured value, HOLDS/MISSES, cores and load).
BENCH_GOALS_FILE := $(or $(TMPDIR),/tmp)/runtype-bench-goals.jsonl
bench: $(VENV)/.installed
	rm -f $(BENCH_GOALS_FILE)
	$(VENV)/bin/python scripts/bench_import.py
	BENCH_GOALS=$(BENCH_GOALS_FILE) $(VENV)/bin/python scripts/bench_results.py
	BENCH_GOALS=$(BENCH_GOALS_FILE) $(VENV)/bin/python scripts/bench_triggers.py
	BENCH_GOALS=$(BENCH_GOALS_FILE) $(VENV)/bin/python scripts/bench_triggers.py --waits 5000 --kinds per-run,run-list \
		--rounds 3 --schedules 100
	$(VENV)/bin/python scripts/bench_watchers.py
	$(VENV)/bin/python scripts/bench_goals.py $(BENCH_GOALS_FILE)

# The demo's own virtualenv: Airflow and the provider only (runtime dependencies; the local Runtype uses
# fastapi and uvicorn, which Airflow already brings), none of the test extra.
$(VENV_DEMO)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV_DEMO)
	$(VENV_DEMO)/bin/pip install $(PIP_FLAGS) --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
	$(VENV_DEMO)/bin/pip install $(PIP_FLAGS) "apache-airflow==$(AIRFLOW_VERSION)" -e . 2>&1 | grep -v "^WARNING: Location" || true
	$(VENV_DEMO)/bin/python -c "import airflow, runtype_provider.operators.runtype, runtype_provider.testing.local"
	touch $@

## demo: start the local Runtype, run the core example DAG with `airflow dags test`, print the outcomes.
demo: $(VENV_DEMO)/.installed
	$(VENV_DEMO)/bin/python scripts/demo.py

clean:
	rm -rf $(VENV) $(VENV_FLOOR) $(VENV_DEMO) .demo-airflow .mypy_cache .ruff_cache .coverage docs/_build
