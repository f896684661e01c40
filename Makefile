# The two commands: `make demo` and `make test`. Everything else is set up by them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install browser demo test lint typecheck unit bench bench-automl bench-forecast bench-load fuzz clean

# The benchmark (not part of `make test`): Ray Data lives in its own venv so that the product's
# venv never gets Ray. BENCH_ARGS passes options through, e.g. BENCH_ARGS="--quick --only floor".
RAY_VENV    := bench/.venv-ray
RAY_STAMP   := $(RAY_VENV)/.installed
BENCH_ARGS  ?=

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[all,dev,ray]'
	touch $(STAMP)

demo: install
	$(BIN)/python scripts/demo.py

lint: install
	$(BIN)/ruff check src tests scripts bench
	$(BIN)/ruff format --check src tests scripts bench

typecheck: install
	$(BIN)/mypy --strict src/batchform tests

# Four test processes even on 2 cores: most tests wait on servers, subprocesses and clocks.
# Whole files go to one process (--dist loadfile), so module fixtures start once.
test: lint typecheck browser
	$(BIN)/pytest -q -n 4 --dist loadfile

# The dashboard's browser tests drive Debian's chromium through Playwright (never a downloaded
# browser). Installed here when missing, as root (CI's fresh Debian); elsewhere the tests say
# how to install it and are skipped, except under CI=true, where they fail.
CHROMIUM_PATH ?= /usr/bin/chromium
export CHROMIUM_PATH
browser:
	@test -x $(CHROMIUM_PATH) || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian's chromium for the dashboard's browser tests"; \
	    log=$$(mktemp); \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -qq --no-install-recommends chromium; } >$$log 2>&1 \
	      || { cat $$log; rm -f $$log; exit 1; }; \
	    rm -f $$log; \
	  else \
	    echo "no $(CHROMIUM_PATH): sudo apt-get install -y --no-install-recommends chromium"; \
	  fi; }

bench: install $(RAY_STAMP)
	$(BIN)/python -m bench.run --ray-python $(RAY_VENV)/bin/python $(BENCH_ARGS)

# AutoML (issue 9): batchform's AutoML vs a hand-tuned XGBoost, and its best candidate's
# pipeline vs the same objects called directly; see bench/automl.py. Not part of `make test`.
bench-automl: install
	$(BIN)/python -m bench.automl $(BENCH_ARGS)

# Forecasting (issue 10): the best candidate vs seasonal naive (wQL, MASE on held-out days) and
# its container vs statsforecast called directly, at 100 and 10,000 series; see bench/forecast.py.
bench-forecast: install
	$(BIN)/python -m bench.forecast $(BENCH_ARGS)

# Load (issue 11): 50 jobs at once + 200 Describe/List callers on a real server; see bench/load.py.
bench-load: install
	$(BIN)/python -m bench.load $(BENCH_ARGS)

# The long API fuzz run (issue 11): requests drawn from botocore's models; `make test` runs 200.
fuzz: install
	$(BIN)/python -m tests.fuzz_api --examples 10000

$(RAY_STAMP):
	test -x $(RAY_VENV)/bin/python || $(PYTHON) -m venv $(RAY_VENV)
	$(RAY_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(RAY_VENV)/bin/python -m pip install --quiet 'ray[data]' xgboost-cpu pyarrow numpy pandas
	touch $(RAY_STAMP)

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
