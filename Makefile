# Every target creates .venv when it is missing (Python 3.11, torch==2.13.0 CPU build from constraints.txt).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test test-cluster bench fuzz lint format clean

# uv installs the same packages as pip in seconds instead of minutes; it reads no pip configuration, so the
# wheel folders pip is configured with (where the CPU torch wheel lies) are handed to it.
PIP_LINKS  := $(sort $(PIP_FIND_LINKS) $(shell $(PYTHON) -m pip config get global.find-links 2>/dev/null))
UV_OPTIONS := $(foreach d,$(PIP_LINKS),--find-links $(d)) -c constraints.txt
NOT_IMPORTED := (/tests?/|/site-packages/(pip|setuptools)/|/transformers/models/(?!(auto|bert|t5)/))

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q uv || echo "uv is not installable here: pip installs the environment"
	# pip stays the fallback where uv is missing or cannot reach an index
	if test -x $(BIN)/uv && $(BIN)/uv pip install -q --python $(BIN)/python $(UV_OPTIONS) "torch==2.13.0" -e ".[dev]"; \
	then :; else $(BIN)/python -m pip install -q --no-compile -c constraints.txt "torch==2.13.0" -e ".[dev]"; fi
	# byte-compiled on every core at once (pip compiles one file at a time: 100 s of a 3-minute set-up on 2 cores),
	# leaving out what nothing here imports: packages' own test suites, pip, and the ~2,500 files of transformers
	# models other than the three in use (50 s -> 37 s on 2 cores)
	$(BIN)/python -m compileall -q -j 0 -x '$(NOT_IMPORTED)' $(VENV)/lib > /dev/null || true
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/tightfit info
	$(BIN)/python examples/split_demo_table.py demo-data
	$(BIN)/tightfit fit demo-data/train.csv --target diagnosis --test demo-data/held_out.csv \
		--budget memory=2GB,time=3min,latency=50ms --out tightfit-run
	$(BIN)/tightfit predict tightfit-run demo-data/held_out.csv --out tightfit-run/predictions.csv
	$(BIN)/python examples/serve_once.py tightfit-run demo-data/held_out.csv
	$(BIN)/python examples/demo.py out

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples
	# PYTHONDONTWRITEBYTECODE machines compile tightfit again in every process the tests start (0.6 s each)
	$(BIN)/python -m compileall -q src tests > /dev/null
	$(BIN)/python -m pytest src tests

# the tests that launch torchrun ranks or a Ray instance (seconds of process start-up each): CI runs them too
# Ray (~240 MB) is installed here only, so `make test` does not pay for it
test-cluster: $(STAMP)
	if test -x $(BIN)/uv && $(BIN)/uv pip install -q --python $(BIN)/python $(UV_OPTIONS) -e ".[ray]"; \
	then :; else $(BIN)/python -m pip install -q -c constraints.txt -e ".[ray]"; fi
	$(BIN)/python -m pytest tests -m cluster

fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=long $(BIN)/python -m pytest tests/test_fuzz.py

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

format: $(STAMP)
	$(BIN)/ruff check --fix src tests benchmarks examples
	$(BIN)/ruff format src tests benchmarks examples

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache demo-data tightfit-run out
