# tapeless: every target sets itself up. On a fresh machine with only
# Python >= 3.11 and make, `make demo` and `make test` create the local virtual
# environment .venv, install tapeless into it (editable, with the dev extras),
# and run. The install is redone only when pyproject.toml is newer than the
# stamp file .venv/.stamp.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.stamp
# pytest-xdist workers: the corpus is CPU-bound property tests, so two or more
# cores pay for the worker start-up. `make test PYTEST_WORKERS=0` runs serially.
PYTEST_WORKERS ?= auto
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help setup demo digits test pytest lint typecheck bench clean distclean

help:
	@echo "make demo       parse, print and run examples/demo.py (sets up .venv first)"
	@echo "make digits     train an MLP on scikit-learn's digits with tapeless.grad (DIGITS_ARGS=--quick)"
	@echo "make test       the whole suite: pytest, then ruff and mypy (what .ci/run runs)"
	@echo "make pytest     only the tests   (PYTEST_WORKERS=0 for serial, PYTEST_ARGS=...)"
	@echo "make lint       ruff check"
	@echo "make typecheck  mypy on the package"
	@echo "make bench      tapeless beside Python, NumPy, Numba, JAX and PyTorch (own venv .venv-bench; BENCH_ARGS=--quick)"
	@echo "                BENCH_ARGS='--write docs/performance.md' regenerates docs/performance.md"
	@echo "make setup      only create .venv and install tapeless[dev] into it"
	@echo "make clean      remove caches and build outputs;  make distclean: .venv too"

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { \
	  echo "tapeless needs Python >= 3.11; '$(PYTHON)' is older (set PYTHON=python3.11)" >&2; \
	  exit 1; }
	$(PYTHON) -m venv $(VENV) || { \
	  echo "could not create $(VENV): on Debian/Ubuntu install python3-venv" >&2; \
	  rm -rf $(VENV); exit 1; }

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(PY) examples/demo.py

# The loss plot goes to mlp_digits_loss.png (DIGITS_ARGS='--out PATH --epochs N' to change).
DIGITS_ARGS ?=

digits: $(STAMP)
	$(PY) examples/mlp_digits.py $(DIGITS_ARGS)

# The tests, then ruff, then mypy: all three always run, so one CI run reports
# every problem, and the target fails if any of them failed.
test: $(STAMP)
	@status=0; \
	$(MAKE) --no-print-directory pytest || status=1; \
	$(MAKE) --no-print-directory lint || status=1; \
	$(MAKE) --no-print-directory typecheck || status=1; \
	if [ $$status -ne 0 ]; then echo "make test: FAILED (see above)" >&2; fi; \
	exit $$status

pytest: $(STAMP)
	$(PY) -m pytest tests -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

# The repository root is the package `tapeless`, but mypy names modules after
# directories, so run from a folder where the root appears under that name
# (a symlink inside .venv); otherwise `tapeless.*` imports go unresolved.
typecheck: $(STAMP)
	@mkdir -p $(VENV)/mypy-root
	@ln -sfn "$(CURDIR)" $(VENV)/mypy-root/tapeless
	cd $(VENV)/mypy-root && "$(CURDIR)/$(VENV)/bin/mypy" \
	  --config-file "$(CURDIR)/pyproject.toml" --cache-dir "$(CURDIR)/.mypy_cache" \
	  --exclude '^tapeless/(tests|examples|benchmarks|docs|build)/' -p tapeless

# The benchmark has a venv of its own so that Numba and JAX never enter .venv; the '*'
# .gitignore inside keeps it out of git and ruff.
BENCH_VENV := .venv-bench
BENCH_ARGS ?=

$(BENCH_VENV)/.stamp: pyproject.toml benchmarks/requirements.txt
	@test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	@echo '*' > $(BENCH_VENV)/.gitignore
	$(BENCH_VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
	  -e . -r benchmarks/requirements.txt
	@touch $@

bench: $(BENCH_VENV)/.stamp
	$(BENCH_VENV)/bin/python benchmarks/peers.py $(BENCH_ARGS)

clean:
	rm -rf build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) $(BENCH_VENV)
