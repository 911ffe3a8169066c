# shuangsui: the README's two commands are `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
LOCK   := requirements/lock.txt
STAMP  := $(VENV)/.installed

export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: demo test lint typecheck venv bench lock clean

$(STAMP): $(LOCK) pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m shuangsui.demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(MAKE) --no-print-directory typecheck
	$(BIN)/python -m pytest -n 2 --dist loadgroup

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy shuangsui registry draw rounds findings exchange api tasks flows notifications website workspace risk leads joint

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/lock-bench.txt
	@echo "see bench/README.md for each benchmark's command"

# Re-resolve the locked dependencies (needs the network to the package index).
lock:
	$(PYTHON) -m pip install --quiet uv
	$(PYTHON) -m uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 \
	    --generate-hashes -o $(LOCK)
	$(PYTHON) -m uv pip compile pyproject.toml --extra dev --extra bench --universal \
	    --python-version 3.11 --generate-hashes -o requirements/lock-bench.txt

clean:
	rm -rf $(VENV) .shuangsui .pytest_cache build *.egg-info
