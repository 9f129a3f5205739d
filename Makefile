# The quick-start commands (README.md): `make example`, `make test` and `make test-unit`. All set up .venv on
# first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
FORMATTED := gradcheck_ci tests benchmarks ci entrypoint
PYTEST_ARGS ?=

.PHONY: example test test-unit test-integration test-container test-fast docs-screenshot format lint bench bench-mutation clean lasagne-master

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip<25"
	$(BIN)/pip install --quiet -e '.[check,test,lint]'
	touch $(STAMP)

# Lasagne master beside Lasagne 0.1, where gradcheck-ci looks for it (gradcheck_ci/platform/lasagne_stacks.py):
# from the wheel in ../shared/wheels when present, else from the archive of the pinned commit. The test targets
# try it and go on without it (the tests that need it skip and say why; .ci/run makes them fail instead).
MASTER_DIR := $(VENV)/share/gradcheck-ci/lasagne-master

lasagne-master: $(STAMP)
	bash ci/install-lasagne-master.sh $(BIN)/python $(MASTER_DIR)

$(MASTER_DIR)/lasagne/__init__.py: | $(STAMP)
	bash ci/install-lasagne-master.sh $(BIN)/python $(MASTER_DIR) --optional

# Check the bundled reported network. It holds one deliberately failing model (gradient_steps=1), so
# gradcheck-ci exits 1; this target reports that and succeeds, and fails on anything else.
example: $(STAMP)
	@$(BIN)/gradcheck-ci check --config examples/seed-rnn/gradcheck.yml --json reports/seed-rnn.json; \
	code=$$?; \
	if [ $$code -eq 1 ]; then echo "gradcheck-ci exited 1: the truncated-BPTT model fails, as this example intends"; \
	else echo "gradcheck-ci exited $$code, expected 1"; exit 1; fi

# Every test: unit, integration (slow ones included: real Theano compiles) and container (real Docker
# engine; skipped with a reason when no engine runs: .ci/run starts one).
test: $(STAMP) $(MASTER_DIR)/lasagne/__init__.py
	$(BIN)/pytest $(PYTEST_ARGS)

# The three slices of tests/ (tests/__init__.py): pure Python in seconds; real Theano and CLI processes;
# the action image on a Docker engine.
test-unit: $(STAMP)
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

test-integration: $(STAMP) $(MASTER_DIR)/lasagne/__init__.py
	$(BIN)/pytest tests/integration $(PYTEST_ARGS)

test-container: $(STAMP)
	$(BIN)/pytest tests/container $(PYTEST_ARGS)

# Everything but the slow Theano compiles and Docker: the unit slice plus the quick integration tests.
test-fast: $(STAMP) $(MASTER_DIR)/lasagne/__init__.py
	$(BIN)/pytest -m "not slow and not docker" $(PYTEST_ARGS)

# README's picture of the HTML report (docs/html-report.png), taken again by the browser test (headless
# chromium); the test fails when the tracked picture's headings and columns are no longer the report's.
docs-screenshot: $(STAMP)
	GRADCHECK_UPDATE_SCREENSHOT=1 GRADCHECK_REQUIRE_BROWSER=1 $(BIN)/pytest -q -p no:cacheprovider \
		tests/integration/test_html_report.py -k reported_networks_page

# The lint and type gate (seconds): ruff (pyflakes, pycodestyle, bugbear, blind-except, import order, pyupgrade,
# complexity) and mypy (strict on results, report, numeric, config, entrypoint), then the import-layer rule.
# ruff's layout at 100 columns, then comments, docstrings and strings wrapped to fit (ci/wrap_lines.py)
format: $(STAMP)
	$(BIN)/python ci/wrap_lines.py $(FORMATTED) >/dev/null
	$(BIN)/ruff format -q .
	$(BIN)/python ci/wrap_lines.py $(FORMATTED)
	$(BIN)/ruff format -q .

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest -q -p no:cacheprovider tests/unit/test_layers.py tests/integration/test_light_imports.py

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

# Injected errors of known size and hard correct models over many seeds (docs/numerics.md, "Measured").
bench-mutation: $(STAMP) $(MASTER_DIR)/lasagne/__init__.py
	$(BIN)/python -m benchmarks.mutation

clean:
	rm -rf $(VENV) reports .pytest_cache
