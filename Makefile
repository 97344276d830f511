# make demo: validate and plan the paris-gb200 factory offline.   make test: the whole test suite.
# make unit: every test that boots no lab (no root needed), the fast loop; make test runs it first.
# Both set up their own virtual environment on a fresh machine (a Python 3.11 to 3.13 and make are enough;
# the lab tests also install Debian packages, see scripts/install-lab-deps.sh).
# Python: PYTHON if given, else the first of python3.11, python3.12, python3.13, python3 on PATH that is one of the
# versions the project supports (3.11 to 3.13).
PYTHON ?= $(shell for p in python3.11 python3.12 python3.13 python3; do \
	  v=$$(command -v $$p) && $$v -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))' 2>/dev/null \
	  && echo $$v && break; done)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
RUNTIME_STAMP := $(VENV)/.installed-runtime
# The installer: uv (pinned), itself installed into the venv by pip; it resolves against ci/requirements.lock,
# downloads in parallel and shows its progress (bench/install_cost.py measures it against pip). It compiles what it
# installs to bytecode, as pip does and uv does not by default: where PYTHONDONTWRITEBYTECODE is set (this machine
# sets it) Python caches nothing at import, so every process (each plan's pulumi_aws, each of ansible-playbook's
# workers) compiled its modules again; a plan of lab-b200 took 11.3 s without, 5.5 s with.
UV_VERSION := 0.13.9
UV := $(BIN)/uv pip install --compile-bytecode --python $(BIN)/python -c ci/requirements.lock
# The project's own Python, compiled before the tests for the same reason (only what changed is compiled again).
BYTECODE := $(BIN)/python -m compileall -q aifactory infra bench playbooks/filter_plugins playbooks/inventory_plugins \
	> /dev/null 2>&1 || echo "bytecode: some of the project's modules were not compiled ahead (a folder not writable?)"

venv: $(STAMP)

$(BIN)/uv:
	@test -n "$(PYTHON)" || { echo "make: no Python 3.11, 3.12 or 3.13 on PATH; install one, or name it: make PYTHON=/path/to/python3.x $(MAKECMDGOALS)"; exit 1; }
	@echo "creating $(VENV) with $(PYTHON) ($$($(PYTHON) -V 2>&1))"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# What `make demo` needs: the package and its runtime dependencies.
$(RUNTIME_STAMP): pyproject.toml ci/requirements.lock setup.py $(BIN)/uv
	$(UV) -e .
	touch $@

# What the tests need besides: the dev extra.
$(STAMP): $(RUNTIME_STAMP)
	$(UV) -e '.[dev]'
	touch $@

demo: $(RUNTIME_STAMP)
	$(BIN)/aifactory validate inventories/paris-gb200
	$(BIN)/aifactory plan inventories/paris-gb200

# `make test`: the unit tests first, so that a broken unit fails in minutes, on three workers: they wait on
# subprocesses (moto workers, ansible-playbook) much of the time, so a third worker keeps both cores busy (tests/aws
# and tests/reports: 150 s with three workers against 205 s with two, the same CPU); then the booted-lab scenarios
# (tests/scenarios) on two workers: the labs wait on their nodes much of the time (tests/conftest.py groups them).
# Each part writes its JUnit report under test-results/ (CI keeps them; `bench/run.py --make-test-junit` reads
# the two parts' times from them). As root, the lab cache (base root, mirror and vendor stand-ins: about 2 minutes
# on a fresh machine, most of it debootstrap) is built while the unit tests run (`aifactory lab prepare`, its log in
# test-results/lab-prepare.log), so the first lab scenario does not build it while the other worker waits; if it
# fails, the scenarios build it themselves and their first lab names the error.
RESULTS   := test-results
UNIT      := $(BIN)/python -m pytest -q -n 3 --no-loadscope-reorder -m "not lab" --ignore=tests/scenarios --junitxml=$(RESULTS)/unit.xml
SCENARIOS := $(BIN)/python -m pytest -q -n 2 --no-loadscope-reorder tests/scenarios --junitxml=$(RESULTS)/scenarios.xml
LAB_PREPARE := $(BIN)/aifactory lab prepare inventories/lab-b200 inventories/lab-gb200

test: $(STAMP) lab-deps
	@$(BYTECODE)
	@mkdir -p $(RESULTS); prepare=; \
	if [ "$$(id -u)" -eq 0 ]; then $(LAB_PREPARE) > $(RESULTS)/lab-prepare.log 2>&1 & prepare=$$!; fi; \
	$(UNIT) || exit 1; \
	if [ -n "$$prepare" ] && ! wait $$prepare; then \
	  echo "warning: lab prepare failed (the scenarios build the lab cache themselves):"; tail -5 $(RESULTS)/lab-prepare.log; fi
	$(SCENARIOS)

unit: $(STAMP)
	@$(BYTECODE)
	$(UNIT)

scenarios: $(STAMP) lab-deps
	@$(BYTECODE)
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
