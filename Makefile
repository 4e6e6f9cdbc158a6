# The README's two commands: `make acceptance` and `make test`. Everything else is a helper.
SHELL := /bin/bash
VENV  ?= .venv
PY    := $(VENV)/bin/python
PYTEST := $(VENV)/bin/pytest
LAB   := lab/xenlab
ALLURE ?= node_modules/.bin/allure

.PHONY: setup test-setup acceptance test unit lint lab-tests lab-up lab-down lab-status report allure-cli clean bench

# apt and pip installs for a fresh Debian machine (idempotent, quick when done); their output
# goes to reports/setup.log, the console shows one line a step
SETUP_LOG := reports/setup.log
setup: $(VENV)/.installed
	@$(LAB) prepare

# what only the project's tests use: an OpenSSH server (tests/ssh) and Chromium (the
# report's screenshot)
test-setup: setup
	@command -v chromium-headless-shell >/dev/null || { echo "installing chromium-headless-shell (apt; output in $(SETUP_LOG))"; apt-get install -y -qq --no-install-recommends chromium-headless-shell >>$(SETUP_LOG) 2>&1 || true; }
	@command -v /usr/sbin/sshd >/dev/null || { echo "installing openssh-server, not started (apt; output in $(SETUP_LOG))"; mkdir -p /etc/ssh && touch /etc/ssh/sshd_not_to_be_run; apt-get install -y -qq --no-install-recommends openssh-server >>$(SETUP_LOG) 2>&1; systemctl disable ssh.service ssh.socket >/dev/null 2>&1; systemctl stop ssh.service ssh.socket >/dev/null 2>&1; rm -f /etc/ssh/sshd_not_to_be_run; true; }

$(VENV)/.installed: requirements.txt
	@mkdir -p reports
	@command -v python3 >/dev/null || { apt-get update -qq && apt-get install -y -qq python3 python3-venv; } >>$(SETUP_LOG) 2>&1
	@python3 -m venv $(VENV) 2>/dev/null || { apt-get update -qq && apt-get install -y -qq python3-venv && python3 -m venv $(VENV); } >>$(SETUP_LOG) 2>&1
	@echo "pip install -r requirements.txt into $(VENV) (output in $(SETUP_LOG))"
	@$(VENV)/bin/pip install -q -r requirements.txt >>$(SETUP_LOG) 2>&1 || { tail -20 $(SETUP_LOG); exit 1; }
	@touch $@

# the checkers (make lint), for the project's own tests only
$(VENV)/.dev-installed: requirements-dev.txt $(VENV)/.installed
	@echo "pip install -r requirements-dev.txt into $(VENV) (output in $(SETUP_LOG))"
	@$(VENV)/bin/pip install -q -r requirements-dev.txt >>$(SETUP_LOG) 2>&1 || { tail -20 $(SETUP_LOG); exit 1; }
	@touch $@

# The main job: the lab up, the whole suite provisioning for real against it, the report,
# the lab down again (also when the suite fails).
acceptance:
	@command -v python3 >/dev/null || { apt-get update -qq && apt-get install -y -qq python3 python3-venv; } >>$(SETUP_LOG) 2>&1
	@$(LAB) prepare
	@# the lab's build (debootstrap: about 2 minutes when nothing is cached) beside pip and npm
	@$(LAB) build & b=$$!; $(MAKE) --no-print-directory $(VENV)/.installed allure-cli; r=$$?; \
	  wait $$b || r=1; exit $$r
	$(LAB) up
	rc=0; $(PYTEST) --provision || rc=$$?; $(MAKE) --no-print-directory report; \
	  $(LAB) down; exit $$rc

# The project's tests: the lint, unit tests, then the tests that boot the lab and run the suite.
test: lint test-setup allure-cli
	$(PYTEST) -c tests/pytest.ini tests

# Fast, no lab: the lint, then the library's unit tests on recorded outputs.
unit: lint
	$(PYTEST) -c tests/pytest.ini tests/unit

# ruff (pyproject.toml's rules) on the whole tree, mypy (typed defs enforced) on the
# library; any finding fails
lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

lab-tests: test-setup allure-cli
	$(PYTEST) -c tests/pytest.ini tests/lab

lab-up: setup
	$(LAB) up
lab-down:
	$(LAB) down
lab-status:
	$(LAB) status

# HTML report from reports/allure-results, when the Allure command line can be had (npm,
# with a Java runtime from apt); without them the results stay in reports/allure-results.
ALLURE_VERSION := 2.46.1
allure-cli:
	@command -v java >/dev/null || { echo "installing a Java runtime for Allure's report (apt; output in $(SETUP_LOG))"; apt-get install -y -qq --no-install-recommends default-jre-headless >>$(SETUP_LOG) 2>&1 || true; }
	@[ -x $(ALLURE) ] || { command -v npm >/dev/null && echo "installing allure-commandline $(ALLURE_VERSION) (npm)" && npm install --no-save --silent allure-commandline@$(ALLURE_VERSION) >>$(SETUP_LOG) 2>&1; } || true

report: allure-cli
	@if [ -x $(ALLURE) ] && command -v java >/dev/null && [ -d reports/allure-results ]; then \
	  $(ALLURE) generate --clean -o reports/allure-report reports/allure-results >/dev/null && \
	  echo "Allure report: reports/allure-report/index.html"; \
	else echo "Allure command line not available: results stay in reports/allure-results"; fi

clean:
	rm -rf reports/allure-results reports/allure-report reports/junit*.xml reports/transcript*.txt

# The harness's own cost on the lab (a benchmark, not a test): reports/bench.md
bench: setup
	$(LAB) up
	rc=0; $(VENV)/bin/python bench/harness.py || rc=$$?; $(LAB) down; exit $$rc
