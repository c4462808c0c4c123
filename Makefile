# The two commands a new user needs (see README.md):
#   make demo   - run the gate on the bundled digits model
#   make test   - run the static checks (ruff, mypy) and the whole test suite
# Each creates .venv on first use and installs what it needs.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.amaxcheck-installed

export TF_CPP_MIN_LOG_LEVEL ?= 2
export PYTHONHASHSEED ?= 0

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "Installing amaxcheck and its dependencies into $(VENV) (first run only, about a minute)..."
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]' 2> $(VENV)/pip-install.log || (cat $(VENV)/pip-install.log; exit 1)
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/amaxcheck gate examples/digits/digits_cnn.keras \
		--labels examples/digits/labels.txt \
		--reference examples/digits/reference.npz \
		--artifacts amaxcheck-artifacts/digits \
		--json amaxcheck-artifacts/digits/report.json

test: lint
	$(PY) -m pytest -n 2 --dist loadfile -q

# Static checks over the package (configured in pyproject.toml); part of `make test`.
lint: $(STAMP)
	$(VENV)/bin/ruff check amaxcheck
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) benchmarks/bench_ascent.py

clean:
	rm -rf $(VENV) amaxcheck-artifacts .pytest_cache .hypothesis
