# make demo: validate and plan the paris-gb200 factory offline.   make test: the whole test suite.
# make unit: every test that boots no lab (no root needed), the fast loop; make test runs it first.
# Both set up their own virtual environment on a fresh machine (Python 3.11 and make are enough;
# the lab tests also install Debian packages, see scripts/install-lab-deps.sh).
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test unit scenarios lint role-docs bench clean venv lab-deps

venv: $(STAMP)

$(STAMP): pyproject.toml ci/requirements.lock setup.py
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c ci/requirements.lock -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/aifactory validate inventories/paris-gb200
	$(BIN)/aifactory plan inventories/paris-gb200

# `make test`: the unit tests first, so that a broken unit fails in minutes; then the booted-lab scenarios
# (tests/scenarios) on two workers: the labs wait on their nodes much of the time (tests/conftest.py groups them).
# Each part writes its JUnit report under test-results/ (CI keeps them; `bench/run.py --make-test-junit` reads
# the two parts' times from them).
RESULTS   := test-results
UNIT      := $(BIN)/python -m pytest -q -n 2 --no-loadscope-reorder -m "not lab" --ignore=tests/scenarios --junitxml=$(RESULTS)/unit.xml
SCENARIOS := $(BIN)/python -m pytest -q -n 2 --no-loadscope-reorder tests/scenarios --junitxml=$(RESULTS)/scenarios.xml

test: $(STAMP) lab-deps
	$(UNIT)
	$(SCENARIOS)

unit: $(STAMP)
	$(UNIT)

scenarios: $(STAMP) lab-deps
	$(SCENARIOS)

# The lab tests boot Debian 13 containers: they need root and a few Debian packages; the report test
# renders a page with Graphviz and headless Chromium (Debian packages too).
lab-deps:
	@if [ "$$(id -u)" -eq 0 ]; then sh scripts/install-lab-deps.sh && sh scripts/install-report-deps.sh; \
	else echo "not root: lab tests and the report rendering test will be skipped (see scripts/install-lab-deps.sh, scripts/install-report-deps.sh)"; fi

lint: $(STAMP)
	cd playbooks && ../$(BIN)/ansible-lint --offline --profile production
	$(BIN)/lint-imports --no-cache

# Each role README's variable table, rewritten from the role's meta/argument_specs.yml (the one source).
role-docs: $(STAMP)
	$(BIN)/python -m aifactory.node.role_docs

# Benchmarks: regenerates bench/results.json and bench/RESULTS.md (the bring-up and rehearsal parts need root).
bench: $(STAMP) lab-deps
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache $(RESULTS)
